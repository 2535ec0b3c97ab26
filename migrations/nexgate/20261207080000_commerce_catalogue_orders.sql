-- The marketplace, part 1 (docs/commerce.md): shops, products with variants, exact stock with
-- reservations, the address book, checkouts, one order per shop with its timeline.

SELECT platform.install_service_tables('commerce');

CREATE TABLE commerce.shops (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL,
    handle text NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    currency text NOT NULL CHECK (currency IN ('TZS', 'KES')),
    return_policy text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paused', 'closed')),
    handle_changed_at timestamptz,
    -- Its logo and banner: File Manager files of purpose `shop`, attached to the shop.
    logo_file_id uuid,
    banner_file_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Handles are unique case-insensitively, like usernames.
CREATE UNIQUE INDEX shops_handle_key ON commerce.shops (lower(handle));
CREATE INDEX shops_owner_idx ON commerce.shops (owner_id, created_at);

-- A renamed shop's old handle stays its own for a while (mentions and links keep working; nobody
-- else may take it).
CREATE TABLE commerce.shop_handle_holds (
    handle_key text PRIMARY KEY,
    shop_id uuid NOT NULL REFERENCES commerce.shops (id),
    until timestamptz NOT NULL
);

-- Staff: users the owner lets manage products, stock and orders (not settings, staff or payouts).
CREATE TABLE commerce.shop_staff (
    shop_id uuid NOT NULL REFERENCES commerce.shops (id),
    user_id uuid NOT NULL,
    added_by uuid NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, user_id)
);
CREATE INDEX shop_staff_user_idx ON commerce.shop_staff (user_id);

-- Where a shop delivers and what it charges (whole shillings, minor units with fraction 0).
CREATE TABLE commerce.shop_delivery_areas (
    shop_id uuid NOT NULL REFERENCES commerce.shops (id) ON DELETE CASCADE,
    region text NOT NULL,
    fee bigint NOT NULL CHECK (fee >= 0 AND fee % 100 = 0),
    PRIMARY KEY (shop_id, region)
);

CREATE TABLE commerce.products (
    id uuid PRIMARY KEY,
    shop_id uuid NOT NULL REFERENCES commerce.shops (id),
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('draft', 'active', 'archived')),
    options text[] NOT NULL DEFAULT '{}',
    -- The variants' lowest and highest price, kept by the statements that change a price, so a
    -- price filter is a column test on the newest-first scan (not a join over every variant).
    price_min bigint NOT NULL DEFAULT 0,
    price_max bigint NOT NULL DEFAULT 0,
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', description), 'B')
    ) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_shop_idx ON commerce.products (shop_id, created_at DESC, id DESC);
CREATE INDEX products_active_newest_idx ON commerce.products (created_at DESC, id DESC) WHERE status = 'active';
CREATE INDEX products_search_idx ON commerce.products USING gin (search);

-- A variant is one combination of the product's option values. `stock` is what the shop holds,
-- `reserved` what checkouts hold for unpaid orders; both only move with a stock movement.
CREATE TABLE commerce.variants (
    id uuid PRIMARY KEY,
    product_id uuid NOT NULL REFERENCES commerce.products (id),
    position integer NOT NULL,
    sku text NOT NULL,
    option_values text[] NOT NULL DEFAULT '{}',
    price bigint NOT NULL CHECK (price > 0 AND price % 100 = 0),
    compare_at_price bigint CHECK (compare_at_price IS NULL OR (compare_at_price > 0 AND compare_at_price % 100 = 0)),
    weight_grams integer CHECK (weight_grams IS NULL OR weight_grams >= 0),
    stock integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    reserved integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= stock),
    UNIQUE (product_id, position),
    UNIQUE (product_id, option_values)
);
CREATE INDEX variants_product_idx ON commerce.variants (product_id, position);

-- Up to 10 images per product (File Manager files of purpose `product`, attached to it), in order.
CREATE TABLE commerce.product_images (
    product_id uuid NOT NULL REFERENCES commerce.products (id),
    position integer NOT NULL CHECK (position BETWEEN 0 AND 9),
    file_id uuid NOT NULL,
    PRIMARY KEY (product_id, position),
    UNIQUE (product_id, file_id)
);

