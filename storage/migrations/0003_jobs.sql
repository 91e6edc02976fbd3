-- A generation request, written before any money is spent. States:
--   queued -> running -> succeeded | failed | cancelled
-- A running job on an asynchronous service keeps that service's job id (and the seed Cameo
-- chose), so a restart resumes polling instead of paying twice. Result images are stored like
-- references (content-addressed) and listed in job_images before they are posted, so results
-- that arrive while Discord is unreachable, or just before a restart, are still delivered.
CREATE TABLE jobs (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('scene', 'poses')),
    state              TEXT NOT NULL
                       CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    guild_id           INTEGER NOT NULL,          -- 0 in DMs
    channel_id         INTEGER NOT NULL,
    user_id            INTEGER NOT NULL,
    character_id       INTEGER REFERENCES characters (id) ON DELETE SET NULL,
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
    status_channel_id  INTEGER,                    -- the scene card that shows progress
    status_message_id  INTEGER,
    thread_id          INTEGER,
    created_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT,
    delivered_at       TEXT
) STRICT;

CREATE INDEX jobs_active ON jobs (state, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_user ON jobs (user_id, state);
CREATE INDEX jobs_last_started ON jobs (user_id, started_at);
CREATE INDEX jobs_undelivered ON jobs (state) WHERE state = 'succeeded' AND delivered_at IS NULL;

CREATE TABLE job_images (
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    image_sha256 TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
    favorite     INTEGER NOT NULL DEFAULT 0 CHECK (favorite IN (0, 1)),
    PRIMARY KEY (job_id, position)
) STRICT;

CREATE INDEX job_images_by_image ON job_images (image_sha256);
