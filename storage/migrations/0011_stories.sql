-- Stories: a shared roleplay told in one place (a thread), with a cast of characters and its
-- scenes numbered in the order they were asked for.
CREATE TABLE stories (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL UNIQUE,  -- where it is told: scenes asked there are its scenes
    title      TEXT NOT NULL,
    creator_id INTEGER NOT NULL,
    closed     INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE story_cast (
    story_id     INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    character_id INTEGER NOT NULL REFERENCES characters (id) ON DELETE CASCADE,
    added_by     INTEGER NOT NULL,
    added_at     TEXT NOT NULL,
    PRIMARY KEY (story_id, character_id)
) STRICT, WITHOUT ROWID;
-- Deleting a character finds the casts it is in by this; forget-me, what a member added.
CREATE INDEX story_cast_by_character ON story_cast (character_id);
CREATE INDEX story_cast_by_adder ON story_cast (added_by);
CREATE INDEX stories_by_creator ON stories (creator_id);

-- A scene goes with its job (deleted, or its member forgotten); its number is kept, so the
-- others keep theirs.
CREATE TABLE story_scenes (
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    number   INTEGER NOT NULL,
    job_id   INTEGER NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (story_id, number)
) STRICT;

-- The story's pinned cast card (the Discord side's record).
CREATE TABLE story_cards (
    story_id   INTEGER PRIMARY KEY REFERENCES stories (id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL
) STRICT;
