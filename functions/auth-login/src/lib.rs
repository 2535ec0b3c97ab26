//! `POST /auth/login` (nexgate_auth::login), a component of its own: hot, rate limited, and one
//! of the few holding the JWT private key; and `POST /auth/reauthenticate`
//! (nexgate_auth::reauthentication), which checks a password the same way.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-login";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[("POST", "/auth/login"), ("POST", "/auth/reauthenticate")];

#[http_component]
fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/auth/login") => nexgate_auth::login::login(&req, COMPONENT),
        ("POST", "/auth/reauthenticate") => nexgate_auth::reauthentication::reauthenticate(&req),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
