//! Events written step by step (docs/ticketing.md, "Events and drafts"): `POST /events` opens the
//! organizer's one draft, `PATCH /events/{id}` fills a step (each field checked on its own), `POST
//! /events/{id}/publish` checks every step again, `DELETE /events/{id}` discards a draft. Every
//! read and write names the organizer in its SQL, so another's draft is a 404.

use nexgate_authn::authenticate;
use nexgate_platform::attachments::{self, Attachment};
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{constraint, open_from_variables as db, query, transaction, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::checks::{self, DayTimes};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Changes {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub mode: Option<String>,
    pub venue_name: Option<String>,
    pub address: Option<String>,
    pub region: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub online_platform: Option<String>,
    pub online_url: Option<String>,
    pub time_zone: Option<String>,
    pub currency: Option<String>,
    pub capacity: Option<i32>,
    pub days: Option<Vec<DayTimes>>,
    /// A file of the organizer's with purpose `event` (`PATCH` only; `null` is not accepted:
    /// replace it with another).
    pub cover_file_id: Option<String>,
}

/// `POST /events` (any fields of the first steps): 201 with the new draft; 409 `draft_open`
/// while the organizer has one.
pub fn create(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let changes: Changes = if req.body().is_empty() {
        Changes::default()
    } else {
        json_body(req)?
    };
    if changes.cover_file_id.is_some() {
        return Err(Problem::invalid_field(
            "cover_file_id",
            "set the cover with PATCH /events/{id} once the draft exists",
        ));
    }
    let days = checks::changes(&changes, nexgate_platform::time::now_unix().0)?;
    let conn = db()?;
    if let Some(open) = open_draft(&conn, ctx.user_id)? {
        return Err(draft_open(Some(open)));
    }
    let id = new_id();
    transaction(&conn, |conn| {
        conn.execute(
            "INSERT INTO events.events (id, organizer_id) VALUES ($1, $2)",
            &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
        )
        .map_err(|e| match constraint(&e) {
            // Opened by a parallel request since the check above.
            Some("events_one_draft") => draft_open(None),
            _ => Problem::from(e),
        })?;
        conn.execute(
            "INSERT INTO events.event_roles (event_id, user_id, role, added_by) VALUES ($1, $2, 'owner', $2)",
            &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
        )?;
        store(conn, id, &changes, days.as_deref())
    })?;
    Ok(json(
        201,
        &view(&conn, id, Some(ctx.user_id))?.unwrap_or(Value::Null),
    ))
}

/// The organizer's open draft, if any.
fn open_draft(conn: &Connection, organizer: Uuid) -> Result<Option<Uuid>, Problem> {
    let rows = query(
        conn,
        "SELECT id FROM events.events WHERE organizer_id = $1 AND status = 'draft'",
        &[P::Uuid(organizer.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.value(0, "id")?))
}

/// 409 naming the organizer's open draft.
fn draft_open(open: Option<Uuid>) -> Problem {
    Problem::conflict(
        "draft_open",
        match open {
            Some(id) => {
                format!("you have a draft open already ({id}): publish or discard it first")
            }
            None => "you have a draft open already: publish or discard it first".to_string(),
        },
    )
}

/// `PATCH /events/{id}`: one step of the organizer's draft.
pub async fn patch(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let changes: Changes = json_body(req)?;
    let days = checks::changes(&changes, nexgate_platform::time::now_unix().0)?;
    let conn = db()?;
    let cover = match &changes.cover_file_id {
        Some(file) => {
            let file = parse_id("cover_file_id", file)?;
            transaction(&conn, |conn| draft_of(conn, id, ctx.user_id))?;
            let attachment = Attachment {
                service: crate::SCHEMA,
                owner: ctx.user_id,
                object: ("event", id),
                file,
                purpose: "event",
            };
            attachments::attach(&attachment, "cover_file_id").await?;
            Some(file)
        }
        None => None,
    };
    let replaced = transaction(&conn, |conn| {
        draft_of(conn, id, ctx.user_id)?;
        store(conn, id, &changes, days.as_deref())?;
        set_cover(conn, id, cover)
    })?;
    if let Some(old) = replaced {
        attachments::detach(crate::SCHEMA, ("event", id), old).await?;
    }
    Ok(json(
        200,
        &view(&conn, id, Some(ctx.user_id))?.unwrap_or(Value::Null),
    ))
}

/// Sets the cover (when `cover` is given); answers the cover it replaced.
fn set_cover(conn: &Connection, id: Uuid, cover: Option<Uuid>) -> Result<Option<Uuid>, Problem> {
    let Some(cover) = cover else { return Ok(None) };
    let old: Option<Uuid> = query(
        conn,
        "SELECT cover_file_id FROM events.events WHERE id = $1",
        &[P::Uuid(id.to_string())],
    )?
    .value(0, "cover_file_id")?;
    conn.execute(
        "UPDATE events.events SET cover_file_id = $2 WHERE id = $1",
        &[P::Uuid(id.to_string()), P::Uuid(cover.to_string())],
    )?;
    Ok(old.filter(|o| *o != cover))
}

/// Locks the draft `id` of `organizer`: 404 when there is none, 409 once published.
pub(crate) fn draft_of(conn: &Connection, id: Uuid, organizer: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT status FROM events.events WHERE id = $1 AND organizer_id = $2 FOR UPDATE",
        &[P::Uuid(id.to_string()), P::Uuid(organizer.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such event of yours"));
    }
    if rows.value::<String>(0, "status")? != "draft" {
        return Err(Problem::conflict(
            "not_a_draft",
            "the event is published: its steps are no longer edited as a draft",
        ));
    }
    Ok(())
}

/// Writes the given fields (absent ones stay) and, when given, the days.
fn store(
    conn: &Connection,
    id: Uuid,
    c: &Changes,
    days: Option<&[(i64, i64)]>,
) -> Result<(), Problem> {
    let text = |v: &Option<String>| {
        v.as_ref()
            .map(|s| P::Str(s.trim().to_string()))
            .unwrap_or(P::DbNull)
    };
    conn.execute(
        "UPDATE events.events SET title = coalesce($2, title), description = coalesce($3, description),
             category = coalesce($4, category), mode = coalesce($5, mode), venue_name = coalesce($6, venue_name),
             address = coalesce($7, address), region = coalesce($8, region), lat = coalesce($9, lat),
             lng = coalesce($10, lng), online_platform = coalesce($11, online_platform),
             online_url = coalesce($12, online_url), time_zone = coalesce($13, time_zone),
             currency = coalesce($14, currency), capacity = coalesce($15, capacity), updated_at = now()
         WHERE id = $1",
        &[
            P::Uuid(id.to_string()),
            text(&c.title),
            text(&c.description),
            text(&c.category),
            text(&c.mode),
            text(&c.venue_name),
            text(&c.address),
            text(&c.region),
            c.lat.map(P::Floating64).unwrap_or(P::DbNull),
            c.lng.map(P::Floating64).unwrap_or(P::DbNull),
            text(&c.online_platform),
            text(&c.online_url),
            text(&c.time_zone),
            text(&c.currency),
            c.capacity.map(P::Int32).unwrap_or(P::DbNull),
        ],
    )
    .map_err(|e| match constraint(&e) {
        Some("events_category_fkey") => Problem::invalid_field("category", "is not a category (GET /events/categories)"),
        _ => Problem::from(e),
    })?;
    if let Some(days) = days {
        write_days(conn, id, days)?;
    }
    Ok(())
}

/// Replaces the event's schedule with `days` (Unix seconds), numbered from 1.
pub(crate) fn write_days(conn: &Connection, id: Uuid, days: &[(i64, i64)]) -> Result<(), Problem> {
    conn.execute(
        "DELETE FROM events.event_days WHERE event_id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    for (i, (start, end)) in days.iter().enumerate() {
        conn.execute(
            "INSERT INTO events.event_days (event_id, day, starts_at, ends_at)
             VALUES ($1, $2, to_timestamp($3::bigint), to_timestamp($4::bigint))",
            &[
                P::Uuid(id.to_string()),
                P::Int16(i as i16 + 1),
                P::Int64(*start),
                P::Int64(*end),
            ],
        )?;
    }
    Ok(())
}

/// `DELETE /events/{id}`: the organizer discards their draft (a published event is cancelled
/// instead, which is not built yet).
pub fn discard(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    transaction(&conn, |conn| {
        draft_of(conn, id, ctx.user_id)?;
        conn.execute(
            "DELETE FROM events.events WHERE id = $1",
            &[P::Uuid(id.to_string())],
        )?;
        Ok::<_, Problem>(())
    })?;
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

/// `POST /events/{id}/publish`: every step checked again (422 naming the step and field), then
/// the event is public.
pub async fn publish(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    transaction(&conn, |conn| {
        draft_of(conn, id, ctx.user_id)?;
        let event = view(conn, id, Some(ctx.user_id))?
            .ok_or_else(|| Problem::not_found("no such event of yours"))?;
        checks::ready_to_publish(&event, nexgate_platform::time::now_unix().0)?;
        conn.execute(
            "UPDATE events.events SET status = 'published', published_at = now(), updated_at = now() WHERE id = $1",
            &[P::Uuid(id.to_string())],
        )?;
        Ok::<_, Problem>(())
    })?;
    crate::organizers::link_first(&conn, ctx.user_id).await?;
    Ok(json(
        200,
        &view(&conn, id, Some(ctx.user_id))?.unwrap_or(Value::Null),
    ))
}

/// `GET /events/{id}`: a published event for anyone signed in (not across a block); a draft only
/// for its organizer. Each viewer counts once a day for the organizer's analytics.
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let event =
        view(&conn, id, Some(ctx.user_id))?.ok_or_else(|| Problem::not_found("no such event"))?;
    crate::analytics::count_view(&conn, id, ctx.user_id)?;
    Ok(json(200, &event))
}

/// The event as `viewer` may see it (`None` when they may not): the online link only for its
/// organizer.
pub(crate) fn view(
    conn: &Connection,
    id: Uuid,
    viewer: Option<Uuid>,
) -> Result<Option<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT e.id, e.organizer_id, e.status, e.title, e.description, e.category, e.mode, e.venue_name, e.cover_file_id,
                    e.address, e.region, e.lat, e.lng, e.online_platform, e.online_url, e.time_zone, e.currency,
                    e.capacity, {}, {}
             FROM events.events e
             WHERE e.id = $1 AND (e.organizer_id = $2 OR (e.status <> 'draft' AND NOT EXISTS (
                 SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $2 AND b.user_b = e.organizer_id)))",
            ts("e.created_at"),
            ts("e.published_at")
        ),
        &[P::Uuid(id.to_string()), viewer.map(|v| P::Uuid(v.to_string())).unwrap_or(P::DbNull)],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let organizer: Uuid = rows.value(0, "organizer_id")?;
    let s = |c: &str| rows.value::<Option<String>>(0, c);
    let f = |c: &str| rows.value::<Option<f64>>(0, c);
    let mine = viewer == Some(organizer);
    Ok(Some(json!({
        "id": id,
        "organizer_id": organizer,
        "status": s("status")?,
        "title": s("title")?,
        "description": s("description")?,
        "cover_file_id": rows.value::<Option<Uuid>>(0, "cover_file_id")?,
        "category": s("category")?,
        "mode": s("mode")?,
        "venue": {"name": s("venue_name")?, "address": s("address")?, "region": s("region")?, "lat": f("lat")?, "lng": f("lng")?},
        "online": {"platform": s("online_platform")?, "url": if mine { s("online_url")? } else { None }},
        "time_zone": s("time_zone")?,
        "currency": s("currency")?,
        "capacity": rows.value::<Option<i32>>(0, "capacity")?,
        "days": days_of(conn, id)?,
        "ticket_types": crate::ticket_types::of_event(conn, id)?,
        "created_at": s("created_at")?,
        "published_at": s("published_at")?,
    })))
}

/// The event's days, in order, with Unix seconds for the checks beside the API's times.
fn days_of(conn: &Connection, id: Uuid) -> Result<Vec<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT d.day, {}, {}, extract(epoch FROM d.starts_at)::bigint AS starts_unix,
                    extract(epoch FROM d.ends_at)::bigint AS ends_unix,
                    to_char(d.starts_at AT TIME ZONE e.time_zone, 'YYYY-MM-DD\"T\"HH24:MI') AS starts_local,
                    to_char(d.ends_at AT TIME ZONE e.time_zone, 'YYYY-MM-DD\"T\"HH24:MI') AS ends_local
             FROM events.event_days d JOIN events.events e ON e.id = d.event_id
             WHERE d.event_id = $1 ORDER BY d.day",
            ts("d.starts_at"),
            ts("d.ends_at")
        ),
        &[P::Uuid(id.to_string())],
    )?;
    (0..rows.len())
        .map(|i| {
            Ok(json!({
                "day": rows.value::<i16>(i, "day")?,
                // Wall-clock times in the event's time zone, as attendees read them.
                "starts_local": rows.value::<String>(i, "starts_local")?,
                "ends_local": rows.value::<String>(i, "ends_local")?,
                "starts_at": rows.value::<String>(i, "starts_at")?,
                "ends_at": rows.value::<String>(i, "ends_at")?,
                "starts_unix": rows.value::<i64>(i, "starts_unix")?,
                "ends_unix": rows.value::<i64>(i, "ends_unix")?,
            }))
        })
        .collect()
}

/// `GET /events/categories`: the fixed category list (slug and name).
pub fn categories(req: &Request) -> Result<Response, Problem> {
    authenticate(req)?;
    let conn = db()?;
    let rows = query(
        &conn,
        "SELECT slug, name FROM events.categories ORDER BY name",
        &[],
    )?;
    let items = (0..rows.len())
        .map(|i| Ok(json!({ "slug": rows.value::<String>(i, "slug")?, "name": rows.value::<String>(i, "name")? })))
        .collect::<Result<Vec<Value>, Problem>>()?;
    Ok(json(200, &json!({ "items": items })))
}
