//! Wishlists: `PUT /shop/wishlist/{product_id}` (optionally `{variant_id}`), `DELETE
//! /shop/wishlist/{product_id}`, `GET /shop/wishlist`. Whoever saved a product hears of a price
//! drop (at most once per product per day) and of a sold-out variant coming back.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_response as json, parse_json};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// At most this many saved products per user.
pub const WISHLIST_MAX: i64 = 500;
/// At most this many users are named in one notice's audience.
pub const AUDIENCE_MAX: i64 = 1_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Save {
    variant_id: Option<String>,
}

/// The users whose wishlist holds `product` (any variant, or `variant` when given).
pub fn watchers(
    conn: &Connection,
    product: Uuid,
    variant: Option<Uuid>,
) -> Result<Vec<Uuid>, Problem> {
    query(
        conn,
        "SELECT user_id FROM commerce.wishlist WHERE product_id = $1
           AND ($2::uuid IS NULL OR variant_id IS NULL OR variant_id = $2)
         ORDER BY saved_at LIMIT $3",
        &[
            P::Uuid(product.to_string()),
            variant.map(|v| P::Uuid(v.to_string())).unwrap_or(P::DbNull),
            P::Int64(AUDIENCE_MAX),
        ],
    )?
    .column("user_id")
}

/// `PUT /shop/wishlist/{product_id}`: saves an active product (204); 404 for one not on sale to
/// this user, 422 for a variant of another product, 409 `wishlist_full`.
pub fn save(req: &Request, product: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let product = parse_id("product_id", product)?;
    let b: Save = if req.body().is_empty() {
        Save::default()
    } else {
        parse_json(
            req.body(),
            req.header("content-type").and_then(|v| v.as_str()),
            4 * 1024,
        )?
    };
    let variant = b
        .variant_id
        .as_deref()
        .map(|v| parse_id("variant_id", v))
        .transpose()?;
    let conn = db()?;
    let me = || P::Uuid(ctx.user_id.to_string());
    let found = query(
        &conn,
        "SELECT ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM commerce.variants v WHERE v.id = $3 AND v.product_id = p.id)) AS variant_ok,
                (SELECT count(*) FROM commerce.wishlist w WHERE w.user_id = $1 AND w.product_id <> p.id) AS saved
         FROM commerce.products p JOIN commerce.shops s ON s.id = p.shop_id
         WHERE p.id = $2 AND p.status = 'active' AND NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $1 AND b.user_b = s.owner_id)",
        &[me(), P::Uuid(product.to_string()), variant.map(|v| P::Uuid(v.to_string())).unwrap_or(P::DbNull)],
    )?;
    if found.is_empty() {
        return Err(Problem::not_found("no such product on sale"));
    }
    if !found.value::<bool>(0, "variant_ok")? {
        return Err(Problem::invalid_field(
            "variant_id",
            "is not a variant of this product",
        ));
    }
    if found.value::<i64>(0, "saved")? >= WISHLIST_MAX {
        return Err(Problem::conflict(
            "wishlist_full",
            format!("a wishlist holds at most {WISHLIST_MAX} products"),
        ));
    }
    query(
        &conn,
        "INSERT INTO commerce.wishlist (user_id, product_id, variant_id) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, product_id) DO UPDATE SET variant_id = EXCLUDED.variant_id",
        &[
            me(),
            P::Uuid(product.to_string()),
            variant.map(|v| P::Uuid(v.to_string())).unwrap_or(P::DbNull),
        ],
    )?;
    Ok(Response::builder().status(204).build())
}

/// `DELETE /shop/wishlist/{product_id}`: 204; 404 when it was not saved.
pub fn unsave(req: &Request, product: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let product = parse_id("product_id", product)?;
    let conn = db()?;
    let gone = query(
        &conn,
        "DELETE FROM commerce.wishlist WHERE user_id = $1 AND product_id = $2 RETURNING product_id",
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Uuid(product.to_string()),
        ],
    )?;
    if gone.is_empty() {
        return Err(Problem::not_found("this product is not on your wishlist"));
    }
    Ok(Response::builder().status(204).build())
}

/// `GET /shop/wishlist`: newest first, with today's price range and availability.
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT w.product_id, w.variant_id, p.title, p.status, c.price_min, c.price_max, c.available, c.currency, {}
             FROM commerce.wishlist w JOIN commerce.products p ON p.id = w.product_id
             JOIN commerce.product_cards c ON c.product_id = w.product_id
             WHERE w.user_id = $1 ORDER BY w.saved_at DESC",
            ts("w.saved_at")
        ),
        &[P::Uuid(ctx.user_id.to_string())],
    )?;
    let mut items = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        items.push(json!({
            "product_id": rows.value::<Uuid>(i, "product_id")?,
            "variant_id": rows.value::<Option<Uuid>>(i, "variant_id")?,
            "title": rows.value::<String>(i, "title")?,
            "on_sale": rows.value::<String>(i, "status")? == "active",
            "price_min": rows.value::<Option<i64>>(i, "price_min")?,
            "price_max": rows.value::<Option<i64>>(i, "price_max")?,
            "available": rows.value::<i64>(i, "available")?,
            "currency": rows.value::<String>(i, "currency")?,
            "saved_at": rows.value::<String>(i, "saved_at")?,
        }));
    }
    Ok(json(200, &json!({ "items": items })))
}
