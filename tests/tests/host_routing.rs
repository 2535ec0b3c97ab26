//! The host routes exactly as Spin documents and sets Spin's request headers.

use nexgate_tests::{Manifest, TestApp};

#[tokio::test]
async fn wildcard_routes_get_spin_headers_with_path_info() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (status, body) = app.get_json("/probe/headers?x=1").await;
    assert_eq!(status, 200, "{body}");
    let h = &body["headers"];
    assert_eq!(h["spin-path-info"], "/headers");
    assert_eq!(h["spin-matched-route"], "/probe/...");
    assert_eq!(h["spin-raw-component-route"], "/probe/...");
    assert_eq!(h["spin-component-route"], "/probe");
    assert_eq!(h["spin-base-path"], "/");
    assert_eq!(h["spin-full-url"], app.url("/probe/headers?x=1"));
    assert!(h["spin-client-addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn exact_routes_parameters_and_trailing_wildcards_pick_the_right_component() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (status, body) = app.get_json("/exact").await;
    assert_eq!(status, 200);
    assert_eq!(body["headers"]["spin-matched-route"], "/exact");
    assert_eq!(body["headers"]["spin-path-info"], "");

    let (_, body) = app.get_json("/users/42").await;
    assert_eq!(body["headers"]["spin-matched-route"], "/users/:user_id");
    assert_eq!(body["headers"]["spin-path-match-user_id"], "42");

    // The trailing wildcard gets the rest as path info (the probe answers 404 naming it).
    let (_, body) = app.get_json("/users/42/posts").await;
    assert_eq!(body["unknown"], "/42/posts", "{body}");

    let resp = app.http.get(app.url("/exact/more")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = app.http.get(app.url("/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn clients_cannot_forge_spin_headers() {
    let app = TestApp::start(Manifest::Fixture).await;
    let resp = app
        .http
        .get(app.url("/probe/headers"))
        .header("spin-client-addr", "6.6.6.6:1")
        .header("spin-path-match-admin", "yes")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["headers"]["spin-client-addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(body["headers"].get("spin-path-match-admin").is_none());
}

#[tokio::test]
async fn the_well_known_health_route_answers_and_private_components_are_unroutable() {
    let app = TestApp::start(Manifest::Fixture).await;
    let resp = app
        .http
        .get(app.url("/.well-known/spin/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "OK");
    // probe-private has no route: only service chaining reaches it.
    let (_, body) = app.get_json("/probe/chain").await;
    assert_eq!(body["status"], 200, "{body}");
    assert_eq!(body["body"]["headers"]["spin-path-info"], "/headers");
}

#[tokio::test]
async fn self_requests_route_through_the_app_without_a_network_hop() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (_, body) = app
        .get_json("/probe/chain?target=http%3A%2F%2Fself%2Fexact")
        .await;
    assert_eq!(body["status"], 200, "{body}");
    assert_eq!(body["body"]["headers"]["spin-matched-route"], "/exact");
    assert!(app
        .host
        .wait_for_log("(chained)", std::time::Duration::from_secs(5)));
}
