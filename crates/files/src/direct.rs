//! `POST /files?purpose=<purpose>`: images uploaded in the request, processed at once.
//!
//! The body is the image itself, or a `multipart/form-data` body with up to
//! [`FILES_PER_REQUEST_MAX`] files, each with its own result. A wasm32-wasip1 component has one
//! thread, so the images of a multipart body are processed in instances of their own
//! ([`crate::images`]), all at once; their variants go to storage concurrently.

use futures::future::join_all;
use nexgate_authn::authenticate;
use nexgate_media::image_pipeline::{self, ImageError, ProcessedImage};
use nexgate_media::limits::{Purpose, DIRECT_UPLOAD_BYTES_MAX, FILES_PER_REQUEST_MAX};
use nexgate_media::sniff::{sniff, MediaKind, MediaType};
use nexgate_platform::db::query;
use nexgate_platform::ids::new_id;
use nexgate_platform::{multipart, Problem};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::images;
use crate::record::{file_columns, FileRecord};
use crate::settings::Settings;
use nexgate_platform::body::{json_response as json, query_param};
use nexgate_platform::db::open_from_variables as db;

/// The `purpose` query parameter.
pub fn purpose_param(query: &str) -> Result<Purpose, Problem> {
    let raw = query_param(query, "purpose").ok_or_else(|| {
        Problem::invalid_field(
            "purpose",
            "is required: avatar, cover, post, product, event or message",
        )
    })?;
    Purpose::parse(raw).ok_or_else(|| {
        Problem::invalid_field(
            "purpose",
            format!("`{raw}` is not one of avatar, cover, post, product, event, message"),
        )
    })
}

/// The client error for an image the pipeline refused.
pub fn image_problem(e: ImageError) -> Problem {
    let (status, code, title) = match &e {
        ImageError::UnsupportedType | ImageError::NotAnImage(_) => (
            415,
            "unsupported_file_type",
            "This type of file is not accepted",
        ),
        ImageError::TooManyPixels { .. } => {
            (422, "image_too_large", "The image has too many pixels")
        }
        ImageError::NeedsTooMuchMemory { .. } => (
            422,
            "image_too_large",
            "The image would take too much memory to process",
        ),
        ImageError::Corrupt(_) => (422, "image_corrupt", "The image cannot be read"),
    };
    Problem::new(status, code, title).with_detail(e.to_string())
}

fn too_large(limit: u64) -> Problem {
    Problem::new(413, "file_too_large", "The file is too large")
        .with_detail(format!("this purpose takes files up to {limit} bytes"))
}

pub async fn upload(req: Request, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(&req)?;
    let purpose = purpose_param(req.query())?;
    if req.body().len() as u64 > DIRECT_UPLOAD_BYTES_MAX {
        return Err(too_large(DIRECT_UPLOAD_BYTES_MAX));
    }
    if req.body().is_empty() {
        return Err(Problem::bad_request(
            "the body is empty: send the image as the body",
        ));
    }
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let content_type = req
        .header("content-type")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if let Some(boundary) = multipart::boundary(content_type) {
        let parts = multipart::parse(req.body(), &boundary, FILES_PER_REQUEST_MAX)?;
        let files: Vec<&[u8]> = parts
            .iter()
            .filter(|p| p.filename.is_some() || p.name.as_deref() == Some("file"))
            .map(|p| p.body)
            .collect();
        if files.is_empty() {
            return Err(Problem::bad_request(
                "the multipart body has no file parts (parts with a filename)",
            ));
        }
        let results = store_many(&conn, &settings, ctx.user_id, purpose, &files).await;
        let results: Vec<Value> = results
            .into_iter()
            .enumerate()
            .map(|(index, result)| match result {
                Ok((status, file)) => json!({
                    "index": index,
                    "status": status,
                    "file": file.view(&settings.cdn_base_url),
                }),
                Err(p) => json!({
                    "index": index,
                    "status": p.status,
                    "problem": serde_json::from_str::<Value>(&p.to_json()).unwrap_or_default(),
                }),
            })
            .collect();
        return Ok(json(200, &json!({ "results": results })));
    }
    let (status, file) = store_here(&conn, &settings, ctx.user_id, purpose, req.body()).await?;
    Ok(json(status, &file.view(&settings.cdn_base_url)))
}

/// Checks, dedupes, processes and stores one image in this instance; 201 for a new file, 200 for
/// the same bytes already uploaded by this owner for this purpose.
async fn store_here(
    conn: &Connection,
    settings: &Settings,
    owner: Uuid,
    purpose: Purpose,
    bytes: &[u8],
) -> Result<(u16, FileRecord), Problem> {
    match prepare(conn, owner, purpose, bytes)? {
        Prepared::Existing(file) => Ok((200, *file)),
        Prepared::New(new) => {
            let stored = images::process_here(settings, new.bucket, &new.key_prefix, bytes).await;
            Ok((201, complete(conn, settings, new.id, stored)?))
        }
    }
}

