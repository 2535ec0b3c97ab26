//! The File Manager's public routes (nexgate_files): `POST /files`, `GET /files/limits`,
//! `POST /files/uploads`, `POST /files/{id}/complete`, `GET /files/{id}`, `DELETE /files/{id}`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_files::{direct, read, uploads};
use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    let rest = path.strip_prefix("/files").unwrap_or("");
    match (method, rest) {
        (Method::Post, "") => direct::upload(req).await,
        (Method::Get, "/limits") => read::limits(),
        (Method::Post, "/uploads") => uploads::start(&req),
        (_, "" | "/limits" | "/uploads") => Err(Problem::method_not_allowed()),
        (method, rest) => {
            let rest = rest.trim_start_matches('/');
            match (method, rest.split_once('/')) {
                (Method::Post, Some((id, "complete"))) => uploads::complete(req, id).await,
                (Method::Get, None) => read::get(&req, rest),
                (Method::Delete, None) => read::delete(req, rest).await,
                (_, None) | (_, Some((_, "complete"))) => Err(Problem::method_not_allowed()),
                _ => Err(Problem::not_found("no such route")),
            }
        }
    }
    .unwrap_or_else(Problem::into_response)
}
