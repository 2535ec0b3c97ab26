-- Trust score inputs, updated incrementally by domain events from commerce, events and payments
-- (delivered by the dispatcher to POST /internal/profiles/events). The score itself is computed
-- from these counters, the account's age and its verification level (docs/profiles.md).

CREATE TABLE profiles.trust_stats (
    user_id uuid NOT NULL,
    completed integer NOT NULL DEFAULT 0,
    cancellations integer NOT NULL DEFAULT 0,
    refunds integer NOT NULL DEFAULT 0,
    disputes integer NOT NULL DEFAULT 0,
    ratings_count integer NOT NULL DEFAULT 0,
    ratings_sum integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT trust_stats_pkey PRIMARY KEY (user_id),
    CONSTRAINT trust_stats_user_fkey FOREIGN KEY (user_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT trust_stats_non_negative CHECK (
        completed >= 0 AND cancellations >= 0 AND refunds >= 0 AND disputes >= 0
        AND ratings_count >= 0 AND ratings_sum BETWEEN ratings_count AND 5 * ratings_count)
);

-- Every event applied, so a redelivery changes nothing twice (at-least-once delivery).
CREATE TABLE profiles.consumed_events (
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT consumed_events_pkey PRIMARY KEY (event_id)
);
