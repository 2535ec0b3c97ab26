//! Per-user rate limits (docs/commerce.md, "Limits and errors"), counted by the platform's rate
//! limiter (one atomic Redis script per count, so parallel requests cannot pass the limit).

use nexgate_platform::config::{redis_key, var};
use nexgate_platform::rate_limit::{count_or_refuse, Rule};
use nexgate_platform::Problem;
use spin_sdk::redis::Connection;
use uuid::Uuid;

/// Counts one `what` by `user` in a window of `window_secs`; past `limit`, a 429 with
/// `Retry-After` until the window ends. Redis down is a 503 (the limit cannot be skipped).
pub fn count(what: &str, user: Uuid, limit: i64, window_secs: i64) -> Result<(), Problem> {
    let url = var("redis_url").map_err(Problem::internal)?;
    let prefix = var("redis_key_prefix").unwrap_or_default();
    let conn = Connection::open(&url).map_err(|e| {
        eprintln!("commerce: redis: {e}");
        Problem::unavailable("the rate limiter (Redis)")
    })?;
    let key = redis_key(&prefix, &["commerce", "limit", what, &user.to_string()]);
    let window_ms = window_secs * 1000;
    let rule = Rule {
        limit,
        window_ms,
        lockout_base_ms: window_ms,
        lockout_max_ms: window_ms,
    };
    count_or_refuse(&conn, &key, rule, what)
}
