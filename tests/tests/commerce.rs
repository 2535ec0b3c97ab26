//! The marketplace, part 1 (docs/commerce.md), black-box: the real host and components, payments
//! with its provider simulator, the dispatcher delivering payment events to commerce. Stock is
//! checked against the sum of its movements after every scenario.

use std::time::{Duration, Instant};

use nexgate_tests::auth::{call, log_in, seed_users, sign_up, Answer, User, PASSWORD};
use nexgate_tests::payments::{PaymentSimulator, Plan};
use nexgate_tests::{eventually, EventObserver, HostOptions, Manifest, TestApp, Worker};
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    app: TestApp,
    sim: PaymentSimulator,
    observer: EventObserver,
    seller: User,
    buyer: User,
    _dispatcher: Worker,
}

async fn world() -> World {
    world_with(vec![]).await
}

async fn world_with(extra_env: Vec<(String, String)>) -> World {
    let sim = PaymentSimulator::start().await;
    let mut env = sim.app_env();
    env.extend(extra_env);
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env,
            ..HostOptions::default()
        },
    )
    .await;
    sim.deliver_to(&app.host.base_url);
    app.declare_queues("infra/subscriptions.toml");
    let dispatcher = app.worker(
        "dispatcher",
        &[
            "--subscriptions",
            "infra/subscriptions.toml",
            "--expires-ms",
            "600000",
        ],
    );
    let mut observer = app.observe_events().await;
    let seller = sign_up(&app, &mut observer).await;
    let buyer = sign_up(&app, &mut observer).await;
    World {
        app,
        sim,
        observer,
        seller,
        buyer,
        _dispatcher: dispatcher,
    }
}

async fn as_user(
    app: &TestApp,
    user: &User,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    call(app, method, path, body, Some(&user.access_token)).await
}

async fn shop(w: &World, owner: &User, handle: &str) -> String {
    let a = as_user(&w.app, owner, Method::POST, "/shop/shops", Some(json!({
        "handle": handle, "name": "Duka la Amina", "currency": "KES",
        "delivery_areas": [{"region": "Nairobi", "fee": 20_000}, {"region": "Mombasa", "fee": 50_000}],
    }))).await;
    assert_eq!(a.status, 201, "{a}");
    a.body["id"].as_str().unwrap().to_string()
}

/// A product with one variant per size; returns (product id, variant ids).
async fn product(
    w: &World,
    owner: &User,
    shop: &str,
    price: i64,
    stock: i64,
) -> (String, Vec<String>) {
    let a = as_user(
        &w.app,
        owner,
        Method::POST,
        &format!("/shop/shops/{shop}/products"),
        Some(json!({
            "title": "Kitenge dress", "description": "Cotton, hand printed in Dar",
            "options": ["size"],
            "variants": [
                {"sku": "KD-M", "option_values": ["M"], "price": price, "stock": stock},
                {"sku": "KD-L", "option_values": ["L"], "price": price + 10_000, "stock": stock},
            ],
        })),
    )
    .await;
    assert_eq!(a.status, 201, "{a}");
    let variants = a.body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    (a.body["id"].as_str().unwrap().to_string(), variants)
}

async fn address(w: &World, user: &User, region: &str) -> String {
    let a = as_user(&w.app, user, Method::POST, "/shop/addresses", Some(json!({
        "name": "Juma", "phone": "+254712345678", "region": region, "street": "Moi Avenue, near the post office",
    }))).await;
    assert_eq!(a.status, 201, "{a}");
    a.body["id"].as_str().unwrap().to_string()
}

