//! The marketplace's internal routes (`commerce_internal_token`): payment events from the
//! dispatcher and the scheduler's jobs (docs/commerce.md).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_commerce::{inbox, jobs};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "commerce-internal";

/// Every route this component answers (docs/openapi-internal.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/internal/commerce/events"),
    ("POST", "/internal/commerce/jobs/expire-reservations"),
    ("POST", "/internal/commerce/jobs/complete-delivered"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/internal/commerce/events") => inbox::consume(&req, COMPONENT).await,
        ("POST", "/internal/commerce/jobs/expire-reservations") => {
            jobs::expire_reservations(&req, COMPONENT).await
        }
        ("POST", "/internal/commerce/jobs/complete-delivered") => {
            jobs::complete_delivered(&req, COMPONENT).await
        }
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
