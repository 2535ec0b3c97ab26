//! `POST /internal/commerce/events` (the dispatcher, behind `commerce_internal_token`): payments
//! reports on the orders' payables. A success makes the order `paid` and its reserved units sold
//! (`commerce.order.placed`: a seller never hears of an unpaid order); a failure voids the payable
//! and then cancels the order, giving its units back. Each envelope applies once (its id is kept).

use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::catalogue::commerce::OrderPlaced;
use nexgate_events::catalogue::payments::{PaymentFailed, PaymentSucceeded};
use nexgate_events::inbox;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query, transaction};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::inventory::{self, Settle};
use crate::order_states::OrderState;
use crate::orders;
use crate::settings::SCHEMA;

pub async fn consume(req: &Request, component: &'static str) -> Result<Response, Problem> {
    let envelope = inbox::read(req)?;
    if let Some(paid) = envelope.data_as::<PaymentSucceeded>() {
        let Some(order) = our_order(&paid.owner_service, &paid.reference) else {
            return Ok(inbox::not_consumed(&envelope));
        };
        let conn = db()?;
        let applied = with_events(&conn, SCHEMA, component, |conn, events| {
            if !inbox::first_delivery(conn, SCHEMA, envelope.id)? {
                return Ok(false);
            }
            let Some(o) = orders::load(conn, order)? else {
                return Ok(false);
            };
            if o.state != OrderState::PendingPayment || o.payable != Some(paid.payable_id) {
                eprintln!(
                    "commerce: payment {} for order {order} in state {}",
                    paid.intent_id,
                    o.state.as_str()
                );
                return Ok(false);
            }
            let moved = query(
                conn,
                "UPDATE commerce.orders SET state = 'paid', updated_at = now() WHERE id = $1 AND state = 'pending_payment' RETURNING id",
                &[P::Uuid(order.to_string())],
            )?;
            if moved.is_empty() {
                return Ok(false);
            }
            inventory::settle(conn, order, Settle::Sell)?;
            inventory::announce_low_stock(conn, events, order)?;
            orders::record_change(
                conn,
                order,
                Some("pending_payment"),
                "paid",
                None,
                "system",
                Some(&paid.receipt_number),
            )?;
            events.record(
                conn,
                Some(o.buyer),
                ("order", order.to_string()),
                vec![o.seller, o.buyer],
                &OrderPlaced {
                    order_id: order,
                    buyer_id: o.buyer,
                    seller_id: o.seller,
                    shop_id: o.shop,
                    total: o.total,
                    currency: o.currency.clone(),
                },
            )?;
            Ok(true)
        })?;
        return Ok(json(200, &json!({ "applied": applied })));
    }
    if let Some(failed) = envelope.data_as::<PaymentFailed>() {
        let Some(order) = our_order(&failed.owner_service, &failed.reference) else {
            return Ok(inbox::not_consumed(&envelope));
        };
        let conn = db()?;
        let cancelled =
            crate::jobs::cancel_unpaid(&conn, component, order, "payment failed").await?;
        return Ok(json(200, &json!({ "applied": cancelled })));
    }
    if let Some(deleted) = envelope.data_as::<AccountDeleted>() {
        let conn = db()?;
        let erased = transaction(&conn, |conn| erase(conn, deleted.user_id))?;
        return Ok(json(200, &json!({ "applied": true, "erased": erased })));
    }
    Ok(inbox::not_consumed(&envelope))
}

/// A deleted account (docs/commerce.md, "Deleted accounts"): its address book goes; the orders it
/// bought (all finished: open ones block the deletion) keep their amounts and lines for the
/// sellers' accounting but lose the name, phone and street they were shipped to. Applying it twice
/// changes nothing.
fn erase(conn: &Connection, user: Uuid) -> Result<serde_json::Value, Problem> {
    let me = || P::Uuid(user.to_string());
    let addresses = query(
        conn,
        "DELETE FROM commerce.addresses WHERE user_id = $1 RETURNING id",
        &[me()],
    )?
    .len();
    let orders = query(
        conn,
        "UPDATE commerce.orders SET ship_name = 'erased', ship_phone = '', ship_street = '', ship_district = ''
         WHERE buyer_id = $1 AND ship_name <> 'erased' RETURNING id",
        &[me()],
    )?
    .len();
    // Verification requests name the user's documents (the File Manager deletes the files).
    let requests = query(
        conn,
        "DELETE FROM commerce.verification_requests WHERE user_id = $1 RETURNING id",
        &[me()],
    )?
    .len();
    Ok(json!({ "addresses": addresses, "orders": orders, "verification_requests": requests }))
}

/// The order a payable's reference names, when the payable is ours.
fn our_order(owner_service: &str, reference: &str) -> Option<Uuid> {
    (owner_service == SCHEMA)
        .then(|| Uuid::parse_str(reference).ok())
        .flatten()
}
