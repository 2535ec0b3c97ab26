//! Orders (docs/commerce.md, "Orders"): `GET /shop/orders` (as buyer or seller), `GET
//! /shop/orders/{id}` (with its timeline), `POST /shop/orders/{id}/{process|ship|deliver|confirm|
//! cancel}`. Every change is a conditional `UPDATE ... WHERE state = $from` plus its timeline row
//! and event in one transaction; money moves through payments before the state says it did.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::commerce::{
    OrderCancelled, OrderCompleted, OrderDelivered, OrderShipped,
};
use nexgate_events::outbox::{with_events, Outbox};
use nexgate_platform::body::{json_response as json, parse_json, query_param, query_string};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::parse_id;
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::inventory::{self, Settle};
use crate::order_states::{next, Action, Actor, OrderState};
use crate::payables::{self, Voided};
use crate::settings::{Settings, SCHEMA};

/// Adds a row to the order's timeline.
pub fn record_change(
    conn: &Connection,
    order: Uuid,
    from: Option<&str>,
    to: &str,
    actor: Option<Uuid>,
    actor_kind: &str,
    note: Option<&str>,
) -> Result<(), Problem> {
    query(
        conn,
        "INSERT INTO commerce.order_events (order_id, from_state, to_state, actor_id, actor_kind, note)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            P::Uuid(order.to_string()),
            from.map(|f| P::Str(f.into())).unwrap_or(P::DbNull),
            P::Str(to.into()),
            actor.map(|a| P::Uuid(a.to_string())).unwrap_or(P::DbNull),
            P::Str(actor_kind.into()),
            note.map(|n| P::Str(n.into())).unwrap_or(P::DbNull),
        ],
    )?;
    Ok(())
}

/// The fields of an order the handlers decide on.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: Uuid,
    pub state: OrderState,
    pub buyer: Uuid,
    pub seller: Uuid,
    pub shop: Uuid,
    pub payable: Option<Uuid>,
    pub total: i64,
    pub currency: String,
}

pub fn load(conn: &Connection, id: Uuid) -> Result<Option<OrderRow>, Problem> {
    let rows = query(
        conn,
        "SELECT id, state, buyer_id, seller_id, shop_id, payable_id, total, currency FROM commerce.orders WHERE id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let state: String = rows.value(0, "state")?;
    Ok(Some(OrderRow {
        id,
        state: OrderState::parse(&state)
            .ok_or_else(|| Problem::internal(format!("order state {state}")))?,
        buyer: rows.value(0, "buyer_id")?,
        seller: rows.value(0, "seller_id")?,
        shop: rows.value(0, "shop_id")?,
        payable: rows.value(0, "payable_id")?,
        total: rows.value(0, "total")?,
        currency: rows.value(0, "currency")?,
    }))
}

/// The columns [`order_json`] reads.
fn order_columns() -> String {
    format!(
        "id, checkout_id, shop_id, seller_id, buyer_id, purchase_type, state, subtotal, delivery_fee,
         total, currency, payable_id, ship_name, ship_phone, ship_region, ship_district, ship_street,
         carrier, tracking_number, cancelled_by, cancel_reason, {}, {}, {}, {}",
        ts("reserved_until"),
        ts("created_at"),
        ts("delivered_at"),
        ts("completes_after")
    )
}

/// An order as its buyer and seller see it; `timeline` adds every state change.
pub fn view(conn: &Connection, id: Uuid, timeline: bool) -> Result<Option<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {} FROM commerce.orders WHERE id = $1",
            order_columns()
        ),
        &[P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut order = order_json(&rows, 0, lines_of(conn, id)?)?;
    if timeline {
        order["timeline"] = Value::Array(timeline_of(conn, id)?);
    }
    Ok(Some(order))
}

