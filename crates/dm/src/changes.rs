//! What changed in conversations, as each member sees it: the one query behind `GET /dm/sync` and
//! the real-time gateway (`nexgate-realtime`), so a socket and a sync never disagree (docs/dm.md,
//! "Sync", "Real-time gateway").
//!
//! A change (`dm.changes`) is seen by a member when they are in the conversation (active or a
//! pending request) or it is about them (added, removed), and, for a message, when it is after
//! their join and not deleted for them. A read pointer is shown to others only when both sides
//! allow read receipts and no block stands between them. Each row is `(viewer, txid, change)`;
//! `change` is the JSON object clients receive:
//! `{kind, conversation_id, user_id, at, message?: {id, seq, sender_id, text, unsent, reply_to,
//! edited, media (file ids; signed URLs come with the history), card (live)}, read_seq?}`.
//!
//! Tokens are transaction-id boundaries (`pg_snapshot_xmin` of a snapshot): every change below
//! one has committed or never will, so a change that commits late is never skipped.

use nexgate_platform::db::TIMESTAMP_FORMAT;

/// The SQL of the changes with `txid` in `[since, until)` for the viewers `viewer` picks out of
/// each conversation's members: `$1` for one user (sync), `m.user_id` for every member (the
/// gateway, which keeps those it holds a socket for). `since`, `until` and `limit` are SQL
/// expressions (parameters). Ordered by transaction, then change.
pub fn changes_sql(viewer: &str, since: &str, until: &str, limit: &str) -> String {
    let viewer_join = if viewer == "m.user_id" {
        String::new()
    } else {
        format!("AND m.user_id = {viewer}")
    };
    let media_and_card = crate::media::media_and_card_sql("m.user_id");
    format!(
        "SELECT viewer, txid_text AS txid, change FROM (
           SELECT m.user_id AS viewer, ch.id, ch.txid, ch.txid::text AS txid_text, ch.kind,
             jsonb_build_object('kind', ch.kind, 'conversation_id', ch.conversation_id,
                 'user_id', ch.user_id, 'at', to_char(ch.at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}))
             || CASE WHEN ch.message_id IS NULL THEN '{{}}'::jsonb ELSE coalesce((
                 SELECT jsonb_build_object('message', jsonb_build_object('id', msg.id, 'seq', msg.seq,
                     'sender_id', msg.sender_id, 'text', CASE WHEN msg.unsent_at IS NULL THEN msg.text END,
                     'unsent', msg.unsent_at IS NOT NULL, 'reply_to', msg.reply_to,
                     'edited', msg.edited_at IS NOT NULL,
                     {media_and_card}))
                 FROM dm.messages msg WHERE msg.id = ch.message_id
                   AND NOT EXISTS (SELECT 1 FROM dm.hidden_messages h
                                   WHERE h.user_id = m.user_id AND h.message_id = msg.id)), '{{}}'::jsonb) END
             || CASE WHEN ch.kind <> 'read' THEN '{{}}'::jsonb ELSE coalesce((
                 SELECT jsonb_build_object('read_seq', o.read_seq) FROM dm.members o
                 LEFT JOIN dm.settings os ON os.user_id = o.user_id
                 LEFT JOIN dm.settings ms ON ms.user_id = m.user_id
                 WHERE o.conversation_id = ch.conversation_id AND o.user_id = ch.user_id
                   AND (o.user_id = m.user_id OR (coalesce(os.read_receipts, true)
                        AND coalesce(ms.read_receipts, true)
                        AND NOT profiles.blocked_either_way(m.user_id, o.user_id)))), '{{}}'::jsonb) END
             AS change
           FROM dm.changes ch
           JOIN dm.members m ON m.conversation_id = ch.conversation_id {viewer_join}
           WHERE ch.txid >= ({since})::xid8 AND ch.txid < ({until})::xid8
             AND (m.state IN ('active', 'request') OR ch.user_id = m.user_id)
             AND (ch.message_id IS NULL OR EXISTS (
                      SELECT 1 FROM dm.messages x WHERE x.id = ch.message_id AND x.seq > m.joined_seq))
         ) seen
         WHERE kind <> 'read' OR change ? 'read_seq'
         ORDER BY seen.txid, seen.id, viewer
         LIMIT {limit}"
    )
}

/// The current token: every change below it has committed or never will.
pub const BOUNDARY_SQL: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS b";

/// Whether `t` looks like a token (a transaction id: digits).
pub fn is_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit())
}
