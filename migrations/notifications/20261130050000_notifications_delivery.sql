-- The Notification Service's delivery half (docs/notifications.md): each user's preferences, push
-- devices, the names shown in the centre, outgoing push/email/SMS deliveries with every attempt,
-- scheduled reminders and digests.

-- One row per user who changed anything; absent means the defaults.
CREATE TABLE notifications.preferences (
    user_id uuid NOT NULL,
    -- all | important (critical and important) | none
    push text NOT NULL DEFAULT 'all',
    -- all | daily | weekly (digest) | none
    email text NOT NULL DEFAULT 'all',
    -- critical | none
    sms text NOT NULL DEFAULT 'critical',
    -- Quiet hours in the user's time zone, minutes after local midnight; both or neither. The
    -- window may wrap midnight (22:00-07:00).
    quiet_start_minute smallint,
    quiet_end_minute smallint,
    time_zone text NOT NULL DEFAULT 'UTC',
    -- Per-type channel switches: {"social.post.liked": {"push": false}}.
    types jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT preferences_pkey PRIMARY KEY (user_id),
    CONSTRAINT preferences_push CHECK (push IN ('all', 'important', 'none')),
    CONSTRAINT preferences_email CHECK (email IN ('all', 'daily', 'weekly', 'none')),
    CONSTRAINT preferences_sms CHECK (sms IN ('critical', 'none')),
    CONSTRAINT preferences_quiet_pair CHECK ((quiet_start_minute IS NULL) = (quiet_end_minute IS NULL)),
    CONSTRAINT preferences_quiet_range CHECK (
        quiet_start_minute BETWEEN 0 AND 1439 AND quiet_end_minute BETWEEN 0 AND 1439
        AND quiet_start_minute <> quiet_end_minute),
    CONSTRAINT preferences_types_object CHECK (jsonb_typeof(types) = 'object')
);

-- A user's push tokens, one per device. A token belongs to one device at a time.
CREATE TABLE notifications.push_devices (
    user_id uuid NOT NULL,
    device_id text NOT NULL,
    -- android | ios | web
    platform text NOT NULL,
    token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT push_devices_pkey PRIMARY KEY (user_id, device_id),
    CONSTRAINT push_devices_platform CHECK (platform IN ('android', 'ios', 'web'))
);
CREATE UNIQUE INDEX push_devices_token_key ON notifications.push_devices (token);

-- Who actors are, as the centre shows them ("Amina and 4 others"): copied by the notifier from
-- profiles' published cards when it writes a notification (refreshed when older than its TTL).
CREATE TABLE notifications.people (
    user_id uuid NOT NULL,
    username text,
    display_name text,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT people_pkey PRIMARY KEY (user_id)
);

-- What the grouped line says after the actors: "liked your post".
ALTER TABLE notifications.items ADD COLUMN action text;

-- Outgoing deliveries: what to send, where, and when.
ALTER TABLE notifications.deliveries
    -- email address, E.164 number, or the push device id (its token is read at send time)
    ADD COLUMN address text,
    -- {"title", "body", "data"}; NULL for in-app
    ADD COLUMN message jsonb,
    -- quiet_hours | digest_daily | digest_weekly (with status `held`)
    ADD COLUMN hold_reason text,
    -- the digest email a digested delivery went out in
    ADD COLUMN digest_id uuid,
    ADD COLUMN provider_reference text,
    ADD COLUMN sent_at timestamptz,
    -- which category the notification had (critical ones are sent first)
    ADD COLUMN category text NOT NULL DEFAULT 'normal',
    DROP CONSTRAINT deliveries_status,
    ADD CONSTRAINT deliveries_status CHECK (status IN (
        'queued', 'sent', 'delivered', 'failed', 'held', 'skipped_by_preference',
        -- nothing to send to (no verified address, no device, channel not configured, muted)
        'skipped',
        -- collected into a digest email
        'digested',
        -- transient failures until the bound: the dead letters, for an operator to look at
        'dead')),
    ADD CONSTRAINT deliveries_hold_reason CHECK (hold_reason IN ('quiet_hours', 'digest_daily', 'digest_weekly'));
-- The sender's queue: what is due (held rows come due when their window ends).
CREATE INDEX deliveries_due_idx ON notifications.deliveries (next_attempt_at)
    WHERE status IN ('queued', 'held');

-- Every gateway attempt of a delivery.
CREATE TABLE notifications.delivery_attempts (
    delivery_id uuid NOT NULL,
    attempt integer NOT NULL,
    -- sent | transient | permanent | dead_token
    outcome text NOT NULL,
    http_status integer,
    detail text,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT delivery_attempts_pkey PRIMARY KEY (delivery_id, attempt),
    CONSTRAINT delivery_attempts_delivery_fkey FOREIGN KEY (delivery_id) REFERENCES notifications.deliveries (id) ON DELETE CASCADE,
    CONSTRAINT delivery_attempts_outcome CHECK (outcome IN ('sent', 'transient', 'permanent', 'dead_token'))
);

-- Notifications that fire later: event reminders (T-24h, T-1h), installment reminders.
CREATE TABLE notifications.scheduled (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    -- event_reminder_24h | event_reminder_1h | installment_reminder
    kind text NOT NULL,
    -- what it is about (the event or installment id): cancelling an event cancels its reminders
    subject text NOT NULL,
    source_event_id uuid NOT NULL,
    fire_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    fired_at timestamptz,
    cancelled_at timestamptz,
    CONSTRAINT scheduled_pkey PRIMARY KEY (id),
    CONSTRAINT scheduled_once UNIQUE (user_id, kind, subject),
    CONSTRAINT scheduled_kind CHECK (kind IN ('event_reminder_24h', 'event_reminder_1h', 'installment_reminder'))
);
CREATE INDEX scheduled_due_idx ON notifications.scheduled (fire_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;

-- Digest emails: one per user and period, listing what was collected.
CREATE TABLE notifications.digests (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    -- daily | weekly
    period text NOT NULL,
    item_count integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT digests_pkey PRIMARY KEY (id),
    CONSTRAINT digests_period CHECK (period IN ('daily', 'weekly'))
);
