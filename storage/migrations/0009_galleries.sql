-- Galleries: a server's characters and delivered pictures, browsed a page at a time, newest
-- first (or by most scenes). Each page is read in index order and stops at the page's end, so
-- a page costs the same in a server with 5,000 characters and 50,000 pictures as in a new one.

-- A server's shared characters, newest first (an index's entries end with the row id, so
-- equal (guild, visibility) entries are already in id order), and by how many scenes.
CREATE INDEX characters_shared_newest ON characters (guild_id, visibility);
CREATE INDEX characters_by_scenes ON characters (guild_id, visibility, scene_count);

-- A server's delivered pictures, newest job first. Only finished jobs with results are in it.
CREATE INDEX jobs_pictures_by_guild ON jobs (guild_id) WHERE state = 'succeeded';

-- A server's favourites, newest first. The mark stays on job_images (the Favorite button sets
-- it); this is its index by server, which job_images cannot have (it has no server column).
-- Without it, a server's favourites page would read every other server's favourites too.
-- Kept in step by triggers, whoever changes the mark; goes with its picture.
CREATE TABLE favorite_pictures (
    guild_id INTEGER NOT NULL,
    job_id   INTEGER NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (guild_id, job_id, position),
    FOREIGN KEY (job_id, position) REFERENCES job_images (job_id, position) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- Deleting a picture finds its favourite row by this (the foreign key's look-up).
CREATE INDEX favorite_pictures_by_picture ON favorite_pictures (job_id, position);

INSERT INTO favorite_pictures (guild_id, job_id, position)
SELECT j.guild_id, ji.job_id, ji.position
FROM job_images ji JOIN jobs j ON j.id = ji.job_id
WHERE ji.favorite = 1;

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
