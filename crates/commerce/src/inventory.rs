//! Exact stock. Every change of a variant's `stock` or `reserved` is one `stock_movements` row
//! written by the same statement (a data-modifying CTE), so the columns always equal the sums of
//! the movements. Taking stock is one conditional `UPDATE ... WHERE stock - reserved >= $q`: two
//! checkouts can never both take the last unit.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::commerce::{StockLow, StockRestocked};
use nexgate_events::outbox::{with_events, Outbox};
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::settings::SCHEMA;

/// A change to what a shop holds (not tied to an order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Initial,
    Restock,
    Adjustment,
}

impl Movement {
    fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Restock => "restock",
            Self::Adjustment => "adjustment",
        }
    }
}

/// Adds `delta` (negative for an adjustment down) to a variant's stock with its movement; a
/// change that would leave less than is reserved is refused (409 `stock_reserved`).
pub fn move_stock(
    conn: &Connection,
    variant: Uuid,
    kind: Movement,
    delta: i32,
    actor: Option<Uuid>,
    reason: Option<&str>,
) -> Result<i32, Problem> {
    let rows = query(
        conn,
        "WITH v AS (
             UPDATE commerce.variants SET stock = stock + $2
             WHERE id = $1 AND stock + $2 >= reserved RETURNING id, stock)
         INSERT INTO commerce.stock_movements (id, variant_id, kind, stock_delta, reserved_delta, actor_id, reason)
         SELECT $3, v.id, $4, $2, 0, $5, $6 FROM v RETURNING (SELECT stock FROM v) AS stock",
        &[
            P::Uuid(variant.to_string()),
            P::Int32(delta),
            P::Uuid(new_id().to_string()),
            P::Str(kind.as_str().into()),
            actor.map(|a| P::Uuid(a.to_string())).unwrap_or(P::DbNull),
            reason.map(|r| P::Str(r.to_string())).unwrap_or(P::DbNull),
        ],
    )?;
    if rows.is_empty() {
        return Err(Problem::conflict(
            "stock_reserved",
            "that would leave less stock than checkouts are holding",
        ));
    }
    rows.value(0, "stock")
}

/// What an order line records about what was bought (snapshots taken at checkout).
pub struct LineSnapshot<'a> {
    pub product: Uuid,
    pub title: &'a str,
    pub option_values: &'a [Option<String>],
    pub unit_price: i64,
}

/// Holds `quantity` of `variant` for `order` until `expires_secs` from now and writes the order's
/// line for it: one statement whose first step is the conditional decrement, so nothing else is
/// written when it finds too few units. `false` when not enough is available.
pub fn reserve(
    conn: &Connection,
    order: Uuid,
    variant: Uuid,
    quantity: i32,
    expires_secs: i64,
    line: &LineSnapshot<'_>,
) -> Result<bool, Problem> {
    let rows = query(
        conn,
        "WITH v AS (
             UPDATE commerce.variants SET reserved = reserved + $3
             WHERE id = $2 AND stock - reserved >= $3 RETURNING id),
         l AS (
             INSERT INTO commerce.order_lines (order_id, variant_id, product_id, title, option_values, quantity,
                 unit_price, line_total)
             SELECT $1, v.id, $6, $7, $8, $3, $9, $9::bigint * $3 FROM v RETURNING variant_id),
         r AS (
             INSERT INTO commerce.reservations (order_id, variant_id, quantity, expires_at)
             SELECT $1, l.variant_id, $3, now() + make_interval(secs => $5) FROM l RETURNING variant_id)
         INSERT INTO commerce.stock_movements (id, variant_id, kind, stock_delta, reserved_delta, order_id)
         SELECT $4, r.variant_id, 'reservation', 0, $3, $1 FROM r RETURNING variant_id",
        &[
            P::Uuid(order.to_string()),
            P::Uuid(variant.to_string()),
            P::Int32(quantity),
            P::Uuid(new_id().to_string()),
            P::Floating64(expires_secs as f64),
            P::Uuid(line.product.to_string()),
            P::Str(line.title.to_string()),
            P::ArrayStr(line.option_values.to_vec()),
            P::Int64(line.unit_price),
        ],
    )?;
    Ok(!rows.is_empty())
}

/// What happens to an order's active reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Paid: the units leave the shop (stock and reserved both drop).
    Sell,
    /// Cancelled or expired unpaid: the units are available again.
    Release,
}

/// Settles every active reservation of `order` once (a second call finds none): the number of
/// reservations settled.
pub fn settle(conn: &Connection, order: Uuid, how: Settle) -> Result<usize, Problem> {
    let (state, kind, stock_sign) = match how {
        Settle::Sell => ("sold", "sale", -1),
        Settle::Release => ("released", "release", 0),
    };
    let rows = query(
        conn,
        "WITH r AS (
             UPDATE commerce.reservations SET state = $2
             WHERE order_id = $1 AND state = 'active' RETURNING variant_id, quantity),
         v AS (
             UPDATE commerce.variants v SET reserved = v.reserved - r.quantity,
                 stock = v.stock + $4 * r.quantity
             FROM r WHERE v.id = r.variant_id RETURNING v.id)
         INSERT INTO commerce.stock_movements (id, variant_id, kind, stock_delta, reserved_delta, order_id)
         SELECT gen_random_uuid(), r.variant_id, $3, $4 * r.quantity, -r.quantity, $1 FROM r
         RETURNING variant_id",
        &[
            P::Uuid(order.to_string()),
            P::Str(state.into()),
            P::Str(kind.into()),
            P::Int32(stock_sign),
        ],
    )?;
    Ok(rows.len())
}

