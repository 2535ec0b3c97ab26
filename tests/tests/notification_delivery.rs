//! The Notification Service end to end: the real host with the `/notifications` component, the
//! real `nexgate-notifier`, RabbitMQ, the `notifications` and core databases, a real SMTP server
//! (aiosmtpd) and the SMS/push gateway simulator (Africa's Talking, FCM HTTP v1 with its OAuth
//! token endpoint). Users are real accounts (verified email from sign-up, a phone verified through
//! the contact-change flow, names from profiles); the events are synthetic envelopes of catalogued
//! types, published the way producers publish them.

use std::future::Future;
use std::time::{Duration, Instant};

use nexgate_tests::auth::{call, sign_up, Answer, User, PASSWORD};
use nexgate_tests::faults::TcpProxy;
use nexgate_tests::notify::{
    count, envelope, notifications_db, Answer as Gw, Bus, GatewaySimulator, SmtpServer,
};
use nexgate_tests::{EventObserver, Manifest, TestApp, Worker};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_postgres::Client;
use uuid::Uuid;

struct Rig {
    app: TestApp,
    bus: Bus,
    db: Client,
    sim: GatewaySimulator,
    smtp: SmtpServer,
    events: EventObserver,
    notifier: Worker,
}

/// The app, the gateways and a notifier using them (fast retries: 200 ms doubling, 4 attempts).
async fn rig() -> Rig {
    rig_with(|_| Vec::new()).await
}

/// [`rig`] with extra notifier environment, made once the app exists.
async fn rig_with(extra: impl FnOnce(&TestApp) -> Vec<(String, String)>) -> Rig {
    let app = TestApp::start(Manifest::App).await;
    app.declare_queues("infra/subscriptions.toml");
    let sim = GatewaySimulator::start().await;
    let smtp = SmtpServer::start().await;
    let mut env = sim.notifier_env();
    env.extend(smtp.notifier_env());
    env.push(("NEXGATE_DELIVERY_BACKOFF_MS".into(), "200".into()));
    env.push(("NEXGATE_DELIVERY_MAX_ATTEMPTS".into(), "4".into()));
    env.push(("NEXGATE_GATEWAY_TIMEOUT_MS".into(), "3000".into()));
    env.extend(extra(&app));
    let notifier = app.notifier_with(&env);
    let events = app.observe_events().await;
    Rig {
        bus: Bus::open(&app).await,
        db: notifications_db(&app).await,
        sim,
        smtp,
        events,
        notifier,
        app,
    }
}

fn uid(u: &User) -> Uuid {
    u.user_id.parse().unwrap()
}

async fn api(app: &TestApp, method: Method, path: &str, body: Option<Value>, who: &User) -> Answer {
    call(app, method, path, body, Some(&who.access_token)).await
}

