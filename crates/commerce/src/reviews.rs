//! Reviews (docs/commerce.md, "Reviews"): `POST /shop/orders/{id}/reviews` (the buyer of a
//! completed order, once per line), `POST /shop/reviews/{id}/reply` (the seller, once),
//! `GET /shop/products/{id}/reviews` (newest first, cursor). The product's and the shop's count,
//! sum and histogram move in the same transaction as the review, by increments, so concurrent
//! reviews never lose one. `commerce.review.created` feeds the seller's trust score.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::commerce::ReviewCreated;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::{json_body, json_response as json, query_string};
use nexgate_platform::db::{constraint, open_from_variables as db, query, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::settings::SCHEMA;

/// Reviews one user may write per day.
pub const REVIEWS_PER_DAY: i64 = 20;
const TEXT_CHARS_MAX: usize = 2_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReview {
    variant_id: String,
    rating: i16,
    #[serde(default)]
    text: String,
    /// Up to 4 files the buyer uploaded with purpose `post`.
    #[serde(default)]
    photos: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    text: String,
}

/// `POST /shop/orders/{id}/reviews`: 201; 404 unless the caller bought this line in this order;
/// 409 `order_not_completed` or `already_reviewed`.
pub async fn create(
    req: &Request,
    order: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let order = parse_id("id", order)?;
    let b: NewReview = json_body(req)?;
    let variant = parse_id("variant_id", &b.variant_id)?;
    if !(1..=5).contains(&b.rating) {
        return Err(Problem::invalid_field("rating", "must be from 1 to 5"));
    }
    if b.text.chars().count() > TEXT_CHARS_MAX {
        return Err(Problem::invalid_field(
            "text",
            "must be at most 2000 characters",
        ));
    }
    let conn = db()?;
    let line = query(
        &conn,
        "SELECT o.state, o.shop_id, o.seller_id, l.product_id FROM commerce.orders o
         JOIN commerce.order_lines l ON l.order_id = o.id AND l.variant_id = $3
         WHERE o.id = $1 AND o.buyer_id = $2",
        &[
            P::Uuid(order.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Uuid(variant.to_string()),
        ],
    )?;
    if line.is_empty() {
        return Err(Problem::not_found("no such line in an order of yours"));
    }
    if line.value::<String>(0, "state")? != "completed" {
        return Err(Problem::conflict(
            "order_not_completed",
            "review an order once it is completed",
        ));
    }
    crate::limits::count("review", ctx.user_id, REVIEWS_PER_DAY, 24 * 3600)?;
    let (shop, seller, product): (Uuid, Uuid, Uuid) = (
        line.value(0, "shop_id")?,
        line.value(0, "seller_id")?,
        line.value(0, "product_id")?,
    );
    let id = new_id();
    let photos = crate::media::file_ids("photos", &b.photos, crate::media::REVIEW_PHOTOS_MAX)?;
    for (i, file) in photos.iter().enumerate() {
        crate::media::attach_review_photo(ctx.user_id, id, *file, &format!("photos[{i}]")).await?;
    }
    with_events(&conn, SCHEMA, component, |conn, events| {
        query(
            conn,
            "INSERT INTO commerce.reviews (id, order_id, variant_id, product_id, shop_id, buyer_id, rating, text,
                 photo_file_ids)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[]::uuid[])",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(order.to_string()),
                P::Uuid(variant.to_string()),
                P::Uuid(product.to_string()),
                P::Uuid(shop.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                P::Int16(b.rating),
                P::Str(b.text.trim().to_string()),
                P::ArrayStr(photos.iter().map(|p| Some(p.to_string())).collect()),
            ],
        )
        .map_err(|e| match constraint(&e) {
            Some("reviews_order_id_variant_id_key") => {
                Problem::conflict("already_reviewed", "you reviewed this item of this order already")
            }
            _ => Problem::from(e),
        })?;
        count_rating(conn, product, shop, b.rating)?;
        events.record(
            conn,
            Some(ctx.user_id),
            ("review", id.to_string()),
            vec![seller],
            &ReviewCreated {
                review_id: id,
                seller_id: seller,
                author_id: ctx.user_id,
                rating: b.rating as i64,
            },
        )
    })?;
    Ok(json(
        201,
        &json!({ "id": id, "order_id": order, "variant_id": variant, "rating": b.rating, "text": b.text.trim() }),
    ))
}

/// A review's ready photos (the list query's JSON) as the API shows public media.
fn photos_view(cdn: &str, photos: &str) -> Result<Vec<Value>, Problem> {
    let photos: Vec<Value> = serde_json::from_str(photos).map_err(Problem::internal)?;
    let mut shown = Vec::with_capacity(photos.len());
    for p in photos {
        let file = p["file_id"].as_str().and_then(|f| Uuid::parse_str(f).ok());
        let blurhash = p["blurhash"].as_str().map(str::to_string);
        if let Some(v) = nexgate_platform::public_media::view(
            cdn,
            file,
            Some(p["variants"].to_string()),
            blurhash,
        )? {
            shown.push(v);
        }
    }
    Ok(shown)
}

