//! Provider callbacks (nexgate_payments::callbacks): `POST /payments/callbacks/{provider}/{intent}/{secret}`.
//! The only component holding the callback-verification secrets.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_payments::callbacks;
use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "payments-callbacks";

#[http_component]
async fn handle(req: Request) -> Response {
    if *req.method() != Method::Post {
        return Problem::method_not_allowed().into_response();
    }
    callbacks::handle(req, COMPONENT)
        .await
        .unwrap_or_else(Problem::into_response)
}
