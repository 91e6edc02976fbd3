-- The showcase: a channel a server chooses (a forum, or a text channel) where each shared
-- character has one post, opened with its card, and members share their pictures into it.
-- These are the Discord side's records; the domain's tables know nothing of them.
CREATE TABLE showcase_channels (
    guild_id   INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL
) STRICT;

-- A character's post: the forum post (its first message, in the post, is the card), or in a
-- text channel the card (in the channel) and the thread started from it. It goes with its
-- character.
CREATE TABLE showcase_posts (
    character_id    INTEGER PRIMARY KEY REFERENCES characters (id) ON DELETE CASCADE,
    guild_id        INTEGER NOT NULL,
    channel_id      INTEGER NOT NULL,  -- the showcase channel
    thread_id       INTEGER NOT NULL,
    card_channel_id INTEGER NOT NULL,  -- where the card is: the post itself, or the channel
    message_id      INTEGER NOT NULL
) STRICT;

-- A picture shared into its character's post. It goes with the picture (deleted, or its
-- member forgotten), and with the post.
CREATE TABLE shared_pictures (
    job_id     INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    thread_id  INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (job_id, position),
    FOREIGN KEY (job_id, position) REFERENCES job_images (job_id, position) ON DELETE CASCADE
) STRICT;
CREATE INDEX shared_pictures_by_thread ON shared_pictures (thread_id);

-- Messages and threads to delete on Discord because what they show is gone. Written by the
-- triggers below in the same transaction as the deletion, whichever path deleted it (a
-- result's Delete button, a character's deletion, forget-me), and worked off by the bot, so
-- a restart in between loses nothing. A NULL message means the thread itself.
CREATE TABLE discord_deletions (
    id         INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL,
    message_id INTEGER
) STRICT;

CREATE TRIGGER shared_pictures_gone AFTER DELETE ON shared_pictures BEGIN
    INSERT INTO discord_deletions (channel_id, message_id) VALUES (old.thread_id, old.message_id);
END;

-- A post goes message by message, then as a thread: deleting a thread needs Manage Threads,
-- which Cameo does not ask for, while its own messages it may always delete. So without that
-- permission nothing it posted stays, only the empty thread, which it archives.
CREATE TRIGGER showcase_posts_gone AFTER DELETE ON showcase_posts BEGIN
    DELETE FROM shared_pictures WHERE thread_id = old.thread_id;  -- queues each copy
    -- The card: a forum post's first message (the post's own id), or a text channel's message.
    INSERT INTO discord_deletions (channel_id, message_id)
    VALUES (old.card_channel_id, old.message_id);
    INSERT INTO discord_deletions (channel_id, message_id) VALUES (old.thread_id, NULL);
END;
