//! The consuming side of the bus, for a service's `POST /internal/<service>/events`: the
//! dispatcher delivers one envelope per call, with the service's internal token (docs/events.md,
//! Transport). Consumers dedupe on the envelope id or apply idempotently.

use nexgate_platform::body::{json_response, parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::query;
use nexgate_platform::internal::check_request;
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue};
use uuid::Uuid;

use crate::Envelope;

/// The envelope of a delivery, after checking the caller's internal token.
pub fn read(req: &Request) -> Result<Envelope, Problem> {
    check_request(req)?;
    parse_json(
        req.body(),
        req.header("content-type").and_then(|v| v.as_str()),
        JSON_BODY_BYTES_MAX,
    )
}

/// 200 `{applied: false, reason}`: a type this consumer receives but does nothing with (acked, so
/// the dispatcher does not retry it).
pub fn not_consumed(envelope: &Envelope) -> Response {
    json_response(
        200,
        &json!({ "applied": false, "reason": format!("{} is not consumed here", envelope.event_type) }),
    )
}

/// Records envelope `event` in `<schema>.consumed_events (event_id)`, inside the consumer's
/// transaction: `false` when it was applied before (a redelivery), so nothing applies twice.
pub fn first_delivery(
    conn: &Connection,
    schema: &'static str,
    event: Uuid,
) -> Result<bool, Problem> {
    Ok(!query(
        conn,
        &format!(
            "INSERT INTO {schema}.consumed_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING event_id"
        ),
        &[ParameterValue::Uuid(event.to_string())],
    )?
    .is_empty())
}