/// Adds one rating to the product's and the shop's count, sum and histogram: increments in
/// place, so concurrent reviews never lose one.
fn count_rating(conn: &Connection, product: Uuid, shop: Uuid, rating: i16) -> Result<(), Problem> {
    for (table, id) in [("products", product), ("shops", shop)] {
        query(
            conn,
            &format!(
                "UPDATE commerce.{table} SET rating_count = rating_count + 1, rating_sum = rating_sum + $2,
                     rating_histogram[$2] = rating_histogram[$2] + 1 WHERE id = $1"
            ),
            &[P::Uuid(id.to_string()), P::Int32(rating as i32)],
        )?;
    }
    Ok(())
}

/// `POST /shop/reviews/{id}/reply`: the shop's owner answers once (409 `already_replied`).
pub fn reply(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: Reply = json_body(req)?;
    let text = b.text.trim();
    if text.is_empty() || text.chars().count() > TEXT_CHARS_MAX {
        return Err(Problem::invalid_field(
            "text",
            "must be 1 to 2000 characters",
        ));
    }
    let conn = db()?;
    let rows = query(
        &conn,
        "SELECT r.reply IS NOT NULL AS replied FROM commerce.reviews r JOIN commerce.shops s ON s.id = r.shop_id
         WHERE r.id = $1 AND s.owner_id = $2",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such review of your shops"));
    }
    let updated = query(
        &conn,
        "UPDATE commerce.reviews SET reply = $2, replied_at = now() WHERE id = $1 AND reply IS NULL RETURNING id",
        &[P::Uuid(id.to_string()), P::Str(text.to_string())],
    )?;
    if updated.is_empty() {
        return Err(Problem::conflict(
            "already_replied",
            "a review gets one reply",
        ));
    }
    Ok(json(200, &json!({ "id": id, "reply": text })))
}

/// `GET /shop/products/{id}/reviews?limit=&cursor=`: the reviews with the product's aggregates.
pub fn list(req: &Request, product: &str) -> Result<Response, Problem> {
    authenticate(req)?;
    let product = parse_id("id", product)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 20, 50)?;
    let conn = db()?;
    let summary = query(
        &conn,
        "SELECT rating_count, rating_sum, rating_histogram FROM commerce.products WHERE id = $1 AND status = 'active'",
        &[P::Uuid(product.to_string())],
    )?;
    if summary.is_empty() {
        return Err(Problem::not_found("no such product"));
    }
    let rows = query(
        &conn,
        &format!(
            "SELECT id, buyer_id, rating, text, reply, {}, {},
                    (SELECT coalesce(jsonb_agg(jsonb_build_object('file_id', m.file_id, 'variants', m.variants,
                         'blurhash', m.blurhash) ORDER BY u.n), '[]')::text
                     FROM unnest(photo_file_ids) WITH ORDINALITY u(file_id, n)
                     JOIN files.public_media m ON m.file_id = u.file_id) AS photos
             FROM commerce.reviews
             WHERE product_id = $1 AND ($2::text IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
             ORDER BY created_at DESC, id DESC LIMIT $4",
            ts("created_at"),
            ts("replied_at")
        ),
        &[
            P::Uuid(product.to_string()),
            page.after.as_ref().map(|(at, _)| P::Str(at.as_str().to_string())).unwrap_or(P::DbNull),
            page.after.as_ref().map(|(_, id)| P::Uuid(id.to_string())).unwrap_or(P::DbNull),
            P::Int64(page.limit as i64 + 1),
        ],
    )?;
    let mut items = Vec::new();
    let mut last = None;
    let cdn = nexgate_platform::public_media::cdn_base()?;
    for i in 0..rows.len().min(page.limit as usize) {
        let id: Uuid = rows.value(i, "id")?;
        let at: String = rows.value(i, "created_at")?;
        let photos = photos_view(&cdn, &rows.value::<String>(i, "photos")?)?;
        items.push(json!({
            "id": id,
            "buyer_id": rows.value::<Uuid>(i, "buyer_id")?,
            "rating": rows.value::<i16>(i, "rating")?,
            "text": rows.value::<String>(i, "text")?,
            "reply": rows.value::<Option<String>>(i, "reply")?,
            "replied_at": rows.value::<Option<String>>(i, "replied_at")?,
            "photos": photos,
            "created_at": &at,
        }));
        last = Some((at, id));
    }
    let next = (rows.len() > page.limit as usize)
        .then(|| last.map(|position| encode_cursor(&position)))
        .flatten();
    let (count, sum): (i32, i32) = (
        summary.value(0, "rating_count")?,
        summary.value(0, "rating_sum")?,
    );
    let histogram: Vec<Option<i32>> = summary.value(0, "rating_histogram")?;
    Ok(json(
        200,
        &json!({
            "rating": {
                "count": count,
                "mean": if count > 0 { Some(sum as f64 / count as f64) } else { None },
                "distribution": histogram.into_iter().map(|n| n.unwrap_or(0)).collect::<Vec<_>>(),
            },
            "items": items,
            "next_cursor": next,
        }),
    ))
}
