//! Refunds a holder asks for (docs/ticketing.md, "Refunds and transfers"). Each event has a
//! policy its owner sets with a recent sign-in: `none`, or `until_deadline` (up to
//! `refund_deadline_hours` before the first day starts). `POST /events/tickets/{id}/refund` (the
//! holder, a ticket not checked in): the ticket is revoked, its seat goes back on sale, and a paid
//! one's payable is voided, which refunds it in full to the number that paid (for a transferred
//! ticket too: the payable went with it).

use nexgate_authn::authenticate;
use nexgate_events::catalogue::events::TicketRevoked;
use nexgate_events::outbox::with_events;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    policy: String,
    #[serde(default = "default_deadline")]
    deadline_hours: i32,
}

fn default_deadline() -> i32 {
    48
}

/// `PUT /events/{id}/refund-policy {policy: none|until_deadline, deadline_hours?}` (the owner,
/// signed in recently): 200 `{refund_policy, refund_deadline_hours}`.
pub fn set_policy(req: &Request, event: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let b: Policy = json_body(req)?;
    if !matches!(b.policy.as_str(), "none" | "until_deadline") {
        return Err(Problem::invalid_field(
            "policy",
            "must be none or until_deadline",
        ));
    }
    if !(0..=720).contains(&b.deadline_hours) {
        return Err(Problem::invalid_field("deadline_hours", "must be 0 to 720"));
    }
    let conn = db()?;
    let owned = query(
        &conn,
        "SELECT 1 FROM events.events WHERE id = $1 AND organizer_id = $2 AND status IN ('draft', 'published')",
        &[P::Uuid(event.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if owned.is_empty() {
        return Err(Problem::not_found("no such event of yours"));
    }
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    conn.execute(
        "UPDATE events.events SET refund_policy = $2, refund_deadline_hours = $3, updated_at = now() WHERE id = $1",
        &[P::Uuid(event.to_string()), P::Str(b.policy.clone()), P::Int32(b.deadline_hours)],
    )?;
    Ok(json(
        200,
        &json!({"refund_policy": b.policy, "refund_deadline_hours": b.deadline_hours}),
    ))
}

/// `POST /events/tickets/{id}/refund` (its holder): 200 `{ticket_id, state: revoked, refund:
/// done|pending|manual|null}` (`null` for a free ticket given back).
pub async fn refund(
    req: &Request,
    ticket: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let ticket = parse_id("id", ticket)?;
    let conn = db()?;
    let paid = with_events(&conn, crate::SCHEMA, component, |conn, events| {
        let (event, type_id, paid) = refundable(conn, ticket, ctx.user_id)?;
        crate::jobs::release_seats(conn, event, &[type_id])?;
        events.record(
            conn,
            Some(ctx.user_id),
            ("ticket", ticket.to_string()),
            vec![ctx.user_id],
            &TicketRevoked {
                ticket_id: ticket,
                event_id: event,
                holder_id: ctx.user_id,
                reason: "refunded".into(),
                holder_still_attending: still_attending(conn, event, ctx.user_id)?,
            },
        )?;
        Ok(paid)
    })?;
    let refund = if paid {
        Some(
            crate::payables::void_one(&conn, ticket)
                .await?
                .unwrap_or("pending"),
        )
    } else {
        None
    };
    Ok(json(
        200,
        &json!({"ticket_id": ticket, "state": "revoked", "refund": refund}),
    ))
}

/// Revokes `ticket` of `holder` when the policy allows (inside the transaction): (event, type,
/// paid).
fn refundable(
    conn: &Connection,
    ticket: Uuid,
    holder: Uuid,
) -> Result<(Uuid, Uuid, bool), Problem> {
    let rows = query(
        conn,
        "SELECT t.event_id, t.ticket_type_id, t.state, t.payable_id IS NOT NULL AS paid, e.status, e.refund_policy,
                EXISTS (SELECT 1 FROM events.checkins c WHERE c.ticket_id = t.id) AS used,
                (SELECT min(d.starts_at) FROM events.event_days d WHERE d.event_id = e.id)
                    - make_interval(hours => e.refund_deadline_hours) > now() AS in_time
         FROM events.tickets t JOIN events.events e ON e.id = t.event_id
         WHERE t.id = $1 AND t.holder_id = $2 FOR UPDATE OF t",
        &[P::Uuid(ticket.to_string()), P::Uuid(holder.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such ticket of yours"));
    }
    let refused = |code: &'static str, why: &str| Err(Problem::conflict(code, why.to_string()));
    if rows.value::<String>(0, "state")? != "valid"
        || rows.value::<String>(0, "status")? != "published"
    {
        return refused(
            "not_refundable",
            "only a valid ticket of a published event can be refunded",
        );
    }
    if rows.value::<bool>(0, "used")? {
        return refused(
            "checked_in",
            "a ticket that was checked in cannot be refunded",
        );
    }
    if rows.value::<String>(0, "refund_policy")? == "none" {
        return refused(
            "no_refunds",
            "the organizer does not refund tickets of this event",
        );
    }
    if !rows.value::<Option<bool>>(0, "in_time")?.unwrap_or(false) {
        return refused("refund_closed", "the event's refund deadline has passed");
    }
    let paid: bool = rows.value(0, "paid")?;
    conn.execute(
        "UPDATE events.tickets SET state = 'revoked', revoked_at = now(), revoked_reason = 'refunded',
                payable_void = CASE WHEN payable_id IS NULL THEN NULL ELSE 'pending' END
         WHERE id = $1",
        &[P::Uuid(ticket.to_string())],
    )?;
    Ok((
        rows.value(0, "event_id")?,
        rows.value(0, "ticket_type_id")?,
        paid,
    ))
}

/// Whether `user` still holds a valid ticket to `event`.
pub(crate) fn still_attending(conn: &Connection, event: Uuid, user: Uuid) -> Result<bool, Problem> {
    Ok(!query(
        conn,
        "SELECT 1 FROM events.tickets WHERE event_id = $1 AND holder_id = $2 AND state = 'valid' LIMIT 1",
        &[P::Uuid(event.to_string()), P::Uuid(user.to_string())],
    )?
    .is_empty())
}
