-- A deleted post's notifications are removed when social.post.deleted arrives
-- (docs/notifications.md, "Deleted posts"): found by the post id in their data.
CREATE INDEX items_social_post_idx ON notifications.items ((data->>'post_id'))
    WHERE event_type LIKE 'social.%';
