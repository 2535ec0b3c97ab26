//! Conversations (docs/dm.md, "Conversations"): exactly one direct conversation per pair of users
//! (a unique pair key: two users opening it at once get the same one), opened only when the other
//! user's `message_policy` admits the opener (everyone; people they follow) or else as a message
//! request the recipient accepts or deletes (the sender is not told which); never across a block.
//! Groups of up to [`GROUP_MEMBERS_MAX`]: the creator is admin; admins add and remove members and
//! other admins; members leave; someone with a block against anyone in the group is invited
//! instead of added. Each member mutes, archives and pins on their own.

use nexgate_authn::authenticate;
use nexgate_events::outbox::{with_events, Outbox};
use nexgate_platform::body::{json_body, json_response as json, query_param, query_string};
use nexgate_platform::db::{open_from_variables as db, query, TIMESTAMP_FORMAT};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::access::{announce, blocked, membership};

/// Members of a group, its creator included.
pub const GROUP_MEMBERS_MAX: usize = 256;
/// Longest group title, in characters.
pub const TITLE_CHARS_MAX: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Open {
    #[serde(default)]
    kind: Option<String>,
    user_id: Option<Uuid>,
    title: Option<String>,
    #[serde(default)]
    member_ids: Vec<Uuid>,
}

/// `POST /dm/conversations {user_id}` (direct: 201 made, 200 found) or `{kind: group, title,
/// member_ids}` (201).
pub fn open(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let b: Open = json_body(req)?;
    let conn = db()?;
    match b.kind.as_deref().unwrap_or("direct") {
        "direct" => {
            let other = b.user_id.ok_or_else(|| {
                Problem::invalid_field("user_id", "a direct conversation needs it")
            })?;
            direct(&conn, ctx.user_id, other, component)
        }
        "group" => group(&conn, ctx.user_id, &b, component),
        _ => Err(Problem::invalid_field("kind", "must be direct or group")),
    }
}

fn direct(conn: &Connection, me: Uuid, other: Uuid, component: &str) -> Result<Response, Problem> {
    if other == me {
        return Err(Problem::invalid_field("user_id", "is you"));
    }
    let found = query(
        conn,
        "SELECT ps.message_policy, profiles.follows(ps.user_id, $2) AS follows_me,
                profiles.blocked_either_way($1, $2) AS blocked
         FROM profiles.privacy_settings ps WHERE ps.user_id = $1",
        &[P::Uuid(other.to_string()), P::Uuid(me.to_string())],
    )?;
    if found.is_empty() || found.value::<bool>(0, "blocked")? {
        return Err(Problem::not_found("no such user"));
    }
    let policy: String = found.value(0, "message_policy")?;
    let follows_me: bool = found.value(0, "follows_me")?;
    let admitted = policy == "everyone" || (policy == "following" && follows_me);
    let (a, b) = if me < other { (me, other) } else { (other, me) };
    let pair = format!("{a}:{b}");
    let existing = find_pair(conn, &pair)?;
    if let Some(id) = existing {
        // Opening it again is the recipient of a request accepting it.
        conn.execute(
            "UPDATE dm.members SET state = 'active' WHERE conversation_id = $1 AND user_id = $2 AND state IN ('request', 'declined')",
            &[P::Uuid(id.to_string()), P::Uuid(me.to_string())],
        )?;
        return Ok(json(200, &view(conn, me, id)?));
    }
    if !admitted && !follows_me {
        crate::limits::count("requests", me, crate::limits::REQUESTS_PER_DAY, 86_400)?;
    }
    let id = new_id();
    let made = with_events(conn, crate::SCHEMA, component, |conn, events| {
        let made = query(
            conn,
            "INSERT INTO dm.conversations (id, kind, pair_key, created_by) VALUES ($1, 'direct', $2, $3)
             ON CONFLICT (pair_key) DO NOTHING RETURNING id",
            &[P::Uuid(id.to_string()), P::Str(pair.clone()), P::Uuid(me.to_string())],
        )?;
        if made.is_empty() {
            return Ok(false);
        }
        conn.execute(
            "INSERT INTO dm.members (conversation_id, user_id, state) VALUES ($1, $2, 'active'), ($1, $3, $4)",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(me.to_string()),
                P::Uuid(other.to_string()),
                P::Str(if admitted { "active" } else { "request" }.into()),
            ],
        )?;
        announce(conn, events, id, "membership", None, Some(other))?;
        Ok(true)
    })?;
    if !made {
        // Someone opened the same pair at the same moment: theirs is the one.
        let id = find_pair(conn, &pair)?.ok_or_else(|| Problem::internal("pair vanished"))?;
        return Ok(json(200, &view(conn, me, id)?));
    }
    Ok(json(201, &view(conn, me, id)?))
}