/// The orders of one checkout of `buyer`, as [`view`] shows them, in two statements (the
/// checkout's answer).
pub fn views_of_checkout(
    conn: &Connection,
    checkout: Uuid,
    buyer: Uuid,
) -> Result<Vec<Value>, Problem> {
    let params = [P::Uuid(checkout.to_string()), P::Uuid(buyer.to_string())];
    let rows = query(
        conn,
        &format!(
            "SELECT {} FROM commerce.orders WHERE checkout_id = $1 AND buyer_id = $2 ORDER BY id",
            order_columns()
        ),
        &params,
    )?;
    let lines = query(
        conn,
        &format!(
            "SELECT l.order_id, {LINE_COLUMNS} FROM commerce.order_lines l
             JOIN commerce.orders o ON o.id = l.order_id
             WHERE o.checkout_id = $1 AND o.buyer_id = $2 ORDER BY l.title, l.variant_id"
        ),
        &params,
    )?;
    let mut by_order: Vec<(Uuid, Value)> = Vec::with_capacity(lines.len());
    for i in 0..lines.len() {
        by_order.push((lines.value(i, "order_id")?, line_json(&lines, i)?));
    }
    (0..rows.len())
        .map(|i| {
            let id: Uuid = rows.value(i, "id")?;
            let mine = by_order
                .iter()
                .filter(|(order, _)| *order == id)
                .map(|(_, line)| line.clone())
                .collect();
            order_json(&rows, i, mine)
        })
        .collect()
}

/// Row `i` of [`order_columns`] with its lines.
fn order_json(
    rows: &nexgate_platform::db::Rows,
    i: usize,
    lines: Vec<Value>,
) -> Result<Value, Problem> {
    let s = |c: &str| rows.value::<Option<String>>(i, c);
    Ok(json!({
        "id": rows.value::<Uuid>(i, "id")?,
        "checkout_id": rows.value::<Uuid>(i, "checkout_id")?,
        "shop_id": rows.value::<Uuid>(i, "shop_id")?,
        "seller_id": rows.value::<Uuid>(i, "seller_id")?,
        "buyer_id": rows.value::<Uuid>(i, "buyer_id")?,
        "purchase_type": s("purchase_type")?,
        "state": s("state")?,
        "subtotal": rows.value::<i64>(i, "subtotal")?,
        "delivery_fee": rows.value::<i64>(i, "delivery_fee")?,
        "total": rows.value::<i64>(i, "total")?,
        "currency": s("currency")?,
        "payable_id": rows.value::<Option<Uuid>>(i, "payable_id")?,
        "lines": lines,
        "ship_to": {
            "name": s("ship_name")?, "phone": s("ship_phone")?, "region": s("ship_region")?,
            "district": s("ship_district")?, "street": s("ship_street")?,
        },
        "carrier": s("carrier")?,
        "tracking_number": s("tracking_number")?,
        "cancelled_by": s("cancelled_by")?,
        "cancel_reason": s("cancel_reason")?,
        "reserved_until": s("reserved_until")?,
        "delivered_at": s("delivered_at")?,
        "completes_after": s("completes_after")?,
        "created_at": s("created_at")?,
    }))
}

/// The line columns [`line_json`] reads (table alias `l`).
const LINE_COLUMNS: &str =
    "l.variant_id, l.product_id, l.title, l.option_values, l.quantity, l.unit_price, l.line_total";

/// Row `i` of [`LINE_COLUMNS`].
fn line_json(rows: &nexgate_platform::db::Rows, i: usize) -> Result<Value, Problem> {
    let values: Vec<Option<String>> = rows.value(i, "option_values")?;
    Ok(json!({
        "variant_id": rows.value::<Uuid>(i, "variant_id")?,
        "product_id": rows.value::<Uuid>(i, "product_id")?,
        "title": rows.value::<String>(i, "title")?,
        "option_values": values.into_iter().flatten().collect::<Vec<_>>(),
        "quantity": rows.value::<i32>(i, "quantity")?,
        "unit_price": rows.value::<i64>(i, "unit_price")?,
        "line_total": rows.value::<i64>(i, "line_total")?,
    }))
}

/// An order's lines (the snapshots taken at checkout).
fn lines_of(conn: &Connection, order: Uuid) -> Result<Vec<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {LINE_COLUMNS} FROM commerce.order_lines l WHERE l.order_id = $1
             ORDER BY l.title, l.variant_id"
        ),
        &[P::Uuid(order.to_string())],
    )?;
    (0..rows.len()).map(|i| line_json(&rows, i)).collect()
}

