//! The payment service's internal routes (`payments_internal_token`): payables, escrow
//! release/freeze/void/refund, and the scheduler's jobs (sweep pending intents, release due escrow).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_payments::{payables, sweeper};
use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "payments-internal";

#[http_component]
async fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    let rest = path.strip_prefix("/internal/payments/").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').collect();
    match (method, parts.as_slice()) {
        (Method::Post, ["payables"]) => payables::create(&req, COMPONENT),
        (Method::Get, ["payables", id]) => payables::get_internal(&req, id),
        (Method::Post, ["payables", id, action @ ("release" | "freeze" | "void")]) => {
            payables::escrow_action(&req, id, action, COMPONENT).await
        }
        (Method::Post, ["payables", id, "refund"]) => payables::refund(&req, id, COMPONENT).await,
        (Method::Post, ["jobs", "sweep"]) => sweeper::sweep(req, COMPONENT).await,
        (Method::Post, ["jobs", "release"]) => payables::release_due(&req, COMPONENT),
        (_, ["payables"] | ["payables", _] | ["jobs", _]) => Err(Problem::method_not_allowed()),
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
