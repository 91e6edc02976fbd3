"""Scene and pose jobs: the service, the runner, and what members do with results."""
