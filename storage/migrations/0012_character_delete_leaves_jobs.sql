-- cameo: foreign keys off
-- Deleting a character no longer rewrites the jobs that named it. Until now
-- `jobs.character_id` was ON DELETE SET NULL, so deleting a character touched every scene ever
-- made of it: 78 ms for a member whose characters were in 3,874 scenes, inside the write
-- transaction. Jobs keep the id as a plain fact instead (they also keep the name they were
-- made with), and every reader already joins to `characters` and treats a missing row as
-- deleted. For that to stay true, a character's id is never given to another character:
-- `characters` becomes AUTOINCREMENT.
--
-- SQLite changes a column's constraints only by rebuilding the table (its documented 12-step
-- procedure): the runner applies this file with foreign keys off, then checks them all with
-- PRAGMA foreign_key_check before committing. Tables that reference these two by name
-- (job_images, scene_cards, story_scenes, showcase_posts, story_cast, …) find the new tables
-- under the old names; the indexes and triggers dropped with the old tables are made again.
-- The favourites triggers on job_images read `jobs`, and SQLite refuses to rename a table while
-- a trigger names one that is missing, so they are set aside for the rebuild and made again.

CREATE TABLE characters_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id       TEXT NOT NULL UNIQUE,
    guild_id        INTEGER NOT NULL,
    owner_id        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    visibility      TEXT NOT NULL CHECK (visibility IN ('private', 'server')),
    image_sha256    TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
    original_sha256 TEXT NOT NULL,
    original_format TEXT NOT NULL,
    original_width  INTEGER NOT NULL,
    original_height INTEGER NOT NULL,
    scene_count     INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (guild_id, owner_id, name_key)
) STRICT;

INSERT INTO characters_rebuilt (
    id, public_id, guild_id, owner_id, name, name_key, description, visibility, image_sha256,
    original_sha256, original_format, original_width, original_height, scene_count, created_at,
    updated_at
)
SELECT
    id, public_id, guild_id, owner_id, name, name_key, description, visibility, image_sha256,
    original_sha256, original_format, original_width, original_height, scene_count, created_at,
    updated_at
FROM characters;

DROP TABLE characters;
ALTER TABLE characters_rebuilt RENAME TO characters;

CREATE INDEX characters_by_guild ON characters (guild_id, visibility, name_key);
CREATE INDEX characters_by_owner ON characters (owner_id, guild_id, name_key);
CREATE INDEX characters_by_image ON characters (image_sha256);
CREATE INDEX characters_by_name ON characters (name_key);
CREATE INDEX characters_shared_newest ON characters (guild_id, visibility);
CREATE INDEX characters_by_scenes ON characters (guild_id, visibility, scene_count);

-- The trigram name index reads `characters` by rowid; the ids were kept, so its rows still
-- match, and only the triggers that keep it in step need making again.
CREATE TRIGGER character_names_insert AFTER INSERT ON characters BEGIN
    INSERT INTO character_names (rowid, name_key) VALUES (new.id, new.name_key);
END;
CREATE TRIGGER character_names_delete AFTER DELETE ON characters BEGIN
    INSERT INTO character_names (character_names, rowid, name_key)
    VALUES ('delete', old.id, old.name_key);
END;
CREATE TRIGGER character_names_rename AFTER UPDATE OF name_key ON characters BEGIN
    INSERT INTO character_names (character_names, rowid, name_key)
    VALUES ('delete', old.id, old.name_key);
    INSERT INTO character_names (rowid, name_key) VALUES (new.id, new.name_key);
END;

DROP TRIGGER favorite_pictures_marked;
DROP TRIGGER favorite_pictures_unmarked;
DROP TRIGGER favorite_pictures_inserted;

