//! Products and their variants: `POST /shop/shops/{id}/products` (the shop's owner),
//! `GET /shop/products/{id}`, `GET /shop/products` (browse and search, newest first, cursor).

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json, query_param, query_string};
use nexgate_platform::db::{constraint, open_from_variables as db, query, transaction, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::inventory::{self, Movement};
use crate::settings::SCHEMA;
use nexgate_events::catalogue::commerce::PriceDropped;
use nexgate_events::outbox::{with_events, Outbox};

/// At most this many options (size, colour, ...) per product.
pub const OPTIONS_MAX: usize = 3;
/// At most this many variants per product.
pub const VARIANTS_MAX: usize = 100;
/// Longest title and description.
pub const TITLE_CHARS_MAX: usize = 140;
pub const DESCRIPTION_CHARS_MAX: usize = 5_000;
/// Largest stock a variant may be given at once.
pub const STOCK_MAX: i64 = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    options: Vec<String>,
    variants: Vec<NewVariant>,
    #[serde(default = "active")]
    status: String,
    #[serde(default)]
    price_tiers: Vec<PriceTier>,
    /// Up to 10 files uploaded with purpose `product`, in display order.
    #[serde(default)]
    images: Vec<String>,
}

/// Buy at least `min_quantity` units of a variant at `unit_price` each.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceTier {
    min_quantity: i32,
    unit_price: i64,
}

/// At most this many quantity tiers per product.
pub const PRICE_TIERS_MAX: usize = 5;

