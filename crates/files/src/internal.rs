//! `/internal/files/...`, for other services and the platform's workers (`files_internal_token`):
//! - `POST /internal/files/attach` and `/detach`: an owning service marks a file as used by one of
//!   its objects (the file must be the given user's);
//! - `POST /internal/files/{id}/signed-url`: a short-lived presigned GET, for the service that has
//!   checked the viewer may see a private file;
//! - `GET /internal/files/jobs/{id}`: a media job as the worker runs it (crate::media_jobs);
//! - `POST /internal/files/jobs/result`: the media worker's outcome of one job;
//! - `POST /internal/files/jobs/cleanup`: the scheduler's cleanup of abandoned uploads, files
//!   never attached, and objects of deleted files.

use nexgate_platform::body::parse_json;
use nexgate_platform::config::var;
use nexgate_platform::db::{query, transaction};
use nexgate_platform::ids::parse_id;
use nexgate_platform::internal::check_request;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::read::purge_objects;
use crate::record::{
    file_columns, load, load_for_update, no_such_file, record_failed, record_ready, FileRecord,
    StoredObject,
};
use crate::settings::{Settings, SCHEMA};
use nexgate_events::outbox::{with_events, Outbox};
use nexgate_platform::body::json_body as body;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// Default and longest lifetime of a signed URL.
pub const SIGNED_URL_TTL_SECS_DEFAULT: u32 = 300;
pub const SIGNED_URL_TTL_SECS_MAX: u32 = 3600;
/// Default hours a file may stay unattached before the cleanup removes it
/// (`unattached_file_ttl_hours`).
pub const UNATTACHED_FILE_TTL_HOURS_DEFAULT: i64 = 24;
/// Rows one cleanup run handles per step.
pub const CLEANUP_BATCH_MAX: i64 = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachRequest {
    file_id: Uuid,
    /// The user the owning service acts for: the file must be theirs.
    owner_id: Uuid,
    service: String,
    object_type: String,
    object_id: String,
    /// When given, the file must have been uploaded for this purpose (an avatar must be one).
    purpose: Option<String>,
}

fn check_name(field: &str, value: &str) -> Result<(), Problem> {
    let ok = !value.is_empty()
        && value.len() <= 40
        && value.as_bytes()[0].is_ascii_lowercase()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            field,
            "must be 1-40 of a-z, 0-9 and _, starting with a letter",
        ))
    }
}

