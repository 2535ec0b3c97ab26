//! `POST /internal/files/attached`: what a service may read of the files attached to one of its
//! objects (a direct message's photos and videos), with signed URLs, up to 50 files in one call.
//!
//! Ownership is the attachment: a file is answered only when it is attached to exactly the
//! `(service, object_type, object_id)` asked about (the service attached it with the user's
//! consent, `POST /internal/files/attach`), checked in the SQL; other ids come back in `missing`.

use nexgate_platform::body::json_body as body;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::internal::check_request;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

use crate::internal::{SIGNED_URL_TTL_SECS_DEFAULT, SIGNED_URL_TTL_SECS_MAX};
use crate::record::{file_columns, FileRecord};
use crate::settings::Settings;

/// Files per call.
pub const ATTACHED_FILES_MAX: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachedRequest {
    service: String,
    object_type: String,
    object_id: String,
    file_ids: Vec<Uuid>,
    /// Which variant to sign (`480`, `720p`, `poster`); the largest when absent.
    variant: Option<String>,
    /// Preferred format when a variant has several (`webp`, `jpeg`).
    format: Option<String>,
    expires_in_secs: Option<u32>,
}

/// `POST /internal/files/attached`.
pub fn attached(req: &Request, component: &'static str) -> Result<Response, Problem> {
    check_request(req)?;
    let b: AttachedRequest = body(req)?;
    if b.file_ids.is_empty() || b.file_ids.len() > ATTACHED_FILES_MAX {
        return Err(Problem::invalid_field(
            "file_ids",
            format!("must name 1 to {ATTACHED_FILES_MAX} files"),
        ));
    }
    let ttl = b.expires_in_secs.unwrap_or(SIGNED_URL_TTL_SECS_DEFAULT);
    if ttl == 0 || ttl > SIGNED_URL_TTL_SECS_MAX {
        return Err(Problem::invalid_field(
            "expires_in_secs",
            format!("must be 1 to {SIGNED_URL_TTL_SECS_MAX}"),
        ));
    }
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT {} FROM files.files WHERE deleted_at IS NULL AND id IN (
                 SELECT a.file_id FROM files.attachments a
                 WHERE a.service = $1 AND a.object_type = $2 AND a.object_id = $3
                   AND a.file_id::text = ANY($4))",
            file_columns()
        ),
        &[
            P::Str(b.service.clone()),
            P::Str(b.object_type.clone()),
            P::Str(b.object_id.clone()),
            P::ArrayStr(b.file_ids.iter().map(|id| Some(id.to_string())).collect()),
        ],
    )?;
    let mut items = Vec::with_capacity(rows.len());
    let mut found = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let file = FileRecord::from_rows(&rows, i)?;
        found.push(file.id);
        items.push(describe(&settings, &file, &b, ttl)?);
    }
    let missing: Vec<Uuid> = b
        .file_ids
        .iter()
        .filter(|id| !found.contains(id))
        .copied()
        .collect();
    Ok(json(200, &json!({ "items": items, "missing": missing })))
}

/// One file's metadata, and a signed URL of the chosen variant once it is ready.
fn describe(
    settings: &Settings,
    file: &FileRecord,
    b: &AttachedRequest,
    ttl: u32,
) -> Result<Value, Problem> {
    let chosen = (file.status == "ready")
        .then(|| file.variant(b.variant.as_deref(), b.format.as_deref()))
        .flatten();
    let url = chosen
        .map(|o| {
            settings
                .storage
                .presign("GET", settings.bucket(&file.bucket), &o.key, ttl, None)
                .map_err(Problem::internal)
        })
        .transpose()?;
    Ok(json!({
        "file_id": file.id,
        "owner_id": file.owner_id,
        "kind": file.kind,
        "content_type": file.content_type,
        "status": file.status,
        "width": file.width,
        "height": file.height,
        "duration_ms": file.duration_ms,
        "blurhash": file.blurhash,
        "variants": file.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        "url": url,
        "variant": chosen.map(|o| o.name.as_str()),
        "format": chosen.map(|o| o.format.as_str()),
        "expires_in_secs": url.as_ref().map(|_| ttl),
    }))
}
