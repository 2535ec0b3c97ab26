//! The media worker's jobs: recorded by the File Manager with the change that needs them, and
//! read back by the worker over `GET /internal/files/jobs/{id}`.
//!
//! The event `files.media_job.requested` names only the job and its file. What the worker reads
//! and writes comes from here: the sources are the file's own upload or variants, and the
//! destination is the file's bucket and key prefix. A forged event can name no other object, and
//! a job id that is not here is refused.

use nexgate_events::catalogue::files::MediaJobRequested;
use nexgate_events::outbox::Outbox;
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::ids::parse_id;
use nexgate_platform::internal::check_request;
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::record::FileRecord;
use crate::settings::Settings;
use nexgate_platform::body::json_response as json;

/// Records a job for `file` inside the open transaction and its event in `outbox`.
/// `source_key` is the upload to transcode; `sources` the variants to add WebP to.
pub fn request(
    conn: &Connection,
    outbox: &mut Outbox,
    file: &FileRecord,
    job: &str,
    source_key: Option<&str>,
    sources: serde_json::Value,
) -> Result<Uuid, Problem> {
    let id = nexgate_platform::ids::new_id();
    query(
        conn,
        "INSERT INTO files.media_jobs (id, file_id, job, source_key, sources) \
         VALUES ($1, $2, $3, $4, $5::text::jsonb)",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(file.id.to_string()),
            P::Str(job.to_string()),
            source_key
                .map(|k| P::Str(k.to_string()))
                .unwrap_or(P::DbNull),
            P::Str(sources.to_string()),
        ],
    )?;
    outbox.record(
        conn,
        Some(file.owner_id),
        ("file", file.id.to_string()),
        vec![],
        &MediaJobRequested {
            job: job.to_string(),
            job_id: id,
            file_id: file.id,
            owner_id: file.owner_id,
        },
    )?;
    Ok(id)
}

/// `GET /internal/files/jobs/{id}`: the job as the worker runs it. 404 for an unknown job, 410
/// when its file was deleted meanwhile (nothing to do).
pub fn describe(req: &Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    check_request(req)?;
    let id = parse_id("job_id", id)?;
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let rows = query(
        &conn,
        "SELECT j.job, j.file_id, j.source_key, j.sources::text AS sources, f.bucket, \
                f.key_prefix, f.deleted_at IS NOT NULL AS deleted \
         FROM files.media_jobs j JOIN files.files f ON f.id = j.file_id WHERE j.id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such media job"));
    }
    if rows.value::<bool>(0, "deleted")? {
        return Err(Problem::new(
            410,
            "file_deleted",
            "The job's file was deleted",
        ));
    }
    let file_id: Uuid = rows.value(0, "file_id")?;
    let source_key: Option<String> = rows.value(0, "source_key")?;
    let sources: serde_json::Value =
        serde_json::from_str(&rows.value::<String>(0, "sources")?).map_err(Problem::internal)?;
    let bucket: String = rows.value(0, "bucket")?;
    let job: String = rows.value(0, "job")?;
    let key_prefix: String = rows.value(0, "key_prefix")?;
    Ok(json(
        200,
        &json!({
            "job_id": id,
            "job": job,
            "file_id": file_id,
            "bucket": settings.bucket(&bucket),
            "key_prefix": key_prefix,
            "source_bucket": source_key.as_ref().map(|_| settings.private_bucket.clone()),
            "source_key": source_key,
            "sources": sources,
        }),
    ))
}

/// The job `id` of `file_id` and its kind, for checking a worker's result (`None`: unknown).
pub fn kind_of(conn: &Connection, id: Uuid, file_id: Uuid) -> Result<Option<String>, Problem> {
    let rows = query(
        conn,
        "SELECT job FROM files.media_jobs WHERE id = $1 AND file_id = $2",
        &[P::Uuid(id.to_string()), P::Uuid(file_id.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.value(0, "job")?))
}
