//! Editing a published event (docs/ticketing.md, "Editing a published event"): `PATCH
//! /events/{id}/details {title?, description?, capacity?}` (never below the seats sold) and
//! `POST /events/{id}/reschedule {days}` (the same number of days; a recent sign-in once tickets
//! were sold). Moving the dates re-signs every valid ticket (their QR carries the validity: each is
//! signed again at its next fetch) and tells holders with `events.event.rescheduled`, which moves
//! their pending reminders.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::events::EventRescheduled;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, ts_as};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::Value;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::checks::{schedule, DayTimes};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Details {
    title: Option<String>,
    description: Option<String>,
    capacity: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reschedule {
    days: Vec<DayTimes>,
}

/// The owner's published, not yet ended event: (valid tickets, seats sold, first start).
fn published_of(conn: &Connection, id: Uuid, owner: Uuid) -> Result<(i64, i32, String), Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT e.sold, (SELECT count(*) FROM events.tickets t WHERE t.event_id = e.id AND t.state = 'valid')::int8 AS holders,
                    (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id) < now() AS ended,
                    (SELECT {} FROM events.event_days d WHERE d.event_id = e.id ORDER BY d.day LIMIT 1) AS starts_at
             FROM events.events e WHERE e.id = $1 AND e.organizer_id = $2 AND e.status = 'published' FOR UPDATE OF e",
            ts_as("d.starts_at", "starts_at")
        ),
        &[P::Uuid(id.to_string()), P::Uuid(owner.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such published event of yours"));
    }
    if rows.value::<Option<bool>>(0, "ended")?.unwrap_or(false) {
        return Err(Problem::conflict(
            "event_ended",
            "an event that has ended cannot be edited",
        ));
    }
    Ok((
        rows.value(0, "holders")?,
        rows.value(0, "sold")?,
        rows.value::<Option<String>>(0, "starts_at")?
            .unwrap_or_default(),
    ))
}

/// `PATCH /events/{id}/details`: 200 with the event.
pub fn edit(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let d: Details = json_body(req)?;
    if let Some(t) = &d.title {
        if !(3..=120).contains(&t.trim().chars().count()) {
            return Err(Problem::invalid_field(
                "title",
                "must be 3 to 120 characters",
            ));
        }
    }
    if d.description
        .as_ref()
        .is_some_and(|t| t.chars().count() > 5000)
    {
        return Err(Problem::invalid_field(
            "description",
            "must be at most 5000 characters",
        ));
    }
    let conn = db()?;
    nexgate_platform::db::transaction(&conn, |conn| {
        let (_, sold, _) = published_of(conn, id, ctx.user_id)?;
        if let Some(c) = d.capacity {
            if c < sold.max(1) {
                return Err(Problem::invalid_field(
                    "capacity",
                    format!("cannot be below the {sold} seats already sold"),
                ));
            }
        }
        conn.execute(
            "UPDATE events.events SET title = coalesce($2, title), description = coalesce($3, description),
                    capacity = coalesce($4, capacity), updated_at = now() WHERE id = $1",
            &[
                P::Uuid(id.to_string()),
                d.title.as_ref().map(|t| P::Str(t.trim().to_string())).unwrap_or(P::DbNull),
                d.description.clone().map(P::Str).unwrap_or(P::DbNull),
                d.capacity.map(P::Int32).unwrap_or(P::DbNull),
            ],
        )?;
        Ok(())
    })?;
    view(&conn, id, ctx.user_id)
}

/// `POST /events/{id}/reschedule {days}`: 200 with the event.
pub fn reschedule(req: &Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let r: Reschedule = json_body(req)?;
    let days = schedule(&r.days, nexgate_platform::time::now_unix().0)?;
    let conn = db()?;
    let count: i64 = query(
        &conn,
        "SELECT count(*)::int8 AS n FROM events.event_days WHERE event_id = $1",
        &[P::Uuid(id.to_string())],
    )?
    .value(0, "n")?;
    if count != days.len() as i64 {
        return Err(Problem::invalid_field(
            "days",
            format!("give the event's {count} days (its ticket types name them)"),
        ));
    }
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let (holders, sold, previous) = published_of(conn, id, ctx.user_id)?;
        if sold > 0 {
            ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
        }
        crate::drafts::write_days(conn, id, &days)?;
        conn.execute(
            "UPDATE events.events SET rescheduled_at = now(), updated_at = now() WHERE id = $1",
            &[P::Uuid(id.to_string())],
        )?;
        // The QR carries the validity window: sign every valid ticket again at its next fetch.
        conn.execute(
            "UPDATE events.tickets SET qr = NULL, key_id = NULL, signed_at = NULL WHERE event_id = $1 AND state = 'valid'",
            &[P::Uuid(id.to_string())],
        )?;
        if holders == 0 {
            return Ok(());
        }
        let audience: Vec<Uuid> = query(
            conn,
            "SELECT DISTINCT holder_id FROM events.tickets WHERE event_id = $1 AND state = 'valid'",
            &[P::Uuid(id.to_string())],
        )?
        .column("holder_id")?;
        events.record(
            conn,
            Some(ctx.user_id),
            ("event", id.to_string()),
            audience,
            &EventRescheduled {
                event_id: id,
                organizer_id: ctx.user_id,
                starts_at: nexgate_platform::time::rfc3339(days[0].0, 0),
                previous_starts_at: previous,
            },
        )
    })?;
    view(&conn, id, ctx.user_id)
}

fn view(conn: &Connection, id: Uuid, owner: Uuid) -> Result<Response, Problem> {
    Ok(json(
        200,
        &crate::drafts::view(conn, id, Some(owner))?.unwrap_or(Value::Null),
    ))
}
