//! Contact points (nexgate_auth::contact): `POST /auth/contact/change` and
//! `POST /auth/contact/verify`. Holds no signing key.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-contact";

#[http_component]
fn handle(req: Request) -> Response {
    use nexgate_auth::contact;
    match (req.method(), req.path()) {
        (Method::Post, "/auth/contact/change") => contact::change(&req, COMPONENT),
        (Method::Post, "/auth/contact/verify") => contact::verify(&req, COMPONENT),
        (_, "/auth/contact/change" | "/auth/contact/verify") => Err(Problem::method_not_allowed()),
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