/// Every state change of an order, oldest first, with who made it.
fn timeline_of(conn: &Connection, order: Uuid) -> Result<Vec<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT from_state, to_state, actor_id, actor_kind, note, {} FROM commerce.order_events
             WHERE order_id = $1 ORDER BY at",
            ts("at")
        ),
        &[P::Uuid(order.to_string())],
    )?;
    (0..rows.len())
        .map(|i| {
            Ok(json!({
                "from": rows.value::<Option<String>>(i, "from_state")?,
                "to": rows.value::<String>(i, "to_state")?,
                "actor_id": rows.value::<Option<Uuid>>(i, "actor_id")?,
                "actor": rows.value::<String>(i, "actor_kind")?,
                "note": rows.value::<Option<String>>(i, "note")?,
                "at": rows.value::<String>(i, "at")?,
            }))
        })
        .collect()
}

/// The order `id` if `user` is its buyer or its seller (404 for anyone else), and which.
fn load_for(conn: &Connection, id: Uuid, user: Uuid) -> Result<(OrderRow, Actor), Problem> {
    let not_yours = || Problem::not_found("no such order of yours");
    let order = load(conn, id)?.ok_or_else(not_yours)?;
    let actor = if order.buyer == user {
        Actor::Buyer
    } else if order.seller == user {
        Actor::Seller
    } else if crate::shops::manageable(conn, order.shop, user).is_ok() {
        Actor::Staff
    } else {
        return Err(not_yours());
    };
    Ok((order, actor))
}

/// `GET /shop/orders/{id}`.
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    load_for(&conn, id, ctx.user_id)?;
    Ok(json(
        200,
        &view(&conn, id, true)?.ok_or_else(|| Problem::not_found("no such order"))?,
    ))
}