fn find_pair(conn: &Connection, pair: &str) -> Result<Option<Uuid>, Problem> {
    Ok(query(
        conn,
        "SELECT id FROM dm.conversations WHERE pair_key = $1",
        &[P::Str(pair.to_string())],
    )?
    .column::<Uuid>("id")?
    .into_iter()
    .next())
}

fn group(conn: &Connection, me: Uuid, b: &Open, component: &str) -> Result<Response, Problem> {
    let title = b.title.as_deref().unwrap_or("").trim().to_string();
    if title.is_empty() || title.chars().count() > TITLE_CHARS_MAX {
        return Err(Problem::invalid_field(
            "title",
            format!("a group needs a title of 1 to {TITLE_CHARS_MAX} characters"),
        ));
    }
    let mut members = b.member_ids.clone();
    members.sort();
    members.dedup();
    members.retain(|m| *m != me);
    if members.is_empty() || members.len() + 1 > GROUP_MEMBERS_MAX {
        return Err(Problem::invalid_field(
            "member_ids",
            format!("a group has 2 to {GROUP_MEMBERS_MAX} members"),
        ));
    }
    crate::limits::count(
        "group_additions",
        me,
        crate::limits::GROUP_ADDITIONS_PER_HOUR,
        3600,
    )?;
    let id = new_id();
    with_events(conn, crate::SCHEMA, component, |conn, events| {
        conn.execute(
            "INSERT INTO dm.conversations (id, kind, title, created_by) VALUES ($1, 'group', $2, $3)",
            &[P::Uuid(id.to_string()), P::Str(title.clone()), P::Uuid(me.to_string())],
        )?;
        conn.execute(
            "INSERT INTO dm.members (conversation_id, user_id, role) VALUES ($1, $2, 'admin')",
            &[P::Uuid(id.to_string()), P::Uuid(me.to_string())],
        )?;
        add_members(conn, events, id, &members, 0)
    })?;
    Ok(json(201, &view(conn, me, id)?))
}

/// Adds users to a group from message `seq` on: active, or invited when a block stands between
/// them and anyone active in it. 422 naming `member_ids` when one does not exist.
fn add_members(
    conn: &Connection,
    events: &mut Outbox,
    id: Uuid,
    users: &[Uuid],
    seq: i64,
) -> Result<(), Problem> {
    let known = query(
        conn,
        "SELECT count(*) AS n FROM profiles.public_cards WHERE user_id = ANY($1::text[]::uuid[])",
        &[P::ArrayStr(
            users.iter().map(|u| Some(u.to_string())).collect(),
        )],
    )?;
    if known.value::<i64>(0, "n")? != users.len() as i64 {
        return Err(Problem::invalid_field("member_ids", "no such user"));
    }
    for user in users {
        let added = query(
            conn,
            "INSERT INTO dm.members (conversation_id, user_id, state, joined_seq)
             SELECT $1, $2, CASE WHEN EXISTS (
                        SELECT 1 FROM dm.members m WHERE m.conversation_id = $1 AND m.state = 'active'
                          AND profiles.blocked_either_way(m.user_id, $2)) THEN 'invited' ELSE 'active' END, $3
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET
                 state = EXCLUDED.state, joined_seq = EXCLUDED.joined_seq, role = 'member', joined_at = now(),
                 unread = 0
                 WHERE dm.members.state IN ('left', 'removed', 'declined')
             RETURNING state",
            &[P::Uuid(id.to_string()), P::Uuid(user.to_string()), P::Int64(seq)],
        )?;
        if !added.is_empty() {
            announce(conn, events, id, "membership", None, Some(*user))?;
        }
    }
    let total = query(
        conn,
        "SELECT count(*) AS n FROM dm.members WHERE conversation_id = $1 AND state IN ('active', 'invited')",
        &[P::Uuid(id.to_string())],
    )?;
    if total.value::<i64>(0, "n")? > GROUP_MEMBERS_MAX as i64 {
        return Err(Problem::invalid_field(
            "member_ids",
            format!("a group has at most {GROUP_MEMBERS_MAX} members"),
        ));
    }
    Ok(())
}

