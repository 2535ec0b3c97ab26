//! Feeds (docs/social.md, "Feeds"), each cursor-paginated and filtered per viewer (blocks, mutes,
//! visibility, deleted and hidden posts) by [`crate::hydrate`] and [`sees`]:
//! - following: the cached home feed ([`crate::timeline`]), newest first, or `mode=ranked`
//!   (engagement, recency and the viewer's affinity with the author: [`crate::ranking`]);
//! - trending posts and tags, discover: computed from Postgres over recent windows, with the clock
//!   `at` (default now) so tests and replays are deterministic;
//! - a profile's posts (pinned first), a hashtag's recent and top posts.

use std::collections::{HashMap, HashSet};

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_response as json, query_param, query_string};
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::ids::parse_id;
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::access::sees;
use crate::ranking::{self, Engagement};

/// Candidates a ranked feed orders (the newest of the home feed).
pub const RANKED_CANDIDATES: usize = 200;

/// `GET /social/feed/following?mode=latest|ranked&cursor=&limit=`.
pub fn following(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let qs = query_string(req);
    match query_param(qs, "mode").unwrap_or("latest") {
        "latest" => latest(ctx.user_id, qs),
        "ranked" => ranked(ctx.user_id, qs),
        _ => Err(Problem::invalid_field("mode", "must be latest or ranked")),
    }
}

