//! Contact points (nexgate_auth::contact): `POST /auth/contact/change` and
//! `POST /auth/contact/verify`. Holds no signing key.
//!
//! The handler is asynchronous so that a change is answered before its code is sent: a taken and
//! a free address answer alike, in the same time.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::body::{read_request, send_response};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-contact";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/auth/contact/change"),
    ("POST", "/auth/contact/verify"),
];

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    use nexgate_auth::contact;
    let req = match read_request(incoming).await {
        Ok(req) => req,
        Err(problem) => return send_response(out, problem.into_response()).await,
    };
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return send_response(out, problem.into_response()).await,
    };
    let answer = match route.key() {
        ("POST", "/auth/contact/change") => match contact::change(&req) {
            Ok((answer, pending)) => {
                send_response(out, answer).await;
                if let Some(code) = pending {
                    code.send(COMPONENT);
                }
                return;
            }
            Err(problem) => Err(problem),
        },
        ("POST", "/auth/contact/verify") => contact::verify(&req, COMPONENT),
        _ => Err(unrouted(&route)),
    };
    send_response(out, answer.unwrap_or_else(Problem::into_response)).await
}
