//! The checkout benchmark (`bash bench/commerce.sh`; ignored in the test suite): checkouts per
//! second on one hot variant at concurrency 64 (orders, reservations and payables: everything but
//! the provider call), beside `pgbench` running the bare conditional stock `UPDATE` in its own
//! transaction at the same concurrency against the same server in the same run. Zero oversell is
//! checked from the movements. Prints Markdown rows.

use std::time::{Duration, Instant};

use nexgate_tests::auth::{call, log_in, seed_users, sign_up, PASSWORD};
use nexgate_tests::payments::PaymentSimulator;
use nexgate_tests::{HostOptions, Manifest, TestApp};
use reqwest::Method;
use serde_json::json;

const CONCURRENCY: usize = 64;

fn seconds() -> u64 {
    std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// pgbench at this benchmark's concurrency (the shared baseline, `nexgate_tests::bench`).
fn pgbench(app: &TestApp, secs: u64) -> f64 {
    nexgate_tests::bench::pgbench_bare_update(app, CONCURRENCY, secs)
}

#[tokio::test]
#[ignore = "benchmark: bash bench/commerce.sh"]
async fn checkout_throughput_on_one_hot_variant() {
    let sim = PaymentSimulator::start().await;
    let mut env = sim.app_env();
    env.push((
        "SPIN_VARIABLE_COMMERCE_CHECKOUTS_PER_MINUTE".into(),
        "1000000".into(),
    ));
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env,
            ..HostOptions::default()
        },
    )
    .await;
    let mut observer = app.observe_events().await;
    let seller = sign_up(&app, &mut observer).await;
    let shop = call(&app, Method::POST, "/shop/shops", Some(json!({
        "handle": "hot_shop", "name": "Hot", "currency": "TZS", "delivery_areas": [{"region": "Dar es Salaam", "fee": 200_000}],
    })), Some(&seller.access_token)).await;
    assert_eq!(shop.status, 201, "{shop}");
    let product = call(&app, Method::POST, &format!("/shop/shops/{}/products", shop.body["id"].as_str().unwrap()), Some(json!({
        "title": "Hot item", "variants": [{"sku": "HOT", "price": 1_000_000, "stock": 1_000_000}],
    })), Some(&seller.access_token)).await;
    assert_eq!(product.status, 201, "{product}");
    let variant = product.body["variants"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut buyers = Vec::new();
    for s in seed_users(&app, CONCURRENCY as u32, "hot") {
        let a = log_in(&app, &s.email, PASSWORD, "bench").await;
        let token = a.body["access_token"].as_str().unwrap().to_string();
        let addr = call(
            &app,
            Method::POST,
            "/shop/addresses",
            Some(json!({"name": "B", "phone": "+255712345678", "region": "Dar es Salaam"})),
            Some(&token),
        )
        .await;
        buyers.push((token, addr.body["id"].as_str().unwrap().to_string()));
    }
    let secs = seconds();
    let tokens: Vec<String> = buyers.iter().map(|(t, _)| t.clone()).collect();
    // Not asserted: at 64 in flight some of these wait 5 s for the host's Postgres connection
    // cap and answer 503 (issue "Host under real load"); the row says how many.
    let (floor, floor_refused) = users_me_per_sec(&app, &tokens, secs / 2).await;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, (token, addr)) in buyers.into_iter().enumerate() {
        let (http, url, variant) = (app.http.clone(), app.url("/shop/checkout"), variant.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut n) = (0u64, 0u64, 0u64);
            while Instant::now() < deadline {
                n += 1;
                let resp = http.post(&url).bearer_auth(&token).header("idempotency-key", format!("b-{i}-{n}"))
                    .json(&json!({"address_id": addr, "lines": [{"variant_id": variant, "quantity": 1}]}))
                    .send().await.unwrap();
                if resp.status().as_u16() == 201 { ok += 1 } else { failed += 1 }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok += o;
        failed += f;
    }
    let checkout_per_sec = ok as f64 / started.elapsed().as_secs_f64();
    let db = app.db.admin().await;
    let row = db.query_one(
        "SELECT v.stock, v.reserved, (SELECT sum(reserved_delta)::int FROM commerce.stock_movements m WHERE m.variant_id = v.id),
                (SELECT count(*) FROM commerce.orders) FROM commerce.variants v WHERE v.id = $1::text::uuid",
        &[&variant],
    ).await.unwrap();
    let (stock, reserved, moved, orders): (i32, i32, i32, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (stock, reserved as i64, moved),
        (1_000_000, orders, reserved),
        "no oversell, movements agree"
    );
    assert_eq!(orders as u64, ok);
    let tps = pgbench(&app, secs);
    println!("| what (concurrency {CONCURRENCY}, {secs} s) | per second | notes |");
    println!("|---|---|---|");
    println!("| checkout (orders, reservation, payable) | {checkout_per_sec:.0} | {ok} orders, {failed} failed |");
    println!("| pgbench: bare conditional UPDATE | {tps:.0} | same server, same run |");
    println!("| `GET /users/me` (one row read, same 64 users) | {floor:.0} | 200s only; {floor_refused} answered 503 |");
    println!("| ratio | {:.2} | goal ≥ 0.50 |", checkout_per_sec / tps);
}

