//! Direct messages, first part (docs/dm.md), black-box through the real host and stores: one
//! conversation per pair, message policies, requests and blocks, idempotent sends, history both
//! ways, edits, unsends, read pointers and unread counts, groups (history from joining, admins),
//! 404 for everyone outside a conversation, sync since a token, and no notification for a member
//! who muted the conversation.

use std::time::Duration;

use nexgate_tests::auth::{call, sign_up, Answer, User};
use nexgate_tests::{eventually, EventObserver, Manifest, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    app: TestApp,
    observer: EventObserver,
    _relay: nexgate_tests::Worker,
}

/// The app and its relay (a send's events are published by the relay the moment they commit).
async fn world() -> World {
    let app = TestApp::start(Manifest::App).await;
    let relay = app.worker("relay", &[]);
    let observer = app.observe_events().await;
    World {
        app,
        observer,
        _relay: relay,
    }
}

impl World {
    async fn user(&mut self) -> User {
        sign_up(&self.app, &mut self.observer).await
    }

    async fn call(&self, user: &User, method: Method, path: &str, body: Option<Value>) -> Answer {
        call(&self.app, method, path, body, Some(&user.access_token)).await
    }

    async fn open(&self, me: &User, other: &User) -> Answer {
        self.call(
            me,
            Method::POST,
            "/dm/conversations",
            Some(json!({"user_id": other.user_id})),
        )
        .await
    }

    async fn send(&self, me: &User, conversation: &str, client_id: &str, text: &str) -> Answer {
        self.call(
            me,
            Method::POST,
            &format!("/dm/conversations/{conversation}/messages"),
            Some(json!({"client_id": client_id, "text": text})),
        )
        .await
    }

    async fn policy(&self, user: &User, policy: &str) {
        let a = self
            .call(
                user,
                Method::PATCH,
                "/users/me",
                Some(json!({"message_policy": policy})),
            )
            .await;
        assert_eq!(a.status, 200, "{a}");
    }
}

/// Every member's unread counter equals its definition (`dm.count_unread`).
async fn assert_unread_counters_exact(w: &World) {
    let wrong: i64 = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM dm.members WHERE unread <> dm.count_unread(conversation_id, user_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0, "unread counters that differ from the messages");
}

fn id(a: &Answer) -> String {
    a.body["id"].as_str().unwrap().to_string()
}

fn field(a: &Answer) -> &str {
    a.body["errors"][0]["field"].as_str().unwrap_or_default()
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn two_users_opening_at_once_get_one_conversation() {
    let mut w = world().await;
    let (amina, juma) = (w.user().await, w.user().await);
    let (a, b) = tokio::join!(w.open(&amina, &juma), w.open(&juma, &amina));
    assert!(a.status == 201 || a.status == 200, "{a}");
    assert!(b.status == 201 || b.status == 200, "{b}");
    assert_eq!(id(&a), id(&b), "the same conversation");
    assert_eq!(
        a.status + b.status,
        401,
        "one made it, the other found it: {a} {b}"
    );
    let again = w.open(&amina, &juma).await;
    assert_eq!((again.status, id(&again)), (200, id(&a)));
    let me = w.open(&amina, &amina).await;
    assert_eq!((me.status, field(&me)), (422, "user_id"), "{me}");
}

#[tokio::test]
async fn policies_make_requests_and_blocks_stop_everything() {
    let mut w = world().await;
    let (sender, picky, closed, blocker, friend) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    w.policy(&picky, "following").await;
    w.policy(&closed, "nobody").await;

    // Not admitted: a message request the recipient sees apart and may accept.
    let req = w.open(&sender, &picky).await;
    assert_eq!(req.status, 201, "{req}");
    let conv = id(&req);
    let sent = w
        .send(
            &sender,
            &conv,
            "r-1",
            "Habari! Is the kikoi still available?",
        )
        .await;
    assert_eq!(sent.status, 201, "{sent}");
    let inbox = w.call(&picky, Method::GET, "/dm/conversations", None).await;
    assert!(ids(&inbox.body["items"]).is_empty(), "{inbox}");
    let requests = w.call(&picky, Method::GET, "/dm/requests", None).await;
    assert_eq!(
        ids(&requests.body["items"]),
        vec![conv.clone()],
        "{requests}"
    );
    let read = w
        .call(
            &picky,
            Method::GET,
            &format!("/dm/conversations/{conv}/messages"),
            None,
        )
        .await;
    assert_eq!(
        read.body["items"][0]["text"], "Habari! Is the kikoi still available?",
        "{read}"
    );
    let reply = w.send(&picky, &conv, "p-1", "not yet accepted").await;
    assert_eq!(reply.status, 404, "accept first: {reply}");
    let accepted = w
        .call(
            &picky,
            Method::POST,
            &format!("/dm/conversations/{conv}/accept"),
            None,
        )
        .await;
    assert_eq!(
        (accepted.status, accepted.body["state"].as_str()),
        (200, Some("active")),
        "{accepted}"
    );
    assert_eq!(w.send(&picky, &conv, "p-1", "Yes it is").await.status, 201);

    // Following admits once the recipient follows the sender.
    let f = w
        .call(
            &closed,
            Method::POST,
            &format!("/users/{}/follow", sender.user_id),
            None,
        )
        .await;
    assert_eq!(f.status, 200, "{f}");
    let nobody = w.open(&sender, &closed).await;
    assert_eq!(
        nobody.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == json!(closed.user_id))
            .unwrap()["state"],
        "request",
        "`nobody` admits nobody: {nobody}"
    );

    // A block either way: no opening, no sending, as if the user did not exist.
    let open = w.open(&friend, &blocker).await;
    assert_eq!(open.status, 201, "{open}");
    let b = w
        .call(
            &blocker,
            Method::POST,
            &format!("/users/{}/block", friend.user_id),
            None,
        )
        .await;
    assert!(b.status == 200 || b.status == 204, "{b}");
    let refused = w.send(&friend, &id(&open), "f-1", "hello?").await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "cannot_message"),
        "{refused}"
    );
    let other_way = w.send(&blocker, &id(&open), "b-1", "hello?").await;
    assert_eq!(
        (other_way.status, other_way.code()),
        (403, "cannot_message"),
        "{other_way}"
    );
    let reopen = w.open(&friend, &blocker).await;
    assert_eq!(reopen.status, 404, "{reopen}");
}

