//! The payment benchmark (`bash bench/payments.sh`; ignored in the test suite): intent creation
//! p50/p99 beside an authenticated read of the same service, and provider callbacks processed per
//! second with their ledger postings beside the same callbacks replayed (authenticated, recorded,
//! answered as duplicates: everything but the posting). Real host, Postgres, Redis, RabbitMQ and
//! the provider simulator. Prints Markdown rows.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use nexgate_tests::auth::{sign_up, User};
use nexgate_tests::payments::{
    selcom_webhook_headers, PaymentSimulator, Plan, SELCOM_WEBHOOK_SECRET,
};
use nexgate_tests::{HostOptions, Manifest, TestApp};
use serde_json::{json, Value};

/// A signed webhook ready to send: path, body, headers.
type Webhook = (String, Value, Vec<(String, String)>);

fn count() -> usize {
    std::env::var("BENCH_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

struct Stats {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

/// Runs `n` jobs at `concurrency`, timing each.
async fn measure<F, Fut>(n: usize, concurrency: usize, job: F) -> Stats
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    let results: Vec<(Duration, bool)> = stream::iter(0..n)
        .map(|i| {
            let fut = job(i);
            async move {
                let t = Instant::now();
                let ok = fut.await;
                (t.elapsed(), ok)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let total = start.elapsed();
    let mut lat: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    Stats {
        per_sec: n as f64 / total.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        failures: results.iter().filter(|(_, ok)| !ok).count(),
    }
}

fn row(what: &str, c: usize, s: &Stats) {
    println!(
        "| {what} | {c} | {:.1} | {:.1} | {:.1} | {} |",
        s.per_sec, s.p50_ms, s.p99_ms, s.failures
    );
}

async fn payable(app: &TestApp, payer: &User, seller: &User) -> String {
    payable_in(app, payer, seller, 1_000_000, "TZS").await
}

async fn payable_in(
    app: &TestApp,
    payer: &User,
    seller: &User,
    amount: i64,
    currency: &str,
) -> String {
    let a = app
        .http
        .post(app.url("/internal/payments/payables"))
        .header("x-internal-token", &app.payments_internal_token)
        .json(&json!({"owner_service": "commerce", "reference": uuid::Uuid::new_v4().to_string(), "purpose": "order",
            "payer_id": payer.user_id, "payee_id": seller.user_id, "amount": amount, "currency": currency,
            "description": "bench", "release_rule": "on_confirmation"}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status().as_u16(), 201);
    a.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bash bench/payments.sh"]
async fn payments_benchmark() {
    let n = count();
    let sim = PaymentSimulator::start().await;
    // Silent providers: no callbacks, so the callbacks measured are only ours.
    sim.plan_all(Plan {
        callbacks_after_ms: vec![],
        pending_queries: u32::MAX,
        ..Plan::default()
    });
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: sim.app_env(),
            args: vec![],
        },
    )
    .await;
    sim.deliver_to(&app.host.base_url);
    let mut observer = app.observe_events().await;
    let payer = sign_up(&app, &mut observer).await;
    let seller = sign_up(&app, &mut observer).await;
    drop(observer);
    let method = app
        .http
        .post(app.url("/payments/methods"))
        .bearer_auth(&payer.access_token)
        .json(&json!({"kind": "mobile_money", "phone": "+255754345678"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut payables = Vec::new();
    for _ in 0..2 * n {
        payables.push(payable(&app, &payer, &seller).await);
    }

    println!("| step | concurrency | per s | p50 ms | p99 ms | failures |");
    println!("|---|---|---|---|---|---|");
    for (round, c) in [1usize, 8].into_iter().enumerate() {
        let base = measure(n / 2, c, |_| {
            let req = app
                .http
                .get(app.url("/payments/methods"))
                .bearer_auth(&payer.access_token);
            async move {
                req.send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        row(
            "GET /payments/methods (baseline: token + one query)",
            c,
            &base,
        );
        let slice = &payables[round * n..(round + 1) * n];
        let intents = measure(n, c, |i| {
            let req = app
                .http
                .post(app.url("/payments/intents"))
                .bearer_auth(&payer.access_token)
                .header("idempotency-key", format!("bench-{round}-{i}"))
                .json(&json!({"payable_id": slice[i], "method_id": method}));
            async move {
                req.send()
                    .await
                    .map(|r| r.status().as_u16() == 201)
                    .unwrap_or(false)
            }
        })
        .await;
        row(
            "POST /payments/intents (Selcom order + wallet push)",
            c,
            &intents,
        );
    }

    // Callbacks: one signed Selcom webhook per intent, then the same ones again.
    let payments = sim.payments();
    let webhooks: Vec<Webhook> = payments
        .iter()
        .map(|p| {
            let body = PaymentSimulator::callback_body(p, false);
            let path = format!("/{}", p.callback_url.splitn(4, '/').nth(3).unwrap());
            let headers = selcom_webhook_headers(SELCOM_WEBHOOK_SECRET, &body);
            (path, body, headers)
        })
        .collect();
    let half = webhooks.len() / 2;
    for (label, slice, c) in [
        ("first", &webhooks[..half], 1usize),
        ("first", &webhooks[half..], 8),
    ] {
        let send = |i: usize, list: &[Webhook]| {
            let (path, body, headers) = &list[i];
            let mut req = app.http.post(app.url(path)).json(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            async move {
                match req.send().await {
                    Ok(r) => {
                        r.status().is_success()
                            && r.json::<Value>()
                                .await
                                .map(|v| v["resultcode"] == "000")
                                .unwrap_or(false)
                    }
                    Err(_) => false,
                }
            }
        };
        let posted = measure(slice.len(), c, |i| send(i, slice)).await;
        row(
            &format!(
                "Selcom webhook, {label} delivery (verify + settle + 1 ledger posting + 2 events)"
            ),
            c,
            &posted,
        );
        let replayed = measure(slice.len(), c, |i| send(i, slice)).await;
        row(
            "same webhook again (baseline: verify + record, no posting)",
            c,
            &replayed,
        );
    }
    // M-Pesa: each STK callback is confirmed by a status query to the (simulated) provider.
    sim.plan_all(Plan {
        callbacks_after_ms: vec![],
        ..Plan::default()
    });
    let mpesa = app
        .http
        .post(app.url("/payments/methods"))
        .bearer_auth(&payer.access_token)
        .json(&json!({"kind": "mobile_money", "phone": "+254712345678"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = sim.payments().len();
    for i in 0..n {
        let pid = payable_in(&app, &payer, &seller, 100_000, "KES").await;
        let r = app
            .http
            .post(app.url("/payments/intents"))
            .bearer_auth(&payer.access_token)
            .header("idempotency-key", format!("bench-mpesa-{i}"))
            .json(&json!({"payable_id": pid, "method_id": mpesa}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    let stk: Vec<Webhook> = sim.payments()[before..]
        .iter()
        .map(|p| {
            let body = PaymentSimulator::callback_body(p, false);
            let path = format!("/{}", p.callback_url.splitn(4, '/').nth(3).unwrap());
            (path, body, vec![])
        })
        .collect();
    let send = |i: usize| {
        let (path, body, _) = &stk[i];
        let req = app.http.post(app.url(path)).json(body);
        async move {
            req.send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        }
    };
    let posted = measure(stk.len(), 8, send).await;
    row(
        "M-Pesa STK callback, first (secret + STK status query + settle + posting)",
        8,
        &posted,
    );
    let replayed = measure(stk.len(), 8, send).await;
    row(
        "same STK callback again (baseline: secret + record, no query, no posting)",
        8,
        &replayed,
    );

    let db = app.db.admin().await;
    let succeeded: i64 = db
        .query_one(
            "SELECT count(*) FROM payments.intents WHERE state = 'succeeded'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let transfers: i64 = db
        .query_one("SELECT count(*) FROM payments.ledger_transfers", &[])
        .await
        .unwrap()
        .get(0);
    let violations: i64 = db
        .query_one("SELECT count(*) FROM payments.ledger_violations", &[])
        .await
        .unwrap()
        .get(0);
    println!("\n{succeeded} intents succeeded, {transfers} ledger transfers, {violations} invariant violations");
    assert_eq!(succeeded, transfers, "one posting per succeeded payment");
    assert_eq!(violations, 0);
}
