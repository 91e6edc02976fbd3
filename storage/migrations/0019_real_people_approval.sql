-- A server may have characters made from photographs of real people approved by a moderator
-- first; until then such a character is usable by nobody and seen only by its owner.
ALTER TABLE moderation_settings ADD COLUMN approve_real_people INTEGER NOT NULL DEFAULT 0
    CHECK (approve_real_people IN (0, 1));
ALTER TABLE characters ADD COLUMN awaiting_approval INTEGER NOT NULL DEFAULT 0
    CHECK (awaiting_approval IN (0, 1));
