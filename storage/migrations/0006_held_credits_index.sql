-- /quota sums a member's credits on hold; credit_holds gains a row per job forever, so find the
-- few still held without reading the rest.
CREATE INDEX credit_holds_held ON credit_holds (guild_id, user_id) WHERE state = 'held';
