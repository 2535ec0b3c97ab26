//! The event bus is authenticated and least-privileged: no anonymous MQTT or AMQP, each service's
//! broker user publishes only its own types, and each consumer reads only its own queues
//! (infra/rabbitmq/identities.toml). One-time secrets cross it sealed: a listener allowed to read
//! everything sees only ciphertext, and the user gets the code from the email.

use std::time::Duration;

use nexgate_tests::auth::{device, digits_in, post, unique_name, PASSWORD};
use nexgate_tests::notify::SmtpServer;
use nexgate_tests::{Manifest, TestApp};
use serde_json::json;

/// Publishes `<prefix>/<topic>` through the probe component as `user` (MQTT, QoS 1).
async fn publish_as(app: &TestApp, user: &str, password: &str, topic: &str) -> serde_json::Value {
    let resp = app
        .http
        .post(app.url("/probe/mqtt?payload=forged"))
        .json(&json!({ "user": user, "password": password, "topic": topic }))
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

#[tokio::test]
async fn anonymous_and_guest_broker_connections_are_refused() {
    let app = TestApp::start(Manifest::Fixture).await;
    let answer = publish_as(&app, "", "", "probe/ping").await;
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or("")
            .contains("ConnectionFailed"),
        "anonymous MQTT was accepted: {answer}"
    );
    let answer = publish_as(&app, "guest", "guest", "probe/ping").await;
    assert!(
        answer["error"].is_string(),
        "guest MQTT was accepted: {answer}"
    );
    let port = app.env.get("AMQP_PORT");
    for url in [
        format!("amqp://127.0.0.1:{port}/%2f"),
        format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        format!("amqp://nexgate-auth:wrong-password@127.0.0.1:{port}/%2f"),
    ] {
        let connected =
            lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await;
        assert!(connected.is_err(), "{url} was accepted");
    }
}

#[tokio::test]
async fn a_service_publishes_only_its_own_event_types() {
    let app = TestApp::start(Manifest::Fixture).await;
    let mut observer = app.observe_events().await;
    let profiles = app.env.broker_password("nexgate-profiles");
    // Forged auth and payments events from the profiles service's identity never reach a queue.
    for forged in ["auth/password_reset/requested", "payments/intent/succeeded"] {
        publish_as(&app, "nexgate-profiles", &profiles, forged).await;
    }
    // Its own type goes through (and proves the observer would have seen the others).
    let own = publish_as(
        &app,
        "nexgate-profiles",
        &profiles,
        "profiles/probe/checked",
    )
    .await;
    assert!(own["published"].is_string(), "{own}");
    let own_key = format!("{}.profiles.probe.checked", app.prefix);
    let mut seen = Vec::new();
    while let Some((key, _)) = observer.wait_for(Duration::from_secs(3), |_, _| true).await {
        seen.push(key);
    }
    assert!(seen.contains(&own_key), "{seen:?}");
    assert!(
        seen.iter()
            .all(|k| !k.contains(".auth.") && !k.contains(".payments.")),
        "a forged event reached the bus: {seen:?}"
    );
}

#[tokio::test]
async fn a_consumer_reads_only_its_own_queues() {
    let app = TestApp::start(Manifest::Fixture).await;
    app.declare_queues("infra/subscriptions.toml");
    let media = lapin::Connection::connect(
        &app.env.amqp_url("nexgate-media"),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = media.create_channel().await.unwrap();
    let own = channel
        .basic_get(
            &format!("{}.worker.media", app.prefix),
            lapin::options::BasicGetOptions { no_ack: false },
        )
        .await;
    assert!(
        own.is_ok(),
        "the media worker cannot read its own queue: {own:?}"
    );
    let other = channel
        .basic_get(
            &format!("{}.worker.notifier", app.prefix),
            lapin::options::BasicGetOptions { no_ack: false },
        )
        .await;
    assert!(other.is_err(), "the media worker read the notifier's queue");
}

/// Waits for the first email to `to` whose subject is `subject` (as the user would open it).
async fn mail_to(smtp: &SmtpServer, to: &str, subject: &str) -> String {
    for _ in 0..200 {
        if let Some(m) = smtp
            .messages()
            .into_iter()
            .find(|m| m.to.contains(to) && m.subject == subject)
        {
            return m.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no email `{subject}` to {to}");
}

#[tokio::test]
async fn a_listener_with_broad_read_rights_never_sees_a_code_or_reset_token_in_clear() {
    let app = TestApp::start(Manifest::App).await;
    app.declare_queues("infra/subscriptions.toml");
    let smtp = SmtpServer::start().await;
    let _notifier = app.notifier_with(&smtp.notifier_env());
    let mut listener = app.observe_events().await;

    // Registration: the code reaches the user by email, and only there.
    let username = unique_name("s");
    let email = format!("{username}@example.com");
    let started = post(
        &app,
        "/auth/register",
        json!({ "email": email, "password": PASSWORD, "username": username, "display_name": "S" }),
    )
    .await;
    assert_eq!(started.status, 202, "{started}");
    let code = digits_in(&mail_to(&smtp, &email, "Your Nexgate code").await, 6);
    let verified = post(
        &app,
        "/auth/register/verify",
        json!({ "registration_id": started.body["registration_id"], "code": code, "device": device("d") }),
    )
    .await;
    assert_eq!(verified.status, 201, "the emailed code works: {verified}");

    // Password reset: the link reaches the user by email, and only there.
    let asked = post(
        &app,
        "/auth/password/forgot",
        json!({ "identifier": email }),
    )
    .await;
    assert_eq!(asked.status, 202, "{asked}");
    let body = mail_to(&smtp, &email, "Reset your password").await;
    let token = body
        .split("token=")
        .nth(1)
        .map(|t| t.split_whitespace().next().unwrap_or("").to_string())
        .expect("a reset link in the email");
    let reset = post(
        &app,
        "/auth/password/reset",
        json!({ "token": token, "new_password": "a-brand-new-secret-9" }),
    )
    .await;
    assert_eq!(reset.status, 204, "the emailed link works: {reset}");

    let seen = listener.drain(Duration::from_secs(2)).await;
    let keys: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        keys.iter()
            .any(|k| k.ends_with(".auth.verification_code.issued"))
            && keys
                .iter()
                .any(|k| k.ends_with(".auth.password_reset.requested")),
        "the listener did not hear the events: {keys:?}"
    );
    for (key, raw) in &seen {
        let text = String::from_utf8_lossy(raw);
        assert!(
            !text.contains(&code),
            "{key} carried the code in clear: {text}"
        );
        assert!(
            !text.contains(&token),
            "{key} carried the reset token in clear: {text}"
        );
    }
}
