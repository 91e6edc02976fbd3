-- Costs that do not grow with history: every foreign key a delete or the orphan sweep checks has
-- an index, the fair queue reads a fact per member instead of their whole history, and character
-- names are searchable by substring through an index.

-- Deleting an image makes SQLite look for jobs that still point at it (ON DELETE RESTRICT), and
-- deleting a character clears the jobs that name it (ON DELETE SET NULL). Without these, each of
-- those checks reads every job ever made. Partial: once a job finishes its reference is released
-- (NULL), and most jobs are not region edits, so the indexes hold only the few rows that matter.
CREATE INDEX jobs_by_reference ON jobs (reference_sha256) WHERE reference_sha256 IS NOT NULL;
CREATE INDEX jobs_by_edit_image ON jobs (edit_image_sha256) WHERE edit_image_sha256 IS NOT NULL;
CREATE INDEX jobs_by_edit_mask ON jobs (edit_mask_sha256) WHERE edit_mask_sha256 IS NOT NULL;
CREATE INDEX jobs_by_character ON jobs (character_id) WHERE character_id IS NOT NULL;

-- Forgetting a member finds their credit rows by member alone (the tables' keys begin with the
-- server, so without these each of those deletes reads the whole table).
CREATE INDEX credit_holds_by_member ON credit_holds (user_id);
CREATE INDEX credit_usage_by_member ON credit_usage (user_id);
CREATE INDEX member_requests_by_member ON member_requests (user_id);
CREATE INDEX quota_overrides_by_member ON quota_overrides (target_id) WHERE target = 'member';

-- The fair queue ranks each waiting member's queued jobs, oldest first, against how many each
-- member has running. (SQLite uses a partial index only when a query's WHERE implies the index's
-- own, which `state = 'running'` does not for the older `state IN ('queued', 'running')` one.)
CREATE INDEX jobs_queued_by_member ON jobs (user_id, id) WHERE state = 'queued';
CREATE INDEX jobs_running_by_member ON jobs (user_id, id) WHERE state = 'running';

-- When each member's latest job started: among members equally served, the one served longest
-- ago goes first. Kept as a fact (one row per member, written when a job starts) so choosing the
-- next job never reads a member's history.
CREATE TABLE queue_turns (
    user_id         INTEGER PRIMARY KEY,
    last_started_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO queue_turns (user_id, last_started_at)
SELECT user_id, MAX(started_at) FROM jobs WHERE started_at IS NOT NULL GROUP BY user_id;

-- A name typed in full ("Mira") finds its characters directly, whoever owns them.
CREATE INDEX characters_by_name ON characters (name_key);

-- Autocomplete matches any part of a name ("ira" finds "Mira"). A trigram index answers that
-- from the index instead of reading every character of the server; it mirrors name_key and is
-- kept in step by the triggers below. Fragments shorter than three characters use the
-- name index's prefix order instead (trigrams need three).
CREATE VIRTUAL TABLE character_names USING fts5 (
    name_key,
    content = 'characters',
    content_rowid = 'id',
    tokenize = 'trigram'
);
INSERT INTO character_names (character_names) VALUES ('rebuild');

CREATE TRIGGER character_names_insert AFTER INSERT ON characters BEGIN
    INSERT INTO character_names (rowid, name_key) VALUES (new.id, new.name_key);
END;
CREATE TRIGGER character_names_delete AFTER DELETE ON characters BEGIN
    INSERT INTO character_names (character_names, rowid, name_key)
    VALUES ('delete', old.id, old.name_key);
END;
CREATE TRIGGER character_names_rename AFTER UPDATE OF name_key ON characters BEGIN
    INSERT INTO character_names (character_names, rowid, name_key)
    VALUES ('delete', old.id, old.name_key);
    INSERT INTO character_names (rowid, name_key) VALUES (new.id, new.name_key);
END;

