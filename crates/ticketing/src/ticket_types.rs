//! Ticket types (docs/ticketing.md, "Ticket types and quotas"): free, paid, VIP (paid with perks)
//! and early bird (a paid type bounded by its sales end or its quantity), each with its price in
//! whole shillings, quantity, sales window, order limits, the days it admits and a quota of seats
//! it may share with other types. Added to and removed from the organizer's draft; availability
//! is computed when read.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, transaction, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::checks::{instant, TICKET_TYPES_MAX};
use crate::drafts::{draft_of, view};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewType {
    name: String,
    kind: String,
    #[serde(default)]
    price: i64,
    #[serde(default)]
    perks: String,
    quantity: i32,
    sales_start: Option<String>,
    sales_end: Option<String>,
    #[serde(default = "one")]
    min_per_order: i32,
    #[serde(default = "ten")]
    max_per_order: i32,
    days: Option<Vec<i16>>,
    /// Seats shared with other types of the event (pretix's quotas), by name: the first type
    /// naming it makes it with `capacity`, later ones join it (with the same capacity).
    quota: Option<QuotaRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaRef {
    name: String,
    capacity: i32,
}

fn one() -> i32 {
    1
}

fn ten() -> i32 {
    10
}

/// Checks a new type: (sales start, sales end) in Unix seconds.
fn check(t: &NewType) -> Result<(Option<i64>, Option<i64>), Problem> {
    if !(1..=60).contains(&t.name.trim().chars().count()) {
        return Err(Problem::invalid_field("name", "must be 1 to 60 characters"));
    }
    let paid = match t.kind.as_str() {
        "free" => false,
        "paid" | "vip" | "early_bird" => true,
        _ => {
            return Err(Problem::invalid_field(
                "kind",
                "must be free, paid, vip or early_bird",
            ))
        }
    };
    if !paid && t.price != 0 {
        return Err(Problem::invalid_field(
            "price",
            "must be 0 for a free ticket",
        ));
    }
    if paid && (t.price <= 0 || t.price % 100 != 0 || t.price > 100_000_000) {
        return Err(Problem::invalid_field(
            "price",
            "must be whole shillings above 0 (minor units, a multiple of 100) for a paid ticket",
        ));
    }
    if t.perks.chars().count() > 500 {
        return Err(Problem::invalid_field(
            "perks",
            "must be at most 500 characters",
        ));
    }
    if !(1..=1_000_000).contains(&t.quantity) {
        return Err(Problem::invalid_field("quantity", "must be 1 to 1000000"));
    }
    if !(1..=50).contains(&t.min_per_order) || !(t.min_per_order..=50).contains(&t.max_per_order) {
        return Err(Problem::invalid_field(
            "max_per_order",
            "1 <= min_per_order <= max_per_order <= 50",
        ));
    }
    let start = t
        .sales_start
        .as_deref()
        .map(|s| instant("sales_start", s))
        .transpose()?;
    let end = t
        .sales_end
        .as_deref()
        .map(|s| instant("sales_end", s))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(Problem::invalid_field(
                "sales_end",
                "must be after sales_start",
            ));
        }
    }
    if t.kind == "early_bird" && end.is_none() {
        return Err(Problem::invalid_field(
            "sales_end",
            "an early-bird ticket needs the date it stops",
        ));
    }
    if let Some(days) = &t.days {
        let mut seen = days.clone();
        seen.sort_unstable();
        seen.dedup();
        if days.is_empty() || seen.len() != days.len() || days.iter().any(|d| !(1..=30).contains(d))
        {
            return Err(Problem::invalid_field(
                "days",
                "must list distinct days from 1 to 30 (or be absent: every day)",
            ));
        }
    }
    if let Some(q) = &t.quota {
        if !(1..=60).contains(&q.name.trim().chars().count()) {
            return Err(Problem::invalid_field(
                "quota.name",
                "must be 1 to 60 characters",
            ));
        }
        if !(1..=1_000_000).contains(&q.capacity) {
            return Err(Problem::invalid_field(
                "quota.capacity",
                "must be 1 to 1000000",
            ));
        }
    }
    Ok((start, end))
}

/// The quota named `q` on `event` (made on first use); 422 when its capacity differs.
fn quota_of(conn: &Connection, event: Uuid, q: &QuotaRef) -> Result<Uuid, Problem> {
    let name = q.name.trim().to_string();
    let found = query(
        conn,
        "SELECT id, capacity FROM events.quotas WHERE event_id = $1 AND name = $2",
        &[P::Uuid(event.to_string()), P::Str(name.clone())],
    )?;
    if !found.is_empty() {
        let capacity: i32 = found.value(0, "capacity")?;
        if capacity != q.capacity {
            return Err(Problem::invalid_field(
                "quota.capacity",
                format!("the quota {name} holds {capacity} seats"),
            ));
        }
        return found.value(0, "id");
    }
    let id = new_id();
    conn.execute(
        "INSERT INTO events.quotas (id, event_id, name, capacity) VALUES ($1, $2, $3, $4)",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(event.to_string()),
            P::Str(name),
            P::Int32(q.capacity),
        ],
    )?;
    Ok(id)
}

