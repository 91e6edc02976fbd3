-- Credits: what each server allows, what each member has used, and a ledger of every change.
--
-- A job's credits are held when it is queued, charged when its images are delivered and given
-- back when it fails or is cancelled. Each change is a row in credit_ledger; the two usage
-- tables are running totals of that ledger, kept in the same transaction, so a reservation
-- reads and raises a single row instead of summing history (guild_id 0 means DMs).

-- A server's own rules; a missing row (or NULL) means Cameo's defaults.
CREATE TABLE quota_settings (
    guild_id         INTEGER PRIMARY KEY,
    daily_credits    INTEGER CHECK (daily_credits >= 0),
    monthly_budget   INTEGER CHECK (monthly_budget >= 0),   -- NULL: no cap
    cooldown_seconds INTEGER NOT NULL DEFAULT 0 CHECK (cooldown_seconds >= 0),
    exempt_managers  INTEGER NOT NULL DEFAULT 0 CHECK (exempt_managers IN (0, 1))
) STRICT;

-- Daily allowances for a role (the most generous of a member's roles wins) or a member (wins
-- over roles); exempt members have no daily limit (the server budget still applies).
CREATE TABLE quota_overrides (
    guild_id      INTEGER NOT NULL,
    target        TEXT NOT NULL CHECK (target IN ('role', 'member')),
    target_id     INTEGER NOT NULL,
    daily_credits INTEGER CHECK (daily_credits >= 0),           -- NULL: exempt (members only)
    PRIMARY KEY (guild_id, target, target_id),
    CHECK (daily_credits IS NOT NULL OR target = 'member')
) STRICT;

-- A server's own price for one image from a service at a speed (overrides the defaults).
CREATE TABLE credit_prices (
    guild_id INTEGER NOT NULL,
    provider TEXT NOT NULL,
    speed    TEXT NOT NULL,
    credits  INTEGER NOT NULL CHECK (credits >= 0),
    PRIMARY KEY (guild_id, provider, speed)
) STRICT;

-- One row per job that holds credits. `day` and `month` are the periods it is charged to: a
-- refund after a reset gives back yesterday's credits, never extra ones today.
CREATE TABLE credit_holds (
    job_id   INTEGER PRIMARY KEY,   -- no foreign key: the ledger outlives deleted results
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    speed    TEXT NOT NULL,
    credits  INTEGER NOT NULL CHECK (credits >= 0),
    charged  INTEGER CHECK (charged >= 0),
    state    TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'charged', 'refunded')),
    day      TEXT NOT NULL,
    month    TEXT NOT NULL
) STRICT;

-- Every change to a member's credits. `credits` is the change to what they have used (a
-- reservation is positive, a refund or a gift negative); `budget` is the change to the
-- server's monthly spend (gifts and takes leave it alone).
CREATE TABLE credit_ledger (
    id       INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    job_id   INTEGER,
    change   TEXT NOT NULL CHECK (change IN ('reserve', 'charge', 'refund', 'give', 'take')),
    credits  INTEGER NOT NULL,
    budget   INTEGER NOT NULL DEFAULT 0,
    day      TEXT NOT NULL,
    month    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    actor_id INTEGER,              -- who gave or took; NULL for the bot's own changes
    at       TEXT NOT NULL
) STRICT;

CREATE INDEX credit_ledger_member ON credit_ledger (guild_id, user_id, id);
CREATE INDEX credit_ledger_user ON credit_ledger (user_id);

CREATE TABLE credit_usage (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    day      TEXT NOT NULL,
    used     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE budget_usage (
    guild_id INTEGER NOT NULL,
    month    TEXT NOT NULL,
    used     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, month)
) STRICT, WITHOUT ROWID;

-- When each member last asked, for the server's optional cooldown.
CREATE TABLE member_requests (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) STRICT, WITHOUT ROWID;
