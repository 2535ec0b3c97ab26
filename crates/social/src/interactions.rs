//! Likes, reposts and bookmarks (docs/social.md, "Interactions"). Each changes its row and the
//! post's count in one transaction (a like is a primary key: liking twice changes nothing), so
//! counts are exact under concurrency. Only a post the viewer may see can be touched (404
//! otherwise, as if it did not exist).

use nexgate_authn::authenticate;
use nexgate_events::catalogue::social::{PostCreated, PostLiked, PostReposted};
use nexgate_events::outbox::{with_events, Outbox};
use nexgate_platform::body::{json_response as json, query_string};
use nexgate_platform::db::{open_from_variables as db, query, ts, ts_as};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

use crate::access::{require_visible, unblocked};

/// `POST /social/posts/{id}/like`: `{liked: true, likes}` (the same when liked already).
///
/// The hot path of a popular post: one read (may the viewer see it, whose is it) and one
/// statement in autocommit that inserts the like, counts it and writes `social.post.liked` to the
/// outbox together, so the post's row lock is held for that statement only. The event is
/// published by the relay.
pub fn like(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let author = visible_author(&conn, ctx.user_id, id)?;
    crate::limits::count(
        &crate::limits::configured(&crate::limits::LIKES, "likes_per_hour"),
        ctx.user_id,
    )?;
    let events = Outbox::new(crate::SCHEMA, component)?;
    let (envelope, row) = events.row(
        Some(ctx.user_id),
        ("post", id.to_string()),
        vec![author],
        &PostLiked {
            post_id: id,
            author_id: author,
            liker_id: ctx.user_id,
        },
    )?;
    let mut params = vec![P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())];
    params.extend(row);
    let done = query(
        &conn,
        "WITH liked AS (INSERT INTO social.likes (post_id, user_id) VALUES ($1, $2)
                        ON CONFLICT DO NOTHING RETURNING post_id),
              counted AS (UPDATE social.posts p SET like_count = like_count + 1 FROM liked
                          WHERE p.id = liked.post_id RETURNING p.like_count),
              announced AS (INSERT INTO social.outbox (id, event_type, topic, payload, purge_after_publish)
                            SELECT $3::uuid, $4::text, $5::text, $6::jsonb, $7::boolean FROM counted RETURNING id)
         SELECT coalesce((SELECT like_count FROM counted),
                         (SELECT like_count FROM social.posts WHERE id = $1)) AS likes,
                EXISTS (SELECT 1 FROM announced) AS announced",
        &params,
    )?;
    // social.post.liked is left to the relay (docs/social.md, "Speed"): the notifier groups
    // likes anyway, and a broker connection per like was the storm's bottleneck.
    let _ = (done.value::<bool>(0, "announced")?, envelope);
    let likes: i32 = done.value(0, "likes")?;
    Ok(json(200, &json!({"liked": true, "likes": likes})))
}

/// The author of a post the viewer may see (404 otherwise), in one read.
fn visible_author(
    conn: &spin_sdk::pg4::Connection,
    viewer: Uuid,
    post: Uuid,
) -> Result<Uuid, Problem> {
    let rows = query(
        conn,
        "SELECT p.author_id FROM social.posts p WHERE p.id = $2 AND social.can_see($1, $2)",
        &[P::Uuid(viewer.to_string()), P::Uuid(post.to_string())],
    )?;
    if rows.is_empty() {
        return Err(crate::access::no_such_post());
    }
    rows.value(0, "author_id")
}

/// `DELETE /social/posts/{id}/like`: `{liked: false, likes}`.
pub fn unlike(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    require_visible(&conn, ctx.user_id, id)?;
    let rows = query(
        &conn,
        "WITH gone AS (DELETE FROM social.likes WHERE post_id = $1 AND user_id = $2 RETURNING post_id)
         UPDATE social.posts p SET like_count = like_count - (SELECT count(*) FROM gone)::int
         WHERE p.id = $1 RETURNING p.like_count",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    Ok(json(
        200,
        &json!({"liked": false, "likes": rows.value::<i32>(0, "like_count")?}),
    ))
}

/// `GET /social/posts/{id}/likes?cursor=&limit=`: who liked it, newest first, without anyone the
/// viewer and they blocked either way.
pub fn likers(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 20, 100)?;
    let conn = db()?;
    require_visible(&conn, ctx.user_id, id)?;
    let (at, after) = after_params(&page.after);
    let rows = query(
        &conn,
        &format!(
            "SELECT l.user_id, pc.username, pc.display_name, {} FROM social.likes l
             JOIN profiles.public_cards pc ON pc.user_id = l.user_id
             WHERE l.post_id = $1 AND {}
               AND ($3::text IS NULL OR (l.created_at, l.user_id) < ($3::text::timestamptz, $4::uuid))
             ORDER BY l.created_at DESC, l.user_id DESC LIMIT $5",
            ts("l.created_at"),
            unblocked("$2", "l.user_id")
        ),
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string()), at, after, P::Int64(page.limit.into())],
    )?;
    let mut items = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        items.push(json!({
            "id": rows.value::<Uuid>(i, "user_id")?,
            "username": rows.value::<Option<String>>(i, "username")?,
            "display_name": rows.value::<Option<String>>(i, "display_name")?,
            "liked_at": rows.value::<String>(i, "created_at")?,
        }));
    }
    let next = next_cursor(&rows, page.limit, "created_at", "user_id")?;
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

/// Cursor parameters (time, id) for `$n::text` / `$n+1::uuid`.
pub fn after_params(after: &Option<(CursorTime, Uuid)>) -> (P, P) {
    match after {
        Some((at, id)) => (P::Str(at.as_str().to_string()), P::Uuid(id.to_string())),
        None => (P::DbNull, P::DbNull),
    }
}

