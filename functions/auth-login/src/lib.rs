//! `POST /auth/login` (nexgate_auth::login), a component of its own: hot, rate limited, and one
//! of the few holding the JWT private key; and `POST /auth/reauthenticate`
//! (nexgate_auth::reauthentication), which checks a password the same way.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-login";

#[http_component]
fn handle(req: Request) -> Response {
    match (req.method(), req.path()) {
        (Method::Post, "/auth/login") => nexgate_auth::login::login(&req, COMPONENT),
        (Method::Post, "/auth/reauthenticate") => {
            nexgate_auth::reauthentication::reauthenticate(&req)
        }
        (_, "/auth/login" | "/auth/reauthenticate") => Err(Problem::method_not_allowed()),
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
