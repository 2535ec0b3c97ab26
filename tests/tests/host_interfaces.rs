//! Variables, outbound rules, Postgres, Redis, key-value and MQTT as components see them.

use std::time::Duration;

use nexgate_tests::{repo_root, HostOptions, HostProcess, Manifest, TestApp};

#[tokio::test]
async fn variables_come_from_flags_then_environment_then_defaults() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (_, body) = app.get_json("/probe/variables?name=greeting").await;
    assert_eq!(body["value"], "hello from-default");
    let (_, body) = app.get_json("/probe/variables?name=optional").await;
    assert!(
        body["error"].as_str().unwrap().contains("Undefined"),
        "{body}"
    );
    let (_, body) = app.get_json("/probe/variables?name=not_declared").await;
    assert!(
        body["error"].as_str().unwrap().contains("Undefined"),
        "{body}"
    );
    drop(app);

    let app = TestApp::start_with(
        Manifest::Fixture,
        HostOptions {
            env: vec![("SPIN_VARIABLE_GREETING".into(), "from-env".into())],
            ..Default::default()
        },
    )
    .await;
    let (_, body) = app.get_json("/probe/variables?name=greeting").await;
    assert_eq!(body["value"], "hello from-env");
    drop(app);

    let app = TestApp::start_with(
        Manifest::Fixture,
        HostOptions {
            env: vec![("SPIN_VARIABLE_GREETING".into(), "from-env".into())],
            args: vec!["--variable".into(), "greeting=from-flag".into()],
        },
    )
    .await;
    let (_, body) = app.get_json("/probe/variables?name=greeting").await;
    assert_eq!(body["value"], "hello from-flag");
}

#[tokio::test]
async fn a_missing_required_variable_stops_start_up_naming_it() {
    let (ok, stderr) = HostProcess::expect_refusal(
        &repo_root().join("tests/fixtures/spin.toml"),
        &[("SPIN_VARIABLE_REDIS_KEY_PREFIX".into(), "x:".into())],
        &[],
    );
    assert!(!ok);
    assert!(stderr.contains("SPIN_VARIABLE_DB_URL"), "{stderr}");
    assert!(
        stderr.contains("SPIN_VARIABLE_PROBE_INTERNAL_TOKEN"),
        "{stderr}"
    );
}

#[test]
fn a_component_importing_what_the_host_lacks_stops_start_up_naming_it() {
    let (ok, stderr) = HostProcess::expect_refusal(
        &repo_root().join("tests/fixtures/unsupported.toml"),
        &[],
        &[],
    );
    assert!(!ok);
    assert!(
        stderr.contains("component `uses-sqlite` imports something this host does not provide"),
        "{stderr}"
    );
    assert!(stderr.contains("sqlite"), "{stderr}");
}

#[test]
fn an_invalid_manifest_stops_start_up_with_the_line_to_fix() {
    let dir = std::env::temp_dir().join(format!(
        "nexgate-bad-manifest-{}",
        nexgate_tests::unique_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"missing\"\n",
    )
    .unwrap();
    let (ok, stderr) = HostProcess::expect_refusal(&manifest, &[], &[]);
    assert!(!ok);
    assert!(stderr.contains("names no [component.missing]"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn serve_once_forever() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\noutbound")
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn outbound_http_is_allowed_only_to_listed_hosts_with_templates_filled() {
    let allowed = serve_once_forever().await;
    let denied = serve_once_forever().await;
    let app = TestApp::start_with(
        Manifest::Fixture,
        HostOptions {
            env: vec![("SPIN_VARIABLE_ALLOWED_PORT".into(), allowed.to_string())],
            ..Default::default()
        },
    )
    .await;
    let (_, body) = app
        .get_json(&format!(
            "/probe/outbound?url=http%3A%2F%2F127.0.0.1%3A{allowed}%2Fx"
        ))
        .await;
    assert_eq!(body["status"], 200, "{body}");
    assert_eq!(body["body"], "outbound");
    let (_, body) = app
        .get_json(&format!(
            "/probe/outbound?url=http%3A%2F%2F127.0.0.1%3A{denied}%2Fx"
        ))
        .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );
    let (_, body) = app
        .get_json("/probe/outbound?url=http%3A%2F%2Fexample.com%2F")
        .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );
}

#[tokio::test]
async fn postgres_values_round_trip_with_their_types() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (status, body) = app.get_json("/probe/pg/types").await;
    assert_eq!(status, 200, "{body}");
    let values: Vec<String> = body["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap()
                .trim_start_matches("DbValue::")
                .to_string()
        })
        .collect();
    let expect = [
        "Boolean(true)",
        "Int16(-7)",
        "Int32(2000000000)",
        "Int64(9000000000000)",
        "Floating64(1.5)",
        "Str(\"héllo\")",
        "Binary([0, 1, 255])",
        "Uuid(\"0190b6a1-7a3c-7cc0-8f3e-6f1f2c3d4e5f\")",
        "Jsonb(",
        "Decimal(\"12345678901234567890.0123\")",
        "Datetime((2026, 11, 29, 13, 45, 30, 123456000))",
        "Date((2026, 2, 28))",
        "Interval(Interval { micros: 3600000000, days: 2, months: 1 })",
        "ArrayInt32([Some(1), None, Some(3)])",
        "ArrayStr([Some(\"a\"), None])",
        "RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((10, RangeBoundKind::Exclusive))))",
        "DbNull",
        "Time((23, 59, 58, 0))",
        "ArrayDecimal([Some(\"1.50\"), None])",
        "Datetime((",
    ];
    for (i, e) in expect.iter().enumerate() {
        assert!(
            values[i].starts_with(e),
            "column {i}: {} does not start with {e}",
            values[i]
        );
    }
    let columns = body["columns"].as_array().unwrap();
    assert_eq!(columns[9]["type"], "DbDataType::Decimal");
    assert_eq!(columns[10]["type"], "DbDataType::Datetime");
    assert_eq!(columns[19]["type"], "DbDataType::Datetime");
    assert_eq!(body["decoded"]["s"], "héllo");
    assert_eq!(body["decoded"]["nothing_is_null"], true);
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing_and_errors_carry_sqlstate() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (status, body) = app.get_json("/probe/pg/rollback").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["inside"], 1);
    assert_eq!(body["after"], 0);
    let (status, body) = app.get_json("/probe/pg/error").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "23505");
    assert_eq!(body["constraint"], "probe_unique_k_key");
}

