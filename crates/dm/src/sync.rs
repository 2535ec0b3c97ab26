//! `GET /dm/sync?since=<token>` (docs/dm.md, "Sync"): everything that changed for the user since
//! a token, for a client coming back online: new, edited and unsent messages (as they are now),
//! moved read pointers and membership changes of the conversations they are in, and their own
//! membership changes (added, removed). The token is a transaction-id boundary
//! (`pg_snapshot_xmin`): every change below it has committed or never will, so a change that
//! commits late is never skipped. Without `since`: no changes, just the current token.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_response as json, query_param, query_string};
use nexgate_platform::db::{open_from_variables as db, query, TIMESTAMP_FORMAT};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;

/// Changes per answer; `has_more` says to call again with the answer's token.
pub const CHANGES_MAX: i64 = 500;

pub fn sync(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let since = match query_param(query_string(req), "since") {
        None => None,
        Some(t) => Some(parse_token(t)?),
    };
    let conn = db()?;
    let boundary: String = query(
        &conn,
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS b",
        &[],
    )?
    .value(0, "b")?;
    let Some(since) = since else {
        return Ok(json(
            200,
            &json!({"changes": [], "token": boundary, "has_more": false}),
        ));
    };
    let rows = query(
        &conn,
        &format!(
            "SELECT ch.id, ch.txid::text AS txid, ch.kind, ch.conversation_id, ch.user_id,
                    to_char(ch.at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}) AS at,
                    CASE WHEN ch.message_id IS NOT NULL THEN (
                        SELECT jsonb_build_object('id', msg.id, 'seq', msg.seq, 'sender_id', msg.sender_id,
                            'text', CASE WHEN msg.unsent_at IS NULL THEN msg.text END,
                            'unsent', msg.unsent_at IS NOT NULL, 'reply_to', msg.reply_to,
                            'edited', msg.edited_at IS NOT NULL)
                        FROM dm.messages msg WHERE msg.id = ch.message_id
                          AND NOT EXISTS (SELECT 1 FROM dm.hidden_messages h WHERE h.user_id = $1 AND h.message_id = msg.id))
                    END AS message,
                    CASE WHEN ch.kind = 'read' THEN (
                        SELECT o.read_seq FROM dm.members o
                        LEFT JOIN dm.settings os ON os.user_id = o.user_id
                        LEFT JOIN dm.settings ms ON ms.user_id = $1
                        WHERE o.conversation_id = ch.conversation_id AND o.user_id = ch.user_id
                          AND (o.user_id = $1 OR (coalesce(os.read_receipts, true) AND coalesce(ms.read_receipts, true)
                               AND NOT profiles.blocked_either_way($1, o.user_id))))
                    END AS read_seq
             FROM dm.changes ch
             JOIN dm.members m ON m.conversation_id = ch.conversation_id AND m.user_id = $1
             WHERE ch.txid >= $2::text::xid8 AND ch.txid < $3::text::xid8
               AND (m.state IN ('active', 'request') OR ch.user_id = $1)
               AND (ch.message_id IS NULL OR EXISTS (
                        SELECT 1 FROM dm.messages x WHERE x.id = ch.message_id AND x.seq > m.joined_seq))
             ORDER BY ch.txid, ch.id LIMIT $4"
        ),
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Str(since),
            P::Str(boundary.clone()),
            P::Int64(CHANGES_MAX + 1),
        ],
    )?;
    let mut changes = Vec::with_capacity(rows.len());
    let mut token = boundary;
    let has_more = rows.len() as i64 > CHANGES_MAX;
    for i in 0..rows.len().min(CHANGES_MAX as usize) {
        let kind: String = rows.value(i, "kind")?;
        let read_seq: Option<i64> = rows.value(i, "read_seq")?;
        if kind == "read" && read_seq.is_none() {
            continue;
        }
        let mut change = json!({
            "kind": kind,
            "conversation_id": rows.value::<uuid::Uuid>(i, "conversation_id")?,
            "user_id": rows.value::<Option<uuid::Uuid>>(i, "user_id")?,
            "at": rows.value::<String>(i, "at")?,
        });
        if let Some(message) = rows.value::<Option<Value>>(i, "message")? {
            change["message"] = message;
        }
        if let Some(seq) = read_seq {
            change["read_seq"] = json!(seq);
        }
        changes.push(change);
    }
    if has_more {
        // The next call starts at the first transaction not fully returned.
        token = rows.value(CHANGES_MAX as usize, "txid")?;
    }
    Ok(json(
        200,
        &json!({"changes": changes, "token": token, "has_more": has_more}),
    ))
}

/// A token this endpoint gave: a transaction id (digits).
fn parse_token(t: &str) -> Result<String, Problem> {
    if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::invalid_field(
            "since",
            "is not a token this endpoint gave",
        ));
    }
    Ok(t.to_string())
}
