//! Check-in by the app (docs/ticketing.md, "Check-in"): `POST /events/{id}/checkins {qr, nonce,
//! gate?}` by someone with a role on the event. The QR is verified with the published keys only
//! (this component holds no private key), [`crate::admission::decide`] gives the reason, and one
//! statement admits: a check-in row per ticket and day, so concurrent scanners of one ticket get
//! exactly one `ok`. The same `nonce` answers the first answer (the kit's idempotency, scoped to
//! the event and the scanner).

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::config::var;
use nexgate_platform::db::{open_from_variables as db, query, transaction, ts};
use nexgate_platform::idempotency::{self, Once, StoredResponse};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::admission::{decide, Day, Known, Reason};
use crate::qr::TicketVerifier;
use nexgate_events::catalogue::events::TicketCheckedIn;
use nexgate_events::outbox::Outbox;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    /// The QR text (method `app`), or
    qr: Option<String>,
    /// the ticket's manual code, typed (method `manual`).
    code: Option<String>,
    nonce: String,
    gate: Option<String>,
}

/// Manual codes a scanner may try per minute on one event, and all scanners of an event together
/// (against guessing: 50-bit codes, docs/ticketing.md "Manual codes").
pub const CODES_PER_MINUTE_PER_SCANNER: i64 = 10;
pub const CODES_PER_MINUTE_PER_EVENT: i64 = 100;

/// What was presented at the door, once read.
enum Presented {
    Claims(crate::qr::TicketClaims),
    Refused(Reason),
}

