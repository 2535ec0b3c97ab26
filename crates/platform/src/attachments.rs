//! A service's side of the File Manager's attachments (docs/files.md, "Attaching"): a file the
//! user uploaded with a purpose is attached to the service's object (`/internal/files/attach`
//! checks it is theirs, ready and of that purpose) and detached when the object stops using it,
//! by Spin's local service chaining with `files_internal_token`.

use crate::Problem;
use serde_json::json;
use spin_sdk::http::Method;
use uuid::Uuid;

/// What is attached: the service, the owner of the file, the object (type, id), the purpose the
/// file must have.
pub struct Attachment<'a> {
    pub service: &'a str,
    pub owner: Uuid,
    pub object: (&'a str, Uuid),
    pub file: Uuid,
    pub purpose: &'a str,
}

/// Attaches the file; a 422 naming `field` when the File Manager refuses it.
pub async fn attach(a: &Attachment<'_>, field: &str) -> Result<(), Problem> {
    let body = json!({ "file_id": a.file, "owner_id": a.owner, "service": a.service,
                       "object_type": a.object.0, "object_id": a.object.1.to_string(), "purpose": a.purpose });
    let (status, answer) =
        crate::internal::call("files", Method::Post, "/internal/files/attach", &body, None).await?;
    match status {
        200 => Ok(()),
        404 => Err(Problem::invalid_field(field, "no such file")),
        403 => Err(Problem::invalid_field(field, "the file is someone else's")),
        409 | 422 => Err(Problem::invalid_field(
            field,
            answer["detail"]
                .as_str()
                .unwrap_or("the File Manager refused the file")
                .to_string(),
        )),
        s => Err(Problem::internal(format!(
            "files attach answered {s}: {answer}"
        ))),
    }
}

/// Detaches the file from the object (idempotent); a file left unattached is cleaned up later.
pub async fn detach(service: &str, object: (&str, Uuid), file: Uuid) -> Result<(), Problem> {
    let body = json!({ "file_id": file, "service": service,
                       "object_type": object.0, "object_id": object.1.to_string() });
    let (status, answer) =
        crate::internal::call("files", Method::Post, "/internal/files/detach", &body, None).await?;
    match status {
        200 => Ok(()),
        s => Err(Problem::internal(format!(
            "files detach answered {s}: {answer}"
        ))),
    }
}
