//! The social service's internal routes (`social_internal_token`): dispatcher events (feed
//! fan-out, unfollows, deleted accounts) and the scheduler's jobs (docs/social.md).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use nexgate_social::{inbox, jobs, scheduled};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "social-internal";

/// Every route this component answers (docs/openapi-internal.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/internal/social/events"),
    ("POST", "/internal/social/jobs/publish-scheduled"),
    ("POST", "/internal/social/jobs/close-polls"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/internal/social/events") => inbox::consume(&req, COMPONENT),
        ("POST", "/internal/social/jobs/publish-scheduled") => {
            scheduled::publish_due(&req, COMPONENT)
        }
        ("POST", "/internal/social/jobs/close-polls") => jobs::close_polls(&req, COMPONENT),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