fn latest(viewer: Uuid, qs: &str) -> Result<Response, Problem> {
    let page = page_request::<i64>(qs, 20, 50)?;
    let want = page.limit as usize;
    let conn = db()?;
    let muted = muted(&conn, viewer)?;
    let mut items: Vec<Value> = Vec::with_capacity(want);
    let mut before = page.after;
    let mut cursor = None;
    // A few rounds: a round's candidates may all be filtered out.
    for _ in 0..4 {
        let mut batch = crate::timeline::page(&conn, viewer, before, want * 2)?;
        if batch.is_empty() {
            if let Some(b) = before {
                batch = crate::timeline::older_from_postgres(&conn, viewer, b, want * 2)?;
            }
        }
        if batch.is_empty() {
            cursor = None;
            break;
        }
        let scores: HashMap<Uuid, i64> = batch.iter().copied().collect();
        let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        let last_score = batch.last().map(|(_, s)| *s);
        for post in crate::hydrate::posts(&conn, viewer, &ids)? {
            if items.len() == want {
                break;
            }
            if is_muted(&post, &muted) {
                continue;
            }
            cursor = id_of(&post).and_then(|id| scores.get(&id).copied());
            items.push(post);
        }
        if items.len() == want {
            break;
        }
        before = last_score;
        cursor = last_score;
    }
    let next = (items.len() == want)
        .then_some(cursor)
        .flatten()
        .map(|c| encode_cursor(&c));
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

fn ranked(viewer: Uuid, qs: &str) -> Result<Response, Problem> {
    let page = page_request::<usize>(qs, 20, 50)?;
    let offset = page.after.unwrap_or(0);
    let conn = db()?;
    let muted = muted(&conn, viewer)?;
    let batch = crate::timeline::page(&conn, viewer, None, RANKED_CANDIDATES)?;
    let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
    let published: HashMap<Uuid, i64> = batch
        .iter()
        .map(|(id, micros)| (*id, micros / 1_000_000))
        .collect();
    let posts: Vec<Value> = crate::hydrate::posts(&conn, viewer, &ids)?
        .into_iter()
        .filter(|p| !is_muted(p, &muted))
        .collect();
    let affinity = affinity(&conn, viewer)?;
    let now = now_secs(&conn)?;
    let mut scored: Vec<(f64, Value)> = posts
        .into_iter()
        .map(|p| {
            let shown = if p["kind"] == "repost" {
                &p["reposted"]
            } else {
                &p
            };
            let author = shown["author"]["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_default();
            let score = ranking::following_score(
                &engagement(shown),
                affinity.get(&author).copied().unwrap_or(0),
                id_of(&p)
                    .and_then(|id| published.get(&id).copied())
                    .unwrap_or(0),
                now,
            );
            (score, p)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let items: Vec<Value> = scored
        .into_iter()
        .skip(offset)
        .take(page.limit as usize)
        .map(|(score, mut p)| {
            p["score"] = json!(score);
            p
        })
        .collect();
    let next_offset = offset + items.len();
    let next = (items.len() == page.limit as usize).then(|| encode_cursor(&next_offset));
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

fn id_of(post: &Value) -> Option<Uuid> {
    post["id"].as_str().and_then(|s| s.parse().ok())
}

fn engagement(post: &Value) -> Engagement {
    let n = |f: &str| post["counts"][f].as_u64().unwrap_or(0);
    Engagement {
        likes: n("likes"),
        comments: n("comments"),
        reposts: n("reposts"),
    }
}

fn now_secs(conn: &Connection) -> Result<i64, Problem> {
    query(conn, "SELECT extract(epoch FROM now())::int8 AS now", &[])?.value(0, "now")
}

/// Whom the viewer mutes (active mutes).
fn muted(conn: &Connection, viewer: Uuid) -> Result<HashSet<Uuid>, Problem> {
    Ok(query(
        conn,
        "SELECT muted_id FROM profiles.active_mutes WHERE muter_id = $1",
        &[P::Uuid(viewer.to_string())],
    )?
    .column::<Uuid>("muted_id")?
    .into_iter()
    .collect())
}

/// A post by a muted user, or a repost by or of one.
fn is_muted(post: &Value, muted: &HashSet<Uuid>) -> bool {
    let author = |p: &Value| {
        p["author"]["id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
    };
    author(post).is_some_and(|a| muted.contains(&a))
        || (post["kind"] == "repost"
            && author(&post["reposted"]).is_some_and(|a| muted.contains(&a)))
}

/// Interactions (likes and comments) of the viewer with each author in 30 days.
fn affinity(conn: &Connection, viewer: Uuid) -> Result<HashMap<Uuid, u64>, Problem> {
    let rows = query(
        conn,
        "SELECT a, count(*) AS n FROM (
             SELECT p.author_id AS a FROM social.likes l JOIN social.posts p ON p.id = l.post_id
             WHERE l.user_id = $1 AND l.created_at > now() - interval '30 days'
             UNION ALL
             SELECT p.author_id FROM social.comments c JOIN social.posts p ON p.id = c.post_id
             WHERE c.author_id = $1 AND c.created_at > now() - interval '30 days') x
         GROUP BY a",
        &[P::Uuid(viewer.to_string())],
    )?;
    let mut out = HashMap::with_capacity(rows.len());
    for i in 0..rows.len() {
        out.insert(rows.value(i, "a")?, rows.value::<i64>(i, "n")? as u64);
    }
    Ok(out)
}

/// The clock of a trending or discover read: `at` (an API time) or the database's now, as SQL
/// parameter text (or NULL).
fn clock(qs: &str) -> Result<P, Problem> {
    match query_param(qs, "at") {
        None => Ok(P::DbNull),
        Some(at) if CursorTime::is_api_timestamp(at) => Ok(P::Str(at.to_string())),
        Some(_) => Err(Problem::invalid_field(
            "at",
            "must be a UTC time like 2026-12-24T18:00:00Z",
        )),
    }
}

/// `GET /social/users/{id}/posts?cursor=&limit=`: the user's posts, reposts and accepted
/// co-authored posts, newest first; the pinned post first on the first page. 404 across a block.
pub fn profile(req: &Request, user: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let user = parse_id("id", user)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 20, 50)?;
    let conn = db()?;
    let exists = query(
        &conn,
        "SELECT 1 FROM profiles.public_cards WHERE user_id = $1 AND NOT profiles.blocked_either_way($1, $2)",
        &[P::Uuid(user.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if exists.is_empty() {
        return Err(Problem::not_found("no such user"));
    }
    let (at, after) = crate::interactions::after_params(&page.after);
    let rows = query(
        &conn,
        &format!(
            "SELECT p.id, {} FROM social.posts p
             WHERE (p.author_id = $1 OR p.id IN (SELECT c.post_id FROM social.coauthors c
                                                 WHERE c.user_id = $1 AND c.state = 'accepted'))
               AND {} AND ($3::text IS NULL OR (p.published_at, p.id) < ($3::text::timestamptz, $4::uuid))
             ORDER BY p.published_at DESC, p.id DESC LIMIT $5",
            nexgate_platform::db::ts("p.published_at"),
            sees("$2"),
        ),
        &[P::Uuid(user.to_string()), P::Uuid(ctx.user_id.to_string()), at, after, P::Int64(page.limit.into())],
    )?;
    let mut ids: Vec<Uuid> = rows.column("id")?;
    let pinned: Option<Uuid> = if page.after.is_none() {
        query(
            &conn,
            "SELECT post_id FROM social.pins WHERE user_id = $1",
            &[P::Uuid(user.to_string())],
        )?
        .column::<Uuid>("post_id")?
        .into_iter()
        .next()
    } else {
        None
    };
    if let Some(pin) = pinned {
        ids.retain(|i| *i != pin);
        ids.insert(0, pin);
    }
    let items = crate::hydrate::posts(&conn, ctx.user_id, &ids)?;
    let next = crate::interactions::next_cursor(&rows, page.limit, "published_at", "id")?;
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

/// A tag from the path: lower case, without `#`.
fn tag_of(raw: &str) -> Result<String, Problem> {
    let tag = raw.trim_start_matches('#').to_lowercase();
    let ok = !tag.is_empty()
        && tag.chars().count() <= crate::facets::TAG_CHARS_MAX
        && tag.chars().all(|c| c.is_alphanumeric() || c == '_');
    if ok {
        Ok(tag)
    } else {
        Err(Problem::invalid_field("tag", "is not a hashtag"))
    }
}

/// `GET /social/tags/{tag}/posts?sort=recent|top&cursor=&limit=`: recent posts newest first, or
/// the top posts of the last 7 days by weighted engagement.
pub fn tag(req: &Request, raw: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let tag = tag_of(raw)?;
    let qs = query_string(req);
    let conn = db()?;
    let viewer = P::Uuid(ctx.user_id.to_string());
    match query_param(qs, "sort").unwrap_or("recent") {
        "recent" => {
            let page = page_request::<(CursorTime, Uuid)>(qs, 20, 50)?;
            let (at, after) = crate::interactions::after_params(&page.after);
            let rows = query(
                &conn,
                &format!(
                    "SELECT t.post_id AS id, {} FROM social.post_tags t JOIN social.posts p ON p.id = t.post_id
                     WHERE t.tag = $2 AND {}
                       AND ($3::text IS NULL OR (t.published_at, t.post_id) < ($3::text::timestamptz, $4::uuid))
                     ORDER BY t.published_at DESC, t.post_id DESC LIMIT $5",
                    nexgate_platform::db::ts("t.published_at"),
                    sees("$1")
                ),
                &[viewer, P::Str(tag.clone()), at, after, P::Int64(page.limit.into())],
            )?;
            let items = crate::hydrate::posts(&conn, ctx.user_id, &rows.column("id")?)?;
            let next = crate::interactions::next_cursor(&rows, page.limit, "published_at", "id")?;
            Ok(json(
                200,
                &json!({"tag": tag, "items": items, "next_cursor": next}),
            ))
        }
        "top" => {
            let page = page_request::<i64>(qs, 20, 50)?;
            let offset = page.after.unwrap_or(0).max(0);
            let rows = query(
                &conn,
                &format!(
                    "SELECT p.id FROM social.post_tags t JOIN social.posts p ON p.id = t.post_id
                     WHERE t.tag = $2 AND t.published_at > now() - interval '7 days' AND {}
                     ORDER BY p.like_count + 2 * p.comment_count + 3 * p.repost_count DESC, p.published_at DESC, p.id
                     OFFSET $3 LIMIT $4",
                    sees("$1")
                ),
                &[viewer, P::Str(tag.clone()), P::Int64(offset), P::Int64(page.limit.into())],
            )?;
            let items = crate::hydrate::posts(&conn, ctx.user_id, &rows.column("id")?)?;
            let next = (rows.len() == page.limit as usize)
                .then(|| encode_cursor(&(offset + rows.len() as i64)));
            Ok(json(
                200,
                &json!({"tag": tag, "items": items, "next_cursor": next}),
            ))
        }
        _ => Err(Problem::invalid_field("sort", "must be recent or top")),
    }
}

/// Public posts of accounts that are not private (the only ones trending and discover show).
const PUBLIC: &str = "p.state = 'published' AND p.hidden_at IS NULL AND p.visibility = 'public' AND p.kind <> 'repost'
     AND NOT EXISTS (SELECT 1 FROM profiles.privacy_settings ps WHERE ps.user_id = p.author_id AND ps.is_private)";

/// The viewer (`$1`) does not mute the author of `p`.
const NOT_MUTED: &str =
    "NOT EXISTS (SELECT 1 FROM profiles.active_mutes mu WHERE mu.muter_id = $1 AND mu.muted_id = p.author_id)";

/// `GET /social/feed/trending?at=&cursor=&limit=`: public posts of the last 48 hours rising fastest
/// in engagement in the last 6 hours, with time decay ([`ranking::trending_score`]).
pub fn trending(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let qs = query_string(req);
    let page = page_request::<usize>(qs, 20, 50)?;
    let offset = page.after.unwrap_or(0);
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "WITH clock AS (SELECT coalesce($2::text::timestamptz, now()) AS at)
             SELECT p.id, extract(epoch FROM p.published_at)::int8 AS created, extract(epoch FROM clock.at)::int8 AS now,
                    (SELECT count(*) FROM social.likes l WHERE l.post_id = p.id
                       AND l.created_at > clock.at - interval '6 hours' AND l.created_at <= clock.at) AS likes,
                    (SELECT count(*) FROM social.comments c WHERE c.post_id = p.id AND c.state = 'visible'
                       AND c.created_at > clock.at - interval '6 hours' AND c.created_at <= clock.at) AS comments,
                    (SELECT count(*) FROM social.posts r WHERE r.repost_of = p.id AND r.state = 'published'
                       AND r.published_at > clock.at - interval '6 hours' AND r.published_at <= clock.at) AS reposts
             FROM social.posts p, clock
             WHERE p.published_at > clock.at - interval '48 hours' AND p.published_at <= clock.at AND {PUBLIC}
               AND p.like_count + p.comment_count + p.repost_count > 0 AND {NOT_MUTED} AND {}
             ORDER BY p.like_count + 2 * p.comment_count + 3 * p.repost_count DESC LIMIT 500",
            sees("$1")
        ),
        &[P::Uuid(ctx.user_id.to_string()), clock(qs)?],
    )?;
    let mut scored = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let e = Engagement {
            likes: rows.value::<i64>(i, "likes")? as u64,
            comments: rows.value::<i64>(i, "comments")? as u64,
            reposts: rows.value::<i64>(i, "reposts")? as u64,
        };
        let score = ranking::trending_score(&e, rows.value(i, "created")?, rows.value(i, "now")?);
        if score > 0.0 {
            scored.push((score, rows.value::<Uuid>(i, "id")?));
        }
    }
    ranked_page(&conn, ctx.user_id, scored, offset, page.limit as usize)
}

/// The page of `scored` at `offset`, hydrated (each with its `score`), best first.
fn ranked_page(
    conn: &Connection,
    viewer: Uuid,
    mut scored: Vec<(f64, Uuid)>,
    offset: usize,
    limit: usize,
) -> Result<Response, Problem> {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let page: Vec<(f64, Uuid)> = scored.into_iter().skip(offset).take(limit).collect();
    let ids: Vec<Uuid> = page.iter().map(|(_, id)| *id).collect();
    let scores: HashMap<Uuid, f64> = page.iter().map(|(s, id)| (*id, *s)).collect();
    let mut items = crate::hydrate::posts(conn, viewer, &ids)?;
    for item in &mut items {
        if let Some(s) = id_of(item).and_then(|id| scores.get(&id)) {
            item["score"] = json!(s);
        }
    }
    let next = (ids.len() == limit).then(|| encode_cursor(&(offset + limit)));
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

/// `GET /social/tags/trending?at=&limit=`: the hashtags of public posts rising fastest: uses per
/// hour in the last 6 hours against the 42 hours before ([`ranking::tag_rise`]); at least 2 recent uses.
pub fn trending_tags(req: &Request) -> Result<Response, Problem> {
    authenticate(req)?;
    let qs = query_string(req);
    let page = page_request::<usize>(qs, 10, 50)?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "WITH clock AS (SELECT coalesce($1::text::timestamptz, now()) AS at)
             SELECT t.tag,
                    count(*) FILTER (WHERE t.published_at > clock.at - interval '6 hours') AS recent,
                    count(*) FILTER (WHERE t.published_at <= clock.at - interval '6 hours') AS baseline
             FROM social.post_tags t JOIN social.posts p ON p.id = t.post_id, clock
             WHERE t.published_at > clock.at - interval '48 hours' AND t.published_at <= clock.at AND {PUBLIC}
             GROUP BY t.tag HAVING count(*) FILTER (WHERE t.published_at > clock.at - interval '6 hours') >= 2"
        ),
        &[clock(qs)?],
    )?;
    let mut tags = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let (recent, baseline) = (
            rows.value::<i64>(i, "recent")? as u64,
            rows.value::<i64>(i, "baseline")? as u64,
        );
        let rise = ranking::tag_rise(recent, 6.0, baseline, 42.0);
        tags.push((rise, rows.value::<String>(i, "tag")?, recent));
    }
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let items: Vec<Value> = tags
        .into_iter()
        .take(page.limit as usize)
        .map(|(rise, tag, recent)| json!({"tag": tag, "rise": rise, "recent_uses": recent}))
        .collect();
    Ok(json(200, &json!({"items": items})))
}

/// `GET /social/feed/discover?at=&cursor=&limit=`: public posts of the last 7 days from accounts
/// the viewer does not follow, weighted by how many of the viewer's followees follow the author,
/// the viewer's engagement with the post's tags, and engagement ([`ranking::discover_score`]).
pub fn discover(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let qs = query_string(req);
    let page = page_request::<usize>(qs, 20, 50)?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "WITH clock AS (SELECT coalesce($2::text::timestamptz, now()) AS at),
             fof AS (SELECT f2.followee_id AS author, count(*) AS w
                     FROM profiles.accepted_follows f1
                     JOIN profiles.accepted_follows f2 ON f2.follower_id = f1.followee_id
                     WHERE f1.follower_id = $1 AND f2.followee_id <> $1
                     GROUP BY 1 ORDER BY 2 DESC LIMIT 500),
             liked_tags AS (SELECT t.tag, count(*) AS w FROM social.likes l
                            JOIN social.post_tags t ON t.post_id = l.post_id, clock
                            WHERE l.user_id = $1 AND l.created_at > clock.at - interval '30 days'
                            GROUP BY 1 ORDER BY 2 DESC LIMIT 20)
             SELECT p.id, p.like_count, p.comment_count, p.repost_count,
                    extract(epoch FROM p.published_at)::int8 AS created, extract(epoch FROM clock.at)::int8 AS now,
                    coalesce(fof.w, 0) AS social,
                    (SELECT coalesce(sum(lt.w), 0) FROM social.post_tags pt JOIN liked_tags lt ON lt.tag = pt.tag
                     WHERE pt.post_id = p.id)::int8 AS tags
             FROM social.posts p CROSS JOIN clock LEFT JOIN fof ON fof.author = p.author_id
             WHERE p.published_at > clock.at - interval '7 days' AND p.published_at <= clock.at AND {PUBLIC}
               AND p.author_id <> $1 AND NOT profiles.follows($1, p.author_id) AND {NOT_MUTED} AND {}
               AND (fof.author IS NOT NULL OR p.like_count + p.comment_count + p.repost_count > 0
                    OR EXISTS (SELECT 1 FROM social.post_tags pt JOIN liked_tags lt ON lt.tag = pt.tag WHERE pt.post_id = p.id))
             ORDER BY coalesce(fof.w, 0) DESC, p.like_count + 2 * p.comment_count + 3 * p.repost_count DESC, p.published_at DESC
             LIMIT 500",
            sees("$1")
        ),
        &[P::Uuid(ctx.user_id.to_string()), clock(qs)?],
    )?;
    let mut scored = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let e = Engagement {
            likes: rows.value::<i32>(i, "like_count")? as u64,
            comments: rows.value::<i32>(i, "comment_count")? as u64,
            reposts: rows.value::<i32>(i, "repost_count")? as u64,
        };
        let score = ranking::discover_score(
            &e,
            rows.value::<i64>(i, "social")? as u64,
            rows.value::<i64>(i, "tags")? as u64,
            rows.value(i, "created")?,
            rows.value(i, "now")?,
        );
        scored.push((score, rows.value::<Uuid>(i, "id")?));
    }
    ranked_page(
        &conn,
        ctx.user_id,
        scored,
        page.after.unwrap_or(0),
        page.limit as usize,
    )
}

/// `GET /social/posts/{id}/quotes?cursor=&limit=`: the quotes of a post the viewer may see,
/// newest first (each one the viewer may see).
pub fn quotes(req: &Request, post: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let post = parse_id("id", post)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 20, 50)?;
    let conn = db()?;
    crate::access::require_visible(&conn, ctx.user_id, post)?;
    let (at, after) = crate::interactions::after_params(&page.after);
    let rows = query(
        &conn,
        &format!(
            "SELECT p.id, {} FROM social.posts p
             WHERE p.repost_of = $2 AND p.kind = 'quote' AND {}
               AND ($3::text IS NULL OR (p.published_at, p.id) < ($3::text::timestamptz, $4::uuid))
             ORDER BY p.published_at DESC, p.id DESC LIMIT $5",
            nexgate_platform::db::ts("p.published_at"),
            sees("$1"),
        ),
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Uuid(post.to_string()),
            at,
            after,
            P::Int64(page.limit.into()),
        ],
    )?;
    let items = crate::hydrate::posts(&conn, ctx.user_id, &rows.column("id")?)?;
    let next = crate::interactions::next_cursor(&rows, page.limit, "published_at", "id")?;
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}