/// SQL of one conversation as `$1` sees it (`c` the conversation, `m` the viewer's membership).
fn card_sql() -> String {
    format!(
        "jsonb_build_object(
           'id', c.id, 'kind', c.kind, 'title', c.title, 'state', m.state, 'role', m.role,
           'last_seq', c.last_seq,
           'last_message_at', to_char(c.last_message_at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}),
           'last_message', (SELECT jsonb_build_object('id', lm.id, 'seq', lm.seq, 'sender_id', lm.sender_id,
                                'preview', CASE WHEN lm.unsent_at IS NULL THEN left(lm.text, 80) END)
                            FROM dm.messages lm WHERE lm.conversation_id = c.id AND lm.seq > m.joined_seq
                              AND NOT EXISTS (SELECT 1 FROM dm.hidden_messages h WHERE h.user_id = $1 AND h.message_id = lm.id)
                            ORDER BY lm.seq DESC LIMIT 1),
           'unread', m.unread,
           'read_seq', m.read_seq,
           'muted_until', to_char(m.muted_until AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}),
           'archived', m.archived, 'pinned', m.pinned_at IS NOT NULL,
           'members', (SELECT jsonb_agg(jsonb_build_object('id', o.user_id, 'username', pc.username,
                              'display_name', pc.display_name, 'role', o.role, 'state', o.state,
                              'read_seq', CASE WHEN coalesce(me_s.read_receipts, true) AND coalesce(o_s.read_receipts, true)
                                                 AND NOT profiles.blocked_either_way($1, o.user_id)
                                               THEN o.read_seq END) ORDER BY o.joined_at, o.user_id)
                       FROM dm.members o
                       LEFT JOIN profiles.public_cards pc ON pc.user_id = o.user_id
                       LEFT JOIN dm.settings o_s ON o_s.user_id = o.user_id
                       LEFT JOIN dm.settings me_s ON me_s.user_id = $1
                       WHERE o.conversation_id = c.id AND o.state IN ('active', 'request', 'invited')))"
    )
}

/// One conversation as `me` sees it (404 unless they are in it).
pub fn view(conn: &Connection, me: Uuid, id: Uuid) -> Result<Value, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {} AS card FROM dm.conversations c
             JOIN dm.members m ON m.conversation_id = c.id AND m.user_id = $1
             WHERE c.id = $2 AND m.state IN ('active', 'request', 'invited')",
            card_sql()
        ),
        &[P::Uuid(me.to_string()), P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(crate::access::no_such_conversation());
    }
    rows.value(0, "card")
}

/// `GET /dm/conversations/{id}`.
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    Ok(json(200, &view(&db()?, ctx.user_id, id)?))
}

/// `GET /dm/conversations?archived=&cursor=&limit=` (active ones, pinned first then by last
/// activity) and `GET /dm/requests` (message requests and group invitations): `{items,
/// next_cursor, unread_total}`.
pub fn list(req: &Request, requests: bool) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let qs = query_string(req);
    let page = nexgate_platform::pagination::page_request::<i64>(qs, 20, 100)?;
    let offset = page.after.unwrap_or(0).max(0);
    let archived = query_param(qs, "archived") == Some("true");
    let conn = db()?;
    let filter = if requests {
        "m.state IN ('request', 'invited') AND $2::boolean IS NOT NULL"
    } else {
        "m.state = 'active' AND m.archived = $2"
    };
    let rows = query(
        &conn,
        &format!(
            "SELECT {} AS card FROM dm.members m JOIN dm.conversations c ON c.id = m.conversation_id
             WHERE m.user_id = $1 AND {filter}
             ORDER BY m.pinned_at DESC NULLS LAST, coalesce(c.last_message_at, c.created_at) DESC, c.id
             OFFSET $3 LIMIT $4",
            card_sql()
        ),
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Boolean(archived),
            P::Int64(offset),
            P::Int64(page.limit.into()),
        ],
    )?;
    let items: Vec<Value> = rows.column("card")?;
    let next = (items.len() == page.limit as usize)
        .then(|| nexgate_platform::pagination::encode_cursor(&(offset + items.len() as i64)));
    let total = unread_total(&conn, ctx.user_id)?;
    Ok(json(
        200,
        &json!({"items": items, "next_cursor": next, "unread_total": total}),
    ))
}

