//! Comments (docs/social.md, "Interactions"): on a post the commenter may see; a reply names its
//! parent, and a reply to a reply is attached to the top-level comment (one level of nesting).
//! Listed oldest first or top first (likes, then replies); comments of people the viewer and they
//! blocked either way are left out. The commenter or the post's author deletes a comment.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::social::CommentCreated;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::{json_body, json_response as json, query_param, query_string};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::access::{require_visible, unblocked};
use crate::facets;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewComment {
    text: String,
    parent_id: Option<Uuid>,
}

/// `POST /social/posts/{id}/comments {text, parent_id?}`: 201 with the comment.
pub fn create(req: &Request, post: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let post = parse_id("id", post)?;
    let b: NewComment = json_body(req)?;
    let text = b.text.trim().to_string();
    let parsed = facets::parse(&text).map_err(|e| Problem::invalid_field("text", e.message()))?;
    let conn = db()?;
    require_visible(&conn, ctx.user_id, post)?;
    let parent = match b.parent_id {
        Some(parent) => Some(top_level(&conn, ctx.user_id, post, parent)?),
        None => None,
    };
    crate::limits::count(&crate::limits::COMMENTS, ctx.user_id)?;
    let id = new_id();
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let resolved = crate::mentions::resolve(conn, ctx.user_id, &parsed)?;
        let facets = serde_json::to_string(&resolved.facets).map_err(Problem::internal)?;
        conn.execute(
            "INSERT INTO social.comments (id, post_id, author_id, parent_id, text, facets)
             VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(post.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                parent.map_or(P::DbNull, |p| P::Uuid(p.to_string())),
                P::Str(text.clone()),
                P::Str(facets),
            ],
        )?;
        if let Some(parent) = parent {
            conn.execute(
                "UPDATE social.comments SET reply_count = reply_count + 1 WHERE id = $1",
                &[P::Uuid(parent.to_string())],
            )?;
        }
        let author: Uuid = query(
            conn,
            "UPDATE social.posts SET comment_count = comment_count + 1 WHERE id = $1 RETURNING author_id",
            &[P::Uuid(post.to_string())],
        )?
        .value(0, "author_id")?;
        crate::mentions::record(conn, events, ctx.user_id, (post, Some(id)), &resolved, &[])?;
        events.record(
            conn,
            Some(ctx.user_id),
            ("post", post.to_string()),
            vec![author],
            &CommentCreated {
                comment_id: id,
                post_id: post,
                author_id: author,
                commenter_id: ctx.user_id,
                preview: Some(text.chars().take(80).collect()),
            },
        )
    })?;
    let made = load(
        &conn,
        ctx.user_id,
        "c.id = $2",
        &[P::Uuid(id.to_string())],
        1,
    )?;
    Ok(json(201, &made.into_iter().next().unwrap_or(Value::Null)))
}

/// The top-level comment a reply attaches to (422 naming `parent_id` when it is not a visible
/// comment of this post).
fn top_level(conn: &Connection, viewer: Uuid, post: Uuid, parent: Uuid) -> Result<Uuid, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT coalesce(c.parent_id, c.id) AS top FROM social.comments c
             WHERE c.id = $1 AND c.post_id = $2 AND c.state = 'visible' AND {}",
            unblocked("$3", "c.author_id")
        ),
        &[
            P::Uuid(parent.to_string()),
            P::Uuid(post.to_string()),
            P::Uuid(viewer.to_string()),
        ],
    )?;
    if rows.is_empty() {
        return Err(Problem::invalid_field(
            "parent_id",
            "no such comment on this post",
        ));
    }
    rows.value(0, "top")
}

/// Comments matching `filter` (parameters from `$2`; `$1` is the viewer), as the viewer sees them.
fn load(
    conn: &Connection,
    viewer: Uuid,
    filter: &str,
    params: &[P],
    limit: u32,
) -> Result<Vec<Value>, Problem> {
    load_ordered(conn, viewer, filter, params, "c.created_at, c.id", limit)
}

