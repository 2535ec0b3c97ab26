//! Feed ranking (docs/social.md, "Ranking"): pure scores the feeds sort by, with the clock passed
//! in (so tests and the trending job are deterministic). Engagement weighs a repost over a comment
//! over a like; recency halves a post's weight every [`HALF_LIFE_HOURS`]; affinity (how often the
//! viewer engaged with the author lately) multiplies up to [`AFFINITY_MAX`]. Trending posts rise by
//! engagement per hour with a gravity that sinks older ones (Hacker News's form); trending tags
//! rise by how much faster they are used now than their own recent baseline.

/// Weights of each kind of engagement.
pub const LIKE_WEIGHT: f64 = 1.0;
pub const COMMENT_WEIGHT: f64 = 2.0;
pub const REPOST_WEIGHT: f64 = 3.0;
/// Hours after which a post's recency weight halves in the ranked following feed.
pub const HALF_LIFE_HOURS: f64 = 6.0;
/// The most affinity multiplies a post's score by.
pub const AFFINITY_MAX: f64 = 3.0;
/// Interactions with an author (last 30 days) that reach the full affinity.
pub const AFFINITY_FULL_AT: f64 = 20.0;
/// Gravity of the trending score: higher sinks older posts faster.
pub const GRAVITY: f64 = 1.5;

/// What people did with a post.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Engagement {
    pub likes: u64,
    pub comments: u64,
    pub reposts: u64,
}

impl Engagement {
    /// The weighted total.
    pub fn weighted(&self) -> f64 {
        self.likes as f64 * LIKE_WEIGHT
            + self.comments as f64 * COMMENT_WEIGHT
            + self.reposts as f64 * REPOST_WEIGHT
    }
}

/// A post's age in hours at `now` (Unix seconds); never negative (a clock a little behind).
pub fn age_hours(created_at: i64, now: i64) -> f64 {
    ((now - created_at).max(0) as f64) / 3600.0
}

/// The viewer's affinity with an author: 1 (never engaged) to [`AFFINITY_MAX`].
pub fn affinity(interactions_30d: u64) -> f64 {
    1.0 + (AFFINITY_MAX - 1.0) * (interactions_30d as f64 / AFFINITY_FULL_AT).min(1.0)
}

/// The ranked following feed's score:
/// `(1 + ln(1 + weighted engagement)) × affinity × 0.5^(age / HALF_LIFE_HOURS)`.
pub fn following_score(e: &Engagement, interactions_30d: u64, created_at: i64, now: i64) -> f64 {
    let decay = 0.5f64.powf(age_hours(created_at, now) / HALF_LIFE_HOURS);
    (1.0 + e.weighted().ln_1p()) * affinity(interactions_30d) * decay
}

/// The trending score of a post: weighted engagement of the recent window over
/// `(age in hours + 2)^GRAVITY`.
pub fn trending_score(recent: &Engagement, created_at: i64, now: i64) -> f64 {
    recent.weighted() / (age_hours(created_at, now) + 2.0).powf(GRAVITY)
}

/// How fast a tag rises: its uses per hour in the recent window over its uses per hour in the
/// baseline window before it (each plus one, so a new tag with a handful of uses does not beat
/// a busy one by division by zero).
pub fn tag_rise(
    recent_uses: u64,
    recent_hours: f64,
    baseline_uses: u64,
    baseline_hours: f64,
) -> f64 {
    let recent = recent_uses as f64 / recent_hours.max(1.0);
    let baseline = baseline_uses as f64 / baseline_hours.max(1.0);
    (recent + 1.0) / (baseline + 1.0)
}

/// How long a discover candidate keeps half its weight.
pub const DISCOVER_HALF_LIFE_HOURS: f64 = 24.0;

