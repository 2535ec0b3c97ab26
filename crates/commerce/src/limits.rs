//! Per-user rate limits (docs/commerce.md, "Limits and errors"): a fixed window counted in Redis by
//! one script (increment and expiry in one atomic step, so a crash cannot leave a counter without
//! its expiry).

use nexgate_platform::config::{redis_key, var};
use nexgate_platform::Problem;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
use uuid::Uuid;

/// KEYS[1] counter; ARGV[1] window ms. Returns {count, ms until the window ends}.
const COUNT_SCRIPT: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
"#;

/// Counts one `what` by `user` in a window of `window_secs`; past `limit`, a 429 with
/// `Retry-After`. Redis down is a 503 naming it (the limit cannot be skipped).
pub fn count(what: &str, user: Uuid, limit: i64, window_secs: i64) -> Result<(), Problem> {
    let url = var("redis_url").map_err(Problem::internal)?;
    let prefix = var("redis_key_prefix").unwrap_or_default();
    let conn = Connection::open(&url).map_err(|e| {
        eprintln!("commerce: redis: {e}");
        Problem::unavailable("the rate limiter (Redis)")
    })?;
    let key = redis_key(&prefix, &["commerce", "limit", what, &user.to_string()]);
    let reply = conn
        .execute(
            "EVAL",
            &[
                RedisParameter::Binary(COUNT_SCRIPT.as_bytes().to_vec()),
                RedisParameter::Int64(1),
                RedisParameter::Binary(key.into_bytes()),
                RedisParameter::Int64(window_secs * 1000),
            ],
        )
        .map_err(|e| {
            eprintln!("commerce: redis: {e}");
            Problem::unavailable("the rate limiter (Redis)")
        })?;
    let int = |i: usize| match reply.get(i) {
        Some(RedisResult::Int64(n)) => *n,
        _ => 0,
    };
    if int(0) > limit {
        return Err(Problem::rate_limited(
            (int(1).max(1000) as u64).div_ceil(1000),
        ));
    }
    Ok(())
}