async fn checkout(app: &TestApp, user: &User, key: &str, body: Value) -> Answer {
    let resp = app
        .http
        .post(app.url("/shop/checkout"))
        .bearer_auth(&user.access_token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

async fn pay(w: &World, payable: &str, method: &str, key: &str) -> Answer {
    let resp = w
        .app
        .http
        .post(w.app.url("/payments/intents"))
        .bearer_auth(&w.buyer.access_token)
        .header("idempotency-key", key)
        .json(&json!({"payable_id": payable, "method_id": method}))
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

async fn mpesa(w: &World) -> String {
    let a = as_user(
        &w.app,
        &w.buyer,
        Method::POST,
        "/payments/methods",
        Some(json!({"kind": "mobile_money", "phone": "+254712345678"})),
    )
    .await;
    assert_eq!(a.status, 201, "{a}");
    a.body["id"].as_str().unwrap().to_string()
}

async fn order(w: &World, user: &User, id: &str) -> Value {
    let a = as_user(
        &w.app,
        user,
        Method::GET,
        &format!("/shop/orders/{id}"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{a}");
    a.body
}

async fn wait_order_state(w: &World, id: &str, state: &str) -> Value {
    eventually(Duration::from_secs(20), || async {
        let o = order(w, &w.buyer, id).await;
        (o["state"] == state).then_some(o)
    })
    .await
    .unwrap_or_else(|| panic!("order {id} never became {state}\n{}", w.app.host.log()))
}

/// (stock, reserved) of a variant, after asserting both equal the sums of its movements.
async fn stock_of(app: &TestApp, variant: &str) -> (i32, i32) {
    let db = app.db.admin().await;
    let id = uuid::Uuid::parse_str(variant).unwrap();
    let row = db
        .query_one(
            "SELECT v.stock, v.reserved,
                    (SELECT coalesce(sum(stock_delta), 0)::int FROM commerce.stock_movements m WHERE m.variant_id = v.id),
                    (SELECT coalesce(sum(reserved_delta), 0)::int FROM commerce.stock_movements m WHERE m.variant_id = v.id)
             FROM commerce.variants v WHERE v.id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let (stock, reserved, moved, moved_reserved): (i32, i32, i32, i32) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (stock, reserved),
        (moved, moved_reserved),
        "columns agree with the movements"
    );
    (stock, reserved)
}

async fn payable_state(w: &World, id: &str) -> String {
    let a = call(
        &w.app,
        Method::GET,
        &format!("/payments/payables/{id}"),
        None,
        Some(&w.buyer.access_token),
    )
    .await;
    assert_eq!(a.status, 200, "{a}");
    a.body["state"].as_str().unwrap().to_string()
}

/// A cart across two shops: one order and one payable per shop; paying moves each order to
/// `paid` and its reserved units to sold (`commerce.order.placed` only then); the seller ships and
/// delivers, the buyer confirms, and the escrow is released. A retry of the checkout with the
/// same key is the same checkout.
#[tokio::test]
async fn a_cart_across_two_shops_is_paid_into_escrow_and_released_on_confirmation() {
    let mut w = world().await;
    let _notifier = w.app.notifier();
    let other_seller = sign_up(&w.app, &mut w.observer).await;
    let shop_a = shop(&w, &w.seller, "amina_duka").await;
    let shop_b = shop(&w, &other_seller, "juma.store").await;
    let (_, va) = product(&w, &w.seller, &shop_a, 150_000, 5).await;
    let (_, vb) = product(&w, &other_seller, &shop_b, 80_000, 3).await;
    let addr = address(&w, &w.buyer, "Nairobi").await;
    let body = json!({"address_id": addr, "purchase_type": "quantity", "lines": [
        {"variant_id": va[0], "quantity": 2}, {"variant_id": vb[1], "quantity": 1},
    ]});
    let first = checkout(&w.app, &w.buyer, "cart-1", body.clone()).await;
    assert_eq!(first.status, 201, "{first}\n{}", w.app.host.log());
    let again = checkout(&w.app, &w.buyer, "cart-1", body).await;
    assert_eq!(again.status, 201, "{again}");
    assert_eq!(
        again.body["id"], first.body["id"],
        "a retry is the same checkout"
    );
    let orders = first.body["orders"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 2, "one order per shop: {first}");
    let a = orders
        .iter()
        .find(|o| o["shop_id"] == shop_a.as_str())
        .unwrap();
    assert_eq!(a["subtotal"], 300_000);
    assert_eq!(a["delivery_fee"], 20_000, "the shop's fee for Nairobi");
    assert_eq!(a["total"], 320_000);
    assert_eq!(first.body["total"], 320_000 + 90_000 + 20_000);
    assert_eq!(
        stock_of(&w.app, &va[0]).await,
        (5, 2),
        "reserved, not yet sold"
    );

    // One prompt pays both orders: one provider payment for the total, one escrow per payable.
    let method = mpesa(&w).await;
    let payables: Vec<&str> = orders
        .iter()
        .map(|o| {
            o["payable_id"]
                .as_str()
                .expect("each order has its payable")
        })
        .collect();
    assert_eq!(first.body["payable_ids"], json!(payables));
    assert_eq!(payable_state(&w, payables[0]).await, "open");
    let resp = w
        .app
        .http
        .post(w.app.url("/payments/intents"))
        .bearer_auth(&w.buyer.access_token)
        .header("idempotency-key", "pay-cart-1")
        .json(&json!({"payable_ids": payables, "method_id": method}))
        .send()
        .await
        .unwrap();
    let paid_with = Answer::from_response(resp).await;
    assert_eq!(paid_with.status, 201, "{paid_with}");
    assert_eq!(paid_with.body["collect_amount"], 430_000, "{paid_with}");
    assert_eq!(
        paid_with.body["intents"].as_array().map(Vec::len),
        Some(2),
        "{paid_with}"
    );
    let prompts = w.sim.payments();
    assert_eq!(prompts.len(), 1, "one prompt");
    assert_eq!(prompts[0].amount, 4_300, "the total, in whole shillings");
    let order_a = a["id"].as_str().unwrap().to_string();
    let paid = wait_order_state(&w, &order_a, "paid").await;
    assert_eq!(
        stock_of(&w.app, &va[0]).await,
        (3, 0),
        "sold: left the shop"
    );
    let low = w
        .observer
        .wait_for(Duration::from_secs(10), |key, e| {
            key.ends_with(".commerce.stock.low") && e["data"]["variant_id"] == va[0].as_str()
        })
        .await
        .expect("commerce.stock.low: 3 left after the sale");
    assert_eq!(low.1["data"]["available"], 3);
    let placed = w
        .observer
        .wait_for(Duration::from_secs(10), |key, e| {
            key.ends_with(".commerce.order.placed") && e["data"]["order_id"] == order_a.as_str()
        })
        .await;
    assert!(placed.is_some(), "commerce.order.placed for {order_a}");
    assert!(paid["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["to"] == "paid" && t["actor"] == "system"));

    // The buyer cannot ship; another user does not see the order at all.
    let refused = as_user(
        &w.app,
        &w.buyer,
        Method::POST,
        &format!("/shop/orders/{order_a}/ship"),
        Some(json!({"carrier": "G4S"})),
    )
    .await;
    assert_eq!(refused.status, 409, "{refused}");
    let stranger = as_user(
        &w.app,
        &other_seller,
        Method::GET,
        &format!("/shop/orders/{order_a}"),
        None,
    )
    .await;
    assert_eq!(stranger.status, 404, "{stranger}");

    for (action, body) in [
        (
            "ship",
            json!({"carrier": "G4S", "tracking_number": "G4S-123"}),
        ),
        ("deliver", json!({})),
    ] {
        let s = as_user(
            &w.app,
            &w.seller,
            Method::POST,
            &format!("/shop/orders/{order_a}/{action}"),
            Some(body),
        )
        .await;
        assert_eq!(s.status, 200, "{action}: {s}");
    }
    let done = as_user(
        &w.app,
        &w.buyer,
        Method::POST,
        &format!("/shop/orders/{order_a}/confirm"),
        None,
    )
    .await;
    assert_eq!(done.status, 200, "{done}");
    assert_eq!(done.body["state"], "completed");
    assert_eq!(
        payable_state(&w, a["payable_id"].as_str().unwrap()).await,
        "released"
    );
    let states: Vec<&str> = done.body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "pending_payment",
            "paid",
            "shipped",
            "delivered",
            "completed"
        ]
    );
    // The other shop's order was paid by the same prompt into its own escrow; its seller cancels
    // it and the buyer gets that order's money back, and only that.
    let order_b = orders
        .iter()
        .find(|o| o["shop_id"] == shop_b.as_str())
        .unwrap();
    let order_b_id = order_b["id"].as_str().unwrap();
    wait_order_state(&w, order_b_id, "paid").await;
    assert_eq!(
        payable_state(&w, order_b["payable_id"].as_str().unwrap()).await,
        "paid"
    );
    let cancelled = as_user(
        &w.app,
        &other_seller,
        Method::POST,
        &format!("/shop/orders/{order_b_id}/cancel"),
        Some(json!({"reason": "out of fabric"})),
    )
    .await;
    assert_eq!(cancelled.status, 200, "{cancelled}");
    assert_eq!(
        stock_of(&w.app, &vb[1]).await,
        (3, 0),
        "the sold unit is back on the shelf"
    );
    let db = w.app.db.admin().await;
    let refunds: Vec<(uuid::Uuid, i64)> = db
        .query(
            "SELECT payable_id, amount FROM payments.disbursements WHERE kind = 'refund'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let b_payable = uuid::Uuid::parse_str(order_b["payable_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        refunds,
        vec![(b_payable, 110_000)],
        "one refund, of that order in full"
    );
    let seller_view = as_user(
        &w.app,
        &w.seller,
        Method::GET,
        "/shop/orders?as=seller&state=completed",
        None,
    )
    .await;
    assert_eq!(
        seller_view.body["items"].as_array().unwrap().len(),
        1,
        "{seller_view}"
    );
    assert!(w.sim.refusals().is_empty(), "{:?}", w.sim.refusals());

    // The notifier told each side what concerns them.
    let notes = nexgate_tests::notify::notifications_db(&w.app).await;
    for (user, event_type) in [
        (&w.seller.user_id, "commerce.order.placed"),
        (&w.seller.user_id, "payments.payment.received"),
        (&w.buyer.user_id, "commerce.order.shipped"),
        (&w.buyer.user_id, "commerce.order.delivered"),
    ] {
        let sql = format!(
            "SELECT count(*) FROM notifications.items WHERE user_id = '{user}' AND event_type = '{event_type}'"
        );
        let seen = eventually(Duration::from_secs(20), || async {
            (nexgate_tests::notify::count(&notes, &sql).await > 0).then_some(())
        })
        .await;
        assert!(seen.is_some(), "{event_type} reached {user}");
    }
}

/// A failed payment cancels the order and gives its stock back exactly once (the event delivered
/// twice changes nothing); an unpaid order whose reservation ran out is cancelled by the job, its
/// payable voided first, and running the job again changes nothing.
#[tokio::test]
async fn a_failed_or_expired_payment_returns_the_stock_exactly_once() {
    let mut w = world().await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let (_, v) = product(&w, &w.seller, &shop_id, 100_000, 4).await;
    let addr = address(&w, &w.buyer, "Mombasa").await;
    let method = mpesa(&w).await;

    let c = checkout(
        &w.app,
        &w.buyer,
        "fail-1",
        json!({"address_id": addr, "lines": [{"variant_id": v[0], "quantity": 1}]}),
    )
    .await;
    assert_eq!(c.status, 201, "{c}");
    let failing = c.body["orders"][0].clone();
    assert_eq!(failing["delivery_fee"], 50_000, "Mombasa's fee");
    w.sim.plan_next(Plan {
        fail_with: Some("1032".into()),
        ..Plan::default()
    });
    let p = pay(
        &w,
        failing["payable_id"].as_str().unwrap(),
        &method,
        "pay-fail-1",
    )
    .await;
    assert_eq!(p.status, 201, "{p}");
    let cancelled = wait_order_state(&w, failing["id"].as_str().unwrap(), "cancelled").await;
    assert_eq!(cancelled["cancelled_by"], "system");
    assert_eq!(
        stock_of(&w.app, &v[0]).await,
        (4, 0),
        "the unit is back on sale"
    );

    // The same failure delivered again (a redelivery) changes nothing.
    let (_, envelope) = w
        .observer
        .wait_for(Duration::from_secs(10), |key, _| {
            key.ends_with(".payments.payment.failed")
        })
        .await
        .expect("the failure event");
    let replay = w
        .app
        .http
        .post(w.app.url("/internal/commerce/events"))
        .header("x-internal-token", &w.app.commerce_internal_token)
        .json(&envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(stock_of(&w.app, &v[0]).await, (4, 0));

    // Expiry: the reservation's time runs out (moved back in the database: time passing).
    let c = checkout(
        &w.app,
        &w.buyer,
        "expire-1",
        json!({"address_id": addr, "lines": [{"variant_id": v[0], "quantity": 1}]}),
    )
    .await;
    assert_eq!(c.status, 201, "{c}");
    let expiring = c.body["orders"][0].clone();
    assert_eq!(stock_of(&w.app, &v[0]).await, (4, 1));
    let db = w.app.db.admin().await;
    db.execute(
        "UPDATE commerce.orders SET reserved_until = now() - interval '1 second' WHERE id = $1",
        &[&uuid::Uuid::parse_str(expiring["id"].as_str().unwrap()).unwrap()],
    )
    .await
    .unwrap();
    for expected in [1, 0] {
        let job = w
            .app
            .http
            .post(w.app.url("/internal/commerce/jobs/expire-reservations"))
            .header("x-internal-token", &w.app.commerce_internal_token)
            .send()
            .await
            .unwrap();
        assert_eq!(job.status(), 200);
        let body: Value = job.json().await.unwrap();
        assert_eq!(body["cancelled"], expected, "{body}");
    }
    assert_eq!(stock_of(&w.app, &v[0]).await, (4, 0), "released once");
    assert_eq!(
        order(&w, &w.buyer, expiring["id"].as_str().unwrap()).await["state"],
        "cancelled"
    );
    assert_eq!(
        payable_state(&w, expiring["payable_id"].as_str().unwrap()).await,
        "voided"
    );
    let late = pay(
        &w,
        expiring["payable_id"].as_str().unwrap(),
        &method,
        "pay-late",
    )
    .await;
    assert_eq!(late.status, 409, "a voided payable cannot be paid: {late}");
}

/// Bad input is a 4xx naming the field and changes nothing; another user's address, order or shop
/// answers 404; a checkout asking for more than is left holds nothing.
#[tokio::test]
async fn bad_input_and_other_peoples_things_are_refused_and_change_nothing() {
    let mut w = world_with(vec![(
        "SPIN_VARIABLE_COMMERCE_CHECKOUTS_PER_MINUTE".into(),
        "8".into(),
    )])
    .await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let taken = as_user(&w.app, &w.buyer, Method::POST, "/shop/shops", Some(json!({
        "handle": "Amina_Duka", "name": "x", "currency": "KES", "delivery_areas": [{"region": "Nairobi", "fee": 0}],
    }))).await;
    assert_eq!(
        (taken.status, taken.code()),
        (409, "handle_taken"),
        "{taken}"
    );
    let fractional = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/shop/shops/{shop_id}/products"),
        Some(json!({
            "title": "Mug", "variants": [{"sku": "M1", "price": 150_050, "stock": 1}],
        })),
    )
    .await;
    assert_eq!(
        (fractional.status, fractional.code()),
        (422, "not_whole_shillings"),
        "{fractional}"
    );
    let zero = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/shop/shops/{shop_id}/products"),
        Some(json!({
            "title": "Mug", "variants": [{"sku": "M1", "price": 0, "stock": 1}],
        })),
    )
    .await;
    assert_eq!(zero.status, 422, "{zero}");
    assert!(
        zero.body.to_string().contains("variants[0].price"),
        "{zero}"
    );
    let not_mine = as_user(
        &w.app,
        &w.buyer,
        Method::POST,
        &format!("/shop/shops/{shop_id}/products"),
        Some(json!({
            "title": "Mug", "variants": [{"sku": "M1", "price": 100, "stock": 1}],
        })),
    )
    .await;
    assert_eq!(not_mine.status, 404, "{not_mine}");

    let (_, v) = product(&w, &w.seller, &shop_id, 100_000, 2).await;
    let restock = as_user(
        &w.app,
        &w.buyer,
        Method::POST,
        &format!("/shop/variants/{}/stock", v[0]),
        Some(json!({"kind": "restock", "quantity": 5})),
    )
    .await;
    assert_eq!(restock.status, 404, "{restock}");
    let addr = address(&w, &w.buyer, "Nairobi").await;
    let other = sign_up(&w.app, &mut w.observer).await;
    let theirs = checkout(
        &w.app,
        &other,
        "x-1",
        json!({"address_id": addr, "lines": [{"variant_id": v[0], "quantity": 1}]}),
    )
    .await;
    assert_eq!(theirs.status, 404, "another user's address: {theirs}");
    let gone = as_user(
        &w.app,
        &other,
        Method::DELETE,
        &format!("/shop/addresses/{addr}"),
        None,
    )
    .await;
    assert_eq!(gone.status, 404, "{gone}");

    let far = address(&w, &w.buyer, "Arusha").await;
    let not_here = checkout(
        &w.app,
        &w.buyer,
        "far-1",
        json!({"address_id": far, "lines": [{"variant_id": v[0], "quantity": 1}]}),
    )
    .await;
    assert_eq!(
        (not_here.status, not_here.code()),
        (422, "not_delivered_here"),
        "{not_here}"
    );
    let too_many = checkout(
        &w.app,
        &w.buyer,
        "many-1",
        json!({"address_id": addr, "purchase_type": "quantity",
        "lines": [{"variant_id": v[1], "quantity": 1}, {"variant_id": v[0], "quantity": 3}]}),
    )
    .await;
    assert_eq!(
        (too_many.status, too_many.code()),
        (409, "out_of_stock"),
        "{too_many}"
    );
    assert!(
        too_many.body.to_string().contains("lines[1].variant_id"),
        "{too_many}"
    );
    assert_eq!(
        stock_of(&w.app, &v[1]).await,
        (2, 0),
        "the line that fitted holds nothing either"
    );
    let individual = checkout(
        &w.app,
        &w.buyer,
        "ind-1",
        json!({"address_id": addr, "lines": [{"variant_id": v[0], "quantity": 2}]}),
    )
    .await;
    assert_eq!(individual.status, 422, "{individual}");
    let own = checkout(&w.app, &w.seller, "own-1", json!({"address_id": address(&w, &w.seller, "Nairobi").await, "lines": [{"variant_id": v[0], "quantity": 1}]})).await;
    assert_eq!(own.status, 422, "{own}");
    let no_key = call(
        &w.app,
        Method::POST,
        "/shop/checkout",
        Some(json!({"address_id": addr, "lines": []})),
        Some(&w.buyer.access_token),
    )
    .await;
    assert_eq!(no_key.status, 400, "{no_key}");

    let paused = as_user(
        &w.app,
        &w.seller,
        Method::PATCH,
        &format!("/shop/shops/{shop_id}"),
        Some(json!({"status": "paused"})),
    )
    .await;
    assert_eq!(paused.status, 200, "{paused}");
    let closed = checkout(
        &w.app,
        &w.buyer,
        "paused-1",
        json!({"address_id": addr, "lines": [{"variant_id": v[0], "quantity": 1}]}),
    )
    .await;
    assert_eq!(
        (closed.status, closed.code()),
        (422, "shop_not_open"),
        "{closed}"
    );
    let db = w.app.db.admin().await;
    let orders: i64 = db
        .query_one("SELECT count(*) FROM commerce.orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, 0, "no refusal left an order behind");

    // Checkouts are rate-limited per user (8 a minute here): three above counted, five more pass
    // the limiter (and are refused by the paused shop), the ninth is a 429 with Retry-After.
    let mut passed = 0;
    loop {
        let resp = w
            .app
            .http
            .post(w.app.url("/shop/checkout"))
            .bearer_auth(&w.buyer.access_token)
            .header("idempotency-key", format!("limit-{passed}"))
            .json(&json!({"address_id": addr, "lines": [{"variant_id": v[0], "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            assert!(resp.headers().get("retry-after").is_some());
            break;
        }
        assert_eq!(resp.status(), 422);
        passed += 1;
        assert!(passed <= 5, "the limit never applied");
    }
    assert_eq!(passed, 5);
}

/// 1,000 checkouts (64 users, at most 64 in flight) of a variant with 100 units: exactly 100
/// orders and 900 clear `out_of_stock` refusals, never a 5xx; the stock is exactly held and the
/// movements agree.
#[tokio::test]
async fn a_thousand_checkouts_of_a_hundred_units_never_oversell() {
    let mut w = world_with(vec![(
        "SPIN_VARIABLE_COMMERCE_CHECKOUTS_PER_MINUTE".into(),
        "100".into(),
    )])
    .await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let (_, v) = product(&w, &w.seller, &shop_id, 100_000, 100).await;
    let seeded = seed_users(&w.app, 64, "buyer");
    let mut buyers = Vec::new();
    for s in &seeded {
        let a = log_in(&w.app, &s.email, PASSWORD, "bench").await;
        assert_eq!(a.status, 200, "{a}");
        let token = a.body["access_token"].as_str().unwrap().to_string();
        let addr = call(
            &w.app,
            Method::POST,
            "/shop/addresses",
            Some(json!({"name": "B", "phone": "+254712345678", "region": "Nairobi"})),
            Some(&token),
        )
        .await;
        assert_eq!(addr.status, 201, "{addr}");
        buyers.push((token, addr.body["id"].as_str().unwrap().to_string()));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, (token, addr)) in buyers.into_iter().enumerate() {
        let http = w.app.http.clone();
        let url = w.app.url("/shop/checkout");
        let variant = v[0].clone();
        let count = if i < 1000 % 64 {
            1000 / 64 + 1
        } else {
            1000 / 64
        };
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..count {
                let resp = http.post(&url).bearer_auth(&token).header("idempotency-key", format!("c-{i}-{n}"))
                    .json(&json!({"address_id": addr, "lines": [{"variant_id": variant, "quantity": 1}]}))
                    .send().await.unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or_default();
                statuses.push((status, body["code"].as_str().unwrap_or_default().to_string()));
            }
            statuses
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), 1000);
    let made = all.iter().filter(|(s, _)| *s == 201).count();
    let refused = all
        .iter()
        .filter(|(s, c)| *s == 409 && c == "out_of_stock")
        .count();
    assert_eq!(
        (made, refused),
        (100, 900),
        "{:?}",
        all.iter()
            .filter(|(s, _)| *s != 201 && *s != 409)
            .take(5)
            .collect::<Vec<_>>()
    );
    eprintln!("1000 checkouts in {:?}", started.elapsed());
    assert_eq!(
        stock_of(&w.app, &v[0]).await,
        (100, 100),
        "all held, none oversold"
    );
    let db = w.app.db.admin().await;
    let orders: i64 = db
        .query_one(
            "SELECT count(*) FROM commerce.orders WHERE payable_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, 100, "each order has its payable");

    // Sold out (all held); a restock makes it buyable again and says so.
    let restock = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/shop/variants/{}/stock", v[0]),
        Some(json!({"kind": "restock", "quantity": 5})),
    )
    .await;
    assert_eq!(restock.status, 200, "{restock}");
    assert_eq!(restock.body["stock"], 105);
    let back = w
        .observer
        .wait_for(Duration::from_secs(10), |key, e| {
            key.ends_with(".commerce.stock.restocked") && e["data"]["variant_id"] == v[0].as_str()
        })
        .await;
    assert_eq!(
        back.map(|(_, e)| e["data"]["available"].clone()),
        Some(json!(5))
    );
}

/// A block either way hides the shop from the buyer (list, product, checkout); an open order
/// stops the buyer's account deletion, and once it is cancelled the deletion goes through and
/// commerce keeps the order without the address (the book itself is gone).
#[tokio::test]
async fn blocks_hide_shops_and_a_deleted_buyer_leaves_orders_without_an_address() {
    let w = world().await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let (product_id, v) = product(&w, &w.seller, &shop_id, 100_000, 3).await;
    let addr = address(&w, &w.buyer, "Nairobi").await;
    let c = checkout(
        &w.app,
        &w.buyer,
        "del-1",
        json!({"address_id": addr, "lines": [{"variant_id": v[0], "quantity": 1}]}),
    )
    .await;
    assert_eq!(c.status, 201, "{c}");
    let order_id = c.body["orders"][0]["id"].as_str().unwrap().to_string();

    let listed = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        &format!("/shop/products?shop_id={shop_id}"),
        None,
    )
    .await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    let card = &listed.body["items"][0];
    assert_eq!(
        (card["price_min"].as_i64(), card["price_max"].as_i64()),
        (Some(100_000), Some(110_000)),
        "{card}"
    );
    assert_eq!(
        card["available"], 5,
        "3 + 3 units, one held by the open checkout: {card}"
    );
    for (query, found) in [
        ("q=kitenge", 1),
        ("q=printed%20cotton", 1),
        ("q=sandals", 0),
        ("min_price=105000", 1),
        ("min_price=120000", 0),
        ("max_price=90000", 0),
    ] {
        let a = as_user(
            &w.app,
            &w.buyer,
            Method::GET,
            &format!("/shop/products?shop_id={shop_id}&{query}"),
            None,
        )
        .await;
        assert_eq!(
            a.body["items"].as_array().map(Vec::len),
            Some(found),
            "{query}: {a}"
        );
    }
    let bad_price = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        "/shop/products?min_price=cheap",
        None,
    )
    .await;
    assert_eq!(bad_price.status, 422, "{bad_price}");
    let block = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/users/{}/block", w.buyer.user_id),
        None,
    )
    .await;
    assert!(block.status < 300, "{block}");
    let hidden = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        &format!("/shop/products?shop_id={shop_id}"),
        None,
    )
    .await;
    assert_eq!(
        hidden.body["items"].as_array().unwrap().len(),
        0,
        "{hidden}"
    );
    let product_hidden = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        &format!("/shop/products/{product_id}"),
        None,
    )
    .await;
    assert_eq!(product_hidden.status, 404, "{product_hidden}");
    let refused = checkout(
        &w.app,
        &w.buyer,
        "del-2",
        json!({"address_id": addr, "lines": [{"variant_id": v[1], "quantity": 1}]}),
    )
    .await;
    assert_eq!(refused.status, 422, "{refused}");

    let blocked = as_user(&w.app, &w.buyer, Method::DELETE, "/auth/account", None).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (409, "account_has_open_obligations"),
        "{blocked}"
    );
    assert!(
        blocked.body["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "commerce.open_orders_as_buyer"),
        "{blocked}"
    );
    let seller_blocked = as_user(&w.app, &w.seller, Method::DELETE, "/auth/account", None).await;
    let reasons = seller_blocked.body["reasons"].to_string();
    assert!(
        reasons.contains("commerce.open_orders_as_seller")
            && reasons.contains("commerce.open_shop"),
        "{seller_blocked}"
    );

    let cancel = as_user(
        &w.app,
        &w.buyer,
        Method::POST,
        &format!("/shop/orders/{order_id}/cancel"),
        Some(json!({"reason": "changed my mind"})),
    )
    .await;
    assert_eq!(cancel.status, 200, "{cancel}");
    assert_eq!(cancel.body["cancelled_by"], "buyer");
    assert_eq!(stock_of(&w.app, &v[0]).await, (3, 0));
    let gone = as_user(&w.app, &w.buyer, Method::DELETE, "/auth/account", None).await;
    assert_eq!(gone.status, 204, "{gone}");
    let db = w.app.db.admin().await;
    let buyer = uuid::Uuid::parse_str(&w.buyer.user_id).unwrap();
    let erased = eventually(Duration::from_secs(20), || async {
        let row = db
            .query_one(
                "SELECT (SELECT count(*) FROM commerce.addresses WHERE user_id = $1),
                        (SELECT min(ship_name) FROM commerce.orders WHERE buyer_id = $1),
                        (SELECT min(total) FROM commerce.orders WHERE buyer_id = $1)",
                &[&buyer],
            )
            .await
            .unwrap();
        let (addresses, name, total): (i64, Option<String>, Option<i64>) =
            (row.get(0), row.get(1), row.get(2));
        (addresses == 0 && name.as_deref() == Some("erased")).then_some(total)
    })
    .await;
    assert_eq!(
        erased,
        Some(Some(120_000)),
        "the order stays, without the address"
    );
}

/// The cart keeps the price seen and flags a change; checking out without lines buys the cart
/// (tier prices for a quantity purchase) and empties it; a completed order's items are reviewed
/// once each by its buyer (two at once: the product's aggregates count both), the seller replies
/// once, and nobody else may review.
#[tokio::test]
async fn the_cart_buys_at_tier_prices_and_completed_items_are_reviewed_once() {
    let mut w = world().await;
    let _notifier = w.app.notifier();
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let made = as_user(&w.app, &w.seller, Method::POST, &format!("/shop/shops/{shop_id}/products"), Some(json!({
        "title": "Kikoi", "options": ["colour"],
        "variants": [
            {"sku": "K-R", "option_values": ["red"], "price": 100_000, "stock": 10},
            {"sku": "K-B", "option_values": ["blue"], "price": 100_000, "stock": 10},
        ],
        "price_tiers": [{"min_quantity": 3, "unit_price": 90_000}, {"min_quantity": 6, "unit_price": 80_000}],
    }))).await;
    assert_eq!(made.status, 201, "{made}");
    let product_id = made.body["id"].as_str().unwrap().to_string();
    let v: Vec<String> = made.body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    let bad_tiers = as_user(&w.app, &w.seller, Method::POST, &format!("/shop/shops/{shop_id}/products"), Some(json!({
        "title": "X", "variants": [{"sku": "X", "price": 100_000, "stock": 1}],
        "price_tiers": [{"min_quantity": 3, "unit_price": 90_000}, {"min_quantity": 5, "unit_price": 95_000}],
    }))).await;
    assert_eq!(bad_tiers.status, 422, "{bad_tiers}");

    for (variant, quantity) in [(&v[0], 3), (&v[1], 1)] {
        let put = as_user(
            &w.app,
            &w.buyer,
            Method::PUT,
            &format!("/shop/cart/items/{variant}"),
            Some(json!({"quantity": quantity})),
        )
        .await;
        assert_eq!(put.status, 200, "{put}");
    }
    let repriced = as_user(
        &w.app,
        &w.seller,
        Method::PATCH,
        &format!("/shop/variants/{}", v[1]),
        Some(json!({"price": 120_000})),
    )
    .await;
    assert_eq!(repriced.status, 200, "{repriced}");
    let cart = as_user(&w.app, &w.buyer, Method::GET, "/shop/cart", None).await;
    let items = cart.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{cart}");
    let blue = items
        .iter()
        .find(|i| i["variant_id"] == v[1].as_str())
        .unwrap();
    assert_eq!(
        (
            blue["price_changed"].as_bool(),
            blue["unit_price_seen"].as_i64(),
            blue["unit_price"].as_i64()
        ),
        (Some(true), Some(100_000), Some(120_000))
    );
    let stranger = sign_up(&w.app, &mut w.observer).await;
    let not_theirs = as_user(
        &w.app,
        &stranger,
        Method::DELETE,
        &format!("/shop/cart/items/{}", v[0]),
        None,
    )
    .await;
    assert_eq!(not_theirs.status, 404, "{not_theirs}");

    let addr = address(&w, &w.buyer, "Nairobi").await;
    let c = checkout(
        &w.app,
        &w.buyer,
        "cart-all",
        json!({"address_id": addr, "purchase_type": "quantity"}),
    )
    .await;
    assert_eq!(c.status, 201, "{c}");
    let order = c.body["orders"][0].clone();
    let red = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["variant_id"] == v[0].as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (red["unit_price"].as_i64(), red["line_total"].as_i64()),
        (Some(90_000), Some(270_000)),
        "the 3+ tier"
    );
    assert_eq!(
        order["subtotal"],
        270_000 + 120_000,
        "the blue one at today's price"
    );
    let emptied = as_user(&w.app, &w.buyer, Method::GET, "/shop/cart", None).await;
    assert_eq!(
        emptied.body["items"].as_array().unwrap().len(),
        0,
        "{emptied}"
    );

    let order_id = order["id"].as_str().unwrap().to_string();
    let early = as_user(
        &w.app,
        &w.buyer,
        Method::POST,
        &format!("/shop/orders/{order_id}/reviews"),
        Some(json!({"variant_id": v[0], "rating": 5})),
    )
    .await;
    assert_eq!(
        (early.status, early.code()),
        (409, "order_not_completed"),
        "{early}"
    );
    let method = mpesa(&w).await;
    let p = pay(
        &w,
        order["payable_id"].as_str().unwrap(),
        &method,
        "pay-cart",
    )
    .await;
    assert_eq!(p.status, 201, "{p}");
    wait_order_state(&w, &order_id, "paid").await;
    for action in ["ship", "deliver"] {
        let a = as_user(
            &w.app,
            &w.seller,
            Method::POST,
            &format!("/shop/orders/{order_id}/{action}"),
            Some(json!({"carrier": "Fargo"})),
        )
        .await;
        assert_eq!(a.status, 200, "{action}: {a}");
    }
    let done = as_user(
        &w.app,
        &w.buyer,
        Method::POST,
        &format!("/shop/orders/{order_id}/confirm"),
        None,
    )
    .await;
    assert_eq!(done.status, 200, "{done}");

    let photo = upload(&w, &w.buyer, "post").await;
    let review = |variant: String, rating: i64, photos: Vec<String>| {
        let (app, token) = (&w.app, w.buyer.access_token.clone());
        let path = format!("/shop/orders/{order_id}/reviews");
        async move {
            call(
                app,
                Method::POST,
                &path,
                Some(json!({"variant_id": variant, "rating": rating, "text": "Good cloth", "photos": photos})),
                Some(&token),
            )
            .await
        }
    };
    let (a, b) = tokio::join!(
        review(v[0].clone(), 4, vec![photo.clone()]),
        review(v[1].clone(), 2, vec![])
    );
    assert_eq!((a.status, b.status), (201, 201), "{a} {b}");
    let again = review(v[0].clone(), 1, vec![]).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "already_reviewed"),
        "{again}"
    );
    let theirs = call(
        &w.app,
        Method::POST,
        &format!("/shop/orders/{order_id}/reviews"),
        Some(json!({"variant_id": v[0], "rating": 1})),
        Some(&stranger.access_token),
    )
    .await;
    assert_eq!(theirs.status, 404, "{theirs}");
    let listed = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        &format!("/shop/products/{product_id}/reviews"),
        None,
    )
    .await;
    assert_eq!(listed.body["rating"]["count"], 2, "{listed}");
    assert_eq!(listed.body["rating"]["mean"], 3.0);
    assert_eq!(
        listed.body["rating"]["distribution"],
        json!([0, 1, 0, 1, 0])
    );
    let with_photo = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rating"] == 4)
        .unwrap();
    assert_eq!(
        with_photo["photos"][0]["file_id"],
        photo.as_str(),
        "{listed}"
    );
    // What other services read (as the social service's role would).
    let (social, conn) =
        tokio_postgres::connect(&w.app.db.url("nexgate_social"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let buyer = uuid::Uuid::parse_str(&w.buyer.user_id).unwrap();
    let product = uuid::Uuid::parse_str(&product_id).unwrap();
    let bought: bool = social
        .query_one("SELECT commerce.bought($1, $2)", &[&buyer, &product])
        .await
        .unwrap()
        .get(0);
    let stranger_id = uuid::Uuid::parse_str(&stranger.user_id).unwrap();
    let not_bought: bool = social
        .query_one("SELECT commerce.bought($1, $2)", &[&stranger_id, &product])
        .await
        .unwrap()
        .get(0);
    assert!(bought && !not_bought);
    let by_handle: Option<uuid::Uuid> = social
        .query_one("SELECT commerce.shop_by_handle('AMINA_duka')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(by_handle.map(|u| u.to_string()), Some(shop_id.clone()));
    let card = social
        .query_one("SELECT price_min, available, rating_count FROM commerce.product_cards WHERE product_id = $1", &[&product])
        .await
        .unwrap();
    assert_eq!(
        (card.get::<_, Option<i64>>(0), card.get::<_, i32>(2)),
        (Some(100_000), 2)
    );
    let review_id = a.body["id"].as_str().unwrap();
    let reply = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/shop/reviews/{review_id}/reply"),
        Some(json!({"text": "Asante!"})),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply}");
    let twice = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/shop/reviews/{review_id}/reply"),
        Some(json!({"text": "Again"})),
    )
    .await;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "already_replied"),
        "{twice}"
    );
    let created = w
        .observer
        .wait_for(Duration::from_secs(10), |key, e| {
            key.ends_with(".commerce.review.created") && e["data"]["rating"] == 4
        })
        .await;
    assert!(
        created.is_some(),
        "commerce.review.created for the trust score"
    );
    // And the seller hears of it in the notification centre ("review received").
    let notes = nexgate_tests::notify::notifications_db(&w.app).await;
    let sql = format!(
        "SELECT count(*) FROM notifications.items WHERE user_id = '{}' AND event_type = 'commerce.review.created'",
        w.seller.user_id
    );
    let told = eventually(Duration::from_secs(20), || async {
        (nexgate_tests::notify::count(&notes, &sql).await > 0).then_some(())
    })
    .await;
    assert!(told.is_some(), "the seller was told of the review");
}

