//! The File Manager's internal routes (nexgate_files::internal), behind `files_internal_token`:
//! `POST /internal/files/attach`, `/detach`, `/attached`, `/{id}/signed-url`, `/jobs/result`, `/jobs/cleanup`,
//! `/events` (the dispatcher: `auth.account.deleted`, nexgate_files::erasure),
//! and `GET /internal/files/jobs/{id}` (the media worker reads its job).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_files::internal;
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "files-internal";

/// Every route this component answers (docs/openapi-internal.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/internal/files/attach"),
    ("POST", "/internal/files/detach"),
    ("POST", "/internal/files/attached"),
    ("POST", "/internal/files/{id}/signed-url"),
    ("POST", "/internal/files/jobs/result"),
    ("POST", "/internal/files/jobs/cleanup"),
    ("GET", "/internal/files/jobs/{id}"),
    ("POST", "/internal/files/events"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let id = route.param("id").to_string();
    match route.key() {
        ("POST", "/internal/files/attach") => internal::attach(&req, COMPONENT),
        ("POST", "/internal/files/detach") => internal::detach(&req),
        ("POST", "/internal/files/attached") => nexgate_files::attached::attached(&req, COMPONENT),
        ("POST", "/internal/files/{id}/signed-url") => internal::signed_url(&req, &id, COMPONENT),
        ("POST", "/internal/files/jobs/result") => internal::job_result(&req, COMPONENT),
        ("POST", "/internal/files/jobs/cleanup") => internal::cleanup(req, COMPONENT).await,
        ("GET", "/internal/files/jobs/{id}") => {
            nexgate_files::media_jobs::describe(&req, &id, COMPONENT)
        }
        ("POST", "/internal/files/events") => nexgate_files::erasure::consume(req, COMPONENT).await,
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
