-- Event ticketing, first part (docs/ticketing.md): events written step by step as drafts (one open
-- draft per organizer), their days (one for a one-time event, 2 to 30 for a multi-day one), ticket
-- types with seats that can never be oversold (`sold <= quantity` is a constraint, and sales will
-- take seats with one conditional statement), shared capacity quotas, and the roles people hold
-- on an event. Orders, tickets and check-ins come in later migrations.

SELECT platform.install_service_tables('events');

CREATE TABLE events.categories (
    slug text PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO events.categories (slug, name) VALUES
    ('music', 'Music'), ('nightlife', 'Nightlife'), ('arts', 'Arts and culture'),
    ('conference', 'Conferences'), ('business', 'Business and networking'),
    ('education', 'Classes and workshops'), ('sports', 'Sports and fitness'),
    ('food', 'Food and drink'), ('community', 'Community'), ('faith', 'Faith'),
    ('family', 'Family and kids'), ('other', 'Other');

CREATE TABLE events.events (
    id uuid PRIMARY KEY,
    organizer_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'published', 'cancelled', 'completed')),
    title text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    category text REFERENCES events.categories (slug),
    mode text CHECK (mode IN ('in_person', 'online')),
    venue_name text,
    address text,
    region text,
    lat double precision CHECK (lat BETWEEN -90 AND 90),
    lng double precision CHECK (lng BETWEEN -180 AND 180),
    online_platform text,
    -- Shown only to the organizer (and, once tickets exist, to their holders).
    online_url text,
    time_zone text NOT NULL DEFAULT 'Africa/Dar_es_Salaam',
    currency text NOT NULL DEFAULT 'TZS' CHECK (currency IN ('TZS', 'KES')),
    capacity integer CHECK (capacity > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    CONSTRAINT events_published_at CHECK ((status = 'draft') = (published_at IS NULL))
);
-- One open draft per organizer: a second is refused (409 naming the open one).
CREATE UNIQUE INDEX events_one_draft ON events.events (organizer_id) WHERE status = 'draft';
CREATE INDEX events_organizer_idx ON events.events (organizer_id, created_at DESC, id DESC);
CREATE INDEX events_published_idx ON events.events (published_at DESC, id DESC) WHERE status = 'published';

CREATE TABLE events.event_days (
    event_id uuid NOT NULL REFERENCES events.events (id) ON DELETE CASCADE,
    day smallint NOT NULL CHECK (day BETWEEN 1 AND 30),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, day),
    CONSTRAINT event_days_order CHECK (ends_at > starts_at)
);

-- Capacity shared by several ticket types (pretix's quotas).
CREATE TABLE events.quotas (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES events.events (id) ON DELETE CASCADE,
    name text NOT NULL,
    capacity integer NOT NULL CHECK (capacity > 0),
    sold integer NOT NULL DEFAULT 0,
    CONSTRAINT quotas_sold CHECK (sold >= 0 AND sold <= capacity)
);

CREATE TABLE events.ticket_types (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES events.events (id) ON DELETE CASCADE,
    position integer NOT NULL,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('free', 'paid', 'vip', 'early_bird')),
    -- Minor units in whole shillings (mobile money takes integers); 0 only for free tickets.
    price bigint NOT NULL CHECK (price >= 0 AND price % 100 = 0),
    perks text NOT NULL DEFAULT '',
    quantity integer NOT NULL CHECK (quantity > 0),
    sold integer NOT NULL DEFAULT 0,
    sales_start timestamptz,
    sales_end timestamptz,
    min_per_order integer NOT NULL DEFAULT 1,
    max_per_order integer NOT NULL DEFAULT 10,
    -- The days it admits (multi-day events); NULL: every day.
    days smallint[],
    quota_id uuid REFERENCES events.quotas (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ticket_types_sold CHECK (sold >= 0 AND sold <= quantity),
    CONSTRAINT ticket_types_free_price CHECK ((kind = 'free') = (price = 0)),
    CONSTRAINT ticket_types_per_order CHECK (min_per_order >= 1 AND max_per_order >= min_per_order),
    CONSTRAINT ticket_types_sales_window CHECK (sales_end IS NULL OR sales_start IS NULL OR sales_end > sales_start),
    UNIQUE (event_id, position)
);
CREATE INDEX ticket_types_event_idx ON events.ticket_types (event_id, position);

-- Who may run an event: its owner (the organizer), managers, checkers (check-in only).
CREATE TABLE events.event_roles (
    event_id uuid NOT NULL REFERENCES events.events (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'manager', 'checker')),
    added_by uuid NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_roles_user_idx ON events.event_roles (user_id);