/// Waits until `check` holds (20 s at most); on timeout the deliveries so far are shown.
async fn until<F, Fut>(db: &Client, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        if start.elapsed() > Duration::from_secs(20) {
            let rows = db
                .query(
                    "SELECT p.event_type, p.outcome, coalesce(p.detail, ''), coalesce(d.channel, ''), coalesce(d.status, ''),
                            coalesce(d.last_error, ''), coalesce(d.address, ''),
                            coalesce(d.attempts::text || ' attempts, due in ' || (d.next_attempt_at - now())::text, '')
                     FROM notifications.processed_events p
                     LEFT JOIN notifications.deliveries d ON d.event_id = p.event_id ORDER BY p.processed_at",
                    &[],
                )
                .await
                .unwrap();
            let lines: Vec<String> = rows
                .iter()
                .map(|r| {
                    (0..8)
                        .map(|i| r.get::<_, String>(i))
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .collect();
            panic!(
                "timed out waiting for {what}; so far:\n{}",
                lines.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (channel, status, last_error) of every delivery one event caused, channel order.
async fn deliveries(db: &Client, event: &Value) -> Vec<(String, String, Option<String>)> {
    let id: Uuid = event["id"].as_str().unwrap().parse().unwrap();
    db.query(
        "SELECT channel, status, last_error FROM notifications.deliveries WHERE event_id = $1 ORDER BY channel, address",
        &[&id],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// "channel:status" of every delivery one event caused.
async fn channel_statuses(db: &Client, event: &Value) -> Vec<String> {
    deliveries(db, event)
        .await
        .into_iter()
        .map(|(c, s, _)| format!("{c}:{s}"))
        .collect()
}

async fn processed(db: &Client, event: &Value) -> bool {
    let id: Uuid = event["id"].as_str().unwrap().parse().unwrap();
    count(
        db,
        &format!("SELECT count(*) FROM notifications.processed_events WHERE event_id = '{id}'"),
    )
    .await
        == 1
}

/// Publishes and waits until the notifier committed its effects.
async fn publish(r: &Rig, e: &Value) {
    r.bus.publish(e).await;
    until(&r.db, "the notifier to process the event", || {
        processed(&r.db, e)
    })
    .await;
}

/// Gives `user` a verified phone through the contact-change flow.
async fn add_phone(r: &mut Rig, user: &User, phone: &str) {
    let started = api(
        &r.app,
        Method::POST,
        "/auth/contact/change",
        Some(json!({"phone": phone, "current_password": PASSWORD})),
        user,
    )
    .await;
    assert_eq!(started.status, 202, "{started}");
    // The user reads the code from the SMS (on the bus it is sealed to the notifier).
    until(&r.db, "the code SMS", || async {
        r.sim.sms().iter().any(|s| s.to == phone)
    })
    .await;
    let sms = r.sim.sms().into_iter().find(|s| s.to == phone).unwrap();
    let code = nexgate_tests::auth::digits_in(&sms.message, 6);
    let done = api(
        &r.app,
        Method::POST,
        "/auth/contact/verify",
        Some(json!({"change_id": started.body["change_id"], "code": code})),
        user,
    )
    .await;
    assert_eq!(done.status, 200, "{done}");
    // The code went out by SMS, and the notifier saw the change (its address cache is refreshed).
    until(&r.db, "the code SMS", || async {
        r.sim
            .sms()
            .iter()
            .any(|s| s.to == phone && s.message.contains(&code))
    })
    .await;
    until(&r.db, "the contact change to reach the notifier", || async {
        count(
            &r.db,
            &format!(
                "SELECT count(*) FROM notifications.processed_events p JOIN notifications.items i ON i.event_id = p.event_id
                 WHERE p.event_type = 'auth.contact.changed' AND i.user_id = '{}'",
                user.user_id
            ),
        )
        .await
            > 0
    })
    .await;
}

/// SMS sent to `to` other than verification codes.
fn sms_to(r: &Rig, to: &str) -> Vec<nexgate_tests::notify::Sms> {
    r.sim
        .sms()
        .into_iter()
        .filter(|s| s.to == to && !s.message.starts_with("Your Nexgate code"))
        .collect()
}

/// Waits until the sign-up's welcome notification went out (so later preferences do not race it).
async fn welcomed(r: &Rig, user: &User) {
    until(&r.db, "the welcome email", || async {
        r.smtp
            .messages()
            .iter()
            .any(|m| m.to == user.email && m.subject == "Welcome to Nexgate")
    })
    .await;
}

async fn register_device(r: &Rig, user: &User, device: &str, token: &str) {
    let a = api(
        &r.app,
        Method::PUT,
        &format!("/notifications/devices/{device}"),
        Some(json!({"platform": "android", "token": token})),
        user,
    )
    .await;
    assert!(a.status == 201 || a.status == 200, "{a}");
}

async fn set_preferences(r: &Rig, user: &User, prefs: Value) -> Answer {
    api(
        &r.app,
        Method::PUT,
        "/notifications/preferences",
        Some(prefs),
        user,
    )
    .await
}

async fn set_name(app: &TestApp, user: &User, name: &str) {
    let a = api(
        app,
        Method::PATCH,
        "/users/me",
        Some(json!({"display_name": name})),
        user,
    )
    .await;
    assert_eq!(a.status, 200, "{a}");
}

fn liked(post: Uuid, author: Uuid, liker: Uuid) -> Value {
    envelope(
        "social.post.liked",
        Some(liker),
        &[author],
        json!({"post_id": post, "author_id": author, "liker_id": liker}),
    )
}

fn payment_failed(payer: Uuid) -> Value {
    envelope(
        "payments.payment.failed",
        None,
        &[payer],
        json!({"intent_id": Uuid::now_v7(), "payable_id": Uuid::now_v7(), "payer_id": payer,
               "owner_service": "commerce", "reference": "ORD-1", "amount": 150000, "currency": "KES",
               "code": "1032", "reason": "You cancelled the M-Pesa request."}),
    )
}

fn order_placed(buyer: Uuid, n: usize) -> Value {
    envelope(
        "commerce.order.placed",
        None,
        &[buyer],
        json!({"order_id": format!("ORD-{n}"), "buyer_id": buyer, "seller_id": Uuid::now_v7(),
               "shop_id": Uuid::now_v7(), "total": 250000, "currency": "KES"}),
    )
}

#[tokio::test]
async fn the_centre_groups_with_names_counts_pages_and_marks() {
    let mut r = rig().await;
    let author = sign_up(&r.app, &mut r.events).await;
    welcomed(&r, &author).await;
    let cleared = api(
        &r.app,
        Method::POST,
        "/notifications/read",
        Some(json!({"all": true})),
        &author,
    )
    .await;
    assert_eq!(cleared.body["marked"], 1, "the welcome: {cleared}");
    let mut likers = Vec::new();
    for name in ["Baraka", "Chausiku", "Daudi", "Eshe", "Amina"] {
        let u = sign_up(&r.app, &mut r.events).await;
        set_name(&r.app, &u, name).await;
        likers.push(u);
    }
    let post = Uuid::now_v7();
    for l in &likers {
        publish(&r, &liked(post, uid(&author), uid(l))).await;
    }
    let follower = sign_up(&r.app, &mut r.events).await;
    set_name(&r.app, &follower, "Fumo").await;
    publish(
        &r,
        &envelope(
            "profiles.follow.created",
            Some(uid(&follower)),
            &[uid(&author)],
            json!({"follower_id": uid(&follower), "followee_id": uid(&author)}),
        ),
    )
    .await;

    let page = api(&r.app, Method::GET, "/notifications", None, &author).await;
    assert_eq!(page.status, 200, "{page}");
    let items = page.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{page}");
    assert_eq!(
        (items[2]["type"].as_str(), items[2]["read"].as_bool()),
        (Some("auth.account.created"), Some(true))
    );
    assert_eq!(items[0]["summary"], "Fumo started following you");
    let likes = &items[1];
    assert_eq!(likes["summary"], "Amina and 4 others liked your post");
    assert_eq!(likes["actor_count"], 5);
    let shown: Vec<&str> = likes["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        shown,
        ["Amina", "Eshe", "Daudi"],
        "newest first, three shown"
    );
    assert_eq!(page.body["unread_count"], 2);
    assert_eq!(page.body["unseen_count"], 2);

    // Pages: two, then the rest; a forged cursor is a 422 naming it.
    let first = api(&r.app, Method::GET, "/notifications?limit=2", None, &author).await;
    assert_eq!(first.body["items"][1]["id"], likes["id"]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = api(
        &r.app,
        Method::GET,
        &format!("/notifications?limit=2&cursor={cursor}"),
        None,
        &author,
    )
    .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(second.body["items"][0]["id"], items[2]["id"]);
    assert!(second.body["next_cursor"].is_null());
    let forged = api(
        &r.app,
        Method::GET,
        "/notifications?cursor=abc",
        None,
        &author,
    )
    .await;
    assert_eq!(forged.status, 422);
    assert_eq!(forged.body["errors"][0]["field"], "cursor");
    // A cursor that decodes but carries no time (it used to reach the SQL cast: a 500).
    let no_time = {
        use base64::Engine;
        let json = json!(["not-a-time", Uuid::now_v7()]).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    };
    for path in [
        format!("/notifications?cursor={no_time}"),
        format!("/payments/transactions?cursor={no_time}"),
    ] {
        let a = api(&r.app, Method::GET, &path, None, &author).await;
        assert_eq!(
            (a.status, a.body["errors"][0]["field"].as_str()),
            (422, Some("cursor")),
            "{path}: {a}"
        );
    }

    // Seen clears the badge, not the unread state.
    let seen = api(
        &r.app,
        Method::POST,
        "/notifications/seen",
        Some(json!({"all": true})),
        &author,
    )
    .await;
    assert_eq!(
        (
            seen.body["marked"].as_u64(),
            seen.body["unseen_count"].as_u64()
        ),
        (Some(2), Some(0)),
        "{seen}"
    );
    let count = api(
        &r.app,
        Method::GET,
        "/notifications/unread-count",
        None,
        &author,
    )
    .await;
    assert_eq!(count.body, json!({"unread_count": 2, "unseen_count": 0}));

    // Someone else cannot read mine; a bad selection is a 400; one read, then the group, then all.
    let other = &likers[0];
    let theirs = api(
        &r.app,
        Method::POST,
        &format!("/notifications/{}/read", likes["id"].as_str().unwrap()),
        None,
        other,
    )
    .await;
    assert_eq!(theirs.status, 404);
    let both = api(
        &r.app,
        Method::POST,
        "/notifications/read",
        Some(json!({"all": true, "ids": []})),
        &author,
    )
    .await;
    assert_eq!(both.status, 400, "{both}");
    let bad_id = api(
        &r.app,
        Method::POST,
        "/notifications/read",
        Some(json!({"ids": ["nope"]})),
        &author,
    )
    .await;
    assert_eq!(
        (bad_id.status, bad_id.body["errors"][0]["field"].as_str()),
        (422, Some("ids[0]")),
        "{bad_id}"
    );
    let one = api(
        &r.app,
        Method::POST,
        &format!("/notifications/{}/read", items[0]["id"].as_str().unwrap()),
        None,
        &author,
    )
    .await;
    assert_eq!(one.status, 204);
    let group = api(
        &r.app,
        Method::POST,
        "/notifications/read",
        Some(json!({"group_key": likes["group_key"]})),
        &author,
    )
    .await;
    assert_eq!(group.body["marked"], 1, "{group}");
    assert_eq!(group.body["unread_count"], 0);

    // A like after the group was read starts a new group.
    publish(&r, &liked(post, uid(&author), uid(&likers[1]))).await;
    let after = api(&r.app, Method::GET, "/notifications", None, &author).await;
    assert_eq!(after.body["items"].as_array().unwrap().len(), 4);
    assert_eq!(
        after.body["items"][0]["summary"],
        "Chausiku liked your post"
    );
    let all = api(
        &r.app,
        Method::POST,
        "/notifications/read",
        Some(json!({"all": true})),
        &author,
    )
    .await;
    assert_eq!(
        (
            all.body["marked"].as_u64(),
            all.body["unread_count"].as_u64()
        ),
        (Some(1), Some(0))
    );
    // No token, no centre.
    let anonymous = call(&r.app, Method::GET, "/notifications", None, None).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn preferences_validate_merge_and_refuse_without_changing_anything() {
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    let defaults = api(
        &r.app,
        Method::GET,
        "/notifications/preferences",
        None,
        &user,
    )
    .await;
    assert_eq!(defaults.status, 200);
    assert_eq!(
        (
            defaults.body["push"].as_str(),
            defaults.body["email"].as_str(),
            defaults.body["sms"].as_str()
        ),
        (Some("all"), Some("all"), Some("critical"))
    );
    assert!(defaults.body["quiet_hours"].is_null());
    let available = defaults.body["available_types"].as_array().unwrap();
    assert!(available
        .iter()
        .any(|t| t["type"] == "payments.payment.failed" && t["can_switch_off"] == false));
    assert!(
        !available
            .iter()
            .any(|t| t["type"] == "auth.verification_code.issued"),
        "secrets are not preferences"
    );

    let set = set_preferences(&r, &user, json!({"push": "important", "quiet_hours": {"start": "22:00", "end": "07:00"},
        "time_zone": "Africa/Nairobi", "types": {"social.post.liked": {"push": false, "in_app": true}}})).await;
    assert_eq!(set.status, 200, "{set}");
    let more = set_preferences(&r, &user, json!({"email": "weekly"})).await;
    assert_eq!(more.body["push"], "important", "fields not named stay");
    assert_eq!(more.body["email"], "weekly");
    assert_eq!(
        more.body["quiet_hours"],
        json!({"start": "22:00", "end": "07:00"})
    );
    assert_eq!(
        more.body["types"]["social.post.liked"],
        json!({"in_app": true, "push": false})
    );

    for (doc, field) in [
        (json!({"push": "loud"}), "push"),
        (json!({"email": "hourly"}), "email"),
        (json!({"sms": "all"}), "sms"),
        (json!({"time_zone": "Mars/Olympus_Mons"}), "time_zone"),
        (
            json!({"quiet_hours": {"start": "7pm", "end": "07:00"}}),
            "quiet_hours.start",
        ),
        (
            json!({"types": {"payments.payment.failed": {"sms": false}}}),
            "types.payments.payment.failed",
        ),
        (
            json!({"types": {"social.post.liked": {"fax": false}}}),
            "types.social.post.liked.fax",
        ),
        (json!({"push": "none", "colour": "blue"}), "colour"),
    ] {
        let refused = set_preferences(&r, &user, doc.clone()).await;
        assert_eq!(refused.status, 422, "{doc}: {refused}");
        assert_eq!(refused.body["errors"][0]["field"], field, "{doc}");
    }
    let unchanged = api(
        &r.app,
        Method::GET,
        "/notifications/preferences",
        None,
        &user,
    )
    .await;
    assert_eq!(
        unchanged.body["push"], "important",
        "a refused document changed nothing"
    );
    let cleared = set_preferences(&r, &user, json!({"quiet_hours": null})).await;
    assert!(cleared.body["quiet_hours"].is_null());
}

#[tokio::test]
async fn devices_register_replace_move_and_remove() {
    let mut r = rig().await;
    let a = sign_up(&r.app, &mut r.events).await;
    let b = sign_up(&r.app, &mut r.events).await;
    let put = |who: &User, device: &str, body: Value| {
        let (app, token, path) = (
            &r.app,
            who.access_token.clone(),
            format!("/notifications/devices/{device}"),
        );
        async move { call(app, Method::PUT, &path, Some(body), Some(&token)).await }
    };
    let first = put(
        &a,
        "pixel-7",
        json!({"platform": "android", "token": "tok-a"}),
    )
    .await;
    assert_eq!(first.status, 201, "{first}");
    let again = put(
        &a,
        "pixel-7",
        json!({"platform": "android", "token": "tok-a2"}),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        put(&a, "bad id!", json!({"platform": "android", "token": "t"}))
            .await
            .status,
        422
    );
    let bad = put(&a, "x", json!({"platform": "symbian", "token": "t"})).await;
    assert_eq!(bad.body["errors"][0]["field"], "platform");
    // A token held by an account still signed in on that device is not taken from it.
    let on_phone = nexgate_tests::auth::log_in(&r.app, &a.email, PASSWORD, "a-phone").await;
    let phone_token = on_phone.body["access_token"].as_str().unwrap().to_string();
    let put_with = |token: String, device: &'static str, push: &'static str| {
        let app = &r.app;
        async move {
            let path = format!("/notifications/devices/{device}");
            let body = json!({"platform": "android", "token": push});
            call(app, Method::PUT, &path, Some(body), Some(&token)).await
        }
    };
    assert_eq!(
        put_with(phone_token.clone(), "a-phone", "tok-live")
            .await
            .status,
        201
    );
    let taken = put_with(b.access_token.clone(), "b-phone", "tok-live").await;
    assert_eq!(
        (taken.status, taken.code()),
        (409, "push_token_in_use"),
        "{taken}"
    );
    // Signed out there, the token is free to move (a phone handed on, a new account on it).
    let out = call(
        &r.app,
        Method::POST,
        "/auth/logout",
        None,
        Some(&phone_token),
    )
    .await;
    assert_eq!(out.status, 204, "{out}");
    assert_eq!(
        put_with(b.access_token.clone(), "b-phone", "tok-live")
            .await
            .status,
        201
    );
    let gone = api(
        &r.app,
        Method::DELETE,
        "/notifications/devices/b-phone",
        None,
        &b,
    )
    .await;
    assert_eq!(gone.status, 204);
    // The same token registered by another account's device moves there (no session of the
    // first account on "pixel-7").
    assert_eq!(
        put(&b, "iphone", json!({"platform": "ios", "token": "tok-a2"}))
            .await
            .status,
        201
    );
    let mine = api(&r.app, Method::GET, "/notifications/devices", None, &a).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 0, "{mine}");
    let theirs = api(&r.app, Method::GET, "/notifications/devices", None, &b).await;
    assert_eq!(theirs.body["items"][0]["device_id"], "iphone");
    assert!(
        theirs.body["items"][0].get("token").is_none(),
        "tokens are not echoed"
    );
    assert_eq!(
        api(
            &r.app,
            Method::DELETE,
            "/notifications/devices/iphone",
            None,
            &b
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api(
            &r.app,
            Method::DELETE,
            "/notifications/devices/iphone",
            None,
            &b
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn each_channel_goes_out_as_the_preferences_say() {
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    add_phone(&mut r, &user, "+254712000111").await;
    register_device(&r, &user, "pixel", "fcm-token-pixel").await;
    let me = uid(&user);

    // Critical, default preferences: in-app, push and SMS.
    let failed = payment_failed(me);
    publish(&r, &failed).await;
    until(&r.db, "push and SMS of the failed payment", || async {
        deliveries(&r.db, &failed)
            .await
            .iter()
            .all(|(_, s, _)| s == "sent" || s == "delivered")
    })
    .await;
    assert_eq!(
        channel_statuses(&r.db, &failed).await,
        ["in_app:delivered", "push:sent", "sms:sent"]
    );
    let push = r
        .sim
        .pushes()
        .into_iter()
        .find(|p| p.title == "Payment failed")
        .unwrap();
    assert_eq!(push.token, "fcm-token-pixel");
    assert_eq!(push.body, "You cancelled the M-Pesa request.");
    assert_eq!(push.data["type"], "payments.payment.failed");
    let sms = sms_to(&r, "+254712000111").pop().unwrap();
    assert_eq!(
        (sms.message.as_str(), sms.from.as_deref()),
        ("You cancelled the M-Pesa request.", Some("NEXGATE"))
    );

    // Important with email: push and an email to the verified address.
    let order = order_placed(me, 1);
    publish(&r, &order).await;
    until(&r.db, "the order email", || async {
        r.smtp
            .messages()
            .iter()
            .any(|m| m.subject == "Order placed" && m.to == user.email)
    })
    .await;
    // The gateway answered before the notifier recorded it: wait for the record.
    until(&r.db, "the order's deliveries recorded as sent", || async {
        channel_statuses(&r.db, &order).await == ["email:sent", "in_app:delivered", "push:sent"]
    })
    .await;
    let mail = r
        .smtp
        .messages()
        .into_iter()
        .find(|m| m.subject == "Order placed")
        .unwrap();
    assert_eq!(mail.body, "Order ORD-1 was placed.");

    // Push important-only, SMS off, email off, likes switched off in-app.
    let set = set_preferences(
        &r,
        &user,
        json!({"push": "important", "sms": "none", "email": "none",
        "types": {"social.comment.created": {"in_app": false}}}),
    )
    .await;
    assert_eq!(set.status, 200, "{set}");
    let like = liked(Uuid::now_v7(), me, Uuid::now_v7());
    publish(&r, &like).await;
    assert_eq!(
        deliveries(&r.db, &like).await,
        [
            ("in_app".into(), "delivered".into(), None),
            (
                "push".into(),
                "skipped_by_preference".into(),
                Some("push is for important notifications only".into())
            )
        ]
    );
    let comment = envelope(
        "social.comment.created",
        Some(Uuid::now_v7()),
        &[me],
        json!({"comment_id": Uuid::now_v7(), "post_id": Uuid::now_v7(), "author_id": me, "commenter_id": Uuid::now_v7(), "preview": "nice"}),
    );
    publish(&r, &comment).await;
    assert_eq!(
        deliveries(&r.db, &comment).await[0].1,
        "skipped_by_preference",
        "in-app switched off for comments"
    );
    let payout = envelope(
        "payments.payout.failed",
        None,
        &[me],
        json!({"payout_id": Uuid::now_v7(), "user_id": me, "amount": 5000, "currency": "KES", "code": "2001", "reason": "Wrong number"}),
    );
    publish(&r, &payout).await;
    until(&r.db, "the payout push", || async {
        deliveries(&r.db, &payout)
            .await
            .iter()
            .any(|(c, s, _)| c == "push" && s == "sent")
    })
    .await;
    let d = deliveries(&r.db, &payout).await;
    assert!(
        d.contains(&(
            "sms".into(),
            "skipped_by_preference".into(),
            Some("SMS is off".into())
        )),
        "{d:?}"
    );
    let order2 = order_placed(me, 2);
    publish(&r, &order2).await;
    assert!(deliveries(&r.db, &order2).await.contains(&(
        "email".into(),
        "skipped_by_preference".into(),
        Some("email is off".into())
    )));
    assert_eq!(
        sms_to(&r, "+254712000111").len(),
        1,
        "no SMS after SMS was switched off"
    );
    assert!(r.sim.refusals().is_empty(), "{:?}", r.sim.refusals());
    assert_eq!(r.sim.tokens_issued(), 1, "the FCM access token is cached");
}

#[tokio::test]
async fn quiet_hours_hold_a_like_but_let_a_payment_failure_through() {
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    add_phone(&mut r, &user, "+255754000222").await;
    register_device(&r, &user, "tab", "fcm-token-tab").await;
    register_device(&r, &user, "old-phone", "fcm-token-old").await;
    let me = uid(&user);
    // A quiet window around now, in Dar es Salaam's time (UTC+3).
    let now = chrono_now_minutes() + 180;
    let clock = |m: i64| {
        format!(
            "{:02}:{:02}",
            m.rem_euclid(1440) / 60,
            m.rem_euclid(1440) % 60
        )
    };
    let set = set_preferences(
        &r,
        &user,
        json!({"time_zone": "Africa/Dar_es_Salaam",
        "quiet_hours": {"start": clock(now - 60), "end": clock(now + 60)}}),
    )
    .await;
    assert_eq!(set.status, 200, "{set}");

    let like = liked(Uuid::now_v7(), me, Uuid::now_v7());
    publish(&r, &like).await;
    let failed = payment_failed(me);
    publish(&r, &failed).await;
    until(&r.db, "the payment failure's push", || async {
        r.sim.pushes().iter().any(|p| p.title == "Payment failed")
    })
    .await;
    until(&r.db, "its SMS", || async {
        sms_to(&r, "+255754000222").len() == 1
    })
    .await;
    let held = deliveries(&r.db, &like).await;
    assert_eq!(
        held,
        [
            ("in_app".into(), "delivered".into(), None),
            ("push".into(), "held".into(), None),
            ("push".into(), "held".into(), None)
        ],
        "the in-app copy at once, the pushes held"
    );
    let (reason, wait_secs): (String, f64) = r
        .db
        .query_one(
            "SELECT hold_reason, extract(epoch FROM next_attempt_at - now())::float8 FROM notifications.deliveries WHERE channel = 'push' AND status = 'held' LIMIT 1",
            &[],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .unwrap();
    assert_eq!(reason, "quiet_hours");
    assert!(
        (3000.0..=3700.0).contains(&wait_secs),
        "held until the window ends: {wait_secs}s"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !r.sim.pushes().iter().any(|p| p.title == "New like"),
        "nothing during quiet hours"
    );
    // One device is removed meanwhile; then the window ends (moved to now): the like goes out to
    // the other.
    let removed = api(
        &r.app,
        Method::DELETE,
        "/notifications/devices/old-phone",
        None,
        &user,
    )
    .await;
    assert_eq!(removed.status, 204);
    r.db.execute(
        "UPDATE notifications.deliveries SET next_attempt_at = now() WHERE status = 'held'",
        &[],
    )
    .await
    .unwrap();
    until(&r.db, "the held push after the window", || async {
        r.sim.pushes().iter().any(|p| p.title == "New like")
    })
    .await;
    until(&r.db, "the removed device's push to be skipped", || async {
        deliveries(&r.db, &like).await.contains(&(
            "push".into(),
            "skipped".into(),
            Some("the device was removed".into()),
        ))
    })
    .await;
    let likes: Vec<_> = r
        .sim
        .pushes()
        .into_iter()
        .filter(|p| p.title == "New like")
        .collect();
    assert_eq!(likes.len(), 1);
    assert_eq!(likes[0].token, "fcm-token-tab");
}

fn chrono_now_minutes() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (secs % 86_400) / 60
}

#[tokio::test]
async fn a_daily_digest_collects_the_emails_into_one_and_critical_ones_bypass_it() {
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    welcomed(&r, &user).await;
    let me = uid(&user);
    assert_eq!(
        set_preferences(&r, &user, json!({"email": "daily"}))
            .await
            .status,
        200
    );
    let orders: Vec<Value> = (1..=3).map(|n| order_placed(me, n)).collect();
    for o in &orders {
        publish(&r, o).await;
    }
    let paid = envelope(
        "payments.payment.succeeded",
        None,
        &[me],
        json!({"intent_id": Uuid::now_v7(), "payable_id": Uuid::now_v7(), "payer_id": me, "payee_id": Uuid::now_v7(),
               "owner_service": "commerce", "reference": "ORD-9", "purpose": "order", "amount": 1000, "currency": "KES",
               "receipt_number": "SJ12ABC"}),
    );
    publish(&r, &paid).await;
    until(&r.db, "the payment email", || async {
        r.smtp
            .messages()
            .iter()
            .any(|m| m.subject == "Payment successful")
    })
    .await;
    let held: Vec<(String, f64)> = r
        .db
        .query(
            "SELECT hold_reason, extract(epoch FROM next_attempt_at)::float8 FROM notifications.deliveries WHERE channel = 'email' AND status = 'held'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(held.len(), 3, "{held:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for (reason, at) in &held {
        assert_eq!(reason, "digest_daily");
        assert_eq!(
            (*at as i64).rem_euclid(86_400),
            8 * 3600,
            "08:00 in the user's zone (UTC)"
        );
        assert!(*at > now && *at <= now + 86_400.0);
    }
    assert!(!r
        .smtp
        .messages()
        .iter()
        .any(|m| m.subject == "Order placed"));
    // The digest hour comes (moved to now).
    r.db.execute("UPDATE notifications.deliveries SET next_attempt_at = now() - interval '1 second' WHERE status = 'held'", &[])
        .await
        .unwrap();
    until(&r.db, "the digest email", || async {
        r.smtp
            .messages()
            .iter()
            .any(|m| m.subject.contains("digest"))
    })
    .await;
    let digests: Vec<_> = r
        .smtp
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains("digest"))
        .collect();
    assert_eq!(digests.len(), 1);
    assert_eq!(
        digests[0].subject,
        "Your Nexgate daily digest: 3 notifications"
    );
    assert_eq!(digests[0].to, user.email);
    for n in 1..=3 {
        assert!(
            digests[0]
                .body
                .contains(&format!("- Order placed: Order ORD-{n} was placed.")),
            "{}",
            digests[0].body
        );
    }
    assert_eq!(
        count(
            &r.db,
            "SELECT count(*) FROM notifications.deliveries WHERE status = 'digested'"
        )
        .await,
        3
    );
    assert_eq!(count(&r.db, "SELECT count(DISTINCT digest_id) FROM notifications.deliveries WHERE status = 'digested'").await, 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        r.smtp
            .messages()
            .iter()
            .filter(|m| m.subject.contains("digest"))
            .count(),
        1,
        "one email per period"
    );
}

#[tokio::test]
async fn transient_failures_retry_with_backoff_permanent_ones_do_not_and_dead_tokens_are_dropped() {
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    add_phone(&mut r, &user, "+254700000999").await;
    for (device, token) in [
        ("a", "tok-flaky"),
        ("b", "tok-gone"),
        ("c", "tok-down"),
        ("d", "tok-bad"),
    ] {
        register_device(&r, &user, device, token).await;
    }
    r.sim.plan("tok-flaky", vec![Gw::Http(503), Gw::Http(503)]);
    r.sim.plan("tok-gone", vec![Gw::Unregistered]);
    r.sim.plan("tok-down", vec![Gw::Http(503); 10]);
    r.sim.plan("tok-bad", vec![Gw::Http(400)]);
    r.sim.plan("+254700000999", vec![Gw::AtStatus(403)]);
    let failed = payment_failed(uid(&user));
    publish(&r, &failed).await;
    until(&r.db, "every delivery to finish", || async {
        deliveries(&r.db, &failed)
            .await
            .iter()
            .all(|(_, s, _)| s != "queued")
    })
    .await;
    let by_token = |t: &str| {
        r.sim
            .pushes()
            .into_iter()
            .filter(|p| p.token == t)
            .collect::<Vec<_>>()
    };
    let flaky = by_token("tok-flaky");
    assert_eq!(
        flaky
            .iter()
            .map(|p| p.answered.as_str())
            .collect::<Vec<_>>(),
        ["http_503", "http_503", "sent"]
    );
    // Backoff: base 200 ms doubling, half of it jittered: ≥100 ms, then ≥200 ms.
    let gaps: Vec<u128> = flaky
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis())
        .collect();
    assert!(gaps[0] >= 100 && gaps[1] >= 200, "{gaps:?}");
    assert_eq!(by_token("tok-gone").len(), 1, "a dead token is not retried");
    assert_eq!(by_token("tok-bad").len(), 1, "a 4xx is not retried");
    assert_eq!(by_token("tok-down").len(), 4, "retried up to the bound");
    assert_eq!(
        sms_to(&r, "+254700000999").len(),
        1,
        "an invalid number is not retried"
    );

    let rows: Vec<(String, String, i32, Vec<String>)> = r
        .db
        .query(
            "SELECT coalesce(d.address, ''), d.status, d.attempts,
                    coalesce(array_agg(a.outcome ORDER BY a.attempt) FILTER (WHERE a.outcome IS NOT NULL), '{}')
             FROM notifications.deliveries d LEFT JOIN notifications.delivery_attempts a ON a.delivery_id = d.id
             WHERE d.channel <> 'in_app' AND d.event_id = $1 GROUP BY d.id ORDER BY d.address",
            &[&failed["id"].as_str().unwrap().parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rows,
        [
            (
                "+254700000999".into(),
                "failed".into(),
                1,
                s(&["permanent"])
            ),
            (
                "a".into(),
                "sent".into(),
                3,
                s(&["transient", "transient", "sent"])
            ),
            ("b".into(), "failed".into(), 1, s(&["dead_token"])),
            (
                "c".into(),
                "dead".into(),
                4,
                s(&["transient", "transient", "transient", "transient"])
            ),
            ("d".into(), "failed".into(), 1, s(&["permanent"])),
        ]
    );
    let devices = api(&r.app, Method::GET, "/notifications/devices", None, &user).await;
    let ids: Vec<&str> = devices.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "c", "d"], "the dead token was dropped");
    assert!(r.sim.refusals().is_empty(), "{:?}", r.sim.refusals());
}

#[tokio::test]
async fn one_time_secrets_go_to_the_named_address_whatever_the_preferences_and_are_erased_once_sent(
) {
    let mut r = rig().await;
    // Signing up sent a real code by email (the auth service's event, the notifier's SMTP).
    let user = sign_up(&r.app, &mut r.events).await;
    until(&r.db, "the sign-up code email", || async {
        r.smtp
            .messages()
            .iter()
            .any(|m| m.to == user.email && m.subject == "Your Nexgate code")
    })
    .await;
    let mail = r
        .smtp
        .messages()
        .into_iter()
        .find(|m| m.to == user.email && m.subject == "Your Nexgate code")
        .unwrap();
    assert!(
        mail.body.starts_with("Your Nexgate code is "),
        "{}",
        mail.body
    );
    let all_day = json!({"email": "none", "sms": "none", "push": "none", "quiet_hours": {"start": "00:00", "end": "23:59"}});
    assert_eq!(set_preferences(&r, &user, all_day).await.status, 200);
    let reset = envelope(
        "auth.password_reset.requested",
        None,
        &[uid(&user)],
        json!({"channel": "email", "address": user.email, "token": "t0k3n", "link": "https://nexgate.app/reset-password?token=t0k3n",
               "expires_at": "2026-12-01T00:00:00Z"}),
    );
    publish(&r, &reset).await;
    let code = envelope(
        "auth.verification_code.issued",
        None,
        &[],
        json!({"purpose": "contact_change", "channel": "phone", "address": "+255713000444", "code": "482913",
               "expires_at": "2026-12-01T00:00:00Z"}),
    );
    publish(&r, &code).await;
    until(&r.db, "the reset email and the code SMS", || async {
        r.smtp
            .messages()
            .iter()
            .any(|m| m.subject == "Reset your password")
            && !r.sim.sms().is_empty()
    })
    .await;
    let reset_mail = r
        .smtp
        .messages()
        .into_iter()
        .find(|m| m.subject == "Reset your password")
        .unwrap();
    assert!(reset_mail
        .body
        .contains("https://nexgate.app/reset-password?token=t0k3n"));
    assert_eq!(r.sim.sms()[0].to, "+255713000444");
    assert!(r.sim.sms()[0].message.contains("482913"));
    until(&r.db, "both marked sent", || async {
        deliveries(&r.db, &reset).await == [("email".into(), "sent".into(), None)]
            && deliveries(&r.db, &code).await == [("sms".into(), "sent".into(), None)]
    })
    .await;
    assert_eq!(
        count(&r.db, "SELECT count(*) FROM notifications.deliveries WHERE status = 'sent' AND message::text LIKE '%482913%'").await,
        0,
        "the secret is erased once delivered"
    );
    assert_eq!(
        count(&r.db, "SELECT count(*) FROM notifications.items WHERE event_type IN ('auth.password_reset.requested', 'auth.verification_code.issued')").await,
        0,
        "no in-app copy of a secret"
    );
}

#[tokio::test]
async fn mutes_and_blocks_silence_others_but_never_critical_notifications() {
    let mut r = rig().await;
    let me = sign_up(&r.app, &mut r.events).await;
    let muted = sign_up(&r.app, &mut r.events).await;
    let blocked = sign_up(&r.app, &mut r.events).await;
    let m = api(
        &r.app,
        Method::POST,
        &format!("/users/{}/mute", muted.user_id),
        Some(json!({"notifications": true})),
        &me,
    )
    .await;
    assert!(m.status < 300, "{m}");
    let b = api(
        &r.app,
        Method::POST,
        &format!("/users/{}/block", blocked.user_id),
        None,
        &me,
    )
    .await;
    assert!(b.status < 300, "{b}");
    let like = liked(Uuid::now_v7(), uid(&me), uid(&muted));
    publish(&r, &like).await;
    let follow = envelope(
        "profiles.follow.created",
        Some(uid(&blocked)),
        &[uid(&me)],
        json!({"follower_id": uid(&blocked), "followee_id": uid(&me)}),
    );
    publish(&r, &follow).await;
    assert_eq!(
        deliveries(&r.db, &like).await,
        [(
            "in_app".into(),
            "skipped".into(),
            Some("the recipient muted the actor".into())
        )]
    );
    assert_eq!(
        deliveries(&r.db, &follow).await,
        [("in_app".into(), "skipped".into(), Some("blocked".into()))]
    );
    let received = envelope(
        "payments.payment.received",
        Some(uid(&muted)),
        &[uid(&me)],
        json!({"intent_id": Uuid::now_v7(), "payable_id": Uuid::now_v7(), "payer_id": uid(&muted), "payee_id": uid(&me),
               "owner_service": "commerce", "reference": "ORD-5", "purpose": "order", "amount": 1000, "currency": "KES",
               "receipt_number": "SJ12ABD"}),
    );
    r.bus.publish(&received).await;
    until(&r.db, "the critical one to arrive anyway", || async {
        deliveries(&r.db, &received)
            .await
            .first()
            .is_some_and(|(c, s, _)| c == "in_app" && s == "delivered")
    })
    .await;
    let page = api(&r.app, Method::GET, "/notifications", None, &me).await;
    let types: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["payments.payment.received", "auth.account.created"],
        "{page}"
    );
}

#[tokio::test]
async fn reminders_fire_at_their_time_and_a_cancelled_event_cancels_them() {
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    let me = uid(&user);
    let event_id = Uuid::now_v7();
    let starts = chrono::Utc::now() + chrono::Duration::hours(25);
    let ticket = envelope(
        "events.ticket.purchased",
        None,
        &[me],
        json!({"ticket_id": Uuid::now_v7(), "event_id": event_id, "organizer_id": Uuid::now_v7(), "buyer_id": me,
               "starts_at": starts.to_rfc3339()}),
    );
    publish(&r, &ticket).await;
    let plans: Vec<(String, f64)> = r
        .db
        .query("SELECT kind, extract(epoch FROM fire_at)::float8 FROM notifications.scheduled ORDER BY fire_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let at = |h: i64| (starts - chrono::Duration::hours(h)).timestamp() as f64;
    assert_eq!(plans.len(), 2, "{plans:?}");
    assert_eq!(plans[0].0, "event_reminder_24h");
    assert!((plans[0].1 - at(24)).abs() < 1.0);
    assert_eq!(plans[1].0, "event_reminder_1h");
    assert!((plans[1].1 - at(1)).abs() < 1.0);
    // A redelivered purchase schedules nothing twice.
    publish(&r, &ticket).await;
    assert_eq!(
        count(&r.db, "SELECT count(*) FROM notifications.scheduled").await,
        2
    );
    // T-24h comes (moved to now).
    r.db.execute(
        "UPDATE notifications.scheduled SET fire_at = now() WHERE kind = 'event_reminder_24h'",
        &[],
    )
    .await
    .unwrap();
    until(&r.db, "the T-24h reminder", || async {
        count(
            &r.db,
            "SELECT count(*) FROM notifications.items WHERE event_type = 'reminders.event_24h'",
        )
        .await
            == 1
    })
    .await;
    publish(
        &r,
        &envelope(
            "events.event.cancelled",
            None,
            &[me],
            json!({"event_id": event_id, "organizer_id": Uuid::now_v7()}),
        ),
    )
    .await;
    assert_eq!(count(&r.db, "SELECT count(*) FROM notifications.scheduled WHERE kind = 'event_reminder_1h' AND cancelled_at IS NOT NULL").await, 1);
    r.db.execute(
        "UPDATE notifications.scheduled SET fire_at = now() WHERE kind = 'event_reminder_1h'",
        &[],
    )
    .await
    .unwrap();
    // An installment due within a day: its reminder fires now.
    let due = chrono::Utc::now() + chrono::Duration::hours(3);
    publish(&r, &envelope("commerce.installment.scheduled", None, &[me],
        json!({"installment_id": Uuid::now_v7(), "order_id": Uuid::now_v7(), "buyer_id": me, "due_at": due.to_rfc3339(),
               "amount": 1250050, "currency": "TZS"}))).await;
    until(&r.db, "the installment reminder", || async {
        count(
            &r.db,
            "SELECT count(*) FROM notifications.items WHERE event_type = 'reminders.installment'",
        )
        .await
            == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(
            &r.db,
            "SELECT count(*) FROM notifications.items WHERE event_type = 'reminders.event_1h'"
        )
        .await,
        0,
        "cancelled"
    );
    let page = api(&r.app, Method::GET, "/notifications", None, &user).await;
    let bodies: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["body"].as_str().unwrap())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.starts_with("An installment of 12500.50 TZS is due on")),
        "{bodies:?}"
    );
}

#[tokio::test]
async fn a_duplicate_event_sends_once() {
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    register_device(&r, &user, "p", "tok-once").await;
    let e = payment_failed(uid(&user));
    r.bus.publish(&e).await;
    r.bus.publish(&e).await;
    publish(&r, &e).await;
    until(&r.db, "the push", || async { !r.sim.pushes().is_empty() }).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(r.sim.pushes().len(), 1);
    assert_eq!(
        count(
            &r.db,
            "SELECT count(*) FROM notifications.items WHERE event_type = 'payments.payment.failed'"
        )
        .await,
        1
    );
}

/// A broker restart as the notifier sees it (its connection dropped, none taken for two seconds):
/// it stays up, reconnects, and the events published meanwhile and after are all notified.
#[tokio::test]
async fn the_notifier_reconnects_after_the_broker_restarts() {
    let proxy = {
        let env = nexgate_tests::LocalEnv::load();
        TcpProxy::start(&format!("127.0.0.1:{}", env.get("AMQP_PORT"))).await
    };
    let port = proxy.port;
    let mut r = rig_with(|app| {
        let url = app.env.amqp_url("nexgate-notifier").replace(
            &format!(":{}/", app.env.get("AMQP_PORT")),
            &format!(":{port}/"),
        );
        vec![("NEXGATE_AMQP_URL".to_string(), url)]
    })
    .await;
    let user = sign_up(&r.app, &mut r.events).await;
    let first = payment_failed(uid(&user));
    publish(&r, &first).await;
    let before = proxy.connections();
    proxy.set_down(true);
    proxy.cut();
    // Published while the notifier is cut off: it waits in the queue.
    let during = payment_failed(uid(&user));
    r.bus.publish(&during).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set_down(false);
    until(&r.db, "the event published during the restart", || {
        processed(&r.db, &during)
    })
    .await;
    let after = payment_failed(uid(&user));
    publish(&r, &after).await;
    assert!(r.notifier.is_running(), "the notifier exited");
    assert!(proxy.connections() > before, "it never reconnected");
}

#[tokio::test]
async fn the_owner_sees_where_a_notification_went_and_an_operator_sees_the_whole_event() {
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    let other = sign_up(&r.app, &mut r.events).await;
    let mut operator = sign_up(&r.app, &mut r.events).await;
    register_device(&r, &user, "pixel", "fcm-token-status").await;
    let me = uid(&user);

    // Critical: in-app, push (sent, not "delivered": FCM does not tell us about the device),
    // and SMS skipped (no phone on the account).
    let failed = payment_failed(me);
    publish(&r, &failed).await;
    until(&r.db, "the push of the failed payment", || async {
        deliveries(&r.db, &failed)
            .await
            .iter()
            .any(|(c, s, _)| c == "push" && s == "sent")
    })
    .await;
    let list = api(&r.app, Method::GET, "/notifications", None, &user).await;
    assert_eq!(list.status, 200, "{list}");
    let row = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "payments.payment.failed")
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    assert_eq!(row["delivery"]["in_app"], "delivered", "{row}");
    assert_eq!(row["delivery"]["push"], "sent", "{row}");
    let id = row["id"].as_str().unwrap();
    let path = format!("/notifications/{id}/deliveries");
    let mine = api(&r.app, Method::GET, &path, None, &user).await;
    assert_eq!(mine.status, 200, "{mine}");
    let by_channel: std::collections::BTreeMap<String, Value> = mine.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["channel"].as_str().unwrap().to_string(), d.clone()))
        .collect();
    assert_eq!(by_channel["in_app"]["status"], "delivered", "{mine}");
    assert_eq!(by_channel["push"]["status"], "sent", "{mine}");
    assert!(by_channel["push"]["sent_at"].is_string(), "{mine}");
    assert_eq!(by_channel["sms"]["status"], "skipped", "{mine}");
    assert!(
        by_channel["sms"]["reason"].is_string(),
        "a skip says why: {mine}"
    );
    assert!(
        !mine.body.to_string().contains("fcm-token-status"),
        "no token in the answer"
    );

    // Someone else's notification is not found, and a malformed id is named.
    let theirs = api(&r.app, Method::GET, &path, None, &other).await;
    assert_eq!(theirs.status, 404, "{theirs}");
    let bad = api(
        &r.app,
        Method::GET,
        "/notifications/nope/deliveries",
        None,
        &user,
    )
    .await;
    assert_eq!(bad.status, 422, "{bad}");

    // Operators: the event's outcome and every delivery with the gateway's reference.
    let event_path = format!("/notifications/events/{}", failed["id"].as_str().unwrap());
    let refused = api(&r.app, Method::GET, &event_path, None, &user).await;
    assert_eq!((refused.status, refused.code()), (403, "role_required"));
    let out = std::process::Command::new(nexgate_tests::ops_bin())
        .args([
            "grant-role",
            "--user",
            &operator.user_id,
            "--role",
            "operator",
        ])
        .env("NEXGATE_ADMIN_DB_URL", r.app.db.url("nexgate_admin"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refreshed = nexgate_tests::auth::post(
        &r.app,
        "/auth/refresh",
        json!({ "refresh_token": operator.refresh_token }),
    )
    .await;
    operator.access_token = refreshed.body["access_token"].as_str().unwrap().to_string();
    let seen = api(&r.app, Method::GET, &event_path, None, &operator).await;
    assert_eq!(seen.status, 200, "{seen}");
    assert_eq!(seen.body["outcome"], "notified", "{seen}");
    let statuses: Vec<String> = seen.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d["channel"].as_str().unwrap(),
                d["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        statuses,
        ["in_app:delivered", "push:sent", "sms:skipped"],
        "{seen}"
    );
    let unknown = api(
        &r.app,
        Method::GET,
        &format!("/notifications/events/{}", Uuid::now_v7()),
        None,
        &operator,
    )
    .await;
    assert_eq!(unknown.status, 404, "{unknown}");
}

#[tokio::test]
async fn the_sandbox_page_lists_the_pushes_the_notifier_sent() {
    // scripts/up.sh's sandbox shows a person the pushes their devices would have received.
    let mut r = rig().await;
    let user = sign_up(&r.app, &mut r.events).await;
    register_device(&r, &user, "pixel", "fcm-token-sandbox-4242").await;
    let failed = payment_failed(uid(&user));
    publish(&r, &failed).await;
    until(&r.db, "the push", || async {
        deliveries(&r.db, &failed)
            .await
            .iter()
            .any(|(c, s, _)| c == "push" && s == "sent")
    })
    .await;
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page = format!("http://{}", control.local_addr().unwrap());
    nexgate_tests::sandbox::serve_control(
        control,
        nexgate_tests::sandbox::Sandbox {
            payments: nexgate_tests::payments::PaymentSimulator::start_sandbox(
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            ),
            identities: None,
            push: Some(r.sim.clone()),
        },
    );
    let pushes: Value = reqwest::get(format!("{page}/pushes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pushes[0]["title"], "Payment failed", "{pushes}");
    assert_eq!(
        pushes[0]["token"], "…x-4242",
        "only the token's end: {pushes}"
    );
    let html = reqwest::get(format!("{page}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Payment failed"), "{html}");
}

/// Event reminders follow changes: a reschedule moves (and re-arms) them; a refunded holder's and
/// a transferring holder's end unless they still hold a ticket; the transfer's recipient gets
/// their own; each change reaches the people it concerns.
#[tokio::test]
async fn event_reminders_follow_reschedules_refunds_and_transfers() {
    let mut r = rig().await;
    let holder = sign_up(&r.app, &mut r.events).await;
    let friend = sign_up(&r.app, &mut r.events).await;
    let (me, them) = (uid(&holder), uid(&friend));
    let event_id = Uuid::now_v7();
    let starts = chrono::Utc::now() + chrono::Duration::hours(30);
    let bought = envelope(
        "events.ticket.purchased",
        None,
        &[me],
        json!({"ticket_id": Uuid::now_v7(), "event_id": event_id, "organizer_id": Uuid::now_v7(), "buyer_id": me,
               "starts_at": starts.to_rfc3339()}),
    );
    publish(&r, &bought).await;
    let fire_times = |user: Uuid| {
        let db = &r.db;
        async move {
            db.query(
                "SELECT kind, extract(epoch FROM fire_at)::float8, cancelled_at IS NOT NULL FROM notifications.scheduled
                 WHERE user_id = $1 ORDER BY kind",
                &[&user],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, f64>(1), row.get::<_, bool>(2)))
            .collect::<Vec<_>>()
        }
    };
    // The T-24h reminder fired already; the event moves two days later.
    r.db.execute(
        "UPDATE notifications.scheduled SET fired_at = now() WHERE kind = 'event_reminder_24h'",
        &[],
    )
    .await
    .unwrap();
    let later = starts + chrono::Duration::hours(48);
    publish(
        &r,
        &envelope(
            "events.event.rescheduled",
            Some(Uuid::now_v7()),
            &[me],
            json!({"event_id": event_id, "organizer_id": Uuid::now_v7(), "starts_at": later.to_rfc3339(),
                   "previous_starts_at": starts.to_rfc3339()}),
        ),
    )
    .await;
    let moved = fire_times(me).await;
    let at = |h: i64| (later - chrono::Duration::hours(h)).timestamp() as f64;
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert!(
        (moved[0].1 - at(1)).abs() < 1.0 && (moved[1].1 - at(24)).abs() < 1.0,
        "{moved:?}"
    );
    assert_eq!(
        count(
            &r.db,
            "SELECT count(*) FROM notifications.scheduled WHERE fired_at IS NOT NULL"
        )
        .await,
        0,
        "the fired T-24h reminder is armed again for the new date"
    );

    // A transfer to a friend: theirs scheduled, the sender's end (no other ticket).
    publish(
        &r,
        &envelope(
            "events.ticket.transferred",
            Some(me),
            &[them],
            json!({"ticket_id": Uuid::now_v7(), "previous_ticket_id": Uuid::now_v7(), "event_id": event_id,
                   "from_id": me, "to_id": them, "starts_at": later.to_rfc3339(), "sender_still_attending": false}),
        ),
    )
    .await;
    assert!(fire_times(me)
        .await
        .iter()
        .all(|(_, _, cancelled)| *cancelled));
    let theirs = fire_times(them).await;
    assert_eq!(theirs.len(), 2, "{theirs:?}");
    assert!(theirs.iter().all(|(_, _, cancelled)| !cancelled));

    // The friend refunds while still holding another ticket: reminders stay; then the last one.
    let refunded = |still: bool| {
        envelope(
            "events.ticket.revoked",
            None,
            &[them],
            json!({"ticket_id": Uuid::now_v7(), "event_id": event_id, "holder_id": them, "reason": "refunded",
                   "holder_still_attending": still}),
        )
    };
    publish(&r, &refunded(true)).await;
    assert!(fire_times(them)
        .await
        .iter()
        .all(|(_, _, cancelled)| !cancelled));
    publish(&r, &refunded(false)).await;
    assert!(fire_times(them)
        .await
        .iter()
        .all(|(_, _, cancelled)| *cancelled));
    until(&r.db, "the recipient told of the transfer and the refunds", || async {
        count(
            &r.db,
            "SELECT count(*) FROM notifications.items WHERE event_type IN ('events.ticket.transferred', 'events.ticket.revoked')",
        )
        .await
            == 3
    })
    .await;
}