/// `POST /events/{id}/checkins`: 200 `{result, ticket_id?, day?, checked_in_at?, gate?}`.
pub fn scan(req: &Request, event: &str, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let s: Scan = json_body(req)?;
    if s.nonce.is_empty() || s.nonce.len() > 100 {
        return Err(Problem::invalid_field(
            "nonce",
            "must be 1 to 100 characters",
        ));
    }
    let conn = db()?;
    let role = query(
        &conn,
        "SELECT role FROM events.event_roles WHERE event_id = $1 AND user_id = $2",
        &[P::Uuid(event.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if role.is_empty() {
        return Err(Problem::not_found("no such event of yours to check in"));
    }
    let (presented, method) = read(&conn, event, ctx.user_id, &s)?;
    let scope = format!("checkin:{event}:{}", ctx.user_id);
    let keyed = idempotency::Keyed {
        schema: crate::SCHEMA,
        scope: &scope,
        key: &s.nonce,
        request_hash: &idempotency::fingerprint("POST", req.path(), req.body()),
    };
    let mut outbox = Outbox::new(crate::SCHEMA, component)?;
    let answer = transaction(&conn, |conn| {
        let once = idempotency::once(conn, keyed, |conn| {
            let scan = Scanned {
                event,
                actor: ctx.user_id,
                gate: s.gate.as_deref(),
                method,
            };
            let answer = admit(conn, &mut outbox, &scan, &presented)?;
            Ok((StoredResponse::json(200, &answer)?, answer))
        })?;
        Ok::<_, Problem>(match once {
            Once::Ran(answer) => answer,
            Once::Replayed(stored) => serde_json::from_slice(&stored.body).unwrap_or(Value::Null),
        })
    })?;
    // Not published from here: opening an MQTT connection per admission halved the admissions a
    // second and tripled p99 (bench/README.md). The committed outbox row reaches the bus through
    // the relay (about 5 s later with its defaults), which is soon enough for a confirmation.
    drop(outbox);
    Ok(json(200, &answer))
}

/// Where, how and by whom a ticket was presented.
struct Scanned<'a> {
    event: Uuid,
    actor: Uuid,
    gate: Option<&'a str>,
    method: &'static str,
}

/// The presented ticket read: a QR verified with the published keys (`app`), or a manual code
/// looked up after the guessing limits (`manual`).
fn read(
    conn: &Connection,
    event: Uuid,
    actor: Uuid,
    s: &Scan,
) -> Result<(Presented, &'static str), Problem> {
    match (&s.qr, &s.code) {
        (Some(qr), None) => {
            if qr.len() > 1000 {
                return Err(Problem::invalid_field("qr", "is longer than any ticket"));
            }
            let verifier =
                TicketVerifier::from_jwks(&var("ticket_public_keys").map_err(Problem::internal)?)
                    .map_err(|e| Problem::internal(format!("ticket_public_keys: {e}")))?;
            let presented = verifier
                .verify(qr)
                .map_or(Presented::Refused(Reason::Invalid), Presented::Claims);
            Ok((presented, "app"))
        }
        (None, Some(code)) => {
            let code = crate::codes::normalize(code).ok_or_else(|| {
                Problem::invalid_field(
                    "code",
                    "must be 10 characters of the ticket's code (XXXXX-XXXXX)",
                )
            })?;
            limit_guessing(event, actor)?;
            let rows = query(
                conn,
                &format!(
                    "{} WHERE t.event_id = $1 AND t.code = $2 AND t.state IN ('valid', 'revoked')",
                    crate::signing::CLAIMS_SQL
                ),
                &[P::Uuid(event.to_string()), P::Str(code)],
            )?;
            if rows.is_empty() {
                return Ok((Presented::Refused(Reason::Unknown), "manual"));
            }
            Ok((
                Presented::Claims(crate::signing::claims_of(&rows, 0, 0)?),
                "manual",
            ))
        }
        _ => Err(Problem::invalid_field("qr", "give either qr or code")),
    }
}

/// Counts a manual code attempt per scanner and per event (Redis; 429 with `Retry-After` past it).
fn limit_guessing(event: Uuid, actor: Uuid) -> Result<(), Problem> {
    use nexgate_platform::rate_limit::count_in_window;
    let (e, a) = (event.to_string(), actor.to_string());
    count_in_window(
        &["events", "codes", &e, &a],
        CODES_PER_MINUTE_PER_SCANNER,
        60,
        "manual codes",
    )?;
    count_in_window(
        &["events", "codes", &e],
        CODES_PER_MINUTE_PER_EVENT,
        60,
        "manual codes",
    )
}

/// The answer to one scan, the check-in written when it is `ok`.
fn admit(
    conn: &Connection,
    outbox: &mut Outbox,
    scan: &Scanned<'_>,
    presented: &Presented,
) -> Result<Value, Problem> {
    let Scanned {
        event,
        actor,
        gate,
        method,
    } = *scan;
    let claims = match presented {
        Presented::Claims(c) => Some(c),
        Presented::Refused(r) => return Ok(json!({ "result": r.code(), "ticket_id": null })),
    };
    let refuse =
        |r: Reason, ticket: Option<Uuid>| json!({ "result": r.code(), "ticket_id": ticket });
    let ticket = claims.map(|c| c.ticket_id);
    let known = match ticket {
        Some(t) => known(conn, event, t)?,
        None => None,
    };
    let now = nexgate_platform::time::now_unix().0;
    let day = match decide(claims, event, known, &days(conn, event)?, now) {
        Ok(day) => day,
        Err(r) => return Ok(refuse(r, ticket)),
    };
    let ticket = ticket.unwrap_or_default();
    let admitted = query(
        conn,
        "INSERT INTO events.checkins (ticket_id, day, method, actor_id, gate) VALUES ($1, $2, $5, $3, $4)
         ON CONFLICT (ticket_id, day) DO NOTHING RETURNING ticket_id",
        &[
            P::Uuid(ticket.to_string()),
            P::Int16(day as i16),
            P::Uuid(actor.to_string()),
            gate.map(|g| P::Str(g.chars().take(40).collect())).unwrap_or(P::DbNull),
            P::Str(method.into()),
        ],
    )?;
    let first = query(
        conn,
        &format!(
            "SELECT {}, gate FROM events.checkins WHERE ticket_id = $1 AND day = $2",
            ts("at")
        ),
        &[P::Uuid(ticket.to_string()), P::Int16(day as i16)],
    )?;
    let result = if admitted.is_empty() {
        Reason::AlreadyCheckedIn
    } else {
        announce(conn, outbox, (event, ticket, day), actor, method)?;
        Reason::Ok
    };
    Ok(json!({
        "result": result.code(),
        "ticket_id": ticket,
        "day": day,
        "checked_in_at": first.value::<Option<String>>(0, "at")?,
        "gate": first.value::<Option<String>>(0, "gate")?,
    }))
}

/// What the server holds about a ticket of `event` (`None`: no such ticket there).
fn known(conn: &Connection, event: Uuid, ticket: Uuid) -> Result<Option<Known>, Problem> {
    let rows = query(
        conn,
        "SELECT t.state = 'revoked' AS revoked, e.status = 'cancelled' AS cancelled
         FROM events.tickets t JOIN events.events e ON e.id = t.event_id
         WHERE t.id = $1 AND t.event_id = $2 AND t.state IN ('valid', 'revoked')",
        &[P::Uuid(ticket.to_string()), P::Uuid(event.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Known {
        revoked: rows.value(0, "revoked")?,
        event_cancelled: rows.value(0, "cancelled")?,
    }))
}

fn days(conn: &Connection, event: Uuid) -> Result<Vec<Day>, Problem> {
    let rows = query(
        conn,
        "SELECT day, extract(epoch FROM starts_at)::bigint AS s, extract(epoch FROM ends_at)::bigint AS e
         FROM events.event_days WHERE event_id = $1 ORDER BY day",
        &[P::Uuid(event.to_string())],
    )?;
    (0..rows.len())
        .map(|i| {
            Ok(Day {
                day: rows.value::<i16>(i, "day")? as u8,
                starts_at: rows.value(i, "s")?,
                ends_at: rows.value(i, "e")?,
            })
        })
        .collect()
}

/// `events.ticket.checked_in` for an admission (the holder's confirmation), with the day's date
/// in the event's time zone when the event has several days.
fn announce(
    conn: &Connection,
    outbox: &mut Outbox,
    (event, ticket, day): (Uuid, Uuid, u8),
    actor: Uuid,
    method: &str,
) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT t.holder_id, (SELECT count(*) FROM events.event_days d WHERE d.event_id = t.event_id) > 1 AS multi,
                (SELECT ((d.starts_at AT TIME ZONE e.time_zone)::date)::text FROM events.event_days d
                 WHERE d.event_id = t.event_id AND d.day = $2) AS date
         FROM events.tickets t JOIN events.events e ON e.id = t.event_id WHERE t.id = $1",
        &[P::Uuid(ticket.to_string()), P::Int16(day as i16)],
    )?;
    let holder: Uuid = rows.value(0, "holder_id")?;
    let date: Option<String> = rows.value(0, "date")?;
    outbox.record(
        conn,
        Some(actor),
        ("ticket", ticket.to_string()),
        vec![holder],
        &TicketCheckedIn {
            ticket_id: ticket,
            event_id: event,
            holder_id: holder,
            method: method.into(),
            day: if rows.value::<bool>(0, "multi")? {
                date
            } else {
                None
            },
        },
    )
}
