-- Pictures let go of, waiting to be deleted (issue 20). With one process (SQLite), a picture
-- nothing uses any more is deleted right after the commit that let go of it, under the image
-- store's lock, which every upload holds too. Processes sharing a PostgreSQL database and a
-- bucket have no such lock between them: one could delete a file just as another, uploading the
-- same bytes (so the same name), finds it there and records its row. So there a released
-- picture is written down here instead, in the transaction that let go of it, and deleted only
-- after a grace period, in a write transaction that checks no row names it any more. An upload
-- that finds its picture written down here takes it off the list before storing the file.
-- (SQLite never fills it; it exists in both so the schema is the same.)
CREATE TABLE image_releases (
    sha256      TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    format      TEXT NOT NULL CHECK (format IN ('png', 'jpeg')),
    released_at TEXT NOT NULL  -- ISO 8601 UTC, like every time in the schema
) STRICT;

-- The purge takes the oldest first, and only those past the grace period.
CREATE INDEX image_releases_by_time ON image_releases (released_at);
