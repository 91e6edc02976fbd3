"""Pictures: checking and cleaning them, the worker pool, the content-addressed store."""
