"""The `cameo` command line: run, generate, check, invite, and its exit statuses."""
