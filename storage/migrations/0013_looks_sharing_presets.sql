-- cameo: foreign keys off
-- Characters for shared roleplay: several looks per character, who may use a character, and
-- members' and characters' preset scene settings.
--
-- `characters` is rebuilt (applied with foreign keys off, every key checked before commit, as
-- in 0012) because its visibility gains `approved` and that is a CHECK constraint.

CREATE TABLE characters_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id       TEXT NOT NULL UNIQUE,
    guild_id        INTEGER NOT NULL,
    owner_id        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    -- private: the owner (and co-owners) alone; approved: also the members the owner approves;
    -- server: everyone in the server.
    visibility      TEXT NOT NULL CHECK (visibility IN ('private', 'approved', 'server')),
    -- Whether everyone in the server sees it (its card, gallery, pictures): always for server,
    -- never for private, the owner's choice (`listed_when_approved`) for approved. Galleries
    -- read this one column; computed, so it can never disagree with the visibility.
    listed_when_approved INTEGER NOT NULL DEFAULT 1 CHECK (listed_when_approved IN (0, 1)),
    listed          INTEGER GENERATED ALWAYS AS (
        CASE visibility WHEN 'server' THEN 1 WHEN 'approved' THEN listed_when_approved ELSE 0 END
    ) VIRTUAL,
    -- The default look's picture, kept in step with `looks` by the repository so that every
    -- reader of a character's picture (cards, galleries, stories) needs no join.
    image_sha256    TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
    original_sha256 TEXT NOT NULL,
    original_format TEXT NOT NULL,
    original_width  INTEGER NOT NULL,
    original_height INTEGER NOT NULL,
    scene_count     INTEGER NOT NULL DEFAULT 0,
    -- Of those, the scenes other members made (shown to the owner), kept as a fact like
    -- scene_count so a card never counts a character's history.
    others_scene_count INTEGER NOT NULL DEFAULT 0,
    -- The owner's default scene settings for this character (JSON; see bot/prefs).
    defaults        TEXT NOT NULL DEFAULT '{}',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (guild_id, owner_id, name_key)
) STRICT;

INSERT INTO characters_rebuilt (
    id, public_id, guild_id, owner_id, name, name_key, description, visibility,
    image_sha256, original_sha256, original_format, original_width, original_height,
    scene_count, created_at, updated_at
)
SELECT
    id, public_id, guild_id, owner_id, name, name_key, description, visibility,
    image_sha256, original_sha256, original_format, original_width, original_height,
    scene_count, created_at, updated_at
FROM characters;

UPDATE characters_rebuilt SET others_scene_count = (
    SELECT count(*) FROM jobs j
    WHERE j.character_id = characters_rebuilt.id AND j.state = 'succeeded'
    AND j.user_id != characters_rebuilt.owner_id
);

DROP TABLE characters;
ALTER TABLE characters_rebuilt RENAME TO characters;

CREATE INDEX characters_by_guild ON characters (guild_id, listed, name_key);
CREATE INDEX characters_by_owner ON characters (owner_id, guild_id, name_key);
CREATE INDEX characters_by_image ON characters (image_sha256);
CREATE INDEX characters_by_name ON characters (name_key);
CREATE INDEX characters_shared_newest ON characters (guild_id, listed);
CREATE INDEX characters_by_scenes ON characters (guild_id, listed, scene_count);

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

-- A character's looks ("default", "winter coat", "age 60"), each with its own reference
-- picture, checked and stored like any reference. Exactly one is the default; its picture is
-- also the character's. Every existing character starts with one look, "default".
CREATE TABLE looks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    character_id    INTEGER NOT NULL REFERENCES characters (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,
    is_default      INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    image_sha256    TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
    original_sha256 TEXT NOT NULL,
    original_format TEXT NOT NULL,
    original_width  INTEGER NOT NULL,
    original_height INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (character_id, name_key)
) STRICT;
CREATE UNIQUE INDEX looks_one_default ON looks (character_id) WHERE is_default = 1;
-- Deleting an image checks its looks (ON DELETE RESTRICT) through this.
CREATE INDEX looks_by_image ON looks (image_sha256);

INSERT INTO looks (
    character_id, name, name_key, is_default, image_sha256, original_sha256, original_format,
    original_width, original_height, created_at
)
SELECT
    id, 'default', 'default', 1, image_sha256, original_sha256, original_format,
    original_width, original_height, created_at
FROM characters ORDER BY id;

-- Members the owner lets use a character (approved) or also edit it (co_owner). Goes with the
-- character; a member forgotten goes from every list.
CREATE TABLE character_members (
    character_id INTEGER NOT NULL REFERENCES characters (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('approved', 'co_owner')),
    added_at     TEXT NOT NULL,
    PRIMARY KEY (character_id, user_id)
) STRICT, WITHOUT ROWID;
-- What has been shared with a member: their suggestions, and forget-me.
CREATE INDEX character_members_by_member ON character_members (user_id, character_id);

-- The look a scene used (kept, like the character's id, after the look is gone), whose
-- character it was when another member asked for it (its card credits the owner; NULL for a
-- member's scenes of their own characters), and where each of its settings came from: the
-- command, the member's preferences, the character's defaults (JSON: setting -> source;
-- settings left out came from Cameo's defaults).
ALTER TABLE jobs ADD COLUMN look_id INTEGER;
ALTER TABLE jobs ADD COLUMN look_name TEXT;
ALTER TABLE jobs ADD COLUMN character_owner_id INTEGER;
ALTER TABLE jobs ADD COLUMN option_sources TEXT NOT NULL DEFAULT '{}';
-- Forget-me clears a member from other members' scenes' credits through this.
CREATE INDEX jobs_by_character_owner ON jobs (character_owner_id)
WHERE character_owner_id IS NOT NULL;

-- A member's own defaults for /scene, per server (JSON; see bot/prefs).
CREATE TABLE member_prefs (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    options    TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX member_prefs_by_member ON member_prefs (user_id);
