//! Social benchmarks (`bash bench/social.sh`, figures in bench/README.md), ignored in the suite.
//! Seeded with 10,000 users (`nexgate-ops seed-users`), 100 posts each (1,000,000) over 30 days, a
//! viewer following 1,000 of them and an author followed by all 10,000:
//! - home feed first and next pages at concurrency 4 (p50, p99), beside the raw Postgres query of
//!   the same page (what the feed costs without its cache) at the same concurrency;
//! - home feed at concurrency 16 beside `GET /users/relationships` for 100 ids at 16;
//! - post creation by the author with 10,000 followers at concurrency 4 (fan-out runs in the
//!   dispatcher meanwhile);
//! - like/unlike on one hot post by 64 users at once, beside `pgbench -c 64` on a bare counter
//!   UPDATE in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nexgate_tests::auth::{log_in, seed_users, sign_up, PASSWORD};
use nexgate_tests::bench::{latency_row as row, pgbench_bare_update, run_for as load};
use nexgate_tests::{HostOptions, Manifest, TestApp};
use serde_json::{json, Value};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn timed_get(http: &reqwest::Client, url: &str, token: &str) -> (Duration, Value) {
    let started = Instant::now();
    let resp = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let body: Value = resp.json().await.unwrap();
    (started.elapsed(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bash bench/social.sh"]
async fn home_feed_posting_and_likes() {
    let secs = env_or("BENCH_SECS", 15);
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: vec![
                (
                    "SPIN_VARIABLE_SOCIAL_POSTS_PER_HOUR".into(),
                    "10000000".into(),
                ),
                (
                    "SPIN_VARIABLE_SOCIAL_LIKES_PER_HOUR".into(),
                    "10000000".into(),
                ),
            ],
            ..HostOptions::default()
        },
    )
    .await;
    app.declare_queues("infra/subscriptions.toml");
    let _dispatcher = app.worker(
        "dispatcher",
        &[
            "--subscriptions",
            "infra/subscriptions.toml",
            "--expires-ms",
            "600000",
        ],
    );
    // The relay as scripts/up.sh runs it (its defaults): posts and likes are published by it.
    let _relay = app.worker("relay", &[]);
    let mut observer = app.observe_events().await;
    let viewer = sign_up(&app, &mut observer).await;
    let author = sign_up(&app, &mut observer).await;
    let seeding = Instant::now();
    let seeded = seed_users(&app, 10_000, "sb");
    let db = app.db.admin().await;
    let (v, a) = (
        uuid::Uuid::parse_str(&viewer.user_id).unwrap(),
        uuid::Uuid::parse_str(&author.user_id).unwrap(),
    );
    db.execute(
        "INSERT INTO profiles.follows (follower_id, followee_id)
         SELECT $1, user_id FROM profiles.profiles WHERE username LIKE 'sb%' ORDER BY username LIMIT 1000",
        &[&v],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO profiles.follows (follower_id, followee_id)
         SELECT user_id, $1 FROM profiles.profiles WHERE username LIKE 'sb%'",
        &[&a],
    )
    .await
    .unwrap();
    db.batch_execute(
        "INSERT INTO social.posts (id, author_id, kind, text, visibility, state, published_at, like_count, comment_count)
         SELECT gen_random_uuid(), u.user_id, 'standard', 'bench post ' || g.n, 'public', 'published',
                now() - make_interval(secs => (random() * 30 * 86400)::int), (random() * 20)::int, (random() * 3)::int
         FROM (SELECT user_id FROM profiles.profiles WHERE username LIKE 'sb%') u, generate_series(1, 100) AS g(n);
         ANALYZE social.posts; ANALYZE profiles.follows;",
    )
    .await
    .unwrap();
    let posts: i64 = db
        .query_one("SELECT count(*) FROM social.posts", &[])
        .await
        .unwrap()
        .get(0);
    println!(
        "seeded {} users, {posts} posts, 1,000 followees, 10,000 followers in {:.0} s",
        seeded.len(),
        seeding.elapsed().as_secs_f64()
    );

    println!("| what | requests | rate | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    let http = app.http.clone();
    let feed_url = app.url("/social/feed/following?limit=20");
    // Warm: the viewer's feed is built from Postgres once.
    let (built, _) = timed_get(&http, &feed_url, &viewer.access_token).await;
    println!(
        "| feed built from Postgres (first read, 1,000 followees) | 1 | | {:.1} | |",
        built.as_secs_f64() * 1000.0
    );

    for concurrency in [4usize, 16] {
        let (first, next): (Vec<Duration>, Vec<Duration>) = {
            let (http, url, token) = (http.clone(), feed_url.clone(), viewer.access_token.clone());
            let pairs = load(concurrency, secs, move |_, _| {
                let (http, url, token) = (http.clone(), url.clone(), token.clone());
                async move {
                    let (t1, body) = timed_get(&http, &url, &token).await;
                    let cursor = body["next_cursor"].as_str().unwrap().to_string();
                    let (t2, _) = timed_get(&http, &format!("{url}&cursor={cursor}"), &token).await;
                    // Tagged: first pages as they are, next pages offset by an hour.
                    vec![t1, t2 + Duration::from_secs(3600)]
                }
            })
            .await;
            let hour = Duration::from_secs(3600);
            (
                pairs.iter().copied().filter(|d| *d < hour).collect(),
                pairs
                    .iter()
                    .filter(|d| **d >= hour)
                    .map(|d| *d - hour)
                    .collect(),
            )
        };
        row(
            &format!("home feed, first page, c{concurrency}"),
            &first,
            secs,
        );
        let mut next = next;
        next.sort();
        row(
            &format!("home feed, next page, c{concurrency}"),
            &next,
            secs,
        );
    }

    // Baselines: the raw Postgres page (no cache) at 4; relationships of 100 ids at 16.
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (client, conn) =
            tokio_postgres::connect(&app.db.url("nexgate_social"), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        clients.push(Arc::new(client));
    }
    let clients = Arc::new(clients);
    let raw = load(4, secs, move |w, _| {
        let client = clients[w].clone();
        async move {
            let started = Instant::now();
            client.query(RAW_PAGE, &[&v]).await.unwrap();
            vec![started.elapsed()]
        }
    })
    .await;
    row(
        "baseline: raw Postgres page of 20 (no cache), c4",
        &raw,
        secs,
    );
    let ids: Vec<String> = seeded.iter().take(100).map(|s| s.user_id.clone()).collect();
    let rel_url = app.url(&format!("/users/relationships?ids={}", ids.join(",")));
    let rel = {
        let (http, token) = (http.clone(), viewer.access_token.clone());
        load(16, secs, move |_, _| {
            let (http, url, token) = (http.clone(), rel_url.clone(), token.clone());
            async move { vec![timed_get(&http, &url, &token).await.0] }
        })
        .await
    };
    row(
        "baseline: GET /users/relationships (100 ids), c16",
        &rel,
        secs,
    );

    // Post creation by the author with 10,000 followers.
    let post_url = app.url("/social/posts");
    let created = {
        let (http, token) = (http.clone(), author.access_token.clone());
        load(4, secs, move |w, r| {
            let (http, url, token) = (http.clone(), post_url.clone(), token.clone());
            async move {
                let started = Instant::now();
                let resp = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"text": format!("news {w}-{r} #bench")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201);
                vec![started.elapsed()]
            }
        })
        .await
    };
    row(
        "post creation, author with 10,000 followers, c4",
        &created,
        secs,
    );

    // The baseline on a quiet system: the relay has published what posting left it first.
    drain(&db).await;
    let tps = pgbench_bare_update(&app, 64, secs);
    println!("| baseline: pgbench -c 64 bare counter UPDATE | | {tps:.0}/s | | |");

    // Likes on one hot post: 64 users like and unlike in turn.
    let hot = http
        .post(app.url("/social/posts"))
        .bearer_auth(&author.access_token)
        .json(&json!({"text": "the hot one"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tokens: Vec<String> = futures::stream::iter(seeded.iter().take(64).map(|s| {
        let app = &app;
        async move {
            let a = log_in(app, &s.email, PASSWORD, "bench").await;
            a.body["access_token"].as_str().unwrap().to_string()
        }
    }))
    .buffer_unordered(8)
    .collect()
    .await;
    let tokens = Arc::new(tokens);
    let tokens_again = tokens.clone();
    let like_url = app.url(&format!("/social/posts/{hot}/like"));
    let likes = {
        let http = http.clone();
        load(64, secs, move |w, r| {
            let (http, url, tokens) = (http.clone(), like_url.clone(), tokens.clone());
            async move {
                let started = Instant::now();
                let req = if r % 2 == 0 {
                    http.post(&url)
                } else {
                    http.delete(&url)
                };
                let resp = req.bearer_auth(&tokens[w]).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                vec![started.elapsed()]
            }
        })
        .await
    };
    row("like/unlike on one hot post, c64", &likes, secs);
    // The split: the same users liking again (nothing changes, no event is published).
    let again_url = app.url(&format!("/social/posts/{hot}/like"));
    let repeat = {
        let (http, tokens) = (http.clone(), tokens_again.clone());
        load(64, secs, move |w, _| {
            let (http, url, tokens) = (http.clone(), again_url.clone(), tokens.clone());
            async move {
                let started = Instant::now();
                let resp = http
                    .post(&url)
                    .bearer_auth(&tokens[w])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                vec![started.elapsed()]
            }
        })
        .await
    };
    row(
        "like again (already liked: no write, no event), c64",
        &repeat,
        secs,
    );
    println!(
        "| likes ÷ pgbench | | {:.2} | | |",
        likes.len() as f64 / secs as f64 / tps
    );
}

/// The feed's truth for one page, straight from Postgres (the viewer's and followees' latest).
const RAW_PAGE: &str = "SELECT x.id FROM (
       SELECT $1::uuid AS author UNION SELECT f.followee_id FROM profiles.accepted_follows f WHERE f.follower_id = $1) a
     CROSS JOIN LATERAL (SELECT p.id, p.published_at FROM social.posts p
                         WHERE p.author_id = a.author AND p.state = 'published'
                         ORDER BY p.published_at DESC, p.id DESC LIMIT 20) x
     ORDER BY x.published_at DESC, x.id DESC LIMIT 20";

/// Waits (at most a minute) until the relay published every social outbox row.
async fn drain(db: &tokio_postgres::Client) {
    for _ in 0..120 {
        let left: i64 = db
            .query_one(
                "SELECT count(*) FROM social.outbox WHERE published_at IS NULL",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
