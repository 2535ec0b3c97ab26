//! Polls (docs/social.md, "Polls"): 2 to 4 options, single or multiple choice, open or closing
//! at a time (5 minutes to 30 days ahead), optionally about a product. A voter votes once (or, in
//! a multiple-choice poll, for several options at once); changes the vote only while the poll is
//! open and when the author allowed it. Results show to voters, the author, and everyone once
//! closed. Counts are on the options and change with the votes in one transaction.

use std::collections::HashMap;

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, transaction, TIMESTAMP_FORMAT};
use nexgate_platform::ids::parse_id;
use nexgate_platform::pagination::CursorTime;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::Value;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

pub const OPTIONS_MIN: usize = 2;
pub const OPTIONS_MAX: usize = 4;
pub const OPTION_CHARS_MAX: usize = 80;
/// How far ahead a poll may close.
pub const CLOSES_WITHIN_DAYS: i64 = 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPoll {
    options: Vec<String>,
    #[serde(default)]
    multiple: bool,
    #[serde(default)]
    changeable: bool,
    closes_at: Option<String>,
    pub product_id: Option<Uuid>,
}

impl NewPoll {
    /// The poll's own rules.
    pub fn check(&self) -> Result<(), Problem> {
        let n = self.options.len();
        if !(OPTIONS_MIN..=OPTIONS_MAX).contains(&n) {
            return Err(Problem::invalid_field(
                "poll.options",
                format!("a poll has {OPTIONS_MIN} to {OPTIONS_MAX} options"),
            ));
        }
        for (i, o) in self.options.iter().enumerate() {
            let chars = o.trim().chars().count();
            if chars == 0 || chars > OPTION_CHARS_MAX {
                return Err(Problem::invalid_field(
                    format!("poll.options[{i}]"),
                    format!("must be 1 to {OPTION_CHARS_MAX} characters"),
                ));
            }
        }
        let mut distinct: Vec<String> = self
            .options
            .iter()
            .map(|o| o.trim().to_lowercase())
            .collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != n {
            return Err(Problem::invalid_field(
                "poll.options",
                "options must differ",
            ));
        }
        if let Some(at) = &self.closes_at {
            if !CursorTime::is_api_timestamp(at) {
                return Err(Problem::invalid_field(
                    "poll.closes_at",
                    "must be a UTC time like 2026-12-24T18:00:00Z",
                ));
            }
        }
        Ok(())
    }

    /// Writes the poll of post `id` (the close time checked against the database's clock).
    pub fn insert(&self, conn: &Connection, id: Uuid) -> Result<(), Problem> {
        let rows = query(
            conn,
            "INSERT INTO social.polls (post_id, question, multiple, changeable, closes_at, product_id)
             SELECT $1, p.text, $2, $3, $4::text::timestamptz, $5 FROM social.posts p WHERE p.id = $1
               AND ($4::text IS NULL OR ($4::text::timestamptz >= coalesce(p.publish_at, now()) + interval '5 minutes'
                    AND $4::text::timestamptz <= coalesce(p.publish_at, now()) + make_interval(days => $6::int4)))
             RETURNING post_id",
            &[
                P::Uuid(id.to_string()),
                P::Boolean(self.multiple),
                P::Boolean(self.changeable),
                self.closes_at.clone().map_or(P::DbNull, P::Str),
                self.product_id.map_or(P::DbNull, |u| P::Uuid(u.to_string())),
                P::Int32(CLOSES_WITHIN_DAYS as i32),
            ],
        )?;
        if rows.is_empty() {
            return Err(Problem::invalid_field(
                "poll.closes_at",
                format!(
                    "must be 5 minutes to {CLOSES_WITHIN_DAYS} days after the post is published"
                ),
            ));
        }
        for (i, o) in self.options.iter().enumerate() {
            conn.execute(
                "INSERT INTO social.poll_options (post_id, position, text) VALUES ($1, $2, $3)",
                &[
                    P::Uuid(id.to_string()),
                    P::Int16(i as i16),
                    P::Str(o.trim().to_string()),
                ],
            )?;
        }
        Ok(())
    }
}

