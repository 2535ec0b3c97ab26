//! Organizer analytics (docs/ticketing.md, "Analytics"): unique page viewers per day (recorded by
//! `GET /events/{id}`, each viewer once a day, the organizer's team not counted), tickets sold and
//! revenue by type per day, conversion from viewers to buyers, refunds, check-ins per day and per
//! hour (in the event's time zone), and the no-show rate once the event ended. `GET
//! /events/{id}/analytics` (owner or manager; 404 for anyone else).

use nexgate_authn::authenticate;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Records one view of a published event by `viewer` today (in the event's time zone), unless
/// the viewer runs the event.
pub(crate) fn count_view(conn: &Connection, event: Uuid, viewer: Uuid) -> Result<(), Problem> {
    conn.execute(
        "INSERT INTO events.page_views (event_id, day, viewer_id)
         SELECT e.id, (now() AT TIME ZONE e.time_zone)::date, $2 FROM events.events e
         WHERE e.id = $1 AND e.status = 'published'
           AND NOT EXISTS (SELECT 1 FROM events.event_roles r WHERE r.event_id = e.id AND r.user_id = $2)
         ON CONFLICT DO NOTHING",
        &[P::Uuid(event.to_string()), P::Uuid(viewer.to_string())],
    )?;
    Ok(())
}

/// Rows of `sql` (params: the event) as JSON objects, with `columns` as (name, kind) where kind
/// is `date`, `int` or `uuid`.
fn series(
    conn: &Connection,
    sql: &str,
    event: Uuid,
    columns: &[(&str, &str)],
) -> Result<Vec<Value>, Problem> {
    let rows = query(conn, sql, &[P::Uuid(event.to_string())])?;
    (0..rows.len())
        .map(|i| {
            let mut item = serde_json::Map::new();
            for (name, kind) in columns {
                let v = match *kind {
                    "int" => json!(rows.value::<i64>(i, name)?),
                    "uuid" => json!(rows.value::<Uuid>(i, name)?),
                    _ => json!(rows.value::<String>(i, name)?),
                };
                item.insert((*name).to_string(), v);
            }
            Ok(Value::Object(item))
        })
        .collect()
}

/// Tickets that count as sold: issued, not expired or held, not refunded or cancelled; a
/// transferred ticket counts once (its first issue).
const SOLD: &str = "t.state IN ('valid', 'revoked') AND t.transferred_from IS NULL
     AND coalesce(t.revoked_reason, '') NOT IN ('refunded', 'event cancelled')";

/// `GET /events/{id}/analytics`.
pub fn get(req: &Request, event: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let conn = db()?;
    crate::roles::require(&conn, event, ctx.user_id, crate::roles::MANAGING)?;
    let views = series(
        &conn,
        "SELECT day::text AS date, count(*)::int8 AS unique_viewers FROM events.page_views
         WHERE event_id = $1 GROUP BY day ORDER BY day",
        event,
        &[("date", "date"), ("unique_viewers", "int")],
    )?;
    let sales = series(
        &conn,
        &format!(
            "SELECT ((coalesce(t.paid_at, t.issued_at) AT TIME ZONE e.time_zone)::date)::text AS date,
                    t.ticket_type_id, count(*)::int8 AS tickets, coalesce(sum(t.price), 0)::int8 AS revenue
             FROM events.tickets t JOIN events.events e ON e.id = t.event_id
             WHERE t.event_id = $1 AND {SOLD} GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        event,
        &[("date", "date"), ("ticket_type_id", "uuid"), ("tickets", "int"), ("revenue", "int")],
    )?;
    let checkins_per_day = series(
        &conn,
        "SELECT c.day::int8 AS day, count(*)::int8 AS checked_in FROM events.checkins c
         JOIN events.tickets t ON t.id = c.ticket_id WHERE t.event_id = $1 GROUP BY c.day ORDER BY c.day",
        event,
        &[("day", "int"), ("checked_in", "int")],
    )?;
    let checkins_per_hour = series(
        &conn,
        "SELECT c.day::int8 AS day, extract(hour FROM c.at AT TIME ZONE e.time_zone)::int8 AS hour,
                count(*)::int8 AS checked_in
         FROM events.checkins c JOIN events.tickets t ON t.id = c.ticket_id JOIN events.events e ON e.id = t.event_id
         WHERE t.event_id = $1 GROUP BY 1, 2 ORDER BY 1, 2",
        event,
        &[("day", "int"), ("hour", "int"), ("checked_in", "int")],
    )?;
    Ok(json(
        200,
        &json!({
            "views": views,
            "sales": sales,
            "checkins_per_day": checkins_per_day,
            "checkins_per_hour": checkins_per_hour,
            "totals": totals(&conn, event)?,
        }),
    ))
}

/// Unique viewers, buyers among them (conversion), tickets sold, revenue, refunds, and the
/// no-show rate once the event has ended.
fn totals(conn: &Connection, event: Uuid) -> Result<Value, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT (SELECT count(DISTINCT viewer_id) FROM events.page_views WHERE event_id = $1)::int8 AS viewers,
                    (SELECT count(DISTINCT o.buyer_id) FROM events.ticket_orders o
                      WHERE o.event_id = $1 AND o.state IN ('issued', 'cancelled')
                        AND o.buyer_id IN (SELECT viewer_id FROM events.page_views WHERE event_id = $1))::int8 AS buyers_who_viewed,
                    (SELECT count(*) FROM events.tickets t WHERE t.event_id = $1 AND {SOLD})::int8 AS sold,
                    (SELECT coalesce(sum(t.price), 0) FROM events.tickets t WHERE t.event_id = $1 AND {SOLD})::int8 AS revenue,
                    (SELECT count(*) FROM events.tickets t WHERE t.event_id = $1 AND t.revoked_reason = 'refunded')::int8 AS refunds,
                    (SELECT count(*) FROM events.tickets t WHERE t.event_id = $1 AND t.state = 'valid')::int8 AS valid,
                    (SELECT count(*) FROM events.tickets t WHERE t.event_id = $1 AND t.state = 'valid'
                       AND NOT EXISTS (SELECT 1 FROM events.checkins c WHERE c.ticket_id = t.id))::int8 AS absent,
                    (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = $1) < now() AS ended"
        ),
        &[P::Uuid(event.to_string())],
    )?;
    let n = |c: &str| rows.value::<i64>(0, c);
    let (viewers, buyers, valid, absent) = (
        n("viewers")?,
        n("buyers_who_viewed")?,
        n("valid")?,
        n("absent")?,
    );
    let ratio = |a: i64, b: i64| (b > 0).then(|| ((a as f64 / b as f64) * 1000.0).round() / 1000.0);
    let ended = rows.value::<Option<bool>>(0, "ended")?.unwrap_or(false);
    Ok(json!({
        "unique_viewers": viewers,
        "buyers_who_viewed": buyers,
        "conversion": ratio(buyers, viewers),
        "tickets_sold": n("sold")?,
        "revenue": n("revenue")?,
        "refunds": n("refunds")?,
        "no_show_rate": if ended { ratio(absent, valid) } else { None },
    }))
}
