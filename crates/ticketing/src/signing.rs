//! Signing tickets (docs/ticketing.md, "The signed ticket"). Only the private component
//! `events-signing` holds the RSA key (`ticket_signing_key`, `ticket_signing_key_id`); the others
//! ask it by local service chaining with `events_internal_token`: [`sign`] after issuing, and
//! again when a ticket is fetched unsigned (a crash between issuing and signing).

use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::config::var;
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

use crate::qr::{days_mask, TicketClaims, TicketSigner};

/// Tickets signed per call.
pub const TICKETS_PER_CALL_MAX: usize = 500;

/// Asks `events-signing` to sign `tickets` (those not signed yet).
pub async fn sign(tickets: &[Uuid]) -> Result<(), Problem> {
    for chunk in tickets.chunks(TICKETS_PER_CALL_MAX) {
        let (status, answer) = nexgate_platform::internal::call_component(
            "events-signing",
            "events",
            Method::Post,
            "/internal/events/tickets/sign",
            &json!({ "ticket_ids": chunk }),
            None,
        )
        .await
        .map_err(|_| Problem::unavailable("ticket signing"))?;
        if status != 200 {
            eprintln!("events: signing answered {status}: {answer}");
            return Err(Problem::unavailable("ticket signing"));
        }
    }
    Ok(())
}

/// What a ticket's claims are made of (add the `WHERE`): its event, type, admitted days and
/// validity (from 30 days before the first day to the end of the last).
pub(crate) const CLAIMS_SQL: &str = "SELECT t.id, t.event_id, t.ticket_type_id, tt.days::int4[] AS days,
        (SELECT extract(epoch FROM min(d.starts_at))::bigint - 30 * 86400 FROM events.event_days d WHERE d.event_id = t.event_id) AS valid_from,
        (SELECT extract(epoch FROM max(d.ends_at))::bigint FROM events.event_days d WHERE d.event_id = t.event_id) AS valid_until
     FROM events.tickets t JOIN events.ticket_types tt ON tt.id = t.ticket_type_id";

/// Row `i` of [`CLAIMS_SQL`] as claims under `key_id`.
pub(crate) fn claims_of(
    rows: &nexgate_platform::db::Rows,
    i: usize,
    key_id: u32,
) -> Result<TicketClaims, Problem> {
    let days: Option<Vec<Option<i32>>> = rows.value(i, "days")?;
    let days: Option<Vec<u8>> = days.map(|d| d.into_iter().flatten().map(|v| v as u8).collect());
    Ok(TicketClaims {
        key_id,
        ticket_id: rows.value(i, "id")?,
        event_id: rows.value(i, "event_id")?,
        ticket_type_id: rows.value(i, "ticket_type_id")?,
        days: days_mask(days.as_deref()),
        valid_from: rows
            .value::<Option<i64>>(i, "valid_from")?
            .unwrap_or(0)
            .max(0) as u32,
        valid_until: rows
            .value::<Option<i64>>(i, "valid_until")?
            .unwrap_or(0)
            .max(0) as u32,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignRequest {
    ticket_ids: Vec<Uuid>,
}

/// `POST /internal/events/tickets/sign {ticket_ids}` (events-signing only): signs each unsigned
/// ticket (its event, type, admitted days, valid from 30 days before the first day to the end of
/// the last) and stores the QR text; answers how many it signed.
pub fn handle(req: &Request) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let b: SignRequest = json_body(req)?;
    if b.ticket_ids.len() > TICKETS_PER_CALL_MAX {
        return Err(Problem::invalid_field(
            "ticket_ids",
            format!("at most {TICKETS_PER_CALL_MAX}"),
        ));
    }
    let pem = var("ticket_signing_key").map_err(Problem::internal)?;
    let kid = var("ticket_signing_key_id").map_err(Problem::internal)?;
    let signer = TicketSigner::from_pkcs8_pem(&pem, &kid)
        .map_err(|e| Problem::internal(format!("ticket_signing_key: {e}")))?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!("{CLAIMS_SQL} WHERE t.id = ANY($1::text[]::uuid[]) AND t.qr IS NULL AND t.state = 'valid'"),
        &[P::ArrayStr(
            b.ticket_ids.iter().map(|t| Some(t.to_string())).collect(),
        )],
    )?;
    let mut signed = 0;
    for i in 0..rows.len() {
        let claims = claims_of(&rows, i, signer.key_id())?;
        let qr = signer.sign(&claims);
        conn.execute(
            "UPDATE events.tickets SET qr = $2, key_id = $3, signed_at = now() WHERE id = $1 AND qr IS NULL",
            &[P::Uuid(claims.ticket_id.to_string()), P::Str(qr), P::Str(kid.clone())],
        )?;
        signed += 1;
    }
    Ok(json(200, &json!({ "signed": signed })))
}
