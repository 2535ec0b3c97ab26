-- Media messages, shared live cards and reported message requests (docs/dm.md, "Media and cards",
-- "Reports").

-- A message's media: private `message` files of the sender, attached by the File Manager to the
-- conversation (`/internal/files/attach`), listed here in the order sent. A shared card names an
-- object of another service; it is rendered live at read time (dm.live_card), never copied.
ALTER TABLE dm.messages
    ADD COLUMN media uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN card_kind text CHECK (card_kind IN ('product', 'event', 'post', 'profile')),
    ADD COLUMN card_id uuid,
    ADD CONSTRAINT messages_card_whole CHECK ((card_kind IS NULL) = (card_id IS NULL));

-- A shared object as `viewer` may see it now, from its owner's published view, or NULL when it is
-- gone, hidden, not published, or a block stands between the viewer and its owner. SECURITY
-- DEFINER so that the real-time gateway's read-only role renders it the same way.
CREATE FUNCTION dm.live_card(viewer uuid, kind text, target uuid) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE kind
        WHEN 'product' THEN (
            SELECT jsonb_build_object('kind', 'product', 'id', p.product_id, 'title', p.title,
                       'shop_handle', p.shop_handle, 'currency', p.currency, 'price_min', p.price_min,
                       'price_max', p.price_max, 'available', p.available)
            FROM commerce.product_cards p
            WHERE p.product_id = target AND p.status = 'active'
              AND NOT profiles.blocked_either_way(viewer, p.seller_id))
        WHEN 'event' THEN (
            SELECT jsonb_build_object('kind', 'event', 'id', e.event_id, 'title', e.title,
                       'status', e.status, 'starts_at', e.starts_at, 'ends_at', e.ends_at,
                       'venue_name', e.venue_name, 'region', e.region, 'currency', e.currency,
                       'price_from', e.price_from, 'seats_left', e.seats_left,
                       'cover_file_id', e.cover_file_id)
            FROM events.event_cards e
            WHERE e.event_id = target AND e.status IN ('published', 'completed')
              AND NOT profiles.blocked_either_way(viewer, e.organizer_id))
        WHEN 'post' THEN (
            SELECT jsonb_build_object('kind', 'post', 'id', c.id, 'author_id', c.author_id,
                       'post_kind', c.kind, 'text_excerpt', c.text_excerpt,
                       'first_media_id', c.first_media_id, 'published_at', c.published_at)
            FROM social.post_cards c
            WHERE c.id = target AND social.can_see(viewer, target))
        WHEN 'profile' THEN (
            SELECT jsonb_build_object('kind', 'profile', 'id', u.user_id, 'username', u.username,
                       'display_name', u.display_name, 'avatar_file_id', u.avatar_file_id)
            FROM profiles.public_cards u
            WHERE u.user_id = target AND NOT profiles.blocked_either_way(viewer, target))
    END
$$;
REVOKE ALL ON FUNCTION dm.live_card(uuid, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dm.live_card(uuid, text, uuid) TO nexgate_realtime;

-- Reports of conversations (a message request, or abuse in one): one per reporter and
-- conversation, kept for moderators.
CREATE TABLE dm.reports (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES dm.conversations (id) ON DELETE CASCADE,
    reporter_id uuid NOT NULL,
    -- Who the report is about: the request's sender, or the other member of a direct conversation.
    reported_id uuid,
    reason text NOT NULL CHECK (reason IN ('spam', 'harassment', 'scam', 'inappropriate', 'other')),
    note text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, reporter_id)
);
