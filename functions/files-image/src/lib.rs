//! The File Manager's image worker (nexgate_files::images::worker): one image per request,
//! decoded, resized, encoded and stored. Private (`route = { private = true }`): only `files-api`
//! reaches it, by local service chaining (`http://files-image.spin.internal`), and it still checks
//! `files_internal_token`. Each request gets an instance of its own, so the images of one upload
//! are processed on every core.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml.
const COMPONENT: &str = "files-image";

/// Every route this component answers (docs/openapi-internal.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[("POST", "/internal/files/images")];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("POST", "/internal/files/images") => {
            match nexgate_platform::internal::check_request(&req) {
                Ok(()) => nexgate_files::images::worker(req, COMPONENT).await,
                Err(problem) => Err(problem),
            }
        }
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
