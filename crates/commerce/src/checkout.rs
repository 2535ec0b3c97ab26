//! `POST /shop/checkout` with an `Idempotency-Key` (the hot path, its own component): one order
//! per shop, each line's stock reserved by one conditional statement, all in one transaction;
//! then one payable per order in payments (payee: the shop's owner, released on the buyer's
//! confirmation, expiring with the reservation). Prices, fees and totals come from the server.

use std::collections::BTreeMap;

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, transaction};
use nexgate_platform::idempotency::{self, Once, StoredResponse};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::inventory;
use crate::payables::{self, NewPayable};
use crate::settings::{Settings, SCHEMA};

/// At most this many lines per checkout, and units per line.
pub const LINES_MAX: usize = 100;
pub const QUANTITY_MAX: i32 = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutRequest {
    address_id: String,
    /// The lines to buy; absent: the whole cart.
    lines: Option<Vec<LineRequest>>,
    #[serde(default = "individual")]
    purchase_type: String,
}

fn individual() -> String {
    "individual".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineRequest {
    variant_id: String,
    quantity: i32,
}

/// A line checked against the catalogue.
struct Line {
    index: usize,
    variant: Uuid,
    product: Uuid,
    title: String,
    option_values: Vec<Option<String>>,
    quantity: i32,
    unit_price: i64,
}

/// What the buyer is buying from one shop.
struct ShopOrder {
    seller: Uuid,
    currency: String,
    delivery_fee: i64,
    lines: Vec<Line>,
}

/// `POST /shop/checkout`: 201 with the checkout and its orders (each with its payable), the same
/// answer for a retry with the same key; 409 `out_of_stock` (nothing held) naming the line.
/// Without `lines` it buys the whole cart and removes what it bought from the cart.
pub async fn create(req: Request, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(&req)?;
    let key =
        idempotency::parse_key(req.header("idempotency-key").and_then(|h| h.as_str()))?.to_string();
    let body: CheckoutRequest = json_body(&req)?;
    let settings = Settings::from_variables(component)?;
    let address = parse_id("address_id", &body.address_id)?;
    let conn = db()?;
    let from_cart = body.lines.is_none();
    let requested: Vec<(String, i32)> = match &body.lines {
        Some(lines) => lines
            .iter()
            .map(|l| (l.variant_id.clone(), l.quantity))
            .collect(),
        None => crate::cart::lines(&conn, ctx.user_id)?
            .into_iter()
            .map(|(v, q)| (v.to_string(), q))
            .collect(),
    };
    let lines = parse_lines(&requested, &body.purchase_type)?;
    crate::limits::count("checkout", ctx.user_id, settings.checkouts_per_minute, 60)?;
    let scope = format!("checkout:{}", ctx.user_id);
    let fingerprint = idempotency::fingerprint("POST", "/shop/checkout", req.body());
    let keyed = idempotency::Keyed {
        schema: SCHEMA,
        scope: &scope,
        key: &key,
        request_hash: &fingerprint,
    };
    // The answer is known before the work (the checkout's id), so the key is stored with it up
    // front and the stock reservations are the transaction's last statements: the hot variant
    // rows stay locked only until the commit.
    let id = new_id();
    let answer = StoredResponse::json(201, &json!({ "id": id }))?;
    let checkout = transaction(&conn, |conn| {
        let once = idempotency::once_answering(conn, keyed, answer, |conn| {
            if from_cart {
                let bought: Vec<Uuid> = lines.iter().map(|(v, _)| *v).collect();
                crate::cart::remove_bought(conn, ctx.user_id, &bought)?;
            }
            let buyer = (ctx.user_id, address);
            place(conn, id, buyer, &lines, &body.purchase_type, &settings)
        })?;
        match once {
            Once::Replayed(stored) => Ok::<_, Problem>((stored.id()?, None)),
            Once::Ran(payables) => Ok((id, Some(payables))),
        }
    })?;
    let (checkout, placed) = checkout;
    // A retry cannot know which payables the first attempt made: it asks again for every unpaid
    // order (payments answers an existing payable by its reference).
    let payables = match placed {
        Some(payables) => payables,
        None => unpaid_orders(&conn, checkout)?,
    };
    for p in &payables {
        payables::create(&p.as_new(ctx.user_id, settings.reservation_ttl_secs)).await?;
    }
    Ok(json(201, &view(&conn, checkout, ctx.user_id)?))
}

/// An order's payable: its id is chosen at checkout and stored on the order in the same
/// transaction, then the payable is made in payments after the commit.
struct OrderPayable {
    order: Uuid,
    payable: Uuid,
    seller: Uuid,
    total: i64,
    currency: String,
    description: String,
}

impl OrderPayable {
    fn as_new(&self, buyer: Uuid, expires_in_secs: i64) -> NewPayable<'_> {
        NewPayable {
            id: self.payable,
            order_id: self.order,
            buyer,
            seller: self.seller,
            amount: self.total,
            currency: &self.currency,
            description: &self.description,
            expires_in_secs,
        }
    }
}

