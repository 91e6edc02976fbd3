-- Moderation rules a server sets: blocked terms, and members blocked from Cameo there.

-- A server's blocked terms, as its moderators typed them and as they are matched (the words
-- after Unicode normalisation and case folding, space-separated).
CREATE TABLE blocked_terms (
    guild_id   INTEGER NOT NULL,
    term_key   TEXT NOT NULL,
    term       TEXT NOT NULL,
    added_by   INTEGER NOT NULL,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (guild_id, term_key)
) STRICT, WITHOUT ROWID;

-- Per server: whether Cameo's own default list of terms applies too (off unless switched on).
CREATE TABLE moderation_settings (
    guild_id      INTEGER PRIMARY KEY,
    default_terms INTEGER NOT NULL DEFAULT 0 CHECK (default_terms IN (0, 1))
) STRICT;

-- A member blocked from Cameo in one server, with the reason they are told, until a moment or
-- for good (until NULL).
CREATE TABLE blocked_members (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    blocked_by INTEGER NOT NULL,
    blocked_at TEXT NOT NULL,
    until      TEXT,
    PRIMARY KEY (guild_id, user_id)
) STRICT, WITHOUT ROWID;
