//! Scheduled posts (docs/social.md, "Scheduled posts"): at least [`LEAD_MINUTES`] ahead, at most
//! [`HORIZON_DAYS`] ahead, at most [`PENDING_MAX`] pending per user; listed, edited (text, time)
//! and cancelled by their author before their time; published by the `publish-scheduled` job
//! exactly once (the row moves from `scheduled` to `published` under its lock, and a second run
//! skips what the first holds), with mentions resolved against the blocks of that moment.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::parse_id;
use nexgate_platform::pagination::CursorTime;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

pub const LEAD_MINUTES: i64 = 5;
pub const HORIZON_DAYS: i64 = 90;
pub const PENDING_MAX: i64 = 25;
/// Posts published per job run.
const BATCH: i64 = 200;

/// 422 naming `publish_at` unless it is 5 minutes to 90 days ahead; 409 `too_many_scheduled`
/// when the user has [`PENDING_MAX`] pending.
pub fn check_time_and_quota(conn: &Connection, author: Uuid, at: &str) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT $2::text::timestamptz >= now() + make_interval(mins => $3::int4) AS not_too_near,
                $2::text::timestamptz <= now() + make_interval(days => $4::int4) AS not_too_far,
                (SELECT count(*) FROM social.posts WHERE author_id = $1 AND state = 'scheduled') AS pending",
        &[
            P::Uuid(author.to_string()),
            P::Str(at.to_string()),
            P::Int32(LEAD_MINUTES as i32),
            P::Int32(HORIZON_DAYS as i32),
        ],
    )?;
    if !rows.value::<bool>(0, "not_too_near")? {
        return Err(Problem::invalid_field(
            "publish_at",
            format!("must be at least {LEAD_MINUTES} minutes ahead"),
        ));
    }
    if !rows.value::<bool>(0, "not_too_far")? {
        return Err(Problem::invalid_field(
            "publish_at",
            format!("must be at most {HORIZON_DAYS} days ahead"),
        ));
    }
    if rows.value::<i64>(0, "pending")? >= PENDING_MAX {
        return Err(Problem::conflict(
            "too_many_scheduled",
            format!("at most {PENDING_MAX} scheduled posts may wait at once"),
        ));
    }
    Ok(())
}

/// A scheduled post as its author sees it.
pub fn view(conn: &Connection, author: Uuid, id: Uuid) -> Result<Value, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT id, kind, text, visibility, product_id, event_id, repost_of, {} FROM social.posts
             WHERE id = $1 AND author_id = $2 AND state = 'scheduled'",
            ts("publish_at")
        ),
        &[P::Uuid(id.to_string()), P::Uuid(author.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such scheduled post"));
    }
    one(&rows, 0)
}

fn one(rows: &nexgate_platform::db::Rows, i: usize) -> Result<Value, Problem> {
    Ok(json!({
        "id": rows.value::<Uuid>(i, "id")?,
        "state": "scheduled",
        "kind": rows.value::<String>(i, "kind")?,
        "text": rows.value::<String>(i, "text")?,
        "visibility": rows.value::<String>(i, "visibility")?,
        "product_id": rows.value::<Option<Uuid>>(i, "product_id")?,
        "event_id": rows.value::<Option<Uuid>>(i, "event_id")?,
        "quote_of": rows.value::<Option<Uuid>>(i, "repost_of")?,
        "publish_at": rows.value::<String>(i, "publish_at")?,
    }))
}

