//! Check-in at the door (nexgate_ticketing::checkin): verifies tickets with the published public
//! keys only (`ticket_public_keys`); it holds no private key. People with a role on the event and
//! devices registered to it (scanner machines, kiosks) check in online; offline scans are uploaded.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "events-checkin";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/events/{id}/checkins"),
    ("POST", "/events/{id}/checkins/offline"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/events/{id}/checkins") => {
            nexgate_ticketing::checkin::scan(&req, route.param("id"), COMPONENT)
        }
        ("POST", "/events/{id}/checkins/offline") => {
            nexgate_ticketing::checkin::upload(&req, route.param("id"), COMPONENT)
        }
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
