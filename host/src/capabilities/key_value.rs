//! `fermyon:spin/key-value@2.0.0`, with Spin's stores: SQLite (`type = "spin"`, which is what
//! the `default` label is without configuration) and Redis (`type = "redis"`).
//!
//! A component may open only the labels listed in its `key_value_stores`; which labels exist
//! comes from the runtime config (`runtime_config.rs`). SQLite stores use Spin's table layout
//! (`spin_key_value(store, key, value)`), so a `.spin/sqlite_key_value.db` is interchangeable.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use redis::aio::MultiplexedConnection;
use wasmtime::component::Resource;

use super::redis::RedisClients;
use crate::app::runtime_config::KeyValueBackend;
use crate::bindings::fermyon::spin2_0_0::key_value::{self as kv, Error};

/// What the key-value interface sees of a request: the stores the component may open, the
/// shared stores and Redis clients, the table.
pub struct KvView<'a> {
    pub allowed: &'a [String],
    pub stores: &'a KeyValueStores,
    pub redis: &'a RedisClients,
    pub table: &'a mut wasmtime::component::ResourceTable,
}

/// The linker's marker for [`KvView`].
pub struct KeyValue;

impl wasmtime::component::HasData for KeyValue {
    type Data<'a> = KvView<'a>;
}

/// Most keys `get-keys` returns; a store bigger than this is an error rather than an unbounded reply.
const GET_KEYS_MAX: usize = 10_000;

/// The key-value stores of a running app, one per label, opened at start-up.
#[derive(Default)]
pub struct KeyValueStores {
    labels: HashMap<String, Backend>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Redis(String),
}

impl KeyValueStores {
    /// Opens the configured labels some component uses (a SQLite file is created with its
    /// folder then, and not for a label nobody opens).
    pub fn open<'a>(
        config: &HashMap<String, KeyValueBackend>,
        used: impl IntoIterator<Item = &'a String>,
    ) -> anyhow::Result<Self> {
        let mut labels = HashMap::new();
        for label in used {
            let Some(backend) = config.get(label) else {
                continue;
            };
            if labels.contains_key(label) {
                continue;
            }
            let opened = match backend {
                KeyValueBackend::Sqlite(path) => Backend::Sqlite(Arc::new(Mutex::new(
                    open_sqlite(path.as_ref())
                        .map_err(|e| anyhow::anyhow!("key-value store `{label}`: {e:#}"))?,
                ))),
                KeyValueBackend::Redis(url) => Backend::Redis(url.clone()),
            };
            labels.insert(label.clone(), opened);
        }
        Ok(Self { labels })
    }
}

fn open_sqlite(path: Option<&PathBuf>) -> anyhow::Result<rusqlite::Connection> {
    let conn = match path {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let conn = rusqlite::Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn
        }
        None => rusqlite::Connection::open_in_memory()?,
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key   TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        )",
    )?;
    Ok(conn)
}

/// The host side of an open store.
pub struct KvStore {
    label: String,
    backend: OpenBackend,
}

enum OpenBackend {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Redis(MultiplexedConnection),
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

/// Runs one statement against a SQLite store (a local file: microseconds, so inline).
fn with_sqlite<T>(
    conn: &Mutex<rusqlite::Connection>,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T, Error> {
    let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
    f(&conn).map_err(other)
}

impl kv::Host for KvView<'_> {}

impl kv::HostStore for KvView<'_> {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        if !self.allowed.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(backend) = self.stores.labels.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        let backend = match backend {
            Backend::Sqlite(conn) => OpenBackend::Sqlite(conn),
            Backend::Redis(url) => match self.redis.connection(&url).await {
                Ok(c) => OpenBackend::Redis(c),
                Err(e) => return Ok(Err(Error::Other(format!("{e:?}")))),
            },
        };
        Ok(Ok(self.table.push(KvStore { label, backend })?))
    }

    async fn get(
        &mut self,
        this: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let s = self.table.get_mut(&this)?;
        Ok(match &mut s.backend {
            OpenBackend::Sqlite(conn) => with_sqlite(conn, |c| {
                use rusqlite::OptionalExtension;
                c.query_row(
                    "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                    (&s.label, &key),
                    |row| row.get(0),
                )
                .optional()
            }),
            OpenBackend::Redis(conn) => redis::cmd("GET")
                .arg(key)
                .query_async(conn)
                .await
                .map_err(other),
        })
    }

    async fn set(
        &mut self,
        this: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let s = self.table.get_mut(&this)?;
        Ok(match &mut s.backend {
            OpenBackend::Sqlite(conn) => with_sqlite(conn, |c| {
                c.execute(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                    (&s.label, &key, &value),
                )
                .map(|_| ())
            }),
            OpenBackend::Redis(conn) => redis::cmd("SET")
                .arg(key)
                .arg(value)
                .query_async(conn)
                .await
                .map_err(other),
        })
    }

    async fn delete(
        &mut self,
        this: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let s = self.table.get_mut(&this)?;
        Ok(match &mut s.backend {
            OpenBackend::Sqlite(conn) => with_sqlite(conn, |c| {
                c.execute(
                    "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
                    (&s.label, &key),
                )
                .map(|_| ())
            }),
            OpenBackend::Redis(conn) => redis::cmd("DEL")
                .arg(key)
                .query_async::<i64>(conn)
                .await
                .map(|_| ())
                .map_err(other),
        })
    }

    async fn exists(
        &mut self,
        this: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let s = self.table.get_mut(&this)?;
        Ok(match &mut s.backend {
            OpenBackend::Sqlite(conn) => with_sqlite(conn, |c| {
                c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
                    (&s.label, &key),
                    |row| row.get(0),
                )
            }),
            OpenBackend::Redis(conn) => redis::cmd("EXISTS")
                .arg(key)
                .query_async::<i64>(conn)
                .await
                .map(|n| n > 0)
                .map_err(other),
        })
    }

    async fn get_keys(
        &mut self,
        this: Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let s = self.table.get_mut(&this)?;
        let keys = match &mut s.backend {
            OpenBackend::Sqlite(conn) => with_sqlite(conn, |c| {
                let mut stmt = c.prepare(
                    "SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key LIMIT ?2",
                )?;
                let rows = stmt.query_map((&s.label, GET_KEYS_MAX as i64 + 1), |row| row.get(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            }),
            OpenBackend::Redis(conn) => redis_keys(conn).await,
        };
        Ok(keys.and_then(|keys| {
            if keys.len() > GET_KEYS_MAX {
                Err(Error::Other(format!(
                    "store has more than {GET_KEYS_MAX} keys"
                )))
            } else {
                Ok(keys)
            }
        }))
    }

    async fn drop(&mut self, this: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

/// Every key of a Redis store (the whole database, as Spin's Redis store sees it), by SCAN.
async fn redis_keys(conn: &mut MultiplexedConnection) -> Result<Vec<String>, Error> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(500)
            .query_async(conn)
            .await
            .map_err(other)?;
        keys.extend(batch);
        if keys.len() > GET_KEYS_MAX {
            return Ok(keys);
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}
