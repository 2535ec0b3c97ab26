//! Passwords: `POST /auth/password/forgot`, `POST /auth/password/reset`,
//! `POST /auth/password/change` (nexgate_auth::password_flows). Holds no signing key.
//!
//! The handler is asynchronous so that a reset request is answered before the account is even
//! looked up: the link goes out after the answer, and known and unknown accounts answer alike.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::body::{read_request, send_response};
use nexgate_platform::Problem;
use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-password";

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    use nexgate_auth::password_flows::{forgot, forgot_accepted};
    let req = match read_request(incoming).await {
        Ok(req) => req,
        Err(problem) => return send_response(out, problem.into_response()).await,
    };
    if (req.method(), req.path()) == (&Method::Post, "/auth/password/forgot") {
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
    send_response(out, route(&req)).await
}

fn route(req: &Request) -> Response {
    use nexgate_auth::password_flows::{change, reset};
    match (req.method(), req.path()) {
        (Method::Post, "/auth/password/reset") => reset(req, COMPONENT),
        (Method::Post, "/auth/password/change") => change(req, COMPONENT),
        (_, "/auth/password/forgot" | "/auth/password/reset" | "/auth/password/change") => {
            Err(Problem::method_not_allowed())
        }
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
