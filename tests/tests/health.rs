//! `GET /health` reports every dependency with its latency, and names what is down.

use std::time::Duration;

use nexgate_tests::{HostOptions, Manifest, TestApp};

#[tokio::test]
async fn health_is_200_when_every_store_is_up_and_publishes_an_event() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 200, "{body}\n{}", app.host.log());
    assert_eq!(body["status"], "ok");
    for check in ["postgres", "redis", "mqtt", "storage"] {
        assert_eq!(body["checks"][check]["status"], "up", "{check}: {body}");
        assert!(body["checks"][check]["latency_ms"].as_f64().unwrap() >= 0.0);
    }
    let key = format!("{}.platform.health.checked", app.prefix);
    let event = observer
        .wait_for(Duration::from_secs(10), |k, _| k == key)
        .await;
    let (_, envelope) = event.expect("platform.health.checked event");
    assert_eq!(envelope["type"], "platform.health.checked");
    assert_eq!(envelope["data"]["component"], "health");
}

#[tokio::test]
async fn health_is_503_naming_a_store_that_is_down() {
    // Storage pointed at a port where nothing listens (and granted, so only the store is down).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: vec![
                (
                    "SPIN_VARIABLE_STORAGE_ENDPOINT".into(),
                    format!("http://127.0.0.1:{port}"),
                ),
                (
                    "SPIN_VARIABLE_STORAGE_HOST".into(),
                    format!("127.0.0.1:{port}"),
                ),
            ],
            ..Default::default()
        },
    )
    .await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["down"], serde_json::json!(["storage"]));
    assert_eq!(body["checks"]["postgres"]["status"], "up");
    assert!(
        !body.to_string().contains("Connection refused"),
        "no internal detail in the body"
    );
}

#[tokio::test]
async fn health_refuses_other_methods_with_problem_json() {
    let app = TestApp::start(Manifest::App).await;
    let resp = app.http.post(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}
