-- Where Cameo may be used in a server, and by whom: with any 'role' rows, only members with one
-- of those roles (staff always may); with any 'channel' rows, only in those channels (and the
-- threads under them). None of a kind: no limit of that kind.
CREATE TABLE access_rules (
    guild_id  INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('role', 'channel')),
    target_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, kind, target_id)
) STRICT, WITHOUT ROWID;