-- Quantity price tiers per product: buying at least `min_quantity` units of a variant costs
-- `unit_price` each (never more than the variant's own price).
CREATE TABLE commerce.price_tiers (
    product_id uuid NOT NULL REFERENCES commerce.products (id),
    min_quantity integer NOT NULL CHECK (min_quantity BETWEEN 2 AND 1000),
    unit_price bigint NOT NULL CHECK (unit_price > 0 AND unit_price % 100 = 0),
    PRIMARY KEY (product_id, min_quantity)
);

-- The buyer's cart: one line per variant, with the price seen when it was put there.
CREATE TABLE commerce.cart_lines (
    user_id uuid NOT NULL,
    variant_id uuid NOT NULL REFERENCES commerce.variants (id),
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price_seen bigint NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, variant_id)
);

-- Every change of `stock` or `reserved` is one row here, written in the same statement as the
-- change: stock = sum(stock_delta) and reserved = sum(reserved_delta) per variant, always.
CREATE TABLE commerce.stock_movements (
    id uuid PRIMARY KEY,
    variant_id uuid NOT NULL REFERENCES commerce.variants (id),
    kind text NOT NULL CHECK (kind IN ('initial', 'restock', 'reservation', 'release', 'sale', 'return', 'adjustment')),
    stock_delta integer NOT NULL,
    reserved_delta integer NOT NULL,
    order_id uuid,
    reason text,
    actor_id uuid,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_variant_idx ON commerce.stock_movements (variant_id, at);

CREATE TABLE commerce.addresses (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    name text NOT NULL,
    phone text NOT NULL,
    region text NOT NULL,
    district text NOT NULL DEFAULT '',
    street text NOT NULL DEFAULT '',
    lat double precision,
    lng double precision,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addresses_user_idx ON commerce.addresses (user_id, created_at);
CREATE UNIQUE INDEX addresses_one_default ON commerce.addresses (user_id) WHERE is_default;

CREATE TABLE commerce.checkouts (
    id uuid PRIMARY KEY,
    buyer_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One order per shop of a checkout. `purchase_type` and `group_id` are where part 2 hangs group
-- buys, buy-together and installments (docs/commerce.md).
CREATE TABLE commerce.orders (
    id uuid PRIMARY KEY,
    checkout_id uuid NOT NULL REFERENCES commerce.checkouts (id),
    shop_id uuid NOT NULL REFERENCES commerce.shops (id),
    seller_id uuid NOT NULL,
    buyer_id uuid NOT NULL,
    purchase_type text NOT NULL CHECK (purchase_type IN ('individual', 'quantity', 'group_buy', 'buy_together', 'installment')),
    group_id uuid,
    state text NOT NULL CHECK (state IN ('pending_payment', 'paid', 'processing', 'shipped', 'delivered', 'completed', 'cancelled', 'disputed')),
    subtotal bigint NOT NULL CHECK (subtotal > 0),
    delivery_fee bigint NOT NULL CHECK (delivery_fee >= 0),
    total bigint NOT NULL CHECK (total = subtotal + delivery_fee),
    currency text NOT NULL,
    payable_id uuid,
    -- The address as it was at checkout (the book may change later).
    ship_name text NOT NULL,
    ship_phone text NOT NULL,
    ship_region text NOT NULL,
    ship_district text NOT NULL,
    ship_street text NOT NULL,
    carrier text,
    tracking_number text,
    reserved_until timestamptz NOT NULL,
    delivered_at timestamptz,
    completes_after timestamptz,
    cancelled_by text CHECK (cancelled_by IN ('buyer', 'seller', 'system', 'operator')),
    cancel_reason text,
    refunded boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_buyer_idx ON commerce.orders (buyer_id, created_at DESC, id DESC);
CREATE INDEX orders_shop_idx ON commerce.orders (shop_id, created_at DESC, id DESC);
CREATE INDEX orders_unpaid_expiry_idx ON commerce.orders (reserved_until) WHERE state = 'pending_payment';
CREATE INDEX orders_autocomplete_idx ON commerce.orders (completes_after) WHERE state = 'delivered';

CREATE TABLE commerce.order_lines (
    order_id uuid NOT NULL REFERENCES commerce.orders (id),
    variant_id uuid NOT NULL REFERENCES commerce.variants (id),
    product_id uuid NOT NULL,
    title text NOT NULL,
    option_values text[] NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL CHECK (unit_price > 0),
    line_total bigint NOT NULL CHECK (line_total = unit_price * quantity),
    PRIMARY KEY (order_id, variant_id)
);

-- Stock held for an unpaid order; `sold` when paid, `released` when the order is cancelled or
-- its time runs out. One per (order, variant).
CREATE TABLE commerce.reservations (
    order_id uuid NOT NULL REFERENCES commerce.orders (id),
    variant_id uuid NOT NULL REFERENCES commerce.variants (id),
    quantity integer NOT NULL CHECK (quantity > 0),
    expires_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'sold', 'released')),
    PRIMARY KEY (order_id, variant_id)
);

-- The order's timeline: every state change with who made it.
CREATE TABLE commerce.order_events (
    order_id uuid NOT NULL REFERENCES commerce.orders (id),
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    from_state text,
    to_state text NOT NULL,
    actor_id uuid,
    actor_kind text NOT NULL CHECK (actor_kind IN ('buyer', 'seller', 'staff', 'operator', 'system')),
    note text
);
CREATE INDEX order_events_order_idx ON commerce.order_events (order_id, at);

-- Reviews: only the buyer of a completed order, once per line; the seller may reply once. The
-- aggregates on products and shops move in the review's own statement, so they stay exact.
CREATE TABLE commerce.reviews (
    id uuid PRIMARY KEY,
    order_id uuid NOT NULL REFERENCES commerce.orders (id),
    variant_id uuid NOT NULL,
    product_id uuid NOT NULL REFERENCES commerce.products (id),
    shop_id uuid NOT NULL REFERENCES commerce.shops (id),
    buyer_id uuid NOT NULL,
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    text text NOT NULL DEFAULT '',
    photo_file_ids uuid[] NOT NULL DEFAULT '{}' CHECK (cardinality(photo_file_ids) <= 4),
    reply text,
    replied_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, variant_id),
    FOREIGN KEY (order_id, variant_id) REFERENCES commerce.order_lines (order_id, variant_id)
);
CREATE INDEX reviews_product_idx ON commerce.reviews (product_id, created_at DESC, id DESC);
ALTER TABLE commerce.products
    ADD COLUMN rating_count integer NOT NULL DEFAULT 0,
    ADD COLUMN rating_sum integer NOT NULL DEFAULT 0,
    ADD COLUMN rating_histogram integer[] NOT NULL DEFAULT '{0,0,0,0,0}';
ALTER TABLE commerce.shops
    ADD COLUMN rating_count integer NOT NULL DEFAULT 0,
    ADD COLUMN rating_sum integer NOT NULL DEFAULT 0,
    ADD COLUMN rating_histogram integer[] NOT NULL DEFAULT '{0,0,0,0,0}';

-- Wishlists: products a user saved (optionally one variant of it), told of a price drop (at most
-- once per product per day, `price_drop_notices`) and when a sold-out variant is back.
CREATE TABLE commerce.wishlist (
    user_id uuid NOT NULL,
    product_id uuid NOT NULL REFERENCES commerce.products (id),
    variant_id uuid REFERENCES commerce.variants (id),
    saved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, product_id)
);
CREATE INDEX wishlist_product_idx ON commerce.wishlist (product_id);
CREATE TABLE commerce.price_drop_notices (
    product_id uuid NOT NULL REFERENCES commerce.products (id),
    day date NOT NULL,
    PRIMARY KEY (product_id, day)
);