#[tokio::test]
async fn sends_are_idempotent_and_history_edits_unsends_and_reads_add_up() {
    let mut w = world().await;
    let (amina, juma, other) = (w.user().await, w.user().await, w.user().await);
    let conv = id(&w.open(&amina, &juma).await);
    let first = w.send(&amina, &conv, "c-1", "one").await;
    assert_eq!(first.status, 201, "{first}");
    let retried = w.send(&amina, &conv, "c-1", "one").await;
    assert_eq!(
        (retried.status, id(&retried)),
        (200, id(&first)),
        "a retry is the same message"
    );
    let elsewhere = id(&w.open(&amina, &other).await);
    let reused = w.send(&amina, &elsewhere, "c-1", "one").await;
    assert_eq!(
        (reused.status, reused.code()),
        (409, "client_id_reused"),
        "{reused}"
    );
    for (i, text) in ["two", "three", "four", "five"].iter().enumerate() {
        assert_eq!(
            w.send(&amina, &conv, &format!("c-{}", i + 2), text)
                .await
                .status,
            201
        );
    }
    let bad = [
        (json!({"client_id": "", "text": "x"}), "client_id"),
        (json!({"client_id": "x", "text": "  "}), "text"),
        (json!({"client_id": "x", "text": "a".repeat(4001)}), "text"),
        (
            json!({"client_id": "x", "text": "x", "reply_to": uuid::Uuid::new_v4()}),
            "reply_to",
        ),
    ];
    for (body, want) in bad {
        let a = w
            .call(
                &amina,
                Method::POST,
                &format!("/dm/conversations/{conv}/messages"),
                Some(body.clone()),
            )
            .await;
        assert_eq!((a.status, field(&a)), (422, want), "{body}: {a}");
    }
    let msgs = |q: &str| {
        let path = format!("/dm/conversations/{conv}/messages{q}");
        let w = &w;
        let juma = &juma;
        async move { w.call(juma, Method::GET, &path, None).await }
    };
    let latest = msgs("?limit=2").await;
    let seqs = |a: &Answer| -> Vec<i64> {
        a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        (seqs(&latest), latest.body["has_more"].as_bool()),
        (vec![5, 4], Some(true)),
        "{latest}"
    );
    assert_eq!(seqs(&msgs("?before=4&limit=10").await), vec![3, 2, 1]);
    assert_eq!(seqs(&msgs("?after=3").await), vec![4, 5]);
    let both = msgs("?after=1&before=3").await;
    assert_eq!((both.status, field(&both)), (422, "after"), "{both}");

    // Unread: five for juma; reading up to 3 leaves two, and the total agrees.
    let conv_view = w
        .call(
            &juma,
            Method::GET,
            &format!("/dm/conversations/{conv}"),
            None,
        )
        .await;
    assert_eq!(conv_view.body["unread"], 5, "{conv_view}");
    let read = w
        .call(
            &juma,
            Method::POST,
            &format!("/dm/conversations/{conv}/read"),
            Some(json!({"seq": 3})),
        )
        .await;
    assert_eq!(
        (read.body["read_seq"].as_i64(), read.body["unread"].as_i64()),
        (Some(3), Some(2)),
        "{read}"
    );
    let back = w
        .call(
            &juma,
            Method::POST,
            &format!("/dm/conversations/{conv}/read"),
            Some(json!({"seq": 1})),
        )
        .await;
    assert_eq!(back.body["read_seq"], 3, "never moves back: {back}");
    let list = w.call(&juma, Method::GET, "/dm/conversations", None).await;
    assert_eq!(list.body["unread_total"], 2, "{list}");
    // Amina sees juma's read pointer (both have receipts on); off, she does not.
    let seen = w
        .call(
            &amina,
            Method::GET,
            &format!("/dm/conversations/{conv}"),
            None,
        )
        .await;
    let juma_card = |a: &Answer| {
        a.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == json!(juma.user_id))
            .cloned()
            .unwrap()
    };
    assert_eq!(juma_card(&seen)["read_seq"], 3, "{seen}");
    let off = w
        .call(
            &juma,
            Method::PUT,
            "/dm/settings",
            Some(json!({"read_receipts": false})),
        )
        .await;
    assert_eq!(off.status, 200, "{off}");
    let unseen = w
        .call(
            &amina,
            Method::GET,
            &format!("/dm/conversations/{conv}"),
            None,
        )
        .await;
    assert_eq!(juma_card(&unseen)["read_seq"], Value::Null, "{unseen}");

    // Edit within the window (only the sender), unsend for everyone, delete for me.
    let m1 = id(&first);
    let by_juma = w
        .call(
            &juma,
            Method::PATCH,
            &format!("/dm/messages/{m1}"),
            Some(json!({"text": "hijack"})),
        )
        .await;
    assert_eq!(by_juma.status, 404, "{by_juma}");
    let edited = w
        .call(
            &amina,
            Method::PATCH,
            &format!("/dm/messages/{m1}"),
            Some(json!({"text": "one (edited)"})),
        )
        .await;
    assert_eq!(
        (edited.status, edited.body["text"].as_str()),
        (200, Some("one (edited)")),
        "{edited}"
    );
    let history = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM dm.message_edits WHERE message_id = $1",
            &[&uuid::Uuid::parse_str(&m1).unwrap()],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(history, 1, "the previous text is kept");
    let unsent = w
        .call(
            &amina,
            Method::DELETE,
            &format!("/dm/messages/{m1}?for=everyone"),
            None,
        )
        .await;
    assert_eq!(unsent.status, 204, "{unsent}");
    let oldest = msgs("?after=0&limit=1").await;
    assert_eq!(
        (
            oldest.body["items"][0]["unsent"].as_bool(),
            oldest.body["items"][0]["text"].clone()
        ),
        (Some(true), Value::Null),
        "{oldest}"
    );
    let hidden = w
        .call(
            &juma,
            Method::DELETE,
            &format!("/dm/messages/{}?for=me", id(&retried)),
            None,
        )
        .await;
    assert_eq!(hidden.status, 204);
    assert_eq!(
        seqs(&msgs("?after=0&limit=1").await),
        vec![2],
        "gone for juma only"
    );
    assert_unread_counters_exact(&w).await;
}

