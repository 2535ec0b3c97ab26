//! Messages (docs/dm.md, "Messages"): sent by an active member with the client's own id (a
//! retried send finds the first instead of sending twice), numbered under the conversation's row
//! lock; history both ways by number; edited within [`EDIT_WINDOW_MINUTES`] (history kept);
//! unsent for everyone within [`UNSEND_WINDOW_MINUTES`]; deleted for oneself; read pointers.
//! `dm.message.created` goes to the other active members who have not muted the conversation (a
//! message request notifies nobody).

use nexgate_authn::authenticate;
use nexgate_events::catalogue::dm::{MessageCreated, ReactionCreated, ReactionRemoved};
use nexgate_events::outbox::with_events;
use nexgate_platform::body::{json_body, json_response as json, query_param, query_string};
use nexgate_platform::db::{open_from_variables as db, query, TIMESTAMP_FORMAT};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::access::{announce, changed, membership};
use crate::media::Card;

/// Longest message text, in characters.
pub const TEXT_CHARS_MAX: usize = 4000;
/// Longest client id, in bytes.
pub const CLIENT_ID_BYTES_MAX: usize = 64;
pub const EDIT_WINDOW_MINUTES: i64 = 15;
pub const UNSEND_WINDOW_MINUTES: i64 = 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    client_id: String,
    #[serde(default)]
    text: String,
    reply_to: Option<Uuid>,
    #[serde(default)]
    media_ids: Vec<Uuid>,
    card: Option<Card>,
}