CREATE TABLE jobs_rebuilt (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('scene', 'poses')),
    state              TEXT NOT NULL
                       CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    guild_id           INTEGER NOT NULL,          -- 0 in DMs
    channel_id         INTEGER NOT NULL,
    user_id            INTEGER NOT NULL,
    character_id       INTEGER,                   -- the character's id, even once it is deleted
    character_name     TEXT NOT NULL,
    -- The reference (and edit image and mask) stay alive while the job needs them.
    reference_sha256   TEXT REFERENCES images (sha256) ON DELETE RESTRICT,
    edit_image_sha256  TEXT REFERENCES images (sha256) ON DELETE RESTRICT,
    edit_mask_sha256   TEXT REFERENCES images (sha256) ON DELETE RESTRICT,
    options            TEXT NOT NULL,             -- JSON: prompt, style, speed, count…
    image_count        INTEGER NOT NULL CHECK (image_count > 0),
    preferred_provider TEXT,
    provider           TEXT,
    service_job_id     TEXT,
    seed               INTEGER,
    credits            INTEGER NOT NULL DEFAULT 0, -- reserved for this job
    cost               TEXT,                       -- what the service reported, for Info
    error              TEXT,                       -- the member-facing reason it failed
    created_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT,
    delivered_at       TEXT,
    rerolled_from      INTEGER REFERENCES jobs (id) ON DELETE SET NULL
) STRICT;

INSERT INTO jobs_rebuilt (
    id, kind, state, guild_id, channel_id, user_id, character_id, character_name,
    reference_sha256, edit_image_sha256, edit_mask_sha256, options, image_count,
    preferred_provider, provider, service_job_id, seed, credits, cost, error, created_at,
    started_at, finished_at, delivered_at, rerolled_from
)
SELECT
    id, kind, state, guild_id, channel_id, user_id, character_id, character_name,
    reference_sha256, edit_image_sha256, edit_mask_sha256, options, image_count,
    preferred_provider, provider, service_job_id, seed, credits, cost, error, created_at,
    started_at, finished_at, delivered_at, rerolled_from
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_rebuilt RENAME TO jobs;

CREATE INDEX jobs_active ON jobs (state, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_user ON jobs (user_id, state);
CREATE INDEX jobs_last_started ON jobs (user_id, started_at);
CREATE INDEX jobs_undelivered ON jobs (state) WHERE state = 'succeeded' AND delivered_at IS NULL;
CREATE INDEX jobs_finished ON jobs (state, finished_at);
CREATE INDEX jobs_rerolled_from ON jobs (rerolled_from) WHERE rerolled_from IS NOT NULL;
CREATE INDEX jobs_by_reference ON jobs (reference_sha256) WHERE reference_sha256 IS NOT NULL;
CREATE INDEX jobs_by_edit_image ON jobs (edit_image_sha256) WHERE edit_image_sha256 IS NOT NULL;
CREATE INDEX jobs_by_edit_mask ON jobs (edit_mask_sha256) WHERE edit_mask_sha256 IS NOT NULL;
-- No longer checked by a delete, but galleries and Info still find a character's scenes by it.
CREATE INDEX jobs_by_character ON jobs (character_id) WHERE character_id IS NOT NULL;
CREATE INDEX jobs_queued_by_member ON jobs (user_id, id) WHERE state = 'queued';
CREATE INDEX jobs_running_by_member ON jobs (user_id, id) WHERE state = 'running';
CREATE INDEX jobs_pictures_by_guild ON jobs (guild_id) WHERE state = 'succeeded';

CREATE TRIGGER favorite_pictures_marked AFTER UPDATE OF favorite ON job_images
WHEN new.favorite = 1 AND old.favorite = 0 BEGIN
    INSERT OR IGNORE INTO favorite_pictures (guild_id, job_id, position)
    SELECT guild_id, new.job_id, new.position FROM jobs WHERE id = new.job_id;
END;
CREATE TRIGGER favorite_pictures_unmarked AFTER UPDATE OF favorite ON job_images
WHEN new.favorite = 0 AND old.favorite = 1 BEGIN
    DELETE FROM favorite_pictures WHERE job_id = old.job_id AND position = old.position;
END;
CREATE TRIGGER favorite_pictures_inserted AFTER INSERT ON job_images
WHEN new.favorite = 1 BEGIN
    INSERT OR IGNORE INTO favorite_pictures (guild_id, job_id, position)
    SELECT guild_id, new.job_id, new.position FROM jobs WHERE id = new.job_id;
END;
