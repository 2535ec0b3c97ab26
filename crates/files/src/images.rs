//! Turning an image's bytes into stored variants, here or in a fresh instance of the private
//! `files-image` component (docs/files.md, "Processing").
//!
//! A wasm32-wasip1 instance has one thread, so the images of one multipart upload would decode one
//! after another. Instead `files-api` hands each image to `http://files-image.spin.internal/` by
//! Spin's local service chaining, all at once: each request runs in an instance of its own, which
//! the runtime (Spin, or our host) runs on whichever core is free. The worker's route is
//! `POST /internal/files/images`, private to chaining and still behind `files_internal_token`. The caller keeps the database
//! work (dedupe, the `processing` row, the ready record and its events); the worker only decodes,
//! resizes, encodes, stores and hashes, and answers what it stored ([`WorkerAnswer`]); the caller
//! dedupes on the hash afterwards (a duplicate's objects are removed again).
//! `files_parallel_images = false` processes them in the caller, one after another (the
//! benchmark's baseline).

use futures::future::join_all;
use nexgate_media::image_pipeline::{self, ProcessedImage};
use nexgate_platform::config::var;
use nexgate_platform::db::{query, transaction};
use nexgate_platform::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::direct::image_problem;
use crate::record::{load, record_ready, FileRecord, StoredObject};
use crate::settings::{Settings, SCHEMA};
use nexgate_events::outbox::Outbox;

/// The private image component, granted to `files-api` in spin.toml.
const IMAGE_WORKER_ORIGIN: &str = "http://files-image.spin.internal";

/// What one image became in storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredImage {
    pub width: u32,
    pub height: u32,
    pub blurhash: String,
    pub variants: Vec<StoredObject>,
}

/// What the worker answers: the stored image and the hex SHA-256 of the bytes it was sent (the
/// caller dedupes on it afterwards, so hashing is part of the parallel work too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerAnswer {
    #[serde(flatten)]
    pub stored: StoredImage,
    pub content_hash: String,
}

/// Whether a multipart upload's images go to `files-image` instances at once (the default).
pub fn parallel() -> bool {
    var("files_parallel_images").map_or(true, |v| v.trim() != "false")
}

/// Puts the variants of `processed` under `key_prefix` in `bucket` (the row's `public` or
/// `private`), concurrently; on any failure removes what was put and answers 503.
pub async fn store_variants(
    settings: &Settings,
    bucket: &str,
    key_prefix: &str,
    processed: ProcessedImage,
) -> Result<StoredImage, Problem> {
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
        eprintln!("files: storing {key_prefix} failed: {}", failed.join("; "));
        for o in &variants {
            let _ = settings.storage.delete_object(&bucket_name, &o.key).await;
        }
        return Err(Problem::unavailable("object storage"));
    }
    Ok(StoredImage {
        width: processed.width,
        height: processed.height,
        blurhash: processed.blurhash,
        variants,
    })
}

/// Decodes, resizes, encodes and stores one image in this instance.
pub async fn process_here(
    settings: &Settings,
    bucket: &str,
    key_prefix: &str,
    bytes: &[u8],
) -> Result<StoredImage, Problem> {
    let processed = image_pipeline::process(bytes).map_err(image_problem)?;
    store_variants(settings, bucket, key_prefix, processed).await
}

/// The same, in a fresh instance of `files-image`, which also hashes the bytes.
pub async fn process_chained(
    bucket: &str,
    key_prefix: &str,
    bytes: &[u8],
) -> Result<WorkerAnswer, Problem> {
    let token = var("files_internal_token").map_err(Problem::internal)?;
    let req = Request::builder()
        .method(spin_sdk::http::Method::Post)
        .uri(format!("{IMAGE_WORKER_ORIGIN}/internal/files/images"))
        .header("content-type", "application/octet-stream")
        .header("x-internal-token", token)
        .header("x-bucket", bucket)
        .header("x-key-prefix", key_prefix)
        .body(bytes.to_vec())
        .build();
    let resp: Response = spin_sdk::http::send(req).await.map_err(|e| {
        eprintln!("files: files-image: {e}");
        Problem::unavailable("image processing")
    })?;
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap_or_default();
    match *resp.status() {
        200 => serde_json::from_value(body).map_err(Problem::internal),
        422 | 415 => Err(worker_refusal(&body)),
        503 => Err(Problem::unavailable("object storage")),
        other => Err(Problem::internal(format!("files-image answered {other}"))),
    }
}

