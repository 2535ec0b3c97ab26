//! The social service (docs/social.md), black-box through the real host, components, Postgres,
//! Redis and the bus: posts of every kind and their bad input, visibility and blocks on every read
//! path, exact counts under concurrency, the cached home feed (fan-out, mutes, rebuild from
//! Postgres), scheduled posts published once, polls, collaborations, trending and discover with a
//! controllable clock, reports, grouped notifications and their removal with the post, erasure.

use std::time::Duration;

use futures::StreamExt;
use nexgate_tests::auth::{call, log_in, seed_users, sign_up, Answer, User, PASSWORD};
use nexgate_tests::{eventually, EventObserver, Manifest, TestApp, Worker};
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    app: TestApp,
    observer: EventObserver,
    _dispatcher: Worker,
    _relay: Worker,
}

/// The app with the dispatcher and the relay (posts and likes are published by the relay).
async fn world() -> World {
    let app = TestApp::start(Manifest::App).await;
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
    let relay = app.worker(
        "relay",
        &["--interval-ms", "200", "--stale-after-ms", "300"],
    );
    let observer = app.observe_events().await;
    World {
        app,
        observer,
        _dispatcher: dispatcher,
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

    async fn post(&self, user: &User, body: Value) -> Answer {
        self.call(user, Method::POST, "/social/posts", Some(body))
            .await
    }

    async fn follow(&self, follower: &User, followee: &User) {
        let a = self
            .call(
                follower,
                Method::POST,
                &format!("/users/{}/follow", followee.user_id),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{a}");
    }

    async fn block(&self, blocker: &User, blocked: &User) {
        let a = self
            .call(
                blocker,
                Method::POST,
                &format!("/users/{}/block", blocked.user_id),
                None,
            )
            .await;
        assert!(a.status == 200 || a.status == 204, "{a}");
    }

    async fn job(&self, job: &str) -> Value {
        let resp = self
            .app
            .http
            .post(self.app.url(&format!("/internal/social/jobs/{job}")))
            .header("x-internal-token", &self.app.social_internal_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{job}");
        resp.json().await.unwrap()
    }

    async fn sql(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        self.app.db.admin().await.query(sql, &[]).await.unwrap()
    }

    /// The post ids of the viewer's home feed (first page).
    async fn feed(&self, viewer: &User) -> Vec<String> {
        let a = self
            .call(viewer, Method::GET, "/social/feed/following?limit=50", None)
            .await;
        assert_eq!(a.status, 200, "{a}");
        ids(&a.body["items"])
    }
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

fn field(a: &Answer) -> &str {
    a.body["errors"][0]["field"].as_str().unwrap_or_default()
}

fn id(a: &Answer) -> String {
    a.body["id"].as_str().unwrap().to_string()
}

/// A UTC time `secs` from now, as the API writes it.
fn in_secs(secs: i64) -> String {
    nexgate_platform::time::rfc3339(nexgate_platform::time::now_unix().0 + secs, 0)
}

#[tokio::test]
async fn posts_carry_resolved_facets_and_bad_input_changes_nothing() {
    let mut w = world().await;
    let (amina, juma) = (w.user().await, w.user().await);
    let text = format!(
        "🎉 Karibu @{} na @nobody_here #Sokoni #sokoni",
        juma.username
    );
    let made = w.post(&amina, json!({"text": text})).await;
    assert_eq!(
        (made.status, made.body["kind"].as_str()),
        (201, Some("standard")),
        "{made}"
    );
    let facets = made.body["facets"].as_array().unwrap();
    let mention = facets.iter().find(|f| f["type"] == "mention").unwrap();
    assert_eq!(
        mention["user_id"],
        json!(juma.user_id),
        "mentions resolve at write time"
    );
    let (start, end) = (
        mention["start"].as_u64().unwrap() as usize,
        mention["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(
        &text.as_bytes()[start..end],
        format!("@{}", juma.username).as_bytes(),
        "UTF-8 byte range after an emoji"
    );
    assert!(
        !facets.iter().any(|f| f["username"] == "nobody_here"),
        "a name nobody holds gets no link: {facets:?}"
    );
    assert_eq!(facets.iter().filter(|f| f["type"] == "tag").count(), 2);

    // The tag page lists it, under the tag in lower case.
    let page = w
        .call(&juma, Method::GET, "/social/tags/SOKONI/posts", None)
        .await;
    assert_eq!(ids(&page.body["items"]), vec![id(&made)], "{page}");

    let poll = w
        .post(
            &amina,
            json!({"kind": "poll", "text": "Which day?", "poll": {"options": ["Sat", "Sun"]}}),
        )
        .await;
    assert_eq!(
        (
            poll.status,
            poll.body["poll"]["options"][1]["text"].as_str()
        ),
        (201, Some("Sun")),
        "{poll}"
    );

    let long = "a".repeat(2001);
    let eleven: Vec<String> = (0..11).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let stranger_file = uuid::Uuid::new_v4().to_string();
    let bad = [
        (json!({"text": "   "}), "text"),
        (json!({"text": long}), "text"),
        (json!({"text": "x", "media": eleven}), "media"),
        (json!({"text": "x", "media": [stranger_file]}), "media[0]"),
        (
            json!({"kind": "poll", "text": "?", "poll": {"options": ["only"]}}),
            "poll.options",
        ),
        (
            json!({"kind": "poll", "text": "?", "poll": {"options": ["a", "b"], "closes_at": in_secs(-60)}}),
            "poll.closes_at",
        ),
        (
            json!({"text": "later", "publish_at": in_secs(60)}),
            "publish_at",
        ),
        (
            json!({"text": "later", "publish_at": in_secs(200 * 86_400)}),
            "publish_at",
        ),
        (
            json!({"kind": "quote", "text": "look", "quote_of": uuid::Uuid::new_v4()}),
            "quote_of",
        ),
        (
            json!({"kind": "product", "product_id": uuid::Uuid::new_v4()}),
            "product_id",
        ),
        (
            json!({"kind": "event", "event_id": uuid::Uuid::new_v4()}),
            "event_id",
        ),
        (
            json!({"text": "x", "coauthors": [amina.user_id]}),
            "coauthors",
        ),
        (json!({"text": "x", "visibility": "friends"}), "visibility"),
        (json!({"kind": "gif", "text": "x"}), "kind"),
    ];
    for (body, want) in bad {
        let a = w.post(&amina, body.clone()).await;
        assert_eq!((a.status, field(&a)), (422, want), "{body} → {a}");
    }
    let count = w
        .sql(&format!(
            "SELECT count(*) FROM social.posts WHERE author_id = '{}'",
            amina.user_id
        ))
        .await[0]
        .get::<_, i64>(0);
    assert_eq!(count, 2, "nothing half-written");

    // Quoting what the author cannot see is refused like a post that does not exist.
    let private = w
        .post(
            &juma,
            json!({"text": "for my followers", "visibility": "followers"}),
        )
        .await;
    let quote = w
        .post(
            &amina,
            json!({"kind": "quote", "text": "look", "quote_of": id(&private)}),
        )
        .await;
    assert_eq!((quote.status, field(&quote)), (422, "quote_of"), "{quote}");

    // Edits within the window re-read the facets; deletion is the author's.
    let edited = w
        .call(
            &amina,
            Method::PATCH,
            &format!("/social/posts/{}", id(&made)),
            Some(json!({"text": "now #Dar"})),
        )
        .await;
    assert_eq!(
        (edited.status, edited.body["facets"][0]["tag"].as_str()),
        (200, Some("dar")),
        "{edited}"
    );
    let by_other = w
        .call(
            &juma,
            Method::DELETE,
            &format!("/social/posts/{}", id(&made)),
            None,
        )
        .await;
    assert_eq!(by_other.status, 404, "{by_other}");
    let gone = w
        .call(
            &amina,
            Method::DELETE,
            &format!("/social/posts/{}", id(&made)),
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{gone}");
    let read = w
        .call(
            &juma,
            Method::GET,
            &format!("/social/posts/{}", id(&made)),
            None,
        )
        .await;
    assert_eq!(read.status, 404, "{read}");
}

/// Followers-only posts, private accounts and blocks either way, on every read path.
#[tokio::test]
async fn visibility_and_blocks_hold_on_every_read_path() {
    let mut w = world().await;
    let (author, follower, stranger, blocked) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    w.follow(&follower, &author).await;
    w.follow(&blocked, &author).await;
    let public = id(&w.post(&author, json!({"text": "hello #open"})).await);
    let inner = id(&w
        .post(
            &author,
            json!({"text": "friends only #open", "visibility": "followers"}),
        )
        .await);
    let poll = id(&w
        .post(
            &author,
            json!({"kind": "poll", "text": "#open?", "poll": {"options": ["a", "b"]}}),
        )
        .await);
    // The stranger bookmarks and comments before the block; the blocked user too.
    for (who, path) in [
        (&stranger, format!("/social/posts/{public}/bookmark")),
        (&blocked, format!("/social/posts/{public}/bookmark")),
    ] {
        assert_eq!(w.call(who, Method::PUT, &path, None).await.status, 200);
    }
    let c = w
        .call(
            &blocked,
            Method::POST,
            &format!("/social/posts/{public}/comments"),
            Some(json!({"text": "first"})),
        )
        .await;
    assert_eq!(c.status, 201, "{c}");
    let like = w
        .call(
            &blocked,
            Method::POST,
            &format!("/social/posts/{public}/like"),
            None,
        )
        .await;
    assert_eq!(like.status, 200, "{like}");
    w.block(&author, &blocked).await;

    // Followers-only: the follower sees it, the stranger gets 404 everywhere.
    let path = |p: &str, rest: &str| format!("/social/posts/{p}{rest}");
    assert_eq!(
        w.call(&follower, Method::GET, &path(&inner, ""), None)
            .await
            .status,
        200
    );
    for rest in ["", "/comments", "/likes", "/poll"] {
        let a = w
            .call(&stranger, Method::GET, &path(&inner, rest), None)
            .await;
        assert_eq!(a.status, 404, "stranger {rest}: {a}");
    }
    let repost = w
        .call(&stranger, Method::POST, &path(&inner, "/repost"), None)
        .await;
    assert_eq!(repost.status, 404, "{repost}");
    // A follower may pass a followers-only post on only to their own followers (whom the author
    // may not see: the author does not follow the follower).
    let public_quote = w
        .post(
            &follower,
            json!({"kind": "quote", "text": "see", "quote_of": inner}),
        )
        .await;
    assert_eq!(
        (public_quote.status, field(&public_quote)),
        (422, "quote_of"),
        "{public_quote}"
    );
    let quiet_quote = w
        .post(
            &follower,
            json!({"kind": "quote", "text": "see", "quote_of": inner, "visibility": "followers"}),
        )
        .await;
    assert_eq!(quiet_quote.status, 201, "{quiet_quote}");
    let passed_on = w
        .call(&follower, Method::POST, &path(&inner, "/repost"), None)
        .await;
    assert_eq!(
        (passed_on.status, passed_on.body["visibility"].as_str()),
        (201, Some("followers")),
        "{passed_on}"
    );
    let seen = w
        .call(&stranger, Method::GET, &path(&id(&passed_on), ""), None)
        .await;
    assert_eq!(
        seen.status, 404,
        "a repost shows only with its original: {seen}"
    );
    let quotes = w
        .call(&follower, Method::GET, &path(&inner, "/quotes"), None)
        .await;
    assert_eq!(
        ids(&quotes.body["items"]),
        vec![id(&quiet_quote)],
        "{quotes}"
    );

    // Blocked: nothing of the author's, either way.
    let thread = format!("/comments/{}/replies", id(&c));
    for p in [&public, &inner, &poll] {
        for rest in [
            "",
            "/comments",
            "/likes",
            "/poll",
            "/quotes",
            thread.as_str(),
        ] {
            let a = w.call(&blocked, Method::GET, &path(p, rest), None).await;
            assert_eq!(a.status, 404, "blocked {rest}: {a}");
        }
        let a = w
            .call(
                &blocked,
                Method::POST,
                &path(p, "/comments"),
                Some(json!({"text": "hi"})),
            )
            .await;
        assert_eq!(a.status, 404, "as if it did not exist: {a}");
    }
    let vote = w
        .call(
            &blocked,
            Method::POST,
            &path(&poll, "/votes"),
            Some(json!({"options": [0]})),
        )
        .await;
    assert_eq!(vote.status, 404, "{vote}");
    let profile = w
        .call(
            &blocked,
            Method::GET,
            &format!("/social/users/{}/posts", author.user_id),
            None,
        )
        .await;
    assert_eq!(profile.status, 404, "{profile}");
    let tag = w
        .call(&blocked, Method::GET, "/social/tags/open/posts", None)
        .await;
    assert!(ids(&tag.body["items"]).is_empty(), "{tag}");
    let bookmarks = w
        .call(&blocked, Method::GET, "/social/bookmarks", None)
        .await;
    assert!(ids(&bookmarks.body["items"]).is_empty(), "{bookmarks}");
    // ... and the author no longer sees the blocked user's comment or like.
    let comments = w
        .call(&author, Method::GET, &path(&public, "/comments"), None)
        .await;
    assert!(
        comments.body["items"].as_array().unwrap().is_empty(),
        "{comments}"
    );
    let likers = w
        .call(&author, Method::GET, &path(&public, "/likes"), None)
        .await;
    assert!(
        likers.body["items"].as_array().unwrap().is_empty(),
        "{likers}"
    );

    // A private account's posts are followers-only whatever the post says.
    let made_private = w
        .call(
            &author,
            Method::PATCH,
            "/users/me",
            Some(json!({"is_private": true})),
        )
        .await;
    assert_eq!(made_private.status, 200, "{made_private}");
    assert_eq!(
        w.call(&stranger, Method::GET, &path(&public, ""), None)
            .await
            .status,
        404
    );
    let mine = w
        .call(&stranger, Method::GET, "/social/bookmarks", None)
        .await;
    assert!(ids(&mine.body["items"]).is_empty(), "{mine}");
    assert_eq!(
        w.call(&follower, Method::GET, &path(&public, ""), None)
            .await
            .status,
        200
    );
    let tag = w
        .call(&follower, Method::GET, "/social/tags/open/posts", None)
        .await;
    assert_eq!(ids(&tag.body["items"]).len(), 3, "{tag}");
}

#[tokio::test]
async fn a_thousand_likes_from_distinct_users_count_a_thousand() {
    let mut w = world().await;
    let author = w.user().await;
    let post = id(&w.post(&author, json!({"text": "like me"})).await);
    let seeded = seed_users(&w.app, 1000, "liker");
    let tokens: Vec<String> = futures::stream::iter(seeded.iter().map(|s| {
        let app = &w.app;
        async move {
            let a = log_in(app, &s.email, PASSWORD, "liker").await;
            assert_eq!(a.status, 200, "{a}");
            a.body["access_token"].as_str().unwrap().to_string()
        }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    let url = w.app.url(&format!("/social/posts/{post}/like"));
    let statuses: Vec<u16> =
        futures::stream::iter(tokens.iter().chain(tokens.iter().take(50)).map(|t| {
            let (http, url) = (w.app.http.clone(), url.clone());
            async move {
                http.post(&url)
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        }))
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let read = w
        .call(&author, Method::GET, &format!("/social/posts/{post}"), None)
        .await;
    assert_eq!(
        read.body["counts"]["likes"], 1000,
        "a second like of the same user counts nothing: {read}"
    );
    let rows = w
        .sql(&format!(
            "SELECT count(*) FROM social.likes WHERE post_id = '{post}'"
        ))
        .await;
    assert_eq!(rows[0].get::<_, i64>(0), 1000);
    let _ = &mut w.observer;
}

#[tokio::test]
async fn the_home_feed_fans_out_filters_mutes_and_rebuilds_from_postgres() {
    let mut w = world().await;
    let (reader, friend, noisy, far) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    w.follow(&reader, &friend).await;
    w.follow(&reader, &noisy).await;
    let before = id(&w
        .post(&friend, json!({"text": "before the feed was built"}))
        .await);
    assert_eq!(
        w.feed(&reader).await,
        vec![before.clone()],
        "built from Postgres on first read"
    );

    // A new post reaches the built feed through social.post.created and the dispatcher.
    let fresh = id(&w.post(&friend, json!({"text": "fresh"})).await);
    let reached = eventually(Duration::from_secs(20), || async {
        w.feed(&reader)
            .await
            .first()
            .filter(|f| **f == fresh)
            .cloned()
    })
    .await;
    assert!(reached.is_some(), "fanned out");

    // A repost by a followee of someone the reader does not follow shows, embedding the original.
    let original = id(&w.post(&far, json!({"text": "far away"})).await);
    let repost = w
        .call(
            &noisy,
            Method::POST,
            &format!("/social/posts/{original}/repost"),
            None,
        )
        .await;
    assert_eq!(repost.status, 201, "{repost}");
    let again = w
        .call(
            &noisy,
            Method::POST,
            &format!("/social/posts/{original}/repost"),
            None,
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "already_reposted"),
        "{again}"
    );
    let shown = eventually(Duration::from_secs(20), || async {
        let a = w
            .call(&reader, Method::GET, "/social/feed/following", None)
            .await;
        let first = a.body["items"][0].clone();
        (first["kind"] == "repost").then_some(first)
    })
    .await
    .expect("the repost in the feed");
    assert_eq!(shown["reposted"]["id"], json!(original));

    // Muting hides the noisy account's posts and reposts from the muter's feed only.
    let muted = w
        .call(
            &reader,
            Method::POST,
            &format!("/users/{}/mute", noisy.user_id),
            Some(json!({})),
        )
        .await;
    assert!(muted.status == 200 || muted.status == 204, "{muted}");
    let noisy_post = id(&w.post(&noisy, json!({"text": "loud"})).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let feed = w.feed(&reader).await;
    assert!(
        !feed.contains(&noisy_post) && !feed.contains(&id(&repost)),
        "{feed:?}"
    );
    assert_eq!(feed, vec![fresh.clone(), before.clone()]);

    // Redis lost the feed: the next read rebuilds it from Postgres, the same.
    let key = format!("{}:social:home:{}", w.app.prefix, reader.user_id);
    let mut redis =
        redis::Client::open(format!("redis://127.0.0.1:{}", w.app.env.get("REDIS_PORT")))
            .unwrap()
            .get_connection()
            .unwrap();
    let dropped: i64 = redis::cmd("DEL").arg(&key).query(&mut redis).unwrap();
    assert_eq!(dropped, 1, "the cached feed was in Redis under {key}");
    assert_eq!(w.feed(&reader).await, vec![fresh.clone(), before.clone()]);

    // Unfollowing takes the followee's posts out; a ranked read works on what is left.
    let unfollow = w
        .call(
            &reader,
            Method::DELETE,
            &format!("/users/{}/follow", friend.user_id),
            None,
        )
        .await;
    assert!(
        unfollow.status == 200 || unfollow.status == 204,
        "{unfollow}"
    );
    let emptied = eventually(Duration::from_secs(20), || async {
        w.feed(&reader).await.is_empty().then_some(())
    })
    .await;
    assert!(emptied.is_some(), "{:?}", w.feed(&reader).await);
    let ranked = w
        .call(
            &reader,
            Method::GET,
            "/social/feed/following?mode=ranked",
            None,
        )
        .await;
    assert_eq!(ranked.status, 200, "{ranked}");
    let bad = w
        .call(
            &reader,
            Method::GET,
            "/social/feed/following?cursor=%%%",
            None,
        )
        .await;
    assert_eq!((bad.status, field(&bad)), (422, "cursor"), "{bad}");
}

#[tokio::test]
async fn scheduled_posts_publish_exactly_once_and_polls_close_once() {
    let mut w = world().await;
    let (author, voter, late) = (w.user().await, w.user().await, w.user().await);
    let at = in_secs(600);
    let scheduled = w
        .post(&author, json!({"text": "later #soon", "publish_at": at}))
        .await;
    assert_eq!(
        (scheduled.status, scheduled.body["state"].as_str()),
        (201, Some("scheduled")),
        "{scheduled}"
    );
    let sid = id(&scheduled);
    assert_eq!(
        w.call(&voter, Method::GET, &format!("/social/posts/{sid}"), None)
            .await
            .status,
        404
    );
    let edited = w
        .call(
            &author,
            Method::PATCH,
            &format!("/social/scheduled/{sid}"),
            Some(json!({"text": "later, edited #soon"})),
        )
        .await;
    assert_eq!(edited.status, 200, "{edited}");
    let listed = w
        .call(&author, Method::GET, "/social/scheduled", None)
        .await;
    assert_eq!(ids(&listed.body["items"]), vec![sid.clone()]);
    // Time passes (the schedule is moved back in the database); two job runs at once publish once.
    w.sql(&format!(
        "UPDATE social.posts SET publish_at = now() - interval '1 second' WHERE id = '{sid}'"
    ))
    .await;
    let (a, b) = tokio::join!(w.job("publish-scheduled"), w.job("publish-scheduled"));
    assert_eq!(
        a["published"].as_i64().unwrap() + b["published"].as_i64().unwrap(),
        1,
        "{a} {b}"
    );
    assert_eq!(w.job("publish-scheduled").await["published"], 0);
    let read = w
        .call(&voter, Method::GET, &format!("/social/posts/{sid}"), None)
        .await;
    assert_eq!(
        (read.status, read.body["text"].as_str()),
        (200, Some("later, edited #soon")),
        "{read}"
    );
    let announced = w
        .sql(&format!(
            "SELECT count(*) FROM social.outbox WHERE event_type = 'social.post.created' AND payload::text LIKE '%{sid}%'"
        ))
        .await;
    assert_eq!(announced[0].get::<_, i64>(0), 1, "announced once");

    // A single-choice poll: results after voting, one vote, closed once by the job.
    let poll = id(&w
        .post(
            &author,
            json!({"kind": "poll", "text": "Tea or coffee?",
                              "poll": {"options": ["tea", "coffee"], "closes_at": in_secs(3600)}}),
        )
        .await);
    let before = w
        .call(
            &voter,
            Method::GET,
            &format!("/social/posts/{poll}/poll"),
            None,
        )
        .await;
    assert_eq!(
        before.body["options"][0]["votes"],
        Value::Null,
        "hidden before voting: {before}"
    );
    let two = w
        .call(
            &voter,
            Method::POST,
            &format!("/social/posts/{poll}/votes"),
            Some(json!({"options": [0, 1]})),
        )
        .await;
    assert_eq!((two.status, field(&two)), (422, "options"), "{two}");
    let voted = w
        .call(
            &voter,
            Method::POST,
            &format!("/social/posts/{poll}/votes"),
            Some(json!({"options": [1]})),
        )
        .await;
    assert_eq!(
        (voted.status, voted.body["options"][1]["votes"].as_i64()),
        (200, Some(1)),
        "{voted}"
    );
    let twice = w
        .call(
            &voter,
            Method::POST,
            &format!("/social/posts/{poll}/votes"),
            Some(json!({"options": [0]})),
        )
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "already_voted"),
        "{twice}"
    );
    w.sql(&format!(
        "UPDATE social.polls SET closes_at = now() - interval '1 second' WHERE post_id = '{poll}'"
    ))
    .await;
    let closed = w
        .call(
            &late,
            Method::POST,
            &format!("/social/posts/{poll}/votes"),
            Some(json!({"options": [0]})),
        )
        .await;
    assert_eq!(
        (closed.status, closed.code()),
        (409, "poll_closed"),
        "{closed}"
    );
    let shown = w
        .call(
            &late,
            Method::GET,
            &format!("/social/posts/{poll}/poll"),
            None,
        )
        .await;
    assert_eq!(
        shown.body["options"][1]["votes"], 1,
        "results shown once closed: {shown}"
    );
    let (a, b) = tokio::join!(w.job("close-polls"), w.job("close-polls"));
    assert_eq!(
        a["ended"].as_i64().unwrap() + b["ended"].as_i64().unwrap(),
        1,
        "{a} {b}"
    );
    let ended = w
        .observer
        .wait_for(Duration::from_secs(10), |key, _| {
            key.ends_with("social.poll.ended")
        })
        .await;
    assert!(ended.is_some(), "social.poll.ended");
}

#[tokio::test]
async fn collaborations_reports_and_grouped_notifications_that_leave_with_the_post() {
    let mut w = world().await;
    let _notifier = w.app.notifier();
    let (brand, creator, declines, fan1, fan2, fan3) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    let collab = w
        .post(
            &brand,
            json!({"text": "Our drop", "coauthors": [creator.user_id, declines.user_id]}),
        )
        .await;
    assert_eq!(
        (collab.status, collab.body["kind"].as_str()),
        (201, Some("collaborative")),
        "{collab}"
    );
    let cid = id(&collab);
    let invited = w
        .call(&creator, Method::GET, "/social/collaborations", None)
        .await;
    assert_eq!(ids(&invited.body["items"]), vec![cid.clone()], "{invited}");
    let ok = w
        .call(
            &creator,
            Method::POST,
            &format!("/social/posts/{cid}/collaboration/accept"),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{ok}");
    let no = w
        .call(
            &declines,
            Method::POST,
            &format!("/social/posts/{cid}/collaboration/decline"),
            None,
        )
        .await;
    assert_eq!(no.status, 200, "{no}");
    let read = w
        .call(&fan1, Method::GET, &format!("/social/posts/{cid}"), None)
        .await;
    let coauthors: Vec<&str> = read.body["coauthors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(coauthors, vec![creator.user_id.as_str()], "{read}");
    let on_profile = w
        .call(
            &fan1,
            Method::GET,
            &format!("/social/users/{}/posts", creator.user_id),
            None,
        )
        .await;
    assert_eq!(
        ids(&on_profile.body["items"]),
        vec![cid.clone()],
        "on the co-author's profile"
    );
    // The co-author's followers get it in their feed.
    w.follow(&fan2, &creator).await;
    assert_eq!(w.feed(&fan2).await, vec![cid.clone()]);

    // Three likes and a comment: the brand's centre groups the likes into one notification.
    for fan in [&fan1, &fan2, &fan3] {
        let a = w
            .call(
                fan,
                Method::POST,
                &format!("/social/posts/{cid}/like"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{a}");
    }
    let c = w
        .call(
            &fan1,
            Method::POST,
            &format!("/social/posts/{cid}/comments"),
            Some(json!({"text": "Love it"})),
        )
        .await;
    assert_eq!(c.status, 201, "{c}");
    let grouped = eventually(Duration::from_secs(30), || async {
        let a = w.call(&brand, Method::GET, "/notifications", None).await;
        a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type"] == "social.post.liked" && n["actor_count"] == 3)
            .cloned()
    })
    .await;
    assert!(
        grouped.is_some(),
        "{}",
        w.call(&brand, Method::GET, "/notifications", None).await
    );

    // Reports wait for an operator; they never hide anything by themselves.
    let reported = w
        .call(
            &fan3,
            Method::POST,
            &format!("/social/posts/{cid}/reports"),
            Some(json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(reported.status, 201, "{reported}");
    let twice = w
        .call(
            &fan3,
            Method::POST,
            &format!("/social/posts/{cid}/reports"),
            Some(json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "already_reported"),
        "{twice}"
    );
    let bad = w
        .call(
            &fan3,
            Method::POST,
            &format!("/social/posts/{cid}/reports"),
            Some(json!({"reason": "meh"})),
        )
        .await;
    assert_eq!((bad.status, field(&bad)), (422, "reason"), "{bad}");
    assert_eq!(
        w.call(&fan2, Method::GET, &format!("/social/posts/{cid}"), None)
            .await
            .status,
        200
    );
    let queue = w
        .call(&fan1, Method::GET, "/social/operator/reports", None)
        .await;
    assert_eq!(queue.status, 403, "operators only: {queue}");

    // The brand deletes the post: its notifications go with it.
    let gone = w
        .call(
            &brand,
            Method::DELETE,
            &format!("/social/posts/{cid}"),
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{gone}");
    let cleared = eventually(Duration::from_secs(30), || async {
        let a = w.call(&brand, Method::GET, "/notifications", None).await;
        let left = a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["type"].as_str().is_some_and(|t| t.starts_with("social.")))
            .count();
        (left == 0).then_some(())
    })
    .await;
    assert!(
        cleared.is_some(),
        "{}",
        w.call(&brand, Method::GET, "/notifications", None).await
    );
}

#[tokio::test]
async fn trending_and_discover_follow_a_controllable_clock() {
    let mut w = world().await;
    let (viewer, followee, hot, cold, friend_of_friend) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    w.follow(&viewer, &followee).await;
    w.follow(&followee, &friend_of_friend).await;
    let hot_post = id(&w.post(&hot, json!({"text": "rising #wave"})).await);
    let cold_post = id(&w.post(&cold, json!({"text": "old news #wave"})).await);
    let fof_post = id(&w
        .post(&friend_of_friend, json!({"text": "hello from afar"}))
        .await);
    let likers: Vec<User> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(w.user().await);
        }
        v
    };
    for u in &likers {
        assert_eq!(
            w.call(
                u,
                Method::POST,
                &format!("/social/posts/{hot_post}/like"),
                None
            )
            .await
            .status,
            200
        );
    }
    assert_eq!(
        w.call(
            &likers[0],
            Method::POST,
            &format!("/social/posts/{cold_post}/like"),
            None
        )
        .await
        .status,
        200
    );
    // The cold post and its like are seeded a day back.
    w.sql(&format!(
        "UPDATE social.posts SET published_at = now() - interval '20 hours' WHERE id = '{cold_post}';"
    ))
    .await;
    w.sql(&format!("UPDATE social.likes SET created_at = now() - interval '20 hours' WHERE post_id = '{cold_post}'")).await;
    w.sql(&format!("UPDATE social.post_tags SET published_at = now() - interval '20 hours' WHERE post_id = '{cold_post}'")).await;

    let now = in_secs(1);
    let trending = w
        .call(
            &viewer,
            Method::GET,
            &format!("/social/feed/trending?at={now}"),
            None,
        )
        .await;
    assert_eq!(
        ids(&trending.body["items"]),
        vec![hot_post.clone()],
        "{trending}"
    );
    // Seen from two days later, nothing is trending.
    let later = w
        .call(
            &viewer,
            Method::GET,
            &format!("/social/feed/trending?at={}", in_secs(3 * 86_400)),
            None,
        )
        .await;
    assert!(ids(&later.body["items"]).is_empty(), "{later}");
    let bad = w
        .call(
            &viewer,
            Method::GET,
            "/social/feed/trending?at=yesterday",
            None,
        )
        .await;
    assert_eq!((bad.status, field(&bad)), (422, "at"), "{bad}");

    let unnoticed = id(&w.post(&cold, json!({"text": "nobody engaged"})).await);
    let discover = w
        .call(
            &viewer,
            Method::GET,
            &format!("/social/feed/discover?at={now}"),
            None,
        )
        .await;
    let found = ids(&discover.body["items"]);
    let at = |p: &String| found.iter().position(|f| f == p);
    assert!(
        at(&fof_post).is_some() && at(&fof_post) < at(&cold_post),
        "followed by a followee: {discover}"
    );
    assert_eq!(at(&hot_post), Some(0), "engagement counts: {discover}");
    assert_eq!(
        at(&unnoticed),
        None,
        "no affinity and no engagement: {discover}"
    );
    assert!(!found.contains(&id(&w.post(&followee, json!({"text": "mine"})).await)));
    // Blocking removes the author from discover too.
    w.block(&viewer, &friend_of_friend).await;
    let after = w
        .call(
            &viewer,
            Method::GET,
            &format!("/social/feed/discover?at={now}"),
            None,
        )
        .await;
    assert!(!ids(&after.body["items"]).contains(&fof_post), "{after}");
    let tags = w
        .call(
            &viewer,
            Method::GET,
            &format!("/social/tags/trending?at={now}"),
            None,
        )
        .await;
    assert_eq!(tags.status, 200, "{tags}");
}

/// Product and event posts show their cards as they are when read, with the viewer's followees
/// who are going (not those hiding it, never anyone blocked either way).
#[tokio::test]
async fn product_and_event_posts_carry_live_cards() {
    let mut w = world().await;
    let (seller, viewer, going, hidden_goer, blocked_goer) = (
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
        w.user().await,
    );
    for f in [&going, &hidden_goer, &blocked_goer] {
        w.follow(&viewer, f).await;
    }
    let shop = w
        .call(&seller, Method::POST, "/shop/shops", Some(json!({
            "handle": format!("duka{}", &seller.username[1..8]), "name": "Duka", "currency": "KES",
            "delivery_areas": [{"region": "Nairobi", "fee": 20_000}],
        })))
        .await;
    assert_eq!(shop.status, 201, "{shop}");
    let product = w
        .call(&seller, Method::POST, &format!("/shop/shops/{}/products", id(&shop)), Some(json!({
            "title": "Kikoi", "description": "Woven in Lamu", "options": ["size"],
            "variants": [{"sku": "K-1", "option_values": ["one"], "price": 150_000, "stock": 2}],
        })))
        .await;
    assert_eq!(product.status, 201, "{product}");
    let pid = id(&product);
    let post = w
        .post(
            &seller,
            json!({"kind": "product", "product_id": pid, "text": "New in!"}),
        )
        .await;
    assert_eq!(post.status, 201, "{post}");
    let read = w
        .call(
            &viewer,
            Method::GET,
            &format!("/social/posts/{}", id(&post)),
            None,
        )
        .await;
    assert_eq!(
        (
            read.body["product"]["price_min"].as_i64(),
            read.body["product"]["sold_out"].as_bool()
        ),
        (Some(150_000), Some(false)),
        "{read}"
    );
    // Sold out meanwhile: the card says so at the next read.
    w.sql(&format!(
        "UPDATE commerce.variants SET stock = 0 WHERE product_id = '{pid}'"
    ))
    .await;
    let again = w
        .call(
            &viewer,
            Method::GET,
            &format!("/social/posts/{}", id(&post)),
            None,
        )
        .await;
    assert_eq!(again.body["product"]["sold_out"], true, "{again}");

    // An event post: three followees hold tickets; one hides it, one the viewer blocked.
    let now = nexgate_platform::time::now_unix().0;
    let at = |s: i64| nexgate_platform::time::rfc3339(s, 0);
    let draft = w
        .call(&seller, Method::POST, "/events", Some(json!({
            "title": "Taarab night", "category": "music", "mode": "in_person", "venue_name": "Hall",
            "address": "Mnazi Mmoja 1", "region": "Zanzibar", "capacity": 100,
            "days": [{"starts_at": at(now + 86_400), "ends_at": at(now + 90_000)}],
        })))
        .await;
    assert_eq!(draft.status, 201, "{draft}");
    let event = id(&draft);
    let t = w
        .call(
            &seller,
            Method::POST,
            &format!("/events/{event}/ticket-types"),
            Some(json!({"name": "Free", "kind": "free", "quantity": 10, "max_per_order": 1})),
        )
        .await;
    assert_eq!(t.status, 201, "{t}");
    let published = w
        .call(
            &seller,
            Method::POST,
            &format!("/events/{event}/publish"),
            None,
        )
        .await;
    assert_eq!(published.status, 200, "{published}");
    let ticket_type = published.body["ticket_types"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (i, goer) in [&going, &hidden_goer, &blocked_goer]
        .into_iter()
        .enumerate()
    {
        let resp = w
            .app
            .http
            .post(w.app.url(&format!("/events/{event}/orders")))
            .bearer_auth(&goer.access_token)
            .header("idempotency-key", format!("go-{i}"))
            .json(&json!({"items": [{"ticket_type_id": ticket_type, "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let hide = w
        .call(
            &hidden_goer,
            Method::PUT,
            "/events/settings/attendance",
            Some(json!({"hidden": true})),
        )
        .await;
    assert_eq!(hide.status, 200, "{hide}");
    w.block(&viewer, &blocked_goer).await;
    let post = w
        .post(&seller, json!({"kind": "event", "event_id": event}))
        .await;
    assert_eq!(post.status, 201, "{post}");
    let read = w
        .call(
            &viewer,
            Method::GET,
            &format!("/social/posts/{}", id(&post)),
            None,
        )
        .await;
    let card = &read.body["event"];
    assert_eq!(card["seats_left"], 7, "{read}");
    assert_eq!(card["followees_going"]["count"], 1, "{read}");
    assert_eq!(
        card["followees_going"]["sample"][0]["id"],
        json!(going.user_id),
        "{read}"
    );
}

/// Limits per user come from the deployment; reports wait for an operator, who hides a post from
/// every read path.
#[tokio::test]
async fn post_limits_and_an_operator_hiding_a_reported_post() {
    let app = TestApp::start_with(
        Manifest::App,
        nexgate_tests::HostOptions {
            env: vec![("SPIN_VARIABLE_SOCIAL_POSTS_PER_HOUR".into(), "3".into())],
            ..nexgate_tests::HostOptions::default()
        },
    )
    .await;
    let mut observer = app.observe_events().await;
    let author = sign_up(&app, &mut observer).await;
    let reader = sign_up(&app, &mut observer).await;
    let mut operator = sign_up(&app, &mut observer).await;
    let as_author = |text: &str| {
        let (app, token) = (&app, author.access_token.clone());
        let body = json!({ "text": text });
        async move { call(app, Method::POST, "/social/posts", Some(body), Some(&token)).await }
    };
    let first = as_author("one #hidden").await;
    assert_eq!(first.status, 201, "{first}");
    assert_eq!(as_author("two").await.status, 201);
    assert_eq!(as_author("three").await.status, 201);
    let fourth = as_author("four").await;
    assert_eq!(fourth.status, 429, "{fourth}");
    assert!(fourth.headers.get("retry-after").is_some(), "{fourth}");

    let target = id(&first);
    let report = call(
        &app,
        Method::POST,
        &format!("/social/posts/{target}/reports"),
        Some(json!({"reason": "scam", "details": "asks for a deposit"})),
        Some(&reader.access_token),
    )
    .await;
    assert_eq!(report.status, 201, "{report}");
    nexgate_tests::auth::grant_role(&app, &mut operator, "operator").await;
    let queue = call(
        &app,
        Method::GET,
        "/social/operator/reports",
        None,
        Some(&operator.access_token),
    )
    .await;
    assert_eq!(queue.body["items"][0]["post_id"], json!(target), "{queue}");
    let report_id = queue.body["items"][0]["id"].as_str().unwrap().to_string();
    let hidden = call(
        &app,
        Method::POST,
        &format!("/social/operator/reports/{report_id}/resolve"),
        Some(json!({"action": "hide"})),
        Some(&operator.access_token),
    )
    .await;
    assert_eq!(
        (hidden.status, hidden.body["state"].as_str()),
        (200, Some("hidden")),
        "{hidden}"
    );
    for path in [
        format!("/social/posts/{target}"),
        format!("/social/posts/{target}/comments"),
    ] {
        let a = call(&app, Method::GET, &path, None, Some(&reader.access_token)).await;
        assert_eq!(a.status, 404, "{path}: {a}");
    }
    let tag = call(
        &app,
        Method::GET,
        "/social/tags/hidden/posts",
        None,
        Some(&reader.access_token),
    )
    .await;
    assert!(ids(&tag.body["items"]).is_empty(), "{tag}");
    let profile = call(
        &app,
        Method::GET,
        &format!("/social/users/{}/posts", author.user_id),
        None,
        Some(&reader.access_token),
    )
    .await;
    assert!(!ids(&profile.body["items"]).contains(&target), "{profile}");
    let empty = call(
        &app,
        Method::GET,
        "/social/operator/reports",
        None,
        Some(&operator.access_token),
    )
    .await;
    assert!(
        empty.body["items"].as_array().unwrap().is_empty(),
        "{empty}"
    );
}

async fn upload(w: &World, user: &User) -> String {
    let resp = w
        .app
        .http
        .post(w.app.url("/files?purpose=post"))
        .bearer_auth(&user.access_token)
        .header("content-type", "image/jpeg")
        .body(nexgate_tests::files::jpeg(640, 480))
        .send()
        .await
        .unwrap();
    let a = Answer::from_response(resp).await;
    assert_eq!(a.status, 201, "{a}");
    id(&a)
}

/// Media are the author's own ready files; the post card and `can_see` are published to the
/// other services' role.
#[tokio::test]
async fn media_are_the_authors_own_files_and_post_cards_are_published() {
    let mut w = world().await;
    let (amina, juma, stranger) = (w.user().await, w.user().await, w.user().await);
    let theirs = upload(&w, &juma).await;
    let refused = w
        .post(&amina, json!({"text": "not mine", "media": [theirs]}))
        .await;
    assert_eq!(
        (refused.status, field(&refused)),
        (422, "media[0]"),
        "{refused}"
    );
    let mine = upload(&w, &amina).await;
    let made = w
        .post(
            &amina,
            json!({"text": "mine", "media": [mine], "visibility": "followers"}),
        )
        .await;
    assert_eq!(made.status, 201, "{made}");
    let media = &made.body["media"][0];
    assert_eq!(media["file_id"], json!(mine), "{made}");
    assert!(
        media["variants"][0]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        "{made}"
    );
    let count = w
        .sql(&format!(
            "SELECT count(*) FROM social.posts WHERE author_id = '{}'",
            amina.user_id
        ))
        .await[0]
        .get::<_, i64>(0);
    assert_eq!(count, 1, "the refused post was not written");

    // Another service (its role is a member of nexgate_services) reads the card and asks who
    // may see it.
    let (other, conn) =
        tokio_postgres::connect(&w.app.db.url("nexgate_events"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let post = uuid::Uuid::parse_str(&id(&made)).unwrap();
    let card = other
        .query_one(
            "SELECT kind, text_excerpt, first_media_id::text, visibility, state FROM social.post_cards WHERE id = $1",
            &[&post],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            card.get::<_, String>(0),
            card.get::<_, String>(2),
            card.get::<_, String>(4)
        ),
        (
            "standard".to_string(),
            mine.clone(),
            "published".to_string()
        )
    );
    let sees = |viewer: &User| {
        let (other, viewer) = (&other, uuid::Uuid::parse_str(&viewer.user_id).unwrap());
        async move {
            other
                .query_one("SELECT social.can_see($1, $2)", &[&viewer, &post])
                .await
                .unwrap()
                .get::<_, bool>(0)
        }
    };
    assert!(sees(&amina).await && !sees(&stranger).await);
    let denied = other.query("SELECT 1 FROM social.posts LIMIT 1", &[]).await;
    assert!(
        denied.is_err(),
        "the tables behind the view are not granted"
    );
}
