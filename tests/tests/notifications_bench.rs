//! The Notification Service benchmark (`bash bench/notifications.sh`; ignored in the test suite).
//! Real RabbitMQ, the real `nexgate-notifier`, the `notifications` and core databases, the FCM
//! simulator. Events are published the way producers publish them; "done" is the row the notifier
//! commits. Rows (Markdown):
//! - baseline: events of a catalogued type without a template (consumed, deduplicated, acked,
//!   nothing written): the bus and transaction floor, in the same run;
//! - likes: in-app rows (grouped per post) and one push delivery per recipient device, with a fast
//!   gateway and with a slow one (every push answered after 250 ms), burst and paced;
//! - the pushes those likes caused: sent per second and queue-to-sent latency.
//!
//! Latency is publish → the notifier's transaction (`processed_at`, `deliveries.created_at` and
//! `sent_at` are the transaction's `now()`, a few ms before its commit).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nexgate_tests::notify::{envelope, notifications_db, Bus, GatewaySimulator};
use nexgate_tests::{Manifest, TestApp};
use serde_json::{json, Value};
use tokio_postgres::Client;
use uuid::Uuid;

fn count() -> usize {
    std::env::var("BENCH_NOTIFICATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Publishes `events` at `rate` per second (as fast as possible when None); returns the publish
/// time of each event id (unix ms).
async fn publish_all(bus: &Bus, events: &[Value], rate: Option<f64>) -> Vec<(Uuid, f64)> {
    let start = Instant::now();
    let mut sent = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        if let Some(r) = rate {
            let due = Duration::from_secs_f64(i as f64 / r);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        sent.push((e["id"].as_str().unwrap().parse().unwrap(), unix_ms()));
        bus.publish(e).await;
    }
    sent
}

/// Waits until all ids are processed; returns (events/s from first publish to last commit,
/// p50, p99 latency in ms).
async fn settle(db: &Client, sent: &[(Uuid, f64)], table_sql: &str) -> (f64, f64, f64) {
    let ids: Vec<Uuid> = sent.iter().map(|(id, _)| *id).collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    let rows = loop {
        let rows = db.query(table_sql, &[&ids]).await.unwrap();
        if rows.len() >= ids.len() {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} done",
            rows.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let done: std::collections::HashMap<Uuid, f64> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut lat: Vec<f64> = sent.iter().map(|(id, at)| done[id] - at).collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let first = sent.iter().map(|(_, at)| *at).fold(f64::MAX, f64::min);
    let last = done.values().copied().fold(0.0, f64::max);
    (
        ids.len() as f64 / ((last - first) / 1000.0),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
    )
}

const PROCESSED: &str = "SELECT event_id, extract(epoch FROM processed_at)::float8 * 1000 FROM notifications.processed_events WHERE event_id = ANY($1)";
const IN_APP: &str = "SELECT event_id, extract(epoch FROM created_at)::float8 * 1000 FROM notifications.deliveries WHERE channel = 'in_app' AND event_id = ANY($1)";

/// Pushes of these events: (sent per second from first queued to last sent, p50, p99 of queued →
/// sent in ms, how many).
async fn pushes(db: &Client, sent: &[(Uuid, f64)]) -> (f64, f64, f64, usize) {
    let ids: Vec<Uuid> = sent.iter().map(|(id, _)| *id).collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let pending: i64 = db
            .query_one(
                "SELECT count(*) FROM notifications.deliveries WHERE channel = 'push' AND status = 'queued' AND event_id = ANY($1)",
                &[&ids],
            )
            .await
            .unwrap()
            .get(0);
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} pushes still queued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = db
        .query(
            "SELECT extract(epoch FROM created_at)::float8 * 1000, extract(epoch FROM sent_at)::float8 * 1000
             FROM notifications.deliveries WHERE channel = 'push' AND status = 'sent' AND event_id = ANY($1)",
            &[&ids],
        )
        .await
        .unwrap();
    let mut lat: Vec<f64> = rows
        .iter()
        .map(|r| r.get::<_, f64>(1) - r.get::<_, f64>(0))
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let first = rows
        .iter()
        .map(|r| r.get::<_, f64>(0))
        .fold(f64::MAX, f64::min);
    let last = rows.iter().map(|r| r.get::<_, f64>(1)).fold(0.0, f64::max);
    (
        rows.len() as f64 / ((last - first) / 1000.0),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        rows.len(),
    )
}

fn likes(n: usize, recipients: &[Uuid]) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let author = recipients[i % recipients.len()];
            // Ten posts per author: likes fold into groups as they would.
            let post = Uuid::from_u128(author.as_u128() ^ (i % 10) as u128);
            let liker = Uuid::now_v7();
            envelope(
                "social.post.liked",
                Some(liker),
                &[author],
                json!({"post_id": post, "author_id": author, "liker_id": liker}),
            )
        })
        .collect()
}

