-- Stored reference images, content-addressed: the file lives at images/<aa>/<sha256>.<ext>.
-- A row exists only once its file has been written; rows that reference an image keep it alive
-- (ON DELETE RESTRICT), so deleting an image that is still in use fails instead of dangling.
CREATE TABLE images (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    format     TEXT NOT NULL CHECK (format IN ('png', 'jpeg')),
    width      INTEGER NOT NULL CHECK (width > 0),
    height     INTEGER NOT NULL CHECK (height > 0),
    byte_size  INTEGER NOT NULL CHECK (byte_size > 0),
    created_at TEXT NOT NULL
) STRICT;

-- guild_id 0 means a personal character, created in a DM: it belongs to its owner alone.
-- name_key is the name after NFKC normalisation and case folding, so "Mira" and "ＭＩＲＡ" clash.
CREATE TABLE characters (
    id              INTEGER PRIMARY KEY,
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

CREATE INDEX characters_by_guild ON characters (guild_id, visibility, name_key);
CREATE INDEX characters_by_owner ON characters (owner_id, guild_id, name_key);
CREATE INDEX characters_by_image ON characters (image_sha256);
