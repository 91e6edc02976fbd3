-- As storage/migrations/0024_image_releases.sql (see there why), with the text columns compared
-- bytewise as every other one here: release times are compared as ISO 8601 strings.
CREATE TABLE image_releases (
    sha256      TEXT COLLATE "C" PRIMARY KEY CHECK (length(sha256) = 64),
    format      TEXT COLLATE "C" NOT NULL CHECK (format IN ('png', 'jpeg')),
    released_at TEXT COLLATE "C" NOT NULL
);

CREATE INDEX image_releases_by_time ON image_releases (released_at);