/// `POST /events/{id}/ticket-types`: 201 with the event.
pub fn add(req: &Request, event: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let t: NewType = json_body(req)?;
    let (start, end) = check(&t)?;
    let conn = db()?;
    transaction(&conn, |conn| {
        draft_of(conn, event, ctx.user_id)?;
        let count: i64 = query(
            conn,
            "SELECT count(*) AS n FROM events.ticket_types WHERE event_id = $1",
            &[P::Uuid(event.to_string())],
        )?
        .value(0, "n")?;
        if count >= TICKET_TYPES_MAX {
            return Err(Problem::conflict(
                "too_many_ticket_types",
                format!("an event has at most {TICKET_TYPES_MAX} ticket types"),
            ));
        }
        let at = |v: Option<i64>| v.map(P::Int64).unwrap_or(P::DbNull);
        let quota = t
            .quota
            .as_ref()
            .map(|q| quota_of(conn, event, q))
            .transpose()?;
        conn.execute(
            "INSERT INTO events.ticket_types (id, event_id, position, name, kind, price, perks, quantity,
                 sales_start, sales_end, min_per_order, max_per_order, days, quota_id)
             SELECT $1, $2, coalesce(max(position), 0) + 1, $3, $4, $5, $6, $7, to_timestamp($8::bigint),
                    to_timestamp($9::bigint), $10, $11, $12::int4[]::int2[], $13::text::uuid
             FROM events.ticket_types WHERE event_id = $2",
            &[
                P::Uuid(new_id().to_string()),
                P::Uuid(event.to_string()),
                P::Str(t.name.trim().to_string()),
                P::Str(t.kind.clone()),
                P::Int64(t.price),
                P::Str(t.perks.trim().to_string()),
                P::Int32(t.quantity),
                at(start),
                at(end),
                P::Int32(t.min_per_order),
                P::Int32(t.max_per_order),
                t.days
                    .as_ref()
                    .map(|d| P::ArrayInt32(d.iter().map(|v| Some(*v as i32)).collect()))
                    .unwrap_or(P::DbNull),
                quota.map(|q| P::Str(q.to_string())).unwrap_or(P::DbNull),
            ],
        )?;
        Ok(())
    })?;
    Ok(json(
        201,
        &view(&conn, event, Some(ctx.user_id))?.unwrap_or(Value::Null),
    ))
}

/// `DELETE /events/{id}/ticket-types/{type_id}` (a draft's): 204.
pub fn remove(req: &Request, event: &str, ticket_type: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let ticket_type = parse_id("type_id", ticket_type)?;
    let conn = db()?;
    transaction(&conn, |conn| {
        draft_of(conn, event, ctx.user_id)?;
        let gone = query(
            conn,
            "DELETE FROM events.ticket_types WHERE id = $1 AND event_id = $2 RETURNING id",
            &[P::Uuid(ticket_type.to_string()), P::Uuid(event.to_string())],
        )?;
        if gone.is_empty() {
            return Err(Problem::not_found("no such ticket type on this event"));
        }
        Ok(())
    })?;
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

/// An event's ticket types in order, each with what is left and whether it is on sale now.
pub(crate) fn of_event(conn: &Connection, event: Uuid) -> Result<Vec<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT tt.id, tt.name, kind, price, perks, quantity, tt.sold, min_per_order, max_per_order,
                    days::int4[] AS days, {}, {}, extract(epoch FROM sales_end)::bigint AS sales_end_unix,
                    q.name AS quota_name, q.capacity AS quota_capacity, q.capacity - q.sold AS quota_left,
                    CASE WHEN tt.sold >= quantity OR q.sold >= q.capacity THEN 'sold_out'
                         WHEN sales_start > now() THEN 'not_yet'
                         WHEN sales_end <= now() THEN 'ended'
                         ELSE 'on_sale' END AS availability
             FROM events.ticket_types tt LEFT JOIN events.quotas q ON q.id = tt.quota_id
             WHERE tt.event_id = $1 ORDER BY position",
            ts("sales_start"),
            ts("sales_end")
        ),
        &[P::Uuid(event.to_string())],
    )?;
    (0..rows.len())
        .map(|i| {
            let (quantity, sold): (i32, i32) = (rows.value(i, "quantity")?, rows.value(i, "sold")?);
            Ok(json!({
                "id": rows.value::<Uuid>(i, "id")?,
                "name": rows.value::<String>(i, "name")?,
                "kind": rows.value::<String>(i, "kind")?,
                "price": rows.value::<i64>(i, "price")?,
                "perks": rows.value::<String>(i, "perks")?,
                "quantity": quantity,
                "available": match rows.value::<Option<i32>>(i, "quota_left")? {
                    Some(left) => (quantity - sold).min(left),
                    None => quantity - sold,
                },
                "availability": rows.value::<String>(i, "availability")?,
                "sales_start": rows.value::<Option<String>>(i, "sales_start")?,
                "sales_end": rows.value::<Option<String>>(i, "sales_end")?,
                "sales_end_unix": rows.value::<Option<i64>>(i, "sales_end_unix")?,
                "min_per_order": rows.value::<i32>(i, "min_per_order")?,
                "max_per_order": rows.value::<i32>(i, "max_per_order")?,
                "days": rows.value::<Option<Vec<Option<i32>>>>(i, "days")?,
                "quota": rows.value::<Option<String>>(i, "quota_name")?.map(|name| {
                    json!({"name": name, "capacity": rows.value::<Option<i32>>(i, "quota_capacity").ok().flatten()})
                }),
            }))
        })
        .collect()
}
