//! What the File Manager's handlers share: settings, the database row, its JSON view, storage.

use nexgate_events::outbox::Outbox;
use nexgate_platform::config::var;
use nexgate_platform::db::{query, Rows};
use nexgate_platform::storage::Storage;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// The schema whose outbox the File Manager writes.
pub const SCHEMA: &str = "files";

pub use nexgate_platform::body::json_response as json;
pub use nexgate_platform::db::open_from_variables as db;

/// An outbox on `files.outbox`.
pub fn outbox(component: &str) -> Result<Outbox, Problem> {
    Outbox::new(SCHEMA, component)
}

/// Storage, buckets and the CDN base, from the variables.
pub struct Settings {
    pub storage: Storage,
    pub public_bucket: String,
    pub private_bucket: String,
    pub cdn_base_url: String,
}

impl Settings {
    pub fn from_variables() -> Result<Self, Problem> {
        let v = |n: &str| var(n).map_err(Problem::internal);
        Ok(Self {
            storage: Storage::from_variables().map_err(Problem::internal)?,
            public_bucket: v("storage_public_bucket")?,
            private_bucket: v("storage_private_bucket")?,
            cdn_base_url: v("cdn_base_url")?.trim_end_matches('/').to_string(),
        })
    }

    /// The bucket name for a row's `bucket` column (`public` or `private`).
    pub fn bucket(&self, which: &str) -> &str {
        if which == "public" {
            &self.public_bucket
        } else {
            &self.private_bucket
        }
    }
}

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

const TS: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";

/// The columns [`FileRecord::from_rows`] reads.
pub fn file_columns() -> String {
    format!(
        "id, owner_id, purpose, kind, status, failure_reason, content_type, bucket, key_prefix, \
         upload_key, declared_bytes, size_bytes, width, height, duration_ms, blurhash, \
         variants::text AS variants, poster::text AS poster, \
         to_char(created_at AT TIME ZONE 'UTC', {TS}) AS created_at, \
         to_char(ready_at AT TIME ZONE 'UTC', {TS}) AS ready_at, \
         to_char(upload_expires_at AT TIME ZONE 'UTC', {TS}) AS upload_expires_at, \
         deleted_at IS NOT NULL AS deleted"
    )
}

impl FileRecord {
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
    let rows = query(
        conn,
        &format!(
            "SELECT {} FROM files.files WHERE {condition}{}",
            file_columns(),
            if lock { " FOR UPDATE" } else { "" }
        ),
        &[P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(FileRecord::from_rows(&rows, 0)?))
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

/// The value of one query-string parameter (no decoding beyond what ids and names need).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Records `files.file.ready` for `file` (audience: the owner).
pub fn record_ready(
    outbox: &mut Outbox,
    conn: &Connection,
    file: &FileRecord,
) -> Result<(), Problem> {
    outbox.record(
        conn,
        "files.file.ready",
        Some(file.owner_id),
        ("file", file.id.to_string()),
        vec![file.owner_id],
        json!({
            "file_id": file.id,
            "owner_id": file.owner_id,
            "purpose": file.purpose,
            "kind": file.kind,
        }),
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
        "files.file.failed",
        Some(file.owner_id),
        ("file", file.id.to_string()),
        vec![file.owner_id],
        json!({
            "file_id": file.id,
            "owner_id": file.owner_id,
            "purpose": file.purpose,
            "reason": reason,
        }),
    )
}
