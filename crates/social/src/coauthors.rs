//! Collaborative posts (docs/social.md, "Collaborative posts"): the author invites up to 4
//! co-authors (people who exist, not themselves, no block either way); each accepts or declines.
//! Once accepted the post shows them, appears on their profile and in their followers' feeds; an
//! accepted co-author may remove themselves. The invitation is announced when the post goes live
//! (`social.collaboration.invited`).

use nexgate_authn::authenticate;
use nexgate_events::catalogue::social::PostCreated;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// 422 naming `coauthors` unless every invitee is another existing user, listed once, with no
/// block either way with the author.
pub fn check_invitees(conn: &Connection, author: Uuid, invitees: &[Uuid]) -> Result<(), Problem> {
    if invitees.is_empty() {
        return Ok(());
    }
    let mut distinct = invitees.to_vec();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != invitees.len() || invitees.contains(&author) {
        return Err(Problem::invalid_field(
            "coauthors",
            "lists someone twice or the author",
        ));
    }
    let rows = query(
        conn,
        "SELECT count(*) AS fine FROM profiles.public_cards pc
         WHERE pc.user_id = ANY($2::text[]::uuid[]) AND NOT profiles.blocked_either_way($1, pc.user_id)",
        &[
            P::Uuid(author.to_string()),
            P::ArrayStr(invitees.iter().map(|i| Some(i.to_string())).collect()),
        ],
    )?;
    if rows.value::<i64>(0, "fine")? != invitees.len() as i64 {
        return Err(Problem::invalid_field("coauthors", "no such user"));
    }
    Ok(())
}

/// `POST /social/posts/{id}/collaboration {answer: accept|decline}` by an invitee, or
/// `DELETE /social/posts/{id}/collaboration` by an accepted co-author removing themselves.
pub fn answer(req: &Request, id: &str, answer: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let (from, to) = match answer {
        "accept" => ("invited", "accepted"),
        "decline" => ("invited", "declined"),
        "remove" => ("accepted", "removed"),
        _ => {
            return Err(Problem::invalid_field(
                "answer",
                "must be accept or decline",
            ))
        }
    };
    let conn = db()?;
    let rows = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let rows = query(
            conn,
            &format!(
                "UPDATE social.coauthors c SET state = $3, answered_at = now()
                 FROM social.posts p
                 WHERE c.post_id = $1 AND c.user_id = $2 AND c.state = $4 AND p.id = c.post_id
                   AND p.state = 'published' AND NOT profiles.blocked_either_way(p.author_id, $2)
                 RETURNING p.author_id, p.kind, {}",
                ts("p.published_at")
            ),
            &[
                P::Uuid(id.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                P::Str(to.into()),
                P::Str(from.into()),
            ],
        )?;
        // An accepted co-author's followers get the post in their feeds too.
        if to == "accepted" && !rows.is_empty() {
            let author: Uuid = rows.value(0, "author_id")?;
            events.record(
                conn,
                Some(ctx.user_id),
                ("post", id.to_string()),
                vec![author, ctx.user_id],
                &PostCreated {
                    post_id: id,
                    author_id: author,
                    kind: rows.value(0, "kind")?,
                    published_at: rows.value(0, "published_at")?,
                },
            )?;
        }
        Ok(rows)
    })?;
    if rows.is_empty() {
        return Err(Problem::not_found(if from == "invited" {
            "no open invitation to this post"
        } else {
            "you are not a co-author of this post"
        }));
    }
    if to == "removed" {
        conn.execute(
            "DELETE FROM social.pins WHERE user_id = $1 AND post_id = $2",
            &[P::Uuid(ctx.user_id.to_string()), P::Uuid(id.to_string())],
        )?;
    }
    Ok(json(200, &json!({"post_id": id, "state": to})))
}

/// `GET /social/collaborations`: the user's open invitations, newest first (the posts they may see).
pub fn invitations(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let ids: Vec<Uuid> = query(
        &conn,
        "SELECT c.post_id FROM social.coauthors c JOIN social.posts p ON p.id = c.post_id
         WHERE c.user_id = $1 AND c.state = 'invited' AND p.state = 'published'
         ORDER BY c.invited_at DESC LIMIT 100",
        &[P::Uuid(ctx.user_id.to_string())],
    )?
    .column("post_id")?;
    let items = crate::hydrate::posts(&conn, ctx.user_id, &ids)?;
    Ok(json(200, &json!({ "items": items })))
}
