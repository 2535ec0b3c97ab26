//! A file's row (`files.files`): its loaders, its JSON view, and the events it is announced by.

use nexgate_events::catalogue::files::{FileFailed, FileReady};
use nexgate_events::outbox::Outbox;
use nexgate_platform::db::{for_update, load_one, ts, FromRow, Rows};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

pub use nexgate_media::stored::StoredObject;

/// A row of `files.files`.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub purpose: String,
    pub kind: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub content_type: String,
    pub bucket: String,
    pub key_prefix: String,
    pub upload_key: Option<String>,
    pub declared_bytes: Option<i64>,
    pub size_bytes: Option<i64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i32>,
    pub blurhash: Option<String>,
    pub variants: Vec<StoredObject>,
    pub poster: Option<StoredObject>,
    pub created_at: String,
    pub ready_at: Option<String>,
    pub upload_expires_at: Option<String>,
    pub deleted: bool,
}

/// The columns [`FileRecord::from_rows`] reads.
pub fn file_columns() -> String {
    format!(
        "id, owner_id, purpose, kind, status, failure_reason, content_type, bucket, key_prefix, \
         upload_key, declared_bytes, size_bytes, width, height, duration_ms, blurhash, \
         variants::text AS variants, poster::text AS poster, {}, {}, {}, \
         deleted_at IS NOT NULL AS deleted",
        ts("created_at"),
        ts("ready_at"),
        ts("upload_expires_at")
    )
}

impl FileRecord {
    /// The variant `variant` names (else the largest but the poster), in `format` when it has
    /// it: what a signed URL is made for.
    pub fn variant(&self, variant: Option<&str>, format: Option<&str>) -> Option<&StoredObject> {
        self.variants
            .iter()
            .chain(self.poster.iter())
            .filter(|o| match variant {
                Some(v) => v == o.name,
                None => o.name != "poster",
            })
            .max_by_key(|o| {
                (
                    format.is_some_and(|f| f == o.format),
                    u64::from(o.width) * u64::from(o.height),
                )
            })
    }

    pub fn from_rows(rows: &Rows, i: usize) -> Result<Self, Problem> {
        let variants: String = rows.value(i, "variants")?;
        let poster: Option<String> = rows.value(i, "poster")?;
        Ok(Self {
            id: rows.value(i, "id")?,
            owner_id: rows.value(i, "owner_id")?,
            purpose: rows.value(i, "purpose")?,
            kind: rows.value(i, "kind")?,
            status: rows.value(i, "status")?,
            failure_reason: rows.value(i, "failure_reason")?,
            content_type: rows.value(i, "content_type")?,
            bucket: rows.value(i, "bucket")?,
            key_prefix: rows.value(i, "key_prefix")?,
            upload_key: rows.value(i, "upload_key")?,
            declared_bytes: rows.value(i, "declared_bytes")?,
            size_bytes: rows.value(i, "size_bytes")?,
            width: rows.value(i, "width")?,
            height: rows.value(i, "height")?,
            duration_ms: rows.value(i, "duration_ms")?,
            blurhash: rows.value(i, "blurhash")?,
            variants: serde_json::from_str(&variants).map_err(Problem::internal)?,
            poster: match poster {
                Some(p) => Some(serde_json::from_str(&p).map_err(Problem::internal)?),
                None => None,
            },
            created_at: rows.value(i, "created_at")?,
            ready_at: rows.value(i, "ready_at")?,
            upload_expires_at: rows.value(i, "upload_expires_at")?,
            deleted: rows.value(i, "deleted")?,
        })
    }

    /// Every object key the file has in storage (its bucket), the upload excluded.
    pub fn object_keys(&self) -> Vec<String> {
        self.variants
            .iter()
            .chain(self.poster.iter())
            .map(|o| o.key.clone())
            .collect()
    }

    /// What clients see. Public media carry CDN URLs; private media never carry a URL (their
    /// owning service asks for a signed one).
    pub fn view(&self, cdn_base_url: &str) -> Value {
        let private = self.bucket == "private";
        let object = |o: &StoredObject| {
            let mut v = json!({
                "name": o.name,
                "format": o.format,
                "width": o.width,
                "height": o.height,
                "bytes": o.bytes,
            });
            if !private {
                v["url"] = json!(format!("{cdn_base_url}/{}", o.key));
            }
            v
        };
        json!({
            "id": self.id,
            "owner_id": self.owner_id,
            "purpose": self.purpose,
            "kind": self.kind,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "width": self.width,
            "height": self.height,
            "duration_ms": self.duration_ms,
            "blurhash": self.blurhash,
            "private": private,
            "variants": self.variants.iter().map(object).collect::<Vec<_>>(),
            "poster": self.poster.as_ref().map(object),
            "created_at": self.created_at,
            "ready_at": self.ready_at,
        })
    }
}

/// Loads a file by id (deleted ones included; callers decide).
pub fn load(conn: &Connection, id: Uuid) -> Result<Option<FileRecord>, Problem> {
    load_where(conn, "id = $1", id, false)
}

/// Loads and locks a file row inside a transaction.
pub fn load_for_update(conn: &Connection, id: Uuid) -> Result<Option<FileRecord>, Problem> {
    load_where(conn, "id = $1", id, true)
}

fn load_where(
    conn: &Connection,
    condition: &str,
    id: Uuid,
    lock: bool,
) -> Result<Option<FileRecord>, Problem> {
    load_one(
        conn,
        &format!(
            "SELECT {} FROM files.files WHERE {condition}{}",
            file_columns(),
            for_update(lock)
        ),
        &[P::Uuid(id.to_string())],
    )
}

impl FromRow for FileRecord {
    fn from_row(rows: &Rows, i: usize) -> Result<Self, Problem> {
        Self::from_rows(rows, i)
    }
}

/// 404 for a file that does not exist, is deleted, or is not the caller's to see.
pub fn no_such_file() -> Problem {
    Problem::not_found("no such file")
}

/// A file the caller owns, alive.
pub fn owned_file(conn: &Connection, id: Uuid, owner: Uuid) -> Result<FileRecord, Problem> {
    match load(conn, id)? {
        Some(f) if f.owner_id == owner && !f.deleted => Ok(f),
        _ => Err(no_such_file()),
    }
}

/// Records `files.file.ready` for `file` (audience: the owner).
pub fn record_ready(
    outbox: &mut Outbox,
    conn: &Connection,
    file: &FileRecord,
) -> Result<(), Problem> {
    outbox.record(
        conn,
        Some(file.owner_id),
        ("file", file.id.to_string()),
        vec![file.owner_id],
        &FileReady {
            file_id: file.id,
            owner_id: file.owner_id,
            purpose: file.purpose.clone(),
            kind: file.kind.clone(),
        },
    )
}

/// Records `files.file.failed` for `file` with the reason the user sees.
pub fn record_failed(
    outbox: &mut Outbox,
    conn: &Connection,
    file: &FileRecord,
    reason: &str,
) -> Result<(), Problem> {
    outbox.record(
        conn,
        Some(file.owner_id),
        ("file", file.id.to_string()),
        vec![file.owner_id],
        &FileFailed {
            file_id: file.id,
            owner_id: file.owner_id,
            purpose: file.purpose.clone(),
            reason: reason.to_string(),
        },
    )
}
