//! MFA (nexgate_auth::mfa): `POST /auth/mfa/totp/setup`, `/auth/mfa/totp/enable`,
//! `/auth/mfa/totp/disable`, `/auth/mfa/verify` (finishes a login), `/auth/mfa/step-up` and
//! `/auth/mfa/recovery-codes` (new recovery codes).
//! Issues tokens, so it holds the JWT private key, and it alone holds `mfa_encryption_key`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-mfa";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/auth/mfa/totp/setup"),
    ("POST", "/auth/mfa/totp/enable"),
    ("POST", "/auth/mfa/totp/disable"),
    ("POST", "/auth/mfa/verify"),
    ("POST", "/auth/mfa/step-up"),
    ("POST", "/auth/mfa/recovery-codes"),
];

#[http_component]
fn handle(req: Request) -> Response {
    use nexgate_auth::mfa;
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/auth/mfa/totp/setup") => mfa::setup(&req),
        ("POST", "/auth/mfa/totp/enable") => mfa::enable(&req, COMPONENT),
        ("POST", "/auth/mfa/totp/disable") => mfa::disable(&req, COMPONENT),
        ("POST", "/auth/mfa/verify") => mfa::verify(&req, COMPONENT),
        ("POST", "/auth/mfa/step-up") => mfa::step_up(&req),
        ("POST", "/auth/mfa/recovery-codes") => mfa::regenerate_recovery_codes(&req, COMPONENT),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
