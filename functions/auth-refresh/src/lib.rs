//! `POST /auth/refresh` (nexgate_auth::refresh): rotation with reuse detection; holds the JWT
//! private key.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-refresh";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[("POST", "/auth/refresh")];

#[http_component]
fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/auth/refresh") => nexgate_auth::refresh::refresh(&req, COMPONENT),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
