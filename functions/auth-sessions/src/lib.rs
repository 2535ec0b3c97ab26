//! Logout (`POST /auth/logout`, `POST /auth/logout/all`), sessions (`GET /auth/sessions`,
//! `DELETE /auth/sessions/{id}`) and `GET /.well-known/jwks.json` (at the root: Spin never routes a dot segment below it) (nexgate_auth::sessions).
//! Every route but the keys needs an access token; this component cannot sign one. It also runs the
//! hourly `POST /internal/auth/jobs/purge` (nexgate_auth::housekeeping) for the scheduler.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path().to_string();
    match (req.method(), path.as_str()) {
        (Method::Post, "/auth/logout") => nexgate_auth::session_routes::logout(&req),
        (Method::Post, "/auth/logout/all") => nexgate_auth::session_routes::logout_all(&req),
        (Method::Get, "/auth/sessions") => nexgate_auth::session_routes::list_sessions(&req),
        (Method::Get, "/.well-known/jwks.json") => nexgate_auth::session_routes::jwks(),
        (Method::Post, "/internal/auth/jobs/purge") => nexgate_auth::housekeeping::purge(&req),
        (Method::Delete, p) if p.starts_with("/auth/sessions/") => {
            nexgate_auth::session_routes::delete_session(&req, &p["/auth/sessions/".len()..])
        }
        (_, p) if p.starts_with("/auth/sessions/") => Err(Problem::method_not_allowed()),
        (_, "/auth/logout" | "/auth/logout/all" | "/auth/sessions" | "/.well-known/jwks.json") => {
            Err(Problem::method_not_allowed())
        }
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