/// Pays one order of `variant` and takes it to `delivered` (the seller ships and delivers).
async fn delivered_order(w: &World, variant: &str, addr: &str, method: &str, key: &str) -> Value {
    let c = checkout(
        &w.app,
        &w.buyer,
        key,
        json!({"address_id": addr, "lines": [{"variant_id": variant, "quantity": 1}]}),
    )
    .await;
    assert_eq!(c.status, 201, "{c}");
    let order = c.body["orders"][0].clone();
    let p = pay(
        w,
        order["payable_id"].as_str().unwrap(),
        method,
        &format!("pay-{key}"),
    )
    .await;
    assert_eq!(p.status, 201, "{p}");
    let id = order["id"].as_str().unwrap();
    wait_order_state(w, id, "paid").await;
    for action in ["ship", "deliver"] {
        let a = as_user(
            &w.app,
            &w.seller,
            Method::POST,
            &format!("/shop/orders/{id}/{action}"),
            Some(json!({"carrier": "Fargo"})),
        )
        .await;
        assert_eq!(a.status, 200, "{action}: {a}");
    }
    order
}

/// A buyer disputes a delivered order: the escrow freezes, nobody can confirm or cancel it, and
/// the order does not complete by itself; only an operator with a fresh step-up resolves it,
/// refunding the buyer in full once or releasing the money to the seller.
#[tokio::test]
async fn a_dispute_freezes_the_escrow_until_an_operator_resolves_it() {
    let mut w = world().await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let (_, v) = product(&w, &w.seller, &shop_id, 100_000, 5).await;
    let addr = address(&w, &w.buyer, "Nairobi").await;
    let method = mpesa(&w).await;
    let refunded = delivered_order(&w, &v[0], &addr, &method, "d-1").await;
    let released = delivered_order(&w, &v[0], &addr, &method, "d-2").await;
    for order in [&refunded, &released] {
        let id = order["id"].as_str().unwrap();
        let no_reason = as_user(
            &w.app,
            &w.buyer,
            Method::POST,
            &format!("/shop/orders/{id}/dispute"),
            None,
        )
        .await;
        assert_eq!(no_reason.status, 422, "{no_reason}");
        let d = as_user(
            &w.app,
            &w.buyer,
            Method::POST,
            &format!("/shop/orders/{id}/dispute"),
            Some(json!({"reason": "wrong size sent"})),
        )
        .await;
        assert_eq!(
            (d.status, d.body["state"].as_str()),
            (200, Some("disputed")),
            "{d}"
        );
        assert_eq!(
            payable_state(&w, order["payable_id"].as_str().unwrap()).await,
            "frozen"
        );
        let confirm = as_user(
            &w.app,
            &w.buyer,
            Method::POST,
            &format!("/shop/orders/{id}/confirm"),
            None,
        )
        .await;
        assert_eq!(confirm.status, 409, "{confirm}");
    }
    let refunded_id = refunded["id"].as_str().unwrap();
    let by_seller = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/shop/operator/orders/{refunded_id}/resolve"),
        Some(json!({"outcome": "release", "reason": "x"})),
    )
    .await;
    assert_eq!(by_seller.status, 403, "{by_seller}");

    let mut operator = operator(&mut w).await;
    let resolve = |id: String, outcome: &'static str, token: String| {
        let app = &w.app;
        async move {
            call(
                app,
                Method::POST,
                &format!("/shop/operator/orders/{id}/resolve"),
                Some(json!({"outcome": outcome, "reason": "photos checked"})),
                Some(&token),
            )
            .await
        }
    };
    let without_step_up = resolve(
        refunded_id.to_string(),
        "refund",
        operator.access_token.clone(),
    )
    .await;
    assert_eq!(
        (without_step_up.status, without_step_up.code()),
        (403, "step_up_required"),
        "{without_step_up}"
    );
    operator.access_token = nexgate_tests::auth::step_up(&w.app, &operator).await.0;

    let r = resolve(
        refunded_id.to_string(),
        "refund",
        operator.access_token.clone(),
    )
    .await;
    assert_eq!(
        (
            r.status,
            r.body["state"].as_str(),
            r.body["cancelled_by"].as_str()
        ),
        (200, Some("cancelled"), Some("operator")),
        "{r}"
    );
    let again = resolve(
        refunded_id.to_string(),
        "refund",
        operator.access_token.clone(),
    )
    .await;
    assert_eq!(again.status, 409, "resolved once: {again}");
    let released_id = released["id"].as_str().unwrap();
    let ok = resolve(
        released_id.to_string(),
        "release",
        operator.access_token.clone(),
    )
    .await;
    assert_eq!(
        (ok.status, ok.body["state"].as_str()),
        (200, Some("completed")),
        "{ok}"
    );
    assert_eq!(
        payable_state(&w, released["payable_id"].as_str().unwrap()).await,
        "released"
    );
    let db = w.app.db.admin().await;
    let refunds: Vec<(uuid::Uuid, i64)> = db
        .query(
            "SELECT payable_id, amount FROM payments.disbursements WHERE kind = 'refund'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let payable = uuid::Uuid::parse_str(refunded["payable_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        refunds,
        vec![(payable, 120_000)],
        "the disputed order refunded in full, once"
    );
    assert_eq!(
        stock_of(&w.app, &v[0]).await,
        (3, 0),
        "the goods are out: no automatic return"
    );
}

