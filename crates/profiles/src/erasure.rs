//! What profiles does when an account is deleted (docs/profiles.md, "Deleted accounts"), on
//! `auth.account.deleted`: the profile goes, and with it (by their foreign keys) its follows both
//! ways, follow requests, blocks and mutes both ways, trust counters and verification grants; the
//! operators' verification audit of the user goes too. The counts of the people it followed or
//! who followed it drop by one. Its username, and any old one still held after a rename, stay
//! held for nobody for [`DELETED_USERNAME_HOLD_DAYS`], so links and mentions do not jump to a
//! stranger at once; then anyone may take them.

use nexgate_events::Envelope;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;
use nexgate_platform::db::{query, transaction};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::Response;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// How long a deleted account's username stays unclaimable.
pub const DELETED_USERNAME_HOLD_DAYS: i32 = 30;

/// Erases `user`'s profile once per event (a redelivery answers `applied: false`).
pub fn erase_account(envelope: &Envelope, user: Uuid) -> Result<Response, Problem> {
    let conn = db()?;
    let erased = transaction(&conn, |conn| -> Result<Option<bool>, Problem> {
        if !crate::inbox::first_delivery(conn, envelope)? {
            return Ok(None);
        }
        erase(conn, user).map(Some)
    })?;
    Ok(json(
        200,
        &json!({ "applied": erased.is_some(), "profile_erased": erased.unwrap_or(false) }),
    ))
}

/// Removes the profile and everything hanging off it; whether there was one.
fn erase(conn: &Connection, user: Uuid) -> Result<bool, Problem> {
    let me = || P::Uuid(user.to_string());
    let found = query(
        conn,
        "SELECT 1 AS found FROM profiles.profiles WHERE user_id = $1 FOR UPDATE",
        &[me()],
    )?;
    if found.is_empty() {
        return Ok(false);
    }
    // The other side of each follow loses one (the rows go with the profile below).
    conn.execute(
        "UPDATE profiles.profiles p SET followers_count = followers_count - 1 \
         FROM profiles.follows f WHERE f.follower_id = $1 AND p.user_id = f.followee_id",
        &[me()],
    )?;
    conn.execute(
        "UPDATE profiles.profiles p SET following_count = following_count - 1 \
         FROM profiles.follows f WHERE f.followee_id = $1 AND p.user_id = f.follower_id",
        &[me()],
    )?;
    conn.execute(
        "INSERT INTO profiles.username_history (username_key, user_id, held_until) \
         SELECT lower(username), NULL, now() + make_interval(days => $2) \
         FROM profiles.profiles WHERE user_id = $1",
        &[me(), P::Int32(DELETED_USERNAME_HOLD_DAYS)],
    )?;
    conn.execute(
        "DELETE FROM profiles.verification_audit WHERE user_id = $1",
        &[me()],
    )?;
    // Old names still held for this user stay held (their owner becomes NULL, nobody).
    conn.execute("DELETE FROM profiles.profiles WHERE user_id = $1", &[me()])?;
    Ok(true)
}