fn load_ordered(
    conn: &Connection,
    viewer: Uuid,
    filter: &str,
    params: &[P],
    order: &str,
    limit: u32,
) -> Result<Vec<Value>, Problem> {
    let mut all = vec![P::Uuid(viewer.to_string())];
    all.extend_from_slice(params);
    let rows = query(
        conn,
        &format!(
            "SELECT c.id, c.post_id, c.parent_id, c.text, c.facets, c.like_count, c.reply_count, c.author_id,
                    pc.username, pc.display_name, {},
                    EXISTS (SELECT 1 FROM social.comment_likes cl WHERE cl.comment_id = c.id AND cl.user_id = $1) AS liked
             FROM social.comments c LEFT JOIN profiles.public_cards pc ON pc.user_id = c.author_id
             WHERE c.state = 'visible' AND {} AND {filter}
             ORDER BY {order} LIMIT {limit}",
            ts("c.created_at"),
            unblocked("$1", "c.author_id"),
        ),
        &all,
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        out.push(json!({
            "id": rows.value::<Uuid>(i, "id")?,
            "post_id": rows.value::<Uuid>(i, "post_id")?,
            "parent_id": rows.value::<Option<Uuid>>(i, "parent_id")?,
            "text": rows.value::<String>(i, "text")?,
            "facets": rows.value::<Value>(i, "facets")?,
            "author": {"id": rows.value::<Uuid>(i, "author_id")?,
                       "username": rows.value::<Option<String>>(i, "username")?,
                       "display_name": rows.value::<Option<String>>(i, "display_name")?},
            "likes": rows.value::<i32>(i, "like_count")?,
            "replies": rows.value::<i32>(i, "reply_count")?,
            "liked": rows.value::<bool>(i, "liked")?,
            "created_at": rows.value::<String>(i, "created_at")?,
        }));
    }
    Ok(out)
}

/// A comment list's order, filter, parameters, page size and how a cursor is made from a comment.
type ListQuery = (&'static str, &'static str, Vec<P>, u32, fn(&Value) -> Value);

/// `GET /social/posts/{id}/comments?sort=oldest|top&cursor=&limit=`: top-level comments, each with
/// its first three replies (oldest first); `GET .../comments/{comment_id}/replies` lists the rest.
pub fn list(req: &Request, post: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let post = parse_id("id", post)?;
    let qs = query_string(req);
    let sort = query_param(qs, "sort").unwrap_or("oldest");
    let conn = db()?;
    require_visible(&conn, ctx.user_id, post)?;
    let (order, filter, params, limit, cursor_of): ListQuery = match sort {
        "oldest" => {
            let page = page_request::<(CursorTime, Uuid)>(qs, 20, 100)?;
            let (at, id) = page.after.map_or((P::DbNull, P::DbNull), |(a, i)| {
                (P::Str(a.as_str().to_string()), P::Uuid(i.to_string()))
            });
            (
                    "c.created_at, c.id",
                    "c.post_id = $2 AND c.parent_id IS NULL
                     AND ($3::text IS NULL OR (c.created_at, c.id) > ($3::text::timestamptz, $4::uuid))",
                    vec![P::Uuid(post.to_string()), at, id],
                    page.limit,
                    |c| json!([c["created_at"], c["id"]]),
                )
        }
        "top" => {
            let page = page_request::<(i64, i64, Uuid)>(qs, 20, 100)?;
            let (l, r, id) = page
                .after
                .map_or((P::DbNull, P::DbNull, P::DbNull), |(l, r, i)| {
                    (P::Int64(l), P::Int64(r), P::Uuid(i.to_string()))
                });
            (
                    "c.like_count DESC, c.reply_count DESC, c.id DESC",
                    "c.post_id = $2 AND c.parent_id IS NULL
                     AND ($3::int8 IS NULL OR (c.like_count, c.reply_count, c.id) < ($3::int8, $4::int8, $5::uuid))",
                    vec![P::Uuid(post.to_string()), l, r, id],
                    page.limit,
                    |c| json!([c["likes"], c["replies"], c["id"]]),
                )
        }
        _ => return Err(Problem::invalid_field("sort", "must be oldest or top")),
    };
    let mut items = load_ordered(&conn, ctx.user_id, filter, &params, order, limit)?;
    for item in &mut items {
        let id: Uuid = item["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        item["first_replies"] = json!(load(
            &conn,
            ctx.user_id,
            "c.parent_id = $2",
            &[P::Uuid(id.to_string())],
            3
        )?);
    }
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|c| encode_cursor(&cursor_of(c))))
        .flatten();
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