#[tokio::test]
async fn groups_show_history_from_joining_and_strangers_get_404_everywhere() {
    let mut w = world().await;
    let (admin, member, late, stranger) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    let made = w
        .call(
            &admin,
            Method::POST,
            "/dm/conversations",
            Some(json!({"kind": "group", "title": "Wachuuzi", "member_ids": [member.user_id]})),
        )
        .await;
    assert_eq!(
        (made.status, made.body["role"].as_str()),
        (201, Some("admin")),
        "{made}"
    );
    let group = id(&made);
    let untitled = w
        .call(
            &admin,
            Method::POST,
            "/dm/conversations",
            Some(json!({"kind": "group", "member_ids": [member.user_id]})),
        )
        .await;
    assert_eq!(
        (untitled.status, field(&untitled)),
        (422, "title"),
        "{untitled}"
    );
    assert_eq!(
        w.send(&admin, &group, "g-1", "before you came")
            .await
            .status,
        201
    );
    let by_member = w
        .call(
            &member,
            Method::POST,
            &format!("/dm/conversations/{group}/members"),
            Some(json!({"user_ids": [late.user_id]})),
        )
        .await;
    assert_eq!(by_member.status, 403, "{by_member}");
    let added = w
        .call(
            &admin,
            Method::POST,
            &format!("/dm/conversations/{group}/members"),
            Some(json!({"user_ids": [late.user_id]})),
        )
        .await;
    assert_eq!(added.status, 200, "{added}");
    assert_eq!(w.send(&member, &group, "g-2", "welcome").await.status, 201);
    let seen = w
        .call(
            &late,
            Method::GET,
            &format!("/dm/conversations/{group}/messages"),
            None,
        )
        .await;
    let texts: Vec<&str> = seen.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["welcome"], "history from joining only");

    // Sync: a token, then what changed after it.
    let start = w.call(&late, Method::GET, "/dm/sync", None).await;
    let token = start.body["token"].as_str().unwrap().to_string();
    let news = w.send(&admin, &group, "g-3", "news").await;
    let synced = eventually(Duration::from_secs(10), || async {
        let a = w
            .call(&late, Method::GET, &format!("/dm/sync?since={token}"), None)
            .await;
        a.body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["message"]["id"] == json!(id(&news)))
            .then_some(a)
    })
    .await;
    assert!(synced.is_some(), "the new message is in the sync");
    let bad = w
        .call(&late, Method::GET, "/dm/sync?since=yesterday", None)
        .await;
    assert_eq!((bad.status, field(&bad)), (422, "since"), "{bad}");

    // Everyone outside gets 404 on every route that takes the id.
    let message = id(&news);
    for (method, path, body) in [
        (Method::GET, format!("/dm/conversations/{group}"), None),
        (
            Method::GET,
            format!("/dm/conversations/{group}/messages"),
            None,
        ),
        (
            Method::POST,
            format!("/dm/conversations/{group}/messages"),
            Some(json!({"client_id": "s", "text": "hi"})),
        ),
        (
            Method::POST,
            format!("/dm/conversations/{group}/read"),
            Some(json!({"seq": 1})),
        ),
        (
            Method::PATCH,
            format!("/dm/conversations/{group}"),
            Some(json!({"archived": true})),
        ),
        (
            Method::POST,
            format!("/dm/conversations/{group}/accept"),
            None,
        ),
        (
            Method::POST,
            format!("/dm/conversations/{group}/members"),
            Some(json!({"user_ids": [stranger.user_id]})),
        ),
        (Method::DELETE, format!("/dm/conversations/{group}"), None),
        (
            Method::PATCH,
            format!("/dm/messages/{message}"),
            Some(json!({"text": "x"})),
        ),
        (
            Method::DELETE,
            format!("/dm/messages/{message}?for=everyone"),
            None,
        ),
    ] {
        let a = w.call(&stranger, method.clone(), &path, body).await;
        assert_eq!(a.status, 404, "{method} {path}: {a}");
    }

    // The admin leaves: the longest-standing member becomes admin; a removed member is out.
    let left = w
        .call(
            &admin,
            Method::DELETE,
            &format!("/dm/conversations/{group}"),
            None,
        )
        .await;
    assert_eq!(left.status, 204, "{left}");
    let view = w
        .call(
            &member,
            Method::GET,
            &format!("/dm/conversations/{group}"),
            None,
        )
        .await;
    assert_eq!(view.body["role"], "admin", "{view}");
    let removed = w
        .call(
            &member,
            Method::DELETE,
            &format!("/dm/conversations/{group}/members/{}", late.user_id),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{removed}");
    let gone = w.send(&late, &group, "l-1", "still here?").await;
    assert_eq!(gone.status, 404, "{gone}");
    assert_unread_counters_exact(&w).await;
}

