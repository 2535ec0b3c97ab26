//! `POST /files?purpose=<purpose>`: images uploaded in the request, processed at once.
//!
//! The body is the image itself, or a `multipart/form-data` body with up to
//! [`FILES_PER_REQUEST_MAX`] files, each with its own result. A wasm32-wasip1 component has one
//! thread, so the images of one request are decoded one after another; their variants go to
//! storage concurrently.

use futures::future::join_all;
use nexgate_authn::authenticate;
use nexgate_media::image_pipeline::{self, ImageError, ProcessedImage};
use nexgate_media::limits::{Purpose, DIRECT_UPLOAD_BYTES_MAX, FILES_PER_REQUEST_MAX};
use nexgate_media::sniff::{sniff, MediaKind};
use nexgate_platform::db::{query, transaction};
use nexgate_platform::ids::new_id;
use nexgate_platform::{multipart, Problem};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::record::{file_columns, load, record_ready, FileRecord, StoredObject};
use crate::settings::{Settings, SCHEMA};
use nexgate_events::outbox::Outbox;
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
        let mut results = Vec::with_capacity(files.len());
        for (index, bytes) in files.into_iter().enumerate() {
            results.push(
                match store_direct(&conn, &settings, ctx.user_id, purpose, bytes).await {
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
                },
            );
        }
        return Ok(json(200, &json!({ "results": results })));
    }
    let (status, file) = store_direct(&conn, &settings, ctx.user_id, purpose, req.body()).await?;
    Ok(json(status, &file.view(&settings.cdn_base_url)))
}

/// Checks, dedupes, processes and stores one image; 201 for a new file, 200 for the same bytes
/// already uploaded by this owner for this purpose.
async fn store_direct(
    conn: &Connection,
    settings: &Settings,
    owner: Uuid,
    purpose: Purpose,
    bytes: &[u8],
) -> Result<(u16, FileRecord), Problem> {
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
    // The header first: a decompression bomb is refused before anything is decoded.
    image_pipeline::probe(bytes).map_err(image_problem)?;
    let hash = hex::encode(Sha256::digest(bytes));
    if let Some(existing) = live_by_hash(conn, owner, purpose, &hash)? {
        return Ok((200, existing));
    }
    let processed = image_pipeline::process(bytes).map_err(image_problem)?;

    let id = new_id();
    let bucket = if purpose.is_private() {
        "private"
    } else {
        "public"
    };
    let key_prefix = format!("{}/{owner}/{id}/", purpose.as_str());
    let inserted = query(
        conn,
        "INSERT INTO files.files (id, owner_id, purpose, kind, status, content_type, bucket, \
             key_prefix, size_bytes, content_hash) \
         VALUES ($1, $2, $3, 'image', 'processing', $4, $5, $6, $7, $8) \
         ON CONFLICT (owner_id, purpose, content_hash) \
             WHERE deleted_at IS NULL AND content_hash IS NOT NULL AND status <> 'failed' \
         DO NOTHING RETURNING id",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(owner.to_string()),
            P::Str(purpose.as_str().into()),
            P::Str(processed.source_type.mime().into()),
            P::Str(bucket.into()),
            P::Str(key_prefix.clone()),
            P::Int64(bytes.len() as i64),
            P::Str(hash.clone()),
        ],
    )?;
    if inserted.is_empty() {
        // The same bytes, uploaded by a concurrent request a moment ago.
        return live_by_hash(conn, owner, purpose, &hash)?
            .map(|f| (200, f))
            .ok_or_else(|| Problem::unavailable("the file is being stored; try again"));
    }
    let file = finish_image(conn, settings, id, &key_prefix, bucket, processed).await?;
    Ok((201, file))
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
    let bucket_name = settings.bucket(bucket).to_string();
    let ext = processed.format.extension();
    let mime = processed.format.mime();
    let variants: Vec<StoredObject> = processed
        .variants
        .iter()
        .map(|v| StoredObject {
            name: v.edge.to_string(),
            format: processed.format.name().to_string(),
            width: v.width,
            height: v.height,
            bytes: v.bytes.len() as u64,
            key: format!("{key_prefix}{}.{ext}", v.edge),
        })
        .collect();
    let puts = processed.variants.into_iter().zip(&variants).map(|(v, o)| {
        settings
            .storage
            .put_object(&bucket_name, &o.key, mime, v.bytes)
    });
    let failed: Vec<String> = join_all(puts)
        .await
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    if !failed.is_empty() {
        eprintln!("files: storing {id} failed: {}", failed.join("; "));
        for o in &variants {
            let _ = settings.storage.delete_object(&bucket_name, &o.key).await;
        }
        let _ = query(
            conn,
            "DELETE FROM files.files WHERE id = $1",
            &[P::Uuid(id.to_string())],
        );
        return Err(Problem::unavailable("object storage"));
    }

    let mut outbox = Outbox::new(SCHEMA, settings.component)?;
    let file = transaction(conn, |conn| {
        query(
            conn,
            "UPDATE files.files SET status = 'ready', width = $2, height = $3, blurhash = $4, \
                 variants = $5::text::jsonb, ready_at = now(), updated_at = now() \
             WHERE id = $1",
            &[
                P::Uuid(id.to_string()),
                P::Int32(processed.width as i32),
                P::Int32(processed.height as i32),
                P::Str(processed.blurhash.clone()),
                P::Str(serde_json::to_string(&variants).map_err(Problem::internal)?),
            ],
        )?;
        let file = load(conn, id)?.ok_or_else(|| Problem::internal("the new file vanished"))?;
        record_ready(&mut outbox, conn, &file)?;
        crate::media_jobs::request(
            conn,
            &mut outbox,
            &file,
            "webp_variants",
            None,
            json!(variants
                .iter()
                .map(|v| json!({"name": v.name, "key": v.key}))
                .collect::<Vec<_>>()),
        )?;
        Ok::<_, Problem>(file)
    })?;
    outbox.publish(conn);
    Ok(file)
}
