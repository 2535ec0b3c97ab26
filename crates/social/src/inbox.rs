//! `POST /internal/social/events` (the dispatcher, behind `social_internal_token`): the events
//! that move cached home feeds ([`crate::timeline`]) and a deleted account's erasure ([`erase`]).
//! - `social.post.created`: the post goes into its authors' followers' cached feeds (idempotent:
//!   a sorted-set member added twice is there once);
//! - `profiles.follow.created`: the follower's cached feed is dropped (rebuilt with the new
//!   followee's posts on the next read);
//! - `profiles.follow.deleted` (unfollowed, removed, blocked): the followee's posts leave the
//!   follower's cached feed;
//! - `auth.account.deleted` (once per envelope): the user's posts, comments, likes, votes,
//!   bookmarks, reposts, reports, pins and mentions are erased (others' counts go down with
//!   them), co-authored posts lose the user's credit, and `social.post.deleted` is recorded for
//!   each of their posts so the notifier removes others' notifications about them.

use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::catalogue::profiles::{FollowCreated, FollowDeleted};
use nexgate_events::catalogue::social::{PostCreated, PostDeleted};
use nexgate_events::inbox;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

pub fn consume(req: &Request, component: &str) -> Result<Response, Problem> {
    let envelope = inbox::read(req)?;
    if let Some(created) = envelope.data_as::<PostCreated>() {
        let reached = crate::timeline::fan_out(&db()?, created.post_id)?;
        return Ok(json(200, &json!({ "applied": true, "feeds": reached })));
    }
    if let Some(follow) = envelope.data_as::<FollowCreated>() {
        crate::timeline::forget(follow.follower_id)?;
        return Ok(json(200, &json!({ "applied": true })));
    }
    if let Some(ended) = envelope.data_as::<FollowDeleted>() {
        crate::timeline::forget_author(&db()?, ended.follower_id, ended.followee_id)?;
        return Ok(json(200, &json!({ "applied": true })));
    }
    if let Some(deleted) = envelope.data_as::<AccountDeleted>() {
        let conn = db()?;
        let erased = with_events(&conn, crate::SCHEMA, component, |conn, events| {
            if !inbox::first_delivery(conn, crate::SCHEMA, envelope.id)? {
                return Ok(json!({ "again": true }));
            }
            // Others' notifications about the user's posts go too (social.post.deleted each).
            events.leave_to_relay();
            let posts: Vec<Uuid> = query(
                conn,
                "SELECT id FROM social.posts WHERE author_id = $1 AND state = 'published'",
                &[P::Uuid(deleted.user_id.to_string())],
            )?
            .column("id")?;
            for post in posts {
                events.record(
                    conn,
                    None,
                    ("post", post.to_string()),
                    vec![deleted.user_id],
                    &PostDeleted {
                        post_id: post,
                        author_id: deleted.user_id,
                    },
                )?;
            }
            erase(conn, deleted.user_id)
        })?;
        crate::timeline::forget(deleted.user_id)?;
        return Ok(json(200, &json!({ "applied": true, "erased": erased })));
    }
    Ok(inbox::not_consumed(&envelope))
}

