//! Deleting an account (docs/auth.md, "Deleting an account"), black-box: the real host, the
//! dispatcher delivering `auth.account.deleted` to profiles, files and payments, and the real
//! notifier; what each store holds is read back afterwards. The refusals while money is moving
//! are in tests/tests/payments.rs (they need the provider simulator).

use std::time::Duration;

use nexgate_tests::auth::{
    call, log_in, post, sign_up, token_signed_in_minutes_ago, Answer, User, PASSWORD,
};
use nexgate_tests::files::jpeg;
use nexgate_tests::notify::{count, notifications_db};
use nexgate_tests::{eventually, Manifest, TestApp, Worker};
use reqwest::Method;
use serde_json::{json, Value};

async fn as_user(app: &TestApp, user: &User, method: Method, path: &str) -> Answer {
    call(app, method, path, None, Some(&user.access_token)).await
}

/// The dispatcher (profiles, files, payments) and the notifier, as `scripts/up.sh` runs them.
fn consumers(app: &TestApp) -> (Worker, Worker) {
    app.declare_queues("infra/subscriptions.toml");
    let dispatcher = app.worker(
        "dispatcher",
        &[
            "--subscriptions",
            "infra/subscriptions.toml",
            "--expires-ms",
            "600000",
        ],
    );
    (dispatcher, app.notifier())
}

async fn admin_count(app: &TestApp, sql: &str, user: &str) -> i64 {
    let db = app.db.admin().await;
    let row = db
        .query_one(sql, &[&uuid::Uuid::parse_str(user).unwrap()])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.get::<_, i64>(0)
}

