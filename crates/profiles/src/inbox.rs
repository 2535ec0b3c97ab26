//! `POST /internal/profiles/events`: the dispatcher delivers the events of `infra/subscriptions.toml`
//! `[services.profiles]` here, one envelope per call. Account deletions erase the profile
//! ([`crate::erasure`]); everything else is a trust input ([`crate::trust`]). Both apply an event
//! at most once (`profiles.consumed_events`).

use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::catalogue::EventData;
use nexgate_events::Envelope;
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};

/// `POST /internal/profiles/events` (behind `profiles_internal_token`).
pub fn consume(req: &Request) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let envelope: Envelope = parse_json(
        req.body(),
        req.header("content-type").and_then(|v| v.as_str()),
        JSON_BODY_BYTES_MAX,
    )?;
    match envelope.data_as::<AccountDeleted>() {
        Some(deleted) => crate::erasure::erase_account(&envelope, deleted.user_id),
        None if envelope.event_type == AccountDeleted::TYPE.name => Err(Problem::invalid_field(
            "data.user_id",
            "auth.account.deleted needs a user id",
        )),
        None => crate::trust::apply(&envelope),
    }
}