fn active() -> String {
    "active".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVariant {
    sku: String,
    #[serde(default)]
    option_values: Vec<String>,
    price: i64,
    compare_at_price: Option<i64>,
    weight_grams: Option<i32>,
    stock: i64,
}

/// A price or fee in minor units: positive (or zero where `zero_ok`) and whole shillings, since
/// mobile money moves integers (422 naming `field`).
pub fn check_whole_shillings(field: &str, amount: i64, zero_ok: bool) -> Result<(), Problem> {
    if amount < 0 || (amount == 0 && !zero_ok) {
        return Err(Problem::invalid_field(
            field,
            if zero_ok {
                "may not be negative"
            } else {
                "must be more than 0"
            },
        ));
    }
    if amount % 100 != 0 {
        return Err(
            Problem::new(422, "not_whole_shillings", "Amounts are whole shillings").with_field(
                field,
                "is in minor units and must be a whole number of shillings (a multiple of 100)",
            ),
        );
    }
    Ok(())
}

fn check_product(b: &NewProduct) -> Result<(), Problem> {
    let title = b.title.trim();
    if title.is_empty() || title.chars().count() > TITLE_CHARS_MAX {
        return Err(Problem::invalid_field(
            "title",
            "must be 1 to 140 characters",
        ));
    }
    if b.description.chars().count() > DESCRIPTION_CHARS_MAX {
        return Err(Problem::invalid_field(
            "description",
            "must be at most 5000 characters",
        ));
    }
    if !matches!(b.status.as_str(), "draft" | "active" | "archived") {
        return Err(Problem::invalid_field(
            "status",
            "must be draft, active or archived",
        ));
    }
    if b.options.len() > OPTIONS_MAX || b.options.iter().any(|o| o.trim().is_empty()) {
        return Err(Problem::invalid_field(
            "options",
            "name at most 3 non-empty options",
        ));
    }
    if b.variants.is_empty() || b.variants.len() > VARIANTS_MAX {
        return Err(Problem::invalid_field("variants", "give 1 to 100 variants"));
    }
    check_tiers(&b.price_tiers)?;
    let mut seen = std::collections::HashSet::new();
    for (i, v) in b.variants.iter().enumerate() {
        let at = |f: &str| format!("variants[{i}].{f}");
        if v.sku.trim().is_empty() || v.sku.len() > 64 {
            return Err(Problem::invalid_field(
                at("sku"),
                "must be 1 to 64 characters",
            ));
        }
        if v.option_values.len() != b.options.len() {
            return Err(Problem::invalid_field(
                at("option_values"),
                format!("give one value for each of the {} options", b.options.len()),
            ));
        }
        if !seen.insert(v.option_values.clone()) {
            return Err(Problem::invalid_field(
                at("option_values"),
                "repeats another variant",
            ));
        }
        check_whole_shillings(&at("price"), v.price, false)?;
        if let Some(c) = v.compare_at_price {
            check_whole_shillings(&at("compare_at_price"), c, false)?;
        }
        if !(0..=STOCK_MAX).contains(&v.stock) {
            return Err(Problem::invalid_field(
                at("stock"),
                "must be from 0 to 1000000",
            ));
        }
        if v.weight_grams.is_some_and(|w| w < 0) {
            return Err(Problem::invalid_field(
                at("weight_grams"),
                "may not be negative",
            ));
        }
    }
    Ok(())
}

/// Tiers: at most five, each for 2 to 1,000 units, a lower unit price the more units.
fn check_tiers(tiers: &[PriceTier]) -> Result<(), Problem> {
    if tiers.len() > PRICE_TIERS_MAX {
        return Err(Problem::invalid_field(
            "price_tiers",
            "give at most 5 tiers",
        ));
    }
    let mut previous: Option<&PriceTier> = None;
    for (i, t) in tiers.iter().enumerate() {
        if !(2..=1000).contains(&t.min_quantity) {
            return Err(Problem::invalid_field(
                format!("price_tiers[{i}].min_quantity"),
                "must be from 2 to 1000",
            ));
        }
        check_whole_shillings(&format!("price_tiers[{i}].unit_price"), t.unit_price, false)?;
        if let Some(p) = previous {
            if t.min_quantity <= p.min_quantity || t.unit_price >= p.unit_price {
                return Err(Problem::invalid_field(
                    format!("price_tiers[{i}]"),
                    "tiers go up in quantity and down in price",
                ));
            }
        }
        previous = Some(t);
    }
    Ok(())
}

/// `POST /shop/shops/{id}/products`: 201 with the product and its variants.
pub async fn create(req: &Request, shop_id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let shop_id = parse_id("shop_id", shop_id)?;
    let b: NewProduct = json_body(req)?;
    check_product(&b)?;
    let images = crate::media::file_ids("images", &b.images, crate::media::IMAGES_MAX)?;
    let conn = db()?;
    crate::shops::manageable(&conn, shop_id, ctx.user_id)?;
    let id = new_id();
    for (i, file) in images.iter().enumerate() {
        crate::media::attach_image(ctx.user_id, id, *file, &format!("images[{i}]")).await?;
    }
    transaction(&conn, |conn| {
        crate::shops::manageable(conn, shop_id, ctx.user_id)?;
        query(
            conn,
            "INSERT INTO commerce.products (id, shop_id, title, description, status, options)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(shop_id.to_string()),
                P::Str(b.title.trim().to_string()),
                P::Str(b.description.clone()),
                P::Str(b.status.clone()),
                P::ArrayStr(
                    b.options
                        .iter()
                        .map(|o| Some(o.trim().to_string()))
                        .collect(),
                ),
            ],
        )?;
        for (position, file) in images.iter().enumerate() {
            query(
                conn,
                "INSERT INTO commerce.product_images (product_id, position, file_id) VALUES ($1, $2, $3)",
                &[P::Uuid(id.to_string()), P::Int32(position as i32), P::Uuid(file.to_string())],
            )?;
        }
        for t in &b.price_tiers {
            query(
                conn,
                "INSERT INTO commerce.price_tiers (product_id, min_quantity, unit_price) VALUES ($1, $2, $3)",
                &[P::Uuid(id.to_string()), P::Int32(t.min_quantity), P::Int64(t.unit_price)],
            )?;
        }
        for (position, v) in b.variants.iter().enumerate() {
            let variant = new_id();
            query(
                conn,
                "INSERT INTO commerce.variants (id, product_id, position, sku, option_values, price,
                     compare_at_price, weight_grams)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    P::Uuid(variant.to_string()),
                    P::Uuid(id.to_string()),
                    P::Int32(position as i32),
                    P::Str(v.sku.trim().to_string()),
                    P::ArrayStr(v.option_values.iter().map(|o| Some(o.clone())).collect()),
                    P::Int64(v.price),
                    v.compare_at_price.map(P::Int64).unwrap_or(P::DbNull),
                    v.weight_grams.map(P::Int32).unwrap_or(P::DbNull),
                ],
            )
            .map_err(|e| match constraint(&e) {
                Some(c) if c.contains("option_values") => {
                    Problem::invalid_field(format!("variants[{position}].option_values"), "repeats another variant")
                }
                _ => Problem::from(e),
            })?;
            if v.stock > 0 {
                inventory::move_stock(
                    conn,
                    variant,
                    Movement::Initial,
                    v.stock as i32,
                    Some(ctx.user_id),
                    None,
                )?;
            }
        }
        refresh_price_range(conn, id)?;
        Ok::<_, Problem>(())
    })?;
    let product =
        view(&conn, id, None)?.ok_or_else(|| Problem::internal("new product vanished"))?;
    Ok(json(201, &product))
}

