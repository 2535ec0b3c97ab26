-- The viewers whose home feed is cached in Redis (docs/social.md, "Feeds"): a feed's rebuild
-- registers it until a little after its Redis key expires, and fan-out writes only to the cached
-- feeds of an author's followers (a join here), not to every follower's key. And the envelopes
-- the social service applies once.
CREATE TABLE social.active_feeds (
    viewer_id uuid PRIMARY KEY,
    until timestamptz NOT NULL
);
CREATE INDEX active_feeds_until_idx ON social.active_feeds (until);

-- Envelopes applied once (a deleted account's erasure and its announcements).
CREATE TABLE social.consumed_events (
    event_id uuid PRIMARY KEY,
    consumed_at timestamptz NOT NULL DEFAULT now()
);
