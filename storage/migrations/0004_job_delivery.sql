-- What a job needs to be delivered well, possibly long after the command that asked for it:
-- the largest file the channel accepts (Discord reports it per interaction, and it depends on
-- the server's boost level), and the job a reroll came from.
ALTER TABLE jobs ADD COLUMN upload_limit INTEGER NOT NULL DEFAULT 10485760;
ALTER TABLE jobs ADD COLUMN rerolled_from INTEGER REFERENCES jobs (id) ON DELETE SET NULL;

-- ETAs read the latest finished jobs; deleting a job clears rerolls that point at it.
CREATE INDEX jobs_finished ON jobs (state, finished_at);
CREATE INDEX jobs_rerolled_from ON jobs (rerolled_from) WHERE rerolled_from IS NOT NULL;