/// `POST /dm/conversations/{id}/messages {client_id, text?, media_ids?, card?, reply_to?}` (text,
/// media or a card): 201 with the message, or 200 with the same message when this client id was
/// sent before.
pub async fn send(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conversation = parse_id("id", id)?;
    let b: NewMessage = json_body(req)?;
    let client_id = b.client_id.trim().to_string();
    if client_id.is_empty() || client_id.len() > CLIENT_ID_BYTES_MAX {
        return Err(Problem::invalid_field(
            "client_id",
            format!("must be 1 to {CLIENT_ID_BYTES_MAX} bytes"),
        ));
    }
    let text = b.text.trim().to_string();
    let bare = b.media_ids.is_empty() && b.card.is_none();
    if (bare && text.is_empty()) || text.chars().count() > TEXT_CHARS_MAX {
        return Err(Problem::invalid_field(
            "text",
            format!("must be 1 to {TEXT_CHARS_MAX} characters (or send media_ids or a card)"),
        ));
    }
    crate::media::check_media(&b.media_ids)?;
    let conn = db()?;
    let m = membership(&conn, ctx.user_id, conversation, &["active"])?;
    if let Some(found) = by_client_id(&conn, ctx.user_id, &client_id)? {
        return again(&conn, ctx.user_id, conversation, found).await;
    }
    if !crate::conversations::may_send_direct(&conn, ctx.user_id, m.other)? {
        return Err(
            Problem::new(403, "cannot_message", "You cannot message this user")
                .with_detail("a block stands between you and this user"),
        );
    }
    crate::limits::count("sends", ctx.user_id, crate::limits::sends_per_minute(), 60)?;
    if let Some(card) = &b.card {
        crate::media::check_card(&conn, ctx.user_id, card)?;
    }
    crate::media::attach_all(ctx.user_id, conversation, &b.media_ids).await?;
    crate::media::ensure_ready(conversation, &b.media_ids).await?;
    let message = new_id();
    let sent = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        // The relay publishes this send's events the moment it commits (a notice, not an MQTT
        // connection per message: docs/dm.md, "Speed").
        events.leave_to_relay_now();
        let seq: i64 = query(
            conn,
            "UPDATE dm.conversations SET last_seq = last_seq + 1, last_message_at = now()
             WHERE id = $1 RETURNING last_seq",
            &[P::Uuid(conversation.to_string())],
        )?
        .value(0, "last_seq")?;
        // Under the conversation's lock: a same-client-id send that raced this one is seen here.
        if let Some(found) = by_client_id(conn, ctx.user_id, &client_id)? {
            return Ok(Err(found));
        }
        if let Some(reply) = b.reply_to {
            let ok = query(
                conn,
                "SELECT 1 FROM dm.messages WHERE id = $1 AND conversation_id = $2 AND seq > $3",
                &[
                    P::Uuid(reply.to_string()),
                    P::Uuid(conversation.to_string()),
                    P::Int64(m.joined_seq),
                ],
            )?;
            if ok.is_empty() {
                return Err(Problem::invalid_field(
                    "reply_to",
                    "no such message in this conversation",
                ));
            }
        }
        conn.execute(
            "INSERT INTO dm.messages (id, conversation_id, seq, sender_id, client_id, text, reply_to,
                                      media, card_kind, card_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[]::uuid[], $9, $10)",
            &[
                P::Uuid(message.to_string()),
                P::Uuid(conversation.to_string()),
                P::Int64(seq),
                P::Uuid(ctx.user_id.to_string()),
                P::Str(client_id.clone()),
                P::Str(text.clone()),
                b.reply_to.map_or(P::DbNull, |r| P::Uuid(r.to_string())),
                P::ArrayStr(b.media_ids.iter().map(|m| Some(m.to_string())).collect()),
                b.card.as_ref().map_or(P::DbNull, |c| P::Str(c.kind.clone())),
                b.card.as_ref().map_or(P::DbNull, |c| P::Uuid(c.id.to_string())),
            ],
        )?;
        // The sender has read what they answer; their list comes back if archived. Everyone
        // else has one more unread (docs/dm.md, "Unread counts").
        conn.execute(
            "UPDATE dm.members SET read_seq = $3, unread = 0, archived = false WHERE conversation_id = $1 AND user_id = $2",
            &[P::Uuid(conversation.to_string()), P::Uuid(ctx.user_id.to_string()), P::Int64(seq)],
        )?;
        conn.execute(
            "UPDATE dm.members SET unread = unread + 1 WHERE conversation_id = $1 AND user_id <> $2",
            &[P::Uuid(conversation.to_string()), P::Uuid(ctx.user_id.to_string())],
        )?;
        conn.execute(
            "UPDATE dm.members SET archived = false WHERE conversation_id = $1 AND state = 'active' AND archived",
            &[P::Uuid(conversation.to_string())],
        )?;
        changed(
            conn,
            conversation,
            "message",
            Some(message),
            Some(ctx.user_id),
        )?;
        let audience: Vec<Uuid> = query(
            conn,
            "SELECT user_id FROM dm.members WHERE conversation_id = $1 AND user_id <> $2 AND state = 'active'
               AND (muted_until IS NULL OR muted_until <= now())",
            &[P::Uuid(conversation.to_string()), P::Uuid(ctx.user_id.to_string())],
        )?
        .column("user_id")?;
        // Recorded even with nobody to notify (all muted): it wakes the real-time gateway.
        events.record(
            conn,
            Some(ctx.user_id),
            ("conversation", conversation.to_string()),
            audience,
            &MessageCreated {
                message_id: message,
                conversation_id: conversation,
                sender_id: ctx.user_id,
                preview: Some(text.chars().take(80).collect()),
            },
        )?;
        Ok(Ok(()))
    })?;
    match sent {
        Ok(()) => Ok(json(201, &one(&conn, ctx.user_id, message).await?)),
        Err(found) => again(&conn, ctx.user_id, conversation, found).await,
    }
}

/// The answer to a send whose client id was used before: the same message (200) when it was sent
/// to this conversation, else 409.
async fn again(
    conn: &Connection,
    me: Uuid,
    conversation: Uuid,
    found: (Uuid, Uuid),
) -> Result<Response, Problem> {
    let (message, in_conversation) = found;
    if in_conversation != conversation {
        return Err(Problem::conflict(
            "client_id_reused",
            "this client_id was used for a message in another conversation",
        ));
    }
    Ok(json(200, &one(conn, me, message).await?))
}

