//! Large files and videos go straight to storage:
//! - `POST /files/uploads` `{purpose, content_type, size_bytes}` → a presigned PUT URL bound to
//!   that type and that exact size, expiring after [`UPLOAD_URL_TTL_SECS`];
//! - `POST /files/{id}/complete` → checks what arrived (size, magic bytes), then processes an
//!   image at once or hands a video to the media worker (`files.media_job.requested`).
//!
//! Originals always land in the private bucket under `uploads/<owner>/<id>`: they may carry
//! metadata (GPS), and only the processed results are ever served.

use nexgate_authn::authenticate;
use nexgate_media::image_pipeline;
use nexgate_media::limits::Purpose;
use nexgate_media::sniff::{sniff, MediaKind, MediaType, SNIFF_BYTES};
use nexgate_platform::body::json_body;
use nexgate_platform::db::{query, transaction};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};

use crate::direct::{finish_image, image_problem};
use crate::record::{load, load_for_update, owned_file, record_failed, FileRecord};
use crate::settings::{Settings, SCHEMA};
use nexgate_events::outbox::Outbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// Lifetime of a presigned upload URL.
pub const UPLOAD_URL_TTL_SECS: u32 = 900;
/// Uploads one user may have started and not completed at once.
pub const PENDING_UPLOADS_PER_OWNER_MAX: i64 = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadRequest {
    purpose: String,
    content_type: String,
    size_bytes: u64,
}

/// `POST /files/uploads`.
pub fn start(req: &Request, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let body: UploadRequest = json_body(req)?;
    let (purpose, media_type) = check_upload(&body)?;
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let pending: i64 = query(
        &conn,
        "SELECT count(*) AS n FROM files.files WHERE owner_id = $1 AND status = 'pending' \
         AND deleted_at IS NULL AND upload_expires_at > now()",
        &[P::Uuid(ctx.user_id.to_string())],
    )?
    .value(0, "n")?;
    if pending >= PENDING_UPLOADS_PER_OWNER_MAX {
        return Err(Problem::new(429, "too_many_pending_uploads", "Too many uploads in progress")
            .with_detail(format!(
                "complete or abandon some of your {pending} uploads first (they expire after {UPLOAD_URL_TTL_SECS} s)"
            ))
            .with_retry_after(u64::from(UPLOAD_URL_TTL_SECS)));
    }
    let id = new_id();
    let bucket = if purpose.is_private() {
        "private"
    } else {
        "public"
    };
    let key_prefix = format!("{}/{}/{id}/", purpose.as_str(), ctx.user_id);
    let upload_key = format!("uploads/{}/{id}", ctx.user_id);
    let kind = match media_type.kind() {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
    };
    query(
        &conn,
        "INSERT INTO files.files (id, owner_id, purpose, kind, status, content_type, bucket, \
             key_prefix, upload_key, declared_bytes, upload_expires_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, now() + make_interval(secs => $10))",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Str(purpose.as_str().into()),
            P::Str(kind.into()),
            P::Str(media_type.mime().into()),
            P::Str(bucket.into()),
            P::Str(key_prefix),
            P::Str(upload_key.clone()),
            P::Int64(body.size_bytes as i64),
            P::Floating64(f64::from(UPLOAD_URL_TTL_SECS)),
        ],
    )?;
    let url = settings
        .storage
        .presign_put(
            &settings.private_bucket,
            &upload_key,
            UPLOAD_URL_TTL_SECS,
            media_type.mime(),
            body.size_bytes,
        )
        .map_err(Problem::internal)?;
    let file = load(&conn, id)?.ok_or_else(|| Problem::internal("the new upload vanished"))?;
    Ok(json(
        201,
        &json!({
            "file": file.view(&settings.cdn_base_url),
            "upload": {
                "method": "PUT",
                "url": url,
                "headers": {
                    "content-type": media_type.mime(),
                    "content-length": body.size_bytes.to_string(),
                },
                "expires_at": file.upload_expires_at,
            },
        }),
    ))
}