/// `GET /social/scheduled`: the user's pending posts, soonest first.
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let rows = query(
        &db()?,
        &format!(
            "SELECT id, kind, text, visibility, product_id, event_id, repost_of, {} FROM social.posts
             WHERE author_id = $1 AND state = 'scheduled' ORDER BY publish_at, id",
            ts("publish_at")
        ),
        &[P::Uuid(ctx.user_id.to_string())],
    )?;
    let items = (0..rows.len())
        .map(|i| one(&rows, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json(200, &json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    text: Option<String>,
    publish_at: Option<String>,
}

/// `PATCH /social/scheduled/{id} {text?, publish_at?}`: before its time only.
pub fn edit(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: Change = json_body(req)?;
    let conn = db()?;
    let current = view(&conn, ctx.user_id, id)?;
    let text = match &b.text {
        Some(t) => {
            let t = t.trim().to_string();
            let optional = matches!(current["kind"].as_str(), Some("product" | "event"));
            if !(t.is_empty() && optional) {
                crate::facets::parse(&t)
                    .map_err(|e| Problem::invalid_field("text", e.message()))?;
            }
            Some(t)
        }
        None => None,
    };
    if let Some(at) = &b.publish_at {
        if !CursorTime::is_api_timestamp(at) {
            return Err(Problem::invalid_field(
                "publish_at",
                "must be a UTC time like 2026-12-24T18:00:00Z",
            ));
        }
        // The quota counts this post already: check only the time.
        let rows = query(
            &conn,
            "SELECT $1::text::timestamptz BETWEEN now() + make_interval(mins => $2::int4)
                                            AND now() + make_interval(days => $3::int4) AS fine",
            &[
                P::Str(at.clone()),
                P::Int32(LEAD_MINUTES as i32),
                P::Int32(HORIZON_DAYS as i32),
            ],
        )?;
        if !rows.value::<bool>(0, "fine")? {
            return Err(Problem::invalid_field(
                "publish_at",
                format!("must be {LEAD_MINUTES} minutes to {HORIZON_DAYS} days ahead"),
            ));
        }
    }
    let changed = query(
        &conn,
        "UPDATE social.posts SET text = coalesce($3, text),
                                 publish_at = coalesce($4::text::timestamptz, publish_at)
         WHERE id = $1 AND author_id = $2 AND state = 'scheduled' RETURNING id",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            text.map_or(P::DbNull, P::Str),
            b.publish_at.map_or(P::DbNull, P::Str),
        ],
    )?;
    if changed.is_empty() {
        return Err(Problem::conflict(
            "already_published",
            "the post was published meanwhile",
        ));
    }
    Ok(json(200, &view(&conn, ctx.user_id, id)?))
}

/// `DELETE /social/scheduled/{id}`: cancels it (204); its media are let go.
pub async fn cancel(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let gone = query(
        &conn,
        "DELETE FROM social.posts WHERE id = $1 AND author_id = $2 AND state = 'scheduled'
         RETURNING (SELECT coalesce(array_agg(file_id::text), '{}') FROM social.post_media WHERE post_id = $1) AS media",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if gone.is_empty() {
        return Err(Problem::not_found("no such scheduled post"));
    }
    let media: Vec<Option<String>> = gone.value(0, "media")?;
    for file in media
        .into_iter()
        .flatten()
        .filter_map(|f| f.parse::<Uuid>().ok())
    {
        nexgate_platform::attachments::detach(crate::SCHEMA, ("post", id), file).await?;
    }
    Ok(Response::new(204, ()))
}

/// `POST /internal/social/jobs/publish-scheduled`: publishes every post whose time came, each in
/// its own transaction; `{published}`.
pub fn publish_due(req: &Request, component: &str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let conn = db()?;
    let mut published = 0;
    loop {
        let one = nexgate_events::outbox::with_events(
            &conn,
            crate::SCHEMA,
            component,
            |conn, events| {
                let due = query(
                conn,
                "UPDATE social.posts SET state = 'published', published_at = now()
                 WHERE id = (SELECT id FROM social.posts WHERE state = 'scheduled' AND publish_at <= now()
                             ORDER BY publish_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING id",
                &[],
            )?;
                let Some(id) = due.column::<Uuid>("id")?.into_iter().next() else {
                    return Ok(false);
                };
                crate::posts::go_live(conn, events, id)?;
                Ok(true)
            },
        )?;
        if !one {
            break;
        }
        published += 1;
        if published >= BATCH {
            break;
        }
    }
    Ok(json(200, &json!({ "published": published })))
}
