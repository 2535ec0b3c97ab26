//! Changing one's username: `PUT /users/me/username` `{username}` (docs/profiles.md).
//!
//! At most one change per [`RENAME_COOLDOWN_DAYS`]; the old name keeps resolving to the profile and
//! stays reserved for its owner for [`OLD_USERNAME_HOLD_DAYS`] (the owner may take it back).

use nexgate_authn::authenticate;
use nexgate_events::catalogue::profiles::ProfileUpdated;
use nexgate_platform::body::json_body;
use nexgate_platform::db::{constraint, query, transaction};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::lookup::SCHEMA;
use crate::username::Username;
use nexgate_events::outbox::Outbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// Days between two username changes.
pub const RENAME_COOLDOWN_DAYS: i32 = 30;
/// Days an old username keeps resolving to its owner and stays unclaimable by others.
pub const OLD_USERNAME_HOLD_DAYS: i32 = 14;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    username: String,
}

fn taken() -> Problem {
    Problem::conflict("username_taken", "the username is taken").with_field("username", "is taken")
}

/// `PUT /users/me/username`.
pub fn rename(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let body: RenameBody = json_body(req)?;
    let wanted =
        Username::parse(&body.username).map_err(|m| Problem::invalid_field("username", m))?;
    let conn = db()?;
    let me = ctx.user_id;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let old = transaction(&conn, |conn| -> Result<String, Problem> {
        let rows = query(
            conn,
            "SELECT username, \
                    ceil(extract(epoch FROM username_changed_at + make_interval(days => $2) - now()))::int8 AS wait_secs, \
                    EXISTS (SELECT 1 FROM profiles.username_history h WHERE h.user_id = p.user_id) AS renamed_before \
             FROM profiles.profiles p WHERE user_id = $1 FOR UPDATE",
            &[P::Uuid(me.to_string()), P::Int32(RENAME_COOLDOWN_DAYS)],
        )?;
        let old: String = rows.value(0, "username")?;
        if old == wanted.as_str() {
            return Ok(old);
        }
        let wait: i64 = rows.value(0, "wait_secs")?;
        // The first change after registration is free of the cooldown; later ones wait.
        if rows.value::<bool>(0, "renamed_before")?
            && wait > 0
            && old.to_lowercase() != wanted.key()
        {
            return Err(Problem::new(
                429,
                "username_change_too_soon",
                "Usernames change at most once per 30 days",
            )
            .with_detail(format!(
                "you may change it again in {} days",
                (wait + 86_399) / 86_400
            ))
            .with_retry_after(wait as u64));
        }
        check_name_free(conn, me, &wanted)?;
        if old.to_lowercase() != wanted.key() {
            conn.execute(
                "INSERT INTO profiles.username_history (username_key, user_id, held_until) \
                 VALUES (lower($1), $2, now() + make_interval(days => $3))",
                &[
                    P::Str(old.clone()),
                    P::Uuid(me.to_string()),
                    P::Int32(OLD_USERNAME_HOLD_DAYS),
                ],
            )?;
            // Taking back one's own held name ends its hold.
            conn.execute(
                "UPDATE profiles.username_history SET held_until = now() \
                 WHERE username_key = lower($1) AND user_id = $2 AND held_until > now()",
                &[P::Str(wanted.as_str().into()), P::Uuid(me.to_string())],
            )?;
        }
        conn.execute(
            "UPDATE profiles.profiles SET username = $2, username_changed_at = now(), updated_at = now() WHERE user_id = $1",
            &[P::Uuid(me.to_string()), P::Str(wanted.as_str().into())],
        )
        .map_err(|e| match constraint(&e) {
            Some("profiles_username_key") => taken(),
            _ => Problem::internal(format!("renaming: {e:?}")),
        })?;
        outbox.record(
            conn,
            Some(me),
            ("profile", me.to_string()),
            vec![me],
            &ProfileUpdated {
                user_id: me,
                fields: vec!["username".to_string()],
            },
        )?;
        Ok(old)
    })?;
    outbox.publish(&conn);
    Ok(json(
        200,
        &json!({ "username": wanted.as_str(), "previous_username": old }),
    ))
}

/// 409 when another account has `wanted` (or holds it after a rename), 422 when it is reserved or
/// malformed; one's own current or held name is free to take back.
fn check_name_free(conn: &Connection, me: Uuid, wanted: &Username) -> Result<(), Problem> {
    let problem = query(
        conn,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM profiles.username_history h \
                                  WHERE h.username_key = lower($1) AND h.held_until > now() AND h.user_id = $2) \
                     AND NOT EXISTS (SELECT 1 FROM profiles.profiles p WHERE lower(p.username) = lower($1) AND p.user_id <> $2) \
                THEN NULL \
                WHEN lower($1) = lower((SELECT username FROM profiles.profiles WHERE user_id = $2)) THEN NULL \
                ELSE profiles.username_problem($1) END AS problem",
        &[P::Str(wanted.as_str().into()), P::Uuid(me.to_string())],
    )?;
    match problem.value::<Option<String>>(0, "problem")?.as_deref() {
        None => Ok(()),
        Some("taken") => Err(taken()),
        Some("reserved") => Err(Problem::invalid_field("username", "is reserved")),
        Some(_) => Err(Problem::invalid_field(
            "username",
            "is not a valid username",
        )),
    }
}
