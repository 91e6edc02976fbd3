-- Results that the age-restricted check flags. In an age-restricted channel they are kept and
-- posted behind a spoiler (age_restricted = 1; galleries, the showcase and story recaps leave
-- them out); anywhere else they are held back: never stored, only counted on the job
-- (held_back), so the server's setting decides whether they are charged.
ALTER TABLE job_images ADD COLUMN age_restricted INTEGER NOT NULL DEFAULT 0
    CHECK (age_restricted IN (0, 1));
ALTER TABLE jobs ADD COLUMN held_back INTEGER NOT NULL DEFAULT 0;
-- Whether pictures held back are charged (1) or refunded (0, the default: the member never
-- saw them).
ALTER TABLE moderation_settings ADD COLUMN charge_held_back INTEGER NOT NULL DEFAULT 0
    CHECK (charge_held_back IN (0, 1));
