//! Finding the user a request names (`{id_or_username}`) and whether blocks hide them.

use nexgate_platform::db::query;
use nexgate_platform::Problem;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// The schema whose outbox profiles write.
pub const SCHEMA: &str = "profiles";

/// 404 for a user that does not exist or is hidden from the viewer by a block (the same answer,
/// so a block cannot be detected).
pub fn no_such_user() -> Problem {
    Problem::not_found("no such user")
}

/// The user a path segment names: a UUID, or a username in any case.
pub fn resolve(conn: &Connection, id_or_username: &str) -> Result<Uuid, Problem> {
    let rows = match Uuid::parse_str(id_or_username) {
        Ok(id) => query(
            conn,
            "SELECT user_id FROM profiles.profiles WHERE user_id = $1",
            &[P::Uuid(id.to_string())],
        )?,
        Err(_) => {
            if id_or_username.is_empty() || id_or_username.len() > 30 {
                return Err(no_such_user());
            }
            // The current owner first; else a recently released name still held for its old owner.
            query(
                conn,
                "SELECT user_id FROM ( \
                     SELECT user_id, 0 AS pri, now() AS released_at FROM profiles.profiles \
                     WHERE lower(username) = lower($1) \
                     UNION ALL \
                     SELECT user_id, 1, released_at FROM profiles.username_history \
                     WHERE username_key = lower($1) AND held_until > now() AND user_id IS NOT NULL \
                 ) named ORDER BY pri, released_at DESC LIMIT 1",
                &[P::Str(id_or_username.to_string())],
            )?
        }
    };
    if rows.is_empty() {
        return Err(no_such_user());
    }
    rows.value(0, "user_id")
}

/// Like [`resolve`], with `me` meaning the viewer.
pub fn resolve_as(conn: &Connection, viewer: Uuid, id_or_username: &str) -> Result<Uuid, Problem> {
    if id_or_username == "me" {
        Ok(viewer)
    } else {
        resolve(conn, id_or_username)
    }
}

/// Whether either of two users blocked the other.
pub fn blocked_either_way(conn: &Connection, a: Uuid, b: Uuid) -> Result<bool, Problem> {
    let rows = query(
        conn,
        "SELECT 1 AS blocked FROM profiles.blocks \
         WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)",
        &[P::Uuid(a.to_string()), P::Uuid(b.to_string())],
    )?;
    Ok(!rows.is_empty())
}

/// Resolves a target the viewer may see: 404 when missing or blocked either way, 422 for oneself
/// where acting on oneself makes no sense.
pub fn visible_other(
    conn: &Connection,
    viewer: Uuid,
    id_or_username: &str,
) -> Result<Uuid, Problem> {
    let target = resolve_as(conn, viewer, id_or_username)?;
    if target == viewer {
        return Err(Problem::invalid_field("id", "cannot be yourself"));
    }
    if blocked_either_way(conn, viewer, target)? {
        return Err(no_such_user());
    }
    Ok(target)
}
