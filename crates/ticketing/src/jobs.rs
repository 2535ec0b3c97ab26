//! The scheduler's jobs (`infra/schedule.toml`, behind `events_internal_token`):
//! `POST /internal/events/jobs/expire-holds` ends the holds of orders whose time ran out (their
//! unpaid tickets expire and their seats go back on sale, once) and then voids what is owed;
//! `POST /internal/events/jobs/void-payables` voids the payables of expired and revoked tickets
//! that payments has not taken yet (a payment was under way, or payments was down).

use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query, transaction};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::payables::void_owed;

/// Orders (and owed voids) handled per job call.
const BATCH: i64 = 200;

/// `POST /internal/events/jobs/expire-holds`: `{orders, tickets, voided, waiting, manual}`.
pub async fn expire_holds(req: &Request) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let conn = db()?;
    let due: Vec<Uuid> = query(
        &conn,
        "SELECT id FROM events.ticket_orders WHERE state = 'held' AND hold_until < now()
         ORDER BY hold_until LIMIT $1",
        &[P::Int64(BATCH)],
    )?
    .column("id")?;
    let (mut orders, mut tickets) = (0, 0);
    for order in due {
        let expired = transaction(&conn, |conn| expire(conn, order))?;
        if expired > 0 {
            orders += 1;
            tickets += expired;
        }
    }
    let voids = void_owed(&conn, BATCH).await?;
    Ok(json(
        200,
        &json!({
            "orders": orders, "tickets": tickets,
            "voided": voids.done, "waiting": voids.waiting, "manual": voids.manual,
        }),
    ))
}

/// `POST /internal/events/jobs/void-payables`: `{voided, waiting, manual}`.
pub async fn void_payables(req: &Request) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let conn = db()?;
    let voids = void_owed(&conn, BATCH).await?;
    Ok(json(
        200,
        &json!({ "voided": voids.done, "waiting": voids.waiting, "manual": voids.manual }),
    ))
}

/// Ends one order's hold: its still-held tickets expire (their payables owed a void) and their
/// seats go back to their types, quotas and the event; answers how many expired. A ticket paid
/// meanwhile was moved to `valid` under the same row lock, so it is never both.
fn expire(conn: &Connection, order: Uuid) -> Result<usize, Problem> {
    let gone = query(
        conn,
        "UPDATE events.tickets SET state = 'expired', payable_void = 'pending', revoked_at = now(),
                revoked_reason = 'hold expired'
         WHERE order_id = $1 AND state = 'held' RETURNING ticket_type_id, event_id",
        &[P::Uuid(order.to_string())],
    )?;
    let types: Vec<Uuid> = gone.column("ticket_type_id")?;
    if let Some(event) = gone.column::<Uuid>("event_id")?.first() {
        release_seats(conn, *event, &types)?;
    }
    conn.execute(
        "UPDATE events.ticket_orders SET state = CASE WHEN EXISTS
                (SELECT 1 FROM events.tickets t WHERE t.order_id = $1 AND t.state = 'valid') THEN 'issued' ELSE 'expired' END
         WHERE id = $1 AND state = 'held'",
        &[P::Uuid(order.to_string())],
    )?;
    Ok(types.len())
}

/// Gives back one seat per entry of `types` (a type per ticket) to the type, its quota and the
/// event, in type-id order (the order sales lock them in).
pub(crate) fn release_seats(conn: &Connection, event: Uuid, types: &[Uuid]) -> Result<(), Problem> {
    let mut counted: Vec<(Uuid, i32)> = Vec::new();
    for t in types {
        match counted.iter_mut().find(|(seen, _)| seen == t) {
            Some((_, n)) => *n += 1,
            None => counted.push((*t, 1)),
        }
    }
    counted.sort_by_key(|(t, _)| *t);
    for (ticket_type, n) in &counted {
        let quota = query(
            conn,
            "UPDATE events.ticket_types SET sold = sold - $2 WHERE id = $1 RETURNING quota_id",
            &[P::Uuid(ticket_type.to_string()), P::Int32(*n)],
        )?;
        if let Some(quota) = quota.value::<Option<Uuid>>(0, "quota_id")? {
            conn.execute(
                "UPDATE events.quotas SET sold = sold - $2 WHERE id = $1",
                &[P::Uuid(quota.to_string()), P::Int32(*n)],
            )?;
        }
    }
    conn.execute(
        "UPDATE events.events SET sold = sold - $2 WHERE id = $1",
        &[P::Uuid(event.to_string()), P::Int32(types.len() as i32)],
    )?;
    Ok(())
}
