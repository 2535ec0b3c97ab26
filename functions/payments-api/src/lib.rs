//! The payment service's public routes (nexgate_payments): `/payments/methods[/{id}[/default]]`,
//! `/payments/intents[/{id}]`, `/payments/transactions`, `/payments/receipts/{id}`,
//! `/payments/payables/{id}`, `/payments/payouts[/{id}]`, `/payments/balances`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_payments::{history, intents, methods, payables, payouts};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "payments-api";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("GET", "/payments/methods"),
    ("POST", "/payments/methods"),
    ("DELETE", "/payments/methods/{id}"),
    ("POST", "/payments/methods/{id}/default"),
    ("POST", "/payments/intents"),
    ("GET", "/payments/intents/{id}"),
    ("GET", "/payments/transactions"),
    ("GET", "/payments/receipts/{id}"),
    ("GET", "/payments/payables/{id}"),
    ("POST", "/payments/payouts"),
    ("GET", "/payments/payouts"),
    ("GET", "/payments/payouts/{id}"),
    ("GET", "/payments/balances"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let id = route.param("id").to_string();
    match route.key() {
        ("GET", "/payments/methods") => methods::list(&req),
        ("POST", "/payments/methods") => methods::add(&req),
        ("DELETE", "/payments/methods/{id}") => methods::remove(&req, &id),
        ("POST", "/payments/methods/{id}/default") => methods::make_default(&req, &id),
        ("POST", "/payments/intents") => intents::create(req, COMPONENT).await,
        ("GET", "/payments/intents/{id}") => intents::get(&req, &id),
        ("GET", "/payments/transactions") => history::transactions(&req),
        ("GET", "/payments/receipts/{id}") => intents::receipt(&req, &id),
        ("GET", "/payments/payables/{id}") => payables::get(&req, &id),
        ("POST", "/payments/payouts") => payouts::create(req, COMPONENT).await,
        ("GET", "/payments/payouts") => history::payouts(&req),
        ("GET", "/payments/payouts/{id}") => payouts::get(&req, &id),
        ("GET", "/payments/balances") => payouts::balances(&req),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
