//! The payment service's internal routes (`payments_internal_token`): payables, escrow
//! release/freeze/void/refund, the scheduler's jobs (sweep pending intents, release due escrow),
//! and `POST /internal/payments/events` (the dispatcher: `auth.account.deleted`,
//! nexgate_payments::erasure).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_payments::{payables, sweeper};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "payments-internal";

/// Every route this component answers (docs/openapi-internal.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/internal/payments/payables"),
    ("GET", "/internal/payments/payables/{id}"),
    ("POST", "/internal/payments/payables/{id}/release"),
    ("POST", "/internal/payments/payables/{id}/freeze"),
    ("POST", "/internal/payments/payables/{id}/void"),
    ("POST", "/internal/payments/payables/{id}/refund"),
    ("POST", "/internal/payments/jobs/sweep"),
    ("POST", "/internal/payments/jobs/release"),
    ("POST", "/internal/payments/events"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let id = route.param("id").to_string();
    match route.key() {
        ("POST", "/internal/payments/payables") => payables::create(&req, COMPONENT),
        ("GET", "/internal/payments/payables/{id}") => payables::get_internal(&req, &id),
        ("POST", "/internal/payments/payables/{id}/release") => {
            payables::escrow_action(&req, &id, "release", COMPONENT).await
        }
        ("POST", "/internal/payments/payables/{id}/freeze") => {
            payables::escrow_action(&req, &id, "freeze", COMPONENT).await
        }
        ("POST", "/internal/payments/payables/{id}/void") => {
            payables::escrow_action(&req, &id, "void", COMPONENT).await
        }
        ("POST", "/internal/payments/payables/{id}/refund") => {
            payables::refund(&req, &id, COMPONENT).await
        }
        ("POST", "/internal/payments/jobs/sweep") => sweeper::sweep(req, COMPONENT).await,
        ("POST", "/internal/payments/jobs/release") => payables::release_due(&req, COMPONENT),
        ("POST", "/internal/payments/events") => nexgate_payments::erasure::consume(&req),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
