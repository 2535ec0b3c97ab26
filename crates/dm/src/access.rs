//! Who is in a conversation (docs/dm.md): every route that takes a conversation or message id
//! reads the caller's membership in SQL first; someone who is not in it gets a 404, the same as
//! for a conversation that does not exist.

use nexgate_events::catalogue::dm::{
    ConversationRead, ConversationUpdated, MembershipChanged, MessageEdited, MessageUnsent,
};
use nexgate_events::outbox::Outbox;
use nexgate_platform::db::query;
use nexgate_platform::Problem;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// The caller's membership of a conversation.
pub struct Membership {
    pub conversation: Uuid,
    pub kind: String,
    pub state: String,
    pub role: String,
    pub joined_seq: i64,
    /// The other user of a direct conversation.
    pub other: Option<Uuid>,
}

impl Membership {
    pub fn is_admin(&self) -> bool {
        self.role == "admin" && self.state == "active"
    }
}

pub fn no_such_conversation() -> Problem {
    Problem::not_found("no such conversation")
}

/// The caller's membership in one of `states` (404 otherwise).
pub fn membership(
    conn: &Connection,
    user: Uuid,
    conversation: Uuid,
    states: &[&str],
) -> Result<Membership, Problem> {
    let rows = query(
        conn,
        "SELECT c.kind, m.state, m.role, m.joined_seq,
                (SELECT o.user_id FROM dm.members o WHERE o.conversation_id = c.id AND o.user_id <> $2
                   AND c.kind = 'direct' LIMIT 1) AS other
         FROM dm.conversations c JOIN dm.members m ON m.conversation_id = c.id AND m.user_id = $2
         WHERE c.id = $1 AND m.state = ANY($3::text[])",
        &[
            P::Uuid(conversation.to_string()),
            P::Uuid(user.to_string()),
            P::ArrayStr(states.iter().map(|s| Some(s.to_string())).collect()),
        ],
    )?;
    if rows.is_empty() {
        return Err(no_such_conversation());
    }
    Ok(Membership {
        conversation,
        kind: rows.value(0, "kind")?,
        state: rows.value(0, "state")?,
        role: rows.value(0, "role")?,
        joined_seq: rows.value(0, "joined_seq")?,
        other: rows.value(0, "other")?,
    })
}

/// Whether `a` and `b` blocked each other (either way).
pub fn blocked(conn: &Connection, a: Uuid, b: Uuid) -> Result<bool, Problem> {
    query(
        conn,
        "SELECT profiles.blocked_either_way($1, $2) AS blocked",
        &[P::Uuid(a.to_string()), P::Uuid(b.to_string())],
    )?
    .value(0, "blocked")
}

/// Records a change of the conversation for sync (inside the change's transaction).
pub fn changed(
    conn: &Connection,
    conversation: Uuid,
    kind: &str,
    message: Option<Uuid>,
    user: Option<Uuid>,
) -> Result<(), Problem> {
    conn.execute(
        "INSERT INTO dm.changes (conversation_id, kind, message_id, user_id) VALUES ($1, $2, $3, $4)",
        &[
            P::Uuid(conversation.to_string()),
            P::Str(kind.to_string()),
            message.map_or(P::DbNull, |m| P::Uuid(m.to_string())),
            user.map_or(P::DbNull, |u| P::Uuid(u.to_string())),
        ],
    )?;
    Ok(())
}

/// [`changed`], and the event that wakes the real-time gateway for it (docs/dm.md, "Real-time
/// gateway"), published after the commit. `message` and `reaction` changes record their own,
/// richer events (the notifier's), so only the row is written for them here.
pub fn announce(
    conn: &Connection,
    events: &mut Outbox,
    conversation: Uuid,
    kind: &str,
    message: Option<Uuid>,
    user: Option<Uuid>,
) -> Result<(), Problem> {
    changed(conn, conversation, kind, message, user)?;
    let subject = ("conversation", conversation.to_string());
    let (message_id, user_id) = (message.unwrap_or_default(), user.unwrap_or_default());
    match kind {
        "edit" => events.record(
            conn,
            user,
            subject,
            vec![],
            &MessageEdited {
                message_id,
                conversation_id: conversation,
                sender_id: user_id,
            },
        ),
        "unsend" => events.record(
            conn,
            user,
            subject,
            vec![],
            &MessageUnsent {
                message_id,
                conversation_id: conversation,
                sender_id: user_id,
            },
        ),
        "read" => events.record(
            conn,
            user,
            subject,
            vec![],
            &ConversationRead {
                conversation_id: conversation,
                reader_id: user_id,
            },
        ),
        "membership" => events.record(
            conn,
            None,
            subject,
            vec![],
            &MembershipChanged {
                conversation_id: conversation,
                user_id,
            },
        ),
        "conversation" => events.record(
            conn,
            None,
            subject,
            vec![],
            &ConversationUpdated {
                conversation_id: conversation,
            },
        ),
        _ => Ok(()),
    }
}

/// Takes the conversation's lock that sends conflict with (sends update its row), so that a
/// member's unread count computed after it includes every committed message and no message lands
/// meanwhile (docs/dm.md, "Unread counts"). Shared: reads of different members do not wait for
/// each other. Always taken before any member row, as sends do, so lock order never inverts.
pub fn lock_for_unread(conn: &Connection, conversation: Uuid) -> Result<(), Problem> {
    query(
        conn,
        "SELECT 1 FROM dm.conversations WHERE id = $1 FOR SHARE",
        &[P::Uuid(conversation.to_string())],
    )?;
    Ok(())
}

/// Recounts `member`'s unread messages from their definition (`dm.count_unread`), after
/// [`lock_for_unread`].
pub fn recount_unread(conn: &Connection, conversation: Uuid, member: Uuid) -> Result<(), Problem> {
    conn.execute(
        "UPDATE dm.members SET unread = dm.count_unread($1, $2) WHERE conversation_id = $1 AND user_id = $2",
        &[P::Uuid(conversation.to_string()), P::Uuid(member.to_string())],
    )?;
    Ok(())
}