/// The purpose and type an upload asks for, checked against each other and the size limits
/// (before anything is stored or signed).
fn check_upload(body: &UploadRequest) -> Result<(Purpose, MediaType), Problem> {
    let purpose = Purpose::parse(&body.purpose).ok_or_else(|| {
        Problem::invalid_field(
            "purpose",
            "must be one of avatar, cover, post, product, event, message",
        )
    })?;
    let media_type = MediaType::from_mime(&body.content_type).ok_or_else(|| {
        Problem::new(
            415,
            "unsupported_file_type",
            "This type of file is not accepted",
        )
        .with_detail(
            "content_type must be image/jpeg, image/png, image/webp, video/mp4 or video/quicktime",
        )
    })?;
    if !purpose.accepts(media_type) {
        return Err(Problem::new(
            422,
            "purpose_refuses_type",
            "This purpose does not take this type of file",
        )
        .with_detail(format!(
            "{} files cannot be a {}",
            purpose.as_str(),
            media_type.mime()
        )));
    }
    let max = purpose.bytes_max(media_type);
    if body.size_bytes == 0 {
        return Err(Problem::invalid_field("size_bytes", "must be at least 1"));
    }
    if body.size_bytes > max {
        return Err(Problem::new(413, "file_too_large", "The file is too large")
            .with_detail(format!("this purpose takes files up to {max} bytes")));
    }
    Ok((purpose, media_type))
}

/// Marks an upload failed with a reason the user can read, removes the original, and records
/// `files.file.failed`.
async fn fail_upload(
    conn: &Connection,
    settings: &Settings,
    file: &FileRecord,
    reason: &str,
) -> Result<(), Problem> {
    let mut outbox = Outbox::new(SCHEMA, settings.component)?;
    transaction(conn, |conn| {
        query(
            conn,
            "UPDATE files.files SET status = 'failed', failure_reason = $2, updated_at = now() \
             WHERE id = $1 AND status = 'pending'",
            &[P::Uuid(file.id.to_string()), P::Str(reason.into())],
        )?;
        record_failed(&mut outbox, conn, file, reason)
    })?;
    outbox.publish(conn);
    if let Some(key) = &file.upload_key {
        let _ = settings
            .storage
            .delete_object(&settings.private_bucket, key)
            .await;
    }
    Ok(())
}

/// `POST /files/{id}/complete`.
pub async fn complete(
    req: Request,
    id: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    let ctx = authenticate(&req)?;
    let id = parse_id("id", id)?;
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let file = owned_file(&conn, id, ctx.user_id)?;
    if file.status != "pending" {
        // Completed already (a retry): the same answer as the first time.
        let status = if file.status == "failed" { 422 } else { 200 };
        return Ok(json(status, &file.view(&settings.cdn_base_url)));
    }
    let upload_key = file
        .upload_key
        .clone()
        .ok_or_else(|| Problem::internal("a pending file without an upload key"))?;
    let size = settings
        .storage
        .object_size(&settings.private_bucket, &upload_key)
        .await
        .map_err(|e| {
            eprintln!("files: HEAD {upload_key}: {e:#}");
            Problem::unavailable("object storage")
        })?;
    let Some(size) = size else {
        return Err(Problem::conflict(
            "upload_missing",
            "nothing has been uploaded to the presigned URL yet",
        ));
    };
    let declared = file.declared_bytes.unwrap_or(-1);
    if size as i64 != declared {
        let reason = format!("{size} bytes arrived, {declared} were declared");
        fail_upload(&conn, &settings, &file, &reason).await?;
        return Err(Problem::new(
            422,
            "upload_mismatch",
            "The upload is not what was declared",
        )
        .with_detail(reason));
    }
    let head = settings
        .storage
        .get_object_head(&settings.private_bucket, &upload_key, SNIFF_BYTES)
        .await
        .map_err(|_| Problem::unavailable("object storage"))?
        .unwrap_or_default();
    let declared_type = MediaType::from_mime(&file.content_type);
    let found = sniff(&head);
    let same_kind = matches!((found, declared_type), (Some(f), Some(d)) if f.kind() == d.kind());
    if !same_kind {
        let reason = match found {
            Some(f) => format!(
                "the bytes are a {}, {} was declared",
                f.mime(),
                file.content_type
            ),
            None => format!(
                "the bytes are not a {} (or any accepted type)",
                file.content_type
            ),
        };
        fail_upload(&conn, &settings, &file, &reason).await?;
        return Err(Problem::new(
            415,
            "unsupported_file_type",
            "The upload is not an accepted type",
        )
        .with_detail(reason));
    }
    let found = found.expect("checked above");
    match found.kind() {
        MediaKind::Image => complete_image(&conn, &settings, &file, &upload_key, size).await,
        MediaKind::Video => complete_video(&conn, &settings, &file, &upload_key, found, size),
    }
}

