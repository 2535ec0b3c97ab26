//! The follow graph, follow requests, blocks, mutes and relationships.
//!
//! Every change to an edge happens in one transaction that first locks both profile rows in
//! user-id order ([`lock_pair`]): counts change with the edge, stay exact under any concurrency,
//! and two users acting on each other at once cannot deadlock.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::profiles::{
    BlockCreated, BlockDeleted, FollowCreated, FollowDeleted, FollowRequestApproved,
    FollowRequestCreated,
};
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{query, transaction};
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::lookup::{blocked_either_way, no_such_user, resolve_as, visible_other, SCHEMA};
use nexgate_events::outbox::Outbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// A rejected follow request may be sent again after this long.
pub const FOLLOW_REQUEST_RETRY_AFTER_DAYS: i64 = 7;
/// Ids per relationships call.
pub const RELATIONSHIP_IDS_MAX: usize = 100;
/// Page sizes of the lists.
pub const LIST_LIMIT_DEFAULT: u32 = 20;
pub const LIST_LIMIT_MAX: u32 = 100;
/// Longest mute.
pub const MUTE_DURATION_SECS_MAX: i64 = 365 * 24 * 3600;

/// Locks two profile rows in user-id order; returns whether `target` is private.
fn lock_pair(conn: &Connection, viewer: Uuid, target: Uuid) -> Result<bool, Problem> {
    let rows = query(
        conn,
        "SELECT user_id, is_private FROM profiles.profiles WHERE user_id IN ($1, $2) ORDER BY user_id FOR UPDATE",
        &[P::Uuid(viewer.to_string()), P::Uuid(target.to_string())],
    )?;
    if rows.len() != 2 {
        return Err(no_such_user());
    }
    for i in 0..2 {
        if rows.value::<Uuid>(i, "user_id")? == target {
            return rows.value(i, "is_private");
        }
    }
    Err(no_such_user())
}

/// Adds `delta` to follower/following counts of one edge.
fn count_edge(
    conn: &Connection,
    follower: Uuid,
    followee: Uuid,
    delta: i32,
) -> Result<(), Problem> {
    conn.execute(
        "UPDATE profiles.profiles SET following_count = following_count + $2 WHERE user_id = $1",
        &[P::Uuid(follower.to_string()), P::Int32(delta)],
    )?;
    conn.execute(
        "UPDATE profiles.profiles SET followers_count = followers_count + $2 WHERE user_id = $1",
        &[P::Uuid(followee.to_string()), P::Int32(delta)],
    )?;
    Ok(())
}