/// A new user granted the `operator` role by `nexgate-ops` (as an operator's admin does), with a
/// token that carries it (not stepped up).
async fn operator(w: &mut World) -> User {
    let mut operator = sign_up(&w.app, &mut w.observer).await;
    nexgate_tests::auth::grant_role(&w.app, &mut operator, "operator").await;
    operator
}

async fn upload(w: &World, user: &User, purpose: &str) -> String {
    upload_sized(w, user, purpose, (640, 480)).await
}

async fn upload_sized(
    w: &World,
    user: &User,
    purpose: &str,
    (width, height): (u32, u32),
) -> String {
    let resp = w
        .app
        .http
        .post(w.app.url(&format!("/files?purpose={purpose}")))
        .bearer_auth(&user.access_token)
        .header("content-type", "image/jpeg")
        .body(nexgate_tests::files::jpeg(width, height))
        .send()
        .await
        .unwrap();
    let a = Answer::from_response(resp).await;
    assert_eq!(a.status, 201, "{a}");
    a.body["id"].as_str().unwrap().to_string()
}

/// A product's images are the seller's own files uploaded for products, attached through the File
/// Manager; they show on the product and as the card's cover; anyone else's file, or a file of
/// another purpose, is a 422 naming the image.
#[tokio::test]
async fn product_images_are_the_sellers_own_product_files() {
    let w = world().await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let me = as_user(&w.app, &w.seller, Method::GET, "/users/me", None).await;
    assert_eq!(
        me.body["shop_id"],
        shop_id.as_str(),
        "the first shop is linked to the profile: {me}"
    );
    let mine = upload(&w, &w.seller, "product").await;
    let theirs = upload(&w, &w.buyer, "product").await;
    let avatar = upload(&w, &w.seller, "avatar").await;
    let body = |images: Vec<&str>| json!({"title": "Basket", "images": images, "variants": [{"sku": "B", "price": 100_000, "stock": 2}]});
    let path = format!("/shop/shops/{shop_id}/products");
    for (images, field) in [
        (vec![theirs.as_str()], "images[0]"),
        (vec![mine.as_str(), avatar.as_str()], "images[1]"),
    ] {
        let refused = as_user(&w.app, &w.seller, Method::POST, &path, Some(body(images))).await;
        assert_eq!(refused.status, 422, "{refused}");
        assert!(refused.body.to_string().contains(field), "{refused}");
    }
    let made = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &path,
        Some(body(vec![mine.as_str()])),
    )
    .await;
    assert_eq!(made.status, 201, "{made}");
    let url = made.body["images"][0]["variants"][0]["url"]
        .as_str()
        .expect("an image with its variants")
        .to_string();
    assert_eq!(
        w.app.http.get(&url).send().await.unwrap().status(),
        200,
        "{url}"
    );
    let listed = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        &format!("/shop/products?shop_id={shop_id}"),
        None,
    )
    .await;
    assert_eq!(
        listed.body["items"][0]["cover"]["file_id"],
        mine.as_str(),
        "{listed}"
    );

    // The shop's logo and banner: the owner's own `shop` files.
    let logo = upload(&w, &w.seller, "shop").await;
    let banner = upload_sized(&w, &w.seller, "shop", (1200, 400)).await;
    let shop_path = format!("/shop/shops/{shop_id}");
    let wrong_purpose = as_user(
        &w.app,
        &w.seller,
        Method::PATCH,
        &shop_path,
        Some(json!({"logo_file_id": mine})),
    )
    .await;
    assert_eq!(
        wrong_purpose.status, 422,
        "a product file is not a logo: {wrong_purpose}"
    );
    let dressed = as_user(
        &w.app,
        &w.seller,
        Method::PATCH,
        &shop_path,
        Some(json!({"logo_file_id": logo, "banner_file_id": banner})),
    )
    .await;
    assert_eq!(dressed.status, 200, "{dressed}");
    assert_eq!(dressed.body["logo"]["file_id"], logo.as_str(), "{dressed}");
    assert_eq!(
        dressed.body["banner"]["file_id"],
        banner.as_str(),
        "{dressed}"
    );
    let url = dressed.body["logo"]["variants"][0]["url"].as_str().unwrap();
    assert_eq!(w.app.http.get(url).send().await.unwrap().status(), 200);
}

