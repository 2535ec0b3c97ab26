//! The real-time gateway's benchmark (`bash bench/dm.sh`, figures in bench/README.md), ignored in
//! the suite. In one run:
//! - the bus's bare publish-to-consume latency at 200 messages/s (AMQP publish to `amq.topic`,
//!   consumed from a queue bound to it): the baseline;
//! - 10,000 idle authenticated connections: the gateway's resident memory before and after;
//! - with those connections open, messages sent through the API at 200/s (open loop, 20 pairs of
//!   users): the time from the start of each send to its arrival on the other member's socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use nexgate_tests::auth::{call, log_in, seed_users, sign_up, PASSWORD};
use nexgate_tests::bench::quantile_ms;
use nexgate_tests::realtime::{Received, Socket};
use nexgate_tests::{HostOptions, Manifest, TestApp};
use reqwest::Method;
use serde_json::json;

const RATE: u64 = 200;
const PAIRS: usize = 20;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn row(what: &str, latencies: &[Duration], secs: u64, expected: usize) {
    let mut latencies = latencies.to_vec();
    latencies.sort();
    println!(
        "| {what} | {} of {expected} | {:.0}/s | {:.1} | {:.1} | {:.1} |",
        latencies.len(),
        latencies.len() as f64 / secs as f64,
        quantile_ms(&latencies, 0.5),
        quantile_ms(&latencies, 0.99),
        latencies
            .iter()
            .max()
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
}

/// The broker alone: publish at `RATE`/s for `secs`, each consumed from a bound queue.
async fn bus_baseline(app: &TestApp, secs: u64) -> (Vec<Duration>, usize) {
    let conn = Connection::connect(
        &app.env.amqp_url("nexgate-admin"),
        ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let queue = format!("{}.bench.realtime", app.prefix);
    let key = format!("{}.bench.ping.sent", app.prefix);
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    channel
        .queue_declare(&queue, options, FieldTable::default())
        .await
        .unwrap();
    channel
        .queue_bind(
            &queue,
            "amq.topic",
            &key,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut consumer = channel
        .basic_consume(
            &queue,
            "bench",
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let started: Arc<Mutex<HashMap<u64, Instant>>> = Default::default();
    let (sent_at, total) = (started.clone(), secs * RATE);
    let receiving = tokio::spawn(async move {
        let mut latencies = Vec::new();
        while let Ok(Some(Ok(delivery))) =
            tokio::time::timeout(Duration::from_secs(5), consumer.next()).await
        {
            let n: u64 = String::from_utf8_lossy(&delivery.data).parse().unwrap();
            if let Some(at) = sent_at.lock().unwrap().remove(&n) {
                latencies.push(at.elapsed());
            }
            if latencies.len() as u64 == total {
                break;
            }
        }
        latencies
    });
    let publisher = conn.create_channel().await.unwrap();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    for n in 0..total {
        tick.tick().await;
        started.lock().unwrap().insert(n, Instant::now());
        publisher
            .basic_publish(
                "amq.topic",
                &key,
                BasicPublishOptions::default(),
                n.to_string().as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }
    (receiving.await.unwrap(), total as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bash bench/dm.sh"]
async fn gateway_memory_and_delivery_latency() {
    let secs = env_or("BENCH_SECS", 15);
    let idle = env_or("BENCH_IDLE_CONNECTIONS", 10_000) as usize;
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: vec![("SPIN_VARIABLE_DM_SENDS_PER_MINUTE".into(), "1000000".into())],
            ..HostOptions::default()
        },
    )
    .await;
    let mut observer = app.observe_events().await;
    let _relay = app.worker("relay", &[]);
    let gateway = app
        .realtime_with(&[("NEXGATE_REALTIME_MAX_CONNECTIONS_PER_USER", "100000")])
        .await;
    println!("| what | delivered | rate | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    let (baseline, expected) = bus_baseline(&app, secs).await;
    row(
        &format!("baseline: bus publish → consume, {RATE}/s"),
        &baseline,
        secs,
        expected,
    );

    // 10,000 idle connections (one user; memory per connection does not depend on who).
    let idler = sign_up(&app, &mut observer).await;
    let before = rss_kib(gateway.worker.pid());
    let opening = Instant::now();
    let url = gateway.url();
    let idle_sockets: Vec<Socket> = futures::stream::iter(0..idle)
        .map(|_| {
            let (url, token) = (url.clone(), idler.access_token.clone());
            async move { Socket::open(&url, &token, None).await.0 }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(gateway.worker.pid());
    println!(
        "\n{} idle connections opened in {:.1} s; gateway RSS {:.1} MiB before, {:.1} MiB after ({:.1} KiB per connection)\n",
        idle_sockets.len(),
        opening.elapsed().as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / idle_sockets.len().max(1) as f64
    );

    // Messages through the API at RATE/s while those connections stay open.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut seeded = Vec::new();
    for s in seed_users(&app, 2 * PAIRS as u32, "rt") {
        let a = log_in(&app, &s.email, PASSWORD, "bench").await;
        assert_eq!(a.status, 200, "{a}");
        seeded.push((
            s.user_id,
            a.body["access_token"].as_str().unwrap().to_string(),
        ));
    }
    let started: Arc<Mutex<HashMap<u64, Instant>>> = Default::default();
    let arrivals: Arc<Mutex<Vec<Duration>>> = Default::default();
    for pair in seeded.chunks(2) {
        let ((_, sender), (receiver, receiver_token)) = (&pair[0], &pair[1]);
        let open = call(
            &app,
            Method::POST,
            "/dm/conversations",
            Some(json!({"user_id": receiver})),
            Some(sender),
        )
        .await;
        assert_eq!(open.status, 201, "{open}");
        let (mut socket, _) = Socket::open(&url, receiver_token, None).await;
        let (sent_at, arrived) = (started.clone(), arrivals.clone());
        tokio::spawn(async move {
            while let Some(Received::Frame(f)) = socket.receive(Duration::from_secs(600)).await {
                for change in f["changes"].as_array().into_iter().flatten() {
                    let text = change["message"]["text"].as_str().unwrap_or_default();
                    if let Some(n) = text
                        .strip_prefix("bench ")
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        if let Some(at) = sent_at.lock().unwrap().remove(&n) {
                            arrived.lock().unwrap().push(at.elapsed());
                        }
                    }
                }
            }
        });
        pairs.push((
            sender.clone(),
            open.body["id"].as_str().unwrap().to_string(),
        ));
    }
    let pairs = Arc::new(pairs);
    // Two seconds at the same rate first, not measured: the host's connections to Postgres and
    // each component's instances warm up (the first second measured 100-470 ms sends otherwise).
    let mut warm = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut warming = Vec::new();
    for n in 0..2 * RATE {
        warm.tick().await;
        let (http, base, pairs) = (app.http.clone(), app.url(""), pairs.clone());
        warming.push(tokio::spawn(async move {
            let (sender, conversation) = &pairs[n as usize % PAIRS];
            let resp = http
                .post(format!("{base}/dm/conversations/{conversation}/messages"))
                .bearer_auth(sender)
                .json(&json!({"client_id": format!("w-{n}"), "text": "warm-up"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
        }));
    }
    for w in warming {
        w.await.unwrap();
    }
    let send_latencies: Arc<Mutex<Vec<Duration>>> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let total = secs * RATE;
    let mut sends = Vec::new();
    for n in 0..total {
        tick.tick().await;
        let (app_http, base, pairs, started, took) = (
            app.http.clone(),
            app.url(""),
            pairs.clone(),
            started.clone(),
            send_latencies.clone(),
        );
        sends.push(tokio::spawn(async move {
            let (sender, conversation) = &pairs[n as usize % PAIRS];
            let at = Instant::now();
            started.lock().unwrap().insert(n, at);
            let resp = app_http
                .post(format!("{base}/dm/conversations/{conversation}/messages"))
                .bearer_auth(sender)
                .json(&json!({"client_id": format!("b-{n}"), "text": format!("bench {n}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            took.lock().unwrap().push(at.elapsed());
            if at.elapsed() > Duration::from_millis(80) && std::env::var("BENCH_SLOW").is_ok() {
                eprintln!(
                    "SLOW send {n} at +{} ms took {:?}",
                    n * 1000 / RATE,
                    at.elapsed()
                );
            }
        }));
    }
    for s in sends {
        s.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered = arrivals.lock().unwrap().clone();
    let took = send_latencies.lock().unwrap().clone();
    row(
        &format!("send answered (POST …/messages), {RATE}/s"),
        &took,
        secs,
        total as usize,
    );
    row(
        &format!(
            "send → member's socket, {RATE}/s, {} idle connections open",
            idle_sockets.len()
        ),
        &delivered,
        secs,
        total as usize,
    );
    println!(
        "\ngateway RSS at the end: {:.1} MiB",
        rss_kib(gateway.worker.pid()) as f64 / 1024.0
    );
    drop(idle_sockets);
}
