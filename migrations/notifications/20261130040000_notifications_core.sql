-- The Notification Service's core (issue "Notification Service", docs/notifications.md): the events
-- it has processed (dedupe on the envelope id), the in-app notifications (similar ones grouped per
-- recipient), and every delivery attempt with its status.

CREATE TABLE notifications.processed_events (
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    -- notified | skipped (no template, or nothing to notify)
    outcome text NOT NULL,
    detail text,
    processed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT processed_events_pkey PRIMARY KEY (event_id),
    CONSTRAINT processed_events_outcome CHECK (outcome IN ('notified', 'skipped'))
);

CREATE TABLE notifications.items (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    event_type text NOT NULL,
    -- critical | important | normal
    category text NOT NULL,
    -- Similar notifications share it ("social.post.liked:<post>") and collapse into one unread row.
    group_key text,
    -- Distinct actors, oldest first (at most 100 kept); the count is their number.
    actors uuid[] NOT NULL DEFAULT '{}',
    title text NOT NULL,
    body text NOT NULL,
    data jsonb NOT NULL,
    -- The latest event folded into this row.
    event_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz,
    read_at timestamptz,
    CONSTRAINT items_pkey PRIMARY KEY (id),
    CONSTRAINT items_category CHECK (category IN ('critical', 'important', 'normal'))
);
-- One unread group per recipient and key.
CREATE UNIQUE INDEX items_open_group_key ON notifications.items (user_id, group_key)
    WHERE read_at IS NULL AND group_key IS NOT NULL;
CREATE INDEX items_user_recent_idx ON notifications.items (user_id, updated_at DESC, id DESC);
CREATE INDEX items_user_unread_idx ON notifications.items (user_id) WHERE read_at IS NULL;

CREATE TABLE notifications.deliveries (
    id uuid NOT NULL,
    item_id uuid,
    user_id uuid NOT NULL,
    event_id uuid NOT NULL,
    -- in_app | push | email | sms
    channel text NOT NULL,
    -- queued | sent | delivered | failed | held | skipped_by_preference
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT deliveries_item_fkey FOREIGN KEY (item_id) REFERENCES notifications.items (id) ON DELETE CASCADE,
    CONSTRAINT deliveries_channel CHECK (channel IN ('in_app', 'push', 'email', 'sms')),
    CONSTRAINT deliveries_status CHECK (status IN ('queued', 'sent', 'delivered', 'failed', 'held', 'skipped_by_preference'))
);
CREATE INDEX deliveries_user_idx ON notifications.deliveries (user_id, created_at);