/// `GET /users/me` per second with one client per token, for `secs`: what any authenticated
/// request costs through the host (token check, session, one row), the ceiling a checkout sits under.
async fn users_me_per_sec(app: &TestApp, tokens: &[String], secs: u64) -> (f64, u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for token in tokens {
        let (http, url, token) = (app.http.clone(), app.url("/users/me"), token.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
                if resp.status().as_u16() == 200 {
                    ok += 1
                } else {
                    failed += 1
                }
            }
            (ok, failed)
        }));
    }
    let (mut total, mut refused) = (0, 0);
    for t in tasks {
        let (ok, failed) = t.await.unwrap();
        total += ok;
        refused += failed;
    }
    (total as f64 / started.elapsed().as_secs_f64(), refused)
}

/// p50/p99 of `n` GETs of `path` at `concurrency`, all expected to answer 200.
async fn latency(
    app: &TestApp,
    token: &str,
    path: &str,
    n: usize,
    concurrency: usize,
) -> (f64, f64) {
    use futures::stream::{self, StreamExt};
    let url = app.url(path);
    let mut lat: Vec<Duration> = stream::iter(0..n)
        .map(|_| {
            let (http, url, token) = (app.http.clone(), url.clone(), token.to_string());
            async move {
                let t = Instant::now();
                let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(resp.status(), 200, "{url}");
                let _ = resp.bytes().await;
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    (pct(0.50), pct(0.99))
}

#[tokio::test]
#[ignore = "benchmark: bash bench/commerce.sh"]
async fn listing_and_search_over_100k_products() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let buyer = sign_up(&app, &mut observer).await;
    let seed = std::fs::read_to_string(nexgate_tests::repo_root().join("bench/commerce_seed.sql"))
        .unwrap();
    let started = Instant::now();
    let out = std::process::Command::new("psql")
        .arg(app.db.url("nexgate_admin"))
        .args(["-v", "ON_ERROR_STOP=1", "-qc", &seed])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let products: i64 = app
        .db
        .admin()
        .await
        .query_one("SELECT count(*) FROM commerce.products", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(products, 100_000);
    eprintln!("seeded 100,000 products in {:?}", started.elapsed());
    let n: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let token = buyer.access_token.clone();
    // Warm every component and the plans.
    latency(&app, &token, "/shop/products?limit=20", 50, 4).await;
    latency(&app, &token, "/users/me", 50, 4).await;
    println!("| request ({n} per row) | concurrency | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    for concurrency in [2, 16] {
        for path in [
            "/shop/products?limit=20",
            "/shop/products?limit=20&q=kitenge%20gold",
            "/shop/products?limit=20&min_price=2500000",
            "/users/me",
        ] {
            let (p50, p99) = latency(&app, &token, path, n, concurrency).await;
            println!("| `GET {path}` | {concurrency} | {p50:.1} | {p99:.1} |");
        }
    }
}
