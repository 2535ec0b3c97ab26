//! `GET /health`: checks every dependency the platform needs and reports each one's status and
//! latency. 200 when all are up; 503 naming what is down. Causes go to the log, never the body.
//!
//! Checks: Postgres (`SELECT 1`), Redis (write, read back, delete under `redis_key_prefix`), MQTT
//! (publish a `platform.health.checked` event at QoS 1, acknowledged by the broker), and object
//! storage (SigV4-signed PUT, GET and DELETE of a small object in the private bucket).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use std::time::Instant;

use nexgate_events::catalogue::platform::HealthChecked;
use nexgate_events::outbox::Publisher;
use nexgate_events::{Envelope, Subject};
use nexgate_platform::config::{redis_key, var};
use nexgate_platform::routes::{find, Table};
use nexgate_platform::storage::Storage;
use serde_json::{json, Map, Value};
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[("GET", "/health")];

#[http_component]
async fn handle(req: Request) -> Response {
    if let Err(problem) = find(ROUTES, req.method(), req.path()) {
        return problem.into_response();
    }
    let mut checks = Map::new();
    let mut down = Vec::new();
    for (name, result) in [
        ("postgres", timed(check_postgres)),
        ("redis", timed(check_redis)),
        ("mqtt", timed(check_mqtt)),
        ("storage", timed_async(check_storage()).await),
    ] {
        let (outcome, latency_ms) = result;
        let status = match outcome {
            Ok(()) => "up",
            Err(e) => {
                eprintln!("health: {name} is down: {e:#}");
                down.push(name);
                "down"
            }
        };
        checks.insert(
            name.to_string(),
            json!({ "status": status, "latency_ms": latency_ms }),
        );
    }
    let body = json!({
        "status": if down.is_empty() { "ok" } else { "degraded" },
        "down": down,
        "checks": Value::Object(checks),
    });
    Response::builder()
        .status(if down.is_empty() { 200 } else { 503 })
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body.to_string())
        .build()
        .into_response()
}

fn round_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

fn timed(check: impl FnOnce() -> anyhow::Result<()>) -> (anyhow::Result<()>, f64) {
    let started = Instant::now();
    let r = check();
    (r, round_ms(started))
}

async fn timed_async(
    check: impl std::future::Future<Output = anyhow::Result<()>>,
) -> (anyhow::Result<()>, f64) {
    let started = Instant::now();
    let r = check.await;
    (r, round_ms(started))
}

fn check_postgres() -> anyhow::Result<()> {
    let conn =
        spin_sdk::pg4::Connection::open(&var("db_url")?).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let rows = conn
        .query("SELECT 1::int4 AS one", &[])
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    anyhow::ensure!(
        rows.rows.len() == 1,
        "SELECT 1 returned {} rows",
        rows.rows.len()
    );
    Ok(())
}

fn check_redis() -> anyhow::Result<()> {
    let conn = spin_sdk::redis::Connection::open(&var("redis_url")?)?;
    let key = redis_key(&var("redis_key_prefix")?, &["health", &unique_suffix()]);
    let value = unique_suffix().into_bytes();
    conn.set(&key, &value)?;
    let read = conn.get(&key)?;
    conn.del(&[key])?;
    anyhow::ensure!(
        read.as_deref() == Some(value.as_slice()),
        "read back a different value"
    );
    Ok(())
}

fn check_mqtt() -> anyhow::Result<()> {
    let publisher = Publisher::from_variables("health")?;
    let (secs, nanos) = nexgate_platform::time::now_unix();
    let checked = HealthChecked {
        component: "health".into(),
        checked_at: nexgate_platform::time::rfc3339(secs, nanos),
    };
    let subject = Subject {
        kind: "component".into(),
        id: "health".into(),
    };
    let envelope = Envelope::new(None, subject, vec![], &checked)?;
    anyhow::ensure!(
        publisher.publish(&[envelope]) == 1,
        "the broker did not acknowledge the publish"
    );
    Ok(())
}

async fn check_storage() -> anyhow::Result<()> {
    let storage = Storage::from_variables()?;
    let bucket = var("storage_private_bucket")?;
    let key = format!("health/{}", unique_suffix());
    let body = format!("nexgate health {key}").into_bytes();
    storage
        .put_object(&bucket, &key, "text/plain", body.clone())
        .await?;
    let read = storage.get_object(&bucket, &key).await?;
    storage.delete_object(&bucket, &key).await?;
    anyhow::ensure!(
        read.as_deref() == Some(body.as_slice()),
        "read back a different object"
    );
    Ok(())
}

fn unique_suffix() -> String {
    nexgate_platform::ids::new_id().simple().to_string()
}