async fn complete_image(
    conn: &Connection,
    settings: &Settings,
    file: &FileRecord,
    upload_key: &str,
    size: u64,
) -> Result<Response, Problem> {
    let bytes = settings
        .storage
        .get_object(&settings.private_bucket, upload_key)
        .await
        .map_err(|_| Problem::unavailable("object storage"))?
        .ok_or_else(|| Problem::conflict("upload_missing", "the upload vanished"))?;
    let processed = match image_pipeline::process(&bytes) {
        Ok(p) => p,
        Err(e) => {
            let problem = image_problem(e);
            fail_upload(
                conn,
                settings,
                file,
                problem.detail.as_deref().unwrap_or("invalid image"),
            )
            .await?;
            return Err(problem);
        }
    };
    // Claim the row: a concurrent complete of the same upload finds it no longer pending.
    let claimed = query(
        conn,
        "UPDATE files.files SET status = 'processing', size_bytes = $2, content_type = $3, \
             updated_at = now() WHERE id = $1 AND status = 'pending' RETURNING id",
        &[
            P::Uuid(file.id.to_string()),
            P::Int64(size as i64),
            P::Str(processed.source_type.mime().into()),
        ],
    )?;
    if claimed.is_empty() {
        let now = load(conn, file.id)?.ok_or_else(crate::record::no_such_file)?;
        return Ok(json(200, &now.view(&settings.cdn_base_url)));
    }
    let done = finish_image(
        conn,
        settings,
        file.id,
        &file.key_prefix,
        &file.bucket,
        processed,
    )
    .await?;
    let _ = settings
        .storage
        .delete_object(&settings.private_bucket, upload_key)
        .await;
    Ok(json(200, &done.view(&settings.cdn_base_url)))
}

fn complete_video(
    conn: &Connection,
    settings: &Settings,
    file: &FileRecord,
    upload_key: &str,
    found: MediaType,
    size: u64,
) -> Result<Response, Problem> {
    let mut outbox = Outbox::new(SCHEMA, settings.component)?;
    let updated = transaction(conn, |conn| {
        let Some(current) = load_for_update(conn, file.id)? else {
            return Err(crate::record::no_such_file());
        };
        if current.status != "pending" {
            return Ok(current);
        }
        query(
            conn,
            "UPDATE files.files SET status = 'processing', size_bytes = $2, content_type = $3, \
                 updated_at = now() WHERE id = $1",
            &[
                P::Uuid(file.id.to_string()),
                P::Int64(size as i64),
                P::Str(found.mime().into()),
            ],
        )?;
        crate::media_jobs::request(
            conn,
            &mut outbox,
            &current,
            "transcode_video",
            Some(upload_key),
            json!([]),
        )?;
        load(conn, file.id)?.ok_or_else(crate::record::no_such_file)
    })?;
    outbox.publish(conn);
    Ok(json(202, &updated.view(&settings.cdn_base_url)))
}