#[tokio::test]
async fn a_muted_conversation_sends_no_notification() {
    let mut w = world().await;
    w.app.declare_queues("infra/subscriptions.toml");
    let _notifier = w.app.notifier();
    let (sender, muted, listening) = (w.user().await, w.user().await, w.user().await);
    let group = id(&w
        .call(&sender, Method::POST, "/dm/conversations",
              Some(json!({"kind": "group", "title": "Family", "member_ids": [muted.user_id, listening.user_id]})))
        .await);
    let mute = w
        .call(
            &muted,
            Method::PATCH,
            &format!("/dm/conversations/{group}"),
            Some(json!({"mute_secs": -1})),
        )
        .await;
    assert_eq!(
        (mute.status, mute.body["muted_until"].is_string()),
        (200, true),
        "{mute}"
    );
    assert_eq!(
        w.send(&sender, &group, "m-1", "dinner at 8").await.status,
        201
    );
    // DM notifications are pushes (no in-app row): the notifier's delivery rows say who gets one.
    let notes = nexgate_tests::notify::notifications_db(&w.app).await;
    let pushes = |user: &User| {
        format!(
            "SELECT count(*) FROM notifications.deliveries WHERE user_id = '{}' AND channel = 'push'",
            user.user_id
        )
    };
    let heard = eventually(Duration::from_secs(30), || async {
        (nexgate_tests::notify::count(&notes, &pushes(&listening)).await > 0).then_some(())
    })
    .await;
    assert!(heard.is_some(), "the member who did not mute gets a push");
    let processed = eventually(Duration::from_secs(10), || async {
        let n = nexgate_tests::notify::count(
            &notes,
            "SELECT count(*) FROM notifications.processed_events WHERE event_type = 'dm.message.created'",
        )
        .await;
        (n > 0).then_some(())
    })
    .await;
    assert!(processed.is_some());
    assert_eq!(
        nexgate_tests::notify::count(&notes, &pushes(&muted)).await,
        0,
        "the member who muted it is not in the event's audience"
    );
    let still_counted = w
        .call(
            &muted,
            Method::GET,
            &format!("/dm/conversations/{group}"),
            None,
        )
        .await;
    assert_eq!(
        still_counted.body["unread"], 1,
        "counts still shown: {still_counted}"
    );
}

