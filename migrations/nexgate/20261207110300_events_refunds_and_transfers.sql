-- Event ticketing, sixth part (docs/ticketing.md, "Refunds and transfers", "Rescheduling"): each
-- event's refund policy (none, or until a number of hours before it starts); a holder's refund;
-- a transfer revokes the old ticket and issues a new one to the recipient, which carries the
-- payable on (a later refund still goes to the number that paid); when an event's dates moved.

ALTER TABLE events.events ADD COLUMN refund_policy text NOT NULL DEFAULT 'none'
    CHECK (refund_policy IN ('none', 'until_deadline'));
ALTER TABLE events.events ADD COLUMN refund_deadline_hours integer NOT NULL DEFAULT 48
    CHECK (refund_deadline_hours BETWEEN 0 AND 720);
ALTER TABLE events.events ADD COLUMN rescheduled_at timestamptz;

-- A transferred ticket hands its payable to the ticket that replaced it.
ALTER TABLE events.tickets DROP CONSTRAINT tickets_paid_have_payables;
ALTER TABLE events.tickets ADD CONSTRAINT tickets_payables_are_paid CHECK (payable_id IS NULL OR price > 0);
ALTER TABLE events.tickets ADD COLUMN transferred_from uuid REFERENCES events.tickets (id);
ALTER TABLE events.tickets ADD COLUMN transferred_to uuid REFERENCES events.tickets (id);
CREATE UNIQUE INDEX tickets_one_successor ON events.tickets (transferred_from) WHERE transferred_from IS NOT NULL;