/// (message, conversation) the sender sent with this client id.
fn by_client_id(
    conn: &Connection,
    sender: Uuid,
    client_id: &str,
) -> Result<Option<(Uuid, Uuid)>, Problem> {
    let rows = query(
        conn,
        "SELECT id, conversation_id FROM dm.messages WHERE sender_id = $1 AND client_id = $2",
        &[P::Uuid(sender.to_string()), P::Str(client_id.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some((
        rows.value(0, "id")?,
        rows.value(0, "conversation_id")?,
    )))
}

/// The SQL of a message `msg` as `$1` sees it.
fn message_sql() -> String {
    format!(
        "jsonb_build_object('id', msg.id, 'conversation_id', msg.conversation_id, 'seq', msg.seq,
            'sender_id', msg.sender_id, 'client_id', CASE WHEN msg.sender_id = $1 THEN msg.client_id END,
            'text', CASE WHEN msg.unsent_at IS NULL THEN msg.text END,
            'unsent', msg.unsent_at IS NOT NULL, 'reply_to', msg.reply_to,
            'created_at', to_char(msg.created_at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}),
            'edited_at', to_char(msg.edited_at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}),
            'reactions', coalesce((SELECT jsonb_agg(jsonb_build_object('emoji', r.emoji, 'count', r.n) ORDER BY r.n DESC, r.emoji)
                                   FROM (SELECT emoji, count(*) AS n FROM dm.reactions WHERE message_id = msg.id GROUP BY emoji) r),
                                  '[]'::jsonb),
            'my_reaction', (SELECT r.emoji FROM dm.reactions r WHERE r.message_id = msg.id AND r.user_id = $1),
            {})",
        crate::media::media_and_card_sql("$1")
    )
}

async fn one(conn: &Connection, me: Uuid, message: Uuid) -> Result<Value, Problem> {
    let mut m: Value = query(
        conn,
        &format!(
            "SELECT {} AS m FROM dm.messages msg WHERE msg.id = $2",
            message_sql()
        ),
        &[P::Uuid(me.to_string()), P::Uuid(message.to_string())],
    )?
    .value(0, "m")?;
    let conversation = parse_id(
        "conversation_id",
        m["conversation_id"].as_str().unwrap_or(""),
    )?;
    crate::media::hydrate(conversation, std::slice::from_mut(&mut m)).await?;
    Ok(m)
}

/// `GET /dm/conversations/{id}/messages?before=<seq>|after=<seq>&limit=`: newest first before a
/// number (default: the latest), or oldest first after one; only from the member's join on, without
/// what they deleted for themselves. `{items, has_more}`.
pub async fn list(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conversation = parse_id("id", id)?;
    let qs = query_string(req);
    let number = |name: &str| -> Result<Option<i64>, Problem> {
        query_param(qs, name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| Problem::invalid_field(name, "must be a message number"))
            })
            .transpose()
    };
    let (before, after) = (number("before")?, number("after")?);
    if before.is_some() && after.is_some() {
        return Err(Problem::invalid_field(
            "after",
            "give before or after, not both",
        ));
    }
    let limit = match query_param(qs, "limit") {
        None => 50,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| Problem::invalid_field("limit", "must be an integer from 1 to 200"))?,
    };
    let conn = db()?;
    let m = membership(&conn, ctx.user_id, conversation, &["active", "request"])?;
    let (cond, order) = match after {
        Some(_) => ("msg.seq > $4", "msg.seq ASC"),
        None => ("($4::int8 IS NULL OR msg.seq < $4)", "msg.seq DESC"),
    };
    let rows = query(
        &conn,
        &format!(
            "SELECT {} AS m FROM dm.messages msg
             WHERE msg.conversation_id = $2 AND msg.seq > $3 AND {cond}
               AND NOT EXISTS (SELECT 1 FROM dm.hidden_messages h WHERE h.user_id = $1 AND h.message_id = msg.id)
             ORDER BY {order} LIMIT $5",
            message_sql()
        ),
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Uuid(conversation.to_string()),
            P::Int64(m.joined_seq),
            after.or(before).map_or(P::DbNull, P::Int64),
            P::Int64(limit + 1),
        ],
    )?;
    let mut items: Vec<Value> = rows.column("m")?;
    let has_more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    crate::media::hydrate(conversation, &mut items).await?;
    Ok(json(200, &json!({"items": items, "has_more": has_more})))
}

