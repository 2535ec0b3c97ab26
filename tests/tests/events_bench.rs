//! Ticketing benchmarks (`bash bench/events.sh`, figures in bench/README.md), ignored in the
//! suite. **Issuance**: a sale of `BENCH_TICKETS` free tickets (default 5,000) through the real
//! `POST /events/{id}/orders`, 50 per order, each ticket signed by `events-signing` (RSA-2048 in
//! wasm) and stored; beside it the same number of signatures natively in this process.
//! **Check-in**: 16 scanners at once present those tickets (`POST /events/{id}/checkins`, one
//! nonce each) for `BENCH_SECS`; admissions per second, p50 and p99, beside `pgbench -c 16` on the
//! bare conditional UPDATE in the same run.

use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nexgate_tests::auth::{call, sign_up};
use nexgate_tests::bench::{pgbench_bare_update, quantile_ms};
use nexgate_tests::{Manifest, TestApp};
use reqwest::Method;
use serde_json::json;

const SCANNERS: usize = 16;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
#[ignore = "benchmark: bash bench/events.sh"]
async fn ticket_issuance_and_check_in() {
    let (tickets, secs) = (env_or("BENCH_TICKETS", 5000), env_or("BENCH_SECS", 20));
    // Native signatures first, before the host runs (a busy test thread must not stall it).
    let keys = nexgate_tests::ticket_keys();
    let signer = nexgate_ticketing::qr::TicketSigner::from_pkcs8_pem(&keys.pem, &keys.kid).unwrap();
    let claims = nexgate_ticketing::qr::TicketClaims {
        key_id: 0,
        ticket_id: uuid::Uuid::now_v7(),
        event_id: uuid::Uuid::now_v7(),
        ticket_type_id: uuid::Uuid::now_v7(),
        days: nexgate_ticketing::qr::EVERY_DAY,
        valid_from: 0,
        valid_until: u32::MAX,
    };
    let native_started = Instant::now();
    for _ in 0..tickets {
        std::hint::black_box(signer.sign(&claims));
    }
    let native = native_started.elapsed();
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let buyer = sign_up(&app, &mut observer).await;
    let now = nexgate_platform::time::now_unix().0;
    let at = |s: i64| nexgate_platform::time::rfc3339(s, 0);
    let draft = call(&app, Method::POST, "/events", Some(json!({
        "title": "Bench night", "category": "music", "mode": "in_person", "venue_name": "Stadium",
        "address": "Uhuru St", "region": "Dar es Salaam", "capacity": 1_000_000,
        "days": [{"starts_at": at(now + 3600), "ends_at": at(now + 9 * 3600)}],
    })), Some(&organizer.access_token)).await;
    let event = draft.body["id"].as_str().unwrap().to_string();
    let t = call(
        &app,
        Method::POST,
        &format!("/events/{event}/ticket-types"),
        Some(json!({"name": "Entry", "kind": "free", "quantity": tickets, "max_per_order": 50})),
        Some(&organizer.access_token),
    )
    .await;
    let entry = t.body["ticket_types"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = call(
        &app,
        Method::POST,
        &format!("/events/{event}/publish"),
        None,
        Some(&organizer.access_token),
    )
    .await;
    assert_eq!(p.status, 200, "{p}");

    // Issuance: orders of 50, `BENCH_ORDERS_IN_FLIGHT` at once (a sale is many buyers; each
    // order signs its 50 in events-signing).
    let in_flight = env_or("BENCH_ORDERS_IN_FLIGHT", 4) as usize;
    let started = Instant::now();
    let orders = (0..tickets.div_ceil(50)).map(|i| {
        let n = 50.min(tickets - i * 50);
        let (http, url, token, entry) = (
            app.http.clone(),
            app.url(&format!("/events/{event}/orders")),
            buyer.access_token.clone(),
            entry.clone(),
        );
        async move {
            let resp = http
                .post(&url)
                .bearer_auth(&token)
                .header("idempotency-key", format!("bench-{i}"))
                .json(&json!({"items": [{"ticket_type_id": entry, "quantity": n}]}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            assert_eq!(status, 201, "{}", resp.text().await.unwrap());
        }
    });
    futures::stream::iter(orders)
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
    let issuance = started.elapsed();
    let db = app.db.admin().await;
    let qrs: Vec<String> = db
        .query(
            "SELECT qr FROM events.tickets WHERE event_id = $1::text::uuid AND qr IS NOT NULL",
            &[&event],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(qrs.len() as u64, tickets, "every ticket signed and stored");

    // Check-in: 16 scanners share the tickets; each admission must be `ok`.
    let http = app.http.clone();
    let qrs = Arc::new(qrs);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..SCANNERS {
        let (http, url, token, qrs, next) = (
            http.clone(),
            app.url(&format!("/events/{event}/checkins")),
            organizer.access_token.clone(),
            qrs.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(qr) = qrs.get(i) else { break };
                let sent = Instant::now();
                let resp = match http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"qr": qr, "nonce": format!("b-{i}")}))
                    .send()
                    .await
                {
                    Ok(resp) => resp,
                    Err(e) => return Err(format!("{e:?}")),
                };
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                if body["result"] != "ok" {
                    return Err(body.to_string());
                }
                times.push(sent.elapsed());
            }
            Ok(times)
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(t) => times.extend(t),
            Err(e) => {
                let log = app.host.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!("a scan failed: {e}\n{}", tail.join("\n"));
            }
        }
    }
    let elapsed = started.elapsed();
    times.sort();
    let per_sec = times.len() as f64 / elapsed.as_secs_f64();
    let tps = pgbench_bare_update(&app, SCANNERS, secs.min(20));
    println!("| what | figure | notes |");
    println!("|---|---|---|");
    println!("| issuance: {tickets} free tickets, orders of 50, {in_flight} in flight, signed in wasm and stored | {:.1} s | {:.0} tickets/s |", issuance.as_secs_f64(), tickets as f64 / issuance.as_secs_f64());
    println!("| the same number of RSA-2048 signatures natively (this process) | {:.1} s | {:.2} ms each |", native.as_secs_f64(), native.as_secs_f64() * 1000.0 / tickets as f64);
    println!("| check-in at concurrency {SCANNERS} | {per_sec:.0}/s | {} admissions, p50 {:.1} ms, p99 {:.1} ms |", times.len(), quantile_ms(&times, 0.5), quantile_ms(&times, 0.99));
    println!(
        "| pgbench -c {SCANNERS}: bare conditional UPDATE | {tps:.0}/s | same server, same run |"
    );
    println!("| ratio | {:.2} | goal ≥ 0.50 |", per_sec / tps);
}