#[tokio::test]
async fn reactions_and_search_cover_only_what_a_member_may_see() {
    let mut w = world().await;
    let (amina, juma, late, stranger) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    let conv = id(&w.open(&amina, &juma).await);
    let chai = w
        .send(&amina, &conv, "s-1", "Chai ya tangawizi tomorrow?")
        .await;
    assert_eq!(
        w.send(&amina, &conv, "s-2", "and mandazi").await.status,
        201
    );
    let m = id(&chai);
    let react = |who: &User, emoji: Option<&str>| {
        let (w, path) = (&w, format!("/dm/messages/{m}/reaction"));
        let (method, body) = match emoji {
            Some(e) => (Method::PUT, Some(json!({ "emoji": e }))),
            None => (Method::DELETE, None),
        };
        let token = who.access_token.clone();
        async move { call(&w.app, method, &path, body, Some(&token)).await }
    };
    let fire = react(&juma, Some("🔥")).await;
    assert_eq!(
        fire.body["reactions"],
        json!([{"emoji": "🔥", "count": 1}]),
        "{fire}"
    );
    let heart = react(&juma, Some("❤️")).await;
    assert_eq!(
        (
            heart.body["reactions"].clone(),
            heart.body["my_reaction"].clone()
        ),
        (json!([{"emoji": "❤️", "count": 1}]), json!("❤️")),
        "one per member, changeable: {heart}"
    );
    assert_eq!(
        react(&amina, Some("❤️")).await.body["reactions"],
        json!([{"emoji": "❤️", "count": 2}])
    );
    let word = react(&juma, Some("ok")).await;
    assert_eq!((word.status, field(&word)), (422, "emoji"), "{word}");
    assert_eq!(react(&stranger, Some("🔥")).await.status, 404);
    assert_eq!(
        react(&juma, None).await.body["reactions"],
        json!([{"emoji": "❤️", "count": 1}])
    );

    let search = |who: &User, q: &str| {
        let (w, path) = (&w, format!("/dm/search?q={q}"));
        let token = who.access_token.clone();
        async move { call(&w.app, Method::GET, &path, None, Some(&token)).await }
    };
    let found = search(&juma, "tangawizi").await;
    assert_eq!(ids(&found.body["items"]), vec![m.clone()], "{found}");
    assert!(ids(&search(&stranger, "tangawizi").await.body["items"]).is_empty());
    // A group member who joined later does not find what came before.
    let group = id(&w
        .call(
            &amina,
            Method::POST,
            "/dm/conversations",
            Some(json!({"kind": "group", "title": "Chai club", "member_ids": [juma.user_id]})),
        )
        .await);
    assert_eq!(
        w.send(&amina, &group, "g-1", "chai before late joined")
            .await
            .status,
        201
    );
    let added = w
        .call(
            &amina,
            Method::POST,
            &format!("/dm/conversations/{group}/members"),
            Some(json!({"user_ids": [late.user_id]})),
        )
        .await;
    assert_eq!(added.status, 200, "{added}");
    assert!(ids(&search(&late, "chai").await.body["items"]).is_empty());
    assert_eq!(ids(&search(&juma, "chai").await.body["items"]).len(), 2);
    // Deleted for me: no longer found by me.
    let hide = w
        .call(
            &juma,
            Method::DELETE,
            &format!("/dm/messages/{m}?for=me"),
            None,
        )
        .await;
    assert_eq!(hide.status, 204);
    assert_eq!(ids(&search(&juma, "chai").await.body["items"]).len(), 1);
    let empty = search(&juma, "").await;
    assert_eq!((empty.status, field(&empty)), (422, "q"), "{empty}");
    let elsewhere = w
        .call(
            &stranger,
            Method::GET,
            &format!("/dm/search?q=chai&conversation_id={conv}"),
            None,
        )
        .await;
    assert_eq!(elsewhere.status, 404, "{elsewhere}");
    assert_unread_counters_exact(&w).await;
}

