-- Event ticketing, third part (docs/ticketing.md, "Buying and issuing", "Cancellation"): paid
-- tickets held while their payables wait for one mobile-money prompt, issued when payments says
-- they are paid, expired (seats back on sale) when the hold runs out; revoked tickets whose payable
-- must still be voided (refunded when paid) until payments took the void; payment events applied
-- once.

-- held: seats taken, awaiting payment; valid: issued; revoked: refunded, cancelled or
-- transferred; expired: the hold ran out unpaid (never a ticket anyone saw as valid).
ALTER TABLE events.tickets DROP CONSTRAINT tickets_state_check;
ALTER TABLE events.tickets ADD CONSTRAINT tickets_state
    CHECK (state IN ('held', 'valid', 'revoked', 'expired'));
-- What the ticket costs (0 for a free one) and the payable that collects it (paid ones only).
ALTER TABLE events.tickets ADD COLUMN price bigint NOT NULL DEFAULT 0 CHECK (price >= 0);
ALTER TABLE events.tickets ADD COLUMN payable_id uuid UNIQUE;
ALTER TABLE events.tickets ADD COLUMN paid_at timestamptz;
-- The payable still to be voided (refunded when paid) after the ticket expired or was revoked:
-- pending until payments took it, then done; manual when an operator must refund a card.
ALTER TABLE events.tickets ADD COLUMN payable_void text
    CHECK (payable_void IN ('pending', 'done', 'manual'));
ALTER TABLE events.tickets ADD CONSTRAINT tickets_paid_have_payables
    CHECK ((price = 0) = (payable_id IS NULL));
CREATE INDEX tickets_void_pending_idx ON events.tickets (revoked_at) WHERE payable_void = 'pending';
CREATE INDEX tickets_order_idx ON events.tickets (order_id);
-- The revocation list offline scanners download since a cursor.
CREATE INDEX tickets_revoked_idx ON events.tickets (event_id, revoked_at, id) WHERE state = 'revoked';

ALTER TABLE events.ticket_orders ADD CONSTRAINT ticket_orders_held_until
    CHECK (state <> 'held' OR hold_until IS NOT NULL);
CREATE INDEX ticket_orders_held_idx ON events.ticket_orders (hold_until) WHERE state = 'held';

ALTER TABLE events.events ADD COLUMN cancelled_at timestamptz;
ALTER TABLE events.events ADD COLUMN cancel_reason text;

-- Payment events applied once (deduplicated on the envelope id).
CREATE TABLE events.consumed_events (
    event_id uuid PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now()
);