#[tokio::test]
async fn a_connection_left_in_a_transaction_is_reset_before_reuse() {
    let app = TestApp::start_with(
        Manifest::Fixture,
        HostOptions {
            args: vec!["--pg-connections-per-address-max".into(), "1".into()],
            ..Default::default()
        },
    )
    .await;
    // With one connection per address, every request reuses the same server connection.
    for _ in 0..3 {
        let (status, body) = app.get_json("/probe/pg/rollback").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["after"], 0);
    }
}

#[tokio::test]
async fn redis_commands_work_under_the_key_prefix() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (status, body) = app.get_json("/probe/redis").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["incr"], serde_json::json!([1, 2]));
    assert_eq!(body["get"], serde_json::json!([118, 0, 120]));
    assert_eq!(body["members"], serde_json::json!(["a", "b"]));
    assert!(body["ping"].as_str().unwrap().contains("PONG"));
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let v: i64 = redis::cmd("GET")
        .arg(format!("{}:probe:counter", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, 2);
}

#[tokio::test]
async fn key_value_stores_are_granted_per_label() {
    let app = TestApp::start(Manifest::Fixture).await;
    // `default` needs no configuration: SQLite in the state folder, as on Spin.
    let (status, body) = app.get_json("/probe/kv").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["get"], "one");
    assert_eq!(body["exists_k2"], false);
    assert_eq!(body["keys"], serde_json::json!(["k1"]));
    let state_dir = std::env::temp_dir().join(format!("nexgate-state-{}", app.prefix));
    assert!(state_dir.join("sqlite_key_value.db").exists());
    // `cache` is a Redis store defined in the runtime config file.
    let ns = format!("{}:", app.prefix);
    let (status, body) = app
        .get_json(&format!("/probe/kv?label=cache&ns={ns}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["get"], "one");
    assert_eq!(body["keys"], serde_json::json!([format!("{ns}k1")]));
    let mut redis = redis::Client::open(format!("redis://127.0.0.1:{}", app.env.get("REDIS_PORT")))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stored: Option<String> = redis::cmd("GET")
        .arg(format!("{ns}k1"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("one"));
    let (_, body) = app.get_json("/probe/kv?label=other").await;
    assert!(
        body["open_error"]
            .as_str()
            .unwrap()
            .contains("AccessDenied"),
        "{body}"
    );
}

#[test]
fn a_component_naming_an_undefined_key_value_store_stops_start_up() {
    // The fixture's probe names `cache`, which only the runtime config file defines.
    let (ok, stderr) = HostProcess::expect_refusal(
        &repo_root().join("tests/fixtures/spin.toml"),
        &[
            (
                "SPIN_VARIABLE_DB_URL".into(),
                "postgres://x@127.0.0.1/x".into(),
            ),
            ("SPIN_VARIABLE_REDIS_KEY_PREFIX".into(), "x:".into()),
            ("SPIN_VARIABLE_EVENT_TOPIC_PREFIX".into(), "x".into()),
            ("SPIN_VARIABLE_PROBE_INTERNAL_TOKEN".into(), "x".into()),
        ],
        &[],
    );
    assert!(!ok);
    assert!(
        stderr.contains("key-value store `cache`, which is not defined"),
        "{stderr}"
    );
}

#[tokio::test]
async fn date_times_bind_and_read_as_on_spin() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (status, body) = app.get_json("/probe/pg/times").await;
    assert_eq!(status, 200, "{body}");
    let ok = |k: &str| body[k]["ok"].as_str().map(str::to_string);
    let error = |k: &str| body[k]["error"].as_str().unwrap_or("").to_string();
    assert_eq!(
        ok("datetime_as_timestamp").as_deref(),
        Some("DbValue::Datetime((2026, 11, 29, 13, 45, 30, 0))"),
        "{body}"
    );
    assert_eq!(
        ok("epoch_as_timestamptz").as_deref(),
        Some("DbValue::Boolean(true)"),
        "{body}"
    );
    assert!(ok("timestamptz_as_text").is_some(), "{body}");
    // What Spin 3.6.3 refuses: a datetime as timestamptz, epoch seconds as timestamp, and reading
    // a timestamptz column.
    for refused in [
        "datetime_as_timestamptz",
        "epoch_as_timestamp",
        "timestamptz_column",
    ] {
        assert!(error(refused).contains("WrongType"), "{refused}: {body}");
    }
}

#[tokio::test]
async fn postgres_connection_strings_in_both_forms_are_checked_against_the_grants() {
    let app = TestApp::start(Manifest::Fixture).await;
    let open = |address: &str| {
        let path = format!("/probe/open?kind=pg&address={}", url_encode(address));
        let app = &app;
        async move { app.get_json(&path).await.1 }
    };
    let port = app.env.get("PG_PORT");
    let body = open(&format!(
        "host=127.0.0.1 port={port} user=nexgate_admin password={} dbname={} sslmode=disable",
        app.env.get("PG_PASSWORD"),
        app.db.name
    ))
    .await;
    assert_eq!(body["opened"], true, "{body}");
    let body = open("host=10.9.9.9 port=5433 user=u password=hunter2 dbname=d").await;
    let error = body["error"].as_str().unwrap_or("");
    assert!(error.contains("ConnectionFailed"), "{body}");
    assert!(
        error.contains("address postgres://10.9.9.9:5433 is not permitted"),
        "{body}"
    );
    assert!(!error.contains("hunter2"), "{body}");
}

#[tokio::test]
async fn denied_redis_and_mqtt_addresses_fail_as_on_spin() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (_, body) = app
        .get_json("/probe/open?kind=redis&address=redis%3A%2F%2F10.9.9.9%3A6379")
        .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("InvalidAddress"),
        "{body}"
    );
    let (_, body) = app
        .get_json("/probe/open?kind=mqtt&address=mqtt%3A%2F%2F10.9.9.9%3A1883")
        .await;
    let error = body["error"].as_str().unwrap_or("");
    assert!(error.contains("ConnectionFailed"), "{body}");
    assert!(
        error.contains("address mqtt://10.9.9.9:1883 is not permitted"),
        "{body}"
    );
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn an_mqtt_publish_arrives_in_rabbitmq_under_the_prefix() {
    let app = TestApp::start(Manifest::Fixture).await;
    let mut observer = app.observe_events().await;
    let (status, body) = app.get_json("/probe/mqtt?payload=hello-broker").await;
    assert_eq!(status, 200, "{body}");
    let key = format!("{}.probe.ping", app.prefix);
    let got = observer
        .wait_for(Duration::from_secs(10), |k, _| k == key)
        .await;
    assert!(got.is_some(), "no message on {key}");
}

