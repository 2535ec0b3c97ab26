//! The File Manager's public routes (nexgate_files): `POST /files`, `GET /files/limits`,
//! `POST /files/uploads`, `POST /files/{id}/complete`, `GET /files/{id}`, `DELETE /files/{id}`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_files::{direct, read, uploads};
use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "files-api";

#[http_component]
async fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    let rest = path.strip_prefix("/files").unwrap_or("");
    match (method, rest) {
        (Method::Post, "") => direct::upload(req, COMPONENT).await,
        (Method::Get, "/limits") => read::limits(),
        (Method::Post, "/uploads") => uploads::start(&req, COMPONENT),
        (_, "" | "/limits" | "/uploads") => Err(Problem::method_not_allowed()),
        (method, rest) => {
            let rest = rest.trim_start_matches('/');
            match (method, rest.split_once('/')) {
                (Method::Post, Some((id, "complete"))) => {
                    uploads::complete(req, id, COMPONENT).await
                }
                (Method::Get, None) => read::get(&req, rest, COMPONENT),
                (Method::Delete, None) => read::delete(req, rest, COMPONENT).await,
                (_, None) | (_, Some((_, "complete"))) => Err(Problem::method_not_allowed()),
                _ => Err(Problem::not_found("no such route")),
            }
        }
    }
    .unwrap_or_else(Problem::into_response)
}
