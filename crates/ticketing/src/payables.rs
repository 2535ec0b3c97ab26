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
        "SELECT id FROM events.tickets WHERE payable_void = 'pending' ORDER BY revoked_at, id LIMIT $1",
        &[P::Int64(limit)],
    )?;
    let mut voids = Voids::default();
    for ticket in rows.column::<Uuid>("id")? {
        match void_one(conn, ticket).await? {
            Some("done") => voids.done += 1,
            Some("manual") => voids.manual += 1,
            _ => voids.waiting += 1,
        }
    }
    Ok(voids)
}

/// Makes the void `ticket` owes: `done`, `manual` (a card: an operator refunds it), or `None`
/// while a payment is under way (tried again on a later pass) or when nothing is owed.
pub(crate) async fn void_one(
    conn: &Connection,
    ticket: Uuid,
) -> Result<Option<&'static str>, Problem> {
    let rows = query(
        conn,
        "SELECT payable_id, coalesce(revoked_reason, 'ticket revoked') AS reason FROM events.tickets
         WHERE id = $1 AND payable_void = 'pending'",
        &[P::Uuid(ticket.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let reason: String = rows.value(0, "reason")?;
    let outcome = match kit::void(rows.value(0, "payable_id")?, &reason).await {
        Ok(Voided::Done) => "done",
        Ok(Voided::PaymentLive) => return Ok(None),
        Err(p) if p.code == "card_refund_not_supported" => "manual",
        Err(p) => return Err(p),
    };
    conn.execute(
        "UPDATE events.tickets SET payable_void = $2 WHERE id = $1 AND payable_void = 'pending'",
        &[P::Uuid(ticket.to_string()), P::Str(outcome.into())],
    )?;
    Ok(Some(outcome))
}
