//! The event types of event ticketing (to be built: issue "E-Events service"): `events.*`.

use uuid::Uuid;

event_types! {
    producer: "events";

    TicketPurchased {
        name: "events.ticket.purchased",
        version: 1,
        secret: false,
        description: "A ticket was bought and paid for. Consumed by profiles (the organizer's completed transactions) and the notifier. Audience: the buyer.",
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
}
