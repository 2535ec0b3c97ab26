//! The payment service, black-box: real host and components, real Postgres and RabbitMQ, and the
//! provider simulator (tests/src/payments.rs) speaking Daraja's, Selcom's and Tembo Plus's wire
//! formats. The ledger invariants are checked after every scenario.

use std::time::{Duration, Instant};

use nexgate_tests::auth::{call, sign_up, Answer, User};
use nexgate_tests::payments::{
    selcom_webhook_headers, PaymentSimulator, Plan, SELCOM_WEBHOOK_SECRET,
};
use nexgate_tests::{EventObserver, HostOptions, Manifest, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    app: TestApp,
    sim: PaymentSimulator,
    observer: EventObserver,
    payer: User,
    seller: User,
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
    let mut observer = app.observe_events().await;
    let payer = sign_up(&app, &mut observer).await;
    let seller = sign_up(&app, &mut observer).await;
    World {
        app,
        sim,
        observer,
        payer,
        seller,
    }
}

async fn internal(app: &TestApp, path: &str, body: Value) -> Answer {
    let resp = app
        .http
        .post(app.url(path))
        .header("x-internal-token", &app.payments_internal_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
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

async fn add_method(w: &World, phone: &str, provider: Option<&str>) -> String {
    let mut body = json!({"kind": "mobile_money", "phone": phone});
    if let Some(p) = provider {
        body["provider"] = json!(p);
    }
    let a = as_user(
        &w.app,
        &w.payer,
        Method::POST,
        "/payments/methods",
        Some(body),
    )
    .await;
    assert_eq!(a.status, 201, "add method: {a}");
    a.body["id"].as_str().unwrap().to_string()
}

/// A payable from the "commerce" service (the tests act as the owning service).
async fn payable(w: &World, amount: i64, currency: &str, rule: &str) -> Value {
    let a = internal(
        &w.app,
        "/internal/payments/payables",
        json!({
            "owner_service": "commerce",
            "reference": format!("order-{}", uuid::Uuid::new_v4()),
            "purpose": "order",
            "payer_id": w.payer.user_id,
            "payee_id": w.seller.user_id,
            "amount": amount,
            "currency": currency,
            "description": "Kitenge dress, size M",
            "release_rule": rule,
        }),
    )
    .await;
    assert_eq!(a.status, 201, "payable: {a}");
    a.body
}

async fn pay(w: &World, payable_id: &str, method_id: &str, key: &str) -> Answer {
    let resp = w
        .app
        .http
        .post(w.app.url("/payments/intents"))
        .bearer_auth(&w.payer.access_token)
        .header("idempotency-key", key)
        .json(&json!({"payable_id": payable_id, "method_id": method_id}))
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

async fn intent(w: &World, id: &str) -> Value {
    let a = as_user(
        &w.app,
        &w.payer,
        Method::GET,
        &format!("/payments/intents/{id}"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{a}");
    a.body
}

/// Polls the intent until `state` (or panics after 15 s).
async fn wait_state(w: &World, id: &str, state: &str) -> Value {
    let start = Instant::now();
    loop {
        let i = intent(w, id).await;
        if i["state"] == state {
            return i;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "intent stayed {} (wanted {state}): {i}\n{}",
            i["state"],
            w.app.host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (debits_posted, credits_posted) of a named ledger account, 0s when absent.
async fn balance(w: &World, name: &str) -> (i64, i64) {
    let db = w.app.db.admin().await;
    let rows = db
        .query(
            "SELECT debits_posted, credits_posted FROM payments.ledger_accounts WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap();
    rows.first().map(|r| (r.get(0), r.get(1))).unwrap_or((0, 0))
}

/// What was done about each callback recorded for intent `id`, oldest first.
async fn callback_outcomes(w: &World, id: &str) -> Vec<String> {
    let db = w.app.db.admin().await;
    db.query(
        "SELECT outcome FROM payments.callbacks WHERE intent_id = $1::text::uuid ORDER BY received_at",
        &[&id],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The path of a callback URL we gave a provider, to post to the test app.
fn callback_path(url: &str) -> String {
    format!("/{}", url.splitn(4, '/').nth(3).unwrap())
}

async fn assert_ledger_invariants(w: &World) {
    let db = w.app.db.admin().await;
    let violations = db
        .query(
            "SELECT violation, account_id::text FROM payments.ledger_violations",
            &[],
        )
        .await
        .unwrap();
    assert!(
        violations.is_empty(),
        "ledger violations: {:?}",
        violations
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    );
    // Each provider payment credited at most once, and only for succeeded intents.
    let doubles: i64 = db
        .query_one(
            "SELECT count(*) FROM (SELECT credit_account_id FROM payments.ledger_transfers t
                 JOIN payments.ledger_accounts a ON a.id = t.credit_account_id AND a.code = 'escrow'
                 WHERE t.debit_account_id IN (SELECT id FROM payments.ledger_accounts WHERE code = 'provider_clearing')
                 GROUP BY credit_account_id HAVING count(*) > 1) d",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(doubles, 0, "an escrow was credited twice");
    let credited_not_succeeded: i64 = db
        .query_one(
            "SELECT count(*) FROM payments.ledger_transfers t JOIN payments.intents i ON i.id = t.id
             WHERE i.state NOT IN ('succeeded', 'refunded', 'partially_refunded')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        credited_not_succeeded, 0,
        "a collection was posted for an intent that did not succeed"
    );
    assert!(
        w.sim.refusals().is_empty(),
        "the simulator refused our requests: {:?}",
        w.sim.refusals()
    );
}

async fn sweep(w: &World) -> Value {
    let a = internal(&w.app, "/internal/payments/jobs/sweep", json!({})).await;
    assert_eq!(a.status, 200, "sweep: {a}");
    a.body
}

/// Makes every live intent due for the sweeper now.
async fn make_due(w: &World) {
    w.app
        .db
        .admin()
        .await
        .execute(
            "UPDATE payments.intents SET next_check_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn methods_detect_networks_and_the_provider_fixes_the_currency() {
    let w = world().await;
    let add = |body: Value| {
        as_user(
            &w.app,
            &w.payer,
            Method::POST,
            "/payments/methods",
            Some(body),
        )
    };
    let mpesa = add(json!({"kind": "mobile_money", "phone": "+254 712 345 678"})).await;
    assert_eq!(mpesa.status, 201, "{mpesa}");
    assert_eq!(mpesa.body["network"], "safaricom_ke");
    assert_eq!(mpesa.body["provider"], "daraja");
    assert_eq!(mpesa.body["currency"], "KES");
    assert_eq!(
        mpesa.body["is_default"], true,
        "the first method becomes the default"
    );
    assert!(
        !mpesa.body["phone"].as_str().unwrap().contains("2345"),
        "numbers are masked: {}",
        mpesa.body["phone"]
    );

    let airtel = add(json!({"kind": "mobile_money", "phone": "+255684345678", "provider": "tembo", "make_default": true})).await;
    assert_eq!(airtel.status, 201, "{airtel}");
    assert_eq!(
        (
            airtel.body["network"].as_str(),
            airtel.body["currency"].as_str()
        ),
        (Some("airtel_tz"), Some("TZS"))
    );
    let ported =
        add(json!({"kind": "mobile_money", "phone": "+255754000111", "network": "tigo_tz"})).await;
    assert_eq!(
        ported.body["network"], "tigo_tz",
        "the network can be overridden: {ported}"
    );

    for (body, status, code) in [
        (
            json!({"kind": "mobile_money", "phone": "0712345678"}),
            422,
            "validation_failed",
        ),
        (
            json!({"kind": "mobile_money", "phone": "+254733345678"}),
            422,
            "network_not_supported",
        ),
        (
            json!({"kind": "mobile_money", "phone": "+255754345678", "provider": "tembo"}),
            422,
            "validation_failed",
        ),
        (
            json!({"kind": "mobile_money", "phone": "+254712345678"}),
            409,
            "method_exists",
        ),
        (
            json!({"kind": "mobile_money", "phone": "+255684000000", "use": "payout"}),
            403,
            "step_up_required",
        ),
        (json!({"kind": "bitcoin"}), 422, "validation_failed"),
    ] {
        let a = add(body.clone()).await;
        assert_eq!((a.status, a.code()), (status, code), "{body} → {a}");
    }
    let card = add(json!({"kind": "card"})).await;
    assert_eq!(
        (card.status, card.body["provider"].as_str()),
        (201, Some("selcom")),
        "{card}"
    );

    let list = as_user(&w.app, &w.payer, Method::GET, "/payments/methods", None).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let defaults: Vec<_> = items.iter().filter(|m| m["is_default"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], airtel.body["id"]);
    // Removing the default promotes the oldest remaining.
    let gone = as_user(
        &w.app,
        &w.payer,
        Method::DELETE,
        &format!("/payments/methods/{}", airtel.body["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(gone.status, 204);
    let list = as_user(&w.app, &w.payer, Method::GET, "/payments/methods", None).await;
    let default = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["is_default"] == true)
        .cloned()
        .unwrap();
    assert_eq!(default["id"], mpesa.body["id"]);
    // Neither someone else's payable nor someone else's method is yours to pay with.
    let p = payable(&w, 100_000, "KES", "on_confirmation").await;
    let body = json!({"payable_id": p["id"], "method_id": mpesa.body["id"]});
    let no_key = as_user(
        &w.app,
        &w.seller,
        Method::POST,
        "/payments/intents",
        Some(body.clone()),
    )
    .await;
    assert_eq!(no_key.code(), "idempotency_key_required");
    let resp = w
        .app
        .http
        .post(w.app.url("/payments/intents"))
        .bearer_auth(&w.seller.access_token)
        .header("idempotency-key", "not-mine")
        .json(&body)
        .send()
        .await
        .unwrap();
    let not_mine = Answer::from_response(resp).await;
    assert_eq!(
        (not_mine.status, not_mine.code()),
        (422, "validation_failed"),
        "{not_mine}"
    );
    assert!(not_mine.to_string().contains("payable_id"), "{not_mine}");
}

#[tokio::test]
async fn mpesa_stk_push_is_paid_into_escrow_once_even_with_duplicate_and_racing_callbacks() {
    let mut w = world().await;
    let method = add_method(&w, "+254712345678", None).await;
    let p = payable(&w, 150_000, "KES", "on_confirmation").await; // 1,500 KES
                                                                  // Twice, plus a contradicting failure callback racing the first one.
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![300, 600],
        contradicting_callback: true,
        ..Plan::default()
    });
    let a = pay(&w, p["id"].as_str().unwrap(), &method, "k-mpesa-1").await;
    assert_eq!(a.status, 201, "{a}\n{}", w.app.host.log());
    assert_eq!(a.body["state"], "awaiting_customer");
    let id = a.body["id"].as_str().unwrap().to_string();
    let push = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.provider == "daraja")
        .unwrap();
    assert_eq!(push.amount, 1500, "Daraja gets whole shillings");
    assert_eq!(push.request["AccountReference"].as_str().unwrap().len(), 12);
    assert!(
        push.callback_url
            .starts_with("https://pay.nexgate.test/payments/callbacks/daraja/"),
        "{}",
        push.callback_url
    );

    wait_state(&w, &id, "succeeded").await;
    tokio::time::sleep(Duration::from_millis(800)).await; // every callback has arrived
    let done = intent(&w, &id).await;
    assert_eq!(
        done["provider_reference"],
        push.transaction_id.as_str(),
        "the M-Pesa receipt from the callback"
    );
    assert!(done["receipt_number"].as_str().unwrap().starts_with("NXR-"));
    assert_eq!(
        balance(&w, &format!("escrow:{}", p["id"].as_str().unwrap())).await,
        (0, 150_000)
    );
    assert_eq!(balance(&w, "clearing:daraja:KES").await, (150_000, 0));
    let outcomes = callback_outcomes(&w, &id).await;
    assert_eq!(outcomes.len(), 3, "three callbacks recorded: {outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| *o == "applied").count(),
        1,
        "{outcomes:?}"
    );
    let payable_now = as_user(
        &w.app,
        &w.payer,
        Method::GET,
        &format!("/payments/payables/{}", p["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(payable_now.body["state"], "paid");
    // The events: succeeded for the payer, received for the payee, each once.
    let (_, ev) = w
        .observer
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".payments.payment.received")
        })
        .await
        .expect("payment.received");
    assert_eq!(ev["data"]["payee_id"], w.seller.user_id.as_str());
    assert_eq!(ev["data"]["amount"], 150_000);
    // The receipt, for payer and payee.
    let r = as_user(
        &w.app,
        &w.seller,
        Method::GET,
        &format!(
            "/payments/receipts/{}",
            done["receipt_number"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["provider_reference"].as_str()),
        (200, Some(push.transaction_id.as_str())),
        "{r}"
    );
    let tx = as_user(
        &w.app,
        &w.payer,
        Method::GET,
        "/payments/transactions",
        None,
    )
    .await;
    assert_eq!(tx.body["items"][0]["id"], id.as_str());
    assert_ledger_invariants(&w).await;
}

#[tokio::test]
async fn selcom_wallet_push_and_tembo_collection_settle_by_callback() {
    let w = world().await;
    let selcom = add_method(&w, "+255754345678", None).await; // Vodacom → Selcom
    let tembo = add_method(&w, "+255684345678", Some("tembo")).await; // Airtel via Tembo
    let p1 = payable(&w, 2_500_000, "TZS", "after_dispute_window").await; // 25,000 TZS
    let p2 = payable(&w, 1_000_000, "TZS", "after_dispute_window").await;
    let a = pay(&w, p1["id"].as_str().unwrap(), &selcom, "k-selcom").await;
    assert_eq!(
        (a.status, a.body["state"].as_str()),
        (201, Some("awaiting_customer")),
        "{a}\n{}",
        w.app.host.log()
    );
    let b = pay(&w, p2["id"].as_str().unwrap(), &tembo, "k-tembo").await;
    assert_eq!(
        (b.status, b.body["state"].as_str()),
        (201, Some("awaiting_customer")),
        "{b}\n{}",
        w.app.host.log()
    );
    let s = wait_state(&w, a.body["id"].as_str().unwrap(), "succeeded").await;
    let t = wait_state(&w, b.body["id"].as_str().unwrap(), "succeeded").await;
    assert!(s["provider_reference"].as_str().unwrap().starts_with("SEL"));
    assert!(
        t["provider_reference"].as_str().unwrap().starts_with("TMB"),
        "{t}"
    );
    let sims = w.sim.payments();
    let tembo_req = &sims.iter().find(|x| x.provider == "tembo").unwrap().request;
    assert_eq!(tembo_req["channel"], "TZ-AIRTEL-C2B");
    assert_eq!(tembo_req["amount"], 10_000);
    assert_eq!(balance(&w, "clearing:selcom:TZS").await, (2_500_000, 0));
    assert_eq!(balance(&w, "clearing:tembo:TZS").await, (1_000_000, 0));
    // After the dispute window the escrow is released to the seller, minus the 2.5% fee.
    let p = as_user(
        &w.app,
        &w.payer,
        Method::GET,
        &format!("/payments/payables/{}", p1["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert!(p.body["release_after"].is_string(), "{p}");
    w.app
        .db
        .admin()
        .await
        .execute(
            "UPDATE payments.payables SET release_after = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let released = internal(&w.app, "/internal/payments/jobs/release", json!({})).await;
    assert_eq!(released.body["released"], 2, "{released}");
    let again = internal(&w.app, "/internal/payments/jobs/release", json!({})).await;
    assert_eq!(again.body["released"], 0);
    assert_eq!(
        balance(&w, &format!("available:{}:TZS", w.seller.user_id)).await,
        (0, 2_437_500 + 975_000)
    );
    assert_eq!(balance(&w, "fees:TZS").await, (0, 62_500 + 25_000));
    assert_ledger_invariants(&w).await;
}

#[tokio::test]
async fn a_card_pays_on_selcoms_hosted_page() {
    let w = world().await;
    let card = as_user(
        &w.app,
        &w.payer,
        Method::POST,
        "/payments/methods",
        Some(json!({"kind": "card"})),
    )
    .await;
    let p = payable(&w, 5_000_000, "TZS", "on_confirmation").await;
    let a = pay(
        &w,
        p["id"].as_str().unwrap(),
        card.body["id"].as_str().unwrap(),
        "k-card",
    )
    .await;
    assert_eq!(
        (a.status, a.body["state"].as_str()),
        (201, Some("awaiting_customer")),
        "{a}"
    );
    let url = a.body["checkout_url"].as_str().unwrap();
    assert!(
        url.starts_with(&w.sim.origin) && url.contains("/checkout/"),
        "{url}"
    );
    let id = a.body["id"].as_str().unwrap();
    w.sim.complete_checkout(id);
    wait_state(&w, id, "succeeded").await;
    assert_ledger_invariants(&w).await;
}

#[tokio::test]
async fn the_sweeper_settles_missing_callbacks_and_never_fails_a_pending_payment() {
    let w = world().await;
    let method = add_method(&w, "+254712345678", None).await;
    let p = payable(&w, 100_000, "KES", "on_confirmation").await;
    // No callback, and the status query says "still processing" three times.
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        pending_queries: 3,
        ..Plan::default()
    });
    let a = pay(&w, p["id"].as_str().unwrap(), &method, "k-sweep").await;
    let id = a.body["id"].as_str().unwrap().to_string();
    for round in 0..3 {
        make_due(&w).await;
        let s = sweep(&w).await;
        assert_eq!(s["pending"], 1, "round {round}: {s}");
        assert_eq!(
            intent(&w, &id).await["state"],
            "processing",
            "500.001.1001 is pending, never failed"
        );
    }
    make_due(&w).await;
    let s = sweep(&w).await;
    assert_eq!(s["settled"], 1, "{s}");
    let done = intent(&w, &id).await;
    assert_eq!(done["state"], "succeeded");
    // A failure the customer caused (1032 cancelled) is final, from the query alone.
    let p2 = payable(&w, 100_000, "KES", "on_confirmation").await;
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        fail_with: Some("1032".into()),
        ..Plan::default()
    });
    let b = pay(&w, p2["id"].as_str().unwrap(), &method, "k-sweep-2").await;
    make_due(&w).await;
    sweep(&w).await;
    let failed = intent(&w, b.body["id"].as_str().unwrap()).await;
    assert_eq!(
        (failed["state"].as_str(), failed["failure"]["code"].as_str()),
        (Some("failed"), Some("1032")),
        "{failed}"
    );
    // A payable whose payment failed can be paid again, with a new key.
    w.sim.plan_next(Plan::default());
    let c = pay(&w, p2["id"].as_str().unwrap(), &method, "k-sweep-3").await;
    assert_eq!(c.status, 201, "{c}");
    wait_state(&w, c.body["id"].as_str().unwrap(), "succeeded").await;
    // Pending forever goes to review, still not failed.
    let p3 = payable(&w, 100_000, "KES", "on_confirmation").await;
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        pending_queries: 1000,
        ..Plan::default()
    });
    let d = pay(&w, p3["id"].as_str().unwrap(), &method, "k-sweep-4").await;
    let mut reviewed = 0;
    for _ in 0..12 {
        make_due(&w).await;
        reviewed += sweep(&w).await["sent_to_review"].as_i64().unwrap();
    }
    assert_eq!(reviewed, 1);
    assert_eq!(
        intent(&w, d.body["id"].as_str().unwrap()).await["state"],
        "processing"
    );
    assert_ledger_invariants(&w).await;
}

#[tokio::test]
async fn fifty_parallel_requests_with_one_idempotency_key_make_one_intent() {
    let w = world().await;
    let method = add_method(&w, "+255754345678", None).await;
    let p = payable(&w, 2_000_000, "TZS", "on_confirmation").await;
    let pid = p["id"].as_str().unwrap().to_string();
    // The customer has not answered the push yet.
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        pending_queries: 1000,
        ..Plan::default()
    });
    let tasks: Vec<_> = (0..50).map(|_| pay(&w, &pid, &method, "one-key")).collect();
    let answers = futures::future::join_all(tasks).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 201, "{a}");
            a.body["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one intent for one key");
    let count: i64 = w
        .app
        .db
        .admin()
        .await
        .query_one("SELECT count(*) FROM payments.intents", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    assert_eq!(
        w.sim.hits("/v1/checkout/wallet-payment"),
        1,
        "one push to the customer"
    );
    // The same key with another payable is refused; another key on the same payable is a conflict.
    let p2 = payable(&w, 2_000_000, "TZS", "on_confirmation").await;
    let other = pay(&w, p2["id"].as_str().unwrap(), &method, "one-key").await;
    assert_eq!(
        (other.status, other.code()),
        (422, "idempotency_key_reused"),
        "{other}"
    );
    let second = pay(&w, &pid, &method, "another-key").await;
    assert_eq!(
        (second.status, second.code()),
        (409, "payment_in_progress"),
        "{second}"
    );
    // A KES method cannot pay a TZS payable; a payable of someone else is not yours.
    let kes = add_method(&w, "+254712345678", None).await;
    let wrong = pay(&w, p2["id"].as_str().unwrap(), &kes, "k-cur").await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (422, "currency_mismatch"),
        "{wrong}"
    );
    assert_ledger_invariants(&w).await;
}

#[tokio::test]
async fn escrow_release_freeze_and_void_move_exactly_the_right_amounts() {
    let mut w = world().await;
    let method = add_method(&w, "+255754345678", None).await;
    let p = payable(&w, 1_000_000, "TZS", "on_confirmation").await;
    let pid = p["id"].as_str().unwrap().to_string();
    // Not paid yet: nothing to release.
    let early = internal(
        &w.app,
        &format!("/internal/payments/payables/{pid}/release"),
        json!({}),
    )
    .await;
    assert_eq!((early.status, early.code()), (409, "not_in_escrow"));
    let a = pay(&w, &pid, &method, "k-escrow").await;
    wait_state(&w, a.body["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(balance(&w, &format!("escrow:{pid}")).await, (0, 1_000_000));
    // A dispute freezes it: release is refused until the dispute is resolved.
    let frozen = internal(
        &w.app,
        &format!("/internal/payments/payables/{pid}/freeze"),
        json!({"reason": "item not as described"}),
    )
    .await;
    assert_eq!(frozen.body["state"], "frozen", "{frozen}");
    // The owning service hears of the dispute by its own reference.
    let (_, opened) = w
        .observer
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".payments.dispute.opened")
        })
        .await
        .expect("dispute event");
    assert_eq!(
        (
            opened["data"]["payable_id"].as_str(),
            opened["data"]["owner_service"].as_str(),
            opened["data"]["reference"].as_str(),
            opened["data"]["reason"].as_str(),
        ),
        (
            Some(pid.as_str()),
            Some("commerce"),
            p["reference"].as_str(),
            Some("item not as described")
        )
    );
    let refused = internal(
        &w.app,
        &format!("/internal/payments/payables/{pid}/release"),
        json!({}),
    )
    .await;
    assert_eq!((refused.status, refused.code()), (409, "escrow_frozen"));
    w.app
        .db
        .admin()
        .await
        .execute(
            "UPDATE payments.payables SET release_after = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        internal(&w.app, "/internal/payments/jobs/release", json!({}))
            .await
            .body["released"],
        0,
        "frozen escrow is not auto-released"
    );
    // Resolved: released, minus 2.5%; a retried release moves nothing more.
    for _ in 0..2 {
        let r = internal(
            &w.app,
            &format!("/internal/payments/payables/{pid}/release"),
            json!({"resolve_dispute": true}),
        )
        .await;
        assert_eq!(
            (r.status, r.body["state"].as_str()),
            (200, Some("released")),
            "{r}"
        );
    }
    assert_eq!(
        balance(&w, &format!("escrow:{pid}")).await,
        (1_000_000, 1_000_000)
    );
    assert_eq!(
        balance(&w, &format!("available:{}:TZS", w.seller.user_id)).await,
        (0, 975_000)
    );
    assert_eq!(balance(&w, "fees:TZS").await, (0, 25_000));
    // Each side's history, checked in SQL against who asks.
    let sold = history(&w, &w.seller, "?role=payee").await;
    let kinds: Vec<(String, String, i64)> = sold["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["state"].as_str().unwrap().to_string(),
                i["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("fee".to_string(), "taken".to_string(), 25_000),
            ("sale".to_string(), "released".to_string(), 1_000_000)
        ],
        "{sold}"
    );
    assert_eq!(sold["items"][1]["reference"], p["reference"]);
    let paid = history(&w, &w.payer, "?role=payer").await;
    assert_eq!(paid["items"].as_array().unwrap().len(), 1, "{paid}");
    assert_eq!(
        (
            paid["items"][0]["kind"].as_str(),
            paid["items"][0]["direction"].as_str()
        ),
        (Some("payment"), Some("out"))
    );
    assert_eq!(
        history(&w, &w.payer, "?role=payee").await["items"],
        json!([])
    );
    let first = history(&w, &w.seller, "?limit=1").await;
    assert_eq!(first["items"][0]["kind"], "fee");
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = history(&w, &w.seller, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(second["items"][0]["kind"], "sale");
    let bad = as_user(
        &w.app,
        &w.seller,
        Method::GET,
        "/payments/transactions?role=owner",
        None,
    )
    .await;
    assert_eq!(
        (bad.status, bad.body["errors"][0]["field"].as_str()),
        (422, Some("role"))
    );
    // An unpaid payable is voided with no money moved; a paid one needs a refund.
    let q = payable(&w, 500_000, "TZS", "on_confirmation").await;
    let v = internal(
        &w.app,
        &format!(
            "/internal/payments/payables/{}/void",
            q["id"].as_str().unwrap()
        ),
        json!({"reason": "order cancelled"}),
    )
    .await;
    assert_eq!(v.body["state"], "voided", "{v}");
    let late = pay(&w, q["id"].as_str().unwrap(), &method, "k-void").await;
    assert_eq!((late.status, late.code()), (409, "payable_not_open"));
    // Bad payables change nothing.
    for (body, field) in [
        (json!({"amount": -5}), "amount"),
        (json!({"currency": "UGX"}), "currency"),
        (json!({"amount": 150}), "amount_not_payable"),
        (json!({"release_rule": "whenever"}), "release_rule"),
        (json!({"expires_in_secs": 60}), "expires_in_secs"),
        (
            json!({"expires_in_secs": 90 * 24 * 3600 + 1}),
            "expires_in_secs",
        ),
    ] {
        let mut full = json!({"owner_service": "commerce", "reference": uuid::Uuid::new_v4().to_string(), "purpose": "order",
            "payer_id": w.payer.user_id, "payee_id": w.seller.user_id, "amount": 100_000, "currency": "TZS",
            "description": "x", "release_rule": "on_confirmation"});
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        let a = internal(&w.app, "/internal/payments/payables", full).await;
        assert!(a.status == 400 || a.status == 422, "{body} → {a}");
        assert!(a.to_string().contains(field), "{body} → {a}");
    }
    let stored: i64 = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM payments.payables WHERE description = 'x'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0, "a refused payable is not stored");
    // The owner sets how long a payable waits: a 15-minute stock reservation.
    let reserved = internal(
        &w.app,
        "/internal/payments/payables",
        json!({"owner_service": "commerce", "reference": uuid::Uuid::new_v4().to_string(), "purpose": "order",
            "payer_id": w.payer.user_id, "payee_id": w.seller.user_id, "amount": 100_000, "currency": "TZS",
            "description": "reserved for 15 minutes", "release_rule": "on_confirmation", "expires_in_secs": 900}),
    )
    .await;
    assert_eq!(reserved.status, 201, "{reserved}");
    let left: f64 = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT extract(epoch FROM expires_at - now())::float8 FROM payments.payables WHERE id = $1",
            &[&uuid::Uuid::parse_str(reserved.body["id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert!((840.0..=900.0).contains(&left), "expires in {left} s");
    let no_token = w
        .app
        .http
        .post(w.app.url("/internal/payments/payables"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    assert_ledger_invariants(&w).await;
}

#[tokio::test]
async fn a_success_callback_after_a_query_settled_the_intent_records_the_mpesa_receipt() {
    // The order the racing test above only sometimes produces: a contradicting callback is
    // checked first, the status query says paid and settles the intent without M-Pesa's receipt
    // number; the genuine callback arrives after and fills it in, moving no money.
    let w = world().await;
    let method = add_method(&w, "+254712345678", None).await;
    let p = payable(&w, 100_000, "KES", "on_confirmation").await;
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        ..Plan::default()
    });
    let a = pay(&w, p["id"].as_str().unwrap(), &method, "k-late-receipt").await;
    assert_eq!(a.status, 201, "{a}");
    let id = a.body["id"].as_str().unwrap().to_string();
    let push = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.provider == "daraja")
        .unwrap();
    let path = callback_path(&push.callback_url);
    let post = |body: Value| w.app.http.post(w.app.url(&path)).json(&body).send();

    let r = post(PaymentSimulator::callback_body(&push, true))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let settled = intent(&w, &id).await;
    assert_eq!(settled["state"], "succeeded", "{settled}");
    assert_eq!(settled["provider_reference"], push.request_id.as_str());

    let r = post(PaymentSimulator::callback_body(&push, false))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let done = intent(&w, &id).await;
    assert_eq!(done["state"], "succeeded");
    assert_eq!(
        done["provider_reference"],
        push.transaction_id.as_str(),
        "the M-Pesa receipt from the later callback"
    );
    assert_eq!(
        balance(&w, &format!("escrow:{}", p["id"].as_str().unwrap())).await,
        (0, 100_000),
        "credited once"
    );
    assert_eq!(callback_outcomes(&w, &id).await, ["applied", "duplicate"]);
}

#[tokio::test]
async fn forged_callbacks_change_nothing() {
    let w = world().await;
    let mpesa = add_method(&w, "+254712345678", None).await;
    let selcom = add_method(&w, "+255754345678", None).await;
    let p1 = payable(&w, 100_000, "KES", "on_confirmation").await;
    let p2 = payable(&w, 1_000_000, "TZS", "on_confirmation").await;
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        pending_queries: 1000,
        ..Plan::default()
    });
    let a = pay(&w, p1["id"].as_str().unwrap(), &mpesa, "k-f1").await;
    // Selcom's order-status query says "pending" once, then "completed".
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        pending_queries: 1,
        ..Plan::default()
    });
    let b = pay(&w, p2["id"].as_str().unwrap(), &selcom, "k-f2").await;
    let (ida, idb) = (
        a.body["id"].as_str().unwrap(),
        b.body["id"].as_str().unwrap(),
    );
    let sims = w.sim.payments();
    let daraja_payment = sims
        .iter()
        .find(|x| x.provider == "daraja")
        .unwrap()
        .clone();
    let selcom_payment = sims
        .iter()
        .find(|x| x.provider == "selcom")
        .unwrap()
        .clone();

    // M-Pesa: a wrong secret in the URL.
    let good_path = callback_path(&daraja_payment.callback_url);
    // The secret with its last character changed (to something it is not).
    let last = if good_path.ends_with('0') { '1' } else { '0' };
    let forged_path = format!("{}{last}", &good_path[..good_path.len() - 1]);
    let body = PaymentSimulator::callback_body(&daraja_payment, false);
    let r = w
        .app
        .http
        .post(w.app.url(&forged_path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // M-Pesa with the right secret but the provider's query says still processing: not credited.
    let r = w
        .app
        .http
        .post(w.app.url(&good_path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(intent(&w, ida).await["state"], "processing");

    // Selcom: a bad digest, then a valid digest over a body that was changed after signing.
    let sbody = PaymentSimulator::callback_body(&selcom_payment, false);
    let spath = callback_path(&selcom_payment.callback_url);
    let mut req = w.app.http.post(w.app.url(&spath)).json(&sbody);
    for (k, v) in selcom_webhook_headers("not-the-secret", &sbody) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 403);
    let headers = selcom_webhook_headers(SELCOM_WEBHOOK_SECRET, &sbody);
    let mut tampered = sbody.clone();
    tampered["order_id"] = json!(ida);
    let mut req = w.app.http.post(w.app.url(&spath)).json(&tampered);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 403);
    // Signed correctly, but the amount is not the intent's: recorded, rejected.
    let mut wrong_amount = sbody.clone();
    wrong_amount["amount"] = json!("1");
    let mut req = w.app.http.post(w.app.url(&spath)).json(&wrong_amount);
    for (k, v) in selcom_webhook_headers(SELCOM_WEBHOOK_SECRET, &wrong_amount) {
        req = req.header(k, v);
    }
    let r = Answer::from_response(req.send().await.unwrap()).await;
    assert_eq!(r.body["resultcode"], "400", "{r}");
    assert_ne!(intent(&w, idb).await["state"], "succeeded");
    assert_eq!(
        balance(&w, &format!("escrow:{}", p2["id"].as_str().unwrap())).await,
        (0, 0)
    );
    assert_eq!(
        balance(&w, &format!("escrow:{}", p1["id"].as_str().unwrap())).await,
        (0, 0)
    );
    // A correctly signed webhook is confirmed by an order-status query before money moves (a
    // leaked key is not enough): while Selcom's own record says pending, nothing is credited.
    let signed_post = || {
        let mut req = w.app.http.post(w.app.url(&spath)).json(&sbody);
        for (k, v) in selcom_webhook_headers(SELCOM_WEBHOOK_SECRET, &sbody) {
            req = req.header(k, v);
        }
        req.send()
    };
    assert_eq!(signed_post().await.unwrap().status().as_u16(), 200);
    assert_eq!(intent(&w, idb).await["state"], "processing");
    assert_eq!(w.sim.hits("/v1/checkout/order-status"), 1);
    // Once Selcom's record agrees, the webhook settles it.
    assert_eq!(signed_post().await.unwrap().status().as_u16(), 200);
    assert_eq!(intent(&w, idb).await["state"], "succeeded");
    let rejected: i64 = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM payments.callbacks WHERE outcome = 'rejected'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rejected, 4, "every forgery is recorded");
    assert_ledger_invariants(&w).await;
}

/// With `selcom_callback_secret` left empty, anyone could sign a webhook with the empty key: every
/// Selcom webhook is refused instead, and the intent stays unpaid.
#[tokio::test]
async fn selcom_webhooks_are_refused_while_their_key_is_empty() {
    let w = world_with(vec![(
        "SPIN_VARIABLE_SELCOM_CALLBACK_SECRET".into(),
        String::new(),
    )])
    .await;
    let selcom = add_method(&w, "+255754345678", None).await;
    let p = payable(&w, 1_000_000, "TZS", "on_confirmation").await;
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        ..Plan::default()
    });
    let a = pay(&w, p["id"].as_str().unwrap(), &selcom, "k-e1").await;
    let id = a.body["id"].as_str().unwrap();
    let paid = w.sim.payments().pop().unwrap();
    let body = PaymentSimulator::callback_body(&paid, false);
    let mut req = w
        .app
        .http
        .post(w.app.url(&callback_path(&paid.callback_url)))
        .json(&body);
    for (k, v) in selcom_webhook_headers("", &body) {
        req = req.header(k, v);
    }
    let r = Answer::from_response(req.send().await.unwrap()).await;
    assert_eq!(r.status, 403, "{r}");
    assert_ne!(intent(&w, id).await["state"], "succeeded");
    assert_eq!(w.sim.hits("/v1/checkout/order-status"), 0, "not even asked");
    assert!(w.app.host.log().contains("selcom_callback_secret is empty"));
}

async fn make_disbursements_due(w: &World) {
    w.app
        .db
        .admin()
        .await
        .execute(
            "UPDATE payments.disbursements SET next_check_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
}

async fn refund(w: &World, payable_id: &str, key: &str, body: Value) -> Answer {
    let resp = w
        .app
        .http
        .post(
            w.app
                .url(&format!("/internal/payments/payables/{payable_id}/refund")),
        )
        .header("x-internal-token", &w.app.payments_internal_token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

/// `GET /payments/transactions{query}` as `user`.
async fn history(w: &World, user: &User, query: &str) -> Value {
    let path = format!("/payments/transactions{query}");
    let a = as_user(&w.app, user, Method::GET, &path, None).await;
    assert_eq!(a.status, 200, "{path}: {a}");
    a.body
}

async fn payable_state(w: &World, id: &str) -> Value {
    as_user(
        &w.app,
        &w.payer,
        Method::GET,
        &format!("/payments/payables/{id}"),
        None,
    )
    .await
    .body
}

#[tokio::test]
async fn refunds_go_back_to_the_payers_number_once_and_never_exceed_the_payment() {
    let mut w = world().await;
    let selcom = add_method(&w, "+255754345678", None).await;
    let p = payable(&w, 1_000_000, "TZS", "on_confirmation").await;
    let pid = p["id"].as_str().unwrap().to_string();
    let a = pay(&w, &pid, &selcom, "k-r1").await;
    let iid = a.body["id"].as_str().unwrap().to_string();
    wait_state(&w, &iid, "succeeded").await;

    // A partial refund, retried with the same key: one cash-in, one refund.
    let r1 = refund(
        &w,
        &pid,
        "refund-1",
        json!({"amount": 300_000, "reason": "one item missing"}),
    )
    .await;
    assert_eq!(
        (r1.status, r1.body["state"].as_str()),
        (202, Some("succeeded")),
        "{r1}\n{}",
        w.app.host.log()
    );
    let again = refund(
        &w,
        &pid,
        "refund-1",
        json!({"amount": 300_000, "reason": "one item missing"}),
    )
    .await;
    assert_eq!(again.body["id"], r1.body["id"]);
    assert_eq!(
        w.sim.hits("/v1/walletcashin/process"),
        1,
        "a retried refund is not sent twice"
    );
    let cashin = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.provider == "selcom_cashin")
        .unwrap();
    assert_eq!(
        (cashin.amount, cashin.msisdn.as_str()),
        (3_000, "255754345678"),
        "whole shillings to the number that paid"
    );
    assert_eq!(intent(&w, &iid).await["state"], "partially_refunded");
    assert_eq!(
        balance(&w, &format!("escrow:{pid}")).await,
        (300_000, 1_000_000)
    );
    assert_eq!(
        balance(&w, "clearing:selcom:TZS").await,
        (1_000_000, 300_000)
    );
    let (_, ev) = w
        .observer
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".payments.refund.processed")
        })
        .await
        .expect("refund event");
    assert_eq!(
        (
            ev["data"]["amount"].as_i64(),
            ev["data"]["payer_id"].as_str()
        ),
        (Some(300_000), Some(w.payer.user_id.as_str()))
    );
    // What the owning service needs to find its order: the contract in docs/events.md.
    assert_eq!(
        (
            ev["data"]["payable_id"].as_str(),
            ev["data"]["intent_id"].as_str(),
            ev["data"]["owner_service"].as_str(),
            ev["data"]["reference"].as_str(),
            ev["data"]["fully_refunded"].as_bool(),
        ),
        (
            Some(pid.as_str()),
            Some(iid.as_str()),
            Some("commerce"),
            p["reference"].as_str(),
            Some(false)
        )
    );

    // More than what is left is refused; a refund the provider refuses puts the money back.
    let too_much = refund(
        &w,
        &pid,
        "refund-2",
        json!({"amount": 700_001, "reason": "x"}),
    )
    .await;
    assert_eq!(
        (too_much.status, too_much.code()),
        (422, "validation_failed"),
        "{too_much}"
    );
    w.sim.plan_next(Plan {
        fail_with: Some("WNR".into()),
        ..Plan::default()
    });
    let refused = refund(
        &w,
        &pid,
        "refund-3",
        json!({"amount": 100_000, "reason": "late delivery"}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.body["state"].as_str()),
        (202, Some("failed")),
        "{refused}"
    );
    assert_eq!(
        payable_state(&w, &pid).await["refunded_amount"],
        300_000,
        "the failed refund is released"
    );
    assert_eq!(
        balance(&w, &format!("escrow:{pid}")).await,
        (300_000, 1_000_000)
    );

    // The rest is released to the seller, fee on what they actually get.
    let released = internal(
        &w.app,
        &format!("/internal/payments/payables/{pid}/release"),
        json!({}),
    )
    .await;
    assert_eq!(released.body["state"], "released", "{released}");
    assert_eq!(
        balance(&w, &format!("available:{}:TZS", w.seller.user_id)).await,
        (0, 682_500)
    );
    assert_eq!(balance(&w, "fees:TZS").await, (0, 17_500));
    let late = refund(&w, &pid, "refund-4", json!({"reason": "too late"})).await;
    assert_eq!((late.status, late.code()), (409, "not_in_escrow"));

    // Voiding a paid M-Pesa payable refunds all of it through B2C; the result comes by callback.
    let mpesa = add_method(&w, "+254712345678", None).await;
    let q = payable(&w, 100_000, "KES", "on_confirmation").await;
    let qid = q["id"].as_str().unwrap().to_string();
    let b = pay(&w, &qid, &mpesa, "k-r2").await;
    let bid = b.body["id"].as_str().unwrap().to_string();
    wait_state(&w, &bid, "succeeded").await;
    let v = internal(
        &w.app,
        &format!("/internal/payments/payables/{qid}/void"),
        json!({"reason": "order cancelled"}),
    )
    .await;
    assert_eq!(
        (v.status, v.body["refund"]["state"].as_str()),
        (202, Some("sent")),
        "{v}"
    );
    let b2c = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.provider == "daraja_b2c")
        .unwrap();
    assert_eq!((b2c.amount, b2c.msisdn.as_str()), (1_000, "254712345678"));
    wait_state(&w, &bid, "refunded").await;
    assert_eq!(payable_state(&w, &qid).await["state"], "refunded");
    assert_eq!(
        balance(&w, &format!("escrow:{qid}")).await,
        (100_000, 100_000)
    );
    let again = internal(
        &w.app,
        &format!("/internal/payments/payables/{qid}/void"),
        json!({}),
    )
    .await;
    assert_eq!(
        (again.status, w.sim.hits("/mpesa/b2c/v1/paymentrequest")),
        (200, 1)
    );

    // Tembo: a refund goes out wallet-to-mobile; its callback is confirmed by the status query.
    let tembo = add_method(&w, "+255684345678", Some("tembo")).await;
    let t = payable(&w, 500_000, "TZS", "on_confirmation").await;
    let tid = t["id"].as_str().unwrap().to_string();
    let c = pay(&w, &tid, &tembo, "k-r3").await;
    let cid = c.body["id"].as_str().unwrap().to_string();
    wait_state(&w, &cid, "succeeded").await;
    let r = refund(
        &w,
        &tid,
        "refund-t",
        json!({"amount": 200_000, "reason": "size exchange"}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (202, Some("sent")),
        "{r}"
    );
    let out = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.provider == "tembo_payout")
        .unwrap();
    assert_eq!(
        (out.request["serviceCode"].as_str(), out.amount),
        (Some("TZ-AIRTEL-B2C"), 2_000)
    );
    wait_state(&w, &cid, "partially_refunded").await;
    assert_eq!(
        balance(&w, &format!("escrow:{tid}")).await,
        (200_000, 500_000)
    );
    assert_ledger_invariants(&w).await;
}

#[tokio::test]
async fn payouts_need_a_step_up_identity_and_balance_and_an_unclear_one_is_queried_never_resent() {
    let mut w = world().await;
    // The seller earns 1,950 KES: a 2,000 KES order paid by M-Pesa and released.
    let mpesa = add_method(&w, "+254712345678", None).await;
    let p = payable(&w, 200_000, "KES", "on_confirmation").await;
    let pid = p["id"].as_str().unwrap().to_string();
    let a = pay(&w, &pid, &mpesa, "k-p1").await;
    wait_state(&w, a.body["id"].as_str().unwrap(), "succeeded").await;
    internal(
        &w.app,
        &format!("/internal/payments/payables/{pid}/release"),
        json!({}),
    )
    .await;

    let plain = w.seller.access_token.clone();
    let (fresh, _) = nexgate_tests::auth::step_up(&w.app, &w.seller).await;
    let add = |token: String| {
        let app = &w.app;
        async move {
            call(
                app,
                Method::POST,
                "/payments/methods",
                Some(json!({"kind": "mobile_money", "phone": "+254722000111", "use": "payout"})),
                Some(&token),
            )
            .await
        }
    };
    assert_eq!(add(plain.clone()).await.code(), "step_up_required");
    assert_eq!(
        add(fresh.clone()).await.code(),
        "verification_required",
        "a payout number needs the identity level too"
    );
    w.app
        .db
        .admin()
        .await
        .execute(
            "INSERT INTO profiles.verification_grants (user_id, level, granted_by, reason) VALUES ($1::text::uuid, 'identity', gen_random_uuid(), 'documents checked')",
            &[&w.seller.user_id],
        )
        .await
        .unwrap();
    // MFA was enrolled a moment ago: payout numbers (and payouts) wait 24 hours, so a stolen
    // session that enrolled its own authenticator gets nothing out.
    let held = add(fresh.clone()).await;
    assert_eq!(
        (held.status, held.code()),
        (403, "security_change_cooldown"),
        "{held}"
    );
    // A day later (the enrolment moved back in the database, as time passing would).
    w.app
        .db
        .admin()
        .await
        .execute(
            "UPDATE auth.mfa_totp SET enabled_at = now() - interval '25 hours' WHERE account_id = $1::text::uuid",
            &[&w.seller.user_id],
        )
        .await
        .unwrap();
    let method = add(fresh.clone()).await;
    assert_eq!(method.status, 201, "{method}");
    let method_id = method.body["id"].as_str().unwrap().to_string();
    let payout = |token: String, amount: i64, key: &'static str| {
        let (app, method_id) = (&w.app, method_id.clone());
        async move { request_payout(app, &token, &method_id, amount, key).await }
    };
    assert_eq!(
        payout(plain.clone(), 100_000, "po-0").await.code(),
        "step_up_required"
    );
    // The payer has a fresh step-up but only the contact level.
    assert_eq!(
        payout(
            nexgate_tests::auth::step_up(&w.app, &w.payer).await.0,
            100_000,
            "po-0"
        )
        .await
        .code(),
        "verification_required",
        "contact level is not enough"
    );
    let over = payout(fresh.clone(), 195_100, "po-1").await;
    assert_eq!(
        (over.status, over.code()),
        (409, "insufficient_balance"),
        "{over}"
    );

    // The B2C request is taken but its answer is lost: the payout is `unknown`, the money stays
    // reserved, and the sweeper asks (transaction status) instead of sending it again.
    w.sim.plan_next(Plan {
        unclear_answer: true,
        callbacks_after_ms: vec![],
        ..Plan::default()
    });
    let sent = payout(fresh.clone(), 100_000, "po-2").await;
    assert_eq!(
        (sent.status, sent.body["state"].as_str()),
        (202, Some("unknown")),
        "{sent}\n{}",
        w.app.host.log()
    );
    let balances = as_user(&w.app, &w.seller, Method::GET, "/payments/balances", None).await;
    assert_eq!(
        balances.body["balances"][0]["available"], 95_000,
        "{balances}"
    );
    assert_eq!(balances.body["balances"][0]["payout_pending"], 100_000);
    make_disbursements_due(&w).await;
    sweep(&w).await;
    let id = sent.body["id"].as_str().unwrap();
    let start = Instant::now();
    loop {
        let d = as_user(
            &w.app,
            &w.seller,
            Method::GET,
            &format!("/payments/payouts/{id}"),
            None,
        )
        .await;
        if d.body["state"] == "succeeded" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "payout stayed {d}\n{}",
            w.app.host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        w.sim.hits("/mpesa/b2c/v1/paymentrequest"),
        1,
        "never re-sent"
    );
    assert_eq!(w.sim.hits("/mpesa/transactionstatus/v1/query"), 1);
    let (_, ev) = w
        .observer
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".payments.payout.sent")
        })
        .await
        .expect("payout event");
    assert_eq!(ev["data"]["amount"], 100_000);
    // A retry with the same key is the same payout.
    let retry = payout(fresh.clone(), 100_000, "po-2").await;
    assert_eq!(retry.body["id"].as_str(), Some(id));

    // A payout the provider fails gives the money back to the available balance.
    w.sim.plan_next(Plan {
        fail_with: Some("2001".into()),
        ..Plan::default()
    });
    let failing = payout(fresh.clone(), 50_000, "po-3").await;
    assert_eq!(failing.status, 202, "{failing}");
    let (_, ev) = w
        .observer
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".payments.payout.failed")
        })
        .await
        .expect("payout failed event");
    assert_eq!(ev["data"]["code"], "2001");
    assert_eq!(
        w.sim.hits("/mpesa/transactionstatus/v1/query"),
        3,
        "a failure is believed after two agreeing status answers"
    );
    let balances = as_user(&w.app, &w.seller, Method::GET, "/payments/balances", None).await;
    let kes = &balances.body["balances"][0];
    assert_eq!(
        (
            kes["available"].as_i64(),
            kes["payout_pending"].as_i64(),
            kes["paid_out"].as_i64()
        ),
        (Some(95_000), Some(0), Some(100_000)),
        "{balances}"
    );

    // M-Pesa does not sign: a fabricated "success" result posted to a payout's result URL is only
    // a hint; the transaction-status query says the payout failed, and that is what counts.
    w.sim.plan_next(Plan {
        fail_with: Some("2001".into()),
        callbacks_after_ms: vec![],
        ..Plan::default()
    });
    let doubted = payout(fresh.clone(), 20_000, "po-4").await;
    let did = doubted.body["id"].as_str().unwrap().to_string();
    let b2c = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.provider == "daraja_b2c" && x.request_id == did)
        .unwrap();
    let mut fake = b2c.clone();
    fake.plan.fail_with = None;
    let forged = PaymentSimulator::callback_body(&fake, false);
    let path = callback_path(&b2c.callback_url);
    let r = w
        .app
        .http
        .post(w.app.url(&path))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let start = Instant::now();
    loop {
        let d = as_user(
            &w.app,
            &w.seller,
            Method::GET,
            &format!("/payments/payouts/{did}"),
            None,
        )
        .await;
        if d.body["state"] == "failed" {
            break;
        }
        assert_ne!(
            d.body["state"], "succeeded",
            "a fabricated result was believed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "payout stayed {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let balances = as_user(&w.app, &w.seller, Method::GET, "/payments/balances", None).await;
    assert_eq!(
        balances.body["balances"][0]["available"], 95_000,
        "{balances}"
    );
    forged_mpesa_failures_never_give_a_payout_back(&w, &fresh, &method_id).await;
    assert_ledger_invariants(&w).await;
}

/// `POST /payments/payouts` as the app sends it.
async fn request_payout(
    app: &TestApp,
    token: &str,
    method_id: &str,
    amount: i64,
    key: &str,
) -> Answer {
    let resp = app
        .http
        .post(app.url("/payments/payouts"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({"amount": amount, "method_id": method_id}))
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

async fn available_kes(w: &World) -> i64 {
    let b = as_user(&w.app, &w.seller, Method::GET, "/payments/balances", None).await;
    b.body["balances"][0]["available"].as_i64().unwrap()
}

async fn wait_payout_final(w: &World, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let d = as_user(
            &w.app,
            &w.seller,
            Method::GET,
            &format!("/payments/payouts/{id}"),
            None,
        )
        .await;
        if d.body["state"] == "succeeded" || d.body["state"] == "failed" {
            return d.body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "payout stayed {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post_json(w: &World, url: &str, body: &Value) -> u16 {
    let r = w
        .app
        .http
        .post(w.app.url(&callback_path(url)))
        .json(body)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// M-Pesa signs nothing: whoever learns a payout's result URL (its secret) may post "failed". One
/// such post, under the B2C result secret or under a status query's, never gives the money back
/// to the balance while M-Pesa paid it out (that would pay it out twice).
async fn forged_mpesa_failures_never_give_a_payout_back(w: &World, token: &str, method_id: &str) {
    let payout =
        |amount: i64, key: &'static str| request_payout(&w.app, token, method_id, amount, key);
    // 1. A forged "failed" B2C result with the real result secret (M-Pesa will pay it).
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        ..Plan::default()
    });
    let first = payout(10_000, "po-forged-1").await;
    assert_eq!(first.status, 202, "{first}");
    let id = first.body["id"].as_str().unwrap().to_string();
    let paid = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.request_id == id)
        .unwrap();
    let mut fake = paid.clone();
    fake.plan.fail_with = Some("2001".into());
    let forged = PaymentSimulator::callback_body(&fake, false);
    assert_eq!(post_json(w, &paid.callback_url, &forged).await, 200);
    let d = wait_payout_final(w, &id).await;
    assert_eq!(d["state"], "succeeded", "the status query decides: {d}");
    assert_eq!(available_kes(w).await, 85_000, "not re-credited");

    // 2. A forged "failed" transaction-status answer under the query's own secret, before
    //    M-Pesa's real answer: it is counted, the secret retired and M-Pesa asked again.
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        status_answer_after_ms: 1_500,
        ..Plan::default()
    });
    let second = payout(10_000, "po-forged-2").await;
    let id = second.body["id"].as_str().unwrap().to_string();
    make_disbursements_due(w).await;
    sweep(w).await;
    let url = w
        .sim
        .status_query_urls(&id)
        .pop()
        .expect("the sweeper asked");
    let paid = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.request_id == id)
        .unwrap();
    let forged = PaymentSimulator::status_result_body(&paid, true);
    assert_eq!(post_json(w, &url, &forged).await, 200);
    let d = wait_payout_final(w, &id).await;
    assert_eq!(d["state"], "succeeded", "{d}");
    assert_eq!(w.sim.status_query_urls(&id).len(), 2, "asked again");
    assert_eq!(available_kes(w).await, 75_000, "not re-credited");
    // The seller's payouts, newest first: these two, both paid.
    let listed = as_user(&w.app, &w.seller, Method::GET, "/payments/payouts", None).await;
    let states: Vec<(&str, &str)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|p| (p["kind"].as_str().unwrap(), p["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("payout", "succeeded"), ("payout", "succeeded")],
        "{listed}"
    );
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    let none = as_user(&w.app, &w.payer, Method::GET, "/payments/payouts", None).await;
    assert_eq!(none.body["items"], json!([]), "only your own payouts");
}

/// A payable whose stock reservation runs out while the customer is still paying: the owner
/// cannot void it while the payment is under way (409 `payment_in_progress`); the payment then
/// succeeds after the expiry and is credited, refunded in full to the number that paid, exactly
/// once however often Selcom calls back, and announced to the owner (`payments.payment.returned`,
/// then `payments.refund.processed`). The ledger invariants hold.
#[tokio::test]
async fn a_payment_that_lands_after_its_payable_expired_is_returned_once() {
    let mut w = world().await;
    let selcom = add_method(&w, "+255754345678", None).await;
    let reference = format!("order-{}", uuid::Uuid::new_v4());
    let p = internal(
        &w.app,
        "/internal/payments/payables",
        json!({"owner_service": "commerce", "reference": reference, "purpose": "order",
            "payer_id": w.payer.user_id, "payee_id": w.seller.user_id, "amount": 1_000_000,
            "currency": "TZS", "description": "Reserved for 15 minutes", "release_rule": "on_confirmation",
            "expires_in_secs": 900}),
    )
    .await;
    assert_eq!(p.status, 201, "{p}");
    let pid = p.body["id"].as_str().unwrap().to_string();
    // The customer takes their time; Selcom then calls back twice.
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![2500, 2800],
        ..Plan::default()
    });
    let a = pay(&w, &pid, &selcom, "k-late").await;
    assert_eq!(a.body["state"], "awaiting_customer", "{a}");
    let iid = a.body["id"].as_str().unwrap().to_string();
    let void = internal(
        &w.app,
        &format!("/internal/payments/payables/{pid}/void"),
        json!({"reason": "reservation over"}),
    )
    .await;
    assert_eq!(
        (void.status, void.code()),
        (409, "payment_in_progress"),
        "{void}"
    );
    // The reservation runs out while the customer is still on their phone.
    w.app
        .db
        .admin()
        .await
        .execute(
            "UPDATE payments.payables SET expires_at = now() - interval '1 second' WHERE id = $1::text::uuid",
            &[&pid],
        )
        .await
        .unwrap();
    let done = wait_state(&w, &iid, "refunded").await;
    assert!(done["receipt_number"].is_string(), "credited first: {done}");
    assert_eq!(payable_state(&w, &pid).await["state"], "refunded");
    // The second callback changes nothing: one cash-in of the whole amount.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(w.sim.hits("/v1/walletcashin/process"), 1);
    let cashin = w
        .sim
        .payments()
        .into_iter()
        .find(|x| x.provider == "selcom_cashin")
        .unwrap();
    assert_eq!(
        (cashin.amount, cashin.msisdn.as_str()),
        (10_000, "255754345678")
    );
    assert_eq!(
        balance(&w, &format!("escrow:{pid}")).await,
        (1_000_000, 1_000_000),
        "in and straight out again"
    );
    let mut told_paid = 0;
    let (_, returned) = w
        .observer
        .wait_for(Duration::from_secs(10), |k, _| {
            told_paid += usize::from(k.ends_with(".payments.payment.succeeded"));
            k.ends_with(".payments.payment.returned")
        })
        .await
        .expect("returned event");
    assert_eq!(
        (
            returned["data"]["reference"].as_str(),
            returned["data"]["why"].as_str(),
            returned["data"]["amount"].as_i64(),
            returned["audience"].clone(),
        ),
        (
            Some(reference.as_str()),
            Some("expired"),
            Some(1_000_000),
            json!([w.payer.user_id])
        )
    );
    let (_, refunded) = w
        .observer
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".payments.refund.processed")
        })
        .await
        .expect("refund event");
    assert_eq!(refunded["data"]["refund_id"], returned["data"]["refund_id"]);
    assert_eq!(refunded["data"]["fully_refunded"], true);
    told_paid += w
        .observer
        .drain(Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|(k, _)| k.ends_with(".payments.payment.succeeded"))
        .count();
    assert_eq!(
        told_paid, 0,
        "the owner is never told its expired order was paid"
    );
    assert_ledger_invariants(&w).await;
}

