//! Provider callbacks (nexgate_payments::callbacks): `POST /payments/callbacks/{provider}/{intent}/{secret}`.
//! The only component holding the callback-verification secrets.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_payments::callbacks;
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "payments-callbacks";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[("POST", "/payments/callbacks/{provider}/{intent}/{secret}")];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/payments/callbacks/{provider}/{intent}/{secret}") => {
            callbacks::handle(req, COMPONENT).await
        }
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
