-- Event ticketing, second part (docs/ticketing.md): orders that take seats, tickets with their
-- manual codes and signed QR texts, check-ins (one per ticket and day, so concurrent scanners
-- admit a ticket exactly once a day).

-- Seats sold across every ticket type of an event, against its capacity.
ALTER TABLE events.events ADD COLUMN sold integer NOT NULL DEFAULT 0;
ALTER TABLE events.events ADD CONSTRAINT events_sold CHECK (sold >= 0 AND (capacity IS NULL OR sold <= capacity));

CREATE TABLE events.ticket_orders (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES events.events (id),
    buyer_id uuid NOT NULL,
    state text NOT NULL CHECK (state IN ('held', 'issued', 'expired', 'cancelled')),
    total bigint NOT NULL CHECK (total >= 0),
    currency text NOT NULL,
    hold_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_orders_buyer_idx ON events.ticket_orders (buyer_id, created_at DESC);

CREATE TABLE events.tickets (
    id uuid PRIMARY KEY,
    order_id uuid NOT NULL REFERENCES events.ticket_orders (id),
    event_id uuid NOT NULL REFERENCES events.events (id),
    ticket_type_id uuid NOT NULL REFERENCES events.ticket_types (id),
    holder_id uuid NOT NULL,
    attendee_name text,
    -- 10 Crockford base32 characters, typed at the door (crates/ticketing/src/codes.rs).
    code text NOT NULL,
    state text NOT NULL DEFAULT 'valid' CHECK (state IN ('valid', 'revoked')),
    -- The QR text (crates/ticketing/src/qr.rs) once the signing component signed it.
    qr text,
    key_id text,
    signed_at timestamptz,
    issued_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_reason text,
    CONSTRAINT tickets_code_key UNIQUE (event_id, code)
);
CREATE INDEX tickets_holder_idx ON events.tickets (holder_id, issued_at DESC);
CREATE INDEX tickets_event_idx ON events.tickets (event_id, issued_at);
CREATE INDEX tickets_unsigned_idx ON events.tickets (issued_at) WHERE qr IS NULL;

CREATE TABLE events.checkins (
    ticket_id uuid NOT NULL REFERENCES events.tickets (id),
    day smallint NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    method text NOT NULL CHECK (method IN ('app', 'scanner', 'manual', 'kiosk')),
    actor_id uuid,
    device_id uuid,
    gate text,
    PRIMARY KEY (ticket_id, day)
);
