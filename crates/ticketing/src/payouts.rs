//! Escrow and payouts (docs/ticketing.md, "Escrow and payouts"): ticket money stays in escrow
//! until the event really happened. `POST /internal/events/jobs/release-escrow` (the scheduler,
//! every 10 minutes) pays the organizer in three steps: the tickets that were checked in, a day
//! after the event's end; then, when the complaint window after the end closes, the event is
//! `completed` (`events.event.completed`, which profiles counts) and every other paid ticket is
//! released, unless poor ratings froze the payout for an operator (each payable frozen at
//! payments, where an operator releases or refunds it).

use nexgate_events::catalogue::events::EventCompleted;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query, ts_as};
use nexgate_platform::payables;
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Checked-in tickets are paid out this long after the event's end.
pub const CHECKED_IN_RELEASE_AFTER_SECS: i64 = 24 * 3600;
/// The complaint window after the end: then the event completes and the rest is paid out.
pub const COMPLAINT_WINDOW_SECS: i64 = 72 * 3600;
/// Poor feedback: at least this many ratings averaging below [`FREEZE_AVERAGE_BELOW`].
pub const FREEZE_RATINGS_MIN: i64 = 3;
pub const FREEZE_AVERAGE_BELOW: f64 = 2.5;

/// Tickets (and events) handled per step and call.
const BATCH: i64 = 200;

/// SQL: whether event `e` has poor feedback (the thresholds are constants, written in).
fn poor_ratings() -> String {
    format!(
        "(SELECT count(*) >= {FREEZE_RATINGS_MIN} AND avg(r.rating) < {FREEZE_AVERAGE_BELOW}
          FROM events.reviews r WHERE r.event_id = e.id)"
    )
}

/// SQL: the end of event `e`'s last day.
const ENDED_AT: &str = "(SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id)";

/// `POST /internal/events/jobs/release-escrow`: `{released, frozen, completed, failed}`.
pub async fn release_escrow(req: &Request, component: &'static str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let conn = db()?;
    let mut tally = Tally::default();
    let checked_in = due_tickets(
        &conn,
        &format!(
            "e.status = 'published' AND {ENDED_AT} < now() - make_interval(secs => $1::int8::float8)
             AND EXISTS (SELECT 1 FROM events.checkins c WHERE c.ticket_id = t.id) AND NOT {}",
            poor_ratings()
        ),
        CHECKED_IN_RELEASE_AFTER_SECS,
    )?;
    for (ticket, payable, _) in checked_in {
        pay_out(&conn, ticket, payable, false, &mut tally).await?;
    }
    for event in due_events(&conn)? {
        if complete(&conn, event, component)? {
            tally.completed += 1;
        }
    }
    for (ticket, payable, frozen) in
        due_tickets(&conn, "e.status = 'completed' AND $1::int8 = 0", 0)?
    {
        pay_out(&conn, ticket, payable, frozen, &mut tally).await?;
    }
    Ok(json(
        200,
        &json!({
            "released": tally.released, "frozen": tally.frozen,
            "completed": tally.completed, "failed": tally.failed,
        }),
    ))
}

#[derive(Default)]
struct Tally {
    released: usize,
    frozen: usize,
    completed: usize,
    failed: usize,
}

/// Valid paid tickets not paid out yet, of events matching `condition` (which uses `$1`, `secs`):
/// (ticket, payable, event payout frozen).
fn due_tickets(
    conn: &Connection,
    condition: &str,
    secs: i64,
) -> Result<Vec<(Uuid, Uuid, bool)>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT t.id, t.payable_id, e.payout_frozen FROM events.tickets t JOIN events.events e ON e.id = t.event_id
             WHERE t.state = 'valid' AND t.payable_id IS NOT NULL AND t.payout IS NULL
               AND {condition}
             ORDER BY t.event_id, t.id LIMIT $2"
        ),
        &[P::Int64(secs), P::Int64(BATCH)],
    )?;
    (0..rows.len())
        .map(|i| {
            Ok((
                rows.value(i, "id")?,
                rows.value(i, "payable_id")?,
                rows.value(i, "payout_frozen")?,
            ))
        })
        .collect()
}

/// Events whose complaint window closed and that are not completed yet.
fn due_events(conn: &Connection) -> Result<Vec<Uuid>, Problem> {
    query(
        conn,
        &format!(
            "SELECT e.id FROM events.events e WHERE e.status = 'published'
               AND {ENDED_AT} < now() - make_interval(secs => $1::int8::float8) ORDER BY e.id LIMIT $2"
        ),
        &[P::Int64(COMPLAINT_WINDOW_SECS), P::Int64(BATCH)],
    )?
    .column("id")
}

/// Completes one event (once), deciding whether poor ratings freeze its payout.
fn complete(conn: &Connection, event: Uuid, component: &'static str) -> Result<bool, Problem> {
    with_events(conn, crate::SCHEMA, component, |conn, events| {
        let rows = query(
            conn,
            &format!(
                "UPDATE events.events e SET status = 'completed', completed_at = now(), payout_frozen = {}
                 WHERE e.id = $1 AND e.status = 'published'
                 RETURNING e.organizer_id, e.payout_frozen, {},
                   (SELECT count(*) FROM events.tickets t WHERE t.event_id = e.id AND t.state = 'valid')::int8 AS tickets,
                   (SELECT count(DISTINCT c.ticket_id) FROM events.checkins c JOIN events.tickets t ON t.id = c.ticket_id
                     WHERE t.event_id = e.id)::int8 AS checked_in",
                poor_ratings(),
                ts_as(ENDED_AT, "ended_at")
            ),
            &[P::Uuid(event.to_string())],
        )?;
        if rows.is_empty() {
            return Ok(false);
        }
        let organizer: Uuid = rows.value(0, "organizer_id")?;
        events.record(
            conn,
            None,
            ("event", event.to_string()),
            vec![organizer],
            &EventCompleted {
                event_id: event,
                organizer_id: organizer,
                ended_at: rows.value(0, "ended_at")?,
                tickets: rows.value(0, "tickets")?,
                checked_in: rows.value(0, "checked_in")?,
                payout_frozen: rows.value(0, "payout_frozen")?,
            },
        )?;
        Ok(true)
    })
}

/// Releases (or freezes) one ticket's escrow and records it; a payments refusal is counted and
/// tried again on the next run.
async fn pay_out(
    conn: &Connection,
    ticket: Uuid,
    payable: Uuid,
    freeze: bool,
    tally: &mut Tally,
) -> Result<(), Problem> {
    let (done, outcome) = if freeze {
        (
            payables::freeze(payable, "poor ratings after the event; an operator decides").await,
            "frozen",
        )
    } else {
        (
            payables::release(payable, "the event took place").await,
            "released",
        )
    };
    if let Err(p) = done {
        eprintln!("events: payout of ticket {ticket}: {}", p.to_json());
        tally.failed += 1;
        return Ok(());
    }
    conn.execute(
        "UPDATE events.tickets SET payout = $2 WHERE id = $1 AND payout IS NULL",
        &[P::Uuid(ticket.to_string()), P::Str(outcome.into())],
    )?;
    if freeze {
        tally.frozen += 1;
    } else {
        tally.released += 1;
    }
    Ok(())
}
