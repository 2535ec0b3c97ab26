//! `fermyon:spin/key-value@2.0.0`, backed by Redis.
//!
//! A component may open only the labels listed in its `key_value_stores`; each label's keys live
//! under `<key_value_prefix><label>:` in the Redis the host was given, so side-by-side hosts with
//! different prefixes never see each other's keys.

use redis::aio::MultiplexedConnection;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin2_0_0::key_value::{self as kv, Error};
use crate::state::HostState;

/// Most keys `get-keys` returns; a store bigger than this is an error rather than an unbounded reply.
const GET_KEYS_MAX: usize = 10_000;

/// Where key-value stores live.
#[derive(Debug, Clone)]
pub struct KvConfig {
    /// Redis address backing every label, or `None` when key-value is not configured.
    pub redis_url: Option<String>,
    /// Prefix for every key this host writes.
    pub prefix: String,
}

/// The host side of an open store.
pub struct KvStore {
    conn: MultiplexedConnection,
    key_prefix: String,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl kv::Host for HostState {}

impl kv::HostStore for HostState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        if !self.component.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(url) = self.shared.kv.redis_url.clone() else {
            return Ok(Err(Error::NoSuchStore));
        };
        let conn = match self.shared.redis.connection(&url).await {
            Ok(c) => c,
            Err(e) => return Ok(Err(Error::Other(format!("{e:?}")))),
        };
        let key_prefix = format!("{}{}:", self.shared.kv.prefix, label);
        Ok(Ok(self.table.push(KvStore { conn, key_prefix })?))
    }

    async fn get(
        &mut self,
        this: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let s = self.table.get_mut(&this)?;
        let k = format!("{}{}", s.key_prefix, key);
        Ok(redis::cmd("GET")
            .arg(k)
            .query_async(&mut s.conn)
            .await
            .map_err(other))
    }

    async fn set(
        &mut self,
        this: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let s = self.table.get_mut(&this)?;
        let k = format!("{}{}", s.key_prefix, key);
        Ok(redis::cmd("SET")
            .arg(k)
            .arg(value)
            .query_async(&mut s.conn)
            .await
            .map_err(other))
    }

    async fn delete(
        &mut self,
        this: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let s = self.table.get_mut(&this)?;
        let k = format!("{}{}", s.key_prefix, key);
        Ok(redis::cmd("DEL")
            .arg(k)
            .query_async::<i64>(&mut s.conn)
            .await
            .map(|_| ())
            .map_err(other))
    }

    async fn exists(
        &mut self,
        this: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let s = self.table.get_mut(&this)?;
        let k = format!("{}{}", s.key_prefix, key);
        Ok(redis::cmd("EXISTS")
            .arg(k)
            .query_async::<i64>(&mut s.conn)
            .await
            .map(|n| n > 0)
            .map_err(other))
    }

    async fn get_keys(
        &mut self,
        this: Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let s = self.table.get_mut(&this)?;
        let pattern = format!("{}*", escape_glob(&s.key_prefix));
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = match redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut s.conn)
                .await
            {
                Ok(r) => r,
                Err(e) => return Ok(Err(other(e))),
            };
            keys.extend(
                batch
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&s.key_prefix).map(str::to_string)),
            );
            if keys.len() > GET_KEYS_MAX {
                return Ok(Err(Error::Other(format!(
                    "store has more than {GET_KEYS_MAX} keys"
                ))));
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(Ok(keys))
    }

    async fn drop(&mut self, this: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