/// The image pipeline's refusal the worker answered, as the caller's own.
fn worker_refusal(body: &serde_json::Value) -> Problem {
    let detail = body["detail"].as_str().unwrap_or("").to_string();
    let (status, code, title) = match body["code"].as_str() {
        Some("unsupported_file_type") => (
            415,
            "unsupported_file_type",
            "This type of file is not accepted",
        ),
        Some("image_too_large") => (422, "image_too_large", "The image has too many pixels"),
        _ => (422, "image_corrupt", "The image cannot be read"),
    };
    Problem::new(status, code, title).with_detail(detail)
}

/// `POST /internal/files/images` of the private `files-image` component (reachable only by local
/// service chaining; the component checks the internal token first):
/// the body is the image, `x-bucket` (`public` or `private`) and `x-key-prefix` say where its
/// variants go; 200 with the [`StoredImage`], the pipeline's 415/422, or 503.
pub async fn worker(req: Request, component: &'static str) -> Result<Response, Problem> {
    let header = |name: &str| {
        req.header(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| Problem::bad_request(format!("{name} is required")))
    };
    let bucket = header("x-bucket")?;
    if bucket != "public" && bucket != "private" {
        return Err(Problem::invalid_field("x-bucket", "public or private"));
    }
    let key_prefix = header("x-key-prefix")?;
    let settings = Settings::from_variables(component)?;
    let content_hash = hex::encode(Sha256::digest(req.body()));
    let stored = process_here(&settings, &bucket, &key_prefix, req.body()).await?;
    let answer = WorkerAnswer {
        stored,
        content_hash,
    };
    Ok(nexgate_platform::body::json_response(
        200,
        &serde_json::to_value(&answer).map_err(Problem::internal)?,
    ))
}

/// Marks the `processing` row `id` ready with what was stored, with `files.file.ready` and a WebP
/// job for the media worker, in one transaction.
pub fn record_image(
    conn: &Connection,
    id: Uuid,
    stored: &StoredImage,
    component: &str,
) -> Result<FileRecord, Problem> {
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let file = transaction(conn, |conn| {
        query(
            conn,
            "UPDATE files.files SET status = 'ready', width = $2, height = $3, blurhash = $4, \
                 variants = $5::text::jsonb, ready_at = now(), updated_at = now() \
             WHERE id = $1",
            &[
                P::Uuid(id.to_string()),
                P::Int32(stored.width as i32),
                P::Int32(stored.height as i32),
                P::Str(stored.blurhash.clone()),
                P::Str(serde_json::to_string(&stored.variants).map_err(Problem::internal)?),
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
            json!(stored
                .variants
                .iter()
                .map(|v| json!({"name": v.name, "key": v.key}))
                .collect::<Vec<_>>()),
        )?;
        Ok::<_, Problem>(file)
    })?;
    outbox.publish(conn);
    Ok(file)
}

/// Removes the objects of an image stored for nothing (the same bytes were already a file).
pub async fn remove_objects(settings: &Settings, bucket: &str, stored: &StoredImage) {
    let bucket_name = settings.bucket(bucket).to_string();
    for o in &stored.variants {
        let _ = settings.storage.delete_object(&bucket_name, &o.key).await;
    }
}

/// Removes the `processing` row of an image that could not be processed or stored (nothing
/// half-stored stays visible).
pub fn forget(conn: &Connection, id: Uuid) {
    let _ = query(
        conn,
        "DELETE FROM files.files WHERE id = $1",
        &[P::Uuid(id.to_string())],
    );
}
