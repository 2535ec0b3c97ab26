//! The Notification Service's routes for the apps (docs/notifications.md): the centre
//! (`GET /notifications`, grouped, newest first), `GET /notifications/unread-count`, marking read
//! (`POST /notifications/{id}/read`, `POST /notifications/read` for ids, a group or all) and seen
//! (`POST /notifications/seen`), `GET/PUT /notifications/preferences`, and push devices
//! (`GET /notifications/devices`, `PUT/DELETE /notifications/devices/{device_id}`).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_notifications::api::{centre, devices, preferences};
use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    let rest = path.strip_prefix("/notifications").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice()) {
        (Method::Get, []) => centre::list(&req),
        (Method::Get, ["unread-count"]) => centre::unread_count(&req),
        (Method::Post, ["read"]) => centre::mark_read(&req),
        (Method::Post, ["seen"]) => centre::mark_seen(&req),
        (Method::Post, [id, "read"]) => centre::mark_one_read(&req, id),
        (Method::Get, ["preferences"]) => preferences::get(&req),
        (Method::Put, ["preferences"]) => preferences::put(&req),
        (Method::Get, ["devices"]) => devices::list(&req),
        (Method::Put, ["devices", id]) => devices::register(&req, id),
        (Method::Delete, ["devices", id]) => devices::remove(&req, id),
        (_, [] | ["unread-count"] | ["read"] | ["seen"] | [_, "read"])
        | (_, ["preferences"] | ["devices"] | ["devices", _]) => Err(Problem::method_not_allowed()),
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
