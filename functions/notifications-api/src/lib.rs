//! The Notification Service's routes for the apps (docs/notifications.md): the centre
//! (`GET /notifications`, grouped, newest first), `GET /notifications/unread-count`, marking read
//! (`POST /notifications/{id}/read`, `POST /notifications/read` for ids, a group or all) and seen
//! (`POST /notifications/seen`), `GET/PUT /notifications/preferences`, and push devices
//! (`GET /notifications/devices`, `PUT/DELETE /notifications/devices/{device_id}`), delivery status
//! (`GET /notifications/{id}/deliveries`; operators: `GET /notifications/events/{event_id}`).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_notifications::api::{centre, deliveries, devices, preferences};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("GET", "/notifications"),
    ("GET", "/notifications/unread-count"),
    ("POST", "/notifications/read"),
    ("POST", "/notifications/seen"),
    ("POST", "/notifications/{id}/read"),
    ("GET", "/notifications/{id}/deliveries"),
    ("GET", "/notifications/events/{event_id}"),
    ("GET", "/notifications/preferences"),
    ("PUT", "/notifications/preferences"),
    ("GET", "/notifications/devices"),
    ("PUT", "/notifications/devices/{device_id}"),
    ("DELETE", "/notifications/devices/{device_id}"),
];

#[http_component]
fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let (id, device) = (route.param("id"), route.param("device_id"));
    match route.key() {
        ("GET", "/notifications") => centre::list(&req),
        ("GET", "/notifications/unread-count") => centre::unread_count(&req),
        ("POST", "/notifications/read") => centre::mark_read(&req),
        ("POST", "/notifications/seen") => centre::mark_seen(&req),
        ("POST", "/notifications/{id}/read") => centre::mark_one_read(&req, id),
        ("GET", "/notifications/{id}/deliveries") => deliveries::for_owner(&req, id),
        ("GET", "/notifications/events/{event_id}") => {
            deliveries::for_operator(&req, route.param("event_id"))
        }
        ("GET", "/notifications/preferences") => preferences::get(&req),
        ("PUT", "/notifications/preferences") => preferences::put(&req),
        ("GET", "/notifications/devices") => devices::list(&req),
        ("PUT", "/notifications/devices/{device_id}") => devices::register(&req, device),
        ("DELETE", "/notifications/devices/{device_id}") => devices::remove(&req, device),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
