//! `Idempotency-Key` through the platform library, against real Postgres: one change, however many
//! retries arrive and however they overlap; a reused key with another request is a 422.

use nexgate_tests::{Manifest, TestApp};

async fn post(
    app: &TestApp,
    key: Option<&str>,
    body: &str,
) -> (u16, Option<String>, serde_json::Value) {
    let mut req = app
        .http
        .post(app.url("/probe/idempotent"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let replay = resp
        .headers()
        .get("idempotent-replay")
        .map(|v| v.to_str().unwrap().to_string());
    (
        status,
        replay,
        resp.json().await.unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn concurrent_retries_with_one_key_make_exactly_one_change() {
    let app = TestApp::start(Manifest::Fixture).await;
    let key = uuid::Uuid::new_v4().to_string();
    let attempts = (0..12).map(|_| post(&app, Some(&key), r#"{"amount": 100000}"#));
    let answers = futures::future::join_all(attempts).await;
    let first_id = answers[0].2["effect_id"].clone();
    for (status, _, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(
            body["effect_id"], first_id,
            "every retry sees the first response"
        );
    }
    assert_eq!(
        answers.iter().filter(|a| a.1.is_none()).count(),
        1,
        "exactly one request did the work"
    );
    let db = app.db.admin().await;
    let rows: i64 = db
        .query_one("SELECT count(*) FROM probe.idem_effects", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "the change happened once");
}

#[tokio::test]
async fn a_key_reused_with_a_different_request_is_a_422_and_changes_nothing() {
    let app = TestApp::start(Manifest::Fixture).await;
    let key = uuid::Uuid::new_v4().to_string();
    let (status, _, _) = post(&app, Some(&key), r#"{"amount": 1}"#).await;
    assert_eq!(status, 201);
    let (status, _, body) = post(&app, Some(&key), r#"{"amount": 2}"#).await;
    assert_eq!(status, 422);
    assert_eq!(body["code"], "idempotency_key_reused");
    let (status, _, body) = post(&app, None, r#"{"amount": 2}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "idempotency_key_required");
    let (status, _, body) = post(&app, Some("other-key"), r#"{"amount": "two"}"#).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "amount");
    let db = app.db.admin().await;
    let rows: i64 = db
        .query_one("SELECT count(*) FROM probe.idem_effects", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}