/// `POST /internal/files/attach`.
pub fn attach(req: &Request, component: &'static str) -> Result<Response, Problem> {
    check_request(req)?;
    let b: AttachRequest = body(req)?;
    check_name("service", &b.service)?;
    check_name("object_type", &b.object_type)?;
    if b.object_id.is_empty() || b.object_id.chars().count() > 200 {
        return Err(Problem::invalid_field(
            "object_id",
            "must be 1-200 characters",
        ));
    }
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let file = transaction(&conn, |conn| {
        let file = match load_for_update(conn, b.file_id)? {
            Some(f) if !f.deleted => f,
            _ => return Err(no_such_file()),
        };
        if file.owner_id != b.owner_id {
            return Err(Problem::forbidden("the file belongs to someone else")
                .with_field("file_id", "is not this user's file"));
        }
        if let Some(p) = &b.purpose {
            if *p != file.purpose {
                return Err(Problem::conflict(
                    "wrong_purpose",
                    format!("the file was uploaded as `{}`, not `{p}`", file.purpose),
                ));
            }
        }
        if file.status == "failed" {
            return Err(Problem::conflict(
                "file_failed",
                "the file failed processing and cannot be used",
            ));
        }
        query(
            conn,
            "INSERT INTO files.attachments (file_id, service, object_type, object_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[
                P::Uuid(file.id.to_string()),
                P::Str(b.service.clone()),
                P::Str(b.object_type.clone()),
                P::Str(b.object_id.clone()),
            ],
        )?;
        Ok(file)
    })?;
    Ok(json(
        200,
        &json!({ "attached": true, "file": file.view(&settings.cdn_base_url) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetachRequest {
    file_id: Uuid,
    service: String,
    object_type: String,
    object_id: String,
}

/// `POST /internal/files/detach`: the object no longer uses the file (idempotent). A file left
/// with no attachment is cleaned up after the unattached TTL.
pub fn detach(req: &Request) -> Result<Response, Problem> {
    check_request(req)?;
    let b: DetachRequest = body(req)?;
    let conn = db()?;
    let removed = query(
        &conn,
        "DELETE FROM files.attachments WHERE file_id = $1 AND service = $2 AND object_type = $3 \
         AND object_id = $4 RETURNING file_id",
        &[
            P::Uuid(b.file_id.to_string()),
            P::Str(b.service),
            P::Str(b.object_type),
            P::Str(b.object_id),
        ],
    )?;
    Ok(json(200, &json!({ "detached": !removed.is_empty() })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SignedUrlRequest {
    /// Which variant (`480`, `720p`, `poster`); the largest when absent.
    variant: Option<String>,
    /// Preferred format when a variant has several (`webp`, `jpeg`).
    format: Option<String>,
    expires_in_secs: Option<u32>,
}

/// `POST /internal/files/{id}/signed-url`.
pub fn signed_url(req: &Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    check_request(req)?;
    let id = parse_id("id", id)?;
    let b: SignedUrlRequest = if req.body().is_empty() {
        SignedUrlRequest::default()
    } else {
        body(req)?
    };
    let ttl = b.expires_in_secs.unwrap_or(SIGNED_URL_TTL_SECS_DEFAULT);
    if ttl == 0 || ttl > SIGNED_URL_TTL_SECS_MAX {
        return Err(Problem::invalid_field(
            "expires_in_secs",
            format!("must be 1 to {SIGNED_URL_TTL_SECS_MAX}"),
        ));
    }
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let file = match load(&conn, id)? {
        Some(f) if !f.deleted => f,
        _ => return Err(no_such_file()),
    };
    if file.status != "ready" {
        return Err(Problem::conflict(
            "file_not_ready",
            format!("the file is {}", file.status),
        ));
    }
    // The named variant (else any but the poster), in the preferred format when there is one,
    // the largest first.
    let chosen = file
        .variant(b.variant.as_deref(), b.format.as_deref())
        .ok_or_else(|| Problem::invalid_field("variant", "the file has no such variant"))?;
    let url = settings
        .storage
        .presign("GET", settings.bucket(&file.bucket), &chosen.key, ttl, None)
        .map_err(Problem::internal)?;
    Ok(json(
        200,
        &json!({
            "url": url,
            "variant": chosen.name,
            "format": chosen.format,
            "expires_in_secs": ttl,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobResult {
    job_id: Uuid,
    file_id: Uuid,
    job: String,
    outcome: String,
    reason: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<u32>,
    blurhash: Option<String>,
    #[serde(default)]
    variants: Vec<StoredObject>,
    poster: Option<StoredObject>,
}

/// `POST /internal/files/jobs/result`: records a media-worker job once. 200 `{recorded}` (false
/// for a redelivered job already recorded); 410 when the file was deleted meanwhile (the worker
/// then removes what it wrote).
pub fn job_result(req: &Request, component: &'static str) -> Result<Response, Problem> {
    check_request(req)?;
    let r: JobResult = parse_json(
        req.body(),
        req.header("content-type").and_then(|v| v.as_str()),
        256 * 1024,
    )?;
    r.check()?;
    let conn = db()?;
    let recorded = with_events(&conn, SCHEMA, component, |conn, outbox| {
        let file = load_for_update(conn, r.file_id)?.ok_or_else(no_such_file)?;
        if file.deleted {
            return Err(Problem::new(410, "file_deleted", "The file was deleted"));
        }
        r.check_belongs_to(conn, &file)?;
        let first = query(
            conn,
            "INSERT INTO files.job_results (job_id, file_id, outcome) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING job_id",
            &[
                P::Uuid(r.job_id.to_string()),
                P::Uuid(r.file_id.to_string()),
                P::Str(r.outcome.clone()),
            ],
        )?;
        if first.is_empty() {
            return Ok(false);
        }
        r.apply(conn, outbox, &file)
    })?;
    Ok(json(200, &json!({ "recorded": recorded })))
}

impl JobResult {
    /// The fields, before anything is read.
    fn check(&self) -> Result<(), Problem> {
        if !matches!(self.job.as_str(), "transcode_video" | "webp_variants") {
            return Err(Problem::invalid_field(
                "job",
                "must be transcode_video or webp_variants",
            ));
        }
        if !matches!(self.outcome.as_str(), "ready" | "failed") {
            return Err(Problem::invalid_field("outcome", "must be ready or failed"));
        }
        if self.outcome == "failed" && self.reason.as_deref().unwrap_or("").is_empty() {
            return Err(Problem::invalid_field(
                "reason",
                "is required when the outcome is failed",
            ));
        }
        Ok(())
    }

    /// Only a job this service asked for, of this file and this kind, writing under its prefix.
    fn check_belongs_to(&self, conn: &Connection, file: &FileRecord) -> Result<(), Problem> {
        match crate::media_jobs::kind_of(conn, self.job_id, self.file_id)? {
            Some(kind) if kind == self.job => {}
            _ => {
                return Err(Problem::invalid_field(
                    "job_id",
                    "is not a media job of this file",
                ))
            }
        }
        for o in self.variants.iter().chain(self.poster.iter()) {
            if !o.key.starts_with(&file.key_prefix) {
                return Err(Problem::invalid_field(
                    "variants",
                    format!("`{}` is outside the file's prefix", o.key),
                ));
            }
        }
        Ok(())
    }

    /// Applies a first result to its file; `false` when there was nothing left to change.
    fn apply(
        &self,
        conn: &Connection,
        outbox: &mut Outbox,
        file: &FileRecord,
    ) -> Result<bool, Problem> {
        match (self.job.as_str(), self.outcome.as_str()) {
            ("webp_variants", "ready") => self.add_webp_variants(conn, outbox, file)?,
            // The JPEG/PNG variants stand; WebP is a bonus.
            ("webp_variants", _) => {
                eprintln!(
                    "files: WebP variants of {} failed: {}",
                    file.id,
                    self.reason.as_deref().unwrap_or("")
                );
            }
            _ if file.status != "processing" => return Ok(false),
            (_, "ready") => self.video_ready(conn, outbox, file)?,
            _ => {
                let reason = self.reason.clone().unwrap_or_default();
                query(
                    conn,
                    "UPDATE files.files SET status = 'failed', failure_reason = $2, updated_at = now() \
                     WHERE id = $1",
                    &[P::Uuid(file.id.to_string()), P::Str(reason.clone())],
                )?;
                record_failed(outbox, conn, file, &reason)?;
            }
        }
        Ok(true)
    }

    /// Adds the WebP variants the file does not have yet.
    fn add_webp_variants(
        &self,
        conn: &Connection,
        outbox: &mut Outbox,
        file: &FileRecord,
    ) -> Result<(), Problem> {
        let mut variants = file.variants.clone();
        for v in &self.variants {
            if !variants
                .iter()
                .any(|e| e.name == v.name && e.format == v.format)
            {
                variants.push(v.clone());
            }
        }
        query(
            conn,
            "UPDATE files.files SET variants = $2::text::jsonb, updated_at = now() WHERE id = $1",
            &[
                P::Uuid(file.id.to_string()),
                P::Str(serde_json::to_string(&variants).map_err(Problem::internal)?),
            ],
        )?;
        record_ready(outbox, conn, file)
    }

    /// A transcoded video: its renditions, poster and measures; the file is ready.
    fn video_ready(
        &self,
        conn: &Connection,
        outbox: &mut Outbox,
        file: &FileRecord,
    ) -> Result<(), Problem> {
        if self.variants.is_empty() {
            return Err(Problem::invalid_field(
                "variants",
                "a ready video has renditions",
            ));
        }
        let int = |v: Option<u32>| v.map(|v| P::Int32(v as i32)).unwrap_or(P::DbNull);
        let poster = match &self.poster {
            Some(p) => P::Str(serde_json::to_string(p).map_err(Problem::internal)?),
            None => P::DbNull,
        };
        query(
            conn,
            "UPDATE files.files SET status = 'ready', width = $2, height = $3, \
                 duration_ms = $4, blurhash = $5, variants = $6::text::jsonb, \
                 poster = $7::text::jsonb, ready_at = now(), updated_at = now() \
             WHERE id = $1",
            &[
                P::Uuid(file.id.to_string()),
                int(self.width),
                int(self.height),
                int(self.duration_ms),
                self.blurhash.clone().map(P::Str).unwrap_or(P::DbNull),
                P::Str(serde_json::to_string(&self.variants).map_err(Problem::internal)?),
                poster,
            ],
        )?;
        record_ready(outbox, conn, file)
    }
}

/// `POST /internal/files/jobs/cleanup`: marks deleted (1) uploads never completed, an hour after
/// their URL expired, (2) files with no attachment older than `unattached_file_ttl_hours`, (3)
/// images stuck in `processing` for an hour (a component died mid-store); then removes the
/// objects of every deleted file not yet purged. Answers what it did.
pub async fn cleanup(req: Request, component: &'static str) -> Result<Response, Problem> {
    check_request(&req)?;
    let ttl_hours: i64 = var("unattached_file_ttl_hours")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|h| *h > 0)
        .unwrap_or(UNATTACHED_FILE_TTL_HOURS_DEFAULT);
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let abandoned = query(
        &conn,
        "UPDATE files.files SET deleted_at = now(), updated_at = now() WHERE id IN ( \
             SELECT id FROM files.files WHERE status = 'pending' AND deleted_at IS NULL \
             AND upload_expires_at < now() - interval '1 hour' LIMIT $1) RETURNING id",
        &[P::Int64(CLEANUP_BATCH_MAX)],
    )?
    .len();
    let unattached = query(
        &conn,
        "UPDATE files.files f SET deleted_at = now(), updated_at = now() WHERE id IN ( \
             SELECT id FROM files.files g WHERE g.deleted_at IS NULL \
             AND g.status IN ('ready', 'failed') \
             AND g.created_at < now() - make_interval(hours => $1) \
             AND NOT EXISTS (SELECT 1 FROM files.attachments a WHERE a.file_id = g.id) \
             LIMIT $2) RETURNING id",
        &[P::Int32(ttl_hours as i32), P::Int64(CLEANUP_BATCH_MAX)],
    )?
    .len();
    let stuck = query(
        &conn,
        "UPDATE files.files SET deleted_at = now(), updated_at = now() WHERE id IN ( \
             SELECT id FROM files.files WHERE status = 'processing' AND kind = 'image' \
             AND deleted_at IS NULL AND updated_at < now() - interval '1 hour' LIMIT $1) \
         RETURNING id",
        &[P::Int64(CLEANUP_BATCH_MAX)],
    )?
    .len();
    let rows = query(
        &conn,
        &format!(
            "SELECT {} FROM files.files WHERE deleted_at IS NOT NULL AND storage_purged_at IS NULL \
             ORDER BY deleted_at LIMIT $1",
            file_columns()
        ),
        &[P::Int64(CLEANUP_BATCH_MAX)],
    )?;
    let mut purged = 0;
    let mut purge_failed = 0;
    for i in 0..rows.len() {
        let file = FileRecord::from_rows(&rows, i)?;
        if purge_objects(&conn, &settings, &file).await {
            purged += 1;
        } else {
            purge_failed += 1;
        }
    }
    Ok(json(
        200,
        &json!({
            "abandoned_uploads": abandoned,
            "unattached_files": unattached,
            "stuck_images": stuck,
            "purged": purged,
            "purge_failed": purge_failed,
        }),
    ))
}
