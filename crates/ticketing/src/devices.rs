//! Scanner machines and self check-in kiosks (docs/ticketing.md, "Devices"): registered to one
//! event by its owner or a manager (with a recent sign-in), each with its own credential shown
//! once (`nxd_` + 43 base64url characters, 256 random bits; only its SHA-256 is stored), limited to
//! that event and optionally a gate, expiring a day after the event's last day, revocable. A device
//! presents it as `Authorization: Device <credential>` to the check-in routes only: a scanner
//! checks tickets in (QR or manual code) and uploads offline scans; a kiosk checks in but cannot
//! list or look up anyone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Devices one event may have registered (revoked ones included).
pub const DEVICES_PER_EVENT_MAX: i64 = 100;

/// What a credential starts with (so a leaked one is recognisable in logs and scanners).
const PREFIX: &str = "nxd_";

/// A device that presented a valid credential for the event.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: Uuid,
    pub kiosk: bool,
    pub gate: Option<String>,
}

/// The credential in `Authorization: Device <credential>`, when the request carries one.
pub fn presented(req: &Request) -> Option<String> {
    let header = req.header("authorization")?.as_str()?;
    let (scheme, credential) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("device")
        .then(|| credential.trim().to_string())
}

/// The device `credential` names on `event`: 401 `invalid_device` for an unknown, revoked or
/// expired credential; 404 for a valid one of another event.
pub fn authenticate_device(
    conn: &Connection,
    event: Uuid,
    credential: &str,
) -> Result<Device, Problem> {
    let invalid = || {
        Problem::new(401, "invalid_device", "Device not recognised")
            .with_detail("the device credential is unknown, revoked or expired")
    };
    if !credential.starts_with(PREFIX) || credential.len() != PREFIX.len() + 43 {
        return Err(invalid());
    }
    let rows = query(
        conn,
        "UPDATE events.devices SET last_used_at = now()
         WHERE credential_sha256 = $1 AND revoked_at IS NULL AND expires_at > now()
         RETURNING id, event_id, kind, gate",
        &[P::Binary(Sha256::digest(credential.as_bytes()).to_vec())],
    )?;
    if rows.is_empty() {
        return Err(invalid());
    }
    if rows.value::<Uuid>(0, "event_id")? != event {
        return Err(Problem::not_found("no such event for this device"));
    }
    Ok(Device {
        id: rows.value(0, "id")?,
        kiosk: rows.value::<String>(0, "kind")? == "kiosk",
        gate: rows.value(0, "gate")?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDevice {
    name: String,
    kind: String,
    gate: Option<String>,
}

/// 404 unless `user` is the owner or a manager of `event`.
fn managed(conn: &Connection, event: Uuid, user: Uuid) -> Result<(), Problem> {
    crate::roles::require(conn, event, user, crate::roles::MANAGING).map(|_| ())
}

/// `POST /events/{id}/devices {name, kind: scanner|kiosk, gate?}`: 201 with the credential, shown
/// this once.
pub fn register(req: &Request, event: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let b: NewDevice = json_body(req)?;
    let name = b.name.trim();
    if !(1..=60).contains(&name.chars().count()) {
        return Err(Problem::invalid_field("name", "must be 1 to 60 characters"));
    }
    if !matches!(b.kind.as_str(), "scanner" | "kiosk") {
        return Err(Problem::invalid_field("kind", "must be scanner or kiosk"));
    }
    let gate = b.gate.as_deref().map(str::trim);
    if gate.is_some_and(|g| !(1..=40).contains(&g.chars().count())) {
        return Err(Problem::invalid_field("gate", "must be 1 to 40 characters"));
    }
    let conn = db()?;
    managed(&conn, event, ctx.user_id)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| Problem::internal(format!("randomness: {e}")))?;
    let credential = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let id = new_id();
    let rows = query(
        &conn,
        &format!(
            "INSERT INTO events.devices (id, event_id, kind, name, gate, credential_sha256, created_by, expires_at)
             SELECT $1, e.id, $3, $4, $5, $6, $7,
                    (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id) + interval '1 day'
             FROM events.events e WHERE e.id = $2 AND e.status = 'published'
               AND (SELECT count(*) FROM events.devices d WHERE d.event_id = e.id) < $8
             RETURNING {}",
            ts("expires_at")
        ),
        &[
            P::Uuid(id.to_string()),
            P::Uuid(event.to_string()),
            P::Str(b.kind.clone()),
            P::Str(name.to_string()),
            gate.map(|g| P::Str(g.to_string())).unwrap_or(P::DbNull),
            P::Binary(Sha256::digest(credential.as_bytes()).to_vec()),
            P::Uuid(ctx.user_id.to_string()),
            P::Int64(DEVICES_PER_EVENT_MAX),
        ],
    )?;
    if rows.is_empty() {
        return Err(Problem::conflict(
            "devices_unavailable",
            format!(
                "devices are registered to published events, at most {DEVICES_PER_EVENT_MAX} each"
            ),
        ));
    }
    Ok(json(
        201,
        &json!({
            "id": id, "name": name, "kind": b.kind, "gate": gate,
            "expires_at": rows.value::<String>(0, "expires_at")?,
            "credential": credential,
        }),
    ))
}

/// `GET /events/{id}/devices` (owner or manager): never the credentials.
pub fn list(req: &Request, event: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let conn = db()?;
    managed(&conn, event, ctx.user_id)?;
    let rows = query(
        &conn,
        &format!(
            "SELECT id, kind, name, gate, {}, {}, {}, {} FROM events.devices WHERE event_id = $1
             ORDER BY created_at, id",
            ts("created_at"),
            ts("expires_at"),
            ts("revoked_at"),
            ts("last_used_at")
        ),
        &[P::Uuid(event.to_string())],
    )?;
    let items = (0..rows.len())
        .map(|i| {
            let s = |c: &str| rows.value::<Option<String>>(i, c);
            Ok(json!({
                "id": rows.value::<Uuid>(i, "id")?,
                "kind": s("kind")?, "name": s("name")?, "gate": s("gate")?,
                "created_at": s("created_at")?, "expires_at": s("expires_at")?,
                "revoked_at": s("revoked_at")?, "last_used_at": s("last_used_at")?,
            }))
        })
        .collect::<Result<Vec<Value>, Problem>>()?;
    Ok(json(200, &json!({ "items": items })))
}

/// `DELETE /events/{id}/devices/{device_id}` (owner or manager, recently signed in): 204; the
/// credential stops working at once.
pub fn revoke(req: &Request, event: &str, device: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let device = parse_id("device_id", device)?;
    let conn = db()?;
    managed(&conn, event, ctx.user_id)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let rows = query(
        &conn,
        "UPDATE events.devices SET revoked_at = coalesce(revoked_at, now())
         WHERE id = $1 AND event_id = $2 RETURNING id",
        &[P::Uuid(device.to_string()), P::Uuid(event.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such device on this event"));
    }
    Ok(Response::builder().status(204).build())
}
