//! Signs tickets (nexgate_ticketing::signing): the only component holding the RSA private key
//! (`ticket_signing_key`, a secret variable). Private (`route = { private = true }`): reached only
//! by local service chaining (`http://events-signing.spin.internal`), and it still checks
//! `events_internal_token`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// Every route this component answers (docs/openapi-internal.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[("POST", "/internal/events/tickets/sign")];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/internal/events/tickets/sign") => nexgate_ticketing::signing::handle(&req),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