/// Whoever saved a product hears (through the notifier) of a price drop, at most once per product
/// per day, and of a sold-out variant coming back in stock.
#[tokio::test]
async fn a_wishlist_hears_of_a_price_drop_once_a_day_and_of_a_restock() {
    let mut w = world().await;
    let _notifier = w.app.notifier();
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let (product_id, v) = product(&w, &w.seller, &shop_id, 100_000, 1).await;
    let (other_product, _) = product(&w, &w.seller, &shop_id, 50_000, 1).await;
    let wrong = as_user(
        &w.app,
        &w.buyer,
        Method::PUT,
        &format!("/shop/wishlist/{other_product}"),
        Some(json!({"variant_id": v[0]})),
    )
    .await;
    assert_eq!(wrong.status, 422, "a variant of another product: {wrong}");
    let saved = as_user(
        &w.app,
        &w.buyer,
        Method::PUT,
        &format!("/shop/wishlist/{product_id}"),
        None,
    )
    .await;
    assert_eq!(saved.status, 204, "{saved}");
    let list = as_user(&w.app, &w.buyer, Method::GET, "/shop/wishlist", None).await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    let stranger = sign_up(&w.app, &mut w.observer).await;
    let not_theirs = as_user(
        &w.app,
        &stranger,
        Method::DELETE,
        &format!("/shop/wishlist/{product_id}"),
        None,
    )
    .await;
    assert_eq!(not_theirs.status, 404, "{not_theirs}");

    for price in [90_000, 80_000] {
        let cut = as_user(
            &w.app,
            &w.seller,
            Method::PATCH,
            &format!("/shop/variants/{}", v[0]),
            Some(json!({"price": price})),
        )
        .await;
        assert_eq!(cut.status, 200, "{cut}");
    }
    let dropped = w
        .observer
        .wait_for(Duration::from_secs(10), |key, _| {
            key.ends_with(".commerce.price.dropped")
        })
        .await
        .expect("commerce.price.dropped");
    assert_eq!(
        (
            dropped.1["data"]["old_price"].as_i64(),
            dropped.1["data"]["new_price"].as_i64()
        ),
        (Some(100_000), Some(90_000))
    );
    assert_eq!(dropped.1["audience"], json!([w.buyer.user_id]));
    let again = w
        .observer
        .wait_for(Duration::from_secs(2), |key, _| {
            key.ends_with(".commerce.price.dropped")
        })
        .await;
    assert!(again.is_none(), "once per product per day: {again:?}");

    let sold_out = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/shop/variants/{}/stock", v[0]),
        Some(json!({"kind": "adjustment", "quantity": -1, "reason": "damaged in storage"})),
    )
    .await;
    assert_eq!(sold_out.status, 200, "{sold_out}");
    let back = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &format!("/shop/variants/{}/stock", v[0]),
        Some(json!({"kind": "restock", "quantity": 2})),
    )
    .await;
    assert_eq!(back.status, 200, "{back}");
    let notes = nexgate_tests::notify::notifications_db(&w.app).await;
    for (event_type, want) in [
        ("commerce.price.dropped", 1),
        ("commerce.stock.restocked", 1),
    ] {
        let sql = format!(
            "SELECT count(*) FROM notifications.items WHERE user_id = '{}' AND event_type = '{event_type}'",
            w.buyer.user_id
        );
        let seen = eventually(Duration::from_secs(20), || async {
            (nexgate_tests::notify::count(&notes, &sql).await == want).then_some(())
        })
        .await;
        assert!(seen.is_some(), "{event_type} reached the buyer once");
    }
}

