//! `POST /internal/dm/events` (the dispatcher, behind `dm_internal_token`): a deleted account's
//! erasure (docs/dm.md, "Deleted accounts"), once per envelope. Its messages stay as placeholders
//! "from a deleted account" (no sender, no text, shown as unsent) so the others' conversations keep
//! their numbering and replies; their edit history, reactions, choices and settings go; every
//! membership ends (a group losing its last admin gets a new one).

use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::inbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query, transaction};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

pub fn consume(req: &Request) -> Result<Response, Problem> {
    let envelope = inbox::read(req)?;
    let Some(deleted) = envelope.data_as::<AccountDeleted>() else {
        return Ok(inbox::not_consumed(&envelope));
    };
    let conn = db()?;
    let erased = transaction(&conn, |conn| -> Result<_, Problem> {
        if !inbox::first_delivery(conn, crate::SCHEMA, envelope.id)? {
            return Ok(json!({ "again": true }));
        }
        erase(conn, deleted.user_id)
    })?;
    Ok(json(200, &json!({ "applied": true, "erased": erased })))
}

fn erase(conn: &Connection, user: Uuid) -> Result<serde_json::Value, Problem> {
    let me = || P::Uuid(user.to_string());
    let count = |sql: &str| -> Result<usize, Problem> { Ok(query(conn, sql, &[me()])?.len()) };
    count(
        "DELETE FROM dm.message_edits e USING dm.messages m
         WHERE e.message_id = m.id AND m.sender_id = $1 RETURNING e.message_id",
    )?;
    // The conversations whose unread counts change, locked as a send would (in id order).
    let touched: Vec<Uuid> = query(
        conn,
        "SELECT id FROM dm.conversations WHERE id IN (SELECT conversation_id FROM dm.messages WHERE sender_id = $1)
         ORDER BY id FOR NO KEY UPDATE",
        &[me()],
    )?
    .column("id")?;
    let messages = count(
        "UPDATE dm.messages SET sender_id = NULL, text = '', client_id = id::text,
                                unsent_at = coalesce(unsent_at, now())
         WHERE sender_id = $1 RETURNING id",
    )?;
    conn.execute(
        "UPDATE dm.members SET unread = dm.count_unread(conversation_id, user_id)
         WHERE conversation_id = ANY($1::text[]::uuid[])",
        &[P::ArrayStr(
            touched.iter().map(|c| Some(c.to_string())).collect(),
        )],
    )?;
    let reactions = count("DELETE FROM dm.reactions WHERE user_id = $1 RETURNING message_id")?;
    count("DELETE FROM dm.hidden_messages WHERE user_id = $1 RETURNING message_id")?;
    count("DELETE FROM dm.settings WHERE user_id = $1 RETURNING user_id")?;
    let groups: Vec<Uuid> = query(
        conn,
        "SELECT conversation_id FROM dm.members WHERE user_id = $1 AND role = 'admin'",
        &[me()],
    )?
    .column("conversation_id")?;
    let memberships = count(
        "UPDATE dm.members SET state = 'left', role = 'member', muted_until = NULL, pinned_at = NULL
         WHERE user_id = $1 AND state <> 'left' RETURNING conversation_id",
    )?;
    for group in groups {
        crate::conversations::promote_if_no_admin(conn, group)?;
        crate::access::changed(conn, group, "membership", None, Some(user))?;
    }
    Ok(json!({ "messages": messages, "reactions": reactions, "memberships": memberships }))
}