/// The polls of `ids` as `viewer` sees them.
pub fn views(
    conn: &Connection,
    viewer: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Value>, Problem> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = query(
        conn,
        &format!(
            "SELECT po.post_id, jsonb_build_object(
                 'question', po.question, 'multiple', po.multiple, 'changeable', po.changeable,
                 'closes_at', to_char(po.closes_at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}),
                 'closed', coalesce(po.closes_at <= now(), false), 'product_id', po.product_id,
                 'my_votes', coalesce(mine.positions, '[]'::jsonb),
                 'voters', (SELECT count(DISTINCT v.user_id) FROM social.poll_votes v WHERE v.post_id = po.post_id),
                 'results_visible', shown.visible,
                 'options', (SELECT jsonb_agg(jsonb_build_object('position', o.position, 'text', o.text,
                                 'votes', CASE WHEN shown.visible THEN o.votes END) ORDER BY o.position)
                             FROM social.poll_options o WHERE o.post_id = po.post_id)) AS poll
             FROM social.polls po
             JOIN social.posts p ON p.id = po.post_id
             LEFT JOIN LATERAL (SELECT jsonb_agg(v.position ORDER BY v.position) AS positions
                                FROM social.poll_votes v WHERE v.post_id = po.post_id AND v.user_id = $1) mine ON true
             CROSS JOIN LATERAL (SELECT (mine.positions IS NOT NULL OR p.author_id = $1
                                         OR coalesce(po.closes_at <= now(), false)) AS visible) shown
             WHERE po.post_id = ANY($2::text[]::uuid[])"
        ),
        &[
            P::Uuid(viewer.to_string()),
            P::ArrayStr(ids.iter().map(|i| Some(i.to_string())).collect()),
        ],
    )?;
    let mut out = HashMap::with_capacity(rows.len());
    for i in 0..rows.len() {
        out.insert(rows.value(i, "post_id")?, rows.value(i, "poll")?);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vote {
    options: Vec<i64>,
}

/// `POST /social/posts/{id}/votes {options: [position, ...]}`: 200 with the poll as the voter now
/// sees it (results included).
pub fn vote(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let b: Vote = json_body(req)?;
    let mut chosen = b.options.clone();
    chosen.sort();
    chosen.dedup();
    if chosen.is_empty() || chosen.len() != b.options.len() {
        return Err(Problem::invalid_field(
            "options",
            "choose one or more different options",
        ));
    }
    let conn = db()?;
    crate::access::require_visible(&conn, ctx.user_id, id)?;
    crate::limits::count(&crate::limits::VOTES, ctx.user_id)?;
    transaction(&conn, |conn| cast(conn, ctx.user_id, id, &chosen))?;
    Ok(json(200, &views(&conn, ctx.user_id, &[id])?[&id]))
}

/// The vote, under the poll's row lock (two votes of one user cannot both be first).
fn cast(conn: &Connection, voter: Uuid, id: Uuid, chosen: &[i64]) -> Result<(), Problem> {
    let poll = query(
        conn,
        "SELECT po.multiple, po.changeable, coalesce(po.closes_at <= now(), false) AS closed,
                (SELECT count(*) FROM social.poll_options o WHERE o.post_id = po.post_id) AS options,
                EXISTS (SELECT 1 FROM social.poll_votes v WHERE v.post_id = po.post_id AND v.user_id = $2) AS voted
         FROM social.polls po WHERE po.post_id = $1 FOR UPDATE",
        &[P::Uuid(id.to_string()), P::Uuid(voter.to_string())],
    )?;
    if poll.is_empty() {
        return Err(Problem::not_found("this post has no poll"));
    }
    if poll.value::<bool>(0, "closed")? {
        return Err(Problem::conflict("poll_closed", "the poll is closed"));
    }
    if !poll.value::<bool>(0, "multiple")? && chosen.len() > 1 {
        return Err(Problem::invalid_field(
            "options",
            "this poll takes one choice",
        ));
    }
    let options: i64 = poll.value(0, "options")?;
    if let Some(bad) = chosen.iter().find(|o| !(0..options).contains(*o)) {
        return Err(Problem::invalid_field(
            "options",
            format!("no option {bad}"),
        ));
    }
    if poll.value::<bool>(0, "voted")? {
        if !poll.value::<bool>(0, "changeable")? {
            return Err(Problem::conflict(
                "already_voted",
                "you voted in this poll already",
            ));
        }
        conn.execute(
            "UPDATE social.poll_options o SET votes = o.votes - 1
             FROM social.poll_votes v WHERE v.post_id = $1 AND v.user_id = $2
               AND o.post_id = v.post_id AND o.position = v.position",
            &[P::Uuid(id.to_string()), P::Uuid(voter.to_string())],
        )?;
        conn.execute(
            "DELETE FROM social.poll_votes WHERE post_id = $1 AND user_id = $2",
            &[P::Uuid(id.to_string()), P::Uuid(voter.to_string())],
        )?;
    }
    for o in chosen {
        conn.execute(
            "INSERT INTO social.poll_votes (post_id, user_id, position) VALUES ($1, $2, $3)",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(voter.to_string()),
                P::Int16(*o as i16),
            ],
        )?;
        conn.execute(
            "UPDATE social.poll_options SET votes = votes + 1 WHERE post_id = $1 AND position = $2",
            &[P::Uuid(id.to_string()), P::Int16(*o as i16)],
        )?;
    }
    Ok(())
}

/// `GET /social/posts/{id}/poll`: the poll as the viewer sees it.
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    crate::access::require_visible(&conn, ctx.user_id, id)?;
    match views(&conn, ctx.user_id, &[id])?.remove(&id) {
        Some(poll) => Ok(json(200, &poll)),
        None => Err(Problem::not_found("this post has no poll")),
    }
}