/// `GET /shop/orders?as=buyer|seller&state=&limit=&cursor=`: newest first.
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let qs = query_string(req);
    let page = page_request::<(CursorTime, Uuid)>(qs, 20, 50)?;
    let whose = match query_param(qs, "as").unwrap_or("buyer") {
        "buyer" => "buyer_id = $1".to_string(),
        // The shops the caller owns or works for.
        "seller" => format!(
            "shop_id IN (SELECT s.id FROM commerce.shops s WHERE {})",
            crate::shops::managed_by("s", "$1")
        ),
        _ => return Err(Problem::invalid_field("as", "must be buyer or seller")),
    };
    let state = query_param(qs, "state")
        .map(|s| {
            OrderState::parse(s)
                .ok_or_else(|| Problem::invalid_field("state", "is not an order state"))
        })
        .transpose()?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT id, {} FROM commerce.orders WHERE {whose} AND ($2::text IS NULL OR state = $2)
               AND ($3::text IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
             ORDER BY created_at DESC, id DESC LIMIT $5",
            ts("created_at")
        ),
        &[
            P::Uuid(ctx.user_id.to_string()),
            state
                .map(|s| P::Str(s.as_str().into()))
                .unwrap_or(P::DbNull),
            page.after
                .as_ref()
                .map(|(at, _)| P::Str(at.as_str().to_string()))
                .unwrap_or(P::DbNull),
            page.after
                .as_ref()
                .map(|(_, id)| P::Uuid(id.to_string()))
                .unwrap_or(P::DbNull),
            P::Int64(page.limit as i64 + 1),
        ],
    )?;
    let mut items = Vec::new();
    let mut last = None;
    for i in 0..rows.len().min(page.limit as usize) {
        let id: Uuid = rows.value(i, "id")?;
        items.extend(view(&conn, id, false)?);
        let at: String = rows.value(i, "created_at")?;
        last = Some((at, id));
    }
    let next = (rows.len() > page.limit as usize)
        .then(|| last.map(|position| encode_cursor(&position)))
        .flatten();
    Ok(json(200, &json!({ "items": items, "next_cursor": next })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    carrier: Option<String>,
    tracking_number: Option<String>,
    reason: Option<String>,
}

/// `POST /shop/orders/{id}/{action}`.
pub async fn act(
    req: &Request,
    id: &str,
    action: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let action = Action::parse(action).ok_or_else(|| Problem::not_found("no such order action"))?;
    let body: ActionBody = if req.body().is_empty() {
        ActionBody::default()
    } else {
        parse_json(
            req.body(),
            req.header("content-type").and_then(|v| v.as_str()),
            8 * 1024,
        )?
    };
    let text = |field: &str, v: &Option<String>, max: usize| -> Result<Option<String>, Problem> {
        match v.as_deref().map(str::trim) {
            Some(t) if t.chars().count() > max => Err(Problem::invalid_field(
                field,
                format!("must be at most {max} characters"),
            )),
            Some("") | None => Ok(None),
            Some(t) => Ok(Some(t.to_string())),
        }
    };
    let carrier = text("carrier", &body.carrier, 60)?;
    let tracking = text("tracking_number", &body.tracking_number, 80)?;
    let reason = text("reason", &body.reason, 200)?;
    if action == Action::Ship && carrier.is_none() {
        return Err(Problem::invalid_field("carrier", "is required to ship"));
    }
    if action == Action::Dispute && reason.is_none() {
        return Err(Problem::invalid_field("reason", "say what went wrong"));
    }
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let (order, actor) = load_for(&conn, id, ctx.user_id)?;
    let to = next(order.state, action, actor).map_err(|why| {
        Problem::conflict(
            "invalid_transition",
            format!("cannot {action:?} a {} order: {why}", order.state.as_str()),
        )
    })?;
    move_money(&order, action, reason.as_deref()).await?;
    let change = Change {
        order: &order,
        to,
        actor,
        actor_id: Some(ctx.user_id),
        carrier,
        tracking,
        reason,
        auto_complete_secs: settings.auto_complete_secs,
    };
    with_events(&conn, SCHEMA, component, |conn, events| {
        apply(conn, events, &change)
    })?;
    Ok(json(
        200,
        &view(&conn, id, true)?.ok_or_else(|| Problem::not_found("no such order"))?,
    ))
}

/// What payments must do before an order's state may say it happened: release on confirmation,
/// void (refunding a paid order) on cancellation, freeze on a dispute, and for an operator's
/// resolution release or refund of the frozen escrow.
async fn move_money(order: &OrderRow, action: Action, reason: Option<&str>) -> Result<(), Problem> {
    let payable = || {
        order
            .payable
            .ok_or_else(|| Problem::internal("a paid order without payable"))
    };
    match action {
        Action::Confirm => payables::release(payable()?, "buyer confirmed delivery").await,
        Action::Dispute => {
            payables::freeze(payable()?, reason.unwrap_or("buyer disputes the order")).await
        }
        Action::ResolveRelease => {
            payables::release_disputed(
                payable()?,
                reason.unwrap_or("dispute resolved for the seller"),
            )
            .await
        }
        Action::Cancel | Action::ResolveRefund => {
            let Some(payable) = order.payable else {
                return Ok(());
            };
            if payables::void(payable, reason.unwrap_or("order cancelled")).await?
                == Voided::PaymentLive
            {
                return Err(Problem::conflict(
                    "payment_in_progress",
                    "a payment of this order is under way; cancel once it has ended",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolution {
    outcome: String,
    reason: String,
}

/// `POST /shop/operator/orders/{id}/resolve {outcome: release|refund, reason}`: an operator with a
/// fresh step-up ends a dispute, for the seller (escrow released, order completed) or for the
/// buyer (refunded in full, order cancelled).
pub async fn resolve(
    req: &Request,
    id: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_role("operator")?;
    ctx.require_step_up(nexgate_platform::time::now_unix().0)?;
    let id = parse_id("id", id)?;
    let b: Resolution = nexgate_platform::body::json_body(req)?;
    let action = match b.outcome.as_str() {
        "release" => Action::ResolveRelease,
        "refund" => Action::ResolveRefund,
        _ => {
            return Err(Problem::invalid_field(
                "outcome",
                "must be release or refund",
            ))
        }
    };
    let reason = b.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Problem::invalid_field(
            "reason",
            "must be 1 to 200 characters",
        ));
    }
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let order = load(&conn, id)?.ok_or_else(|| Problem::not_found("no such order"))?;
    let to = next(order.state, action, Actor::Operator).map_err(|why| {
        Problem::conflict(
            "invalid_transition",
            format!("a {} order: {why}", order.state.as_str()),
        )
    })?;
    move_money(&order, action, Some(reason)).await?;
    let change = Change {
        order: &order,
        to,
        actor: Actor::Operator,
        actor_id: Some(ctx.user_id),
        carrier: None,
        tracking: None,
        reason: Some(reason.to_string()),
        auto_complete_secs: settings.auto_complete_secs,
    };
    with_events(&conn, SCHEMA, component, |conn, events| {
        apply(conn, events, &change)
    })?;
    Ok(json(
        200,
        &view(&conn, id, true)?.ok_or_else(|| Problem::not_found("no such order"))?,
    ))
}

/// One state change with what it carries.
pub struct Change<'a> {
    pub order: &'a OrderRow,
    pub to: OrderState,
    pub actor: Actor,
    pub actor_id: Option<Uuid>,
    pub carrier: Option<String>,
    pub tracking: Option<String>,
    pub reason: Option<String>,
    pub auto_complete_secs: i64,
}

/// Applies `change` if the order is still in the state it was read in (409 otherwise), with its
/// stock, timeline row and event. Money has already moved (payments is asked first).
pub fn apply(conn: &Connection, events: &mut Outbox, c: &Change<'_>) -> Result<(), Problem> {
    let o = c.order;
    let updated = query(
        conn,
        "UPDATE commerce.orders SET state = $3, updated_at = now(),
             carrier = coalesce($4, carrier), tracking_number = coalesce($5, tracking_number),
             delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END,
             completes_after = CASE WHEN $3 = 'delivered' THEN now() + make_interval(secs => $6) ELSE completes_after END,
             cancelled_by = CASE WHEN $3 = 'cancelled' THEN $7 ELSE cancelled_by END,
             cancel_reason = CASE WHEN $3 = 'cancelled' THEN $8 ELSE cancel_reason END,
             refunded = refunded OR ($3 = 'cancelled' AND $2 <> 'pending_payment')
         WHERE id = $1 AND state = $2 RETURNING id",
        &[
            P::Uuid(o.id.to_string()),
            P::Str(o.state.as_str().into()),
            P::Str(c.to.as_str().into()),
            c.carrier.clone().map(P::Str).unwrap_or(P::DbNull),
            c.tracking.clone().map(P::Str).unwrap_or(P::DbNull),
            P::Floating64(c.auto_complete_secs as f64),
            P::Str(c.actor.party().into()),
            c.reason.clone().map(P::Str).unwrap_or(P::DbNull),
        ],
    )?;
    if updated.is_empty() {
        return Err(Problem::conflict(
            "order_changed",
            "the order changed meanwhile; read it again",
        ));
    }
    record_change(
        conn,
        o.id,
        Some(o.state.as_str()),
        c.to.as_str(),
        c.actor_id,
        c.actor.as_str(),
        c.reason.as_deref(),
    )?;
    if c.to == OrderState::Cancelled {
        match o.state {
            OrderState::PendingPayment => {
                inventory::settle(conn, o.id, Settle::Release)?;
            }
            // The goods never left the shop.
            OrderState::Paid | OrderState::Processing => {
                inventory::return_sold(conn, o.id)?;
            }
            // Shipped or disputed: the goods are out; the seller restocks what comes back.
            _ => {}
        }
    }
    announce(conn, events, c)
}

/// The event a state change announces (none for `processing`).
fn announce(conn: &Connection, events: &mut Outbox, c: &Change<'_>) -> Result<(), Problem> {
    let o = c.order;
    let subject = || ("order", o.id.to_string());
    let both = || vec![o.buyer, o.seller];
    match c.to {
        OrderState::Shipped => {
            let shipped = OrderShipped {
                order_id: o.id,
                buyer_id: o.buyer,
                shop_id: o.shop,
                tracking_number: c.tracking.clone(),
            };
            events.record(conn, c.actor_id, subject(), vec![o.buyer], &shipped)
        }
        OrderState::Delivered => {
            let delivered = OrderDelivered {
                order_id: o.id,
                buyer_id: o.buyer,
                seller_id: o.seller,
            };
            events.record(conn, c.actor_id, subject(), both(), &delivered)
        }
        OrderState::Completed => {
            let completed = OrderCompleted {
                order_id: o.id,
                seller_id: o.seller,
                buyer_id: o.buyer,
            };
            events.record(conn, c.actor_id, subject(), both(), &completed)
        }
        OrderState::Cancelled => {
            let cancelled = OrderCancelled {
                order_id: o.id,
                seller_id: o.seller,
                buyer_id: o.buyer,
                cancelled_by: c.actor.party().to_string(),
            };
            events.record(conn, c.actor_id, subject(), both(), &cancelled)
        }
        _ => Ok(()),
    }
}
