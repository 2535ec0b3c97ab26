//! Per-user rate limits of direct messages (docs/dm.md, "Limits"): the platform's Redis counter.

use nexgate_platform::Problem;
use uuid::Uuid;

/// Messages a user sends per minute, unless the deployment says otherwise (`dm_sends_per_minute`).
pub const SENDS_PER_MINUTE: i64 = 60;

/// The send limit in force: the component's `sends_per_minute` variable when set, else
/// [`SENDS_PER_MINUTE`].
pub fn sends_per_minute() -> i64 {
    nexgate_platform::rate_limit::configured_limit("sends_per_minute", SENDS_PER_MINUTE)
}
/// Message requests (new direct conversations with people who do not follow the sender) per day.
pub const REQUESTS_PER_DAY: i64 = 20;
/// Reports a user files per day.
pub const REPORTS_PER_DAY: i64 = 20;
/// People a user adds to groups per hour.
pub const GROUP_ADDITIONS_PER_HOUR: i64 = 200;

/// Counts one `what` by `user`; past `limit` per `window_secs`, a 429 with `Retry-After`.
pub fn count(what: &str, user: Uuid, limit: i64, window_secs: i64) -> Result<(), Problem> {
    nexgate_platform::rate_limit::count_per_user("dm", what, user, limit, window_secs)
}