/// Unread messages in all the user's active conversations.
pub fn unread_total(conn: &Connection, user: Uuid) -> Result<i64, Problem> {
    query(
        conn,
        "SELECT coalesce(sum(unread), 0)::int8 AS n FROM dm.members WHERE user_id = $1 AND state = 'active'",
        &[P::Uuid(user.to_string())],
    )?
    .value(0, "n")
}

/// `POST /dm/conversations/{id}/accept`: a message request or group invitation accepted.
pub fn accept(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    membership(&conn, ctx.user_id, id, &["request", "invited"])?;
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        // Under the conversation's lock, so no message lands between the join and the count.
        crate::access::lock_for_unread(conn, id)?;
        conn.execute(
            "UPDATE dm.members m SET state = 'active',
                 unread = CASE WHEN m.state = 'invited' THEN 0 ELSE m.unread END,
                 joined_seq = CASE WHEN m.state = 'invited' THEN (SELECT last_seq FROM dm.conversations WHERE id = $1) ELSE m.joined_seq END
             WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.state IN ('request', 'invited')",
            &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
        )?;
        announce(conn, events, id, "membership", None, Some(ctx.user_id))
    })?;
    Ok(json(200, &view(&conn, ctx.user_id, id)?))
}

/// `DELETE /dm/conversations/{id}`: leaves a group, declines a request or invitation, or takes a
/// direct conversation off the list (it comes back with the next message). 204.
pub fn leave(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let m = membership(&conn, ctx.user_id, id, &["active", "request", "invited"])?;
    let state = match (m.kind.as_str(), m.state.as_str()) {
        (_, "request" | "invited") => "declined",
        ("group", _) => "left",
        _ => "active",
    };
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        if state == "active" {
            conn.execute(
                "UPDATE dm.members SET archived = true WHERE conversation_id = $1 AND user_id = $2",
                &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
            )?;
            return Ok(());
        }
        conn.execute(
            "UPDATE dm.members SET state = $3, role = 'member' WHERE conversation_id = $1 AND user_id = $2",
            &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string()), P::Str(state.into())],
        )?;
        if m.kind == "group" && m.is_admin() {
            promote_if_no_admin(conn, id)?;
        }
        announce(conn, events, id, "membership", None, Some(ctx.user_id))
    })?;
    Ok(Response::new(204, ()))
}