/// The images of one multipart upload, each with its own result: checked one after another,
/// then processed and hashed all at once in `files-image` instances, then deduplicated and
/// recorded (or, when `files_parallel_images` is false, checked, deduplicated and processed here
/// one after another).
async fn store_many(
    conn: &Connection,
    settings: &Settings,
    owner: Uuid,
    purpose: Purpose,
    files: &[&[u8]],
) -> Vec<Result<(u16, FileRecord), Problem>> {
    if images::parallel() {
        return store_many_at_once(conn, settings, owner, purpose, files).await;
    }
    let mut out = Vec::with_capacity(files.len());
    for bytes in files {
        out.push(store_here(conn, settings, owner, purpose, bytes).await);
    }
    out
}

/// [`store_many`] with every image in a `files-image` instance of its own, all at once.
async fn store_many_at_once(
    conn: &Connection,
    settings: &Settings,
    owner: Uuid,
    purpose: Purpose,
    files: &[&[u8]],
) -> Vec<Result<(u16, FileRecord), Problem>> {
    let bucket = bucket_of(purpose);
    let checked: Vec<Result<(Uuid, String), Problem>> = files
        .iter()
        .map(|bytes| {
            check(purpose, bytes)?;
            let id = new_id();
            Ok((id, format!("{}/{owner}/{id}/", purpose.as_str())))
        })
        .collect();
    let processed = join_all(checked.iter().zip(files).filter_map(|(c, bytes)| {
        let (_, key_prefix) = c.as_ref().ok()?;
        Some(images::process_chained(bucket, key_prefix, bytes))
    }))
    .await;
    let mut processed = processed.into_iter();
    let mut out = Vec::with_capacity(files.len());
    for (c, bytes) in checked.into_iter().zip(files) {
        let Ok((id, key_prefix)) = c else {
            out.push(Err(c
                .err()
                .unwrap_or_else(|| Problem::internal("unchecked"))));
            continue;
        };
        let answer = processed
            .next()
            .unwrap_or_else(|| Err(Problem::internal("an image was not processed")));
        out.push(match answer {
            Err(p) => Err(p),
            Ok(a) => {
                let new = NewImage {
                    id,
                    key_prefix,
                    bucket,
                };
                record_processed(conn, settings, owner, purpose, bytes, &new, a).await
            }
        });
    }
    out
}

/// Records an image a worker processed: the file already uploaded with the same bytes (its new
/// objects removed again), or a new ready file.
async fn record_processed(
    conn: &Connection,
    settings: &Settings,
    owner: Uuid,
    purpose: Purpose,
    bytes: &[u8],
    new: &NewImage,
    answer: images::WorkerAnswer,
) -> Result<(u16, FileRecord), Problem> {
    let source_type = sniff(bytes).ok_or_else(|| image_problem(ImageError::UnsupportedType))?;
    if insert_processing(
        conn,
        owner,
        purpose,
        new,
        source_type,
        bytes.len(),
        &answer.content_hash,
    )? {
        return Ok((201, complete(conn, settings, new.id, Ok(answer.stored))?));
    }
    images::remove_objects(settings, new.bucket, &answer.stored).await;
    let existing = live_by_hash(conn, owner, purpose, &answer.content_hash)?
        .ok_or_else(|| Problem::unavailable("the file is being stored; try again"))?;
    let existing = match existing.status.as_str() {
        // The same bytes earlier in this request: that row, now finished.
        "processing" => crate::record::load(conn, existing.id)?.unwrap_or(existing),
        _ => existing,
    };
    Ok((200, existing))
}

/// An image checked and recorded as `processing`, to be processed and stored.
struct NewImage {
    id: Uuid,
    key_prefix: String,
    bucket: &'static str,
}

enum Prepared {
    /// The same bytes, already uploaded by this owner for this purpose.
    Existing(Box<FileRecord>),
    New(NewImage),
}

/// Checks one image by its type, size and header (a decompression bomb is refused before
/// anything is decoded).
fn check(purpose: Purpose, bytes: &[u8]) -> Result<MediaType, Problem> {
    match sniff(bytes) {
        None => return Err(image_problem(ImageError::UnsupportedType)),
        Some(t) if t.kind() == MediaKind::Video => {
            return Err(Problem::new(
                415,
                "unsupported_file_type",
                "This type of file is not accepted",
            )
            .with_detail("videos are uploaded with POST /files/uploads and a presigned URL"))
        }
        Some(_) => {}
    }
    if bytes.len() as u64 > purpose.image_bytes_max() {
        return Err(too_large(purpose.image_bytes_max()));
    }
    let (source_type, _, _) = image_pipeline::probe(bytes).map_err(image_problem)?;
    Ok(source_type)
}