/// What the payable says it is for: the order's titles.
fn describe(titles: &[&str]) -> String {
    titles.join(", ").chars().take(120).collect()
}

fn parse_lines(
    requested: &[(String, i32)],
    purchase_type: &str,
) -> Result<Vec<(Uuid, i32)>, Problem> {
    if requested.is_empty() || requested.len() > LINES_MAX {
        return Err(Problem::invalid_field(
            "lines",
            format!("give 1 to {LINES_MAX} lines (or put them in your cart)"),
        ));
    }
    if !matches!(purchase_type, "individual" | "quantity") {
        return Err(Problem::invalid_field(
            "purchase_type",
            "must be individual or quantity",
        ));
    }
    let mut merged: Vec<(Uuid, i32)> = Vec::new();
    for (i, (variant_id, quantity)) in requested.iter().enumerate() {
        let l = LineRequest {
            variant_id: variant_id.clone(),
            quantity: *quantity,
        };
        let variant = parse_id(&format!("lines[{i}].variant_id"), &l.variant_id)?;
        if !(1..=QUANTITY_MAX).contains(&l.quantity) {
            return Err(Problem::invalid_field(
                format!("lines[{i}].quantity"),
                format!("must be from 1 to {QUANTITY_MAX}"),
            ));
        }
        if purchase_type == "individual" && l.quantity != 1 {
            return Err(Problem::invalid_field(
                format!("lines[{i}].quantity"),
                "an individual purchase is one unit; use purchase_type quantity",
            ));
        }
        if merged.iter().any(|(v, _)| *v == variant) {
            return Err(Problem::invalid_field(
                format!("lines[{i}].variant_id"),
                "repeats an earlier line; give one line per variant",
            ));
        }
        merged.push((variant, l.quantity));
    }
    Ok(merged)
}

/// Checks every line, groups them by shop and writes the checkout `checkout`, its orders, then
/// every line's reservation, last (inside the keyed transaction).
fn place(
    conn: &Connection,
    checkout: Uuid,
    (buyer, address): (Uuid, Uuid),
    lines: &[(Uuid, i32)],
    purchase_type: &str,
    settings: &Settings,
) -> Result<Vec<OrderPayable>, Problem> {
    let address = crate::addresses::load(conn, address, buyer)?;
    let region = address["region"].as_str().unwrap_or_default().to_string();
    let mut shops: BTreeMap<Uuid, ShopOrder> = BTreeMap::new();
    for (index, (variant, quantity)) in lines.iter().enumerate() {
        let (shop, line, seller, currency, fee) = check_line(
            conn,
            index,
            *variant,
            *quantity,
            buyer,
            &region,
            purchase_type == "quantity",
        )?;
        shops
            .entry(shop)
            .or_insert_with(|| ShopOrder {
                seller,
                currency,
                delivery_fee: fee,
                lines: Vec::new(),
            })
            .lines
            .push(line);
    }
    query(
        conn,
        "INSERT INTO commerce.checkouts (id, buyer_id) VALUES ($1, $2)",
        &[P::Uuid(checkout.to_string()), P::Uuid(buyer.to_string())],
    )?;
    let mut written = Vec::with_capacity(shops.len());
    let mut payables = Vec::with_capacity(shops.len());
    for (shop, order) in &shops {
        let (id, payable) = write_order(
            conn,
            checkout,
            *shop,
            order,
            buyer,
            &address,
            purchase_type,
            settings,
        )?;
        written.push((id, order));
        payables.push(payable);
    }
    // Every variant row is locked in one order (by id), so two carts never deadlock.
    let mut all: Vec<(Uuid, &Line)> = written
        .iter()
        .flat_map(|(id, order)| order.lines.iter().map(move |l| (*id, l)))
        .collect();
    all.sort_by_key(|(_, l)| l.variant);
    for (order, line) in all {
        reserve(conn, order, line, settings)?;
    }
    Ok(payables)
}

