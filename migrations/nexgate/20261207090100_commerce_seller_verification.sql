-- Seller verification (docs/commerce.md, "Seller verification"): a shop's owner asks for
-- `business` verification with photos or scans of documents (File Manager purpose `document`,
-- private, attached to the request); operators take pending requests oldest first; an approval
-- goes through profiles' operator path (`PUT /users/{id}/verification`, with the operator's
-- step-up), which owns the level.
CREATE TABLE commerce.verification_requests (
    id uuid PRIMARY KEY,
    shop_id uuid NOT NULL REFERENCES commerce.shops (id),
    user_id uuid NOT NULL,
    note text NOT NULL DEFAULT '',
    document_file_ids uuid[] NOT NULL CHECK (cardinality(document_file_ids) BETWEEN 1 AND 5),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by uuid,
    decision_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    CONSTRAINT verification_requests_decided CHECK ((status = 'pending') = (decided_at IS NULL))
);
-- One open request per user, whichever shop it came from.
CREATE UNIQUE INDEX verification_requests_one_pending ON commerce.verification_requests (user_id)
    WHERE status = 'pending';
CREATE INDEX verification_requests_queue ON commerce.verification_requests (created_at, id)
    WHERE status = 'pending';
CREATE INDEX verification_requests_of_shop ON commerce.verification_requests (shop_id, created_at DESC);

-- Product cards carry the seller's badge (verification level and trust badge from profiles):
-- the same columns as before, two more at the end.
CREATE OR REPLACE VIEW commerce.product_cards AS
SELECT p.id AS product_id, p.shop_id, s.handle AS shop_handle, s.owner_id AS seller_id, p.title,
       p.status, s.currency, p.rating_count, p.rating_sum,
       (SELECT min(v.price) FROM commerce.variants v WHERE v.product_id = p.id) AS price_min,
       (SELECT max(v.price) FROM commerce.variants v WHERE v.product_id = p.id) AS price_max,
       (SELECT coalesce(sum(v.stock - v.reserved), 0) FROM commerce.variants v WHERE v.product_id = p.id) AS available,
       (SELECT jsonb_agg(jsonb_build_object('variant_id', v.id, 'option_values', v.option_values,
                 'price', v.price, 'available', v.stock - v.reserved) ORDER BY v.position)
          FROM commerce.variants v WHERE v.product_id = p.id) AS variants,
       (SELECT l.level FROM profiles.verification_levels l WHERE l.user_id = s.owner_id)
           AS seller_verification_level,
       (SELECT t.badge FROM profiles.trust_scores t WHERE t.user_id = s.owner_id) AS seller_trust_badge
FROM commerce.products p JOIN commerce.shops s ON s.id = p.shop_id;