async fn upload(w: &World, user: &User, purpose: &str) -> String {
    let resp = w
        .app
        .http
        .post(w.app.url(&format!("/files?purpose={purpose}")))
        .bearer_auth(&user.access_token)
        .header("content-type", "image/jpeg")
        .body(nexgate_tests::files::jpeg(320, 240))
        .send()
        .await
        .unwrap();
    let a = Answer::from_response(resp).await;
    assert_eq!(a.status, 201, "{a}");
    id(&a)
}

#[tokio::test]
async fn media_are_private_to_members_and_cards_are_live() {
    let mut w = world().await;
    let (alice, bob, carol) = (w.user().await, w.user().await, w.user().await);
    let conv = id(&w.open(&alice, &bob).await);
    let path = format!("/dm/conversations/{conv}/messages");
    let photo = upload(&w, &alice, "message").await;
    let carols = upload(&w, &carol, "message").await;
    let public = upload(&w, &alice, "post").await;
    let before = w.call(&bob, Method::GET, "/dm/sync", None).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();

    // Media: the sender's own `message` files only; a message may be media alone.
    let sent = w
        .call(
            &alice,
            Method::POST,
            &path,
            Some(json!({"client_id": "m-1", "media_ids": [photo]})),
        )
        .await;
    assert_eq!(sent.status, 201, "{sent}");
    assert_eq!(sent.body["media"][0]["file_id"], json!(photo), "{sent}");
    for (client, file, why) in [
        ("m-2", &carols, "someone else's"),
        ("m-3", &public, "a post file"),
    ] {
        let refused = w
            .call(
                &alice,
                Method::POST,
                &path,
                Some(json!({"client_id": client, "media_ids": [file]})),
            )
            .await;
        assert_eq!(
            (refused.status, field(&refused)),
            (422, "media_ids[0]"),
            "{why}: {refused}"
        );
    }
    let empty = w
        .call(
            &alice,
            Method::POST,
            &path,
            Some(json!({"client_id": "m-4", "text": " "})),
        )
        .await;
    assert_eq!((empty.status, field(&empty)), (422, "text"), "{empty}");
    // A file not ready yet (an upload started, never finished) is refused too.
    let pending = w
        .call(
            &alice,
            Method::POST,
            "/files/uploads",
            Some(json!({"purpose": "message", "content_type": "video/mp4", "size_bytes": 1000})),
        )
        .await;
    assert_eq!(pending.status, 201, "{pending}");
    let pending = pending.body["file"]["id"].as_str().unwrap().to_string();
    let early = w
        .call(
            &alice,
            Method::POST,
            &path,
            Some(json!({"client_id": "m-6", "media_ids": [pending]})),
        )
        .await;
    assert_eq!(
        (early.status, field(&early)),
        (422, "media_ids[0]"),
        "{early}"
    );
    let many = w
        .call(
            &alice,
            Method::POST,
            &path,
            Some(json!({"client_id": "m-5", "media_ids": vec![photo.clone(); 11]})),
        )
        .await;
    assert_eq!((many.status, field(&many)), (422, "media_ids"), "{many}");

    // Bob reads it through a short-lived signed URL; Carol, outside, gets 404 and nothing.
    let page = w.call(&bob, Method::GET, &path, None).await;
    let media = &page.body["items"][0]["media"][0];
    assert_eq!(
        (media["kind"].as_str(), media["expires_in_secs"].as_u64()),
        (Some("image"), Some(300)),
        "{page}"
    );
    assert!(media.get("owner_id").is_none());
    let url = media["url"].as_str().expect("a signed URL once ready");
    let bytes = w.app.http.get(url).send().await.unwrap();
    assert_eq!(bytes.status(), 200);
    assert!(!bytes.bytes().await.unwrap().is_empty());
    let outside = w.call(&carol, Method::GET, &path, None).await;
    assert_eq!(outside.status, 404, "{outside}");

    // A shared profile card is rendered live: gone for Bob once Carol blocks him.
    let shared = w
        .call(&alice, Method::POST, &path, Some(json!({"client_id": "c-1", "text": "meet carol",
                                                       "card": {"kind": "profile", "id": carol.user_id}})))
        .await;
    assert_eq!(shared.status, 201, "{shared}");
    let card = |a: &Answer| a.body["items"][0]["card"].clone();
    let seen = w.call(&bob, Method::GET, &path, None).await;
    assert_eq!(card(&seen)["username"], json!(carol.username), "{seen}");
    let b = w
        .call(
            &carol,
            Method::POST,
            &format!("/users/{}/block", bob.user_id),
            None,
        )
        .await;
    assert!(b.status == 200 || b.status == 204, "{b}");
    let hidden = w.call(&bob, Method::GET, &path, None).await;
    assert_eq!(
        card(&hidden),
        json!({"kind": "profile", "id": carol.user_id, "unavailable": true})
    );
    for (card, name) in [
        (json!({"kind": "tweet", "id": carol.user_id}), "card.kind"),
        (json!({"kind": "post", "id": carol.user_id}), "card.id"),
    ] {
        let bad = w
            .call(
                &alice,
                Method::POST,
                &path,
                Some(json!({"client_id": format!("c-{name}"), "card": card})),
            )
            .await;
        assert_eq!((bad.status, field(&bad)), (422, name), "{bad}");
    }

    // Sync carries the media ids and the live card, as the gateway does.
    // (A sync token is a transaction boundary: a change shows once every older transaction in the
    // cluster ended, so poll briefly.)
    let messages: Vec<Value> = eventually(Duration::from_secs(10), || async {
        let synced = w
            .call(&bob, Method::GET, &format!("/dm/sync?since={before}"), None)
            .await;
        let messages: Vec<Value> = synced.body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "message")
            .cloned()
            .collect();
        (messages.len() == 2).then_some(messages)
    })
    .await
    .expect("both messages in the sync");
    assert_eq!(messages[0]["message"]["media"], json!([photo]));
    assert_eq!(messages[1]["message"]["card"]["unavailable"], true);

    // Unsent: the media are gone from the message.
    let unsend = w
        .call(
            &alice,
            Method::DELETE,
            &format!("/dm/messages/{}?for=everyone", id(&sent)),
            None,
        )
        .await;
    assert_eq!(unsend.status, 204, "{unsend}");
    let after = w.call(&bob, Method::GET, &path, None).await;
    let first = after.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == sent.body["id"])
        .unwrap()
        .clone();
    assert_eq!(first["media"], json!([]), "{after}");
    assert_unread_counters_exact(&w).await;
}