/// A group left without an admin makes its longest-standing member admin.
pub fn promote_if_no_admin(conn: &Connection, id: Uuid) -> Result<(), Problem> {
    conn.execute(
        "UPDATE dm.members SET role = 'admin'
         WHERE conversation_id = $1 AND state = 'active'
           AND NOT EXISTS (SELECT 1 FROM dm.members a WHERE a.conversation_id = $1 AND a.state = 'active' AND a.role = 'admin')
           AND user_id = (SELECT user_id FROM dm.members WHERE conversation_id = $1 AND state = 'active'
                          ORDER BY joined_at, user_id LIMIT 1)",
        &[P::Uuid(id.to_string())],
    )?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Additions {
    user_ids: Vec<Uuid>,
}

/// `POST /dm/conversations/{id}/members {user_ids}` (group admins): they see history from now.
pub fn add(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: Additions = json_body(req)?;
    let conn = db()?;
    let m = membership(&conn, ctx.user_id, id, &["active"])?;
    if m.kind != "group" || !m.is_admin() {
        return Err(Problem::forbidden("only a group's admins add members"));
    }
    let mut users = b.user_ids.clone();
    users.sort();
    users.dedup();
    users.retain(|u| *u != ctx.user_id);
    if users.is_empty() {
        return Err(Problem::invalid_field(
            "user_ids",
            "name one or more other users",
        ));
    }
    crate::limits::count(
        "group_additions",
        ctx.user_id,
        crate::limits::GROUP_ADDITIONS_PER_HOUR,
        3600,
    )?;
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let seq: i64 = query(
            conn,
            "SELECT last_seq FROM dm.conversations WHERE id = $1 FOR UPDATE",
            &[P::Uuid(id.to_string())],
        )?
        .value(0, "last_seq")?;
        add_members(conn, events, id, &users, seq)
    })?;
    Ok(json(200, &view(&conn, ctx.user_id, id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: String,
}

/// `PATCH /dm/conversations/{id}/members/{user_id} {role: admin|member}` (group admins).
pub fn set_role(req: &Request, id: &str, user: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let user = parse_id("user_id", user)?;
    let b: RoleChange = json_body(req)?;
    if !matches!(b.role.as_str(), "admin" | "member") {
        return Err(Problem::invalid_field("role", "must be admin or member"));
    }
    let conn = db()?;
    let m = membership(&conn, ctx.user_id, id, &["active"])?;
    if m.kind != "group" || !m.is_admin() {
        return Err(Problem::forbidden("only a group's admins change roles"));
    }
    let changed_rows = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let rows = query(
            conn,
            "UPDATE dm.members SET role = $3 WHERE conversation_id = $1 AND user_id = $2 AND state = 'active' RETURNING user_id",
            &[P::Uuid(id.to_string()), P::Uuid(user.to_string()), P::Str(b.role.clone())],
        )?;
        promote_if_no_admin(conn, id)?;
        announce(conn, events, id, "membership", None, Some(user))?;
        Ok(rows.len())
    })?;
    if changed_rows == 0 {
        return Err(Problem::not_found("no such member"));
    }
    Ok(json(200, &view(&conn, ctx.user_id, id)?))
}