/// The owner voids again and again while a payment succeeds: every void before the success is
/// 409 `payment_in_progress`, the first after it refunds the payment in full (a paid payable is
/// voided by refunding it), and no money is lost or moved twice.
#[tokio::test]
async fn voids_racing_a_success_never_strand_the_money() {
    let w = world().await;
    let selcom = add_method(&w, "+255754345678", None).await;
    let p = payable(&w, 500_000, "TZS", "on_confirmation").await;
    let pid = p["id"].as_str().unwrap().to_string();
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![400],
        ..Plan::default()
    });
    let a = pay(&w, &pid, &selcom, "k-race").await;
    let iid = a.body["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let mut refused = 0;
    let voided = loop {
        let v = internal(
            &w.app,
            &format!("/internal/payments/payables/{pid}/void"),
            json!({"reason": "order cancelled"}),
        )
        .await;
        if v.status == 409 {
            assert_eq!(v.code(), "payment_in_progress", "{v}");
            refused += 1;
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "never succeeded"
            );
            continue;
        }
        break v;
    };
    assert_eq!(
        (voided.status, voided.body["refund"]["amount"].as_i64()),
        (202, Some(500_000)),
        "a paid payable is voided by refunding it: {voided}"
    );
    assert!(refused > 0, "the voids raced the payment");
    wait_state(&w, &iid, "refunded").await;
    assert_eq!(payable_state(&w, &pid).await["state"], "refunded");
    assert_eq!(w.sim.hits("/v1/walletcashin/process"), 1, "refunded once");
    assert_eq!(
        balance(&w, &format!("escrow:{pid}")).await,
        (500_000, 500_000)
    );
    assert_ledger_invariants(&w).await;
}

