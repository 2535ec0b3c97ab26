//! The profile service's internal routes (`profiles_internal_token`):
//! - `POST /internal/profiles/events` (nexgate_profiles::trust::consume): the dispatcher delivers
//!   the events of `infra/subscriptions.toml` `[services.profiles]` here, one envelope per call;
//! - `PUT /internal/profiles/users/{id}/links` (nexgate_profiles::profile::set_links): the shop
//!   and events services link the user's shop and organizer page.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "profiles-internal";

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    let links = path
        .strip_prefix("/internal/profiles/users/")
        .and_then(|rest| rest.strip_suffix("/links"));
    match (req.method(), path.as_str(), links) {
        (Method::Post, "/internal/profiles/events", _) => nexgate_profiles::trust::consume(&req),
        (Method::Put, _, Some(user)) => nexgate_profiles::profile::set_links(&req, user, COMPONENT),
        (_, "/internal/profiles/events", _) | (_, _, Some(_)) => Err(Problem::method_not_allowed()),
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
