//! An organizer cancels a published event (docs/ticketing.md, "Cancellation and refunds"):
//! `POST /events/{id}/cancel {reason}` (the owner; a recent sign-in once tickets were sold). In one
//! transaction the event becomes `cancelled`, every valid ticket `revoked` and every held one
//! `expired`, each paid one owing a void (payments refunds what is in escrow), and holders hear
//! `events.event.cancelled`; the voids are made right after, and by the `void-payables` job for
//! whatever is left (many tickets, a payment under way, payments down). Refunds go to the number
//! that paid; a card payment cannot be refunded by payments yet (`payable_void = 'manual'`: an
//! operator refunds it from Selcom's dashboard).

use nexgate_authn::authenticate;
use nexgate_events::catalogue::events::EventCancelled;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Voids made in the cancelling request; the job makes the rest.
const VOIDS_IN_REQUEST: i64 = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cancel {
    reason: String,
}

/// `POST /events/{id}/cancel {reason}`: 200 `{status, tickets_revoked, refunds_owed,
/// refunds_made}`; 404 for anyone but the owner; 409 `not_published` for a draft (discard it) or
/// an event already cancelled or completed.
pub async fn cancel(req: &Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let body: Cancel = json_body(req)?;
    let reason = body.reason.trim().to_string();
    if !(3..=500).contains(&reason.chars().count()) {
        return Err(Problem::invalid_field(
            "reason",
            "must be 3 to 500 characters",
        ));
    }
    let conn = db()?;
    let found = query(
        &conn,
        "SELECT e.status, e.sold,
                (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id) < now() AS ended
         FROM events.events e WHERE e.id = $1 AND e.organizer_id = $2",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if found.is_empty() {
        return Err(Problem::not_found("no such event of yours"));
    }
    if found.value::<Option<bool>>(0, "ended")?.unwrap_or(false) {
        return Err(Problem::conflict(
            "event_ended",
            "an event that has ended cannot be cancelled (its money is paid out after the complaint window)",
        ));
    }
    if found.value::<i32>(0, "sold")? > 0 {
        ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    }
    let (revoked, owed) = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let moved = query(
            conn,
            "UPDATE events.events SET status = 'cancelled', cancelled_at = now(), cancel_reason = $3
             WHERE id = $1 AND organizer_id = $2 AND status = 'published' RETURNING id",
            &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string()), P::Str(reason.clone())],
        )?;
        if moved.is_empty() {
            return Err(Problem::conflict(
                "not_published",
                "only a published event can be cancelled (discard a draft instead)",
            ));
        }
        let (holders, revoked, owed) = revoke_all(conn, id)?;
        events.record(
            conn,
            Some(ctx.user_id),
            ("event", id.to_string()),
            holders,
            &EventCancelled {
                event_id: id,
                organizer_id: ctx.user_id,
            },
        )?;
        Ok((revoked, owed))
    })?;
    let made = crate::payables::void_owed(&conn, VOIDS_IN_REQUEST).await?;
    Ok(json(
        200,
        &json!({
            "status": "cancelled", "tickets_revoked": revoked,
            "refunds_owed": owed, "refunds_made": made.done,
        }),
    ))
}

/// Revokes every valid ticket and expires every held one of `event`, owing a void for each paid
/// one; answers (holders of revoked tickets, revoked, voids owed).
fn revoke_all(conn: &Connection, event: Uuid) -> Result<(Vec<Uuid>, usize, usize), Problem> {
    let rows = query(
        conn,
        "UPDATE events.tickets SET
             state = CASE state WHEN 'held' THEN 'expired' ELSE 'revoked' END,
             revoked_at = now(), revoked_reason = 'event cancelled',
             payable_void = CASE WHEN payable_id IS NULL THEN NULL ELSE 'pending' END
         WHERE event_id = $1 AND state IN ('held', 'valid')
         RETURNING holder_id, state, payable_id IS NOT NULL AS paid",
        &[P::Uuid(event.to_string())],
    )?;
    conn.execute(
        "UPDATE events.ticket_orders SET state = 'cancelled' WHERE event_id = $1 AND state IN ('held', 'issued')",
        &[P::Uuid(event.to_string())],
    )?;
    let mut holders: Vec<Uuid> = Vec::new();
    let (mut revoked, mut owed) = (0, 0);
    for i in 0..rows.len() {
        if rows.value::<bool>(i, "paid")? {
            owed += 1;
        }
        if rows.value::<String>(i, "state")? == "revoked" {
            revoked += 1;
            let holder: Uuid = rows.value(i, "holder_id")?;
            if !holders.contains(&holder) {
                holders.push(holder);
            }
        }
    }
    Ok((holders, revoked, owed))
}