#[tokio::test]
async fn a_message_request_can_be_reported_once_and_is_declined() {
    let mut w = world().await;
    let (spammer, picky, stranger) = (w.user().await, w.user().await, w.user().await);
    w.policy(&picky, "following").await;
    let conv = id(&w.open(&spammer, &picky).await);
    let sent = w.send(&spammer, &conv, "s-1", "cheap followers!").await;
    assert_eq!(sent.status, 201, "{sent}");
    let report = format!("/dm/conversations/{conv}/report");
    let bad = w
        .call(
            &picky,
            Method::POST,
            &report,
            Some(json!({"reason": "boring"})),
        )
        .await;
    assert_eq!((bad.status, field(&bad)), (422, "reason"), "{bad}");
    let outside = w
        .call(
            &stranger,
            Method::POST,
            &report,
            Some(json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(outside.status, 404, "{outside}");
    let filed = w
        .call(
            &picky,
            Method::POST,
            &report,
            Some(json!({"reason": "spam", "note": "bulk offers"})),
        )
        .await;
    assert_eq!(
        (filed.status, filed.body["declined"].as_bool()),
        (201, Some(true)),
        "{filed}"
    );
    let requests = w.call(&picky, Method::GET, "/dm/requests", None).await;
    assert!(ids(&requests.body["items"]).is_empty(), "{requests}");
    let row = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT reported_id::text, reason FROM dm.reports WHERE conversation_id = $1::text::uuid",
            &[&conv],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        (spammer.user_id.clone(), "spam".to_string())
    );
    // The spammer is not told; the sender of a direct conversation can report once, not twice.
    let again = w.send(&spammer, &conv, "s-2", "hello?").await;
    assert_eq!(again.status, 201, "{again}");
    let first = w
        .call(
            &spammer,
            Method::POST,
            &report,
            Some(json!({"reason": "other"})),
        )
        .await;
    assert_eq!(first.status, 201, "{first}");
    let twice = w
        .call(
            &spammer,
            Method::POST,
            &report,
            Some(json!({"reason": "other"})),
        )
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "already_reported"),
        "{twice}"
    );
}