#[tokio::test]
async fn a_deleted_account_is_erased_everywhere_and_its_email_may_register_again() {
    let app = TestApp::start(Manifest::App).await;
    let (_dispatcher, _notifier) = consumers(&app);
    let mut events = app.observe_events().await;
    let leaver = sign_up(&app, &mut events).await;
    let friend = sign_up(&app, &mut events).await;

    // What the leaver leaves behind: follows both ways, a public image, a payment number, a
    // push device, and the welcome notification.
    for (who, whom) in [(&leaver, &friend), (&friend, &leaver)] {
        let f = as_user(
            &app,
            who,
            Method::POST,
            &format!("/users/{}/follow", whom.user_id),
        )
        .await;
        assert!(f.status == 200 || f.status == 201, "follow: {f}");
    }
    let image = app
        .http
        .post(app.url("/files?purpose=post"))
        .bearer_auth(&leaver.access_token)
        .header("content-type", "image/jpeg")
        .body(jpeg(640, 480))
        .send()
        .await
        .unwrap();
    let image = Answer::from_response(image).await;
    assert_eq!(image.status, 201, "{image}");
    let variant_url = image.body["variants"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.http.get(&variant_url).send().await.unwrap().status(),
        200
    );
    let method = call(
        &app,
        Method::POST,
        "/payments/methods",
        Some(json!({"kind": "mobile_money", "phone": "+255754345678"})),
        Some(&leaver.access_token),
    )
    .await;
    assert_eq!(method.status, 201, "{method}");
    let device = call(
        &app,
        Method::PUT,
        "/notifications/devices/signup",
        Some(json!({"platform": "android", "token": format!("fcm-{}", leaver.username)})),
        Some(&leaver.access_token),
    )
    .await;
    assert!(device.status < 300, "{device}");
    let notes = notifications_db(&app).await;
    let mine = format!(
        "SELECT count(*) FROM notifications.items WHERE user_id = '{}'",
        leaver.user_id
    );
    let welcomed = eventually(Duration::from_secs(30), || async {
        (count(&notes, &mine).await > 0).then_some(())
    })
    .await;
    assert!(welcomed.is_some(), "the welcome notification arrived");

    // Social: a post of the leaver's, and their like, comment, bookmark and co-author credit on
    // the friend's posts.
    let say = |who: &User, method: Method, path: String, body: Value| {
        let app = &app;
        let token = who.access_token.clone();
        async move { call(app, method, &path, Some(body), Some(&token)).await }
    };
    let own = say(
        &leaver,
        Method::POST,
        "/social/posts".into(),
        json!({"text": "bye #soon"}),
    )
    .await;
    assert_eq!(own.status, 201, "{own}");
    let theirs = say(
        &friend,
        Method::POST,
        "/social/posts".into(),
        json!({"text": "with my friend", "coauthors": [leaver.user_id]}),
    )
    .await;
    assert_eq!(theirs.status, 201, "{theirs}");
    let shared = theirs.body["id"].as_str().unwrap().to_string();
    for (method, path, body) in [
        (
            Method::POST,
            format!("/social/posts/{shared}/collaboration/accept"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/social/posts/{shared}/like"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/social/posts/{shared}/comments"),
            json!({"text": "nice"}),
        ),
        (
            Method::PUT,
            format!("/social/posts/{shared}/bookmark"),
            json!({}),
        ),
    ] {
        let a = say(&leaver, method, path.clone(), body).await;
        assert!(a.status < 300, "{path}: {a}");
    }
    // Direct messages: a conversation with the friend and a group the leaver runs.
    let dm = say(
        &leaver,
        Method::POST,
        "/dm/conversations".into(),
        json!({"user_id": friend.user_id}),
    )
    .await;
    assert_eq!(dm.status, 201, "{dm}");
    let dm_id = dm.body["id"].as_str().unwrap().to_string();
    let group = say(
        &leaver,
        Method::POST,
        "/dm/conversations".into(),
        json!({"kind": "group", "title": "Farewell", "member_ids": [friend.user_id]}),
    )
    .await;
    let group_id = group.body["id"].as_str().unwrap().to_string();
    for (conv, client) in [(&dm_id, "bye-1"), (&group_id, "bye-2")] {
        let sent = say(
            &leaver,
            Method::POST,
            format!("/dm/conversations/{conv}/messages"),
            json!({"client_id": client, "text": "kwaheri"}),
        )
        .await;
        assert_eq!(sent.status, 201, "{sent}");
    }

    let gone = as_user(&app, &leaver, Method::DELETE, "/auth/account").await;
    assert_eq!(gone.status, 204, "{gone}\n{}", app.host.log());

    // Signed out everywhere at once, and no way back in.
    let after = as_user(&app, &leaver, Method::GET, "/auth/sessions").await;
    assert_eq!(after.status, 401, "{after}");
    let refresh = post(
        &app,
        "/auth/refresh",
        json!({ "refresh_token": leaver.refresh_token }),
    )
    .await;
    assert_eq!(refresh.status, 401, "{refresh}");
    let login = log_in(&app, &leaver.email, PASSWORD, "again").await;
    assert_eq!(login.status, 401, "{login}");

    // Profiles: the profile is gone, the friend's counts drop, the username is held for nobody.
    let profile_path = format!("/users/{}", leaver.username);
    let erased = eventually(Duration::from_secs(45), || async {
        (as_user(&app, &friend, Method::GET, &profile_path)
            .await
            .status
            == 404)
            .then_some(())
    })
    .await;
    assert!(
        erased.is_some(),
        "the profile is erased\n{}",
        app.host.log()
    );
    let me = as_user(&app, &friend, Method::GET, "/users/me").await;
    assert_eq!(
        (
            me.body["followers_count"].as_i64(),
            me.body["following_count"].as_i64()
        ),
        (Some(0), Some(0)),
        "{me}"
    );
    let same_name = post(
        &app,
        "/auth/register",
        json!({ "email": format!("other-{}", leaver.email), "password": PASSWORD,
                "username": leaver.username, "display_name": "Someone Else" }),
    )
    .await;
    assert_eq!(
        (same_name.status, same_name.code()),
        (409, "username_taken"),
        "{same_name}"
    );
    // The email is not kept: its owner may register again.
    let again = post(
        &app,
        "/auth/register",
        json!({ "email": leaver.email, "password": PASSWORD,
                "username": nexgate_tests::auth::unique_name("r"), "display_name": "Back Again" }),
    )
    .await;
    assert_eq!(again.status, 202, "{again}");

    // Files: every file deleted and its objects purged; the CDN no longer serves them.
    let purged = eventually(Duration::from_secs(45), || async {
        let left = admin_count(
            &app,
            "SELECT count(*) FROM files.files WHERE owner_id = $1 AND storage_purged_at IS NULL",
            &leaver.user_id,
        )
        .await;
        (left == 0).then_some(())
    })
    .await;
    assert!(purged.is_some(), "the files are purged\n{}", app.host.log());
    assert_eq!(
        app.http.get(&variant_url).send().await.unwrap().status(),
        404
    );

    // Social: the leaver's post, like, comment and bookmark are gone, with their counts; the
    // co-authored post stays the friend's, without the leaver's credit.
    let social_erased = eventually(Duration::from_secs(45), || async {
        let left = admin_count(
            &app,
            "SELECT (SELECT count(*) FROM social.posts WHERE author_id = $1)
                  + (SELECT count(*) FROM social.likes WHERE user_id = $1)
                  + (SELECT count(*) FROM social.comments WHERE author_id = $1)
                  + (SELECT count(*) FROM social.bookmarks WHERE user_id = $1)
                  + (SELECT count(*) FROM social.coauthors WHERE user_id = $1)",
            &leaver.user_id,
        )
        .await;
        (left == 0).then_some(())
    })
    .await;
    assert!(social_erased.is_some(), "social erased\n{}", app.host.log());
    let read = as_user(
        &app,
        &friend,
        Method::GET,
        &format!("/social/posts/{shared}"),
    )
    .await;
    assert_eq!(
        (
            read.body["counts"]["likes"].as_i64(),
            read.body["counts"]["comments"].as_i64(),
            read.body["coauthors"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0), Some(0)),
        "{read}"
    );

    // DMs: the leaver's messages stay as placeholders without sender or text; the group has a new
    // admin; the leaver is no member anymore.
    let history_path = format!("/dm/conversations/{dm_id}/messages");
    let placeholder = eventually(Duration::from_secs(45), || async {
        let h = as_user(&app, &friend, Method::GET, &history_path).await;
        let m = h.body["items"][0].clone();
        (m["sender_id"].is_null() && m["unsent"] == true && m["text"].is_null()).then_some(())
    })
    .await;
    assert!(
        placeholder.is_some(),
        "{}",
        as_user(&app, &friend, Method::GET, &history_path).await
    );
    let group_view = as_user(
        &app,
        &friend,
        Method::GET,
        &format!("/dm/conversations/{group_id}"),
    )
    .await;
    assert_eq!(group_view.body["role"], "admin", "{group_view}");
    assert_eq!(
        admin_count(
            &app,
            "SELECT count(*) FROM dm.members WHERE user_id = $1 AND state <> 'left'",
            &leaver.user_id
        )
        .await,
        0
    );

    // Payments: no number left; notifications: nothing left.
    let numbers = eventually(Duration::from_secs(45), || async {
        let left = admin_count(
            &app,
            "SELECT count(*) FROM payments.methods WHERE user_id = $1 AND msisdn IS NOT NULL",
            &leaver.user_id,
        )
        .await;
        (left == 0).then_some(())
    })
    .await;
    assert!(numbers.is_some(), "the payment number is erased");
    let emptied = eventually(Duration::from_secs(30), || async {
        let items = count(&notes, &mine).await;
        let devices = count(
            &notes,
            &format!(
                "SELECT count(*) FROM notifications.push_devices WHERE user_id = '{}'",
                leaver.user_id
            ),
        )
        .await;
        (items == 0 && devices == 0).then_some(())
    })
    .await;
    assert!(emptied.is_some(), "the notifications are erased");
    // Auth keeps the bare id and time, nothing else.
    assert_eq!(
        admin_count(
            &app,
            "SELECT count(*) FROM auth.deleted_accounts WHERE id = $1",
            &leaver.user_id
        )
        .await,
        1
    );
    assert_eq!(
        admin_count(
            &app,
            "SELECT count(*) FROM auth.accounts WHERE id = $1",
            &leaver.user_id
        )
        .await,
        0
    );
}

