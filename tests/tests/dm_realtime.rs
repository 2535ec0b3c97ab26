//! The real-time gateway (docs/dm.md, "Real-time gateway"), black-box: the real host, stores and
//! `nexgate-realtime`, clients connecting as users do (a WebSocket, the access token in the first
//! frame). What a socket receives equals what `GET /dm/sync` returns, members only; typing stops
//! at a block; the handshake and first-frame rules, caps and rates; a revoked session is closed
//! within seconds; a gateway killed mid-stream loses nothing for a client that resyncs.

use std::time::Duration;

use nexgate_tests::auth::{call, sign_up, Answer, User};
use nexgate_tests::realtime::{Received, Socket};
use nexgate_tests::{EventObserver, Manifest, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WITHIN: Duration = Duration::from_secs(10);

struct World {
    app: TestApp,
    observer: EventObserver,
    _relay: nexgate_tests::Worker,
}

impl World {
    /// The app and its relay, whose passes take only rows a minute old: a send's events reach
    /// the gateway through the relay's notice path, at commit.
    async fn new() -> World {
        let app = TestApp::start(Manifest::App).await;
        let relay = app.worker("relay", &["--stale-after-ms", "60000"]);
        let observer = app.observe_events().await;
        World {
            app,
            observer,
            _relay: relay,
        }
    }

    async fn user(&mut self) -> User {
        sign_up(&self.app, &mut self.observer).await
    }

    async fn call(&self, user: &User, method: Method, path: &str, body: Option<Value>) -> Answer {
        call(&self.app, method, path, body, Some(&user.access_token)).await
    }

    async fn open(&self, me: &User, other: &User) -> String {
        let a = self
            .call(
                me,
                Method::POST,
                "/dm/conversations",
                Some(json!({"user_id": other.user_id})),
            )
            .await;
        assert_eq!(a.status, 201, "{a}");
        a.body["id"].as_str().unwrap().to_string()
    }

    async fn send(&self, me: &User, conversation: &str, client_id: &str, text: &str) -> String {
        let a = self
            .call(
                me,
                Method::POST,
                &format!("/dm/conversations/{conversation}/messages"),
                Some(json!({"client_id": client_id, "text": text})),
            )
            .await;
        assert_eq!(a.status, 201, "{a}");
        a.body["id"].as_str().unwrap().to_string()
    }

    async fn sync(&self, user: &User, since: &str) -> Vec<Value> {
        let a = self
            .call(user, Method::GET, &format!("/dm/sync?since={since}"), None)
            .await;
        assert_eq!(a.status, 200, "{a}");
        a.body["changes"].as_array().unwrap().clone()
    }
}

/// What identifies a change, whatever the message looks like now.
fn key(change: &Value) -> (String, String, String) {
    (
        change["kind"].as_str().unwrap_or_default().to_string(),
        change["user_id"].as_str().unwrap_or_default().to_string(),
        change["message"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn texts(changes: &[Value]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c["kind"] == "message")
        .map(|c| {
            c["message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn members_receive_every_change_as_sync_returns_it_and_strangers_nothing() {
    let mut w = World::new().await;
    let (alice, bob, carol) = (w.user().await, w.user().await, w.user().await);
    let conversation = w.open(&alice, &bob).await;
    let gateway = w.app.realtime().await;
    let (mut alice_socket, _) = Socket::open(&gateway.url(), &alice.access_token, None).await;
    let (mut bob_socket, _) = Socket::open(&gateway.url(), &bob.access_token, None).await;
    let (mut carol_socket, _) = Socket::open(&gateway.url(), &carol.access_token, None).await;
    let bob_start = bob_socket.token.clone().expect("ready carries a token");

    let started = std::time::Instant::now();
    let hello = w.send(&alice, &conversation, "c-1", "hello bob").await;
    let got = bob_socket
        .changes_until(WITHIN, |c| c.iter().any(|c| c["kind"] == "message"))
        .await;
    assert_eq!(texts(&got), ["hello bob"], "{got:?}");
    // (The opening's membership change may come in the same frame when a transaction elsewhere
    // in the cluster held the boundary back until now.)
    let message = got.iter().find(|c| c["kind"] == "message").unwrap();
    assert_eq!(message["conversation_id"], json!(conversation));
    assert_eq!(message["message"]["sender_id"], json!(alice.user_id));
    // The event went out through the relay's notice at commit: its pass here only takes rows a
    // minute old, so a published row proves the notice path (latency: bench/README.md).
    let published = nexgate_tests::eventually(WITHIN, || async {
        let row = w
            .app
            .db
            .admin()
            .await
            .query_one(
                "SELECT count(*) FILTER (WHERE published_at IS NOT NULL) FROM dm.outbox
                 WHERE event_type = 'dm.message.created'",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0) == 1).then_some(())
    })
    .await;
    assert!(published.is_some(), "dm.message.created not published");
    eprintln!("send -> socket: {:?}", started.elapsed());

    // An edit, a reaction, a read pointer and an unsend, each pushed to the members.
    let edit = w
        .call(
            &alice,
            Method::PATCH,
            &format!("/dm/messages/{hello}"),
            Some(json!({"text": "hello, bob"})),
        )
        .await;
    assert_eq!(edit.status, 200, "{edit}");
    let got = bob_socket
        .changes_until(WITHIN, |c| c.iter().any(|c| c["kind"] == "edit"))
        .await;
    let edited = got.iter().find(|c| c["kind"] == "edit").unwrap();
    assert_eq!(edited["message"]["text"], "hello, bob");
    assert_eq!(edited["message"]["edited"], true);

    let react = w
        .call(
            &bob,
            Method::PUT,
            &format!("/dm/messages/{hello}/reaction"),
            Some(json!({"emoji": "👍"})),
        )
        .await;
    assert_eq!(react.status, 200, "{react}");
    let read = w
        .call(
            &bob,
            Method::POST,
            &format!("/dm/conversations/{conversation}/read"),
            Some(json!({"seq": 1})),
        )
        .await;
    assert_eq!(read.status, 200, "{read}");
    let got = alice_socket
        .changes_until(WITHIN, |c| {
            c.iter().any(|c| c["kind"] == "reaction") && c.iter().any(|c| c["kind"] == "read")
        })
        .await;
    let receipt = got.iter().find(|c| c["kind"] == "read").unwrap();
    assert_eq!(
        (receipt["user_id"].clone(), receipt["read_seq"].clone()),
        (json!(bob.user_id), json!(1))
    );

    let unsend = w
        .call(
            &alice,
            Method::DELETE,
            &format!("/dm/messages/{hello}?for=everyone"),
            None,
        )
        .await;
    assert_eq!(unsend.status, 204, "{unsend}");
    bob_socket
        .changes_until(WITHIN, |c| c.iter().any(|c| c["kind"] == "unsend"))
        .await;

    // What Bob's socket carried since `ready` is exactly what a sync from that token returns.
    let second = w.send(&alice, &conversation, "c-2", "still there?").await;
    let has_second = |c: &[Value]| c.iter().any(|c| c["message"]["id"] == json!(second));
    let (mut socket, mut socket_changes) =
        Socket::open(&gateway.url(), &bob.access_token, Some(&bob_start)).await;
    if !has_second(&socket_changes) {
        // A transaction elsewhere in the cluster held the boundary back: the rest comes live.
        socket_changes.extend(socket.changes_until(WITHIN, has_second).await);
    }
    let synced = nexgate_tests::eventually(WITHIN, || async {
        let synced = w.sync(&bob, &bob_start).await;
        has_second(&synced).then_some(synced)
    })
    .await
    .expect("the sync catches up");
    let keys = |c: &[Value]| c.iter().map(key).collect::<Vec<_>>();
    assert_eq!(keys(&socket_changes), keys(&synced));
    assert!(synced.iter().any(|c| c["message"]["id"] == json!(second)));
    assert_eq!(
        synced
            .iter()
            .map(|c| c["kind"].as_str().unwrap())
            .filter(|k| *k != "membership")
            .collect::<Vec<_>>(),
        ["message", "edit", "reaction", "read", "unsend", "message"]
    );

    // Carol is in no conversation: nothing but tokens reached her.
    while let Some(Received::Frame(f)) = carol_socket.receive(Duration::from_millis(300)).await {
        assert_ne!(f["type"], "changes", "a stranger received {f}");
    }
}

#[tokio::test]
async fn the_handshake_and_the_first_frame_are_checked_and_connections_are_capped() {
    let mut w = World::new().await;
    let user = w.user().await;
    let gateway = w
        .app
        .realtime_with(&[
            ("NEXGATE_REALTIME_AUTH_TIMEOUT_MS", "700"),
            ("NEXGATE_REALTIME_MAX_CONNECTIONS_PER_USER", "2"),
            ("NEXGATE_REALTIME_FRAMES_PER_SECOND", "5"),
        ])
        .await;
    let url = gateway.url();

    // The handshake: the path, the Origin, no token in the URL.
    let wrong_origin = Socket::connect(&url, Some("https://evil.example")).await;
    assert!(wrong_origin.err().unwrap_or_default().contains("403"));
    let in_url = Socket::connect(&format!("{url}?access_token=abc"), None).await;
    assert!(in_url.err().unwrap_or_default().contains("400"));
    let elsewhere = Socket::connect(&url.replace("/dm/stream", "/other"), None).await;
    assert!(elsewhere.err().unwrap_or_default().contains("404"));
    let mut allowed = Socket::connect(&url, Some("https://app.nexgate.test"))
        .await
        .expect("an allowed origin connects");

    // The first frame: auth with a valid token, in time.
    allowed.send(&json!({"type": "ping"})).await;
    assert_eq!(allowed.closed_within(WITHIN).await.map(|c| c.0), Some(4400));
    let mut forged = Socket::connect(&url, None).await.unwrap();
    forged
        .send(&json!({"type": "auth", "token": "eyJhbGciOiJFZERTQSJ9.e30.AAAA"}))
        .await;
    assert_eq!(
        forged.closed_within(WITHIN).await,
        Some((4401, "token_invalid".to_string()))
    );
    let mut silent = Socket::connect(&url, None).await.unwrap();
    assert_eq!(silent.closed_within(WITHIN).await.map(|c| c.0), Some(4408));

    // Two connections per user here; the third is refused.
    let (mut first, _) = Socket::open(&url, &user.access_token, None).await;
    let (_second, _) = Socket::open(&url, &user.access_token, None).await;
    let mut third = Socket::connect(&url, None).await.unwrap();
    third
        .send(&json!({"type": "auth", "token": user.access_token}))
        .await;
    assert_eq!(third.closed_within(WITHIN).await.map(|c| c.0), Some(4429));

    // A frame above the size cap ends the connection; so do frames faster than the rate.
    let big = "x".repeat(10_000);
    let _ = first
        .send_raw(Message::text(
            json!({"type": "typing", "pad": big}).to_string(),
        ))
        .await;
    assert_eq!(
        first.closed_within(WITHIN).await,
        Some((1009, "frame too large".to_string()))
    );
    let (mut fast, _) = Socket::open(&url, &user.access_token, None).await;
    for _ in 0..30 {
        if fast
            .send_raw(Message::text(r#"{"type":"ping"}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(
        fast.closed_within(WITHIN).await,
        Some((4429, "frames too fast".to_string()))
    );
}

#[tokio::test]
async fn a_revoked_session_is_closed_within_seconds() {
    let mut w = World::new().await;
    let user = w.user().await;
    let gateway = w.app.realtime().await;
    let (mut socket, _) = Socket::open(&gateway.url(), &user.access_token, None).await;
    let out = w.call(&user, Method::POST, "/auth/logout", None).await;
    assert_eq!(out.status, 204, "{out}");
    let started = std::time::Instant::now();
    assert_eq!(
        socket.closed_within(WITHIN).await,
        Some((4401, "session_revoked".to_string()))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // And the token no longer opens one.
    let mut again = Socket::connect(&gateway.url(), None).await.unwrap();
    again
        .send(&json!({"type": "auth", "token": user.access_token}))
        .await;
    assert_eq!(
        again.closed_within(WITHIN).await,
        Some((4401, "session_revoked".to_string()))
    );
}

#[tokio::test]
async fn typing_reaches_the_other_members_but_not_across_a_block() {
    let mut w = World::new().await;
    let (alice, bob, dave, carol) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    let group = w
        .call(
            &alice,
            Method::POST,
            "/dm/conversations",
            Some(json!({"kind": "group", "title": "trip", "member_ids": [bob.user_id, dave.user_id]})),
        )
        .await;
    assert_eq!(group.status, 201, "{group}");
    let group = group.body["id"].as_str().unwrap().to_string();
    let blocked = w
        .call(
            &dave,
            Method::POST,
            &format!("/users/{}/block", alice.user_id),
            None,
        )
        .await;
    assert!(blocked.status == 200 || blocked.status == 204, "{blocked}");
    let gateway = w.app.realtime().await;
    let (mut alice_socket, _) = Socket::open(&gateway.url(), &alice.access_token, None).await;
    let (mut bob_socket, _) = Socket::open(&gateway.url(), &bob.access_token, None).await;
    let (mut dave_socket, _) = Socket::open(&gateway.url(), &dave.access_token, None).await;
    let (mut carol_socket, _) = Socket::open(&gateway.url(), &carol.access_token, None).await;

    alice_socket
        .send(&json!({"type": "typing", "conversation_id": group}))
        .await;
    let typing = loop {
        match bob_socket.receive(WITHIN).await {
            Some(Received::Frame(f)) if f["type"] == "typing" => break f,
            Some(Received::Frame(_)) => continue,
            other => panic!("no typing frame: {other:?}"),
        }
    };
    assert_eq!(typing["user_id"], json!(alice.user_id));
    assert_eq!(typing["conversation_id"], json!(group));
    assert!(typing["expires_in_ms"].as_u64().unwrap() > 0);
    // Dave blocked Alice: he never sees her typing. Carol is not a member: refused.
    carol_socket
        .send(&json!({"type": "typing", "conversation_id": group}))
        .await;
    let refused = loop {
        match carol_socket.receive(WITHIN).await {
            Some(Received::Frame(f)) if f["type"] == "error" => break f,
            Some(Received::Frame(_)) => continue,
            other => panic!("no error frame: {other:?}"),
        }
    };
    assert_eq!(refused["code"], "not_found");
    while let Some(Received::Frame(f)) = dave_socket.receive(Duration::from_millis(500)).await {
        assert_ne!(f["type"], "typing", "typing crossed a block: {f}");
    }
}

#[tokio::test]
async fn a_gateway_killed_mid_stream_loses_nothing_for_a_client_that_resyncs() {
    let mut w = World::new().await;
    let (alice, bob) = (w.user().await, w.user().await);
    let conversation = w.open(&alice, &bob).await;
    let mut gateway = w.app.realtime().await;
    let port = gateway.port;
    let (mut bob_socket, _) = Socket::open(&gateway.url(), &bob.access_token, None).await;
    for n in 1..=5 {
        w.send(&alice, &conversation, &format!("k-{n}"), &format!("m{n}"))
            .await;
    }
    let live = bob_socket
        .changes_until(WITHIN, |c| texts(c).len() >= 5)
        .await;
    assert_eq!(texts(&live), ["m1", "m2", "m3", "m4", "m5"]);
    let token = bob_socket.token.clone().unwrap();

    // kill -9 while Alice keeps sending; the client reconnects with its last token.
    gateway.worker.stop_and_read_log();
    for n in 6..=10 {
        w.send(&alice, &conversation, &format!("k-{n}"), &format!("m{n}"))
            .await;
    }
    let gateway = w.app.realtime_on(port, &[]).await;
    let (mut bob_socket, missed) =
        Socket::open(&gateway.url(), &bob.access_token, Some(&token)).await;
    w.send(&alice, &conversation, "k-11", "m11").await;
    // What was missed comes first (before `ready`, or just after it when a transaction elsewhere
    // in the cluster still held the boundary back), then what is new: each once, in order.
    let mut seen = texts(&missed);
    if !seen.contains(&"m11".to_string()) {
        let live = bob_socket
            .changes_until(WITHIN, |c| texts(c).contains(&"m11".to_string()))
            .await;
        seen.extend(texts(&live));
    }
    assert_eq!(seen, ["m6", "m7", "m8", "m9", "m10", "m11"]);
}

#[tokio::test]
async fn a_gateway_stopping_gracefully_tells_clients_to_reconnect() {
    let mut w = World::new().await;
    let user = w.user().await;
    let gateway = w.app.realtime().await;
    let (mut socket, _) = Socket::open(&gateway.url(), &user.access_token, None).await;
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &gateway.worker.pid().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let (code, reason) = socket.closed_within(WITHIN).await.expect("closed");
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("reconnect"), "{reason}");
}
