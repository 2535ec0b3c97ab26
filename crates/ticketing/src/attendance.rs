//! Whether others may see which events a user goes to (docs/ticketing.md, "Published views"):
//! `GET /events/settings/attendance` and `PUT /events/settings/attendance {hidden}`. Without a
//! choice, attendance is hidden for private accounts and shown otherwise. `events.attendance`
//! (the view social reads for "people you follow are going") leaves out everyone who hides it.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Setting {
    hidden: bool,
}

/// `GET /events/settings/attendance`: `{hidden, chosen}` (`chosen: false` while it follows the
/// account's privacy).
pub fn get(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    Ok(json(200, &current(&conn, ctx.user_id)?))
}

/// `PUT /events/settings/attendance {hidden}`: 200 `{hidden, chosen: true}`.
pub fn put(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let s: Setting = json_body(req)?;
    let conn = db()?;
    conn.execute(
        "INSERT INTO events.attendance_settings (user_id, hidden) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET hidden = EXCLUDED.hidden, updated_at = now()",
        &[P::Uuid(ctx.user_id.to_string()), P::Boolean(s.hidden)],
    )?;
    Ok(json(200, &current(&conn, ctx.user_id)?))
}

fn current(conn: &Connection, user: Uuid) -> Result<serde_json::Value, Problem> {
    let rows = query(
        conn,
        "SELECT s.hidden AS chosen_hidden,
                coalesce((SELECT p.is_private FROM profiles.privacy_settings p WHERE p.user_id = $1), false) AS private
         FROM (SELECT 1) one LEFT JOIN events.attendance_settings s ON s.user_id = $1",
        &[P::Uuid(user.to_string())],
    )?;
    let chosen: Option<bool> = rows.value(0, "chosen_hidden")?;
    Ok(json!({
        "hidden": chosen.unwrap_or(rows.value::<bool>(0, "private")?),
        "chosen": chosen.is_some(),
    }))
}
