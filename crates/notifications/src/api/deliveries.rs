//! Where a notification went (docs/notifications.md, "Delivery status"): for its owner, each
//! channel's status as the notifier recorded it; for operators, everything one event caused.
//!
//! The statuses: `delivered` (in-app only: the row is in the centre), `queued`, `held` (quiet
//! hours or a digest, with `hold_reason`), `sent` (the gateway accepted it: FCM, SMTP or Africa's
//! Talking; none of them tells us about the device or inbox, so an external channel is never
//! `delivered`), `digested` (went out in a digest email), `failed` (permanent refusal), `dead`
//! (transient failures until the retry bound), `skipped` (nothing to send to) and
//! `skipped_by_preference`.

use nexgate_authn::authenticate;
use nexgate_platform::body::json_response;
use nexgate_platform::db::{open_from_variables, query, ts, Rows};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

/// Deliveries one event may list for an operator.
const EVENT_DELIVERIES_MAX: i64 = 500;

fn delivery_columns() -> String {
    format!(
        "d.channel, d.status, d.attempts, d.hold_reason, d.last_error, {}, {}",
        ts("d.sent_at"),
        ts("d.updated_at")
    )
}

/// What the owner sees of one delivery: a reason for a skip or hold, never a gateway's error.
fn owner_view(r: &Rows, i: usize) -> Result<Value, Problem> {
    let status: String = r.value(i, "status")?;
    let reason = match status.as_str() {
        "skipped" | "skipped_by_preference" => r.value::<Option<String>>(i, "last_error")?,
        "failed" | "dead" => Some("the provider could not deliver it".to_string()),
        _ => None,
    };
    Ok(json!({
        "channel": r.value::<String>(i, "channel")?,
        "status": status,
        "attempts": r.value::<i32>(i, "attempts")?,
        "hold_reason": r.value::<Option<String>>(i, "hold_reason")?,
        "reason": reason,
        "sent_at": r.value::<Option<String>>(i, "sent_at")?,
        "updated_at": r.value::<String>(i, "updated_at")?,
    }))
}

/// `GET /notifications/{id}/deliveries`: the caller's notification, channel by channel (a
/// grouped notification lists the deliveries of every event folded into it, newest first).
pub fn for_owner(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = open_from_variables()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT i.id AS item, {} FROM notifications.items i \
             LEFT JOIN notifications.deliveries d ON d.item_id = i.id \
             WHERE i.id = $1 AND i.user_id = $2 \
             ORDER BY d.created_at DESC, d.channel",
            delivery_columns()
        ),
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such notification"));
    }
    let deliveries = (0..rows.len())
        .filter(|&i| matches!(rows.value::<Option<String>>(i, "channel"), Ok(Some(_))))
        .map(|i| owner_view(&rows, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json_response(
        200,
        &json!({ "notification_id": id, "deliveries": deliveries }),
    ))
}

/// `GET /notifications/events/{event_id}` (role `operator`): what the notifier did with one
/// event (its outcome) and every delivery it caused, with the gateways' errors.
pub fn for_operator(req: &Request, event_id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_role("operator")?;
    let event_id = parse_id("event_id", event_id)?;
    let conn = open_from_variables()?;
    let processed = query(
        &conn,
        &format!(
            "SELECT event_type, outcome, detail, {} FROM notifications.processed_events WHERE event_id = $1",
            ts("processed_at")
        ),
        &[P::Uuid(event_id.to_string())],
    )?;
    if processed.is_empty() {
        return Err(Problem::not_found(
            "the notifier has not processed this event",
        ));
    }
    let rows = query(
        &conn,
        &format!(
            "SELECT d.id, d.user_id, d.provider_reference, {} FROM notifications.deliveries d \
             WHERE d.event_id = $1 ORDER BY d.user_id, d.channel LIMIT $2",
            delivery_columns()
        ),
        &[
            P::Uuid(event_id.to_string()),
            P::Int64(EVENT_DELIVERIES_MAX),
        ],
    )?;
    let deliveries = (0..rows.len())
        .map(|i| {
            Ok(json!({
                "id": rows.value::<Uuid>(i, "id")?,
                "user_id": rows.value::<Uuid>(i, "user_id")?,
                "channel": rows.value::<String>(i, "channel")?,
                "status": rows.value::<String>(i, "status")?,
                "attempts": rows.value::<i32>(i, "attempts")?,
                "hold_reason": rows.value::<Option<String>>(i, "hold_reason")?,
                "last_error": rows.value::<Option<String>>(i, "last_error")?,
                "provider_reference": rows.value::<Option<String>>(i, "provider_reference")?,
                "sent_at": rows.value::<Option<String>>(i, "sent_at")?,
                "updated_at": rows.value::<String>(i, "updated_at")?,
            }))
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    Ok(json_response(
        200,
        &json!({
            "event_id": event_id,
            "event_type": processed.value::<String>(0, "event_type")?,
            "outcome": processed.value::<String>(0, "outcome")?,
            "detail": processed.value::<Option<String>>(0, "detail")?,
            "processed_at": processed.value::<String>(0, "processed_at")?,
            "deliveries": deliveries,
        }),
    ))
}
