//! `POST /auth/register/verify` (nexgate_auth::registration::verify): creates the account and
//! the profile in one transaction and logs the user in, so it holds the JWT private key.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-registration-verify";

#[http_component]
fn handle(req: Request) -> Response {
    match *req.method() {
        Method::Post => nexgate_auth::registration::verify(&req, COMPONENT),
        _ => Err(Problem::method_not_allowed()),
    }
    .unwrap_or_else(Problem::into_response)
}