/// The next cursor of a full page (its last row's time and id), else `None`.
pub fn next_cursor(
    rows: &nexgate_platform::db::Rows,
    limit: u32,
    at: &str,
    id: &str,
) -> Result<Option<String>, Problem> {
    if rows.len() < limit as usize || rows.is_empty() {
        return Ok(None);
    }
    let last = rows.len() - 1;
    Ok(Some(encode_cursor(&(
        rows.value::<String>(last, at)?,
        rows.value::<Uuid>(last, id)?,
    ))))
}

/// `POST /social/posts/{id}/repost`: 201 with the repost (a post of kind `repost`). A
/// followers-only post can be reposted only to the reposter's followers (the repost is
/// followers-only), and is shown only to those who may see the original too.
pub fn repost(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let target = parse_id("id", id)?;
    let conn = db()?;
    let visibility = crate::posts::quotable(&conn, ctx.user_id, target)?;
    crate::limits::count(&crate::limits::REPOSTS, ctx.user_id)?;
    let repost = new_id();
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let made = query(
            conn,
            &format!(
                "INSERT INTO social.posts (id, author_id, kind, visibility, repost_of, published_at)
                 VALUES ($1, $2, 'repost', $3, $4, now()) ON CONFLICT DO NOTHING RETURNING {}",
                ts("published_at")
            ),
            &[
                P::Uuid(repost.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                P::Str(visibility.clone()),
                P::Uuid(target.to_string()),
            ],
        )?;
        if made.is_empty() {
            return Err(Problem::conflict(
                "already_reposted",
                "you reposted this post already",
            ));
        }
        let published_at: String = made.value(0, "published_at")?;
        let author: Uuid = query(
            conn,
            "UPDATE social.posts SET repost_count = repost_count + 1 WHERE id = $1 RETURNING author_id",
            &[P::Uuid(target.to_string())],
        )?
        .value(0, "author_id")?;
        events.record(
            conn,
            Some(ctx.user_id),
            ("post", target.to_string()),
            vec![author],
            &PostReposted {
                post_id: target,
                author_id: author,
                reposter_id: ctx.user_id,
            },
        )?;
        events.record(
            conn,
            Some(ctx.user_id),
            ("post", repost.to_string()),
            vec![ctx.user_id],
            &PostCreated {
                post_id: repost,
                author_id: ctx.user_id,
                kind: "repost".into(),
                published_at,
            },
        )
    })?;
    Ok(json(201, &crate::hydrate::one(&conn, ctx.user_id, repost)?))
}

/// `DELETE /social/posts/{id}/repost`: undoes the viewer's plain repost of the post (204).
pub fn unrepost(req: &Request, id: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let target = parse_id("id", id)?;
    let conn = db()?;
    let mine: Vec<Uuid> = query(
        &conn,
        "SELECT id FROM social.posts WHERE author_id = $1 AND repost_of = $2 AND kind = 'repost' AND state = 'published'",
        &[P::Uuid(ctx.user_id.to_string()), P::Uuid(target.to_string())],
    )?
    .column("id")?;
    let Some(repost) = mine.first().copied() else {
        return Err(Problem::not_found("you have not reposted this post"));
    };
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        crate::posts::delete_one(conn, events, repost, Some(ctx.user_id))
    })?;
    Ok(Response::new(204, ()))
}

/// `PUT /social/posts/{id}/bookmark` (200 `{bookmarked: true}`); private to the user.
pub fn bookmark(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    require_visible(&conn, ctx.user_id, id)?;
    crate::limits::count(&crate::limits::BOOKMARKS, ctx.user_id)?;
    query(
        &conn,
        "WITH saved AS (INSERT INTO social.bookmarks (user_id, post_id) VALUES ($1, $2)
                        ON CONFLICT DO NOTHING RETURNING post_id)
         UPDATE social.posts p SET bookmark_count = bookmark_count + 1 FROM saved WHERE p.id = saved.post_id
         RETURNING p.id",
        &[P::Uuid(ctx.user_id.to_string()), P::Uuid(id.to_string())],
    )?;
    Ok(json(200, &json!({"bookmarked": true})))
}

/// `DELETE /social/posts/{id}/bookmark` (204).
pub fn unbookmark(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    query(
        &db()?,
        "WITH gone AS (DELETE FROM social.bookmarks WHERE user_id = $1 AND post_id = $2 RETURNING post_id)
         UPDATE social.posts p SET bookmark_count = greatest(bookmark_count - 1, 0) FROM gone
         WHERE p.id = gone.post_id RETURNING p.id",
        &[P::Uuid(ctx.user_id.to_string()), P::Uuid(id.to_string())],
    )?;
    Ok(Response::new(204, ()))
}

/// `GET /social/bookmarks?cursor=&limit=`: the user's bookmarks, newest first, each a post they
/// may still see (a post that became invisible is left out).
pub fn bookmarks(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 20, 50)?;
    let conn = db()?;
    let (at, after) = after_params(&page.after);
    let rows = query(
        &conn,
        &format!(
            "SELECT b.post_id, {} FROM social.bookmarks b WHERE b.user_id = $1
               AND ($2::text IS NULL OR (b.created_at, b.post_id) < ($2::text::timestamptz, $3::uuid))
             ORDER BY b.created_at DESC, b.post_id DESC LIMIT $4",
            ts_as("b.created_at", "at")
        ),
        &[P::Uuid(ctx.user_id.to_string()), at, after, P::Int64(page.limit.into())],
    )?;
    let ids: Vec<Uuid> = rows.column("post_id")?;
    let items = crate::hydrate::posts(&conn, ctx.user_id, &ids)?;
    let next = next_cursor(&rows, page.limit, "at", "post_id")?;
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}