/// One line against the catalogue: (shop, line, seller, currency, the shop's fee for `region`).
fn check_line(
    conn: &Connection,
    index: usize,
    variant: Uuid,
    quantity: i32,
    buyer: Uuid,
    region: &str,
    tiers_apply: bool,
) -> Result<(Uuid, Line, Uuid, String, i64), Problem> {
    let field = format!("lines[{index}].variant_id");
    let rows = query(
        conn,
        "SELECT v.price, v.option_values, p.id AS product_id, p.title, p.status, s.id AS shop_id,
                s.owner_id, s.status AS shop_status, s.currency,
                (SELECT a.fee FROM commerce.shop_delivery_areas a
                 WHERE a.shop_id = s.id AND lower(a.region) = lower($2)) AS fee,
                EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $4 AND b.user_b = s.owner_id) AS blocked,
                (SELECT t.unit_price FROM commerce.price_tiers t
                 WHERE t.product_id = p.id AND t.min_quantity <= $3
                 ORDER BY t.min_quantity DESC LIMIT 1) AS tier_price
         FROM commerce.variants v JOIN commerce.products p ON p.id = v.product_id
         JOIN commerce.shops s ON s.id = p.shop_id WHERE v.id = $1",
        &[
            P::Uuid(variant.to_string()),
            P::Str(region.to_string()),
            P::Int32(if tiers_apply { quantity } else { 0 }),
            P::Uuid(buyer.to_string()),
        ],
    )?;
    if rows.is_empty() || rows.value::<String>(0, "status")? != "active" {
        return Err(Problem::invalid_field(
            field,
            "is not a variant of a product on sale",
        ));
    }
    let seller: Uuid = rows.value(0, "owner_id")?;
    if seller == buyer {
        return Err(Problem::invalid_field(field, "is sold by your own shop"));
    }
    if rows.value::<bool>(0, "blocked")? {
        // Said as for a product that is not on sale: a block is not revealed.
        return Err(Problem::invalid_field(
            field,
            "is not a variant of a product on sale",
        ));
    }
    if rows.value::<String>(0, "shop_status")? != "open" {
        return Err(
            Problem::new(422, "shop_not_open", "The shop is not taking orders")
                .with_field(field, "its shop is paused or closed"),
        );
    }
    let fee: Option<i64> = rows.value(0, "fee")?;
    let price: i64 = rows.value(0, "price")?;
    let Some(fee) = fee else {
        return Err(
            Problem::new(422, "not_delivered_here", "The shop does not deliver there").with_field(
                "address_id",
                format!("the shop of lines[{index}] does not deliver to {region}"),
            ),
        );
    };
    let line = Line {
        index,
        variant,
        product: rows.value(0, "product_id")?,
        title: rows.value(0, "title")?,
        option_values: rows.value(0, "option_values")?,
        quantity,
        // A tier never raises the price.
        unit_price: rows
            .value::<Option<i64>>(0, "tier_price")?
            .map_or(price, |tier| tier.min(price)),
    };
    Ok((
        rows.value(0, "shop_id")?,
        line,
        seller,
        rows.value(0, "currency")?,
        fee,
    ))
}