-- Payment events applied once (deduplicated on the envelope id).
CREATE TABLE commerce.consumed_events (
    event_id uuid PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now()
);

-- Account deletion (docs/auth.md, "Deleting an account"): open orders as buyer or seller, or an
-- open shop, stop it.
CREATE FUNCTION commerce.deletion_blockers(target uuid) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'commerce.open_orders_as_buyer' WHERE EXISTS (
        SELECT 1 FROM commerce.orders o WHERE o.buyer_id = target
          AND o.state NOT IN ('completed', 'cancelled'))
    UNION ALL
    SELECT 'commerce.open_orders_as_seller' WHERE EXISTS (
        SELECT 1 FROM commerce.orders o WHERE o.seller_id = target
          AND o.state NOT IN ('completed', 'cancelled'))
    UNION ALL
    SELECT 'commerce.open_shop' WHERE EXISTS (
        SELECT 1 FROM commerce.shops s WHERE s.owner_id = target AND s.status <> 'closed')
$$;
REVOKE ALL ON FUNCTION commerce.deletion_blockers(uuid) FROM PUBLIC;
GRANT USAGE ON SCHEMA commerce TO nexgate_auth;
GRANT EXECUTE ON FUNCTION commerce.deletion_blockers(uuid) TO nexgate_auth;

