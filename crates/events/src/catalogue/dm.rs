//! The event types of direct messages (docs/dm.md): `dm.*`. The notifier consumes the two it
//! notifies about; the real-time gateway (`nexgate-realtime`) consumes all of them as wake-ups and
//! reads what it pushes from Postgres (docs/dm.md, "Real-time gateway"). None carries a body.

use uuid::Uuid;

event_types! {
    producer: "dm";

    MessageCreated {
        name: "dm.message.created",
        version: 1,
        secret: false,
        description: "A direct message was sent. Consumed by the notifier and the real-time gateway. Audience: the conversation's other active members who have not muted it (may be empty: the gateway still needs the event).",
        data: {
            message_id: Uuid = "string (uuid)",
            conversation_id: Uuid = "string (uuid)",
            sender_id: Uuid = "string (uuid)",
            preview: Option<String> = "string: the first 80 characters of text (empty for media); never for end-to-end encrypted bodies",
        }
    }

    ReactionCreated {
        name: "dm.reaction.created",
        version: 1,
        secret: false,
        description: "Someone reacted to a direct message (or changed their reaction). Consumed by the notifier and the real-time gateway. Audience: the message's author, unless they reacted themselves or muted the conversation (then empty).",
        data: {
            message_id: Uuid = "string (uuid)",
            conversation_id: Uuid = "string (uuid)",
            reactor_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid): the message's author",
            emoji: String = "string",
        }
    }

    ReactionRemoved {
        name: "dm.reaction.removed",
        version: 1,
        secret: false,
        description: "Someone took their reaction back. Consumed by the real-time gateway. Audience: none.",
        data: {
            message_id: Uuid = "string (uuid)",
            conversation_id: Uuid = "string (uuid)",
            reactor_id: Uuid = "string (uuid)",
        }
    }

    MessageEdited {
        name: "dm.message.edited",
        version: 1,
        secret: false,
        description: "A sender edited their message (within 15 minutes; the previous text is kept). Consumed by the real-time gateway. Audience: none.",
        data: {
            message_id: Uuid = "string (uuid)",
            conversation_id: Uuid = "string (uuid)",
            sender_id: Uuid = "string (uuid)",
        }
    }

    MessageUnsent {
        name: "dm.message.unsent",
        version: 1,
        secret: false,
        description: "A sender unsent their message for everyone (its text is gone). Consumed by the real-time gateway. Audience: none.",
        data: {
            message_id: Uuid = "string (uuid)",
            conversation_id: Uuid = "string (uuid)",
            sender_id: Uuid = "string (uuid)",
        }
    }

    ConversationRead {
        name: "dm.conversation.read",
        version: 1,
        secret: false,
        description: "A member's read pointer moved (a read receipt). Consumed by the real-time gateway, which shows it to the others only where both sides allow read receipts and no block stands between them. Audience: none.",
        data: {
            conversation_id: Uuid = "string (uuid)",
            reader_id: Uuid = "string (uuid)",
        }
    }

    MembershipChanged {
        name: "dm.membership.changed",
        version: 1,
        secret: false,
        description: "A member joined, left, was added, removed, invited or promoted, or accepted or declined a request or an invitation. Consumed by the real-time gateway. Audience: none.",
        data: {
            conversation_id: Uuid = "string (uuid)",
            user_id: Uuid = "string (uuid): the member whose membership changed",
        }
    }

    ConversationUpdated {
        name: "dm.conversation.updated",
        version: 1,
        secret: false,
        description: "A group's title or avatar changed. Consumed by the real-time gateway. Audience: none.",
        data: {
            conversation_id: Uuid = "string (uuid)",
        }
    }
}