/// The caller's message (as sender) in a conversation they are active in: (conversation, age ok).
fn own_message(
    conn: &Connection,
    me: Uuid,
    message: Uuid,
    window_minutes: i64,
) -> Result<(Uuid, bool, bool), Problem> {
    let rows = query(
        conn,
        "SELECT msg.conversation_id, msg.unsent_at IS NOT NULL AS unsent,
                msg.created_at > now() - make_interval(mins => $3::int4) AS in_window
         FROM dm.messages msg JOIN dm.members m ON m.conversation_id = msg.conversation_id AND m.user_id = $2
         WHERE msg.id = $1 AND msg.sender_id = $2 AND m.state = 'active'",
        &[P::Uuid(message.to_string()), P::Uuid(me.to_string()), P::Int32(window_minutes as i32)],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such message of yours"));
    }
    Ok((
        rows.value(0, "conversation_id")?,
        rows.value(0, "unsent")?,
        rows.value(0, "in_window")?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    text: String,
}

/// `PATCH /dm/messages/{id} {text}`: the sender, within 15 minutes; the previous text is kept.
pub async fn edit(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let message = parse_id("id", id)?;
    let b: Edit = json_body(req)?;
    let text = b.text.trim().to_string();
    if text.is_empty() || text.chars().count() > TEXT_CHARS_MAX {
        return Err(Problem::invalid_field(
            "text",
            format!("must be 1 to {TEXT_CHARS_MAX} characters"),
        ));
    }
    let conn = db()?;
    let (conversation, unsent, in_window) =
        own_message(&conn, ctx.user_id, message, EDIT_WINDOW_MINUTES)?;
    if unsent {
        return Err(Problem::conflict("unsent", "the message was unsent"));
    }
    if !in_window {
        return Err(Problem::conflict(
            "edit_window_closed",
            format!("a message may be edited for {EDIT_WINDOW_MINUTES} minutes"),
        ));
    }
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        conn.execute(
            "INSERT INTO dm.message_edits (message_id, previous_text) SELECT id, text FROM dm.messages WHERE id = $1",
            &[P::Uuid(message.to_string())],
        )?;
        conn.execute(
            "UPDATE dm.messages SET text = $2, edited_at = now() WHERE id = $1",
            &[P::Uuid(message.to_string()), P::Str(text.clone())],
        )?;
        announce(
            conn,
            events,
            conversation,
            "edit",
            Some(message),
            Some(ctx.user_id),
        )
    })?;
    Ok(json(200, &one(&conn, ctx.user_id, message).await?))
}