fn bucket_of(purpose: Purpose) -> &'static str {
    if purpose.is_private() {
        "private"
    } else {
        "public"
    }
}

/// Checks one image, dedupes it by content hash, and records it as `processing`.
fn prepare(
    conn: &Connection,
    owner: Uuid,
    purpose: Purpose,
    bytes: &[u8],
) -> Result<Prepared, Problem> {
    let source_type = check(purpose, bytes)?;
    let hash = hex::encode(Sha256::digest(bytes));
    if let Some(existing) = live_by_hash(conn, owner, purpose, &hash)? {
        return Ok(Prepared::Existing(Box::new(existing)));
    }
    let id = new_id();
    let new = NewImage {
        id,
        key_prefix: format!("{}/{owner}/{id}/", purpose.as_str()),
        bucket: bucket_of(purpose),
    };
    if !insert_processing(conn, owner, purpose, &new, source_type, bytes.len(), &hash)? {
        // The same bytes, uploaded by a concurrent request a moment ago.
        return live_by_hash(conn, owner, purpose, &hash)?
            .map(|f| Prepared::Existing(Box::new(f)))
            .ok_or_else(|| Problem::unavailable("the file is being stored; try again"));
    }
    Ok(Prepared::New(new))
}

/// Inserts the `processing` row of a new image; false when a live file of this owner and
/// purpose already has these bytes.
fn insert_processing(
    conn: &Connection,
    owner: Uuid,
    purpose: Purpose,
    new: &NewImage,
    source_type: MediaType,
    size: usize,
    hash: &str,
) -> Result<bool, Problem> {
    let inserted = query(
        conn,
        "INSERT INTO files.files (id, owner_id, purpose, kind, status, content_type, bucket, \
             key_prefix, size_bytes, content_hash) \
         VALUES ($1, $2, $3, 'image', 'processing', $4, $5, $6, $7, $8) \
         ON CONFLICT (owner_id, purpose, content_hash) \
             WHERE deleted_at IS NULL AND content_hash IS NOT NULL AND status <> 'failed' \
         DO NOTHING RETURNING id",
        &[
            P::Uuid(new.id.to_string()),
            P::Uuid(owner.to_string()),
            P::Str(purpose.as_str().into()),
            P::Str(source_type.mime().into()),
            P::Str(new.bucket.into()),
            P::Str(new.key_prefix.clone()),
            P::Int64(size as i64),
            P::Str(hash.into()),
        ],
    )?;
    Ok(!inserted.is_empty())
}

/// Marks a new image ready with what was stored, or removes its row when processing failed.
fn complete(
    conn: &Connection,
    settings: &Settings,
    id: Uuid,
    stored: Result<images::StoredImage, Problem>,
) -> Result<FileRecord, Problem> {
    match stored {
        Ok(stored) => images::record_image(conn, id, &stored, settings.component),
        Err(problem) => {
            images::forget(conn, id);
            Err(problem)
        }
    }
}

/// A live, not failed file of this owner with these bytes for this purpose.
fn live_by_hash(
    conn: &Connection,
    owner: Uuid,
    purpose: Purpose,
    hash: &str,
) -> Result<Option<FileRecord>, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {} FROM files.files WHERE owner_id = $1 AND purpose = $2 AND content_hash = $3 \
             AND deleted_at IS NULL AND status <> 'failed'",
            file_columns()
        ),
        &[
            P::Uuid(owner.to_string()),
            P::Str(purpose.as_str().into()),
            P::Str(hash.into()),
        ],
    )?;
    if rows.is_empty() {
        Ok(None)
    } else {
        Ok(Some(FileRecord::from_rows(&rows, 0)?))
    }
}

/// Stores the variants of a processed image for the `processing` row `id` and marks it ready,
/// with `files.file.ready` and a WebP job for the media worker. If storage fails, the row is
/// removed (nothing half-stored stays visible) and the answer is a 503.
pub async fn finish_image(
    conn: &Connection,
    settings: &Settings,
    id: Uuid,
    key_prefix: &str,
    bucket: &str,
    processed: ProcessedImage,
) -> Result<FileRecord, Problem> {
    let stored = images::store_variants(settings, bucket, key_prefix, processed).await;
    complete(conn, settings, id, stored)
}
