-- Where each job shows on Discord: its scene card, the thread its results went into, and the
-- largest file that channel accepts. These are the Discord side's facts, kept apart from the
-- domain's job, which knows nothing of messages and threads. One row per job that got a card;
-- it goes with its job.
CREATE TABLE scene_cards (
    job_id       INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    channel_id   INTEGER,             -- the card's channel and message (none if never recorded)
    message_id   INTEGER,
    thread_id    INTEGER,             -- where results were posted, once a thread was started
    upload_limit INTEGER NOT NULL     -- bytes per file, as Discord reported for that channel
) STRICT;

-- Jobs stored before this table kept these facts in their own row. A job with none of them
-- recorded and the usual limit loses nothing by having no row: delivery assumes that limit.
INSERT INTO scene_cards (job_id, channel_id, message_id, thread_id, upload_limit)
SELECT id, status_channel_id, status_message_id, thread_id, upload_limit
FROM jobs
WHERE status_message_id IS NOT NULL OR thread_id IS NOT NULL OR upload_limit <> 10485760;

ALTER TABLE jobs DROP COLUMN status_channel_id;
ALTER TABLE jobs DROP COLUMN status_message_id;
ALTER TABLE jobs DROP COLUMN thread_id;
ALTER TABLE jobs DROP COLUMN upload_limit;
