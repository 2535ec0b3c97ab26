//! Sending a direct message (nexgate_dm::messages::send), a component of its own; Spin routes by
//! path, so the history on the same path is served here too.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "dm-send";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/dm/conversations/{id}/messages"),
    ("GET", "/dm/conversations/{id}/messages"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let id = route.param("id");
    match route.key() {
        ("POST", "/dm/conversations/{id}/messages") => {
            nexgate_dm::messages::send(&req, id, COMPONENT).await
        }
        ("GET", "/dm/conversations/{id}/messages") => nexgate_dm::messages::list(&req, id).await,
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