#[tokio::test]
async fn deleting_an_account_needs_a_recent_reauthentication() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let mut user = sign_up(&app, &mut events).await;
    // A token whose sign-in is eleven minutes old (a stolen one, say) cannot delete the account.
    user.access_token = token_signed_in_minutes_ago(&app, &mut user, 11).await;
    let refused = as_user(&app, &user, Method::DELETE, "/auth/account").await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "reauthentication_required"),
        "{refused}"
    );
    assert_eq!(
        as_user(&app, &user, Method::GET, "/auth/sessions")
            .await
            .status,
        200,
        "nothing changed"
    );
    // The password again gives a fresh token, which may.
    let fresh = call(
        &app,
        Method::POST,
        "/auth/reauthenticate",
        Some(json!({ "password": PASSWORD })),
        Some(&user.access_token),
    )
    .await;
    assert_eq!(fresh.status, 200, "{fresh}");
    user.access_token = fresh.body["access_token"].as_str().unwrap().to_string();
    let gone = as_user(&app, &user, Method::DELETE, "/auth/account").await;
    assert_eq!(gone.status, 204, "{gone}");
    let (_, deleted) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.account.deleted")
        })
        .await
        .expect("auth.account.deleted is published");
    assert_eq!(deleted["data"]["user_id"], user.user_id.as_str());
    assert_eq!(deleted["audience"], json!([]));
}
