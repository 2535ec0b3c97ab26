//! Reports (docs/social.md, "Reports"): anyone who can see a post reports it (or one of its
//! comments) with a reason; reports wait in a queue operators list and resolve: `hide` takes the
//! post (or comment) off every read path and feed, `dismiss` closes the report. A report never
//! hides anything by itself; one open report per reporter and target.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json, query_string};
use nexgate_platform::db::{open_from_variables as db, query, transaction, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::pagination::{page_request, CursorTime};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

const REASONS: [&str; 8] = [
    "spam",
    "harassment",
    "hate",
    "violence",
    "nudity",
    "scam",
    "misinformation",
    "other",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReport {
    reason: String,
    #[serde(default)]
    details: String,
    comment_id: Option<Uuid>,
}

/// `POST /social/posts/{id}/reports {reason, details?, comment_id?}`: 201 `{id, state: open}`.
pub fn create(req: &Request, post: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let post = parse_id("id", post)?;
    let b: NewReport = json_body(req)?;
    if !REASONS.contains(&b.reason.as_str()) {
        return Err(Problem::invalid_field(
            "reason",
            format!("must be one of {}", REASONS.join(", ")),
        ));
    }
    if b.details.chars().count() > 1000 {
        return Err(Problem::invalid_field(
            "details",
            "must be at most 1000 characters",
        ));
    }
    let conn = db()?;
    crate::access::require_visible(&conn, ctx.user_id, post)?;
    if let Some(comment) = b.comment_id {
        let found = query(
            &conn,
            "SELECT 1 FROM social.comments WHERE id = $1 AND post_id = $2 AND state = 'visible'",
            &[P::Uuid(comment.to_string()), P::Uuid(post.to_string())],
        )?;
        if found.is_empty() {
            return Err(Problem::invalid_field(
                "comment_id",
                "no such comment on this post",
            ));
        }
    }
    crate::limits::count(&crate::limits::REPORTS, ctx.user_id)?;
    let id = new_id();
    let made = query(
        &conn,
        "INSERT INTO social.reports (id, reporter_id, post_id, comment_id, reason, details)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Uuid(post.to_string()),
            b.comment_id.map_or(P::DbNull, |c| P::Uuid(c.to_string())),
            P::Str(b.reason),
            P::Str(b.details),
        ],
    )?;
    if made.is_empty() {
        return Err(Problem::conflict(
            "already_reported",
            "you reported this already; it is in the queue",
        ));
    }
    Ok(json(201, &json!({"id": id, "state": "open"})))
}

/// `GET /social/operator/reports?cursor=&limit=` (operators): open reports, oldest first.
pub fn queue(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_role("operator")?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 50, 100)?;
    let (at, after) = crate::interactions::after_params(&page.after);
    let rows = query(
        &db()?,
        &format!(
            "SELECT r.id, r.reporter_id, r.post_id, r.comment_id, r.reason, r.details, {},
                    left(p.text, 200) AS post_text, p.author_id,
                    (SELECT count(*) FROM social.reports o WHERE o.post_id = r.post_id AND o.state = 'open') AS open_on_post
             FROM social.reports r JOIN social.posts p ON p.id = r.post_id
             WHERE r.state = 'open' AND ($1::text IS NULL OR (r.created_at, r.id) > ($1::text::timestamptz, $2::uuid))
             ORDER BY r.created_at, r.id LIMIT $3",
            ts("r.created_at")
        ),
        &[at, after, P::Int64(page.limit.into())],
    )?;
    let mut items = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        items.push(json!({
            "id": rows.value::<Uuid>(i, "id")?,
            "reporter_id": rows.value::<Uuid>(i, "reporter_id")?,
            "post_id": rows.value::<Uuid>(i, "post_id")?,
            "comment_id": rows.value::<Option<Uuid>>(i, "comment_id")?,
            "reason": rows.value::<String>(i, "reason")?,
            "details": rows.value::<String>(i, "details")?,
            "post_text": rows.value::<String>(i, "post_text")?,
            "author_id": rows.value::<Uuid>(i, "author_id")?,
            "open_reports_on_post": rows.value::<i64>(i, "open_on_post")?,
            "created_at": rows.value::<String>(i, "created_at")?,
        }));
    }
    let next = crate::interactions::next_cursor(&rows, page.limit, "created_at", "id")?;
    Ok(json(200, &json!({"items": items, "next_cursor": next})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolution {
    action: String,
}

/// `POST /social/operator/reports/{id}/resolve {action: hide|dismiss}` (operators): `hide` hides
/// the reported post (or comment) and closes every open report on it; `dismiss` closes this one.
pub fn resolve(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_role("operator")?;
    let id = parse_id("id", id)?;
    let b: Resolution = json_body(req)?;
    if !matches!(b.action.as_str(), "hide" | "dismiss") {
        return Err(Problem::invalid_field("action", "must be hide or dismiss"));
    }
    let conn = db()?;
    let operator = P::Uuid(ctx.user_id.to_string());
    transaction(&conn, |conn| {
        let found = query(
            conn,
            "SELECT post_id, comment_id FROM social.reports WHERE id = $1 AND state = 'open' FOR UPDATE",
            &[P::Uuid(id.to_string())],
        )?;
        if found.is_empty() {
            return Err(Problem::not_found("no such open report"));
        }
        let post: Uuid = found.value(0, "post_id")?;
        let comment: Option<Uuid> = found.value(0, "comment_id")?;
        if b.action == "dismiss" {
            conn.execute(
                "UPDATE social.reports SET state = 'dismissed', resolved_by = $2, resolved_at = now() WHERE id = $1",
                &[P::Uuid(id.to_string()), operator.clone()],
            )?;
            return Ok(());
        }
        match comment {
            Some(c) => conn.execute(
                "UPDATE social.comments SET state = 'hidden' WHERE id = $1 AND state = 'visible'",
                &[P::Uuid(c.to_string())],
            )?,
            None => conn.execute(
                "UPDATE social.posts SET hidden_at = coalesce(hidden_at, now()) WHERE id = $1",
                &[P::Uuid(post.to_string())],
            )?,
        };
        conn.execute(
            "UPDATE social.reports SET state = 'hidden', resolved_by = $3, resolved_at = now()
             WHERE state = 'open' AND post_id = $1 AND comment_id IS NOT DISTINCT FROM $2",
            &[
                P::Uuid(post.to_string()),
                comment.map_or(P::DbNull, |c| P::Uuid(c.to_string())),
                operator.clone(),
            ],
        )?;
        Ok(())
    })?;
    Ok(json(
        200,
        &json!({"id": id, "state": if b.action == "hide" { "hidden" } else { "dismissed" }}),
    ))
}
