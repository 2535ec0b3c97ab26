//! Scheduled jobs of the social service (`infra/schedule.toml`, behind `social_internal_token`):
//! `publish-scheduled` ([`crate::scheduled::publish_due`]) and `close-polls` ([`close_polls`]).

use nexgate_events::catalogue::social::PollEnded;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use uuid::Uuid;

/// Polls ended per run.
const BATCH: usize = 200;

/// `POST /internal/social/jobs/close-polls`: each poll whose close time passed is marked ended
/// once and `social.poll.ended` goes to its author and voters; `{ended}`.
pub fn close_polls(req: &Request, component: &str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let conn = db()?;
    let mut ended = 0;
    while ended < BATCH {
        let one = with_events(&conn, crate::SCHEMA, component, |conn, events| {
            let due = query(
                conn,
                "UPDATE social.polls po SET ended_at = now()
                 WHERE po.post_id = (SELECT x.post_id FROM social.polls x JOIN social.posts p ON p.id = x.post_id
                                     WHERE x.ended_at IS NULL AND x.closes_at <= now() AND p.state = 'published'
                                     ORDER BY x.closes_at LIMIT 1 FOR UPDATE OF x SKIP LOCKED)
                 RETURNING po.post_id, (SELECT author_id FROM social.posts WHERE id = po.post_id) AS author_id,
                           array(SELECT DISTINCT v.user_id::text FROM social.poll_votes v WHERE v.post_id = po.post_id) AS voters",
                &[],
            )?;
            if due.is_empty() {
                return Ok(false);
            }
            let post: Uuid = due.value(0, "post_id")?;
            let author: Uuid = due.value(0, "author_id")?;
            let voters: Vec<Option<String>> = due.value(0, "voters")?;
            let mut audience = vec![author];
            audience.extend(
                voters
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.parse::<Uuid>().ok()),
            );
            audience.sort();
            audience.dedup();
            events.record(
                conn,
                None,
                ("post", post.to_string()),
                audience,
                &PollEnded {
                    poll_id: post,
                    post_id: post,
                    author_id: author,
                },
            )?;
            Ok(true)
        })?;
        if !one {
            break;
        }
        ended += 1;
    }
    Ok(json(200, &json!({ "ended": ended })))
}