/// The discover feed's score of a post from someone the viewer does not follow:
/// `(1 + ln(1 + weighted engagement)) × (1 + ln(1 + followees who follow the author) + 0.5 ×
/// ln(1 + the viewer's engagement with the post's tags)) × 0.5^(age / 24 h)`.
pub fn discover_score(
    e: &Engagement,
    followees_following: u64,
    tag_affinity: u64,
    created_at: i64,
    now: i64,
) -> f64 {
    let decay = 0.5f64.powf(age_hours(created_at, now) / DISCOVER_HALF_LIFE_HOURS);
    let social = 1.0 + (followees_following as f64).ln_1p() + 0.5 * (tag_affinity as f64).ln_1p();
    (1.0 + e.weighted().ln_1p()) * social * decay
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const H: i64 = 3600;

    fn e(likes: u64, comments: u64, reposts: u64) -> Engagement {
        Engagement {
            likes,
            comments,
            reposts,
        }
    }

    #[test]
    fn recency_halves_every_half_life_and_the_future_is_now() {
        let fresh = following_score(&e(0, 0, 0), 0, NOW, NOW);
        let older = following_score(&e(0, 0, 0), 0, NOW - 6 * H, NOW);
        assert!((fresh - 1.0).abs() < 1e-9);
        assert!((older - 0.5).abs() < 1e-9);
        assert_eq!(following_score(&e(0, 0, 0), 0, NOW + H, NOW), fresh);
    }

    #[test]
    fn engagement_and_affinity_lift_a_post_within_bounds() {
        let plain = following_score(&e(0, 0, 0), 0, NOW - H, NOW);
        let liked = following_score(&e(10, 0, 0), 0, NOW - H, NOW);
        let reposted = following_score(&e(0, 0, 10), 0, NOW - H, NOW);
        assert!(plain < liked && liked < reposted);
        assert_eq!(affinity(0), 1.0);
        assert_eq!(affinity(10), 2.0);
        assert_eq!(affinity(1_000), AFFINITY_MAX, "capped");
        let close = following_score(&e(0, 0, 0), 20, NOW - H, NOW);
        assert!((close / plain - AFFINITY_MAX).abs() < 1e-9);
        // A friend's day-old post does not bury a stranger's fresh popular one for ever.
        let friend_old = following_score(&e(0, 0, 0), 20, NOW - 24 * H, NOW);
        let stranger_new = following_score(&e(50, 5, 2), 0, NOW - H, NOW);
        assert!(stranger_new > friend_old);
    }

    #[test]
    fn trending_favours_fresh_engagement_and_tags_rising_over_their_baseline() {
        let fresh = trending_score(&e(30, 0, 0), NOW - H, NOW);
        let stale = trending_score(&e(30, 0, 0), NOW - 24 * H, NOW);
        assert!(fresh > 10.0 * stale);
        assert_eq!(trending_score(&e(0, 0, 0), NOW, NOW), 0.0);
        // A busy tag used as much as always does not trend; a quiet one that jumps does.
        let steady = tag_rise(600, 6.0, 2400, 24.0);
        let jumping = tag_rise(120, 6.0, 24, 24.0);
        assert!((steady - 1.0).abs() < 1e-9);
        assert!(jumping > 5.0);
        assert_eq!(tag_rise(0, 6.0, 0, 24.0), 1.0);
    }

    #[test]
    fn discover_prefers_what_followees_follow_and_tags_the_viewer_likes() {
        let e = Engagement {
            likes: 10,
            comments: 0,
            reposts: 0,
        };
        let stranger = discover_score(&e, 0, 0, NOW - H, NOW);
        let friend_of_friends = discover_score(&e, 5, 0, NOW - H, NOW);
        let my_tags = discover_score(&e, 0, 5, NOW - H, NOW);
        assert!(friend_of_friends > my_tags && my_tags > stranger);
        let old = discover_score(&e, 5, 0, NOW - 49 * H, NOW);
        let ratio = old / friend_of_friends;
        assert!((ratio - 0.25).abs() < 1e-9, "two half-lives later: {ratio}");
    }
}
