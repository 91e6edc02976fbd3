-- Small facts the bot remembers about itself, such as the hash of the last command tree it
-- synced to Discord (so a restart with unchanged commands does not spend the sync rate limit).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