/// The owner adds staff (with a recent sign-in) who then manage products, stock and orders of that
/// shop, timelines saying it was staff, but never its settings or its staff; removed staff lose it.
#[tokio::test]
async fn staff_manage_products_and_orders_but_not_the_shop() {
    let mut w = world().await;
    let clerk = sign_up(&w.app, &mut w.observer).await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let staff_path = format!("/shop/shops/{shop_id}/staff");
    let stale = nexgate_tests::auth::token_signed_in_minutes_ago(&w.app, &mut w.seller, 20).await;
    let refused = call(
        &w.app,
        Method::POST,
        &staff_path,
        Some(json!({"username": clerk.username})),
        Some(&stale),
    )
    .await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "reauthentication_required"),
        "{refused}"
    );
    let fresh =
        nexgate_tests::auth::log_in(&w.app, &w.seller.email, &w.seller.password, "owner-phone")
            .await;
    w.seller.access_token = fresh.body["access_token"].as_str().unwrap().to_string();
    let added = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &staff_path,
        Some(json!({"username": clerk.username})),
    )
    .await;
    assert_eq!(added.status, 201, "{added}");
    let unknown = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        &staff_path,
        Some(json!({"username": "nobody_here_42"})),
    )
    .await;
    assert_eq!(unknown.status, 422, "{unknown}");

    // The clerk adds a product and restocks it; may not change the shop or its staff.
    let (_, v) = product(&w, &clerk, &shop_id, 100_000, 2).await;
    let restock = as_user(
        &w.app,
        &clerk,
        Method::POST,
        &format!("/shop/variants/{}/stock", v[0]),
        Some(json!({"kind": "restock", "quantity": 1})),
    )
    .await;
    assert_eq!(restock.status, 200, "{restock}");
    let settings = as_user(
        &w.app,
        &clerk,
        Method::PATCH,
        &format!("/shop/shops/{shop_id}"),
        Some(json!({"status": "closed"})),
    )
    .await;
    assert_eq!(settings.status, 404, "{settings}");
    let more_staff = as_user(
        &w.app,
        &clerk,
        Method::POST,
        &staff_path,
        Some(json!({"username": w.buyer.username})),
    )
    .await;
    assert_eq!(more_staff.status, 404, "{more_staff}");

    // An order of the shop: the clerk sees it as seller and ships it.
    let addr = address(&w, &w.buyer, "Nairobi").await;
    let method = mpesa(&w).await;
    let c = checkout(
        &w.app,
        &w.buyer,
        "staff-1",
        json!({"address_id": addr, "lines": [{"variant_id": v[0], "quantity": 1}]}),
    )
    .await;
    assert_eq!(c.status, 201, "{c}");
    let order_id = c.body["orders"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.body["orders"][0]["seller_id"],
        w.seller.user_id.as_str(),
        "the money is the owner's"
    );
    let p = pay(
        &w,
        c.body["orders"][0]["payable_id"].as_str().unwrap(),
        &method,
        "pay-staff-1",
    )
    .await;
    assert_eq!(p.status, 201, "{p}");
    wait_order_state(&w, &order_id, "paid").await;
    let listed = as_user(&w.app, &clerk, Method::GET, "/shop/orders?as=seller", None).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let shipped = as_user(
        &w.app,
        &clerk,
        Method::POST,
        &format!("/shop/orders/{order_id}/ship"),
        Some(json!({"carrier": "Fargo"})),
    )
    .await;
    assert_eq!(shipped.status, 200, "{shipped}");
    let last = shipped.body["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["actor"].as_str(), last["actor_id"].as_str()),
        (Some("staff"), Some(clerk.user_id.as_str()))
    );

    let removed = as_user(
        &w.app,
        &w.seller,
        Method::DELETE,
        &format!("{staff_path}/{}", clerk.user_id),
        None,
    )
    .await;
    assert_eq!(removed.status, 204, "{removed}");
    let gone = as_user(
        &w.app,
        &clerk,
        Method::POST,
        &format!("/shop/orders/{order_id}/deliver"),
        None,
    )
    .await;
    assert_eq!(gone.status, 404, "{gone}");
}

