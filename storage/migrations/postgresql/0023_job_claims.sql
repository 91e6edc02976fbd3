-- As storage/migrations/0023_job_claims.sql (see there why), with the text columns compared
-- bytewise as every other one here: lease times are compared as ISO 8601 strings.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN lease_until TEXT COLLATE "C";

CREATE INDEX jobs_leases ON jobs (lease_until)
WHERE state = 'running' OR (state = 'succeeded' AND delivered_at IS NULL);
