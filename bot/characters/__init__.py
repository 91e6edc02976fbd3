"""The character registry: the service, name and description rules, the export archive."""
