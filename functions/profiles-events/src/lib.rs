//! `POST /internal/profiles/events` (nexgate_profiles::trust::consume): the dispatcher delivers the
//! events of `infra/subscriptions.toml` `[services.profiles]` here, one envelope per call, with
//! `profiles_internal_token`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    match *req.method() {
        Method::Post => nexgate_profiles::trust::consume(&req),
        _ => Err(Problem::method_not_allowed()),
    }
    .unwrap_or_else(Problem::into_response)
}
