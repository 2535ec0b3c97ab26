//! Per-user rate limits (docs/commerce.md, "Limits and errors"), counted by the platform's rate
//! limiter (one atomic Redis script per count, so parallel requests cannot pass the limit).

use nexgate_platform::Problem;
use uuid::Uuid;

/// Counts one `what` by `user` in a window of `window_secs`; past `limit`, a 429 with
/// `Retry-After` until the window ends. Redis down is a 503 (the limit cannot be skipped).
pub fn count(what: &str, user: Uuid, limit: i64, window_secs: i64) -> Result<(), Problem> {
    nexgate_platform::rate_limit::count_per_user("commerce", what, user, limit, window_secs)
}
