//! The cached home feeds (docs/social.md, "Feeds"): fan-out on write, as Twitter's published
//! timeline design does. Each active viewer's home feed is a Redis sorted set of post ids scored by
//! publication time (microseconds), at most [`CAP`] entries, expiring [`TTL_SECS`] after it was
//! last rebuilt. Postgres is the truth: a feed that is missing (never built, expired, or lost with
//! Redis) is rebuilt from it on the next read ([`rebuild`], which registers the feed in
//! `social.active_feeds`); `social.post.created` adds the post to the cached feeds of its authors'
//! followers ([`fan_out`], from the dispatcher, so a post is answered before its fan-out runs); unfollows take the unfollowed author's posts out
//! ([`forget_author`]). Nothing about visibility is cached: every read filters blocks, mutes,
//! visibility, deletion and hiding in Postgres, so a stale entry is never shown.

use nexgate_platform::config::{redis_key, var};
use nexgate_platform::db::query;
use nexgate_platform::Problem;
use spin_sdk::pg4::{Connection as Pg, ParameterValue as P};
use spin_sdk::redis::{Connection, RedisParameter as R, RedisResult};
use uuid::Uuid;

/// Entries kept per home feed (older ones fall off; a reader paging past them gets the rest
/// from Postgres: [`older_from_postgres`]).
pub const CAP: i64 = 800;
/// A home feed nobody read for a week is dropped (rebuilt on the next read).
pub const TTL_SECS: i64 = 7 * 86_400;
/// How far back a rebuild looks, per followed author.
pub const REBUILD_PER_AUTHOR: i64 = 50;
/// Followers' feeds written per Redis script call.
const FAN_OUT_BATCH: usize = 500;
/// The member marking a built (possibly empty) feed; score -1, never read as a post.
const BUILT: &str = "built";

/// ZADD to every key that exists, trimming to the cap. ARGV: score, member, cap.
const FAN_OUT_SCRIPT: &str = "local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then
    redis.call('ZADD', k, ARGV[1], ARGV[2])
    redis.call('ZREMRANGEBYRANK', k, 0, -(tonumber(ARGV[3]) + 2))
    n = n + 1
  end
end
return n";

/// Replaces the key with the marker and the given (score, member) pairs. ARGV: ttl, pairs...
const REBUILD_SCRIPT: &str = "redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[1], -1, 'built')
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1";

pub fn redis() -> Result<Connection, Problem> {
    let url = var("redis_url").map_err(Problem::internal)?;
    Connection::open(&url).map_err(|e| {
        eprintln!("social: redis: {e}");
        Problem::unavailable("the feed cache (Redis)")
    })
}

fn key(viewer: Uuid) -> String {
    let prefix = var("redis_key_prefix").unwrap_or_default();
    redis_key(&prefix, &["social", "home", &viewer.to_string()])
}

fn unavailable(e: spin_sdk::redis::Error) -> Problem {
    eprintln!("social: redis: {e}");
    Problem::unavailable("the feed cache (Redis)")
}

/// Up to `want` (post, score) of the viewer's home feed strictly older than `before` (a score),
/// newest first; the feed is rebuilt from Postgres first when it is missing.
pub fn page(
    pg: &Pg,
    viewer: Uuid,
    before: Option<i64>,
    want: usize,
) -> Result<Vec<(Uuid, i64)>, Problem> {
    let redis = redis()?;
    let k = key(viewer);
    let exists = redis
        .execute("EXISTS", &[R::Binary(k.clone().into_bytes())])
        .map_err(unavailable)?;
    if !matches!(exists.first(), Some(RedisResult::Int64(1))) {
        rebuild(pg, &redis, viewer)?;
    }
    let max = before.map_or("+inf".to_string(), |b| format!("({b}"));
    let reply = redis
        .execute(
            "ZREVRANGEBYSCORE",
            &[
                R::Binary(k.into_bytes()),
                R::Binary(max.into_bytes()),
                R::Binary(b"0".to_vec()),
                R::Binary(b"WITHSCORES".to_vec()),
                R::Binary(b"LIMIT".to_vec()),
                R::Int64(0),
                R::Int64(want as i64),
            ],
        )
        .map_err(unavailable)?;
    let mut out = Vec::with_capacity(reply.len() / 2);
    for pair in reply.chunks(2) {
        let (Some(member), Some(score)) = (text(&pair[0]), pair.get(1).and_then(text)) else {
            continue;
        };
        if let (Ok(id), Ok(score)) = (member.parse::<Uuid>(), score.parse::<f64>()) {
            out.push((id, score as i64));
        }
    }
    Ok(out)
}

