"""Credits: the quota service, the job hooks that hold and charge them, pricing."""
