//! The payment service's public routes (nexgate_payments): `/payments/methods[/{id}[/default]]`,
//! `/payments/intents[/{id}]`, `/payments/transactions`, `/payments/receipts/{id}`,
//! `/payments/payables/{id}`, `/payments/payouts[/{id}]`, `/payments/balances`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_payments::{history, intents, methods, payables, payouts};
use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "payments-api";

#[http_component]
async fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    let rest = path.strip_prefix("/payments/").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').collect();
    match (method, parts.as_slice()) {
        (Method::Get, ["methods"]) => methods::list(&req),
        (Method::Post, ["methods"]) => methods::add(&req),
        (Method::Delete, ["methods", id]) => methods::remove(&req, id),
        (Method::Post, ["methods", id, "default"]) => methods::make_default(&req, id),
        (Method::Post, ["intents"]) => intents::create(req, COMPONENT).await,
        (Method::Get, ["intents", id]) => intents::get(&req, id),
        (Method::Get, ["transactions"]) => history::transactions(&req),
        (Method::Get, ["receipts", id]) => intents::receipt(&req, id),
        (Method::Get, ["payables", id]) => payables::get(&req, id),
        (Method::Post, ["payouts"]) => payouts::create(req, COMPONENT).await,
        (Method::Get, ["payouts"]) => history::payouts(&req),
        (Method::Get, ["payouts", id]) => payouts::get(&req, id),
        (Method::Get, ["balances"]) => payouts::balances(&req),
        (
            _,
            ["methods"] | ["methods", _] | ["methods", _, "default"] | ["intents"] | ["intents", _],
        )
        | (_, ["transactions"] | ["receipts", _] | ["payables", _]) => {
            Err(Problem::method_not_allowed())
        }
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
