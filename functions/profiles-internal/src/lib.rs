//! The profile service's internal routes (`profiles_internal_token`):
//! - `POST /internal/profiles/events` (nexgate_profiles::inbox::consume): the dispatcher delivers
//!   the events of `infra/subscriptions.toml` `[services.profiles]` here, one envelope per call
//!   (trust inputs, and account deletions, which erase the profile);
//! - `PUT /internal/profiles/users/{id}/links` (nexgate_profiles::profile::set_links): the shop
//!   and events services link the user's shop and organizer page.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "profiles-internal";

/// Every route this component answers (docs/openapi-internal.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/internal/profiles/events"),
    ("PUT", "/internal/profiles/users/{id}/links"),
];

#[http_component]
fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/internal/profiles/events") => nexgate_profiles::inbox::consume(&req),
        ("PUT", "/internal/profiles/users/{id}/links") => {
            nexgate_profiles::profile::set_links(&req, route.param("id"), COMPONENT)
        }
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
