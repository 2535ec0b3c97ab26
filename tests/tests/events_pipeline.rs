//! Outbox → MQTT → RabbitMQ → dispatcher → `/internal/<service>/events`, and the relay.

use std::time::Duration;

use nexgate_tests::faults::TcpProxy;
use nexgate_tests::{eventually, Manifest, TestApp, Worker};

/// Declares the probe's queues (as the set-up does before anything is served), then starts the
/// dispatcher that delivers them to `/internal/probe/events`.
fn start_probe_dispatcher(app: &TestApp) -> Worker {
    app.declare_queues("tests/fixtures/subscriptions.toml");
    app.worker(
        "dispatcher",
        &[
            "--subscriptions",
            "tests/fixtures/subscriptions.toml",
            "--expires-ms",
            "600000",
        ],
    )
}

/// How many times the probe was asked to take the event `id`.
async fn delivery_attempts(db: &tokio_postgres::Client, id: &uuid::Uuid) -> i32 {
    db.query_one(
        "SELECT attempts FROM probe.delivery_attempts WHERE id = $1",
        &[id],
    )
    .await
    .unwrap()
    .get(0)
}

async fn outbox_row(app: &TestApp, id: &str) -> Option<(bool, i32)> {
    let db = app.db.admin().await;
    let id: uuid::Uuid = id.parse().unwrap();
    db.query_opt(
        "SELECT published_at IS NOT NULL, publish_attempts FROM probe.outbox WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap()
    .map(|r| (r.get(0), r.get(1)))
}

#[tokio::test]
async fn an_outbox_event_is_published_after_commit_and_marked() {
    let app = TestApp::start(Manifest::Fixture).await;
    let mut observer = app.observe_events().await;
    let (status, body) = app.get_json("/probe/outbox").await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let key = format!("{}.probe.thing.happened", app.prefix);
    let got = observer
        .wait_for(Duration::from_secs(10), |k, b| {
            k == key && b["id"] == id.as_str()
        })
        .await;
    assert!(got.is_some(), "event {id} did not reach RabbitMQ");
    assert_eq!(outbox_row(&app, &id).await.map(|r| r.0), Some(true));
}

#[tokio::test]
async fn the_relay_republishes_an_event_whose_component_died_before_marking() {
    let app = TestApp::start(Manifest::Fixture).await;
    let mut observer = app.observe_events().await;
    let resp = app
        .http
        .get(app.url("/probe/outbox?die=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let db = app.db.admin().await;
    let row = db
        .query_one("SELECT id::text, published_at IS NULL FROM probe.outbox ORDER BY created_at DESC LIMIT 1", &[])
        .await
        .unwrap();
    let id: String = row.get(0);
    assert!(
        row.get::<_, bool>(1),
        "the row should be unmarked after the crash"
    );

    let _relay = app.worker(
        "relay",
        &["--interval-ms", "200", "--stale-after-ms", "300"],
    );
    let key = format!("{}.probe.thing.happened", app.prefix);
    let got = observer
        .wait_for(Duration::from_secs(15), |k, b| {
            k == key && b["id"] == id.as_str()
        })
        .await;
    assert!(got.is_some(), "the relay did not republish {id}");
    let marked = eventually(Duration::from_secs(5), || async {
        outbox_row(&app, &id).await.filter(|r| r.0).map(|r| r.1)
    })
    .await;
    assert_eq!(marked, Some(1), "republished exactly once and marked");
}

#[tokio::test]
async fn the_dispatcher_delivers_events_once_to_the_consuming_service() {
    let app = TestApp::start(Manifest::Fixture).await;
    let _dispatcher = start_probe_dispatcher(&app);
    let (_, body) = app.get_json("/probe/outbox").await;
    let id: uuid::Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let db = app.db.admin().await;
    let received = eventually(Duration::from_secs(15), || async {
        db.query_opt(
            "SELECT event_type FROM probe.received_events WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .map(|r| r.get::<_, String>(0))
    })
    .await;
    assert_eq!(received.as_deref(), Some("probe.thing.happened"));
    assert_eq!(delivery_attempts(&db, &id).await, 1);
}

#[tokio::test]
async fn a_5xx_is_retried_with_backoff_and_a_4xx_is_dead_lettered() {
    let app = TestApp::start(Manifest::Fixture).await;
    let _dispatcher = start_probe_dispatcher(&app);

    let (_, retry) = app.get_json("/probe/outbox?fail_first=1").await;
    let retry_id: uuid::Uuid = retry["id"].as_str().unwrap().parse().unwrap();
    let (_, refused) = app.get_json("/probe/outbox?answer=422").await;
    let refused_id = refused["id"].as_str().unwrap().to_string();
    // A 409 means "not now" (a row locked, a state not reached yet): retried, not dead-lettered.
    let (_, busy) = app.get_json("/probe/outbox?answer=409").await;
    let busy_id: uuid::Uuid = busy["id"].as_str().unwrap().parse().unwrap();

    let db = app.db.admin().await;
    let delivered = eventually(Duration::from_secs(20), || async {
        db.query_opt(
            "SELECT 1 FROM probe.received_events WHERE id = $1",
            &[&retry_id],
        )
        .await
        .unwrap()
        .map(|_| ())
    })
    .await;
    assert!(
        delivered.is_some(),
        "the event that failed once was not retried"
    );
    assert_eq!(delivery_attempts(&db, &retry_id).await, 2);

    // The refused one sits in the dead-letter queue with the answer.
    let conn = lapin::Connection::connect(
        &app.env.amqp_url("nexgate-admin"),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let dead_queue = format!("{}.svc.probe.dead", app.prefix);
    let message = eventually(Duration::from_secs(10), || async {
        channel
            .basic_get(
                &dead_queue,
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
    })
    .await
    .expect("dead-lettered message");
    let body: serde_json::Value = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(body["id"], refused_id.as_str());
    let headers = message.delivery.properties.headers().clone().unwrap();
    let answer = match headers.inner().get("x-nexgate-answer") {
        Some(lapin::types::AMQPValue::LongString(s)) => {
            String::from_utf8_lossy(s.as_bytes()).to_string()
        }
        other => format!("{other:?}"),
    };
    assert!(answer.contains("422"), "{answer}");
    let retried = eventually(Duration::from_secs(15), || async {
        (delivery_attempts(&db, &busy_id).await >= 2).then_some(())
    })
    .await;
    assert!(retried.is_some(), "a 409 was not retried");
    assert!(
        channel
            .basic_get(
                &dead_queue,
                lapin::options::BasicGetOptions { no_ack: true }
            )
            .await
            .unwrap()
            .is_none(),
        "only the 422 is dead-lettered"
    );
    // Not stored by the service.
    let refused_uuid: uuid::Uuid = refused_id.parse().unwrap();
    assert!(db
        .query_opt(
            "SELECT 1 FROM probe.received_events WHERE id = $1",
            &[&refused_uuid]
        )
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_scheduler_calls_jobs_on_their_period_with_the_internal_token() {
    let app = TestApp::start(Manifest::Fixture).await;
    let _scheduler = app.worker("scheduler", &["--schedule", "tests/fixtures/schedule.toml"]);
    let db = app.db.admin().await;
    let ticks = eventually(Duration::from_secs(10), || async {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM probe.job_ticks WHERE job = 'tick'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (n >= 2).then_some(n)
    })
    .await;
    assert!(
        ticks.is_some(),
        "the scheduler did not call the job twice within 10 s"
    );
    // Without the token the job refuses.
    let resp = app
        .http
        .post(app.url("/internal/probe/jobs/tick"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

/// `url` with its `host:port` replaced by the local proxy's.
fn through(url: &str, host_port: &str, proxy: &TcpProxy) -> String {
    url.replace(
        &format!("@{host_port}/"),
        &format!("@127.0.0.1:{}/", proxy.port),
    )
}

/// A broker restart and a database restart as the relay and the dispatcher see them (every
/// connection dropped, none taken for two seconds): both stay up, reconnect on their own, and go
/// on delivering and republishing.
#[tokio::test]
async fn the_relay_and_the_dispatcher_reconnect_after_the_broker_and_the_database_restart() {
    let app = TestApp::start(Manifest::Fixture).await;
    let mut observer = app.observe_events().await;
    app.declare_queues("tests/fixtures/subscriptions.toml");
    let amqp_at = format!("127.0.0.1:{}", app.env.get("AMQP_PORT"));
    let pg_at = format!("{}:{}", app.env.get("PG_HOST"), app.env.get("PG_PORT"));
    let broker = TcpProxy::start(&amqp_at).await;
    let database = TcpProxy::start(&pg_at).await;
    let env = |name: &str, value: String| (name.to_string(), value);
    let mut dispatcher = app.worker_with(
        "dispatcher",
        &[
            "--subscriptions",
            "tests/fixtures/subscriptions.toml",
            "--expires-ms",
            "600000",
        ],
        &[env(
            "NEXGATE_AMQP_URL",
            through(&app.env.amqp_url("nexgate-dispatcher"), &amqp_at, &broker),
        )],
    );
    let mut relay = app.worker_with(
        "relay",
        &["--interval-ms", "200", "--stale-after-ms", "300"],
        &[
            env(
                "NEXGATE_AMQP_URL",
                through(&app.env.amqp_url("nexgate-relay"), &amqp_at, &broker),
            ),
            env(
                "NEXGATE_RELAY_DB_URL",
                through(&app.db.url("nexgate_relay"), &pg_at, &database),
            ),
        ],
    );
    let db = app.db.admin().await;
    let delivered = |id: uuid::Uuid| {
        let db = &db;
        async move {
            eventually(Duration::from_secs(30), || async {
                db.query_opt("SELECT 1 FROM probe.received_events WHERE id = $1", &[&id])
                    .await
                    .unwrap()
                    .map(|_| ())
            })
            .await
            .is_some()
        }
    };
    let (_, before) = app.get_json("/probe/outbox").await;
    let before: uuid::Uuid = before["id"].as_str().unwrap().parse().unwrap();
    assert!(delivered(before).await, "delivered before the restarts");
    let (broker_before, db_before) = (broker.connections(), database.connections());

    tokio::join!(
        broker.restart(Duration::from_secs(2)),
        database.restart(Duration::from_secs(2))
    );

    // The dispatcher delivers what is published after the restart...
    let (_, after) = app.get_json("/probe/outbox").await;
    let after: uuid::Uuid = after["id"].as_str().unwrap().parse().unwrap();
    assert!(
        delivered(after).await,
        "not delivered after the broker restart"
    );
    // ...and the relay republishes a row whose component died before marking it.
    let died = app
        .http
        .get(app.url("/probe/outbox?die=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(died.status(), 500);
    let id: String = db
        .query_one(
            "SELECT id::text FROM probe.outbox WHERE published_at IS NULL ORDER BY created_at DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let key = format!("{}.probe.thing.happened", app.prefix);
    let republished = observer
        .wait_for(Duration::from_secs(30), |k, b| {
            k == key && b["id"] == id.as_str()
        })
        .await;
    assert!(republished.is_some(), "the relay did not reconnect");
    assert!(
        dispatcher.is_running() && relay.is_running(),
        "a worker exited"
    );
    assert!(
        broker.connections() > broker_before,
        "no reconnection to the broker"
    );
    assert!(
        database.connections() > db_before,
        "no reconnection to Postgres"
    );
    let log = relay.stop_and_read_log();
    assert!(log.contains("relay: lost"), "{log}");
    assert_eq!(log.matches("relay: ready").count(), 2, "{log}");
}