/// A product with its shop, options and variants (with what is available to buy). A draft or
/// archived product is shown only to its shop's owner (`viewer`).
pub fn view(conn: &Connection, id: Uuid, viewer: Option<Uuid>) -> Result<Option<Value>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT p.id, p.shop_id, p.title, p.description, p.status, p.options, s.currency, s.handle,
                    s.owner_id, {}
             FROM commerce.products p JOIN commerce.shops s ON s.id = p.shop_id
             WHERE p.id = $1 AND (p.status = 'active' OR s.owner_id = $2)
               AND ($2::uuid IS NULL OR NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $2 AND b.user_b = s.owner_id))",
            ts("p.created_at")
        ),
        &[
            P::Uuid(id.to_string()),
            viewer.map(|v| P::Uuid(v.to_string())).unwrap_or(P::DbNull),
        ],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(json!({
        "id": rows.value::<Uuid>(0, "id")?,
        "shop_id": rows.value::<Uuid>(0, "shop_id")?,
        "shop_handle": rows.value::<String>(0, "handle")?,
        "seller_id": rows.value::<Uuid>(0, "owner_id")?,
        "seller": crate::shops::seller_badge(conn, rows.value(0, "owner_id")?)?,
        "title": rows.value::<String>(0, "title")?,
        "description": rows.value::<String>(0, "description")?,
        "status": rows.value::<String>(0, "status")?,
        "currency": rows.value::<String>(0, "currency")?,
        "options": strings(rows.value::<Vec<Option<String>>>(0, "options")?),
        "variants": variants_of(conn, id)?,
        "price_tiers": tiers_of(conn, id)?,
        "images": images_of(conn, id)?,
        "created_at": rows.value::<String>(0, "created_at")?,
    })))
}

/// A product's variants with what is available of each, in order.
fn variants_of(conn: &Connection, product: Uuid) -> Result<Vec<Value>, Problem> {
    let rows = query(
        conn,
        "SELECT id, sku, option_values, price, compare_at_price, weight_grams, stock - reserved AS available
         FROM commerce.variants WHERE product_id = $1 ORDER BY position",
        &[P::Uuid(product.to_string())],
    )?;
    (0..rows.len())
        .map(|i| {
            Ok(json!({
                "id": rows.value::<Uuid>(i, "id")?,
                "sku": rows.value::<String>(i, "sku")?,
                "option_values": strings(rows.value::<Vec<Option<String>>>(i, "option_values")?),
                "price": rows.value::<i64>(i, "price")?,
                "compare_at_price": rows.value::<Option<i64>>(i, "compare_at_price")?,
                "weight_grams": rows.value::<Option<i32>>(i, "weight_grams")?,
                "available": rows.value::<i32>(i, "available")?,
            }))
        })
        .collect()
}

