//! The File Manager's internal routes (nexgate_files::internal), behind `files_internal_token`:
//! `POST /internal/files/attach`, `/detach`, `/attached`, `/{id}/signed-url`, `/jobs/result`, `/jobs/cleanup`,
//! and `GET /internal/files/jobs/{id}` (the media worker reads its job).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_files::internal;
use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "files-internal";

#[http_component]
async fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    let rest = path.strip_prefix("/internal/files/").unwrap_or("");
    if let Some(job_id) = rest.strip_prefix("jobs/").filter(|id| !id.contains('/')) {
        if *req.method() == Method::Get {
            return nexgate_files::media_jobs::describe(&req, job_id, COMPONENT)
                .unwrap_or_else(Problem::into_response);
        }
    }
    if *req.method() != Method::Post {
        return Problem::method_not_allowed().into_response();
    }
    match rest {
        "attach" => internal::attach(&req, COMPONENT),
        "detach" => internal::detach(&req),
        "attached" => nexgate_files::attached::attached(&req, COMPONENT),
        "jobs/result" => internal::job_result(&req, COMPONENT),
        "jobs/cleanup" => internal::cleanup(req, COMPONENT).await,
        other => match other.split_once('/') {
            Some((id, "signed-url")) => internal::signed_url(&req, id, COMPONENT),
            _ => Err(Problem::not_found("no such route")),
        },
    }
    .unwrap_or_else(Problem::into_response)
}
