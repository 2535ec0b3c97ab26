//! Tickets' side of payments (docs/ticketing.md, "Buying and issuing"): one payable per paid
//! ticket (reference: the ticket id; payee the organizer; released by us after the event, so
//! `on_confirmation`), made right after the hold is taken and again on a retry of the order
//! (payments finds it by reference); and the voids owed by tickets that expired unpaid or were
//! revoked (`payable_void = 'pending'`), retried until payments took them.

use nexgate_platform::db::query;
use nexgate_platform::payables::{self as kit, NewPayable, Voided};
use nexgate_platform::Problem;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Makes (or finds) the payable of every held ticket of `order`.
pub(crate) async fn open(conn: &Connection, order: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT t.id, t.payable_id, t.price, o.buyer_id, o.currency, e.organizer_id,
                left(e.title || ' (' || tt.name || ')', 130) AS what,
                greatest(extract(epoch FROM o.hold_until - now())::bigint, 300) AS ttl
         FROM events.tickets t JOIN events.ticket_orders o ON o.id = t.order_id
         JOIN events.events e ON e.id = t.event_id JOIN events.ticket_types tt ON tt.id = t.ticket_type_id
         WHERE t.order_id = $1 AND t.state = 'held' ORDER BY t.issued_at, t.id",
        &[P::Uuid(order.to_string())],
    )?;
    for i in 0..rows.len() {
        let ticket: Uuid = rows.value(i, "id")?;
        let currency: String = rows.value(i, "currency")?;
        let description = format!("Ticket: {}", rows.value::<String>(i, "what")?);
        kit::create(&NewPayable {
            id: rows.value(i, "payable_id")?,
            owner_service: crate::SCHEMA,
            reference: ticket.to_string(),
            purpose: "ticket",
            payer: rows.value(i, "buyer_id")?,
            payee: rows.value(i, "organizer_id")?,
            amount: rows.value(i, "price")?,
            currency: &currency,
            description: &description,
            release_rule: "on_confirmation",
            expires_in_secs: rows.value(i, "ttl")?,
        })
        .await?;
    }
    Ok(())
}

/// What one pass over the owed voids did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Voids {
    /// Payments took the void (and refunds what was paid).
    pub done: usize,
    /// A payment is under way: tried again on the next pass.
    pub waiting: usize,
    /// Paid by card: an operator refunds it (docs/ticketing.md).
    pub manual: usize,
}

/// Voids up to `limit` owed payables, oldest first.
pub(crate) async fn void_owed(conn: &Connection, limit: i64) -> Result<Voids, Problem> {
    let rows = query(
        conn,
        "SELECT id, payable_id, coalesce(revoked_reason, 'ticket revoked') AS reason FROM events.tickets
         WHERE payable_void = 'pending' ORDER BY revoked_at, id LIMIT $1",
        &[P::Int64(limit)],
    )?;
    let mut voids = Voids::default();
    for i in 0..rows.len() {
        let ticket: Uuid = rows.value(i, "id")?;
        let reason: String = rows.value(i, "reason")?;
        let outcome = match kit::void(rows.value(i, "payable_id")?, &reason).await {
            Ok(Voided::Done) => "done",
            Ok(Voided::PaymentLive) => {
                voids.waiting += 1;
                continue;
            }
            Err(p) if p.code == "card_refund_not_supported" => "manual",
            Err(p) => return Err(p),
        };
        conn.execute(
            "UPDATE events.tickets SET payable_void = $2 WHERE id = $1 AND payable_void = 'pending'",
            &[P::Uuid(ticket.to_string()), P::Str(outcome.into())],
        )?;
        if outcome == "done" {
            voids.done += 1;
        } else {
            voids.manual += 1;
        }
    }
    Ok(voids)
}