#[tokio::test]
async fn unread_counts_stay_exact_under_concurrent_sends_reads_unsends_and_deletes() {
    let mut w = world().await;
    let (amina, juma, baraka) = (w.user().await, w.user().await, w.user().await);
    let group = w
        .call(
            &amina,
            Method::POST,
            "/dm/conversations",
            Some(json!({"kind": "group", "title": "sokoni", "member_ids": [juma.user_id, baraka.user_id]})),
        )
        .await;
    assert_eq!(group.status, 201, "{group}");
    let conv = id(&group);
    // Three members each send 20 messages while the others move their read pointers, unsend
    // some of theirs and delete some of the others' for themselves, all at once.
    let users = [&amina, &juma, &baraka];
    let work = users.iter().enumerate().map(|(u, user)| {
        let (w, conv) = (&w, conv.clone());
        async move {
            for n in 0..20 {
                let sent = w
                    .send(user, &conv, &format!("u{u}-{n}"), &format!("m {u} {n}"))
                    .await;
                assert_eq!(sent.status, 201, "{sent}");
                let seq = sent.body["seq"].as_i64().unwrap();
                let read = w
                    .call(
                        user,
                        Method::POST,
                        &format!("/dm/conversations/{conv}/read"),
                        Some(json!({"seq": seq - 1 - (n % 3)})),
                    )
                    .await;
                assert_eq!(read.status, 200, "{read}");
                if n % 5 == 0 {
                    let unsend = w
                        .call(
                            user,
                            Method::DELETE,
                            &format!("/dm/messages/{}?for=everyone", id(&sent)),
                            None,
                        )
                        .await;
                    assert_eq!(unsend.status, 204, "{unsend}");
                }
                if n % 4 == 1 {
                    let page = w
                        .call(
                            user,
                            Method::GET,
                            &format!("/dm/conversations/{conv}/messages?limit=3"),
                            None,
                        )
                        .await;
                    if let Some(other) = page.body["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|m| m["sender_id"] != json!(user.user_id))
                    {
                        let hide = w
                            .call(
                                user,
                                Method::DELETE,
                                &format!("/dm/messages/{}?for=me", other["id"].as_str().unwrap()),
                                None,
                            )
                            .await;
                        assert_eq!(hide.status, 204, "{hide}");
                    }
                }
            }
        }
    });
    futures::future::join_all(work).await;
    assert_unread_counters_exact(&w).await;
    // And what the list says is the counter.
    let list = w.call(&juma, Method::GET, "/dm/conversations", None).await;
    let expected: i64 = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT dm.count_unread($1::text::uuid, $2::text::uuid)::int8",
            &[&conv, &juma.user_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        list.body["items"][0]["unread"].as_i64(),
        Some(expected),
        "{list}"
    );
    assert_eq!(list.body["unread_total"].as_i64(), Some(expected), "{list}");
}
