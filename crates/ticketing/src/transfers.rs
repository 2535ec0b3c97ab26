//! Transfers (docs/ticketing.md, "Refunds and transfers"): `POST /events/tickets/{id}/transfer
//! {username}` with an `Idempotency-Key` (the holder; a valid ticket not checked in, of an event
//! that has not ended). In one transaction the old ticket is revoked (its QR and code stop
//! working: the revocation list carries it) and a new one, with a new code, is issued to the
//! recipient and signed; the payable moves to the new ticket, so a later refund goes to the
//! number that paid. A replay with the key answers the first transfer; the old ticket can never
//! be transferred again.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::events::TicketTransferred;
use nexgate_events::outbox::Outbox;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, transaction, ts_as};
use nexgate_platform::idempotency::{self, Once, StoredResponse};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    username: String,
}

/// `POST /events/tickets/{id}/transfer {username}`: 201 `{ticket_id, previous_ticket_id,
/// holder_id}`.
pub async fn transfer(
    req: &Request,
    ticket: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let key =
        idempotency::parse_key(req.header("idempotency-key").and_then(|h| h.as_str()))?.to_string();
    let old = parse_id("id", ticket)?;
    let b: Transfer = json_body(req)?;
    let conn = db()?;
    let to: Uuid = query(
        &conn,
        "SELECT profiles.user_id_by_username($1) AS user_id",
        &[P::Str(b.username.trim().to_string())],
    )?
    .value::<Option<Uuid>>(0, "user_id")?
    .ok_or_else(|| Problem::invalid_field("username", "no such user"))?;
    if to == ctx.user_id {
        return Err(Problem::invalid_field("username", "is you"));
    }
    let new = new_id();
    let scope = format!("transfer:{}", ctx.user_id);
    let keyed = idempotency::Keyed {
        schema: crate::SCHEMA,
        scope: &scope,
        key: &key,
        request_hash: &idempotency::fingerprint("POST", req.path(), req.body()),
    };
    let answer = StoredResponse::json(
        201,
        &json!({"ticket_id": new, "previous_ticket_id": old, "holder_id": to}),
    )?;
    let mut outbox = Outbox::new(crate::SCHEMA, component)?;
    let made = transaction(&conn, |conn| {
        let once = idempotency::once_answering(conn, keyed, answer, |conn| {
            hand_over(conn, &mut outbox, (old, new), (ctx.user_id, to))
        })?;
        Ok::<_, Problem>(match once {
            Once::Replayed(stored) => stored,
            Once::Ran(()) => StoredResponse::json(
                201,
                &json!({"ticket_id": new, "previous_ticket_id": old, "holder_id": to}),
            )?,
        })
    })?;
    outbox.publish(&conn);
    let body: serde_json::Value = serde_json::from_slice(&made.body).unwrap_or_default();
    if let Some(t) = body["ticket_id"]
        .as_str()
        .and_then(|t| Uuid::parse_str(t).ok())
    {
        crate::signing::sign(&[t]).await?;
    }
    Ok(json(201, &body))
}

/// Revokes `old` and issues `new` to `to` (inside the keyed transaction).
fn hand_over(
    conn: &Connection,
    outbox: &mut Outbox,
    (old, new): (Uuid, Uuid),
    (from, to): (Uuid, Uuid),
) -> Result<(), Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT t.event_id, t.state, t.payable_id, e.status, EXISTS (SELECT 1 FROM events.checkins c WHERE c.ticket_id = t.id) AS used,
                    (SELECT max(d.ends_at) FROM events.event_days d WHERE d.event_id = e.id) < now() AS ended,
                    EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $2 AND b.user_b = $3) AS blocked,
                    (SELECT {} FROM events.event_days d WHERE d.event_id = e.id ORDER BY d.day LIMIT 1) AS starts_at
             FROM events.tickets t JOIN events.events e ON e.id = t.event_id
             WHERE t.id = $1 AND t.holder_id = $2 FOR UPDATE OF t",
            ts_as("d.starts_at", "starts_at")
        ),
        &[P::Uuid(old.to_string()), P::Uuid(from.to_string()), P::Uuid(to.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such ticket of yours"));
    }
    if rows.value::<String>(0, "state")? != "valid"
        || rows.value::<String>(0, "status")? != "published"
    {
        return Err(Problem::conflict(
            "not_transferable",
            "only a valid ticket of a published event can be transferred",
        ));
    }
    if rows.value::<bool>(0, "used")? || rows.value::<Option<bool>>(0, "ended")?.unwrap_or(true) {
        return Err(Problem::conflict(
            "not_transferable",
            "a ticket checked in, or of an event that ended, stays with its holder",
        ));
    }
    if rows.value::<bool>(0, "blocked")? {
        return Err(Problem::invalid_field(
            "username",
            "cannot receive your tickets",
        ));
    }
    let event: Uuid = rows.value(0, "event_id")?;
    let payable: Option<Uuid> = rows.value(0, "payable_id")?;
    conn.execute(
        "UPDATE events.tickets SET state = 'revoked', revoked_at = now(), revoked_reason = 'transferred',
                payable_id = NULL
         WHERE id = $1",
        &[P::Uuid(old.to_string())],
    )?;
    issue_to(conn, old, new, to, payable)?;
    conn.execute(
        "UPDATE events.tickets SET transferred_to = $2 WHERE id = $1",
        &[P::Uuid(old.to_string()), P::Uuid(new.to_string())],
    )?;
    outbox.record(
        conn,
        Some(from),
        ("ticket", new.to_string()),
        vec![to],
        &TicketTransferred {
            ticket_id: new,
            previous_ticket_id: old,
            event_id: event,
            from_id: from,
            to_id: to,
            starts_at: rows.value(0, "starts_at")?,
            sender_still_attending: crate::refunds::still_attending(conn, event, from)?,
        },
    )
}

/// The new ticket: the old one's order, type and price, a fresh code, the payable carried on.
fn issue_to(
    conn: &Connection,
    old: Uuid,
    new: Uuid,
    to: Uuid,
    payable: Option<Uuid>,
) -> Result<(), Problem> {
    crate::orders::with_fresh_code(|code| {
        Ok(!query(
            conn,
            "INSERT INTO events.tickets (id, order_id, event_id, ticket_type_id, holder_id, code, state, price,
                                         payable_id, paid_at, transferred_from)
             SELECT $2, order_id, event_id, ticket_type_id, $3, $4, 'valid', price, $5::text::uuid, paid_at, id
             FROM events.tickets WHERE id = $1
             ON CONFLICT (event_id, code) DO NOTHING RETURNING id",
            &[
                P::Uuid(old.to_string()),
                P::Uuid(new.to_string()),
                P::Uuid(to.to_string()),
                P::Str(code),
                payable.map(|p| P::Str(p.to_string())).unwrap_or(P::DbNull),
            ],
        )?
        .is_empty())
    })
}
