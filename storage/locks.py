"""Every PostgreSQL advisory lock Cameo takes, named in one place.

Advisory locks are numbers shared by every session of a database, so two features choosing
the same number by accident would wait on each other. The first key of each pair says whose
lock it is ("CAME" in ASCII: no other software on the database is likely to use it); the
second which one.
"""

from __future__ import annotations

from enum import IntEnum

# pg_advisory_xact_lock(int4, int4): the first half of every key is this.
NAMESPACE = 0x43414D45


class Lock(IntEnum):
    # Every write transaction holds this until it commits, whatever process it comes from, so
    # a check and the write that depends on it (a credit reservation, a job claim, a queue
    # position) are never split by another writer: what SQLite's BEGIN IMMEDIATE gives one
    # host. Readers never take it.
    WRITE = 1
    # Applying migrations: the first process to start migrates, the others wait and then find
    # the schema current.
    MIGRATE = 2
    # Gateway IDENTIFYs: one key per bucket (shard_id % max_concurrency), held 5 seconds.
    IDENTIFY_BUCKET = 1_000


def key(lock: Lock, bucket: int = 0) -> tuple[int, int]:
    """The (namespace, number) pair for pg_advisory_*lock(int4, int4)."""
    return NAMESPACE, int(lock) + bucket
