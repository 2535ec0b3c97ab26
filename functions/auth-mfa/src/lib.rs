//! MFA (nexgate_auth::mfa): `POST /auth/mfa/totp/setup`, `/auth/mfa/totp/enable`,
//! `/auth/mfa/totp/disable`, `/auth/mfa/verify` (finishes a login), `/auth/mfa/step-up` and
//! `/auth/mfa/recovery-codes` (new recovery codes).
//! Issues tokens, so it holds the JWT private key, and it alone holds `mfa_encryption_key`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-mfa";

#[http_component]
fn handle(req: Request) -> Response {
    use nexgate_auth::mfa;
    match (req.method(), req.path()) {
        (Method::Post, "/auth/mfa/totp/setup") => mfa::setup(&req),
        (Method::Post, "/auth/mfa/totp/enable") => mfa::enable(&req, COMPONENT),
        (Method::Post, "/auth/mfa/totp/disable") => mfa::disable(&req, COMPONENT),
        (Method::Post, "/auth/mfa/verify") => mfa::verify(&req, COMPONENT),
        (Method::Post, "/auth/mfa/step-up") => mfa::step_up(&req),
        (Method::Post, "/auth/mfa/recovery-codes") => {
            mfa::regenerate_recovery_codes(&req, COMPONENT)
        }
        (
            _,
            "/auth/mfa/totp/setup"
            | "/auth/mfa/totp/enable"
            | "/auth/mfa/totp/disable"
            | "/auth/mfa/verify"
            | "/auth/mfa/step-up"
            | "/auth/mfa/recovery-codes",
        ) => Err(Problem::method_not_allowed()),
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
