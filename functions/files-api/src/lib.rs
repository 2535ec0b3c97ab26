//! The File Manager's public routes (nexgate_files): `POST /files`, `GET /files/limits`,
//! `POST /files/uploads`, `POST /files/{id}/complete`, `GET /files/{id}`, `DELETE /files/{id}`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_files::{direct, read, uploads};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "files-api";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/files"),
    ("GET", "/files/limits"),
    ("POST", "/files/uploads"),
    ("POST", "/files/{id}/complete"),
    ("GET", "/files/{id}"),
    ("DELETE", "/files/{id}"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let id = route.param("id").to_string();
    match route.key() {
        ("POST", "/files") => direct::upload(req, COMPONENT).await,
        ("GET", "/files/limits") => read::limits(),
        ("POST", "/files/uploads") => uploads::start(&req, COMPONENT),
        ("POST", "/files/{id}/complete") => uploads::complete(req, &id, COMPONENT).await,
        ("GET", "/files/{id}") => read::get(&req, &id, COMPONENT),
        ("DELETE", "/files/{id}") => read::delete(req, &id, COMPONENT).await,
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