/// Everything social holds of `user`; counts on other people's posts and comments go down.
fn erase(conn: &Connection, user: Uuid) -> Result<serde_json::Value, Problem> {
    let me = || P::Uuid(user.to_string());
    let count = |sql: &str| -> Result<usize, Problem> { Ok(query(conn, sql, &[me()])?.len()) };
    let likes = count(
        "WITH gone AS (DELETE FROM social.likes WHERE user_id = $1 RETURNING post_id)
         UPDATE social.posts p SET like_count = greatest(like_count - g.n, 0)
         FROM (SELECT post_id, count(*)::int AS n FROM gone GROUP BY post_id) g WHERE p.id = g.post_id RETURNING p.id",
    )?;
    count(
        "WITH gone AS (DELETE FROM social.comment_likes WHERE user_id = $1 RETURNING comment_id)
         UPDATE social.comments c SET like_count = greatest(like_count - 1, 0) FROM gone WHERE c.id = gone.comment_id RETURNING c.id",
    )?;
    let bookmarks = count(
        "WITH gone AS (DELETE FROM social.bookmarks WHERE user_id = $1 RETURNING post_id)
         UPDATE social.posts p SET bookmark_count = greatest(bookmark_count - 1, 0) FROM gone WHERE p.id = gone.post_id RETURNING p.id",
    )?;
    let votes = count(
        "WITH gone AS (DELETE FROM social.poll_votes WHERE user_id = $1 RETURNING post_id, position)
         UPDATE social.poll_options o SET votes = greatest(votes - 1, 0) FROM gone
         WHERE o.post_id = gone.post_id AND o.position = gone.position RETURNING o.post_id",
    )?;
    // Comments (their replies go with them); the counts of the posts and threads they were on are
    // counted again.
    let touched = query(
        conn,
        "SELECT coalesce(array_agg(DISTINCT post_id::text), '{}') AS posts,
                coalesce(array_agg(DISTINCT parent_id::text) FILTER (WHERE parent_id IS NOT NULL), '{}') AS threads
         FROM social.comments WHERE author_id = $1",
        &[me()],
    )?;
    let (posts, threads): (Vec<Option<String>>, Vec<Option<String>>) =
        (touched.value(0, "posts")?, touched.value(0, "threads")?);
    let comments = count("DELETE FROM social.comments WHERE author_id = $1 RETURNING id")?;
    conn.execute(
        "UPDATE social.posts p SET comment_count =
             (SELECT count(*) FROM social.comments c WHERE c.post_id = p.id AND c.state = 'visible')
         WHERE p.id = ANY($1::text[]::uuid[])",
        &[P::ArrayStr(posts)],
    )?;
    conn.execute(
        "UPDATE social.comments t SET reply_count =
             (SELECT count(*) FROM social.comments c WHERE c.parent_id = t.id AND c.state = 'visible')
         WHERE t.id = ANY($1::text[]::uuid[])",
        &[P::ArrayStr(threads)],
    )?;
    let reposts = count(
        "WITH gone AS (DELETE FROM social.posts r WHERE r.author_id = $1 AND r.kind = 'repost' RETURNING repost_of)
         UPDATE social.posts p SET repost_count = greatest(repost_count - 1, 0) FROM gone WHERE p.id = gone.repost_of RETURNING p.id",
    )?;
    let credits = count("DELETE FROM social.coauthors WHERE user_id = $1 RETURNING post_id")?;
    count("DELETE FROM social.mentions WHERE user_id = $1 RETURNING post_id")?;
    count("DELETE FROM social.reports WHERE reporter_id = $1 RETURNING id")?;
    count("DELETE FROM social.pins WHERE user_id = $1 RETURNING post_id")?;
    count("DELETE FROM social.active_feeds WHERE viewer_id = $1 RETURNING viewer_id")?;
    // Quotes of others keep pointing at a blanked, deleted stub; the rest of the posts go.
    count(
        "UPDATE social.posts SET state = 'deleted', text = '', facets = '[]', deleted_at = now(),
                                 published_at = coalesce(published_at, now())
         WHERE author_id = $1 RETURNING id",
    )?;
    let posts = count(
        "DELETE FROM social.posts p WHERE p.author_id = $1
           AND NOT EXISTS (SELECT 1 FROM social.posts q WHERE q.repost_of = p.id) RETURNING id",
    )?;
    count(
        "DELETE FROM social.post_media m USING social.posts p WHERE m.post_id = p.id AND p.author_id = $1 RETURNING m.post_id",
    )?;
    Ok(json!({
        "posts": posts, "comments": comments, "likes": likes, "votes": votes,
        "bookmarks": bookmarks, "reposts": reposts, "coauthor_credits": credits,
    }))
}
