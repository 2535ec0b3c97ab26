//! Who runs an event (docs/ticketing.md, "Check-in"): its owner (the organizer) adds managers and
//! checkers by username, with a recent sign-in, and removes them; checkers and managers check
//! tickets in. The owner's own role is never changed here.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// People with a role on one event, owner included.
pub const ROLES_MAX: i64 = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    username: String,
    role: String,
}

/// The role `user` holds on `event` (`owner`, `manager`, `checker`); 404 naming the event as
/// theirs when they hold none, or none of `allowed` (every role when `allowed` is empty).
pub(crate) fn require(
    conn: &Connection,
    event: Uuid,
    user: Uuid,
    allowed: &[&str],
) -> Result<String, Problem> {
    let rows = query(
        conn,
        "SELECT role FROM events.event_roles WHERE event_id = $1 AND user_id = $2",
        &[P::Uuid(event.to_string()), P::Uuid(user.to_string())],
    )?;
    let role: Option<String> = if rows.is_empty() {
        None
    } else {
        Some(rows.value(0, "role")?)
    };
    match role {
        Some(r) if allowed.is_empty() || allowed.contains(&r.as_str()) => Ok(r),
        _ => Err(Problem::not_found("no such event of yours")),
    }
}

/// Owners and managers (who see personal data and run devices and analytics).
pub(crate) const MANAGING: &[&str] = &["owner", "manager"];

/// 404 unless `user` owns the event `id`.
fn owned(conn: &Connection, id: Uuid, user: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT 1 FROM events.events WHERE id = $1 AND organizer_id = $2",
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such event of yours"));
    }
    Ok(())
}

/// `POST /events/{id}/roles {username, role: manager|checker}` (the owner, signed in recently):
/// 201; the same again changes the role.
pub fn add(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let id = parse_id("id", id)?;
    let b: NewRole = json_body(req)?;
    if !matches!(b.role.as_str(), "manager" | "checker") {
        return Err(Problem::invalid_field("role", "must be manager or checker"));
    }
    let conn = db()?;
    owned(&conn, id, ctx.user_id)?;
    let user: Option<Uuid> = query(
        &conn,
        "SELECT profiles.user_id_by_username($1) AS user_id",
        &[P::Str(b.username.trim().to_string())],
    )?
    .value(0, "user_id")?;
    let user = user.ok_or_else(|| Problem::invalid_field("username", "no such user"))?;
    if user == ctx.user_id {
        return Err(Problem::invalid_field("username", "is the event's owner"));
    }
    let added = query(
        &conn,
        "INSERT INTO events.event_roles (event_id, user_id, role, added_by)
         SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM events.event_roles WHERE event_id = $1) < $5
         ON CONFLICT (event_id, user_id) DO UPDATE SET role = EXCLUDED.role
             WHERE events.event_roles.role <> 'owner'
         RETURNING user_id",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(user.to_string()),
            P::Str(b.role.clone()),
            P::Uuid(ctx.user_id.to_string()),
            P::Int64(ROLES_MAX),
        ],
    )?;
    if added.is_empty() {
        return Err(Problem::conflict(
            "roles_full",
            format!("an event has at most {ROLES_MAX} people with a role"),
        ));
    }
    Ok(json(
        201,
        &json!({ "event_id": id, "user_id": user, "role": b.role }),
    ))
}

/// `GET /events/{id}/roles` (the owner or a manager).
pub fn list(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT r.user_id, r.role, {} FROM events.event_roles r
             WHERE r.event_id = $1 AND EXISTS (SELECT 1 FROM events.event_roles me
                 WHERE me.event_id = $1 AND me.user_id = $2 AND me.role IN ('owner', 'manager'))
             ORDER BY r.added_at, r.user_id",
            ts("r.added_at")
        ),
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such event of yours"));
    }
    let items = (0..rows.len())
        .map(|i| {
            Ok(json!({
                "user_id": rows.value::<Uuid>(i, "user_id")?,
                "role": rows.value::<String>(i, "role")?,
                "added_at": rows.value::<String>(i, "added_at")?,
            }))
        })
        .collect::<Result<Vec<Value>, Problem>>()?;
    Ok(json(200, &json!({ "items": items })))
}

/// `DELETE /events/{id}/roles/{user_id}` (the owner, signed in recently): 204.
pub fn remove(req: &Request, id: &str, user: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let id = parse_id("id", id)?;
    let user = parse_id("user_id", user)?;
    let conn = db()?;
    owned(&conn, id, ctx.user_id)?;
    let gone = query(
        &conn,
        "DELETE FROM events.event_roles WHERE event_id = $1 AND user_id = $2 AND role <> 'owner' RETURNING user_id",
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if gone.is_empty() {
        return Err(Problem::not_found(
            "no such person with a role on this event",
        ));
    }
    Ok(Response::builder().status(204).body(Vec::new()).build())
}
