-- Where a server's moderation log goes (NULL: nowhere).
ALTER TABLE moderation_settings ADD COLUMN log_channel_id INTEGER;

-- A member's report of a result, a character, or a likeness of themselves, or a character
-- made from a photograph of a real person waiting for approval, and what a moderator did
-- about it (outcome NULL while open): who, when and why are all kept.
-- A forgotten member's reports stay, without their id.
CREATE TABLE reports (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id       INTEGER NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('result', 'character', 'likeness', 'approval')),
    job_id         INTEGER,
    character_id   INTEGER,
    reported_by    INTEGER,
    about_user     INTEGER,  -- whose it is: the requester of a result, a character's owner
    reason         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    log_message_id INTEGER,
    outcome        TEXT CHECK (outcome IN (
                       'dismissed', 'result deleted', 'character deleted', 'member blocked',
                       'approved', 'rejected')),
    handled_by     INTEGER,
    handled_at     TEXT,
    handled_why    TEXT
) STRICT;
CREATE INDEX reports_open ON reports (guild_id, id) WHERE outcome IS NULL;
CREATE INDEX reports_by_reporter ON reports (reported_by) WHERE reported_by IS NOT NULL;
CREATE INDEX reports_about ON reports (about_user) WHERE about_user IS NOT NULL;
CREATE INDEX reports_by_handler ON reports (handled_by) WHERE handled_by IS NOT NULL;