/// `GET /social/posts/{id}/comments/{comment_id}/replies?cursor=&limit=`: oldest first.
pub fn replies(req: &Request, post: &str, comment: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let post = parse_id("id", post)?;
    let comment = parse_id("comment_id", comment)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 20, 100)?;
    let conn = db()?;
    require_visible(&conn, ctx.user_id, post)?;
    let (at, id) = page.after.map_or((P::DbNull, P::DbNull), |(a, i)| {
        (P::Str(a.as_str().to_string()), P::Uuid(i.to_string()))
    });
    let items = load(
        &conn,
        ctx.user_id,
        "c.post_id = $2 AND c.parent_id = $3
         AND ($4::text IS NULL OR (c.created_at, c.id) > ($4::text::timestamptz, $5::uuid))",
        &[
            P::Uuid(post.to_string()),
            P::Uuid(comment.to_string()),
            at,
            id,
        ],
        page.limit,
    )?;
    let next = (items.len() == page.limit as usize)
        .then(|| {
            items
                .last()
                .map(|c| encode_cursor(&json!([c["created_at"], c["id"]])))
        })
        .flatten();
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

/// `DELETE /social/posts/{id}/comments/{comment_id}`: by the commenter or the post's author (204).
pub fn delete(req: &Request, post: &str, comment: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let post = parse_id("id", post)?;
    let comment = parse_id("comment_id", comment)?;
    let conn = db()?;
    require_visible(&conn, ctx.user_id, post)?;
    let gone = query(
        &conn,
        "WITH gone AS (
             UPDATE social.comments c SET state = 'deleted'
             WHERE c.id = $1 AND c.post_id = $2 AND c.state = 'visible'
               AND (c.author_id = $3 OR EXISTS (SELECT 1 FROM social.posts p WHERE p.id = c.post_id AND p.author_id = $3))
             RETURNING c.parent_id)
         UPDATE social.posts p SET comment_count = greatest(comment_count - 1, 0)
         FROM gone WHERE p.id = $2 RETURNING gone.parent_id",
        &[P::Uuid(comment.to_string()), P::Uuid(post.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if gone.is_empty() {
        return Err(Problem::not_found(
            "no such comment of yours or on your post",
        ));
    }
    if let Some(parent) = gone.value::<Option<Uuid>>(0, "parent_id")? {
        conn.execute(
            "UPDATE social.comments SET reply_count = greatest(reply_count - 1, 0) WHERE id = $1",
            &[P::Uuid(parent.to_string())],
        )?;
    }
    Ok(Response::new(204, ()))
}

/// `POST /social/posts/{id}/comments/{comment_id}/like` and `DELETE` (`like` false): `{liked, likes}`.
pub fn like(req: &Request, post: &str, comment: &str, like: bool) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let post = parse_id("id", post)?;
    let comment = parse_id("comment_id", comment)?;
    let conn = db()?;
    require_visible(&conn, ctx.user_id, post)?;
    if like {
        crate::limits::count(&crate::limits::LIKES, ctx.user_id)?;
    }
    let visible = load(
        &conn,
        ctx.user_id,
        "c.id = $2 AND c.post_id = $3",
        &[P::Uuid(comment.to_string()), P::Uuid(post.to_string())],
        1,
    )?;
    if visible.is_empty() {
        return Err(Problem::not_found("no such comment"));
    }
    let sql = if like {
        "WITH changed AS (INSERT INTO social.comment_likes (comment_id, user_id) VALUES ($1, $2)
                          ON CONFLICT DO NOTHING RETURNING comment_id)
         UPDATE social.comments c SET like_count = like_count + (SELECT count(*) FROM changed)::int
         WHERE c.id = $1 RETURNING c.like_count"
    } else {
        "WITH changed AS (DELETE FROM social.comment_likes WHERE comment_id = $1 AND user_id = $2 RETURNING comment_id)
         UPDATE social.comments c SET like_count = like_count - (SELECT count(*) FROM changed)::int
         WHERE c.id = $1 RETURNING c.like_count"
    };
    let rows = query(
        &conn,
        sql,
        &[
            P::Uuid(comment.to_string()),
            P::Uuid(ctx.user_id.to_string()),
        ],
    )?;
    Ok(json(
        200,
        &json!({"liked": like, "likes": rows.value::<i32>(0, "like_count")?}),
    ))
}