/// A shop's `$handle` changes at most once a month; the old one keeps naming the shop (mentions)
/// and nobody else may take it meanwhile.
#[tokio::test]
async fn a_shop_handle_changes_once_a_month_and_the_old_one_stays_its_own() {
    let w = world().await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let path = format!("/shop/shops/{shop_id}/handle");
    let renamed = as_user(
        &w.app,
        &w.seller,
        Method::PUT,
        &path,
        Some(json!({"handle": "Amina.Store"})),
    )
    .await;
    assert_eq!(
        (renamed.status, renamed.body["handle"].as_str()),
        (200, Some("Amina.Store")),
        "{renamed}"
    );
    let again = as_user(
        &w.app,
        &w.seller,
        Method::PUT,
        &path,
        Some(json!({"handle": "amina_x"})),
    )
    .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "handle_cooldown"),
        "{again}"
    );
    let not_mine = as_user(
        &w.app,
        &w.buyer,
        Method::PUT,
        &path,
        Some(json!({"handle": "taken_over"})),
    )
    .await;
    assert_eq!(not_mine.status, 404, "{not_mine}");
    let squat = as_user(&w.app, &w.buyer, Method::POST, "/shop/shops", Some(json!({
        "handle": "AMINA_DUKA", "name": "x", "currency": "KES", "delivery_areas": [{"region": "Nairobi", "fee": 0}],
    }))).await;
    assert_eq!(
        (squat.status, squat.code()),
        (409, "handle_taken"),
        "the old handle is held: {squat}"
    );
    let bad = as_user(
        &w.app,
        &w.seller,
        Method::PUT,
        &path,
        Some(json!({"handle": "no spaces"})),
    )
    .await;
    assert_eq!(bad.status, 422, "{bad}");
    let (social, conn) =
        tokio_postgres::connect(&w.app.db.url("nexgate_social"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    for handle in ["amina_duka", "amina.store"] {
        let found: Option<uuid::Uuid> = social
            .query_one("SELECT commerce.shop_by_handle($1)", &[&handle])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            found.map(|u| u.to_string()),
            Some(shop_id.clone()),
            "{handle}"
        );
    }
}