#[tokio::test]
async fn mqtts_verifies_the_brokers_certificate_against_the_trust_store() {
    let publish = |app: &TestApp| {
        let request = app
            .http
            .post(app.url("/probe/mqtt?payload=over-tls"))
            .json(&serde_json::json!({ "url": "mqtts://localhost:8883", "topic": "probe/tls" }))
            .send();
        async move {
            request
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    // With the local CA in the trust store (`SSL_CERT_FILE`, as Spin's client reads it).
    let env = nexgate_tests::LocalEnv::load();
    let trusting = TestApp::start_with(
        Manifest::Fixture,
        HostOptions {
            env: vec![("SSL_CERT_FILE".into(), env.get("MQTT_TLS_CA_FILE").into())],
            ..Default::default()
        },
    )
    .await;
    let mut observer = trusting.observe_events().await;
    let answer = publish(&trusting).await;
    assert!(answer["published"].is_string(), "{answer}");
    let key = format!("{}.probe.tls", trusting.prefix);
    assert!(
        observer
            .wait_for(Duration::from_secs(10), |k, _| k == key)
            .await
            .is_some(),
        "no message on {key}"
    );
    drop(trusting);
    // With only the public roots, the local broker's certificate is refused.
    let strict = TestApp::start_with(
        Manifest::Fixture,
        HostOptions {
            env: vec![(
                "SSL_CERT_FILE".into(),
                "/etc/ssl/certs/ca-certificates.crt".into(),
            )],
            ..Default::default()
        },
    )
    .await;
    let answer = publish(&strict).await;
    let error = answer["error"].as_str().unwrap_or("");
    assert!(error.contains("TLS"), "{answer}");
}
