//! The host routes as Spin 3.6 routes, sets Spin's request headers, and treats self requests and
//! service chaining as Spin does.

use std::time::Duration;

use nexgate_tests::{repo_root, unique_id, HostProcess, Manifest, TestApp};

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
    // Spin writes `_` in a parameter's header name as `-`.
    assert_eq!(body["headers"]["spin-path-match-user-id"], "42");
    assert!(body["headers"].get("spin-path-match-user_id").is_none());

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
    let resp = app
        .http
        .get(app.url("/.well-known/spin/anything"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // probe-private has no route: only service chaining reaches it.
    let (_, body) = app.get_json("/probe/chain").await;
    assert_eq!(body["status"], 200, "{body}");
}

#[tokio::test]
async fn a_chained_request_gets_spins_synthetic_route_headers() {
    let app = TestApp::start(Manifest::Fixture).await;
    let (_, body) = app.get_json("/probe/chain").await;
    assert_eq!(body["status"], 200, "{body}");
    let h = &body["body"]["headers"];
    assert_eq!(h["spin-path-info"], "/headers", "{body}");
    assert_eq!(h["spin-matched-route"], "/...");
    assert_eq!(h["spin-raw-component-route"], "/...");
    assert_eq!(h["spin-component-route"], "");
    assert_eq!(h["spin-client-addr"], "0.0.0.0:0");
    assert_eq!(h["spin-full-url"], "http://localhost/headers");
}

#[tokio::test]
async fn path_info_keeps_spins_trailing_slash() {
    let app = TestApp::start(Manifest::Fixture).await;
    // `/probe/` under `/probe/...` has path info `/` (the probe answers 404 naming it).
    let (_, body) = app.get_json("/probe/").await;
    assert_eq!(body["unknown"], "/", "{body}");
    let (_, body) = app.get_json("/probe/x/").await;
    assert_eq!(body["unknown"], "/x/", "{body}");
}

#[tokio::test]
async fn routes_are_matched_as_spin_matches_them() {
    let app = TestApp::start(Manifest::Fixture).await;
    // A literal segment beats `:user_id` even against a trailing wildcard.
    let (_, body) = app.get_json("/users/me").await;
    assert_eq!(
        body["headers"]["spin-matched-route"], "/users/me/...",
        "{body}"
    );
    // Empty segments are not collapsed.
    let resp = app.http.get(app.url("/users//me")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // A route declared twice is served by the last declaration's component.
    let (status, _) = app.get_json("/dup").await;
    assert_eq!(status, 200);
    assert!(app
        .host
        .wait_for_log("GET /dup probe-param 200", Duration::from_secs(5)));
}

#[test]
fn a_route_spin_could_never_match_stops_start_up_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("nexgate-dot-route-{}", unique_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("spin.toml");
    let probe = repo_root().join("build/components/probe.wasm");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\n\
             route = \"/auth/.well-known/jwks.json\"\ncomponent = \"p\"\n\
             [component.p]\nsource = \"{}\"\n",
            probe.display()
        ),
    )
    .unwrap();
    let (ok, stderr) = HostProcess::expect_refusal(&manifest, &[], &[]);
    assert!(!ok);
    assert!(stderr.contains("/auth/.well-known/jwks.json"), "{stderr}");
    assert!(stderr.contains("starts with `.`"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn self_requests_are_relative_urls_or_self_alt_and_the_host_self_is_denied() {
    let app = TestApp::start(Manifest::Fixture).await;
    for target in ["%2Fexact", "http%3A%2F%2Fself.alt%2Fexact"] {
        let (_, body) = app.get_json(&format!("/probe/chain?target={target}")).await;
        assert_eq!(body["status"], 200, "{target}: {body}");
        assert_eq!(body["body"]["headers"]["spin-matched-route"], "/exact");
    }
    assert!(app.host.wait_for_log("(chained)", Duration::from_secs(5)));
    // On Spin `http://self/...` is an ordinary host name, which no grant allows.
    let (_, body) = app
        .get_json("/probe/chain?target=http%3A%2F%2Fself%2Fexact")
        .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("HttpRequestDenied"),
        "{body}"
    );
}

#[tokio::test]
async fn the_request_log_names_the_route_never_the_raw_path() {
    let app = TestApp::start(Manifest::Fixture).await;
    // A path that carries a secret, as a provider callback's per-payment token does.
    let (status, _) = app.get_json("/probe/cb-secret-7f3a9c2e").await;
    assert_eq!(status, 404);
    let missing = app
        .http
        .get(app.url("/nowhere/cb-secret-0b1d"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(app
        .host
        .wait_for_log("GET /probe/... probe 404", Duration::from_secs(5)));
    assert!(app
        .host
        .wait_for_log("GET (no route) - 404", Duration::from_secs(5)));
    let log = app.host.log();
    assert!(
        !log.contains("cb-secret"),
        "a raw path reached the log:\n{log}"
    );
}
