//! The event types of event ticketing (docs/ticketing.md): `events.*`.

use uuid::Uuid;

event_types! {
    producer: "events";

    TicketPurchased {
        name: "events.ticket.purchased",
        version: 1,
        secret: false,
        description: "A ticket was issued: free at once, paid once its payment succeeded. Consumed by the notifier (profiles counts completed events, not purchases). Audience: the buyer.",
        data: {
            ticket_id: Uuid = "string (uuid)",
            event_id: Uuid = "string (uuid)",
            organizer_id: Uuid = "string (uuid): the organizing user",
            buyer_id: Uuid = "string (uuid)",
            starts_at: Option<String> = "string: RFC 3339, when the event starts (the notifier schedules reminders at T-24h and T-1h)",
        }
    }

    EventCancelled {
        name: "events.event.cancelled",
        version: 1,
        secret: false,
        description: "An organizer cancelled an event. Consumed by profiles (the organizer's cancellations) and the notifier. Audience: ticket holders.",
        data: {
            event_id: Uuid = "string (uuid)",
            organizer_id: Uuid = "string (uuid)",
        }
    }

    TicketCheckedIn {
        name: "events.ticket.checked_in",
        version: 1,
        secret: false,
        description: "A ticket was checked in (app, scanner, manual code or kiosk). Consumed by the notifier. Audience: the holder.",
        data: {
            ticket_id: Uuid = "string (uuid)",
            event_id: Uuid = "string (uuid)",
            holder_id: Uuid = "string (uuid)",
            method: String = "string: app, scanner, manual, kiosk",
            day: Option<String> = "string: the event day (YYYY-MM-DD) for multi-day events",
        }
    }

    EventStartingSoon {
        name: "events.event.starting_soon",
        version: 1,
        secret: false,
        description: "An event starts within the hour. Consumed by the notifier. Audience: ticket holders.",
        data: {
            event_id: Uuid = "string (uuid)",
            organizer_id: Uuid = "string (uuid)",
            starts_at: String = "string: RFC 3339",
        }
    }

    EventCompleted {
        name: "events.event.completed",
        version: 1,
        secret: false,
        description: "An event ended and its complaint window passed: the organizer is paid (or the payout is frozen for an operator after poor ratings). Consumed by profiles (the organizer's completed events). Audience: the organizer.",
        data: {
            event_id: Uuid = "string (uuid)",
            organizer_id: Uuid = "string (uuid)",
            ended_at: String = "string: RFC 3339, the end of the event's last day",
            tickets: i64 = "integer: valid tickets at completion",
            checked_in: i64 = "integer: tickets checked in at least once",
            payout_frozen: bool = "boolean: poor ratings froze the ticket money for an operator",
        }
    }

    ReviewCreated {
        name: "events.review.created",
        version: 1,
        secret: false,
        description: "An attendee who checked in rated the organizer after the event. Consumed by profiles (trust score). Audience: the organizer.",
        data: {
            review_id: Uuid = "string (uuid)",
            event_id: Uuid = "string (uuid)",
            organizer_id: Uuid = "string (uuid)",
            reviewer_id: Uuid = "string (uuid)",
            rating: i64 = "integer: 1 to 5",
        }
    }

    TicketTransferred {
        name: "events.ticket.transferred",
        version: 1,
        secret: false,
        description: "A holder transferred a ticket: the old one is revoked and a new one issued to the recipient. Consumed by the notifier (the recipient is told and gets the reminders; the sender's reminders end unless they still hold a ticket). Audience: the recipient.",
        data: {
            ticket_id: Uuid = "string (uuid): the new ticket",
            previous_ticket_id: Uuid = "string (uuid): the revoked one",
            event_id: Uuid = "string (uuid)",
            from_id: Uuid = "string (uuid)",
            to_id: Uuid = "string (uuid)",
            starts_at: Option<String> = "string: RFC 3339, when the event starts",
            sender_still_attending: bool = "boolean: the sender still holds a valid ticket to the event",
        }
    }

    TicketRevoked {
        name: "events.ticket.revoked",
        version: 1,
        secret: false,
        description: "A holder's ticket was refunded at their request and no longer admits. Consumed by the notifier (the holder's reminders end unless they still hold a ticket). Audience: the holder.",
        data: {
            ticket_id: Uuid = "string (uuid)",
            event_id: Uuid = "string (uuid)",
            holder_id: Uuid = "string (uuid)",
            reason: String = "string: refunded",
            holder_still_attending: bool = "boolean: the holder still holds a valid ticket to the event",
        }
    }

    EventRescheduled {
        name: "events.event.rescheduled",
        version: 1,
        secret: false,
        description: "An organizer moved a published event's dates after tickets were sold. Consumed by the notifier (holders are told; pending reminders move). Audience: ticket holders.",
        data: {
            event_id: Uuid = "string (uuid)",
            organizer_id: Uuid = "string (uuid)",
            starts_at: String = "string: RFC 3339, the new start",
            previous_starts_at: String = "string: RFC 3339, the old start",
        }
    }
}