fn text(r: &RedisResult) -> Option<String> {
    match r {
        RedisResult::Binary(b) => String::from_utf8(b.clone()).ok(),
        RedisResult::Status(s) => Some(s.clone()),
        RedisResult::Int64(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The SQL of the home feed's truth: the latest posts of the viewer (`$1`), the accounts they
/// follow, and posts co-authored by them, older than `$2` (micros, or NULL), newest first.
fn truth_sql(limit: &str) -> String {
    format!(
        "SELECT id, score FROM (
           SELECT x.id, x.score FROM (
               SELECT $1::uuid AS author
               UNION SELECT f.followee_id FROM profiles.accepted_follows f WHERE f.follower_id = $1) a
           CROSS JOIN LATERAL (
               SELECT p.id, (extract(epoch FROM p.published_at) * 1000000)::int8 AS score
               FROM social.posts p
               WHERE p.author_id = a.author AND p.state = 'published'
                 AND ($2::int8 IS NULL OR p.published_at < to_timestamp($2::int8 / 1000000.0))
               ORDER BY p.published_at DESC, p.id DESC LIMIT {REBUILD_PER_AUTHOR}) x
           UNION
           SELECT p.id, (extract(epoch FROM p.published_at) * 1000000)::int8
           FROM profiles.accepted_follows f
           JOIN social.coauthors c ON c.user_id = f.followee_id AND c.state = 'accepted'
           JOIN social.posts p ON p.id = c.post_id AND p.state = 'published'
           WHERE f.follower_id = $1
             AND ($2::int8 IS NULL OR p.published_at < to_timestamp($2::int8 / 1000000.0))
         ) feed ORDER BY score DESC, id DESC LIMIT {limit}"
    )
}

/// Builds the viewer's cached feed from Postgres.
pub fn rebuild(pg: &Pg, redis: &Connection, viewer: Uuid) -> Result<(), Problem> {
    let rows = query(
        pg,
        &truth_sql(&CAP.to_string()),
        &[P::Uuid(viewer.to_string()), P::DbNull],
    )?;
    let mut args = vec![
        R::Binary(REBUILD_SCRIPT.as_bytes().to_vec()),
        R::Int64(1),
        R::Binary(key(viewer).into_bytes()),
        R::Int64(TTL_SECS),
    ];
    for i in 0..rows.len() {
        args.push(R::Int64(rows.value::<i64>(i, "score")?));
        args.push(R::Binary(
            rows.value::<Uuid>(i, "id")?.to_string().into_bytes(),
        ));
    }
    redis.execute("EVAL", &args).map_err(unavailable)?;
    // Registered a little longer than the key lives: fan-out skips only feeds surely gone.
    pg.execute(
        "INSERT INTO social.active_feeds (viewer_id, until)
         VALUES ($1, now() + make_interval(secs => $2::int8::float8 + 3600))
         ON CONFLICT (viewer_id) DO UPDATE SET until = EXCLUDED.until",
        &[P::Uuid(viewer.to_string()), P::Int64(TTL_SECS)],
    )?;
    Ok(())
}

/// Past the cached entries: the next posts straight from Postgres.
pub fn older_from_postgres(
    pg: &Pg,
    viewer: Uuid,
    before: i64,
    want: usize,
) -> Result<Vec<(Uuid, i64)>, Problem> {
    let rows = query(
        pg,
        &truth_sql(&want.to_string()),
        &[P::Uuid(viewer.to_string()), P::Int64(before)],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        out.push((rows.value(i, "id")?, rows.value(i, "score")?));
    }
    Ok(out)
}

/// Adds the post to the cached feeds of the authors' followers and the authors themselves: only
/// those registered in `social.active_feeds` are tried (an author with 10,000 followers of whom
/// 50 read lately costs 50 writes, not 10,000), and the script adds only to keys that exist.
/// Returns how many feeds it reached.
pub fn fan_out(pg: &Pg, post: Uuid) -> Result<i64, Problem> {
    let rows = query(
        pg,
        "SELECT (extract(epoch FROM p.published_at) * 1000000)::int8 AS score,
                array(SELECT r.a FROM (
                    SELECT p.author_id AS a
                    UNION SELECT c.user_id FROM social.coauthors c WHERE c.post_id = p.id AND c.state = 'accepted'
                    UNION SELECT f.follower_id FROM profiles.accepted_follows f
                          WHERE f.followee_id = p.author_id
                             OR f.followee_id IN (SELECT c.user_id FROM social.coauthors c
                                                  WHERE c.post_id = p.id AND c.state = 'accepted')) r
                      JOIN social.active_feeds af ON af.viewer_id = r.a AND af.until > now())::text[] AS readers
         FROM social.posts p WHERE p.id = $1 AND p.state = 'published'",
        &[P::Uuid(post.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(0);
    }
    let score: i64 = rows.value(0, "score")?;
    let readers: Vec<Option<String>> = rows.value(0, "readers")?;
    let redis = redis()?;
    let mut reached = 0;
    let readers: Vec<Uuid> = readers
        .into_iter()
        .flatten()
        .filter_map(|r| r.parse().ok())
        .collect();
    for batch in readers.chunks(FAN_OUT_BATCH) {
        let mut args = vec![
            R::Binary(FAN_OUT_SCRIPT.as_bytes().to_vec()),
            R::Int64(batch.len() as i64),
        ];
        args.extend(batch.iter().map(|r| R::Binary(key(*r).into_bytes())));
        args.push(R::Int64(score));
        args.push(R::Binary(post.to_string().into_bytes()));
        args.push(R::Int64(CAP));
        let reply = redis.execute("EVAL", &args).map_err(unavailable)?;
        if let Some(RedisResult::Int64(n)) = reply.first() {
            reached += n;
        }
    }
    Ok(reached)
}

/// Takes `author`'s posts (the latest the feed can hold) out of `viewer`'s cached feed.
pub fn forget_author(pg: &Pg, viewer: Uuid, author: Uuid) -> Result<(), Problem> {
    let ids: Vec<Uuid> = query(
        pg,
        &format!(
            "SELECT id FROM social.posts WHERE author_id = $1 AND state = 'published'
             ORDER BY published_at DESC LIMIT {CAP}"
        ),
        &[P::Uuid(author.to_string())],
    )?
    .column("id")?;
    if ids.is_empty() {
        return Ok(());
    }
    let mut args = vec![R::Binary(key(viewer).into_bytes())];
    args.extend(ids.iter().map(|i| R::Binary(i.to_string().into_bytes())));
    redis()?.execute("ZREM", &args).map_err(unavailable)?;
    Ok(())
}

/// Drops the viewer's cached feed (rebuilt on the next read), e.g. after a new follow.
pub fn forget(viewer: Uuid) -> Result<(), Problem> {
    redis()?
        .execute("DEL", &[R::Binary(key(viewer).into_bytes())])
        .map_err(unavailable)?;
    Ok(())
}

/// Whether `member` is the built marker (never a post).
pub fn is_marker(member: &str) -> bool {
    member == BUILT
}
