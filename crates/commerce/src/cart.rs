//! The buyer's cart: `GET /shop/cart`, `PUT /shop/cart/items/{variant_id} {quantity}` (add or
//! change), `DELETE /shop/cart/items/{variant_id}`. Lines from many shops, each with the price
//! seen when it was put there; reading the cart flags a line whose price changed or whose stock
//! no longer covers it. Checkout without `lines` buys the whole cart and empties what it bought.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// At most this many lines in a cart.
pub const CART_LINES_MAX: i64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetQuantity {
    quantity: i32,
}

/// The cart's lines as (variant, quantity), oldest first (what a checkout without lines buys).
pub fn lines(conn: &Connection, user: Uuid) -> Result<Vec<(Uuid, i32)>, Problem> {
    let rows = query(
        conn,
        "SELECT variant_id, quantity FROM commerce.cart_lines WHERE user_id = $1 ORDER BY added_at, variant_id",
        &[P::Uuid(user.to_string())],
    )?;
    (0..rows.len())
        .map(|i| Ok((rows.value(i, "variant_id")?, rows.value(i, "quantity")?)))
        .collect()
}

/// Removes what a checkout bought from the cart (inside the checkout's transaction).
pub fn remove_bought(conn: &Connection, user: Uuid, variants: &[Uuid]) -> Result<(), Problem> {
    query(
        conn,
        "DELETE FROM commerce.cart_lines WHERE user_id = $1 AND variant_id::text = ANY($2)",
        &[
            P::Uuid(user.to_string()),
            P::ArrayStr(variants.iter().map(|v| Some(v.to_string())).collect()),
        ],
    )?;
    Ok(())
}

/// `GET /shop/cart`.
pub fn get(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    Ok(json(200, &view(&conn, ctx.user_id)?))
}

fn view(conn: &Connection, user: Uuid) -> Result<Value, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT c.variant_id, c.quantity, c.unit_price_seen, v.price, v.stock - v.reserved AS available,
                    v.option_values, p.id AS product_id, p.title, s.id AS shop_id, s.currency,
                    (p.status = 'active' AND s.status = 'open') AS on_sale, {}
             FROM commerce.cart_lines c JOIN commerce.variants v ON v.id = c.variant_id
             JOIN commerce.products p ON p.id = v.product_id JOIN commerce.shops s ON s.id = p.shop_id
             WHERE c.user_id = $1 ORDER BY c.added_at, c.variant_id",
            ts("c.added_at")
        ),
        &[P::Uuid(user.to_string())],
    )?;
    let mut items = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let (quantity, seen, price, available): (i32, i64, i64, i32) = (
            rows.value(i, "quantity")?,
            rows.value(i, "unit_price_seen")?,
            rows.value(i, "price")?,
            rows.value(i, "available")?,
        );
        items.push(json!({
            "variant_id": rows.value::<Uuid>(i, "variant_id")?,
            "product_id": rows.value::<Uuid>(i, "product_id")?,
            "shop_id": rows.value::<Uuid>(i, "shop_id")?,
            "title": rows.value::<String>(i, "title")?,
            "option_values": rows.value::<Vec<Option<String>>>(i, "option_values")?.into_iter().flatten().collect::<Vec<_>>(),
            "quantity": quantity,
            "currency": rows.value::<String>(i, "currency")?,
            "unit_price_seen": seen,
            "unit_price": price,
            "price_changed": seen != price,
            "available": available,
            "stock_short": quantity > available,
            "on_sale": rows.value::<bool>(i, "on_sale")?,
            "added_at": rows.value::<String>(i, "added_at")?,
        }));
    }
    Ok(json!({ "items": items }))
}

/// `PUT /shop/cart/items/{variant_id}`: puts the variant in the cart with this quantity (the
/// price seen is the current one); 404 for a variant not on sale to this user.
pub fn set(req: &Request, variant: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let variant = parse_id("variant_id", variant)?;
    let b: SetQuantity = json_body(req)?;
    if !(1..=crate::checkout::QUANTITY_MAX).contains(&b.quantity) {
        return Err(Problem::invalid_field("quantity", "must be from 1 to 1000"));
    }
    let conn = db()?;
    let me = || P::Uuid(ctx.user_id.to_string());
    let rows = query(
        &conn,
        "WITH target AS (
             SELECT v.id, v.price FROM commerce.variants v JOIN commerce.products p ON p.id = v.product_id
             JOIN commerce.shops s ON s.id = p.shop_id
             WHERE v.id = $2 AND p.status = 'active' AND s.status = 'open' AND s.owner_id <> $1
               AND NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $1 AND b.user_b = s.owner_id)),
         room AS (
             SELECT (SELECT count(*) FROM commerce.cart_lines WHERE user_id = $1 AND variant_id <> $2) < $4 AS ok)
         INSERT INTO commerce.cart_lines (user_id, variant_id, quantity, unit_price_seen)
         SELECT $1, target.id, $3, target.price FROM target, room WHERE room.ok
         ON CONFLICT (user_id, variant_id) DO UPDATE SET quantity = EXCLUDED.quantity,
             unit_price_seen = EXCLUDED.unit_price_seen
         RETURNING (SELECT count(*) FROM target) AS found",
        &[me(), P::Uuid(variant.to_string()), P::Int32(b.quantity), P::Int64(CART_LINES_MAX)],
    )?;
    if rows.is_empty() {
        let exists = !query(
            &conn,
            "SELECT 1 FROM commerce.variants v JOIN commerce.products p ON p.id = v.product_id
             JOIN commerce.shops s ON s.id = p.shop_id
             WHERE v.id = $2 AND p.status = 'active' AND s.status = 'open' AND s.owner_id <> $1
               AND NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $1 AND b.user_b = s.owner_id)",
            &[me(), P::Uuid(variant.to_string())],
        )?
        .is_empty();
        return Err(if exists {
            Problem::conflict(
                "cart_full",
                format!("a cart holds at most {CART_LINES_MAX} lines"),
            )
        } else {
            Problem::not_found("no such variant on sale")
        });
    }
    Ok(json(200, &view(&conn, ctx.user_id)?))
}

/// `DELETE /shop/cart/items/{variant_id}`: 204.
pub fn remove(req: &Request, variant: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let variant = parse_id("variant_id", variant)?;
    let conn = db()?;
    let rows = query(
        &conn,
        "DELETE FROM commerce.cart_lines WHERE user_id = $1 AND variant_id = $2 RETURNING variant_id",
        &[P::Uuid(ctx.user_id.to_string()), P::Uuid(variant.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such line in your cart"));
    }
    Ok(Response::builder().status(204).build())
}