-- Published for other services (social's product posts, DM cards): live price range, stock
-- state and availability per variant.
CREATE VIEW commerce.product_cards AS
SELECT p.id AS product_id, p.shop_id, s.handle AS shop_handle, s.owner_id AS seller_id, p.title,
       p.status, s.currency, p.rating_count, p.rating_sum,
       (SELECT min(v.price) FROM commerce.variants v WHERE v.product_id = p.id) AS price_min,
       (SELECT max(v.price) FROM commerce.variants v WHERE v.product_id = p.id) AS price_max,
       (SELECT coalesce(sum(v.stock - v.reserved), 0) FROM commerce.variants v WHERE v.product_id = p.id) AS available,
       (SELECT jsonb_agg(jsonb_build_object('variant_id', v.id, 'option_values', v.option_values,
                 'price', v.price, 'available', v.stock - v.reserved) ORDER BY v.position)
          FROM commerce.variants v WHERE v.product_id = p.id) AS variants
FROM commerce.products p JOIN commerce.shops s ON s.id = p.shop_id;
GRANT USAGE ON SCHEMA commerce TO nexgate_services;
GRANT SELECT ON commerce.product_cards TO nexgate_services;

-- Shop cards (for DM cards, mentions and the feed): the shop, its rating and the seller.
CREATE VIEW commerce.shop_cards AS
SELECT s.id AS shop_id, s.handle, s.name, s.owner_id AS seller_id, s.currency, s.status,
       s.rating_count, s.rating_sum,
       (SELECT count(*) FROM commerce.products p WHERE p.shop_id = s.id AND p.status = 'active') AS products
FROM commerce.shops s;
GRANT SELECT ON commerce.shop_cards TO nexgate_services;

-- The shop a `$handle` names (any case), for mentions.
CREATE FUNCTION commerce.shop_by_handle(wanted text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT id FROM (
        SELECT id, 0 AS rank FROM commerce.shops WHERE lower(handle) = lower(wanted)
        UNION ALL
        SELECT shop_id, 1 FROM commerce.shop_handle_holds WHERE handle_key = lower(wanted) AND until > now()
    ) found ORDER BY rank LIMIT 1
$$;
-- A user's shops, oldest first.
CREATE FUNCTION commerce.shops_of(owner uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT id FROM commerce.shops WHERE owner_id = owner ORDER BY created_at, id
$$;
-- Whether a user bought a product (a paid order that was not cancelled), for "followees bought".
CREATE FUNCTION commerce.bought(buyer uuid, product uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM commerce.orders o JOIN commerce.order_lines l ON l.order_id = o.id
        WHERE o.buyer_id = buyer AND l.product_id = product
          AND o.state IN ('paid', 'processing', 'shipped', 'delivered', 'completed', 'disputed'))
$$;
REVOKE ALL ON FUNCTION commerce.shop_by_handle(text), commerce.shops_of(uuid), commerce.bought(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION commerce.shop_by_handle(text), commerce.shops_of(uuid), commerce.bought(uuid, uuid)
    TO nexgate_services;
