//! Ratings of the organizer (docs/ticketing.md, "Reviews"): an attendee who checked in rates the
//! event's organizer 1 to 5 with a text, once per event, after it ended (`events.review.created`,
//! counted by profiles' trust score); the organizer replies; aggregates per event and per organizer.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::events::ReviewCreated;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::{json_body, json_response as json, query_string};
use nexgate_platform::db::{open_from_variables as db, query, ts};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReview {
    rating: i64,
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    text: String,
}

/// `POST /events/{id}/reviews {rating, body?}`: 201 with the review.
pub fn create(req: &Request, event: &str, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let b: NewReview = json_body(req)?;
    if !(1..=5).contains(&b.rating) {
        return Err(Problem::invalid_field("rating", "must be 1 to 5"));
    }
    let body = b.body.trim().to_string();
    if body.chars().count() > 2000 {
        return Err(Problem::invalid_field(
            "body",
            "must be at most 2000 characters",
        ));
    }
    let conn = db()?;
    let found = query(
        &conn,
        "SELECT e.organizer_id,
                (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id) < now() AS ended,
                EXISTS (SELECT 1 FROM events.tickets t JOIN events.checkins c ON c.ticket_id = t.id
                        WHERE t.event_id = e.id AND t.holder_id = $2 AND t.state = 'valid') AS attended
         FROM events.events e WHERE e.id = $1 AND e.status IN ('published', 'completed')",
        &[P::Uuid(event.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if found.is_empty() {
        return Err(Problem::not_found("no such event"));
    }
    if !found.value::<bool>(0, "attended")? {
        return Err(
            Problem::new(403, "not_an_attendee", "Only attendees review").with_detail(
                "only a holder whose ticket was checked in may review the event's organizer",
            ),
        );
    }
    if !found.value::<Option<bool>>(0, "ended")?.unwrap_or(false) {
        return Err(Problem::conflict(
            "event_not_ended",
            "reviews open when the event has ended",
        ));
    }
    let organizer: Uuid = found.value(0, "organizer_id")?;
    let id = new_id();
    with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let made = query(
            conn,
            "INSERT INTO events.reviews (id, event_id, organizer_id, reviewer_id, rating, body)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id, reviewer_id) DO NOTHING RETURNING id",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(event.to_string()),
                P::Uuid(organizer.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                P::Int16(b.rating as i16),
                P::Str(body.clone()),
            ],
        )?;
        if made.is_empty() {
            return Err(Problem::conflict(
                "already_reviewed",
                "you reviewed this event already",
            ));
        }
        events.record(
            conn,
            Some(ctx.user_id),
            ("review", id.to_string()),
            vec![organizer],
            &ReviewCreated {
                review_id: id,
                event_id: event,
                organizer_id: organizer,
                reviewer_id: ctx.user_id,
                rating: b.rating,
            },
        )
    })?;
    Ok(json(
        201,
        &json!({"id": id, "event_id": event, "rating": b.rating, "body": body}),
    ))
}

/// `GET /events/{id}/reviews?cursor=&limit=`: `{summary: {count, average}, items, next_cursor}`,
/// newest first (anyone signed in who may see the event).
pub fn list(req: &Request, event: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 20, 100)?;
    let conn = db()?;
    let visible = query(
        &conn,
        "SELECT 1 FROM events.events e WHERE e.id = $1 AND e.status <> 'draft'
           AND NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $2 AND b.user_b = e.organizer_id)",
        &[P::Uuid(event.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if visible.is_empty() {
        return Err(Problem::not_found("no such event"));
    }
    let (after_at, after_id) = match &page.after {
        Some((at, id)) => (P::Str(at.as_str().to_string()), P::Uuid(id.to_string())),
        None => (P::DbNull, P::DbNull),
    };
    let rows = query(
        &conn,
        &format!(
            "SELECT r.id, r.rating, r.body, r.reply, r.reviewer_id, pc.username, pc.display_name, {}, {}
             FROM events.reviews r LEFT JOIN profiles.public_cards pc ON pc.user_id = r.reviewer_id
             WHERE r.event_id = $1
               AND ($2::text IS NULL OR (r.created_at, r.id) < ($2::text::timestamptz, $3::uuid))
             ORDER BY r.created_at DESC, r.id DESC LIMIT $4",
            ts("r.created_at"),
            ts("r.replied_at")
        ),
        &[P::Uuid(event.to_string()), after_at, after_id, P::Int64(page.limit.into())],
    )?;
    let mut items = Vec::new();
    for i in 0..rows.len() {
        let s = |c: &str| rows.value::<Option<String>>(i, c);
        items.push(json!({
            "id": rows.value::<Uuid>(i, "id")?,
            "rating": rows.value::<i16>(i, "rating")?,
            "body": s("body")?,
            "reviewer": {"id": rows.value::<Uuid>(i, "reviewer_id")?, "username": s("username")?, "display_name": s("display_name")?},
            "reply": s("reply")?,
            "replied_at": s("replied_at")?,
            "created_at": s("created_at")?,
        }));
    }
    let next = (rows.len() == page.limit as usize)
        .then(|| {
            let last = rows.len() - 1;
            Ok::<_, Problem>(encode_cursor(&(
                rows.value::<String>(last, "created_at")?,
                rows.value::<Uuid>(last, "id")?,
            )))
        })
        .transpose()?;
    let summary = aggregate(&conn, "event_id", event)?;
    Ok(json(
        200,
        &json!({ "summary": summary, "items": items, "next_cursor": next }),
    ))
}

/// `{count, average}` of the reviews where `column` is `id`.
fn aggregate(conn: &Connection, column: &str, id: Uuid) -> Result<Value, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT count(*)::int8 AS n, round(avg(rating), 2)::float8 AS average,
                    count(DISTINCT event_id)::int8 AS events
             FROM events.reviews WHERE {column} = $1"
        ),
        &[P::Uuid(id.to_string())],
    )?;
    Ok(json!({
        "count": rows.value::<i64>(0, "n")?,
        "average": rows.value::<Option<f64>>(0, "average")?,
        "events": rows.value::<i64>(0, "events")?,
    }))
}

/// `GET /events/organizers/{id}/rating`: `{count, average, events}` over every event the user
/// organized.
pub fn organizer_rating(req: &Request, organizer: &str) -> Result<Response, Problem> {
    authenticate(req)?;
    let organizer = parse_id("id", organizer)?;
    let conn = db()?;
    Ok(json(200, &aggregate(&conn, "organizer_id", organizer)?))
}

/// `POST /events/{id}/reviews/{review_id}/reply {text}` (the organizer): 200; a second reply
/// replaces the first.
pub fn reply(req: &Request, event: &str, review: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let review = parse_id("review_id", review)?;
    let b: Reply = json_body(req)?;
    let text = b.text.trim();
    if !(1..=2000).contains(&text.chars().count()) {
        return Err(Problem::invalid_field(
            "text",
            "must be 1 to 2000 characters",
        ));
    }
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "UPDATE events.reviews SET reply = $4, replied_at = now()
             WHERE id = $1 AND event_id = $2 AND organizer_id = $3 RETURNING {}",
            ts("replied_at")
        ),
        &[
            P::Uuid(review.to_string()),
            P::Uuid(event.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Str(text.to_string()),
        ],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such review of your event"));
    }
    Ok(json(
        200,
        &json!({"id": review, "reply": text, "replied_at": rows.value::<String>(0, "replied_at")?}),
    ))
}
