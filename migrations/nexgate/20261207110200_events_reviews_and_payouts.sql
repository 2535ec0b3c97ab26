-- Event ticketing, fifth part (docs/ticketing.md, "Reviews", "Escrow and payouts"): ratings of the
-- organizer by attendees who checked in, once per event, with the organizer's reply; the ticket
-- money released to the organizer after the event (checked-in tickets a day after the end, the
-- rest when the complaint window closes) or frozen for an operator after poor ratings.

CREATE TABLE events.reviews (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES events.events (id),
    organizer_id uuid NOT NULL,
    reviewer_id uuid NOT NULL,
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body text NOT NULL DEFAULT '' CHECK (char_length(body) <= 2000),
    reply text CHECK (char_length(reply) BETWEEN 1 AND 2000),
    replied_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, reviewer_id)
);
CREATE INDEX reviews_event_idx ON events.reviews (event_id, created_at DESC, id DESC);
CREATE INDEX reviews_organizer_idx ON events.reviews (organizer_id);

-- What became of a paid ticket's escrow: released to the organizer, or frozen for an operator.
ALTER TABLE events.tickets ADD COLUMN payout text CHECK (payout IN ('released', 'frozen'));
CREATE INDEX tickets_payout_due_idx ON events.tickets (event_id)
    WHERE state = 'valid' AND payable_id IS NOT NULL AND payout IS NULL;

ALTER TABLE events.events ADD COLUMN completed_at timestamptz;
ALTER TABLE events.events ADD COLUMN payout_frozen boolean NOT NULL DEFAULT false;