/// Creates the edge if missing; returns whether it was created.
fn insert_follow(conn: &Connection, follower: Uuid, followee: Uuid) -> Result<bool, Problem> {
    let rows = query(
        conn,
        "INSERT INTO profiles.follows (follower_id, followee_id) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING RETURNING 1 AS created",
        &[P::Uuid(follower.to_string()), P::Uuid(followee.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(false);
    }
    count_edge(conn, follower, followee, 1)?;
    Ok(true)
}

/// Removes the edge if present and announces it (`profiles.follow.deleted`, `reason`:
/// unfollowed, removed or blocked); returns whether it was removed.
fn delete_follow(
    conn: &Connection,
    outbox: &mut Outbox,
    (follower, followee): (Uuid, Uuid),
    reason: &str,
) -> Result<bool, Problem> {
    let rows = query(
        conn,
        "DELETE FROM profiles.follows WHERE follower_id = $1 AND followee_id = $2 RETURNING 1 AS deleted",
        &[P::Uuid(follower.to_string()), P::Uuid(followee.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(false);
    }
    count_edge(conn, follower, followee, -1)?;
    outbox.record(
        conn,
        None,
        ("follow", format!("{follower}:{followee}")),
        vec![],
        &FollowDeleted {
            follower_id: follower,
            followee_id: followee,
            reason: reason.to_string(),
        },
    )?;
    Ok(true)
}

#[derive(Serialize)]
struct FollowState {
    following: bool,
    requested: bool,
}

/// `POST /users/{id}/follow`: follows, or asks to follow a private account (202).
pub fn follow(req: &Request, target: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let target = visible_other(&conn, ctx.user_id, target)?;
    let me = ctx.user_id;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let state = transaction(&conn, |conn| -> Result<FollowState, Problem> {
        let private = lock_pair(conn, me, target)?;
        let already = query(
            conn,
            "SELECT 1 AS f FROM profiles.follows WHERE follower_id = $1 AND followee_id = $2",
            &[P::Uuid(me.to_string()), P::Uuid(target.to_string())],
        )?;
        if !already.is_empty() {
            return Ok(FollowState {
                following: true,
                requested: false,
            });
        }
        if private {
            let rejected = query(
                conn,
                "SELECT ceil(extract(epoch FROM until - now()))::int8 AS wait FROM profiles.follow_request_rejections \
                 WHERE requester_id = $1 AND target_id = $2 AND until > now()",
                &[P::Uuid(me.to_string()), P::Uuid(target.to_string())],
            )?;
            if !rejected.is_empty() {
                let wait: i64 = rejected.value(0, "wait")?;
                return Err(Problem::new(
                    429,
                    "follow_request_rejected_recently",
                    "This account declined a recent request",
                )
                .with_detail(format!(
                    "you may ask again in {} days",
                    (wait + 86_399) / 86_400
                ))
                .with_retry_after(wait.max(1) as u64));
            }
            let created = query(
                conn,
                "INSERT INTO profiles.follow_requests (requester_id, target_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING RETURNING 1 AS created",
                &[P::Uuid(me.to_string()), P::Uuid(target.to_string())],
            )?;
            if !created.is_empty() {
                outbox.record(
                    conn,
                    Some(me),
                    ("follow_request", format!("{me}:{target}")),
                    vec![target],
                    &FollowRequestCreated {
                        requester_id: me,
                        target_id: target,
                    },
                )?;
            }
            return Ok(FollowState {
                following: false,
                requested: true,
            });
        }
        if insert_follow(conn, me, target)? {
            outbox.record(
                conn,
                Some(me),
                ("follow", format!("{me}:{target}")),
                vec![target],
                &FollowCreated {
                    follower_id: me,
                    followee_id: target,
                },
            )?;
        }
        Ok(FollowState {
            following: true,
            requested: false,
        })
    })?;
    outbox.publish(&conn);
    Ok(json(if state.requested { 202 } else { 200 }, &state))
}

/// `DELETE /users/{id}/follow`: unfollows, or withdraws a pending request.
pub fn unfollow(req: &Request, target: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let target = resolve_as(&conn, ctx.user_id, target)?;
    if target == ctx.user_id {
        return Err(Problem::invalid_field("id", "cannot be yourself"));
    }
    let mut outbox = Outbox::new(SCHEMA, component)?;
    transaction(&conn, |conn| -> Result<(), Problem> {
        lock_pair(conn, ctx.user_id, target)?;
        delete_follow(conn, &mut outbox, (ctx.user_id, target), "unfollowed")?;
        conn.execute(
            "DELETE FROM profiles.follow_requests WHERE requester_id = $1 AND target_id = $2",
            &[
                P::Uuid(ctx.user_id.to_string()),
                P::Uuid(target.to_string()),
            ],
        )?;
        Ok(())
    })?;
    outbox.publish(&conn);
    Ok(json(
        200,
        &FollowState {
            following: false,
            requested: false,
        },
    ))
}

/// `DELETE /users/me/followers/{id}`: removes a follower.
pub fn remove_follower(
    req: &Request,
    follower: &str,
    component: &str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let follower = resolve_as(&conn, ctx.user_id, follower)?;
    if follower == ctx.user_id {
        return Err(Problem::invalid_field("id", "cannot be yourself"));
    }
    let mut outbox = Outbox::new(SCHEMA, component)?;
    transaction(&conn, |conn| -> Result<(), Problem> {
        lock_pair(conn, ctx.user_id, follower)?;
        delete_follow(conn, &mut outbox, (follower, ctx.user_id), "removed")?;
        Ok(())
    })?;
    outbox.publish(&conn);
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

/// `POST /users/me/follow-requests/{id}/approve` and `.../reject`.
pub fn answer_request(
    req: &Request,
    requester: &str,
    approve: bool,
    component: &str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let requester = resolve_as(&conn, ctx.user_id, requester)?;
    let me = ctx.user_id;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    transaction(&conn, |conn| -> Result<(), Problem> {
        lock_pair(conn, me, requester)?;
        let pending = query(
            conn,
            "DELETE FROM profiles.follow_requests WHERE requester_id = $1 AND target_id = $2 RETURNING 1 AS pending",
            &[P::Uuid(requester.to_string()), P::Uuid(me.to_string())],
        )?;
        if pending.is_empty() {
            return Err(Problem::not_found("no pending request from this user"));
        }
        if approve {
            insert_follow(conn, requester, me)?;
            outbox.record(
                conn,
                Some(me),
                ("follow", format!("{requester}:{me}")),
                vec![requester],
                &FollowRequestApproved {
                    requester_id: requester,
                    target_id: me,
                },
            )?;
        } else {
            conn.execute(
                "INSERT INTO profiles.follow_request_rejections (requester_id, target_id, until) \
                 VALUES ($1, $2, now() + make_interval(days => $3)) \
                 ON CONFLICT (requester_id, target_id) DO UPDATE SET until = EXCLUDED.until",
                &[
                    P::Uuid(requester.to_string()),
                    P::Uuid(me.to_string()),
                    P::Int32(FOLLOW_REQUEST_RETRY_AFTER_DAYS as i32),
                ],
            )?;
        }
        Ok(())
    })?;
    outbox.publish(&conn);
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

/// One user in a list.
#[derive(Serialize)]
struct Card {
    id: Uuid,
    username: String,
    display_name: String,
    avatar_file_id: Option<Uuid>,
    /// The avatar's variants with URLs and BlurHash, as on profiles.
    avatar: Option<serde_json::Value>,
    since: String,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Card>,
    next_cursor: Option<String>,
}

/// Which list.
#[derive(Clone, Copy)]
pub enum List {
    Followers,
    Following,
    FollowRequests,
    /// Whom I blocked (`/users/me/blocks`).
    Blocks,
    /// Whom I muted, while the mute lasts (`/users/me/mutes`).
    Mutes,
}

impl List {
    /// Lists only the account's owner sees.
    fn owner_only(self) -> bool {
        matches!(self, List::FollowRequests | List::Blocks | List::Mutes)
    }

    /// (table, the owner's column, the listed user's column, extra condition).
    fn source(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            List::Followers => ("profiles.follows", "followee_id", "follower_id", ""),
            List::Following => ("profiles.follows", "follower_id", "followee_id", ""),
            List::FollowRequests => ("profiles.follow_requests", "target_id", "requester_id", ""),
            List::Blocks => ("profiles.blocks", "blocker_id", "blocked_id", ""),
            List::Mutes => (
                "profiles.mutes",
                "muter_id",
                "muted_id",
                "AND (e.expires_at IS NULL OR e.expires_at > now())",
            ),
        }
    }
}

/// `GET /users/{id}/followers`, `GET /users/{id}/following`, `GET /users/me/follow-requests`:
/// newest first, cursor-paginated. A private account's lists are for itself and its followers; a
/// user who hid the followers list shows it to no one else.
pub fn list(req: &Request, owner: &str, which: List) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let page = page_request::<(CursorTime, Uuid)>(req.query(), LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX)?;
    let conn = db()?;
    let owner = resolve_as(&conn, ctx.user_id, owner)?;
    let me = ctx.user_id;
    if owner != me {
        if which.owner_only() {
            return Err(Problem::forbidden(
                "only the account's owner sees this list",
            ));
        }
        if blocked_either_way(&conn, me, owner)? {
            return Err(no_such_user());
        }
        let rows = query(
            &conn,
            "SELECT p.is_private, p.followers_visible, \
                    EXISTS (SELECT 1 FROM profiles.follows f WHERE f.follower_id = $2 AND f.followee_id = p.user_id) AS follows \
             FROM profiles.profiles p WHERE p.user_id = $1",
            &[P::Uuid(owner.to_string()), P::Uuid(me.to_string())],
        )?;
        let private: bool = rows.value(0, "is_private")?;
        let visible: bool = rows.value(0, "followers_visible")?;
        let follows: bool = rows.value(0, "follows")?;
        if (private && !follows) || (!visible && matches!(which, List::Followers)) {
            return Err(Problem::new(
                403,
                "list_hidden",
                "This list is not visible to you",
            ));
        }
    }
    let (table, key, other, only) = which.source();
    // Users blocked either way with the viewer never appear in a list shown to them (their own
    // block list excepted: that is what it lists).
    let hidden = if matches!(which, List::Blocks) {
        // (The caller's own list: $3, the viewer, is its owner.)
        "AND $3::uuid = e.blocker_id"
    } else {
        "AND NOT EXISTS (SELECT 1 FROM profiles.blocks b WHERE (b.blocker_id = $3 AND b.blocked_id = p.user_id) \
                  OR (b.blocker_id = p.user_id AND b.blocked_id = $3))"
    };
    let mut params = vec![
        P::Uuid(owner.to_string()),
        P::Int64(page.limit as i64 + 1),
        P::Uuid(me.to_string()),
    ];
    let after = match &page.after {
        Some((at, id)) => {
            params.push(P::Str(at.as_str().into()));
            params.push(P::Uuid(id.to_string()));
            format!("AND (e.created_at, e.{other}) < ($4::text::timestamptz, $5)")
        }
        None => String::new(),
    };
    let rows = query(
        &conn,
        &format!(
            "SELECT p.user_id, p.username, p.display_name, p.avatar_file_id, \
                    a.variants::text AS avatar_variants, a.blurhash AS avatar_blurhash, \
                    {since} \
             FROM {table} e JOIN profiles.profiles p ON p.user_id = e.{other} \
             LEFT JOIN files.public_media a ON a.file_id = p.avatar_file_id AND a.owner_id = p.user_id \
             WHERE e.{key} = $1 {only} {hidden} {after} \
             ORDER BY e.created_at DESC, e.{other} DESC LIMIT $2",
            since = nexgate_platform::db::ts_as("e.created_at", "since")
        ),
        &params,
    )?;
    let cdn = crate::profile::cdn_base()?;
    let mut items = Vec::with_capacity(rows.len());
    for i in 0..rows.len().min(page.limit as usize) {
        items.push(Card {
            id: rows.value(i, "user_id")?,
            username: rows.value(i, "username")?,
            display_name: rows.value(i, "display_name")?,
            avatar_file_id: rows.value(i, "avatar_file_id")?,
            avatar: crate::profile::media(
                &cdn,
                rows.value(i, "avatar_file_id")?,
                rows.value(i, "avatar_variants")?,
                rows.value(i, "avatar_blurhash")?,
            )?,
            since: rows.value(i, "since")?,
        });
    }
    let next_cursor = (rows.len() > page.limit as usize)
        .then(|| {
            items
                .last()
                .map(|c| encode_cursor(&(c.since.clone(), c.id)))
        })
        .flatten();
    Ok(json(200, &Page { items, next_cursor }))
}

/// `POST /users/{id}/block`: ends follows and requests both ways; each is then hidden from the other.
pub fn block(req: &Request, target: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let target = resolve_as(&conn, ctx.user_id, target)?;
    let me = ctx.user_id;
    if target == me {
        return Err(Problem::invalid_field("id", "cannot be yourself"));
    }
    let mut outbox = Outbox::new(SCHEMA, component)?;
    transaction(&conn, |conn| -> Result<(), Problem> {
        lock_pair(conn, me, target)?;
        let created = query(
            conn,
            "INSERT INTO profiles.blocks (blocker_id, blocked_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1 AS created",
            &[P::Uuid(me.to_string()), P::Uuid(target.to_string())],
        )?;
        delete_follow(conn, &mut outbox, (me, target), "blocked")?;
        delete_follow(conn, &mut outbox, (target, me), "blocked")?;
        conn.execute(
            "DELETE FROM profiles.follow_requests WHERE (requester_id = $1 AND target_id = $2) OR (requester_id = $2 AND target_id = $1)",
            &[P::Uuid(me.to_string()), P::Uuid(target.to_string())],
        )?;
        if !created.is_empty() {
            outbox.record(
                conn,
                Some(me),
                ("block", format!("{me}:{target}")),
                vec![me],
                &BlockCreated {
                    blocker_id: me,
                    blocked_id: target,
                    created_at: nexgate_platform::time::now_rfc3339(),
                },
            )?;
        }
        Ok(())
    })?;
    outbox.publish(&conn);
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

/// `DELETE /users/{id}/block`: announced (`profiles.block.deleted`) when there was a block.
pub fn unblock(req: &Request, target: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let target = resolve_as(&conn, ctx.user_id, target)?;
    let me = ctx.user_id;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    transaction(&conn, |conn| -> Result<(), Problem> {
        let removed = query(
            conn,
            "DELETE FROM profiles.blocks WHERE blocker_id = $1 AND blocked_id = $2 RETURNING 1 AS removed",
            &[P::Uuid(me.to_string()), P::Uuid(target.to_string())],
        )?;
        if removed.is_empty() {
            return Ok(());
        }
        outbox.record(
            conn,
            Some(me),
            ("block", format!("{me}:{target}")),
            vec![],
            &BlockDeleted {
                blocker_id: me,
                blocked_id: target,
            },
        )
    })?;
    outbox.publish(&conn);
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteBody {
    duration_secs: Option<i64>,
    notifications: Option<bool>,
}

/// `POST /users/{id}/mute` `{duration_secs?, notifications?}`: one-way and private.
pub fn mute(req: &Request, target: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let body: MuteBody = if req.body().is_empty() {
        MuteBody {
            duration_secs: None,
            notifications: None,
        }
    } else {
        parse_json(
            req.body(),
            req.header("content-type").and_then(|v| v.as_str()),
            JSON_BODY_BYTES_MAX,
        )?
    };
    if let Some(d) = body.duration_secs {
        if !(60..=MUTE_DURATION_SECS_MAX).contains(&d) {
            return Err(Problem::invalid_field(
                "duration_secs",
                "must be 60 s to 365 days",
            ));
        }
    }
    let conn = db()?;
    let target = visible_other(&conn, ctx.user_id, target)?;
    conn.execute(
        "INSERT INTO profiles.mutes (muter_id, muted_id, notifications, expires_at) \
         VALUES ($1, $2, $3, CASE WHEN $4::int8 IS NULL THEN NULL ELSE now() + make_interval(secs => $4::int8) END) \
         ON CONFLICT (muter_id, muted_id) DO UPDATE SET notifications = EXCLUDED.notifications, \
             expires_at = EXCLUDED.expires_at, created_at = now()",
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Uuid(target.to_string()),
            P::Boolean(body.notifications.unwrap_or(true)),
            body.duration_secs.map_or(P::DbNull, P::Int64),
        ],
    )?;
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

/// `DELETE /users/{id}/mute`.
pub fn unmute(req: &Request, target: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let target = resolve_as(&conn, ctx.user_id, target)?;
    conn.execute(
        "DELETE FROM profiles.mutes WHERE muter_id = $1 AND muted_id = $2",
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Uuid(target.to_string()),
        ],
    )?;
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

#[derive(Serialize)]
struct Relationship {
    id: Uuid,
    following: bool,
    followed_by: bool,
    requested: bool,
    requested_by: bool,
    blocking: bool,
    blocked_by: bool,
    muting: bool,
    muting_notifications: bool,
}

/// `GET /users/relationships?ids=a,b,c` (up to 100): every button's state in one call. Unknown
/// ids are left out.
pub fn relationships(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let raw = req
        .query()
        .split('&')
        .find_map(|p| p.strip_prefix("ids="))
        .ok_or_else(|| Problem::invalid_field("ids", "is required: ids=a,b,c"))?;
    let raw = raw.replace("%2C", ",").replace("%2c", ",");
    let mut ids: Vec<Uuid> = Vec::new();
    for part in raw.split(',').filter(|s| !s.is_empty()) {
        ids.push(
            Uuid::parse_str(part)
                .map_err(|_| Problem::invalid_field("ids", format!("`{part}` is not a user id")))?,
        );
    }
    ids.sort();
    ids.dedup();
    if ids.is_empty() || ids.len() > RELATIONSHIP_IDS_MAX {
        return Err(Problem::invalid_field("ids", "give 1 to 100 user ids"));
    }
    let conn = db()?;
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let rows = query(
        &conn,
        "SELECT p.user_id, \
            EXISTS (SELECT 1 FROM profiles.follows WHERE follower_id = $1 AND followee_id = p.user_id) AS following, \
            EXISTS (SELECT 1 FROM profiles.follows WHERE follower_id = p.user_id AND followee_id = $1) AS followed_by, \
            EXISTS (SELECT 1 FROM profiles.follow_requests WHERE requester_id = $1 AND target_id = p.user_id) AS requested, \
            EXISTS (SELECT 1 FROM profiles.follow_requests WHERE requester_id = p.user_id AND target_id = $1) AS requested_by, \
            EXISTS (SELECT 1 FROM profiles.blocks WHERE blocker_id = $1 AND blocked_id = p.user_id) AS blocking, \
            EXISTS (SELECT 1 FROM profiles.blocks WHERE blocker_id = p.user_id AND blocked_id = $1) AS blocked_by, \
            m.muter_id IS NOT NULL AS muting, coalesce(m.notifications, false) AS muting_notifications \
         FROM profiles.profiles p \
         LEFT JOIN profiles.active_mutes m ON m.muter_id = $1 AND m.muted_id = p.user_id \
         WHERE p.user_id = ANY (string_to_array($2, ',')::uuid[]) ORDER BY p.user_id",
        &[P::Uuid(ctx.user_id.to_string()), P::Str(list)],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        out.push(Relationship {
            id: rows.value(i, "user_id")?,
            following: rows.value(i, "following")?,
            followed_by: rows.value(i, "followed_by")?,
            requested: rows.value(i, "requested")?,
            requested_by: rows.value(i, "requested_by")?,
            blocking: rows.value(i, "blocking")?,
            blocked_by: rows.value(i, "blocked_by")?,
            muting: rows.value(i, "muting")?,
            muting_notifications: rows.value(i, "muting_notifications")?,
        });
    }
    Ok(json(200, &json!({ "items": out })))
}