/// A product's quantity price tiers, fewest units first.
fn tiers_of(conn: &Connection, product: Uuid) -> Result<Vec<Value>, Problem> {
    let rows = query(
        conn,
        "SELECT min_quantity, unit_price FROM commerce.price_tiers WHERE product_id = $1 ORDER BY min_quantity",
        &[P::Uuid(product.to_string())],
    )?;
    (0..rows.len())
        .map(|i| {
            Ok(json!({
                "min_quantity": rows.value::<i32>(i, "min_quantity")?,
                "unit_price": rows.value::<i64>(i, "unit_price")?,
            }))
        })
        .collect()
}

/// A product's images in order, from the File Manager's published media; one still being
/// processed is listed without variants until it is ready.
fn images_of(conn: &Connection, product: Uuid) -> Result<Vec<Value>, Problem> {
    let rows = query(
        conn,
        "SELECT i.file_id, m.variants::text AS variants, m.blurhash FROM commerce.product_images i
         LEFT JOIN files.public_media m ON m.file_id = i.file_id
         WHERE i.product_id = $1 ORDER BY i.position",
        &[P::Uuid(product.to_string())],
    )?;
    let cdn = nexgate_platform::public_media::cdn_base()?;
    (0..rows.len())
        .map(|i| {
            let file: Uuid = rows.value(i, "file_id")?;
            let shown = nexgate_platform::public_media::view(
                &cdn,
                Some(file),
                rows.value(i, "variants")?,
                rows.value(i, "blurhash")?,
            )?;
            Ok(shown.unwrap_or_else(|| json!({ "file_id": file, "variants": [] })))
        })
        .collect()
}

fn strings(values: Vec<Option<String>>) -> Vec<String> {
    values.into_iter().flatten().collect()
}

/// `GET /shop/products/{id}`.
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let product =
        view(&conn, id, Some(ctx.user_id))?.ok_or_else(|| Problem::not_found("no such product"))?;
    Ok(json(200, &product))
}

/// `GET /shop/products?shop_id=&q=&min_price=&max_price=&limit=&cursor=`: active products of open
/// shops, newest first.
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let qs = query_string(req);
    let page = page_request::<(CursorTime, Uuid)>(qs, 20, 50)?;
    let shop = query_param(qs, "shop_id")
        .map(|s| parse_id("shop_id", s))
        .transpose()?;
    let text = query_param(qs, "q")
        .map(decode_query)
        .filter(|t| !t.trim().is_empty());
    if text.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(Problem::invalid_field(
            "q",
            "must be at most 200 characters",
        ));
    }
    let price = |name: &str| -> Result<Option<i64>, Problem> {
        query_param(qs, name)
            .map(|v| {
                v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    Problem::invalid_field(name, "must be a non-negative integer (minor units)")
                })
            })
            .transpose()
    };
    let (min_price, max_price) = (price("min_price")?, price("max_price")?);
    let conn = db()?;
    // One statement for the page: each item is a product card (price range, availability per
    // variant, rating), never one query per product.
    let rows = query(
        &conn,
        &format!(
            "SELECT p.id, p.shop_id, s.handle, s.owner_id, p.title, s.currency, p.rating_count, p.rating_sum, {},
                    c.cover_file, c.cover_variants, c.cover_blurhash,
                    (SELECT jsonb_build_object(
                         'price_min', min(v.price), 'price_max', max(v.price),
                         'available', sum(v.stock - v.reserved),
                         'variants', jsonb_agg(jsonb_build_object(
                             'id', v.id, 'option_values', v.option_values, 'price', v.price,
                             'compare_at_price', v.compare_at_price, 'available', v.stock - v.reserved)
                             ORDER BY v.position))::text
                     FROM commerce.variants v WHERE v.product_id = p.id) AS card
             FROM commerce.products p JOIN commerce.shops s ON s.id = p.shop_id
             LEFT JOIN LATERAL (
                 SELECT i.file_id AS cover_file, m.variants::text AS cover_variants, m.blurhash AS cover_blurhash
                 FROM commerce.product_images i JOIN files.public_media m ON m.file_id = i.file_id
                 WHERE i.product_id = p.id ORDER BY i.position LIMIT 1) c ON true
             WHERE p.status = 'active' AND s.status = 'open'
               AND ($1::uuid IS NULL OR p.shop_id = $1)
               AND ($2::text IS NULL OR p.search @@ websearch_to_tsquery('simple', $2))
               AND ($3::bigint IS NULL OR p.price_max >= $3)
               AND ($4::bigint IS NULL OR p.price_min <= $4)
               AND ($5::text IS NULL OR (p.created_at, p.id) < ($5::timestamptz, $6::uuid))
               AND NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $8 AND b.user_b = s.owner_id)
             ORDER BY p.created_at DESC, p.id DESC LIMIT $7",
            ts("p.created_at")
        ),
        &[
            shop.map(|s| P::Uuid(s.to_string())).unwrap_or(P::DbNull),
            text.map(P::Str).unwrap_or(P::DbNull),
            min_price.map(P::Int64).unwrap_or(P::DbNull),
            max_price.map(P::Int64).unwrap_or(P::DbNull),
            page.after.as_ref().map(|(at, _)| P::Str(at.as_str().to_string())).unwrap_or(P::DbNull),
            page.after.as_ref().map(|(_, id)| P::Uuid(id.to_string())).unwrap_or(P::DbNull),
            P::Int64(page.limit as i64 + 1),
            P::Uuid(ctx.user_id.to_string()),
        ],
    )?;
    let more = rows.len() > page.limit as usize;
    let mut items = Vec::new();
    let mut last = None;
    let cdn = nexgate_platform::public_media::cdn_base()?;
    for i in 0..rows.len().min(page.limit as usize) {
        let id: Uuid = rows.value(i, "id")?;
        let at: String = rows.value(i, "created_at")?;
        items.push(card(&rows, i, &at, &cdn)?);
        last = Some((at, id));
    }
    let next = if more {
        last.map(|position| encode_cursor(&position))
    } else {
        None
    };
    Ok(json(200, &json!({ "items": items, "next_cursor": next })))
}

