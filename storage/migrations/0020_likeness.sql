-- Likeness (bot/vision/likeness.py). A reference picture's face embedding, computed once per
-- picture and per pair of face models (`models` names their hashes: new models, new
-- embeddings). embedding NULL: no photographed face in it, so its scenes get no score.
CREATE TABLE face_embeddings (
    image_sha256 TEXT PRIMARY KEY REFERENCES images (sha256) ON DELETE CASCADE,
    models       TEXT NOT NULL,
    embedding    BLOB
) STRICT, WITHOUT ROWID;

-- Each delivered picture's likeness to the reference (NULL: not scored) or why it has none.
ALTER TABLE job_images ADD COLUMN likeness REAL;
ALTER TABLE job_images ADD COLUMN likeness_note TEXT;

-- A server's likeness settings: off or shown, and where the bands' words change.
CREATE TABLE likeness_settings (
    guild_id INTEGER PRIMARY KEY,
    mode     TEXT NOT NULL DEFAULT 'show' CHECK (mode IN ('off', 'show')),
    strong   REAL NOT NULL DEFAULT 0.50,
    likely   REAL NOT NULL DEFAULT 0.36,
    CHECK (0 < likely AND likely < strong AND strong < 1)
) STRICT;
