-- Profiles, second piece: what a profile shows, privacy, the follow graph (with follow requests
-- for private accounts) and blocks, and the views other services read (docs/profiles.md).
--
-- Counts are kept on the profile rows and changed in the same transaction as the edge, after the
-- two profile rows are locked in user-id order, so they stay exact under concurrency and two
-- users following each other at once cannot deadlock.

ALTER TABLE profiles.profiles
    ADD COLUMN links jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN avatar_file_id uuid,
    ADD COLUMN cover_file_id uuid,
    ADD COLUMN shop_id uuid,
    ADD COLUMN organizer_id uuid,
    ADD COLUMN is_private boolean NOT NULL DEFAULT false,
    ADD COLUMN message_policy text NOT NULL DEFAULT 'everyone',
    ADD COLUMN followers_visible boolean NOT NULL DEFAULT true,
    ADD COLUMN followers_count integer NOT NULL DEFAULT 0,
    ADD COLUMN following_count integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT profiles_message_policy CHECK (message_policy IN ('everyone', 'following', 'nobody')),
    ADD CONSTRAINT profiles_counts_non_negative CHECK (followers_count >= 0 AND following_count >= 0),
    ADD CONSTRAINT profiles_links_array CHECK (jsonb_typeof(links) = 'array' AND jsonb_array_length(links) <= 5);

CREATE TABLE profiles.follows (
    follower_id uuid NOT NULL,
    followee_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT follows_pkey PRIMARY KEY (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id),
    CONSTRAINT follows_follower_fkey FOREIGN KEY (follower_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT follows_followee_fkey FOREIGN KEY (followee_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE
);
-- Followers of a user, newest first (the followers list); following uses the primary key.
CREATE INDEX follows_followee_idx ON profiles.follows (followee_id, created_at DESC, follower_id);
CREATE INDEX follows_follower_created_idx ON profiles.follows (follower_id, created_at DESC, followee_id);

-- A follow of a private account waits for its owner's answer.
CREATE TABLE profiles.follow_requests (
    requester_id uuid NOT NULL,
    target_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT follow_requests_pkey PRIMARY KEY (requester_id, target_id),
    CONSTRAINT follow_requests_requester_fkey FOREIGN KEY (requester_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT follow_requests_target_fkey FOREIGN KEY (target_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE
);
CREATE INDEX follow_requests_target_idx ON profiles.follow_requests (target_id, created_at DESC, requester_id);

-- A rejected request cannot be sent again until `until`.
CREATE TABLE profiles.follow_request_rejections (
    requester_id uuid NOT NULL,
    target_id uuid NOT NULL,
    until timestamptz NOT NULL,
    CONSTRAINT follow_request_rejections_pkey PRIMARY KEY (requester_id, target_id)
);

CREATE TABLE profiles.blocks (
    blocker_id uuid NOT NULL,
    blocked_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT blocks_pkey PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT blocks_not_self CHECK (blocker_id <> blocked_id),
    CONSTRAINT blocks_blocker_fkey FOREIGN KEY (blocker_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT blocks_blocked_fkey FOREIGN KEY (blocked_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE
);
CREATE INDEX blocks_blocked_idx ON profiles.blocks (blocked_id, blocker_id);

-- Published views (docs/profiles.md).
CREATE VIEW profiles.public_cards AS
    SELECT user_id, username, display_name, avatar_file_id, is_private
    FROM profiles.profiles;

-- One row per ordered pair where either blocked the other: `a` and `b` hide from each other when
-- EXISTS (SELECT 1 FROM profiles.blocked_either_way WHERE user_a = a AND user_b = b).
CREATE VIEW profiles.blocked_either_way AS
    SELECT blocker_id AS user_a, blocked_id AS user_b FROM profiles.blocks
    UNION ALL
    SELECT blocked_id AS user_a, blocker_id AS user_b FROM profiles.blocks;

CREATE VIEW profiles.privacy_settings AS
    SELECT user_id, is_private, message_policy, followers_visible
    FROM profiles.profiles;

GRANT SELECT ON profiles.public_cards, profiles.blocked_either_way, profiles.privacy_settings TO nexgate_services;

-- Mutes: one-way and private; optional end; optionally also silences notifications.
CREATE TABLE profiles.mutes (
    muter_id uuid NOT NULL,
    muted_id uuid NOT NULL,
    notifications boolean NOT NULL DEFAULT true,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mutes_pkey PRIMARY KEY (muter_id, muted_id),
    CONSTRAINT mutes_not_self CHECK (muter_id <> muted_id),
    CONSTRAINT mutes_muter_fkey FOREIGN KEY (muter_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT mutes_muted_fkey FOREIGN KEY (muted_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE
);

CREATE VIEW profiles.active_mutes AS
    SELECT muter_id, muted_id, notifications, expires_at
    FROM profiles.mutes
    WHERE expires_at IS NULL OR expires_at > now();

GRANT SELECT ON profiles.active_mutes TO nexgate_services;
