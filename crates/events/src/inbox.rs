//! The consuming side of the bus, for a service's `POST /internal/<service>/events`: the
//! dispatcher delivers one envelope per call, with the service's internal token (docs/events.md,
//! Transport). Consumers dedupe on the envelope id or apply idempotently.

use nexgate_platform::body::{json_response, parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::internal::check_request;
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};

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
