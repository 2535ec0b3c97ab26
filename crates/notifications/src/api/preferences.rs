//! `GET/PUT /notifications/preferences`: push all / important / none; email all / daily / weekly
//! digest / none; SMS critical / none; quiet hours in the user's time zone; per-type switches.
//! `PUT` changes the fields it names and keeps the others; a wrong field is a 422 naming it and
//! changes nothing.

use crate::preferences::{types_to_json, Preferences};
use crate::templates::{Recipient, TEMPLATES};
use crate::Category;
use nexgate_authn::authenticate;
use nexgate_platform::body::json_response;
use nexgate_platform::db::{open_from_variables, query, transaction};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// The stored preferences of `user` (the defaults when none are stored); `lock` takes the row lock.
fn load(conn: &Connection, user: Uuid, lock: bool) -> Result<Preferences, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT push, email, sms, quiet_start_minute::int AS qs, quiet_end_minute::int AS qe, time_zone,
                    types::text AS types
             FROM notifications.preferences WHERE user_id = $1{}",
            if lock { " FOR UPDATE" } else { "" }
        ),
        &[P::Uuid(user.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(Preferences::default());
    }
    let types: Value =
        serde_json::from_str(&rows.value::<String>(0, "types")?).map_err(Problem::internal)?;
    Ok(Preferences::from_columns(
        &rows.value::<String>(0, "push")?,
        &rows.value::<String>(0, "email")?,
        &rows.value::<String>(0, "sms")?,
        rows.value(0, "qs")?,
        rows.value(0, "qe")?,
        &rows.value::<String>(0, "time_zone")?,
        &types,
    ))
}

fn answer(prefs: &Preferences) -> Response {
    let available: Vec<Value> = TEMPLATES
        .iter()
        .filter(|t| t.recipient != Recipient::EventAddress)
        .map(|t| {
            json!({
                "type": t.event_type,
                "category": t.category.as_str(),
                "channels": t.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                "can_switch_off": t.category != Category::Critical,
            })
        })
        .collect();
    let mut body = prefs.to_json();
    body["available_types"] = Value::Array(available);
    json_response(200, &body)
}

/// `GET /notifications/preferences`.
pub fn get(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    Ok(answer(&load(&open_from_variables()?, ctx.user_id, false)?))
}

/// `PUT /notifications/preferences`.
pub fn put(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let doc: Value = nexgate_platform::body::json_body(req)?;
    let conn = open_from_variables()?;
    let user = P::Uuid(ctx.user_id.to_string());
    let prefs = transaction(&conn, |conn| -> Result<Preferences, Problem> {
        // Concurrent updates of different fields both land: the row is locked while merging.
        conn.execute(
            "INSERT INTO notifications.preferences (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
            std::slice::from_ref(&user),
        )?;
        let mut prefs = load(conn, ctx.user_id, true)?;
        prefs
            .apply(&doc)
            .map_err(|e| Problem::invalid_field(e.field, e.message))?;
        let (qs, qe) = match prefs.quiet_hours {
            Some(q) => (
                P::Int32(i32::from(q.start_minute)),
                P::Int32(i32::from(q.end_minute)),
            ),
            None => (P::DbNull, P::DbNull),
        };
        conn.execute(
            "UPDATE notifications.preferences SET push = $2, email = $3, sms = $4,
                 quiet_start_minute = $5::int, quiet_end_minute = $6::int, time_zone = $7,
                 types = $8::text::jsonb, updated_at = now()
             WHERE user_id = $1",
            &[
                user.clone(),
                P::Str(prefs.push.as_str().into()),
                P::Str(prefs.email.as_str().into()),
                P::Str(prefs.sms.as_str().into()),
                qs,
                qe,
                P::Str(prefs.time_zone.name().into()),
                P::Str(types_to_json(&prefs.types).to_string()),
            ],
        )?;
        Ok(prefs)
    })?;
    Ok(answer(&prefs))
}
