//! The event types of direct messages (to be built: issue "Direct Message service"): `dm.*`.

use uuid::Uuid;

event_types! {
    producer: "dm";

    MessageCreated {
        name: "dm.message.created",
        version: 1,
        secret: false,
        description: "A direct message was sent. Consumed by the notifier. Audience: the conversation's other members.",
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
        description: "Someone reacted to a direct message. Consumed by the notifier. Audience: the message's author.",
        data: {
            message_id: Uuid = "string (uuid)",
            conversation_id: Uuid = "string (uuid)",
            reactor_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid): the message's author",
            emoji: String = "string",
        }
    }
}