#[allow(clippy::too_many_arguments)]
fn write_order(
    conn: &Connection,
    checkout: Uuid,
    shop: Uuid,
    order: &ShopOrder,
    buyer: Uuid,
    address: &Value,
    purchase_type: &str,
    settings: &Settings,
) -> Result<(Uuid, OrderPayable), Problem> {
    let id = new_id();
    let payable = new_id();
    let subtotal: i64 = order
        .lines
        .iter()
        .map(|l| l.unit_price * l.quantity as i64)
        .sum();
    let text = |k: &str| P::Str(address[k].as_str().unwrap_or_default().to_string());
    // The order and the first row of its timeline in one statement.
    query(
        conn,
        "WITH o AS (
             INSERT INTO commerce.orders (id, checkout_id, shop_id, seller_id, buyer_id, purchase_type, state,
                 subtotal, delivery_fee, total, currency, ship_name, ship_phone, ship_region, ship_district,
                 ship_street, reserved_until, payable_id)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending_payment', $7, $8, $7::bigint + $8::bigint, $9, $10, $11, $12,
                 $13, $14, now() + make_interval(secs => $15), $16)
             RETURNING id)
         INSERT INTO commerce.order_events (order_id, from_state, to_state, actor_id, actor_kind)
         SELECT o.id, NULL, 'pending_payment', $5, 'buyer' FROM o",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(checkout.to_string()),
            P::Uuid(shop.to_string()),
            P::Uuid(order.seller.to_string()),
            P::Uuid(buyer.to_string()),
            P::Str(purchase_type.to_string()),
            P::Int64(subtotal),
            P::Int64(order.delivery_fee),
            P::Str(order.currency.clone()),
            text("name"),
            text("phone"),
            text("region"),
            text("district"),
            text("street"),
            P::Floating64(settings.reservation_ttl_secs as f64),
            P::Uuid(payable.to_string()),
        ],
    )?;
    let titles: Vec<&str> = order.lines.iter().map(|l| l.title.as_str()).collect();
    let payable = OrderPayable {
        order: id,
        payable,
        seller: order.seller,
        total: subtotal + order.delivery_fee,
        currency: order.currency.clone(),
        description: describe(&titles),
    };
    Ok((id, payable))
}

/// Reserves (and records) one line of the order `id`: 409 `out_of_stock` naming the line when
/// it is short of units, which rolls back the whole checkout.
fn reserve(conn: &Connection, id: Uuid, l: &Line, settings: &Settings) -> Result<(), Problem> {
    let snapshot = inventory::LineSnapshot {
        product: l.product,
        title: &l.title,
        option_values: &l.option_values,
        unit_price: l.unit_price,
    };
    if !inventory::reserve(
        conn,
        id,
        l.variant,
        l.quantity,
        settings.reservation_ttl_secs,
        &snapshot,
    )? {
        return Err(Problem::conflict(
            "out_of_stock",
            format!("not enough stock left for lines[{}]", l.index),
        )
        .with_field(
            format!("lines[{}].variant_id", l.index),
            "has fewer units available than asked",
        ));
    }
    Ok(())
}

/// The checkout's orders still waiting for payment, with their payables as the checkout chose them.
fn unpaid_orders(conn: &Connection, checkout: Uuid) -> Result<Vec<OrderPayable>, Problem> {
    let rows = query(
        conn,
        "SELECT o.id, o.payable_id, o.seller_id, o.total, o.currency,
                (SELECT array_agg(l.title ORDER BY l.title) FROM commerce.order_lines l WHERE l.order_id = o.id) AS titles
         FROM commerce.orders o WHERE o.checkout_id = $1 AND o.state = 'pending_payment'",
        &[P::Uuid(checkout.to_string())],
    )?;
    (0..rows.len())
        .map(|i| {
            let titles: Vec<Option<String>> = rows.value(i, "titles")?;
            let titles: Vec<&str> = titles.iter().flatten().map(String::as_str).collect();
            Ok(OrderPayable {
                order: rows.value(i, "id")?,
                payable: rows.value(i, "payable_id")?,
                seller: rows.value(i, "seller_id")?,
                total: rows.value(i, "total")?,
                currency: rows.value(i, "currency")?,
                description: describe(&titles),
            })
        })
        .collect()
}

/// The checkout with its orders, for its buyer.
fn view(conn: &Connection, checkout: Uuid, buyer: Uuid) -> Result<Value, Problem> {
    let orders = crate::orders::views_of_checkout(conn, checkout, buyer)?;
    let total: i64 = orders.iter().filter_map(|o| o["total"].as_i64()).sum();
    // What the buyer pays with one prompt: `POST /payments/intents {payable_ids, method_id}`.
    let payable_ids: Vec<&Value> = orders.iter().map(|o| &o["payable_id"]).collect();
    Ok(json!({ "id": checkout, "orders": orders, "total": total, "payable_ids": payable_ids }))
}