/// A shop's owner asks for business verification with private document photos; a second request
/// waits its turn; the owner's badge shows on the shop and its products. Operators only, with a
/// fresh step-up, see the queue and the documents (signed URLs); a rejection reaches the owner
/// through the notifier; an approval raises the level through profiles (its audit names the
/// operator) and the badge follows.
#[tokio::test]
async fn a_seller_is_verified_as_a_business_by_an_operator_who_saw_the_documents() {
    let mut w = world().await;
    let _notifier = w.app.notifier();
    let mut operator = operator(&mut w).await;
    let shop_id = shop(&w, &w.seller, "amina_duka").await;
    let (product_id, _) = product(&w, &w.seller, &shop_id, 100_000, 1).await;
    let page = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        &format!("/shop/shops/{shop_id}"),
        None,
    )
    .await;
    assert_eq!(page.body["seller"]["trust_badge"], "new", "{page}");
    assert_ne!(
        page.body["seller"]["verification_level"], "business",
        "{page}"
    );

    let doc = upload(&w, &w.seller, "document").await;
    let path = format!("/shop/shops/{shop_id}/verification-requests");
    let ask = |user: &User, documents: Value| {
        let (app, token, path) = (&w.app, user.access_token.clone(), path.clone());
        async move {
            call(
                app,
                Method::POST,
                &path,
                Some(json!({"documents": documents, "note": "BRELA certificate"})),
                Some(&token),
            )
            .await
        }
    };
    let buyers_doc = upload(&w, &w.buyer, "document").await;
    let shop_picture = upload(&w, &w.seller, "shop").await;
    for (documents, field) in [
        (json!([]), "documents"),
        (json!([buyers_doc]), "documents[0]"),
        (json!([shop_picture]), "documents[0]"),
        (json!([doc, doc]), "documents[1]"),
    ] {
        let a = ask(&w.seller, documents).await;
        assert_eq!(
            (a.status, a.body["errors"][0]["field"].as_str()),
            (422, Some(field)),
            "{a}"
        );
    }
    let not_theirs = ask(&w.buyer, json!([buyers_doc])).await;
    assert_eq!(not_theirs.status, 404, "another's shop: {not_theirs}");
    let first = ask(&w.seller, json!([doc])).await;
    assert_eq!(
        (first.status, first.body["status"].as_str()),
        (201, Some("pending")),
        "{first}\n{}",
        w.app.host.log()
    );
    let waiting = ask(&w.seller, json!([doc])).await;
    assert_eq!(
        (waiting.status, waiting.code()),
        (409, "verification_pending"),
        "{waiting}"
    );
    let mine = as_user(&w.app, &w.seller, Method::GET, &path, None).await;
    assert_eq!(
        mine.body["items"].as_array().map(Vec::len),
        Some(1),
        "{mine}"
    );
    let others = as_user(&w.app, &w.buyer, Method::GET, &path, None).await;
    assert_eq!(others.status, 404, "{others}");

    let queue = "/shop/operator/verification-requests";
    let not_operator = as_user(&w.app, &w.seller, Method::GET, queue, None).await;
    assert_eq!(not_operator.status, 403, "{not_operator}");
    let no_step_up = as_user(&w.app, &operator, Method::GET, queue, None).await;
    assert_eq!(
        (no_step_up.status, no_step_up.code()),
        (403, "step_up_required"),
        "{no_step_up}"
    );
    operator.access_token = nexgate_tests::auth::step_up(&w.app, &operator).await.0;
    let listed = as_user(&w.app, &operator, Method::GET, queue, None).await;
    assert_eq!(listed.status, 200, "{listed}");
    let item = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == first.body["id"])
        .cloned()
        .expect("the request is queued");
    let url = item["documents"][0]["url"].as_str().expect("a signed URL");
    let fetched = w.app.http.get(url).send().await.unwrap();
    assert_eq!(fetched.status(), 200, "the operator can read the document");
    assert!(
        fetched.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]),
        "a JPEG"
    );

    let decide = |id: Value, decision: &'static str, token: String| {
        let app = &w.app;
        async move {
            call(
                app,
                Method::POST,
                &format!(
                    "/shop/operator/verification-requests/{}/decision",
                    id.as_str().unwrap()
                ),
                Some(json!({"decision": decision, "reason": "certificate photo is blurry"})),
                Some(&token),
            )
            .await
        }
    };
    let by_owner = decide(
        first.body["id"].clone(),
        "approve",
        w.seller.access_token.clone(),
    )
    .await;
    assert_eq!(by_owner.status, 403, "{by_owner}");
    let rejected = decide(
        first.body["id"].clone(),
        "reject",
        operator.access_token.clone(),
    )
    .await;
    assert_eq!(
        (rejected.status, rejected.body["status"].as_str()),
        (200, Some("rejected")),
        "{rejected}"
    );
    let twice = decide(
        first.body["id"].clone(),
        "approve",
        operator.access_token.clone(),
    )
    .await;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "already_decided"),
        "{twice}"
    );
    let notes = nexgate_tests::notify::notifications_db(&w.app).await;
    let sql = format!(
        "SELECT count(*) FROM notifications.items WHERE user_id = '{}' AND event_type = 'commerce.seller_verification.decided'",
        w.seller.user_id
    );
    let told = eventually(Duration::from_secs(20), || async {
        (nexgate_tests::notify::count(&notes, &sql).await > 0).then_some(())
    })
    .await;
    assert!(told.is_some(), "the owner heard of the rejection");

    let doc2 = upload_sized(&w, &w.seller, "document", (800, 600)).await;
    let second = ask(&w.seller, json!([doc2])).await;
    assert_eq!(second.status, 201, "{second}");
    let approved = decide(
        second.body["id"].clone(),
        "approve",
        operator.access_token.clone(),
    )
    .await;
    assert_eq!(
        (approved.status, approved.body["status"].as_str()),
        (200, Some("approved")),
        "{approved}"
    );
    let level = as_user(
        &w.app,
        &operator,
        Method::GET,
        &format!("/users/{}/verification", w.seller.user_id),
        None,
    )
    .await;
    assert_eq!(level.body["level"], "business", "{level}");
    assert_eq!(
        level.body["audit"][0]["operator_id"].as_str(),
        Some(operator.user_id.as_str()),
        "profiles' audit names the operator: {level}"
    );
    let page = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        &format!("/shop/shops/{shop_id}"),
        None,
    )
    .await;
    assert_eq!(
        page.body["seller"]["verification_level"], "business",
        "{page}"
    );
    let item = as_user(
        &w.app,
        &w.buyer,
        Method::GET,
        &format!("/shop/products/{product_id}"),
        None,
    )
    .await;
    assert_eq!(
        item.body["seller"]["verification_level"], "business",
        "{item}"
    );
    let db = w.app.db.admin().await;
    let card: String = db
        .query_one(
            "SELECT seller_verification_level FROM commerce.product_cards WHERE product_id = $1",
            &[&uuid::Uuid::parse_str(&product_id).unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(card, "business");
    let done = ask(&w.seller, json!([doc2])).await;
    assert_eq!(
        (done.status, done.code()),
        (409, "already_verified"),
        "{done}"
    );
}