fn row(what: &str, (per_sec, p50, p99): (f64, f64, f64)) {
    println!("| {what} | {per_sec:.0} | {p50:.1} | {p99:.1} |");
}

#[tokio::test]
#[ignore = "benchmark: bash bench/notifications.sh"]
async fn notifications_throughput_and_latency() {
    let n = count();
    let app = TestApp::start(Manifest::App).await;
    app.declare_queues("infra/subscriptions.toml");
    let sim = GatewaySimulator::start().await;
    let _notifier = app.notifier_with(&sim.notifier_env());
    let bus = Bus::open(&app).await;
    let db = notifications_db(&app).await;
    // 200 recipients with one push device each.
    let recipients: Vec<Uuid> = (0..200).map(|_| Uuid::now_v7()).collect();
    for (i, r) in recipients.iter().enumerate() {
        db.execute(
            "INSERT INTO notifications.push_devices (user_id, device_id, platform, token) VALUES ($1, 'phone', 'android', $2)",
            &[r, &format!("bench-token-{i}")],
        )
        .await
        .unwrap();
    }
    // Warm up (connections, caches, the access token).
    let warm = likes(50, &recipients);
    let sent = publish_all(&bus, &warm, None).await;
    settle(&db, &sent, IN_APP).await;
    pushes(&db, &sent).await;

    println!("| {n} events, 200 recipients, 2 cores shared with RabbitMQ and Postgres | events/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    let template_less: Vec<Value> = (0..n)
        .map(|_| {
            envelope(
                "profiles.profile.updated",
                Some(Uuid::now_v7()),
                &[Uuid::now_v7()],
                json!({"user_id": Uuid::now_v7(), "fields": ["bio"]}),
            )
        })
        .collect();
    let sent = publish_all(&bus, &template_less, None).await;
    row(
        "baseline: no template (dedupe + ack), burst",
        settle(&db, &sent, PROCESSED).await,
    );

    let burst = likes(n, &recipients);
    let sent = publish_all(&bus, &burst, None).await;
    row(
        "likes → in-app row + push queued, burst",
        settle(&db, &sent, IN_APP).await,
    );
    let (ps, p50, p99, k) = pushes(&db, &sent).await;
    println!(
        "| … their {k} pushes, fast gateway (queued → sent) | {ps:.0} | {p50:.1} | {p99:.1} |"
    );

    let paced = likes(n / 4, &recipients);
    let sent = publish_all(&bus, &paced, Some(100.0)).await;
    row(
        "likes at 100/s paced → in-app row",
        settle(&db, &sent, IN_APP).await,
    );
    pushes(&db, &sent).await;

    sim.set_delay(Duration::from_millis(250));
    let slow = likes(n, &recipients);
    let sent = publish_all(&bus, &slow, None).await;
    row(
        "likes, slow gateway (250 ms per push), burst → in-app row",
        settle(&db, &sent, IN_APP).await,
    );
    let (ps, p50, p99, k) = pushes(&db, &sent).await;
    println!(
        "| … their {k} pushes, slow gateway (queued → sent) | {ps:.0} | {p50:.1} | {p99:.1} |"
    );
    assert!(sim.refusals().is_empty(), "{:?}", sim.refusals());
}
