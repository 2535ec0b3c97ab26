//! The scheduler's jobs (`infra/schedule.toml`): `POST /internal/commerce/jobs/expire-reservations`
//! cancels unpaid orders whose reservation ran out (the payable voided first: payments refuses
//! while a payment is live, and the order then waits for its outcome); `complete-delivered`
//! completes delivered orders whose confirmation window passed, releasing their escrow.

use nexgate_events::outbox::with_events;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::Connection;
use uuid::Uuid;

use crate::order_states::{Actor, OrderState};
use crate::orders::{self, Change};
use crate::payables::{self, Voided};
use crate::settings::{Settings, SCHEMA};

/// Orders handled per job call.
const BATCH: i64 = 200;

/// Cancels an unpaid order and lets its stock go, once: the payable is voided first; `false`
/// when a payment is still under way or the order is no longer unpaid.
pub async fn cancel_unpaid(
    conn: &Connection,
    component: &'static str,
    order: Uuid,
    why: &str,
) -> Result<bool, Problem> {
    let Some(o) = orders::load(conn, order)? else {
        return Ok(false);
    };
    if o.state != OrderState::PendingPayment {
        return Ok(false);
    }
    if let Some(payable) = o.payable {
        if payables::void(payable, why).await? == Voided::PaymentLive {
            return Ok(false);
        }
    }
    let change = Change {
        order: &o,
        to: OrderState::Cancelled,
        actor: Actor::System,
        actor_id: None,
        carrier: None,
        tracking: None,
        reason: Some(why.to_string()),
        auto_complete_secs: 0,
    };
    match with_events(conn, SCHEMA, component, |conn, events| {
        orders::apply(conn, events, &change)
    }) {
        Ok(()) => Ok(true),
        Err(p) if p.code == "order_changed" => Ok(false),
        Err(p) => Err(p),
    }
}

fn due(conn: &Connection, sql: &str) -> Result<Vec<Uuid>, Problem> {
    query(conn, sql, &[spin_sdk::pg4::ParameterValue::Int64(BATCH)])?.column("id")
}

/// `POST /internal/commerce/jobs/expire-reservations`.
pub async fn expire_reservations(
    req: &Request,
    component: &'static str,
) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let conn = db()?;
    let ids = due(
        &conn,
        "SELECT id FROM commerce.orders WHERE state = 'pending_payment' AND reserved_until < now()
         ORDER BY reserved_until LIMIT $1",
    )?;
    let (mut cancelled, mut waiting) = (0, 0);
    for id in ids {
        if cancel_unpaid(&conn, component, id, "reservation expired").await? {
            cancelled += 1;
        } else {
            waiting += 1;
        }
    }
    Ok(json(
        200,
        &json!({ "cancelled": cancelled, "waiting": waiting }),
    ))
}

/// `POST /internal/commerce/jobs/complete-delivered`.
pub async fn complete_delivered(
    req: &Request,
    component: &'static str,
) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let ids = due(
        &conn,
        "SELECT id FROM commerce.orders WHERE state = 'delivered' AND completes_after < now()
         ORDER BY completes_after LIMIT $1",
    )?;
    let mut completed = 0;
    for id in ids {
        let Some(o) = orders::load(&conn, id)? else {
            continue;
        };
        let Some(payable) = o.payable else { continue };
        payables::release(payable, "delivered; confirmation window passed").await?;
        let change = Change {
            order: &o,
            to: OrderState::Completed,
            actor: Actor::System,
            actor_id: None,
            carrier: None,
            tracking: None,
            reason: None,
            auto_complete_secs: settings.auto_complete_secs,
        };
        with_events(&conn, SCHEMA, component, |conn, events| {
            orders::apply(conn, events, &change)
        })?;
        completed += 1;
    }
    Ok(json(200, &json!({ "completed": completed })))
}
