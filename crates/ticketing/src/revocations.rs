//! The revocation list (docs/ticketing.md, "The signed ticket"): `GET
//! /events/{id}/revocations?cursor=&limit=` gives the tickets of the event that no longer admit
//! (refunded, cancelled, transferred), oldest first, for offline scanners to download in full and
//! then since their last cursor. Anyone with a role on the event may read it; others get 404.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_response as json, query_string};
use nexgate_platform::db::{open_from_variables as db, query, ts, ts_as};
use nexgate_platform::ids::parse_id;
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

/// How far behind now a cursor stays: a revocation is stamped when its transaction runs and seen
/// when it commits, so a cursor never moves past a time a slower transaction could still commit
/// a revocation at. Revocations newer than this are sent again on the next call (harmless).
pub const CURSOR_LAG_SECS: i64 = 10;

/// `GET /events/{id}/revocations`: `{items: [{ticket_id, revoked_at, reason}], next_cursor}`;
/// `next_cursor` is also given on the last page, so a scanner asks again later from there. The
/// last page's never passes now − [`CURSOR_LAG_SECS`], so no revocation is skipped.
pub fn list(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 500, 2000)?;
    let conn = db()?;
    crate::roles::require(&conn, id, ctx.user_id, &[])?;
    let (after_at, after_id) = match &page.after {
        Some((at, t)) => (P::Str(at.as_str().to_string()), P::Uuid(t.to_string())),
        None => (P::DbNull, P::DbNull),
    };
    let rows = query(
        &conn,
        &format!(
            "SELECT id, revoked_reason, {} FROM events.tickets
             WHERE event_id = $1 AND state = 'revoked'
               AND ($2::text IS NULL OR (revoked_at, id) > ($2::text::timestamptz, $3::uuid))
             ORDER BY revoked_at, id LIMIT $4",
            ts("revoked_at")
        ),
        &[
            P::Uuid(id.to_string()),
            after_at,
            after_id,
            P::Int64(page.limit.into()),
        ],
    )?;
    let mut items: Vec<Value> = Vec::new();
    let mut last: Option<(String, Uuid)> = None;
    for i in 0..rows.len() {
        let (ticket, at): (Uuid, String) = (rows.value(i, "id")?, rows.value(i, "revoked_at")?);
        items.push(json!({
            "ticket_id": ticket,
            "revoked_at": at,
            "reason": rows.value::<Option<String>>(i, "revoked_reason")?,
        }));
        last = Some((at, ticket));
    }
    let position = last.or_else(|| {
        page.after
            .as_ref()
            .map(|(at, t)| (at.as_str().to_string(), *t))
    });
    // A full page is followed by the next; the last page's cursor is held at the horizon.
    let position = match position {
        Some(p) if rows.len() < page.limit as usize => Some(held_back(&conn, p)?),
        other => other,
    };
    let next = position.map(|p| encode_cursor(&p));
    Ok(json(200, &json!({ "items": items, "next_cursor": next })))
}

/// `position`, or the horizon (now − [`CURSOR_LAG_SECS`]) when `position` is later: the next call
/// then starts there and sends what came after it again.
fn held_back(
    conn: &spin_sdk::pg4::Connection,
    position: (String, Uuid),
) -> Result<(String, Uuid), Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT $1::text::timestamptz > now() - make_interval(secs => $2::int8::float8) AS recent, {}",
            ts_as("now() - make_interval(secs => $2::int8::float8)", "horizon")
        ),
        &[P::Str(position.0.clone()), P::Int64(CURSOR_LAG_SECS)],
    )?;
    Ok(if rows.value::<bool>(0, "recent")? {
        (rows.value(0, "horizon")?, Uuid::nil())
    } else {
        position
    })
}
