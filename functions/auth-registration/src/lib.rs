//! `POST /auth/register` and `POST /auth/register/resend` (nexgate_auth::registration).
//! Holds no signing key: it only stores pending registrations and sends codes.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-registration";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/auth/register"),
    ("POST", "/auth/register/resend"),
];

#[http_component]
fn handle(req: Request) -> Response {
    use nexgate_auth::registration;
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/auth/register") => registration::register(&req, COMPONENT),
        ("POST", "/auth/register/resend") => registration::resend(&req, COMPONENT),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
