//! Direct-message benchmarks (`bash bench/dm.sh`, figures in bench/README.md), ignored in the
//! suite. Seeds 1,000 users (`nexgate-ops seed-users`), one user in a direct conversation with each
//! of them (1,000 conversations), and 1,000,000 messages over 10,000 conversations (the 1,000 of
//! the user's and 9,000 between seeded users). Rows, each beside `GET /users/me` in the same run:
//! send at concurrency 4 and 16, the conversation list at 4 and 16, search at 4.

use std::time::{Duration, Instant};

use nexgate_tests::auth::sign_up;
use nexgate_tests::bench::{latency_row as row, run_for as load};
use nexgate_tests::{HostOptions, Manifest, TestApp};
use serde_json::json;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One timed GET that must answer 200 (a round of one request).
async fn get(http: reqwest::Client, url: String, token: String) -> Vec<Duration> {
    let started = Instant::now();
    let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.bytes().await.unwrap();
    vec![started.elapsed()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bash bench/dm.sh"]
async fn send_list_and_search() {
    let secs = env_or("BENCH_SECS", 15);
    // BENCH_ROWS=send,list,search picks rows (the baselines always run).
    let rows = std::env::var("BENCH_ROWS").unwrap_or_else(|_| "send,list,search".into());
    let wanted = |what: &str| rows.split(',').any(|r| r.trim() == what);
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: vec![("SPIN_VARIABLE_DM_SENDS_PER_MINUTE".into(), "1000000".into())],
            ..HostOptions::default()
        },
    )
    .await;
    // The relay publishes what sends leave to it, as in production; its work counts here too.
    let _relay = app.worker("relay", &[]);
    let mut observer = app.observe_events().await;
    let user = sign_up(&app, &mut observer).await;
    let seeding = Instant::now();
    let seeded = nexgate_tests::auth::seed_users(&app, 1000, "db");
    let db = app.db.admin().await;
    let me = uuid::Uuid::parse_str(&user.user_id).unwrap();
    db.execute(
        "WITH others AS (SELECT user_id, row_number() OVER (ORDER BY username) AS n
                         FROM profiles.profiles WHERE username LIKE 'db%'),
              convs AS (INSERT INTO dm.conversations (id, kind, pair_key, created_by, last_seq, last_message_at)
                        SELECT gen_random_uuid(), 'direct',
                               least($1::uuid::text, o.user_id::text) || ':' || greatest($1::uuid::text, o.user_id::text),
                               $1::uuid, 100, now() - make_interval(mins => o.n::int)
                        FROM others o RETURNING id, pair_key)
         INSERT INTO dm.members (conversation_id, user_id, read_seq)
         SELECT c.id, u.id, CASE WHEN u.id = $1::uuid THEN 90 ELSE 100 END
         FROM convs c, LATERAL (VALUES (split_part(c.pair_key, ':', 1)::uuid), (split_part(c.pair_key, ':', 2)::uuid)) AS u(id)",
        &[&me],
    )
    .await
    .unwrap();
    db.batch_execute(
        "INSERT INTO dm.conversations (id, kind, title, created_by, last_seq, last_message_at)
         SELECT gen_random_uuid(), 'group', 'bench group ' || g, (SELECT user_id FROM profiles.profiles WHERE username = 'db1'),
                100, now() - interval '1 day'
         FROM generate_series(1, 9000) g;
         INSERT INTO dm.messages (id, conversation_id, seq, sender_id, client_id, text, created_at)
         SELECT gen_random_uuid(), c.id, s, c.created_by, c.id::text || ':' || s,
                (ARRAY['habari', 'chai', 'sokoni', 'bei', 'kesho', 'asante', 'mzigo', 'safari', 'bus', 'harusi'])[1 + (s % 10)]
                  || ' ' || (ARRAY['leo', 'jana', 'sasa', 'tafadhali', 'rafiki', 'mama', 'duka', 'nyumbani', 'kazi', 'pesa'])[1 + ((s * 7 + length(c.id::text)) % 10)]
                  || ' ' || md5(c.id::text || s),
                now() - make_interval(mins => (100 - s))
         FROM dm.conversations c, generate_series(1, 100) s;
         UPDATE dm.members SET unread = dm.count_unread(conversation_id, user_id);
         ANALYZE dm.messages; ANALYZE dm.members; ANALYZE dm.conversations;",
    )
    .await
    .unwrap();
    let messages: i64 = db
        .query_one("SELECT count(*) FROM dm.messages", &[])
        .await
        .unwrap()
        .get(0);
    println!(
        "seeded {} users, 1,000 conversations of one user, {messages} messages in {:.0} s",
        seeded.len(),
        seeding.elapsed().as_secs_f64()
    );
    let conversations: Vec<String> = db
        .query(
            "SELECT conversation_id::text FROM dm.members WHERE user_id = $1 ORDER BY conversation_id LIMIT 64",
            &[&me],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    if std::env::var("BENCH_EXPLAIN").is_ok() {
        for word in ["chai", "harusi"] {
            let plan = db
                .query(
                    "EXPLAIN (ANALYZE, BUFFERS) SELECT msg.id FROM dm.messages msg
                     JOIN dm.members mem ON mem.conversation_id = msg.conversation_id AND mem.user_id = $1
                     WHERE msg.conversation_id = ANY(ARRAY(SELECT conversation_id FROM dm.members
                                                         WHERE user_id = $1 AND state IN ('active', 'request')))
                       AND msg.seq > mem.joined_seq AND msg.unsent_at IS NULL
                       AND msg.search @@ websearch_to_tsquery('simple', $2)
                       AND NOT EXISTS (SELECT 1 FROM dm.hidden_messages h WHERE h.user_id = $1 AND h.message_id = msg.id)
                     ORDER BY msg.created_at DESC, msg.id DESC LIMIT 20",
                    &[&me, &word],
                )
                .await
                .unwrap();
            for r in plan {
                eprintln!("plan {word}: {}", r.get::<_, String>(0));
            }
        }
    }
    println!("| what | requests | rate | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    let http = app.http.clone();
    for concurrency in [4usize, 16] {
        let me_url = app.url("/users/me");
        let (h, t) = (http.clone(), user.access_token.clone());
        let baseline = load(concurrency, secs, move |_, _| {
            get(h.clone(), me_url.clone(), t.clone())
        })
        .await;
        row(
            &format!("baseline: GET /users/me, c{concurrency}"),
            &baseline,
            secs,
        );

        if wanted("send") {
            let (h, t, convs, base) = (
                http.clone(),
                user.access_token.clone(),
                conversations.clone(),
                app.url(""),
            );
            let sends = load(concurrency, secs, move |w, r| {
                let (h, t) = (h.clone(), t.clone());
                let url = format!("{base}/dm/conversations/{}/messages", convs[w % convs.len()]);
                async move {
                    let started = Instant::now();
                    let resp = h
                        .post(&url)
                        .bearer_auth(&t)
                        .json(&json!({"client_id": format!("b{concurrency}-{w}-{r}"), "text": "bench message"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 201);
                    vec![started.elapsed()]
                }
            })
            .await;
            row(&format!("send a message, c{concurrency}"), &sends, secs);
        }

        if !wanted("list") {
            continue;
        }
        let list_url = app.url("/dm/conversations?limit=20");
        let (h, t) = (http.clone(), user.access_token.clone());
        let lists = load(concurrency, secs, move |_, _| {
            get(h.clone(), list_url.clone(), t.clone())
        })
        .await;
        row(
            &format!("conversation list (1,000 conversations), c{concurrency}"),
            &lists,
            secs,
        );
    }
    if !wanted("search") {
        return;
    }
    let words = ["chai", "sokoni", "harusi", "mzigo"];
    let base = app.url("/dm/search?limit=20&q=");
    let (h, t) = (http.clone(), user.access_token.clone());
    let searches = load(4, secs, move |w, r| {
        get(
            h.clone(),
            format!("{base}{}", words[(w + r as usize) % words.len()]),
            t.clone(),
        )
    })
    .await;
    row("search over 1,000,000 messages, c4", &searches, secs);
}
