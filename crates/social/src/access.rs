//! Who may see a post (docs/social.md, "Visibility"), decided at read time in SQL: published, not
//! hidden by an operator, no block either way between viewer and author, and public from an
//! account that is not private, or the viewer is the author or follows them. A plain repost is
//! seen only with what it reposts. Every read path applies it; a post the viewer may not see is a
//! 404, exactly like one that does not exist.

use nexgate_platform::db::query;
use nexgate_platform::Problem;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// The SQL condition that the post aliased `p` is visible to the viewer in parameter `viewer`
/// (e.g. `"$1"`). The same rule as `social.can_see` (migrations), inlined for lists.
pub fn sees(viewer: &str) -> String {
    format!(
        "(p.state = 'published' AND p.hidden_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = {viewer} AND b.user_b = p.author_id)
          AND (p.author_id = {viewer}
               OR (p.visibility = 'public' AND NOT EXISTS (
                     SELECT 1 FROM profiles.privacy_settings ps WHERE ps.user_id = p.author_id AND ps.is_private))
               OR profiles.follows({viewer}, p.author_id))
          AND (p.kind <> 'repost' OR social.can_see({viewer}, p.repost_of)))"
    )
}

/// The SQL condition that neither the viewer blocked the user in column `user` nor the reverse.
pub fn unblocked(viewer: &str, user: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way bx WHERE bx.user_a = {viewer} AND bx.user_b = {user})"
    )
}

/// 404 unless `viewer` may see `post`.
pub fn require_visible(conn: &Connection, viewer: Uuid, post: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT social.can_see($1, $2) AS sees",
        &[P::Uuid(viewer.to_string()), P::Uuid(post.to_string())],
    )?;
    if rows.value::<Option<bool>>(0, "sees")?.unwrap_or(false) {
        Ok(())
    } else {
        Err(no_such_post())
    }
}

pub fn no_such_post() -> Problem {
    Problem::not_found("no such post")
}

/// Whether `a` and `b` blocked each other (either way).
pub fn blocked(conn: &Connection, a: Uuid, b: Uuid) -> Result<bool, Problem> {
    let rows = query(
        conn,
        "SELECT profiles.blocked_either_way($1, $2) AS blocked",
        &[P::Uuid(a.to_string()), P::Uuid(b.to_string())],
    )?;
    rows.value(0, "blocked")
}