/// `DELETE /auth/account` as `user` (signed in moments ago, so recently authenticated).
async fn delete_account(w: &World, user: &User) -> Answer {
    as_user(&w.app, user, Method::DELETE, "/auth/account", None).await
}

fn reasons(a: &Answer) -> Vec<String> {
    assert_eq!(
        (a.status, a.code()),
        (409, "account_has_open_obligations"),
        "{a}"
    );
    let mut r: Vec<String> = a.body["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no reasons: {a}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    r.sort();
    r
}

#[tokio::test]
async fn an_account_with_money_moving_or_held_cannot_be_deleted_and_the_ledger_outlives_it() {
    let w = world().await;
    w.app.declare_queues("infra/subscriptions.toml");
    let _dispatcher = w.app.worker(
        "dispatcher",
        &[
            "--subscriptions",
            "infra/subscriptions.toml",
            "--expires-ms",
            "600000",
        ],
    );
    let method = add_method(&w, "+254712345678", None).await;
    // One payment in escrow, one the customer has not answered yet.
    let held = payable(&w, 200_000, "KES", "on_confirmation").await;
    let held_id = held["id"].as_str().unwrap().to_string();
    let paid = pay(&w, &held_id, &method, "k-delete-held").await;
    let paid_id = paid.body["id"].as_str().unwrap().to_string();
    wait_state(&w, &paid_id, "succeeded").await;
    let pending = payable(&w, 50_000, "KES", "on_confirmation").await;
    w.sim.plan_next(Plan {
        callbacks_after_ms: vec![],
        fail_with: Some("1032".into()),
        ..Plan::default()
    });
    let live = pay(
        &w,
        pending["id"].as_str().unwrap(),
        &method,
        "k-delete-live",
    )
    .await;
    assert_eq!(live.body["state"], "awaiting_customer", "{live}");

    assert_eq!(
        reasons(&delete_account(&w, &w.payer).await),
        ["payments.escrow_as_payer", "payments.live_payment"]
    );
    assert_eq!(
        reasons(&delete_account(&w, &w.seller).await),
        ["payments.escrow_as_payee"]
    );
    // The customer cancels the prompt (the sweeper learns it), the escrow is released: the seller
    // now has a balance to pay out, and the payer has nothing open.
    make_due(&w).await;
    sweep(&w).await;
    let released = internal(
        &w.app,
        &format!("/internal/payments/payables/{held_id}/release"),
        json!({}),
    )
    .await;
    assert_eq!(released.status, 200, "{released}");
    assert_eq!(
        reasons(&delete_account(&w, &w.seller).await),
        ["payments.available_balance"]
    );
    let still = as_user(&w.app, &w.seller, Method::GET, "/payments/balances", None).await;
    assert_eq!(
        still.status, 200,
        "the refused deletion changed nothing: {still}"
    );

    let gone = delete_account(&w, &w.payer).await;
    assert_eq!(gone.status, 204, "{gone}");
    // Payments anonymises the payer's number and provider payloads; the ledger stays whole.
    let db = w.app.db.admin().await;
    let payer = uuid::Uuid::parse_str(&w.payer.user_id).unwrap();
    let erased = nexgate_tests::eventually(Duration::from_secs(45), || async {
        let left: i64 = db
            .query_one(
                "SELECT count(*) FROM payments.methods WHERE user_id = $1 AND msisdn IS NOT NULL",
                &[&payer],
            )
            .await
            .unwrap()
            .get(0);
        (left == 0).then_some(())
    })
    .await;
    assert!(
        erased.is_some(),
        "the payer's number is erased\n{}",
        w.app.host.log()
    );
    let payloads_with_number: i64 = db
        .query_one(
            "SELECT count(*) FROM payments.callbacks c JOIN payments.intents i ON i.id = c.intent_id
             WHERE i.payer_id = $1 AND c.body::text LIKE '%254712345678%'",
            &[&payer],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        payloads_with_number, 0,
        "a provider payload kept the number"
    );
    assert_eq!(
        balance(&w, &format!("escrow:{held_id}")).await,
        (200_000, 200_000),
        "the released escrow is still on the books"
    );
    let state: String = db
        .query_one(
            "SELECT state FROM payments.intents WHERE id = $1::text::uuid",
            &[&paid_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "succeeded", "the payment itself is kept");
    assert_ledger_invariants(&w).await;
}

#[tokio::test]
async fn in_the_sandbox_each_payment_waits_for_a_person_who_approves_or_declines_it() {
    // The local sandbox as scripts/up.sh runs it (nexgate-sandbox): the providers' simulator with
    // every payment waiting, plain-HTTP callbacks, and the control page beside it.
    let providers = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = PaymentSimulator::start_sandbox(providers);
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_url = format!("http://{}", control.local_addr().unwrap());
    nexgate_tests::sandbox::serve_control(
        control,
        nexgate_tests::sandbox::Sandbox {
            payments: sim.clone(),
            identities: None,
            push: None,
        },
    );
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: PaymentSimulator::provider_env(&sim.origin),
            ..HostOptions::default()
        },
    )
    .await;
    sim.deliver_to(&app.host.base_url);
    let mut observer = app.observe_events().await;
    let payer = sign_up(&app, &mut observer).await;
    let seller = sign_up(&app, &mut observer).await;
    let w = World {
        app,
        sim,
        observer,
        payer,
        seller,
    };
    let method = add_method(&w, "+254712345678", None).await;
    let first = payable(&w, 120_000, "KES", "on_confirmation").await;
    let a = pay(&w, first["id"].as_str().unwrap(), &method, "k-sandbox-1").await;
    assert_eq!(a.body["state"], "awaiting_customer", "{a}");
    let id = a.body["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        intent(&w, &id).await["state"],
        "awaiting_customer",
        "nothing happens until the person decides"
    );

    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!("{control_url}/payments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["amount"], 1200, "{listed}");
    assert_eq!(listed[0]["decided"], Value::Null, "{listed}");
    assert_eq!(listed[0]["phone"], "…678", "the number is not shown whole");
    let request_id = listed[0]["request_id"].as_str().unwrap().to_string();
    let decide = |verb: &'static str, rid: String| {
        let http = http.clone();
        let url = format!("{control_url}/payments/{rid}/{verb}");
        async move { http.post(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(decide("approve", request_id.clone()).await, 200);
    assert_eq!(
        decide("decline", request_id.clone()).await,
        409,
        "decided once"
    );
    assert_eq!(decide("approve", "ws_CO_nope".into()).await, 404);
    wait_state(&w, &id, "succeeded").await;

    // Declined from the page's form: the customer cancelled the prompt.
    let second = payable(&w, 80_000, "KES", "on_confirmation").await;
    let b = pay(&w, second["id"].as_str().unwrap(), &method, "k-sandbox-2").await;
    let second_id = b.body["id"].as_str().unwrap().to_string();
    let listed: Value = http
        .get(format!("{control_url}/payments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let waiting = listed[0]["request_id"].as_str().unwrap().to_string();
    let form = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{control_url}/payments/{waiting}/decline"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 303);
    let failed = wait_state(&w, &second_id, "failed").await;
    assert_eq!(failed["failure"]["code"], "1032", "{failed}");
    let page = http.get(format!("{control_url}/")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(
        page.contains("approved") && page.contains("declined"),
        "{page}"
    );
    assert_ledger_invariants(&w).await;
}

async fn pay_many(w: &World, payables: &[&str], method_id: &str, key: &str) -> Answer {
    let resp = w
        .app
        .http
        .post(w.app.url("/payments/intents"))
        .bearer_auth(&w.payer.access_token)
        .header("idempotency-key", key)
        .json(&json!({"payable_ids": payables, "method_id": method_id}))
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

/// Several payables paid with one prompt (docs/payments.md, "Several payables, one prompt"): the
/// provider sees one payment for the total; a failure fails every member (each payable can be paid
/// again); a success credits each payable's own escrow once, with its own receipt and events.
/// Bad requests (a repeated payable, over the provider's cap, another currency) change nothing.
#[tokio::test]
async fn several_payables_are_paid_with_one_prompt_each_into_its_own_escrow() {
    let mut w = world().await;
    let method = add_method(&w, "+254712345678", None).await;
    let (a, b) = (
        payable(&w, 150_000, "KES", "on_confirmation").await,
        payable(&w, 50_000, "KES", "on_confirmation").await,
    );
    let ids = [a["id"].as_str().unwrap(), b["id"].as_str().unwrap()];

    let repeated = pay_many(&w, &[ids[0], ids[0]], &method, "many-rep").await;
    assert_eq!(repeated.status, 422, "{repeated}");
    let big: Vec<Value> = futures::future::join_all(
        (0..2).map(|_| payable(&w, 15_000_000, "KES", "on_confirmation")),
    )
    .await;
    let over = pay_many(
        &w,
        &[
            big[0]["id"].as_str().unwrap(),
            big[1]["id"].as_str().unwrap(),
        ],
        &method,
        "many-cap",
    )
    .await;
    assert_eq!(
        (over.status, over.code()),
        (422, "total_above_provider_cap"),
        "{over}"
    );
    let tzs = payable(&w, 100_000, "TZS", "on_confirmation").await;
    let mixed = pay_many(
        &w,
        &[ids[0], tzs["id"].as_str().unwrap()],
        &method,
        "many-mixed",
    )
    .await;
    assert_eq!(
        (mixed.status, mixed.code()),
        (422, "currency_mismatch"),
        "{mixed}"
    );
    assert!(
        w.sim.payments().is_empty(),
        "no refusal reached the provider"
    );

    w.sim.plan_next(Plan {
        fail_with: Some("1032".into()),
        ..Plan::default()
    });
    let failing = pay_many(&w, &ids, &method, "many-1").await;
    assert_eq!(failing.status, 201, "{failing}");
    wait_state(&w, failing.body["id"].as_str().unwrap(), "failed").await;
    for member in failing.body["intents"].as_array().unwrap() {
        let i = intent(&w, member["id"].as_str().unwrap()).await;
        assert_eq!(
            i["state"], "failed",
            "every member fails with its lead: {i}"
        );
    }
    let ok = pay_many(&w, &ids, &method, "many-2").await;
    assert_eq!(ok.status, 201, "the payables can be paid again: {ok}");
    assert_eq!(ok.body["collect_amount"], 200_000);
    let prompts = w.sim.payments();
    assert_eq!(prompts.len(), 2);
    assert_eq!(
        prompts[1].amount, 2_000,
        "one prompt for the total, in whole shillings"
    );
    wait_state(&w, ok.body["id"].as_str().unwrap(), "succeeded").await;
    let mut receipts = std::collections::HashSet::new();
    for (member, amount) in ok.body["intents"]
        .as_array()
        .unwrap()
        .iter()
        .zip([150_000, 50_000])
    {
        let i = intent(&w, member["id"].as_str().unwrap()).await;
        assert_eq!(i["state"], "succeeded", "{i}");
        receipts.insert(i["receipt_number"].as_str().unwrap().to_string());
        let escrow = format!("escrow:{}", member["payable_id"].as_str().unwrap());
        assert_eq!(
            balance(&w, &escrow).await,
            (0, amount),
            "each escrow credited once with its own amount"
        );
    }
    assert_eq!(receipts.len(), 2, "a receipt each");
    assert_eq!(
        balance(&w, "clearing:daraja:KES").await,
        (200_000, 0),
        "the provider's payment credited once in total"
    );
    let mut seen = std::collections::HashSet::new();
    while let Some((_, e)) = w
        .observer
        .wait_for(Duration::from_secs(5), |key, _| {
            key.ends_with(".payments.payment.succeeded")
        })
        .await
    {
        seen.insert(e["data"]["payable_id"].as_str().unwrap().to_string());
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "a payments.payment.succeeded per payable");
    assert_ledger_invariants(&w).await;
}