/// `DELETE /dm/messages/{id}?for=everyone|me`: unsend (the sender, within an hour: its text is
/// gone for everyone) or delete for oneself (any member). 204.
pub async fn delete(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let message = parse_id("id", id)?;
    let conn = db()?;
    match query_param(query_string(req), "for").unwrap_or("me") {
        "everyone" => {
            let (conversation, unsent, in_window) =
                own_message(&conn, ctx.user_id, message, UNSEND_WINDOW_MINUTES)?;
            if !unsent && !in_window {
                return Err(Problem::conflict(
                    "unsend_window_closed",
                    format!("a message may be unsent for {UNSEND_WINDOW_MINUTES} minutes"),
                ));
            }
            let media: Vec<Uuid> = with_events(&conn, crate::SCHEMA, component, |conn, events| {
                // The conversation's lock (as a send takes it): the unread counts below cannot
                // race a read pointer or a delete-for-me recounting them.
                query(
                    conn,
                    "SELECT 1 FROM dm.conversations WHERE id = $1 FOR NO KEY UPDATE",
                    &[P::Uuid(conversation.to_string())],
                )?;
                let media: Vec<Uuid> = query(
                    conn,
                    "SELECT unnest(media) AS file FROM dm.messages WHERE id = $1 AND unsent_at IS NULL",
                    &[P::Uuid(message.to_string())],
                )?
                .column("file")?;
                let unsent = query(
                    conn,
                    "UPDATE dm.messages SET unsent_at = now(), text = '' WHERE id = $1 AND unsent_at IS NULL RETURNING seq",
                    &[P::Uuid(message.to_string())],
                )?;
                if !unsent.is_empty() {
                    // It no longer counts for those who had not read it (nor deleted it).
                    conn.execute(
                        "UPDATE dm.members m SET unread = greatest(m.unread - 1, 0)
                         FROM dm.messages msg
                         WHERE msg.id = $1 AND m.conversation_id = msg.conversation_id
                           AND m.user_id IS DISTINCT FROM msg.sender_id
                           AND msg.seq > greatest(m.read_seq, m.joined_seq)
                           AND NOT EXISTS (SELECT 1 FROM dm.hidden_messages h WHERE h.user_id = m.user_id AND h.message_id = msg.id)",
                        &[P::Uuid(message.to_string())],
                    )?;
                }
                conn.execute(
                    "DELETE FROM dm.message_edits WHERE message_id = $1",
                    &[P::Uuid(message.to_string())],
                )?;
                announce(
                    conn,
                    events,
                    conversation,
                    "unsend",
                    Some(message),
                    Some(ctx.user_id),
                )?;
                Ok(media)
            })?;
            crate::media::detach_unsent(&conn, conversation, &media).await;
        }
        "me" => hide(&conn, ctx.user_id, message)?,
        _ => return Err(Problem::invalid_field("for", "must be everyone or me")),
    }
    Ok(Response::new(204, ()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    seq: i64,
}

/// `POST /dm/conversations/{id}/read {seq}`: the member has read up to message `seq` (the pointer
/// never moves back). `{read_seq, unread}`.
pub fn read(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conversation = parse_id("id", id)?;
    let b: Read = json_body(req)?;
    if b.seq < 0 {
        return Err(Problem::invalid_field("seq", "must be a message number"));
    }
    let conn = db()?;
    membership(&conn, ctx.user_id, conversation, &["active", "request"])?;
    let read_seq: i64 = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        crate::access::lock_for_unread(conn, conversation)?;
        let rows = query(
            conn,
            "UPDATE dm.members m SET read_seq = greatest(m.read_seq, least($3, c.last_seq))
             FROM dm.conversations c WHERE c.id = m.conversation_id AND m.conversation_id = $1 AND m.user_id = $2
             RETURNING m.read_seq",
            &[P::Uuid(conversation.to_string()), P::Uuid(ctx.user_id.to_string()), P::Int64(b.seq)],
        )?;
        crate::access::recount_unread(conn, conversation, ctx.user_id)?;
        announce(conn, events, conversation, "read", None, Some(ctx.user_id))?;
        rows.value(0, "read_seq")
    })?;
    let view = crate::conversations::view(&conn, ctx.user_id, conversation)?;
    Ok(json(
        200,
        &json!({"read_seq": read_seq, "unread": view["unread"]}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reaction {
    emoji: String,
}

/// One emoji: 1 to 16 bytes, no spaces, not plain letters or digits.
fn check_emoji(emoji: &str) -> Result<(), Problem> {
    let ok = !emoji.is_empty()
        && emoji.len() <= 16
        && !emoji.chars().any(char::is_whitespace)
        && !emoji.is_ascii();
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid_field("emoji", "must be one emoji"))
    }
}

/// `PUT /dm/messages/{id}/reaction {emoji}`: one reaction per member and message, changeable
/// (`dm.reaction.created` to the message's sender). `DELETE` takes it back. `{reactions}`.
pub async fn react(
    req: &Request,
    id: &str,
    put: bool,
    component: &str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let message = parse_id("id", id)?;
    let emoji = if put {
        let b: Reaction = json_body(req)?;
        check_emoji(&b.emoji)?;
        Some(b.emoji)
    } else {
        None
    };
    let conn = db()?;
    let found = query(
        &conn,
        "SELECT msg.conversation_id, msg.sender_id FROM dm.messages msg
         JOIN dm.members m ON m.conversation_id = msg.conversation_id AND m.user_id = $2
         WHERE msg.id = $1 AND m.state = 'active' AND msg.seq > m.joined_seq AND msg.unsent_at IS NULL",
        &[P::Uuid(message.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if found.is_empty() {
        return Err(Problem::not_found("no such message"));
    }
    let conversation: Uuid = found.value(0, "conversation_id")?;
    let sender: Option<Uuid> = found.value(0, "sender_id")?;
    if let Some(s) = sender.filter(|s| *s != ctx.user_id) {
        if crate::access::blocked(&conn, ctx.user_id, s)? {
            return Err(
                Problem::new(403, "cannot_message", "You cannot react to this user")
                    .with_detail("a block stands between you and this user"),
            );
        }
    }
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let Some(emoji) = &emoji else {
            conn.execute(
                "DELETE FROM dm.reactions WHERE message_id = $1 AND user_id = $2",
                &[
                    P::Uuid(message.to_string()),
                    P::Uuid(ctx.user_id.to_string()),
                ],
            )?;
            changed(
                conn,
                conversation,
                "reaction",
                Some(message),
                Some(ctx.user_id),
            )?;
            return events.record(
                conn,
                Some(ctx.user_id),
                ("conversation", conversation.to_string()),
                vec![],
                &ReactionRemoved {
                    message_id: message,
                    conversation_id: conversation,
                    reactor_id: ctx.user_id,
                },
            );
        };
        let rows = query(
            conn,
            "INSERT INTO dm.reactions (message_id, user_id, emoji) VALUES ($1, $2, $3)
             ON CONFLICT (message_id, user_id) DO UPDATE SET emoji = EXCLUDED.emoji, created_at = now()
               WHERE dm.reactions.emoji <> EXCLUDED.emoji
             RETURNING emoji",
            &[P::Uuid(message.to_string()), P::Uuid(ctx.user_id.to_string()), P::Str(emoji.clone())],
        )?;
        if rows.is_empty() {
            return Ok(());
        }
        changed(
            conn,
            conversation,
            "reaction",
            Some(message),
            Some(ctx.user_id),
        )?;
        let muted = query(
            conn,
            "SELECT 1 FROM dm.members WHERE conversation_id = $1 AND user_id = $2
               AND muted_until IS NOT NULL AND muted_until > now()",
            &[
                P::Uuid(conversation.to_string()),
                P::Uuid(sender.unwrap_or_default().to_string()),
            ],
        )?;
        // Recorded even with nobody to notify: it wakes the real-time gateway.
        let audience = sender
            .filter(|s| *s != ctx.user_id && muted.is_empty())
            .into_iter()
            .collect();
        events.record(
            conn,
            Some(ctx.user_id),
            ("conversation", conversation.to_string()),
            audience,
            &ReactionCreated {
                message_id: message,
                conversation_id: conversation,
                reactor_id: ctx.user_id,
                author_id: sender.unwrap_or_default(),
                emoji: emoji.clone(),
            },
        )
    })?;
    Ok(json(200, &one(&conn, ctx.user_id, message).await?))
}

/// `GET /dm/search?q=&conversation_id=&cursor=&limit=`: full-text search (Postgres, `simple`
/// configuration, web-search syntax) over the messages the caller can see: in conversations they
/// are in, from their join on, not unsent, not deleted for them; newest first.
pub fn search(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let qs = query_string(req);
    let q = nexgate_platform::body::query_text(qs, "q").unwrap_or_default();
    let q = q.trim().to_string();
    if q.is_empty() || q.chars().count() > 200 {
        return Err(Problem::invalid_field("q", "must be 1 to 200 characters"));
    }
    let within = query_param(qs, "conversation_id")
        .map(|c| parse_id("conversation_id", c))
        .transpose()?;
    let page = nexgate_platform::pagination::page_request::<(
        nexgate_platform::pagination::CursorTime,
        Uuid,
    )>(qs, 20, 50)?;
    let (at, after) = match &page.after {
        Some((t, i)) => (P::Str(t.as_str().to_string()), P::Uuid(i.to_string())),
        None => (P::DbNull, P::DbNull),
    };
    let conn = db()?;
    if let Some(c) = within {
        membership(&conn, ctx.user_id, c, &["active", "request"])?;
    }
    let found = Found {
        user: ctx.user_id,
        words: q,
        within,
        before: (at, after),
        limit: page.limit.into(),
    };
    let rows = nexgate_platform::db::transaction(&conn, |conn| found.rows(conn))?;
    let items: Vec<Value> = rows.column("m")?;
    let next = if rows.len() == page.limit as usize && !rows.is_empty() {
        let last = rows.len() - 1;
        Some(nexgate_platform::pagination::encode_cursor(&(
            rows.value::<String>(last, "at")?,
            rows.value::<Uuid>(last, "id")?,
        )))
    } else {
        None
    };
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

/// One page of a search.
struct Found {
    user: Uuid,
    words: String,
    within: Option<Uuid>,
    /// The cursor: (created_at, id) of the last message of the previous page.
    before: (P, P),
    limit: i64,
}

impl Found {
    /// The page's rows (`m`, `at`, `id`), inside the caller's transaction.
    ///
    /// Two choices keep it fast (bench/README.md): the statement is prepared once per connection
    /// and after five runs Postgres may switch to a generic plan, which cannot know how common the
    /// searched words are (measured: seconds), so this transaction plans it for its words; and the
    /// user's conversations are passed as an array, so the word index and the conversation index
    /// are intersected (a bitmap AND) before any message is read, instead of reading every message
    /// with the word and joining.
    fn rows(&self, conn: &Connection) -> Result<nexgate_platform::db::Rows, Problem> {
        conn.execute("SET LOCAL plan_cache_mode = force_custom_plan", &[])?;
        let mine: Vec<Uuid> = query(
            conn,
            "SELECT conversation_id FROM dm.members
             WHERE user_id = $1 AND state IN ('active', 'request') AND ($2::uuid IS NULL OR conversation_id = $2)",
            &[
                P::Uuid(self.user.to_string()),
                self.within.map_or(P::DbNull, |c| P::Uuid(c.to_string())),
            ],
        )?
        .column("conversation_id")?;
        let sql = format!(
            "SELECT {} AS m, to_char(msg.created_at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}) AS at, msg.id
             FROM dm.messages msg
             JOIN dm.members mem ON mem.conversation_id = msg.conversation_id AND mem.user_id = $1
             WHERE msg.conversation_id = ANY($3::text[]::uuid[]) AND msg.seq > mem.joined_seq
               AND msg.unsent_at IS NULL
               AND msg.search @@ websearch_to_tsquery('simple', $2)
               AND NOT EXISTS (SELECT 1 FROM dm.hidden_messages h WHERE h.user_id = $1 AND h.message_id = msg.id)
               AND ($4::text IS NULL OR (msg.created_at, msg.id) < ($4::text::timestamptz, $5::uuid))
             ORDER BY msg.created_at DESC, msg.id DESC LIMIT $6",
            message_sql()
        );
        Ok(query(
            conn,
            &sql,
            &[
                P::Uuid(self.user.to_string()),
                P::Str(self.words.clone()),
                P::ArrayStr(mine.iter().map(|c| Some(c.to_string())).collect()),
                self.before.0.clone(),
                self.before.1.clone(),
                P::Int64(self.limit),
            ],
        )?)
    }
}

/// Delete for me: the message is hidden from `me` (a member who may see it; else 404), and no
/// longer counts as unread for them.
fn hide(conn: &Connection, me: Uuid, message: Uuid) -> Result<(), Problem> {
    let conversation: Uuid = query(
        conn,
        "SELECT msg.conversation_id FROM dm.messages msg
         JOIN dm.members m ON m.conversation_id = msg.conversation_id AND m.user_id = $2
         WHERE msg.id = $1 AND m.state IN ('active', 'request') AND msg.seq > m.joined_seq",
        &[P::Uuid(message.to_string()), P::Uuid(me.to_string())],
    )?
    .column::<Uuid>("conversation_id")?
    .into_iter()
    .next()
    .ok_or_else(|| Problem::not_found("no such message"))?;
    nexgate_platform::db::transaction(conn, |conn| -> Result<(), Problem> {
        crate::access::lock_for_unread(conn, conversation)?;
        let hidden = query(
            conn,
            "INSERT INTO dm.hidden_messages (user_id, message_id) VALUES ($2, $1)
             ON CONFLICT DO NOTHING RETURNING message_id",
            &[P::Uuid(message.to_string()), P::Uuid(me.to_string())],
        )?;
        if !hidden.is_empty() {
            crate::access::recount_unread(conn, conversation, me)?;
        }
        Ok(())
    })
}
