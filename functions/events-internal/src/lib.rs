//! Event ticketing's internal routes (`events_internal_token`): payment events from the
//! dispatcher and the scheduler's jobs (docs/ticketing.md).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use nexgate_ticketing::{inbox, jobs, payouts};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "events-internal";

/// Every route this component answers (docs/openapi-internal.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/internal/events/events"),
    ("POST", "/internal/events/jobs/expire-holds"),
    ("POST", "/internal/events/jobs/void-payables"),
    ("POST", "/internal/events/jobs/release-escrow"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/internal/events/events") => inbox::consume(&req, COMPONENT).await,
        ("POST", "/internal/events/jobs/expire-holds") => jobs::expire_holds(&req).await,
        ("POST", "/internal/events/jobs/void-payables") => jobs::void_payables(&req).await,
        ("POST", "/internal/events/jobs/release-escrow") => {
            payouts::release_escrow(&req, COMPONENT).await
        }
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
