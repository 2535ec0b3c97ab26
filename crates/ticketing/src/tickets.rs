//! A holder's tickets (docs/ticketing.md): `GET /events/tickets/{id}` answers the ticket with its
//! QR text (signed now if a crash left it unsigned) and its manual code, to its holder only, and
//! `GET /events/tickets/{id}/qr.svg` and `/qr.png` the QR image (error correction M); `GET
//! /events/keys` publishes the public keys (JWKS) scanner apps verify tickets with offline.

use nexgate_authn::authenticate;
use nexgate_platform::body::json_response as json;
use nexgate_platform::config::var;
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// `GET /events/tickets/{id}` (its holder).
pub async fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    Ok(json(200, &load_signed(&conn, id, ctx.user_id).await?))
}

/// The holder's ticket, signed first if it is valid and a crash (or a reschedule) left it
/// unsigned; 404 for anyone else's.
async fn load_signed(conn: &Connection, id: Uuid, holder: Uuid) -> Result<Value, Problem> {
    let ticket =
        load(conn, id, holder)?.ok_or_else(|| Problem::not_found("no such ticket of yours"))?;
    if !(ticket["qr"].is_null() && ticket["state"] == "valid") {
        return Ok(ticket);
    }
    crate::signing::sign(&[id]).await?;
    load(conn, id, holder)?.ok_or_else(|| Problem::not_found("no such ticket of yours"))
}

fn load(conn: &Connection, id: Uuid, holder: Uuid) -> Result<Option<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT t.id, t.event_id, t.ticket_type_id, tt.name AS type_name, t.attendee_name, t.code, t.state, t.qr,
                    t.key_id, {}, e.mode, e.online_platform, e.online_url
             FROM events.tickets t JOIN events.ticket_types tt ON tt.id = t.ticket_type_id
             JOIN events.events e ON e.id = t.event_id
             WHERE t.id = $1 AND t.holder_id = $2",
            ts("t.issued_at")
        ),
        &[P::Uuid(id.to_string()), P::Uuid(holder.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let s = |c: &str| rows.value::<Option<String>>(0, c);
    Ok(Some(json!({
        "id": id,
        "event_id": rows.value::<Uuid>(0, "event_id")?,
        "ticket_type": {"id": rows.value::<Uuid>(0, "ticket_type_id")?, "name": s("type_name")?},
        "attendee_name": s("attendee_name")?,
        "code": s("code")?.map(|c| crate::codes::display(&c)),
        "state": s("state")?,
        "qr": s("qr")?,
        "key_id": s("key_id")?,
        "issued_at": s("issued_at")?,
        // An online event's access, to holders of a valid ticket only (never in an event).
        "online": (s("mode")?.as_deref() == Some("online") && s("state")?.as_deref() == Some("valid"))
            .then(|| Ok::<_, Problem>(json!({"platform": s("online_platform")?, "url": s("online_url")?})))
            .transpose()?,
    })))
}

/// Pixels per QR module in the PNG, and the quiet zone around the code in modules.
const PNG_MODULE_PX: usize = 8;
const QUIET_ZONE_MODULES: usize = 4;

/// `GET /events/tickets/{id}/qr.svg` or `/qr.png` (its holder; a valid ticket only): the QR image
/// of the signed ticket, never cached.
pub async fn image(req: &Request, id: &str, png: bool) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let ticket = load_signed(&conn, id, ctx.user_id).await?;
    if ticket["state"] != "valid" {
        return Err(Problem::conflict(
            "ticket_not_valid",
            "only a valid ticket has a QR code",
        ));
    }
    let text = ticket["qr"].as_str().unwrap_or_default();
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Problem::internal(format!("QR code: {e}")))?;
    let (content_type, body) = if png {
        ("image/png", png_of(&code)?)
    } else {
        let svg = code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(320, 320)
            .quiet_zone(true)
            .build();
        ("image/svg+xml", svg.into_bytes())
    };
    Ok(Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "private, no-store")
        .body(body)
        .build())
}

/// The code as an 8-bit grayscale PNG, [`PNG_MODULE_PX`] pixels a module, with its quiet zone.
fn png_of(code: &qrcode::QrCode) -> Result<Vec<u8>, Problem> {
    let modules = code.width();
    let side = (modules + 2 * QUIET_ZONE_MODULES) * PNG_MODULE_PX;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in code.to_colors().into_iter().enumerate() {
        if color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (
            i % modules + QUIET_ZONE_MODULES,
            i / modules + QUIET_ZONE_MODULES,
        );
        for row in y * PNG_MODULE_PX..(y + 1) * PNG_MODULE_PX {
            pixels[row * side + x * PNG_MODULE_PX..row * side + (x + 1) * PNG_MODULE_PX].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let failed = |e: png::EncodingError| Problem::internal(format!("PNG: {e}"));
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&pixels).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}

/// `GET /events/keys` (no sign-in): the JWKS of the ticket signing keys.
pub fn keys() -> Result<Response, Problem> {
    let jwks: Value = serde_json::from_str(&var("ticket_public_keys").map_err(Problem::internal)?)
        .map_err(|e| Problem::internal(format!("ticket_public_keys: {e}")))?;
    Ok(json(200, &jwks))
}
