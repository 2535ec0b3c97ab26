//! Passwords: `POST /auth/password/forgot`, `POST /auth/password/reset`,
//! `POST /auth/password/change` (nexgate_auth::password_flows). Holds no signing key.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-password";

#[http_component]
fn handle(req: Request) -> Response {
    use nexgate_auth::password_flows::{change, forgot, reset};
    match (req.method(), req.path()) {
        (Method::Post, "/auth/password/forgot") => forgot(&req, COMPONENT),
        (Method::Post, "/auth/password/reset") => reset(&req, COMPONENT),
        (Method::Post, "/auth/password/change") => change(&req, COMPONENT),
        (_, "/auth/password/forgot" | "/auth/password/reset" | "/auth/password/change") => {
            Err(Problem::method_not_allowed())
        }
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
