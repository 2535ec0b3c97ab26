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
    let (status, body) = app.get_json("/probe/kv").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["get"], "one");
    assert_eq!(body["exists_k2"], false);
    assert_eq!(body["keys"], serde_json::json!(["k1"]));
    let (_, body) = app.get_json("/probe/kv?label=other").await;
    assert!(
        body["open_error"]
            .as_str()
            .unwrap()
            .contains("AccessDenied"),
        "{body}"
    );
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
