//! Per-user rate limits (docs/social.md, "Limits"), counted by the platform's rate limiter (one
//! atomic Redis script per count, so parallel requests cannot pass a limit).

use nexgate_platform::Problem;
use uuid::Uuid;

/// One limit: at most `limit` per `window_secs`.
pub struct Limit {
    pub what: &'static str,
    pub limit: i64,
    pub window_secs: i64,
}

/// Posts (and edits) per hour; the deployment may change it (`social_posts_per_hour`).
pub const POSTS: Limit = Limit {
    what: "posts",
    limit: 60,
    window_secs: 3600,
};
pub const COMMENTS: Limit = Limit {
    what: "comments",
    limit: 120,
    window_secs: 3600,
};
/// Likes per hour; the deployment may change it (`social_likes_per_hour`).
pub const LIKES: Limit = Limit {
    what: "likes",
    limit: 600,
    window_secs: 3600,
};
pub const REPOSTS: Limit = Limit {
    what: "reposts",
    limit: 120,
    window_secs: 3600,
};
pub const VOTES: Limit = Limit {
    what: "votes",
    limit: 120,
    window_secs: 3600,
};
pub const REPORTS: Limit = Limit {
    what: "reports",
    limit: 20,
    window_secs: 86_400,
};
pub const BOOKMARKS: Limit = Limit {
    what: "bookmarks",
    limit: 600,
    window_secs: 3600,
};
/// Mention notifications an author causes per hour; past it, mentions still link but notify no one.
pub const MENTION_NOTIFICATIONS: Limit = Limit {
    what: "mention_notifications",
    limit: 50,
    window_secs: 3600,
};

/// The limit with its count from the component's variable `variable` when it is set (a
/// deployment's choice, e.g. a benchmark's), else the default.
pub fn configured(limit: &Limit, variable: &str) -> Limit {
    Limit {
        what: limit.what,
        limit: nexgate_platform::rate_limit::configured_limit(variable, limit.limit),
        window_secs: limit.window_secs,
    }
}

/// Counts one `limit.what` by `user`; past the limit, a 429 with `Retry-After` until the window
/// ends. Redis down is a 503 (a limit cannot be skipped).
pub fn count(limit: &Limit, user: Uuid) -> Result<(), Problem> {
    nexgate_platform::rate_limit::count_per_user(
        "social",
        limit.what,
        user,
        limit.limit,
        limit.window_secs,
    )
}

/// Whether one more of `limit.what` by `user` is within the limit (counted either way).
pub fn within(limit: &Limit, user: Uuid) -> bool {
    count(limit, user).is_ok()
}
