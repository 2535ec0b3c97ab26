//! `POST /internal/profiles/events`: the dispatcher delivers the events of `infra/subscriptions.toml`
//! `[services.profiles]` here, one envelope per call. Account deletions erase the profile
//! ([`crate::erasure`]); everything else is a trust input ([`crate::trust`]). Both apply an event
//! at most once (`profiles.consumed_events`).

use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::catalogue::EventData;
use nexgate_events::Envelope;
use nexgate_platform::db::query;
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};

/// `POST /internal/profiles/events` (behind `profiles_internal_token`).
pub fn consume(req: &Request) -> Result<Response, Problem> {
    let envelope = nexgate_events::inbox::read(req)?;
    match envelope.data_as::<AccountDeleted>() {
        Some(deleted) => crate::erasure::erase_account(&envelope, deleted.user_id),
        None if envelope.event_type == AccountDeleted::TYPE.name => Err(Problem::invalid_field(
            "data.user_id",
            "auth.account.deleted needs a user id",
        )),
        None => crate::trust::apply(&envelope),
    }
}

/// Records that `envelope` was delivered, inside the consumer's transaction: false when it was
/// already applied (a redelivery), so nothing is applied twice.
pub fn first_delivery(conn: &Connection, envelope: &Envelope) -> Result<bool, Problem> {
    let fresh = query(
        conn,
        "INSERT INTO profiles.consumed_events (event_id, event_type) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING RETURNING 1 AS fresh",
        &[
            P::Uuid(envelope.id.to_string()),
            P::Str(envelope.event_type.clone()),
        ],
    )?;
    Ok(!fresh.is_empty())
}
