//! `POST /internal/events/events` (the dispatcher, behind `events_internal_token`): payments'
//! word on tickets' payables. A success issues the held ticket it pays (`events.ticket.purchased`,
//! then signed) while its seat is still held; a payment for a ticket whose hold already ended
//! changes nothing here: its payable was voided, so payments refunds it. Each envelope applies
//! once (its id is kept). A deleted account's personal traces are erased ([`erase`]).

use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::catalogue::payments::PaymentSucceeded;
use nexgate_events::inbox;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query, transaction, ts_as};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::orders::{announce, Sale};

pub async fn consume(req: &Request, component: &'static str) -> Result<Response, Problem> {
    let envelope = inbox::read(req)?;
    if let Some(deleted) = envelope.data_as::<AccountDeleted>() {
        let conn = db()?;
        let erased = transaction(&conn, |conn| erase(conn, deleted.user_id))?;
        return Ok(json(200, &json!({ "applied": true, "erased": erased })));
    }
    let Some(paid) = envelope.data_as::<PaymentSucceeded>() else {
        return Ok(inbox::not_consumed(&envelope));
    };
    let Some(ticket) = our_ticket(&paid.owner_service, &paid.reference) else {
        return Ok(inbox::not_consumed(&envelope));
    };
    let conn = db()?;
    let issued = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        if !inbox::first_delivery(conn, crate::SCHEMA, envelope.id)? {
            return Ok(false);
        }
        let Some((order, event, holder)) = issue_paid(conn, ticket, paid.payable_id)? else {
            eprintln!(
                "events: payment {} for ticket {ticket} that is no longer held (its payable was voided)",
                paid.intent_id
            );
            return Ok(false);
        };
        conn.execute(
            "UPDATE events.ticket_orders SET state = 'issued' WHERE id = $1 AND state = 'held'
               AND NOT EXISTS (SELECT 1 FROM events.tickets WHERE order_id = $1 AND state = 'held')",
            &[P::Uuid(order.to_string())],
        )?;
        announce(conn, events, &sale_of(conn, event)?, holder, &[ticket])?;
        Ok(true)
    })?;
    if issued {
        // Signed now; a failure here leaves it to be signed at its first fetch.
        if let Err(p) = crate::signing::sign(&[ticket]).await {
            eprintln!(
                "events: ticket {ticket} paid but not signed yet: {}",
                p.to_json()
            );
        }
    }
    Ok(json(200, &json!({ "applied": issued })))
}

/// Held → valid, when the ticket is still held for this payable: (order, event, holder).
fn issue_paid(
    conn: &Connection,
    ticket: Uuid,
    payable: Uuid,
) -> Result<Option<(Uuid, Uuid, Uuid)>, Problem> {
    let rows = query(
        conn,
        "UPDATE events.tickets SET state = 'valid', paid_at = now(), issued_at = now()
         WHERE id = $1 AND payable_id = $2 AND state = 'held'
         RETURNING order_id, event_id, holder_id",
        &[P::Uuid(ticket.to_string()), P::Uuid(payable.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some((
        rows.value(0, "order_id")?,
        rows.value(0, "event_id")?,
        rows.value(0, "holder_id")?,
    )))
}

/// What `events.ticket.purchased` says about the event.
fn sale_of(conn: &Connection, event: Uuid) -> Result<Sale, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT e.organizer_id,
                    (SELECT {} FROM events.event_days d WHERE d.event_id = e.id ORDER BY d.day LIMIT 1) AS starts_at
             FROM events.events e WHERE e.id = $1",
            ts_as("d.starts_at", "starts_at")
        ),
        &[P::Uuid(event.to_string())],
    )?;
    Ok(Sale {
        event,
        organizer: rows.value(0, "organizer_id")?,
        starts_at: rows.value(0, "starts_at")?,
    })
}

/// The ticket a payable's reference names, when the payable is ours.
fn our_ticket(owner_service: &str, reference: &str) -> Option<Uuid> {
    (owner_service == crate::SCHEMA)
        .then(|| Uuid::parse_str(reference).ok())
        .flatten()
}

/// A deleted account (docs/ticketing.md, "Deleted accounts"; its blockers kept it from having
/// upcoming tickets or events, or money in escrow): the names on its tickets, its attendance
/// setting, page views and roles on others' events go, its drafts are discarded, its reviews keep
/// their rating (the organizer's aggregates) but lose their text. Applying it twice changes nothing.
fn erase(conn: &Connection, user: Uuid) -> Result<serde_json::Value, Problem> {
    let me = || P::Uuid(user.to_string());
    let count = |sql: &str| -> Result<usize, Problem> { Ok(query(conn, sql, &[me()])?.len()) };
    Ok(json!({
        "ticket_names": count("UPDATE events.tickets SET attendee_name = NULL WHERE holder_id = $1 AND attendee_name IS NOT NULL RETURNING id")?,
        "attendance_settings": count("DELETE FROM events.attendance_settings WHERE user_id = $1 RETURNING user_id")?,
        "page_views": count("DELETE FROM events.page_views WHERE viewer_id = $1 RETURNING day")?,
        "roles": count("DELETE FROM events.event_roles WHERE user_id = $1 AND role <> 'owner' RETURNING event_id")?,
        "drafts": count("DELETE FROM events.events WHERE organizer_id = $1 AND status = 'draft' RETURNING id")?,
        "reviews": count("UPDATE events.reviews SET body = '' WHERE reviewer_id = $1 AND body <> '' RETURNING id")?,
    }))
}
