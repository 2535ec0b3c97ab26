//! `fermyon:spin/redis@2.0.0`: Redis commands over shared multiplexed connections.

use std::collections::HashMap;
use std::sync::Mutex;

use redis::aio::MultiplexedConnection;
use redis::Value;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin2_0_0::redis::{self as r, Error, RedisParameter, RedisResult};
use wasmtime::component::{HasData, ResourceTable};

use super::Guest;

/// What the Redis interface sees of a request: the guest, the shared clients, the table.
pub struct RedisView<'a> {
    pub guest: Guest<'a>,
    pub clients: &'a RedisClients,
    pub table: &'a mut ResourceTable,
}

/// The linker's marker for [`RedisView`].
pub struct Redis;

impl HasData for Redis {
    type Data<'a> = RedisView<'a>;
}

/// Multiplexed connections shared by every instance, one per address.
#[derive(Default)]
pub struct RedisClients {
    connections: Mutex<HashMap<String, MultiplexedConnection>>,
}

impl RedisClients {
    /// A connection to `address`, opened once and then shared.
    pub async fn connection(&self, address: &str) -> Result<MultiplexedConnection, Error> {
        if let Some(c) = self.connections.lock().unwrap().get(address) {
            return Ok(c.clone());
        }
        let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| Error::Other("timed out connecting to Redis".into()))?
        .map_err(|e| Error::Other(format!("cannot connect to Redis: {e}")))?;
        self.connections
            .lock()
            .unwrap()
            .insert(address.to_string(), conn.clone());
        Ok(conn)
    }

    /// Forgets a broken connection so that the next open reconnects.
    pub fn forget(&self, address: &str) {
        self.connections.lock().unwrap().remove(address);
    }
}

/// The host side of a guest's Redis `connection`.
pub struct RedisConnection {
    address: String,
    conn: MultiplexedConnection,
}

fn other(e: redis::RedisError) -> Error {
    if e.kind() == redis::ErrorKind::TypeError {
        Error::TypeError
    } else {
        Error::Other(e.to_string())
    }
}

impl RedisView<'_> {
    async fn redis_query<T: redis::FromRedisValue>(
        &mut self,
        this: &Resource<RedisConnection>,
        cmd: &redis::Cmd,
    ) -> wasmtime::Result<Result<T, Error>> {
        let conn = self.table.get_mut(this)?;
        let result = cmd.query_async::<T>(&mut conn.conn).await;
        if let Err(e) = &result {
            if e.is_connection_dropped() || e.is_io_error() {
                let address = conn.address.clone();
                self.clients.forget(&address);
            }
        }
        Ok(result.map_err(other))
    }
}

impl r::Host for RedisView<'_> {}

impl r::HostConnection for RedisView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<RedisConnection>, Error>> {
        if !self.guest.grants.allows_url(&address) {
            return Ok(Err(Error::InvalidAddress));
        }
        match self.clients.connection(&address).await {
            Ok(conn) => Ok(Ok(self.table.push(RedisConnection { address, conn })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn publish(
        &mut self,
        this: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let r = self
            .redis_query::<i64>(&this, redis::cmd("PUBLISH").arg(channel).arg(payload))
            .await?;
        Ok(r.map(|_| ()))
    }

    async fn get(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.redis_query(&this, redis::cmd("GET").arg(key)).await
    }

    async fn set(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.redis_query(&this, redis::cmd("SET").arg(key).arg(value))
            .await
    }

    async fn incr(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        self.redis_query(&this, redis::cmd("INCR").arg(key)).await
    }

    async fn del(
        &mut self,
        this: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        self.redis_query(&this, redis::cmd("DEL").arg(keys)).await
    }

    async fn sadd(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        self.redis_query(&this, redis::cmd("SADD").arg(key).arg(values))
            .await
    }

    async fn smembers(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.redis_query(&this, redis::cmd("SMEMBERS").arg(key))
            .await
    }

    async fn srem(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        self.redis_query(&this, redis::cmd("SREM").arg(key).arg(values))
            .await
    }

    async fn execute(
        &mut self,
        this: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut cmd = redis::cmd(&command);
        for a in arguments {
            match a {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let value = self.redis_query::<Value>(&this, &cmd).await?;
        Ok(value.map(|v| {
            let mut out = Vec::new();
            flatten(v, &mut out);
            out
        }))
    }

    async fn drop(&mut self, this: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

/// Spin returns a command's reply as a flat list: arrays are flattened in order.
fn flatten(v: Value, out: &mut Vec<RedisResult>) {
    match v {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(i) => out.push(RedisResult::Int64(i)),
        Value::BulkString(b) => out.push(RedisResult::Binary(b)),
        Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        Value::Okay => out.push(RedisResult::Status("OK".into())),
        Value::Array(items) | Value::Set(items) => items.into_iter().for_each(|i| flatten(i, out)),
        Value::Map(pairs) => pairs.into_iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out)
        }),
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(RedisResult::Int64(b as i64)),
        Value::VerbatimString { text, .. } => out.push(RedisResult::Binary(text.into_bytes())),
        Value::BigNumber(n) => out.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Attribute { data, .. } => flatten(*data, out),
        Value::Push { data, .. } => data.into_iter().for_each(|i| flatten(i, out)),
        Value::ServerError(e) => out.push(RedisResult::Status(format!("{e:?}"))),
    }
}
