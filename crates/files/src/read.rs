//! `GET /files/limits`, `GET /files/{id}`, `DELETE /files/{id}`.

use nexgate_authn::authenticate;
use nexgate_platform::db::{query, transaction};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};

use crate::record::{load, no_such_file, owned_file, FileRecord};
use crate::settings::Settings;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// `GET /files/limits`: the one source of truth apps validate against (no sign-in needed).
pub fn limits() -> Result<Response, Problem> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=3600")
        .body(serde_json::to_vec(&nexgate_media::limits::limits()).map_err(Problem::internal)?)
        .build())
}

/// `GET /files/{id}`: the owner sees any of their files; others see public media only. Private
/// media (`message`) of someone else are a 404, as if they did not exist.
pub fn get(req: &Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let file = match load(&conn, id)? {
        Some(f) if !f.deleted && (f.owner_id == ctx.user_id || f.bucket == "public") => f,
        _ => return Err(no_such_file()),
    };
    Ok(json(200, &file.view(&settings.cdn_base_url)))
}

/// `DELETE /files/{id}`: the owner deletes a file; its objects leave storage at once (or at the
/// next cleanup if storage is down), and the services that attached it show it as gone.
pub async fn delete(req: Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(&req)?;
    let id = parse_id("id", id)?;
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let file = owned_file(&conn, id, ctx.user_id)?;
    transaction(&conn, |conn| {
        query(
            conn,
            "UPDATE files.files SET deleted_at = now(), updated_at = now() \
             WHERE id = $1 AND deleted_at IS NULL",
            &[P::Uuid(id.to_string())],
        )?;
        query(
            conn,
            "DELETE FROM files.attachments WHERE file_id = $1",
            &[P::Uuid(id.to_string())],
        )?;
        Ok::<_, Problem>(())
    })?;
    purge_objects(&conn, &settings, &file).await;
    Ok(Response::builder().status(204).build())
}

/// Deletes a deleted file's objects and marks it purged, keeping a row without content (no hash,
/// BlurHash, variants or poster); on a storage error it stays unpurged for the cleanup to retry.
/// Returns whether everything is gone.
pub async fn purge_objects(conn: &Connection, settings: &Settings, file: &FileRecord) -> bool {
    let bucket = settings.bucket(&file.bucket).to_string();
    let mut all_gone = true;
    for key in file.object_keys() {
        if let Err(e) = settings.storage.delete_object(&bucket, &key).await {
            eprintln!("files: deleting {bucket}/{key}: {e:#}");
            all_gone = false;
        }
    }
    if let Some(key) = &file.upload_key {
        if let Err(e) = settings
            .storage
            .delete_object(&settings.private_bucket, key)
            .await
        {
            eprintln!("files: deleting upload {key}: {e:#}");
            all_gone = false;
        }
    }
    if all_gone {
        let _ = query(
            conn,
            "UPDATE files.files SET storage_purged_at = now(), content_hash = NULL, blurhash = NULL, \
                 variants = '[]', poster = NULL WHERE id = $1",
            &[P::Uuid(file.id.to_string())],
        );
    }
    all_gone
}