/// `DELETE /dm/conversations/{id}/members/{user_id}` (group admins; a member removing themselves
/// leaves). 204.
pub fn remove(req: &Request, id: &str, user: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conversation = parse_id("id", id)?;
    let user = parse_id("user_id", user)?;
    if user == ctx.user_id {
        return leave(req, id, component);
    }
    let conn = db()?;
    let m = membership(&conn, ctx.user_id, conversation, &["active"])?;
    if m.kind != "group" || !m.is_admin() {
        return Err(Problem::forbidden("only a group's admins remove members"));
    }
    let removed = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let rows = query(
            conn,
            "UPDATE dm.members SET state = 'removed', role = 'member'
             WHERE conversation_id = $1 AND user_id = $2 AND state IN ('active', 'invited') RETURNING user_id",
            &[P::Uuid(conversation.to_string()), P::Uuid(user.to_string())],
        )?;
        announce(conn, events, conversation, "membership", None, Some(user))?;
        Ok(rows.len())
    })?;
    if removed == 0 {
        return Err(Problem::not_found("no such member"));
    }
    Ok(Response::new(204, ()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Choices {
    /// Seconds to mute for; 0 unmutes; -1 mutes until unmuted (stored as a hundred years).
    mute_secs: Option<i64>,
    archived: Option<bool>,
    pinned: Option<bool>,
    title: Option<String>,
}

/// `PATCH /dm/conversations/{id} {mute_secs?, archived?, pinned?, title?}`: the caller's own
/// choices (a group's title: admins).
pub fn update(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: Choices = json_body(req)?;
    let conn = db()?;
    let m = membership(&conn, ctx.user_id, id, &["active"])?;
    if let Some(secs) = b.mute_secs {
        if !(-1..=366 * 86_400).contains(&secs) {
            return Err(Problem::invalid_field(
                "mute_secs",
                "must be -1 (until unmuted), 0 (unmute) or up to a year",
            ));
        }
    }
    if let Some(title) = &b.title {
        let chars = title.trim().chars().count();
        if m.kind != "group" || !m.is_admin() {
            return Err(Problem::forbidden("only a group's admins rename it"));
        }
        if chars == 0 || chars > TITLE_CHARS_MAX {
            return Err(Problem::invalid_field(
                "title",
                format!("must be 1 to {TITLE_CHARS_MAX} characters"),
            ));
        }
    }
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        conn.execute(
            "UPDATE dm.members SET
                 muted_until = CASE WHEN $3::int8 IS NULL THEN muted_until
                                    WHEN $3::int8 = 0 THEN NULL
                                    WHEN $3::int8 = -1 THEN now() + interval '100 years'
                                    ELSE now() + make_interval(secs => $3::int8::float8) END,
                 archived = coalesce($4, archived),
                 pinned_at = CASE WHEN $5::boolean IS NULL THEN pinned_at WHEN $5::boolean THEN coalesce(pinned_at, now()) END
             WHERE conversation_id = $1 AND user_id = $2",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                b.mute_secs.map_or(P::DbNull, P::Int64),
                b.archived.map_or(P::DbNull, P::Boolean),
                b.pinned.map_or(P::DbNull, P::Boolean),
            ],
        )?;
        if let Some(title) = &b.title {
            conn.execute(
                "UPDATE dm.conversations SET title = $2 WHERE id = $1",
                &[P::Uuid(id.to_string()), P::Str(title.trim().to_string())],
            )?;
            announce(conn, events, id, "conversation", None, None)?;
        }
        Ok(())
    })?;
    Ok(json(200, &view(&conn, ctx.user_id, id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    reason: String,
    #[serde(default)]
    note: String,
}

/// Why a conversation may be reported.
pub const REPORT_REASONS: [&str; 5] = ["spam", "harassment", "scam", "inappropriate", "other"];

/// `POST /dm/conversations/{id}/report {reason, note?}`: a member reports the conversation (about
/// its other member when it is direct). Reporting a message request also declines it (the sender
/// is not told either). One report per member and conversation (409 `already_reported`); 201.
pub fn report(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: Report = json_body(req)?;
    if !REPORT_REASONS.contains(&b.reason.as_str()) {
        return Err(Problem::invalid_field(
            "reason",
            format!("must be one of {}", REPORT_REASONS.join(", ")),
        ));
    }
    let note = b.note.trim().to_string();
    if note.chars().count() > 1000 {
        return Err(Problem::invalid_field("note", "at most 1000 characters"));
    }
    let conn = db()?;
    let m = membership(&conn, ctx.user_id, id, &["active", "request"])?;
    crate::limits::count(
        "reports",
        ctx.user_id,
        crate::limits::REPORTS_PER_DAY,
        86_400,
    )?;
    let declined = m.state == "request";
    let report = new_id();
    let filed = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let rows = query(
            conn,
            "INSERT INTO dm.reports (id, conversation_id, reporter_id, reported_id, reason, note)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (conversation_id, reporter_id) DO NOTHING RETURNING id",
            &[
                P::Uuid(report.to_string()),
                P::Uuid(id.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                m.other.map_or(P::DbNull, |o| P::Uuid(o.to_string())),
                P::Str(b.reason.clone()),
                P::Str(note.clone()),
            ],
        )?;
        if rows.is_empty() {
            return Ok(false);
        }
        if declined {
            conn.execute(
                "UPDATE dm.members SET state = 'declined' WHERE conversation_id = $1 AND user_id = $2 AND state = 'request'",
                &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
            )?;
            announce(conn, events, id, "membership", None, Some(ctx.user_id))?;
        }
        Ok(true)
    })?;
    if !filed {
        return Err(Problem::conflict(
            "already_reported",
            "you reported this conversation already",
        ));
    }
    Ok(json(
        201,
        &json!({"id": report, "conversation_id": id, "reason": b.reason, "declined": declined}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    read_receipts: bool,
}

/// `PUT /dm/settings {read_receipts}`: off, nobody sees the user's read pointers and they see
/// nobody's.
pub fn settings(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let b: Settings = json_body(req)?;
    db()?.execute(
        "INSERT INTO dm.settings (user_id, read_receipts) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET read_receipts = EXCLUDED.read_receipts",
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Boolean(b.read_receipts),
        ],
    )?;
    Ok(json(200, &json!({"read_receipts": b.read_receipts})))
}

/// Whether `me` may still send in a direct conversation (no block either way).
pub fn may_send_direct(conn: &Connection, me: Uuid, other: Option<Uuid>) -> Result<bool, Problem> {
    match other {
        Some(o) => Ok(!blocked(conn, me, o)?),
        None => Ok(true),
    }
}
