-- Likeness rerolls (issue 19): a server may have a picture in the weak band made once more with
-- a new seed, deliver the better of the two tries and keep the other for Info, with the second
-- try paid by the server (the default) or by the member, as its own ledger row.

-- The mode gains 'reroll', and the setting who pays for a second try. SQLite changes a CHECK
-- only by rebuilding the table; nothing references it.
CREATE TABLE likeness_settings_rebuilt (
    guild_id     INTEGER PRIMARY KEY,
    mode         TEXT NOT NULL DEFAULT 'show' CHECK (mode IN ('off', 'show', 'reroll')),
    strong       REAL NOT NULL DEFAULT 0.50,
    likely       REAL NOT NULL DEFAULT 0.36,
    reroll_payer TEXT NOT NULL DEFAULT 'server' CHECK (reroll_payer IN ('server', 'member')),
    CHECK (0 < likely AND likely < strong AND strong < 1)
) STRICT;
INSERT INTO likeness_settings_rebuilt (guild_id, mode, strong, likely)
SELECT guild_id, mode, strong, likely FROM likeness_settings;
DROP TABLE likeness_settings;
ALTER TABLE likeness_settings_rebuilt RENAME TO likeness_settings;

-- The ledger's changes gain 'retry': a second try's cost, to the member's credits (member pays)
-- or to the server's monthly spend only (server pays); a failed try's 'retry' row is undone by
-- another with the opposite sign. Rebuilt for the CHECK; ids and indexes are kept.
CREATE TABLE credit_ledger_rebuilt (
    id       INTEGER PRIMARY KEY,
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
-- Whether a job's second try is paid for already (a job resumed after a restart pays once).
CREATE INDEX credit_ledger_retries ON credit_ledger (job_id) WHERE change = 'retry';

-- The try that was not delivered, for each picture that was made twice: its picture and its
-- likeness. It goes with the delivered picture it competed with.
CREATE TABLE likeness_tries (
    job_id        INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    image_sha256  TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
    attempt       INTEGER NOT NULL CHECK (attempt IN (1, 2)),  -- the first try or the second
    likeness      REAL,
    likeness_note TEXT,
    PRIMARY KEY (job_id, position),
    FOREIGN KEY (job_id, position) REFERENCES job_images (job_id, position) ON DELETE CASCADE
) STRICT;
CREATE INDEX likeness_tries_by_image ON likeness_tries (image_sha256);

-- Pictures of second tries the member pays for, charged with the job at delivery.
ALTER TABLE jobs ADD COLUMN member_retries INTEGER NOT NULL DEFAULT 0;
