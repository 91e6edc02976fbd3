-- A member's confirmation that a reference picture showing a photographed face is of
-- themselves ('self') or of someone who gave permission ('permission'), made before the
-- picture was stored. One row per confirmed picture of a character; the rows go with the
-- character. Forgetting the member who confirmed keeps the fact, not who they were.
CREATE TABLE face_consents (
    id            INTEGER PRIMARY KEY,
    character_id  INTEGER NOT NULL REFERENCES characters (id) ON DELETE CASCADE,
    image_sha256  TEXT NOT NULL,
    confirmed_by  INTEGER,
    basis         TEXT NOT NULL CHECK (basis IN ('self', 'permission')),
    confirmed_at  TEXT NOT NULL
) STRICT;
CREATE INDEX face_consents_by_character ON face_consents (character_id);
CREATE INDEX face_consents_by_member ON face_consents (confirmed_by)
    WHERE confirmed_by IS NOT NULL;
