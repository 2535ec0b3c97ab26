-- Event ticketing, seventh part (docs/ticketing.md, "Published views", "Analytics", "Deleted
-- accounts"): event cards and attendance for social's event posts and DM cards, each user's
-- choice to hide their attendance (hidden by default for private accounts), unique page views per
-- day for organizers' analytics, the cover image, and what stops or follows an account deletion.

-- The cover image: a file of the organizer's with purpose `event`, attached to the event.
ALTER TABLE events.events ADD COLUMN cover_file_id uuid;

-- What "click to book" needs, read by other services (social, dm) through nexgate_services.
CREATE VIEW events.event_cards AS
SELECT e.id AS event_id, e.organizer_id, e.title, e.cover_file_id, e.category, e.mode, e.venue_name, e.region,
       e.online_platform, e.time_zone, e.currency, e.status,
       (SELECT min(d.starts_at) FROM events.event_days d WHERE d.event_id = e.id) AS starts_at,
       (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id) AS ends_at,
       (SELECT count(*) FROM events.event_days d WHERE d.event_id = e.id)::int AS days,
       (SELECT min(tt.price) FROM events.ticket_types tt WHERE tt.event_id = e.id AND tt.sold < tt.quantity
          AND (tt.sales_start IS NULL OR tt.sales_start <= now()) AND (tt.sales_end IS NULL OR tt.sales_end > now()))
           AS price_from,
       greatest(least(
           (SELECT coalesce(sum(tt.quantity - tt.sold), 0) FROM events.ticket_types tt WHERE tt.event_id = e.id
              AND (tt.sales_start IS NULL OR tt.sales_start <= now()) AND (tt.sales_end IS NULL OR tt.sales_end > now())),
           coalesce(e.capacity - e.sold, 2147483647)), 0)::int AS seats_left,
       (SELECT jsonb_agg(jsonb_build_object(
                 'ticket_type_id', tt.id, 'name', tt.name, 'kind', tt.kind, 'price', tt.price,
                 'available', tt.quantity - tt.sold,
                 'availability', CASE
                     WHEN tt.sold >= tt.quantity THEN 'sold_out'
                     WHEN tt.sales_start IS NOT NULL AND tt.sales_start > now() THEN 'not_yet'
                     WHEN tt.sales_end IS NOT NULL AND tt.sales_end <= now() THEN 'ended'
                     ELSE 'on_sale' END) ORDER BY tt.position)
          FROM events.ticket_types tt WHERE tt.event_id = e.id) AS ticket_types,
       (SELECT count(*) FROM events.reviews r WHERE r.organizer_id = e.organizer_id)::int AS organizer_rating_count,
       (SELECT round(avg(r.rating), 2)::float8 FROM events.reviews r WHERE r.organizer_id = e.organizer_id)
           AS organizer_rating_average,
       (SELECT l.level FROM profiles.verification_levels l WHERE l.user_id = e.organizer_id)
           AS organizer_verification_level,
       (SELECT t.badge FROM profiles.trust_scores t WHERE t.user_id = e.organizer_id) AS organizer_trust_badge
FROM events.events e WHERE e.status <> 'draft';
GRANT USAGE ON SCHEMA events TO nexgate_services;
GRANT SELECT ON events.event_cards TO nexgate_services;

-- A user's choice to hide which events they go to; absent: hidden when the account is private.
CREATE TABLE events.attendance_settings (
    user_id uuid PRIMARY KEY,
    hidden boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Who holds a valid ticket to an event, without those who hide it (social's "people you follow
-- are going"; readers still apply blocks).
CREATE VIEW events.attendance AS
SELECT DISTINCT t.event_id, t.holder_id AS user_id
FROM events.tickets t
LEFT JOIN events.attendance_settings s ON s.user_id = t.holder_id
LEFT JOIN profiles.privacy_settings p ON p.user_id = t.holder_id
WHERE t.state = 'valid' AND NOT coalesce(s.hidden, p.is_private, false);
GRANT SELECT ON events.attendance TO nexgate_services;

-- Unique viewers of an event page per day (the organizer's own views are not counted).
CREATE TABLE events.page_views (
    event_id uuid NOT NULL REFERENCES events.events (id) ON DELETE CASCADE,
    day date NOT NULL,
    viewer_id uuid NOT NULL,
    PRIMARY KEY (event_id, day, viewer_id)
);
CREATE INDEX page_views_viewer_idx ON events.page_views (viewer_id);

-- Account deletion (docs/auth.md, "Deleting an account"): tickets to events still to come, an
-- organized event still to come, or ticket money of the user's events still in escrow stop it.
CREATE FUNCTION events.deletion_blockers(target uuid) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'events.tickets_to_upcoming_events' WHERE EXISTS (
        SELECT 1 FROM events.tickets t JOIN events.events e ON e.id = t.event_id
        WHERE t.holder_id = target AND t.state IN ('held', 'valid') AND e.status = 'published'
          AND (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id) > now())
    UNION ALL
    SELECT 'events.upcoming_events_as_organizer' WHERE EXISTS (
        SELECT 1 FROM events.events e WHERE e.organizer_id = target AND e.status = 'published'
          AND (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id) > now())
    UNION ALL
    SELECT 'events.ticket_money_in_escrow' WHERE EXISTS (
        SELECT 1 FROM events.tickets t JOIN events.events e ON e.id = t.event_id
        WHERE e.organizer_id = target AND t.state = 'valid' AND t.payable_id IS NOT NULL AND t.payout IS NULL)
$$;
REVOKE ALL ON FUNCTION events.deletion_blockers(uuid) FROM PUBLIC;
GRANT USAGE ON SCHEMA events TO nexgate_auth;
GRANT EXECUTE ON FUNCTION events.deletion_blockers(uuid) TO nexgate_auth;
