//! `POST /auth/register` and `POST /auth/register/resend` (nexgate_auth::registration).
//! Holds no signing key: it only stores pending registrations and sends codes.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-registration";

#[http_component]
fn handle(req: Request) -> Response {
    match (req.method(), req.path()) {
        (Method::Post, "/auth/register") => nexgate_auth::registration::register(&req, COMPONENT),
        (Method::Post, "/auth/register/resend") => {
            nexgate_auth::registration::resend(&req, COMPONENT)
        }
        (_, "/auth/register" | "/auth/register/resend") => Err(Problem::method_not_allowed()),
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
