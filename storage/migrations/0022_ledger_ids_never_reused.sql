-- Ledger ids are never handed out twice (issue 20's metrics). SQLite gives a new row the largest
-- id plus one, so when forget-me deleted the member whose rows were the newest, the next rows
-- took their ids again: a reader that had counted up to an id (the metrics' credits moved since
-- the last scrape) skipped them, and an audit trail should not reuse its numbers anyway.
-- AUTOINCREMENT remembers the largest id ever given. Rebuilt to add it; ids and indexes kept.
CREATE TABLE credit_ledger_rebuilt (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    job_id   INTEGER,
    change   TEXT NOT NULL
             CHECK (change IN ('reserve', 'charge', 'refund', 'give', 'take', 'retry')),
    credits  INTEGER NOT NULL,
    budget   INTEGER NOT NULL DEFAULT 0,
    day      TEXT NOT NULL,
    month    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    actor_id INTEGER,
    at       TEXT NOT NULL
) STRICT;
INSERT INTO credit_ledger_rebuilt
    (id, guild_id, user_id, job_id, change, credits, budget, day, month, reason, actor_id, at)
SELECT id, guild_id, user_id, job_id, change, credits, budget, day, month, reason, actor_id, at
FROM credit_ledger;
DROP TABLE credit_ledger;
ALTER TABLE credit_ledger_rebuilt RENAME TO credit_ledger;
CREATE INDEX credit_ledger_member ON credit_ledger (guild_id, user_id, id);
CREATE INDEX credit_ledger_user ON credit_ledger (user_id);
CREATE INDEX credit_ledger_retries ON credit_ledger (job_id) WHERE change = 'retry';
