//! Direct messages' public routes (nexgate_dm, docs/dm.md): conversations, message requests,
//! groups and members, each member's choices, edits, unsends, read pointers, settings and sync.
//! Sending (`dm-send`) is a component of its own.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_dm::{conversations, messages, sync};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "dm-api";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/dm/conversations"),
    ("GET", "/dm/conversations"),
    ("GET", "/dm/requests"),
    ("GET", "/dm/conversations/{id}"),
    ("PATCH", "/dm/conversations/{id}"),
    ("DELETE", "/dm/conversations/{id}"),
    ("POST", "/dm/conversations/{id}/accept"),
    ("POST", "/dm/conversations/{id}/report"),
    ("POST", "/dm/conversations/{id}/read"),
    ("POST", "/dm/conversations/{id}/members"),
    ("PATCH", "/dm/conversations/{id}/members/{user_id}"),
    ("DELETE", "/dm/conversations/{id}/members/{user_id}"),
    ("PATCH", "/dm/messages/{id}"),
    ("DELETE", "/dm/messages/{id}"),
    ("PUT", "/dm/messages/{id}/reaction"),
    ("DELETE", "/dm/messages/{id}/reaction"),
    ("GET", "/dm/search"),
    ("PUT", "/dm/settings"),
    ("GET", "/dm/sync"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let id = route.param("id");
    match route.key() {
        ("POST", "/dm/conversations") => conversations::open(&req, COMPONENT),
        ("GET", "/dm/conversations") => conversations::list(&req, false),
        ("GET", "/dm/requests") => conversations::list(&req, true),
        ("GET", "/dm/conversations/{id}") => conversations::get(&req, id),
        ("PATCH", "/dm/conversations/{id}") => conversations::update(&req, id, COMPONENT),
        ("DELETE", "/dm/conversations/{id}") => conversations::leave(&req, id, COMPONENT),
        ("POST", "/dm/conversations/{id}/accept") => conversations::accept(&req, id, COMPONENT),
        ("POST", "/dm/conversations/{id}/read") => messages::read(&req, id, COMPONENT),
        ("POST", "/dm/conversations/{id}/report") => conversations::report(&req, id, COMPONENT),
        ("POST", "/dm/conversations/{id}/members") => conversations::add(&req, id, COMPONENT),
        ("PATCH", "/dm/conversations/{id}/members/{user_id}") => {
            conversations::set_role(&req, id, route.param("user_id"), COMPONENT)
        }
        ("DELETE", "/dm/conversations/{id}/members/{user_id}") => {
            conversations::remove(&req, id, route.param("user_id"), COMPONENT)
        }
        ("PATCH", "/dm/messages/{id}") => messages::edit(&req, id, COMPONENT).await,
        ("DELETE", "/dm/messages/{id}") => messages::delete(&req, id, COMPONENT).await,
        ("PUT", "/dm/messages/{id}/reaction") => messages::react(&req, id, true, COMPONENT).await,
        ("DELETE", "/dm/messages/{id}/reaction") => {
            messages::react(&req, id, false, COMPONENT).await
        }
        ("GET", "/dm/search") => messages::search(&req),
        ("PUT", "/dm/settings") => conversations::settings(&req),
        ("GET", "/dm/sync") => sync::sync(&req),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
