//! Organizer pages (docs/ticketing.md, "Organizer pages"): an organizer's first published event
//! links the page to their profile (profiles' `links.organizer_id`, the organizer's user id); `GET
//! /events/organizers/{id}/events` lists their published events as cards, upcoming first, then
//! past ones (not across a block).

use nexgate_authn::authenticate;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{query, ts};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Events an organizer page lists.
pub const PAGE_EVENTS_MAX: i64 = 100;

/// After a publish: links the organizer page to the profile when this is the organizer's first
/// published event. Best effort after the commit (the event stands either way); a failed link is
/// logged for an operator.
pub(crate) async fn link_first(conn: &Connection, organizer: Uuid) -> Result<(), Problem> {
    let published: i64 = query(
        conn,
        "SELECT count(*)::int8 AS n FROM events.events WHERE organizer_id = $1 AND status <> 'draft'",
        &[P::Uuid(organizer.to_string())],
    )?
    .value(0, "n")?;
    if published != 1 {
        return Ok(());
    }
    let linked = nexgate_platform::internal::call(
        "profiles",
        spin_sdk::http::Method::Put,
        &format!("/internal/profiles/users/{organizer}/links"),
        &json!({ "organizer_id": organizer }),
        None,
    )
    .await;
    if !matches!(linked, Ok((200, _))) {
        eprintln!("events: linking the organizer page of {organizer} failed: {linked:?}");
    }
    Ok(())
}

/// `GET /events/organizers/{id}/events`: `{items: [card]}` (upcoming first, soonest first; then
/// past ones, latest first).
pub fn page(req: &Request, organizer: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let organizer = parse_id("id", organizer)?;
    let conn = nexgate_platform::db::open_from_variables()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT c.event_id, c.title, c.cover_file_id, c.category, c.mode, c.venue_name, c.region, c.online_platform,
                    c.time_zone, c.currency, c.status, {}, {}, c.days, c.price_from, c.seats_left,
                    c.ticket_types::text AS ticket_types, c.ends_at > now() AS upcoming
             FROM events.event_cards c
             WHERE c.organizer_id = $1 AND c.status IN ('published', 'completed')
               AND NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $2 AND b.user_b = $1)
             ORDER BY c.ends_at > now() DESC,
                      CASE WHEN c.ends_at > now() THEN c.starts_at END ASC,
                      c.starts_at DESC
             LIMIT $3",
            ts("c.starts_at"),
            ts("c.ends_at")
        ),
        &[
            P::Uuid(organizer.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Int64(PAGE_EVENTS_MAX),
        ],
    )?;
    let items = (0..rows.len())
        .map(|i| {
            let s = |c: &str| rows.value::<Option<String>>(i, c);
            let types: Value = serde_json::from_str(&s("ticket_types")?.unwrap_or_default())
                .unwrap_or(Value::Null);
            Ok(json!({
                "id": rows.value::<Uuid>(i, "event_id")?,
                "title": s("title")?,
                "cover_file_id": rows.value::<Option<Uuid>>(i, "cover_file_id")?,
                "category": s("category")?, "mode": s("mode")?,
                "venue_name": s("venue_name")?, "region": s("region")?, "online_platform": s("online_platform")?,
                "time_zone": s("time_zone")?, "currency": s("currency")?, "status": s("status")?,
                "starts_at": s("starts_at")?, "ends_at": s("ends_at")?,
                "days": rows.value::<i32>(i, "days")?,
                "price_from": rows.value::<Option<i64>>(i, "price_from")?,
                "seats_left": rows.value::<i32>(i, "seats_left")?,
                "ticket_types": types,
                "upcoming": rows.value::<Option<bool>>(i, "upcoming")?.unwrap_or(false),
            }))
        })
        .collect::<Result<Vec<Value>, Problem>>()?;
    Ok(json(
        200,
        &json!({ "organizer_id": organizer, "items": items }),
    ))
}
