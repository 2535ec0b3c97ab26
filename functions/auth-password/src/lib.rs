//! Passwords: `POST /auth/password/forgot`, `POST /auth/password/reset`,
//! `POST /auth/password/change` (nexgate_auth::password_flows). Holds no signing key.
//!
//! The handler is asynchronous so that a reset request is answered before the account is even
//! looked up: the link goes out after the answer, and known and unknown accounts answer alike.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::body::{read_request, send_response};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-password";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/auth/password/forgot"),
    ("POST", "/auth/password/reset"),
    ("POST", "/auth/password/change"),
];

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    use nexgate_auth::password_flows::{change, forgot, forgot_accepted, reset};
    let req = match read_request(incoming).await {
        Ok(req) => req,
        Err(problem) => return send_response(out, problem.into_response()).await,
    };
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return send_response(out, problem.into_response()).await,
    };
    let answer = match route.key() {
        ("POST", "/auth/password/forgot") => {
            match forgot(&req) {
                Ok(Some(request)) => {
                    send_response(out, forgot_accepted()).await;
                    request.send_link(COMPONENT);
                }
                Ok(None) => send_response(out, forgot_accepted()).await,
                Err(problem) => send_response(out, problem.into_response()).await,
            }
            return;
        }
        ("POST", "/auth/password/reset") => reset(&req, COMPONENT),
        ("POST", "/auth/password/change") => change(&req, COMPONENT),
        _ => Err(unrouted(&route)),
    };
    send_response(out, answer.unwrap_or_else(Problem::into_response)).await
}
