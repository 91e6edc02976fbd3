-- Jobs claimed by one process at a time, for a while (issue 20): several workers may share one
-- database. A worker that starts a job writes its own name and a lease; it renews the lease
-- while it works, and every later write of that job names it (`WHERE claimed_by = me`), so a
-- worker that lost its job (it stalled past the lease and another took the job over) changes
-- nothing. A lease that runs out (its worker died) lets another worker take the job over: an
-- asynchronous one resumes polling the service's job, never asking again; a synchronous one in
-- flight fails with a refund. Finished jobs not yet posted are claimed the same way.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;  -- ISO 8601 UTC, like every time in the schema

-- The workers' look for leases run out: only jobs a worker holds are in it.
CREATE INDEX jobs_leases ON jobs (lease_until)
WHERE state = 'running' OR (state = 'succeeded' AND delivered_at IS NULL);
