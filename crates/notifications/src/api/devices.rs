//! Push devices: `GET /notifications/devices`, `PUT /notifications/devices/{device_id}` with
//! `{"platform": "android"|"ios"|"web", "token": "..."}` (registers or replaces that device's
//! token; a token moves to the device that registers it last, except from another account still
//! signed in on the device holding it: 409 `push_token_in_use`), `DELETE` removes it. The notifier
//! drops a token the gateway reports dead.

use nexgate_authn::authenticate;
use nexgate_platform::body::json_response;
use nexgate_platform::db::{open_from_variables, query, transaction};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;

use nexgate_platform::db::ts;

/// Devices one user may register.
pub const DEVICES_PER_USER_MAX: i64 = 20;
const TOKEN_BYTES_MAX: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    platform: String,
    token: String,
}

fn device_id(raw: &str) -> Result<String, Problem> {
    let ok = (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Problem::invalid_field(
            "device_id",
            "must be 1-128 characters of letters, digits, '-', '_', '.', ':'",
        ))
    }
}

/// `GET /notifications/devices` (tokens are not echoed back).
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = open_from_variables()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT device_id, platform, {}, {} FROM notifications.push_devices WHERE user_id = $1 ORDER BY created_at",
            ts("created_at"),
            ts("updated_at")
        ),
        &[P::Uuid(ctx.user_id.to_string())],
    )?;
    let items = (0..rows.len())
        .map(|i| {
            Ok(json!({
                "device_id": rows.value::<String>(i, "device_id")?,
                "platform": rows.value::<String>(i, "platform")?,
                "created_at": rows.value::<String>(i, "created_at")?,
                "updated_at": rows.value::<String>(i, "updated_at")?,
            }))
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    Ok(json_response(200, &json!({ "items": items })))
}

/// `PUT /notifications/devices/{device_id}`: 201 when new, 200 when replaced.
pub fn register(req: &Request, raw_id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let device = device_id(raw_id)?;
    let reg: Registration = nexgate_platform::body::json_body(req)?;
    if !matches!(reg.platform.as_str(), "android" | "ios" | "web") {
        return Err(Problem::invalid_field(
            "platform",
            "must be android, ios or web",
        ));
    }
    let token = reg.token.trim();
    if token.is_empty() || token.len() > TOKEN_BYTES_MAX || token.chars().any(char::is_whitespace) {
        return Err(Problem::invalid_field(
            "token",
            format!("must be the push token the platform gave, at most {TOKEN_BYTES_MAX} bytes"),
        ));
    }
    let conn = open_from_variables()?;
    let user = P::Uuid(ctx.user_id.to_string());
    refuse_a_token_in_use(&conn, ctx.user_id, token)?;
    let created = transaction(&conn, |conn| -> Result<bool, Problem> {
        // Serialise one user's registrations so the device limit holds under concurrency.
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 7))",
            std::slice::from_ref(&user),
        )?;
        // A token belongs to the device that registered it last (a reinstalled app, the same
        // person's other device id, or a new owner once the old one's session there is gone).
        conn.execute(
            "DELETE FROM notifications.push_devices WHERE token = $1 AND NOT (user_id = $2 AND device_id = $3)",
            &[P::Str(token.into()), user.clone(), P::Str(device.clone())],
        )?;
        let rows = query(
            conn,
            "SELECT count(*) FILTER (WHERE device_id <> $2) AS others, count(*) FILTER (WHERE device_id = $2) AS mine
             FROM notifications.push_devices WHERE user_id = $1",
            &[user.clone(), P::Str(device.clone())],
        )?;
        let (others, mine): (i64, i64) = (rows.value(0, "others")?, rows.value(0, "mine")?);
        if mine == 0 && others >= DEVICES_PER_USER_MAX {
            return Err(Problem::conflict(
                "too_many_devices",
                format!("at most {DEVICES_PER_USER_MAX} devices; remove one first"),
            ));
        }
        conn.execute(
            "INSERT INTO notifications.push_devices (user_id, device_id, platform, token) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, device_id) DO UPDATE SET platform = EXCLUDED.platform, token = EXCLUDED.token, updated_at = now()",
            &[user.clone(), P::Str(device.clone()), P::Str(reg.platform.clone()), P::Str(token.into())],
        )?;
        Ok(mine == 0)
    })?;
    Ok(json_response(
        if created { 201 } else { 200 },
        &json!({ "device_id": device, "platform": reg.platform }),
    ))
}

/// 409 `push_token_in_use` when another account holds `token` on a device where it is still signed
/// in: a push token is not taken from someone silently (their notifications would go to the new
/// account's holder). Once that session is gone (signed out, expired, revoked), the token moves.
fn refuse_a_token_in_use(
    conn: &spin_sdk::pg4::Connection,
    user_id: uuid::Uuid,
    token: &str,
) -> Result<(), Problem> {
    let holders = query(
        conn,
        "SELECT user_id, device_id FROM notifications.push_devices WHERE token = $1 AND user_id <> $2",
        &[P::Str(token.into()), P::Uuid(user_id.to_string())],
    )?;
    if holders.is_empty() {
        return Ok(());
    }
    let sessions = nexgate_platform::db::open(
        &nexgate_platform::config::var("sessions_db_url").map_err(Problem::internal)?,
    )?;
    for i in 0..holders.len() {
        let holder: uuid::Uuid = holders.value(i, "user_id")?;
        let device: String = holders.value(i, "device_id")?;
        let live = query(
            &sessions,
            "SELECT 1 AS live FROM auth.live_sessions WHERE user_id = $1 AND device_id = $2 LIMIT 1",
            &[P::Uuid(holder.to_string()), P::Str(device)],
        )?;
        if !live.is_empty() {
            return Err(Problem::conflict(
                "push_token_in_use",
                "this push token belongs to another account still signed in on its device",
            )
            .with_detail("sign that account out on the device first"));
        }
    }
    Ok(())
}

/// `DELETE /notifications/devices/{device_id}`: 204; 404 when there is no such device.
pub fn remove(req: &Request, raw_id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let device = device_id(raw_id)?;
    let conn = open_from_variables()?;
    let n = conn.execute(
        "DELETE FROM notifications.push_devices WHERE user_id = $1 AND device_id = $2",
        &[P::Uuid(ctx.user_id.to_string()), P::Str(device)],
    )?;
    if n == 0 {
        return Err(Problem::not_found("no such device"));
    }
    Ok(Response::builder().status(204).body(Vec::new()).build())
}