/// A product card from a list row: what browsing and "click to buy" need.
fn card(
    rows: &nexgate_platform::db::Rows,
    i: usize,
    created_at: &str,
    cdn: &str,
) -> Result<Value, Problem> {
    let summary: Value =
        serde_json::from_str(&rows.value::<String>(i, "card")?).map_err(Problem::internal)?;
    let (count, sum): (i32, i32) = (rows.value(i, "rating_count")?, rows.value(i, "rating_sum")?);
    Ok(json!({
        "id": rows.value::<Uuid>(i, "id")?,
        "shop_id": rows.value::<Uuid>(i, "shop_id")?,
        "shop_handle": rows.value::<String>(i, "handle")?,
        "seller_id": rows.value::<Uuid>(i, "owner_id")?,
        "title": rows.value::<String>(i, "title")?,
        "currency": rows.value::<String>(i, "currency")?,
        "price_min": summary["price_min"],
        "price_max": summary["price_max"],
        "available": summary["available"],
        "variants": summary["variants"],
        "rating": {"count": count, "mean": (count > 0).then(|| sum as f64 / count as f64)},
        "cover": nexgate_platform::public_media::view(
            cdn,
            rows.value(i, "cover_file")?,
            rows.value(i, "cover_variants")?,
            rows.value(i, "cover_blurhash")?,
        )?,
        "created_at": created_at,
    }))
}

/// `%XX` and `+` in a query value.
fn decode_query(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi * 16 + lo);
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantChanges {
    price: Option<i64>,
    compare_at_price: Option<i64>,
    sku: Option<String>,
}