/// A paid order cancelled before it left the shop: its sold units go back on the shelf, once
/// (the lines of reservations marked `sold` become `released` with a `return` movement).
pub fn return_sold(conn: &Connection, order: Uuid) -> Result<usize, Problem> {
    let rows = query(
        conn,
        "WITH r AS (
             UPDATE commerce.reservations SET state = 'released'
             WHERE order_id = $1 AND state = 'sold' RETURNING variant_id, quantity),
         v AS (
             UPDATE commerce.variants v SET stock = v.stock + r.quantity
             FROM r WHERE v.id = r.variant_id RETURNING v.id)
         INSERT INTO commerce.stock_movements (id, variant_id, kind, stock_delta, reserved_delta, order_id)
         SELECT gen_random_uuid(), r.variant_id, 'return', r.quantity, 0, $1 FROM r
         RETURNING variant_id",
        &[P::Uuid(order.to_string())],
    )?;
    Ok(rows.len())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StockChange {
    kind: String,
    quantity: i32,
    reason: Option<String>,
}

/// A sale leaving this many units or fewer to sell announces `commerce.stock.low`.
pub const LOW_STOCK_THRESHOLD: i32 = 5;

/// After a sale: `commerce.stock.low` for each of the order's variants left with
/// [`LOW_STOCK_THRESHOLD`] units or fewer to sell (inside the sale's transaction).
pub fn announce_low_stock(
    conn: &Connection,
    events: &mut Outbox,
    order: Uuid,
) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT v.id, v.product_id, p.shop_id, s.owner_id, v.stock - v.reserved AS available
         FROM commerce.reservations r JOIN commerce.variants v ON v.id = r.variant_id
         JOIN commerce.products p ON p.id = v.product_id JOIN commerce.shops s ON s.id = p.shop_id
         WHERE r.order_id = $1 AND v.stock - v.reserved <= $2",
        &[P::Uuid(order.to_string()), P::Int32(LOW_STOCK_THRESHOLD)],
    )?;
    for i in 0..rows.len() {
        let variant: Uuid = rows.value(i, "id")?;
        let seller: Uuid = rows.value(i, "owner_id")?;
        let low = StockLow {
            variant_id: variant,
            product_id: rows.value(i, "product_id")?,
            shop_id: rows.value(i, "shop_id")?,
            seller_id: seller,
            available: rows.value::<i32>(i, "available")? as i64,
        };
        events.record(
            conn,
            None,
            ("variant", variant.to_string()),
            vec![seller],
            &low,
        )?;
    }
    Ok(())
}

/// `POST /shop/variants/{id}/stock` (the shop's owner): `restock` adds units; `adjustment` adds
/// or removes them with a reason (a count, damage, loss). A sold-out variant that can be bought
/// again announces `commerce.stock.restocked`.
pub fn change(req: &Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let variant = parse_id("id", id)?;
    let b: StockChange = json_body(req)?;
    let kind = match b.kind.as_str() {
        "restock" if b.quantity > 0 => Movement::Restock,
        "restock" => {
            return Err(Problem::invalid_field(
                "quantity",
                "a restock adds at least 1 unit",
            ))
        }
        "adjustment" if b.quantity != 0 => Movement::Adjustment,
        "adjustment" => return Err(Problem::invalid_field("quantity", "may not be 0")),
        _ => {
            return Err(Problem::invalid_field(
                "kind",
                "must be restock or adjustment",
            ))
        }
    };
    if b.quantity.unsigned_abs() > crate::products::STOCK_MAX as u32 {
        return Err(Problem::invalid_field(
            "quantity",
            "must be within ±1000000",
        ));
    }
    let reason = b.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if kind == Movement::Adjustment && reason.is_none() {
        return Err(Problem::invalid_field(
            "reason",
            "an adjustment needs a reason",
        ));
    }
    let conn = db()?;
    let stock = with_events(&conn, SCHEMA, component, |conn, events| {
        let owned = query(
            conn,
            "SELECT v.product_id, p.shop_id, v.stock - v.reserved AS available
             FROM commerce.variants v JOIN commerce.products p ON p.id = v.product_id
             JOIN commerce.shops s ON s.id = p.shop_id
             WHERE v.id = $1 AND (s.owner_id = $2 OR EXISTS (SELECT 1 FROM commerce.shop_staff st
                 WHERE st.shop_id = s.id AND st.user_id = $2))
             FOR UPDATE OF v",
            &[
                P::Uuid(variant.to_string()),
                P::Uuid(ctx.user_id.to_string()),
            ],
        )?;
        if owned.is_empty() {
            return Err(Problem::not_found("no such variant in your shops"));
        }
        let before: i32 = owned.value(0, "available")?;
        let stock = move_stock(conn, variant, kind, b.quantity, Some(ctx.user_id), reason)?;
        let after = before + b.quantity;
        if before <= 0 && after > 0 {
            let restocked = StockRestocked {
                variant_id: variant,
                product_id: owned.value(0, "product_id")?,
                shop_id: owned.value(0, "shop_id")?,
                available: after as i64,
            };
            let audience = crate::wishlist::watchers(conn, restocked.product_id, Some(variant))?;
            events.record(
                conn,
                Some(ctx.user_id),
                ("variant", variant.to_string()),
                audience,
                &restocked,
            )?;
        }
        Ok(stock)
    })?;
    Ok(json(200, &json!({ "variant_id": variant, "stock": stock })))
}
