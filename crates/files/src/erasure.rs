//! What the File Manager does when an account is deleted (docs/files.md, "Deleted accounts"):
//! `POST /internal/files/events` receives `auth.account.deleted` (infra/subscriptions.toml
//! `[services.files]`). Every file the user owns is deleted at once (unreadable, detached from
//! whatever used it), and its objects are removed from storage: up to
//! [`PURGE_PER_DELIVERY_MAX`] files in this call, the rest by the scheduled cleanup, which
//! retries until every object is gone. A purged file keeps a row without content (the purge clears
//! hash, BlurHash and variants, as for any deleted file) so the ids other services stored still
//! answer 404.
//!
//! Applying it twice changes nothing, so the event needs no dedupe table.

use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::inbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query, transaction};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::read::purge_objects;
use crate::record::{file_columns, FileRecord};
use crate::settings::Settings;

/// Files whose objects one delivery removes; the scheduled cleanup does the rest.
pub const PURGE_PER_DELIVERY_MAX: i64 = 100;

/// `POST /internal/files/events` (behind `files_internal_token`), one envelope per call.
pub async fn consume(req: Request, component: &'static str) -> Result<Response, Problem> {
    let envelope = inbox::read(&req)?;
    let Some(deleted) = envelope.data_as::<AccountDeleted>() else {
        return Ok(inbox::not_consumed(&envelope));
    };
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let owner = deleted.user_id;
    let files_deleted = transaction(&conn, |conn| delete_owned(conn, owner))?;
    let (purged, purge_failed) = purge_owned(&conn, &settings, owner).await?;
    Ok(json(
        200,
        &json!({
            "applied": true,
            "files_deleted": files_deleted,
            "purged": purged,
            "purge_failed": purge_failed,
        }),
    ))
}

/// Marks every live file of `owner` deleted and detaches them; how many.
fn delete_owned(conn: &Connection, owner: Uuid) -> Result<usize, Problem> {
    let deleted = query(
        conn,
        "UPDATE files.files SET deleted_at = now(), updated_at = now() \
         WHERE owner_id = $1 AND deleted_at IS NULL RETURNING id",
        &[P::Uuid(owner.to_string())],
    )?
    .len();
    conn.execute(
        "DELETE FROM files.attachments a USING files.files f WHERE a.file_id = f.id AND f.owner_id = $1",
        &[P::Uuid(owner.to_string())],
    )?;
    Ok(deleted)
}

/// Removes the objects of up to [`PURGE_PER_DELIVERY_MAX`] of `owner`'s deleted files.
async fn purge_owned(
    conn: &Connection,
    settings: &Settings,
    owner: Uuid,
) -> Result<(usize, usize), Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {} FROM files.files WHERE owner_id = $1 AND deleted_at IS NOT NULL \
             AND storage_purged_at IS NULL ORDER BY deleted_at LIMIT $2",
            file_columns()
        ),
        &[P::Uuid(owner.to_string()), P::Int64(PURGE_PER_DELIVERY_MAX)],
    )?;
    let (mut purged, mut failed) = (0, 0);
    for i in 0..rows.len() {
        let file = FileRecord::from_rows(&rows, i)?;
        if purge_objects(conn, settings, &file).await {
            purged += 1;
        } else {
            failed += 1;
        }
    }
    Ok((purged, failed))
}