/// `PATCH /shop/variants/{id}` (the shop's owner): price, compare-at price, SKU. Carts keep the
/// price their lines were added at and flag the change.
pub fn update_variant(
    req: &Request,
    id: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let variant = parse_id("id", id)?;
    let b: VariantChanges = json_body(req)?;
    if let Some(price) = b.price {
        check_whole_shillings("price", price, false)?;
    }
    if let Some(c) = b.compare_at_price {
        check_whole_shillings("compare_at_price", c, false)?;
    }
    if b.sku
        .as_deref()
        .is_some_and(|s| s.trim().is_empty() || s.len() > 64)
    {
        return Err(Problem::invalid_field("sku", "must be 1 to 64 characters"));
    }
    let conn = db()?;
    let product = with_events(&conn, SCHEMA, component, |conn, events| {
        let rows = query(
            conn,
            "WITH old AS (
                 SELECT v.id, v.price FROM commerce.variants v JOIN commerce.products p ON p.id = v.product_id
                 JOIN commerce.shops s ON s.id = p.shop_id
                 WHERE v.id = $1 AND (s.owner_id = $2 OR EXISTS (SELECT 1 FROM commerce.shop_staff st
                     WHERE st.shop_id = s.id AND st.user_id = $2))
                 FOR UPDATE OF v)
             UPDATE commerce.variants v SET price = coalesce($3, v.price),
                 compare_at_price = coalesce($4, v.compare_at_price), sku = coalesce($5, v.sku)
             FROM old WHERE v.id = old.id
             RETURNING v.product_id, old.price AS old_price, v.price AS new_price",
            &[
                P::Uuid(variant.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                b.price.map(P::Int64).unwrap_or(P::DbNull),
                b.compare_at_price.map(P::Int64).unwrap_or(P::DbNull),
                b.sku.clone().map(|s| P::Str(s.trim().to_string())).unwrap_or(P::DbNull),
            ],
        )?;
        if rows.is_empty() {
            return Err(Problem::not_found("no such variant in your shops"));
        }
        let product: Uuid = rows.value(0, "product_id")?;
        refresh_price_range(conn, product)?;
        let (old_price, new_price): (i64, i64) =
            (rows.value(0, "old_price")?, rows.value(0, "new_price")?);
        if new_price < old_price {
            announce_price_drop(
                conn,
                events,
                ctx.user_id,
                product,
                variant,
                (old_price, new_price),
            )?;
        }
        Ok(product)
    })?;
    Ok(json(
        200,
        &view(&conn, product, Some(ctx.user_id))?
            .ok_or_else(|| Problem::not_found("no such product"))?,
    ))
}

/// Sets the product's `price_min`/`price_max` from its variants (inside the changing transaction).
fn refresh_price_range(conn: &Connection, product: Uuid) -> Result<(), Problem> {
    query(
        conn,
        "UPDATE commerce.products p SET price_min = r.lo, price_max = r.hi, updated_at = now()
         FROM (SELECT min(price) AS lo, max(price) AS hi FROM commerce.variants WHERE product_id = $1) r
         WHERE p.id = $1",
        &[P::Uuid(product.to_string())],
    )?;
    Ok(())
}

/// `commerce.price.dropped` to the product's watchers, at most once per product per day.
fn announce_price_drop(
    conn: &Connection,
    events: &mut Outbox,
    seller: Uuid,
    product: Uuid,
    variant: Uuid,
    (old_price, new_price): (i64, i64),
) -> Result<(), Problem> {
    let first_today = !query(
        conn,
        "INSERT INTO commerce.price_drop_notices (product_id, day) VALUES ($1, (now() AT TIME ZONE 'UTC')::date)
         ON CONFLICT DO NOTHING RETURNING product_id",
        &[P::Uuid(product.to_string())],
    )?
    .is_empty();
    if !first_today {
        return Ok(());
    }
    let currency: String = query(
        conn,
        "SELECT s.currency FROM commerce.products p JOIN commerce.shops s ON s.id = p.shop_id WHERE p.id = $1",
        &[P::Uuid(product.to_string())],
    )?
    .value(0, "currency")?;
    let audience = crate::wishlist::watchers(conn, product, None)?;
    events.record(
        conn,
        Some(seller),
        ("product", product.to_string()),
        audience,
        &PriceDropped {
            product_id: product,
            variant_id: variant,
            old_price,
            new_price,
            currency,
        },
    )
}
