//! Logout (`POST /auth/logout`, `POST /auth/logout/all`), sessions (`GET /auth/sessions`,
//! `DELETE /auth/sessions/{id}`), `GET /.well-known/jwks.json` (at the root: Spin never routes a
//! dot segment below it) (nexgate_auth::session_routes), and account deletion
//! (`DELETE /auth/account`, nexgate_auth::account_deletion).
//! Every route but the keys needs an access token; this component cannot sign one. It also runs the
//! hourly `POST /internal/auth/jobs/purge` (nexgate_auth::housekeeping) for the scheduler.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-sessions";

/// Every route this component answers (docs/openapi.yaml, docs/openapi-internal.yaml;
/// tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/auth/logout"),
    ("POST", "/auth/logout/all"),
    ("GET", "/auth/sessions"),
    ("DELETE", "/auth/sessions/{id}"),
    ("GET", "/.well-known/jwks.json"),
    ("DELETE", "/auth/account"),
    ("POST", "/internal/auth/jobs/purge"),
];

#[http_component]
fn handle(req: Request) -> Response {
    use nexgate_auth::{account_deletion, housekeeping, session_routes};
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/auth/logout") => session_routes::logout(&req),
        ("POST", "/auth/logout/all") => session_routes::logout_all(&req),
        ("GET", "/auth/sessions") => session_routes::list_sessions(&req),
        ("DELETE", "/auth/sessions/{id}") => {
            session_routes::delete_session(&req, route.param("id"))
        }
        ("GET", "/.well-known/jwks.json") => session_routes::jwks(),
        ("DELETE", "/auth/account") => account_deletion::delete_account(&req, COMPONENT),
        ("POST", "/internal/auth/jobs/purge") => housekeeping::purge(&req),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
