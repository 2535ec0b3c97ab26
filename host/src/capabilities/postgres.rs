//! `spin:postgres/postgres@4.0.0`: connection pools and the full type mapping.
//!
//! One pool per address, bounded (`pg_connections_per_address_max`), under one host-wide cap
//! (`pg_connections_max`) so that many hosts side by side fit in PostgreSQL's `max_connections`.
//! A `connection` resource keeps one server connection for its whole life, so `BEGIN`/`COMMIT` work;
//! when the guest drops it, the connection is rolled back and its session reset off the request
//! path and returned to the pool. Database errors reach the guest with their SQLSTATE.
//!
//! Each server connection keeps the statements it prepared, by SQL text ([`Statements`]): a
//! component sends the same few statements on every request, so after the first one a query is one
//! round trip (bind and execute) instead of two, and PostgreSQL parses and plans it once per
//! connection rather than once per request. The reset keeps them ([`SESSION_RESET`]); a statement a
//! schema change made stale is prepared again once.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use postgres_protocol::types as pgproto;
use postgres_types::{FromSql, IsNull, Kind, ToSql, Type};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{NoTls, Row};
use wasmtime::component::Resource;

use super::Guest;
use crate::bindings::spin::postgres4_0_0::postgres::{
    self as pg, Column, DbDataType, DbError, DbValue, Error, Interval, ParameterValue, QueryError,
    RangeBoundKind, RowSet,
};
use crate::capabilities::pg_types::{Numeric, PgInterval, RawValue};

/// What the Postgres interface sees of a request: the guest, the shared pools, the table.
pub struct PgView<'a> {
    pub guest: Guest<'a>,
    pub pools: &'a PgPools,
    pub table: &'a mut wasmtime::component::ResourceTable,
}

/// The linker's marker for [`PgView`].
pub struct Postgres;

impl wasmtime::component::HasData for Postgres {
    type Data<'a> = PgView<'a>;
}

/// Limits of the Postgres pools.
#[derive(Debug, Clone, Copy)]
pub struct PgLimits {
    /// Connections one address may have open (idle or in use).
    pub per_address_max: usize,
    /// Connections the whole host may have open.
    pub host_max: usize,
    /// How long `open` waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// Idle connections older than this are closed.
    pub idle_timeout: Duration,
}

/// Every pool of the host.
pub struct PgPools {
    limits: PgLimits,
    host_permits: Arc<Semaphore>,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

struct Pool {
    config: tokio_postgres::Config,
    in_use: Arc<Semaphore>,
    idle: Mutex<Vec<IdleClient>>,
}

struct IdleClient {
    client: tokio_postgres::Client,
    statements: Statements,
    host_permit: OwnedSemaphorePermit,
    since: Instant,
}

/// A server connection checked out of its pool.
pub struct PooledClient {
    client: Option<tokio_postgres::Client>,
    statements: Statements,
    host_permit: Option<OwnedSemaphorePermit>,
    /// The address's slot: held until the connection is back among the idle ones (or closed),
    /// so an address never has more connections than its limit, resetting ones included.
    in_use: Option<OwnedSemaphorePermit>,
    pool: Arc<Pool>,
}

/// Statements one server connection has prepared, by SQL text.
#[derive(Default)]
struct Statements(HashMap<String, tokio_postgres::Statement>);

/// Statements kept per connection; past it the cache starts over (dropped statements are closed
/// on the server).
const STATEMENTS_PER_CONNECTION_MAX: usize = 512;

/// What `DISCARD ALL` does except `DEALLOCATE ALL` and `DISCARD PLANS`, so prepared statements
/// and their plans outlive the request while nothing else of its session does.
const SESSION_RESET: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
     SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// The host side of a guest's `connection` resource.
pub struct PgConnection {
    client: PooledClient,
}

impl PgPools {
    pub fn new(limits: PgLimits) -> Self {
        Self {
            limits,
            host_permits: Arc::new(Semaphore::new(limits.host_max)),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// Checks out a connection to `address`, connecting if no idle one is there.
    pub async fn acquire(&self, address: &str) -> Result<PooledClient, String> {
        let pool = self.pool_for(address)?;
        let in_use = tokio::time::timeout(
            self.limits.acquire_timeout,
            pool.in_use.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            format!(
                "no free connection for this address within {:?}",
                self.limits.acquire_timeout
            )
        })?
        .map_err(|e| e.to_string())?;
        loop {
            let idle = pool.idle.lock().unwrap().pop();
            match idle {
                Some(c) if c.client.is_closed() || c.since.elapsed() > self.limits.idle_timeout => {
                    continue
                }
                Some(c) => {
                    return Ok(PooledClient {
                        client: Some(c.client),
                        statements: c.statements,
                        host_permit: Some(c.host_permit),
                        in_use: Some(in_use),
                        pool,
                    })
                }
                None => break,
            }
        }
        let host_permit = match self.host_permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Free a slot held by an idle connection of any pool before waiting.
                self.evict_one_idle();
                tokio::time::timeout(
                    self.limits.acquire_timeout,
                    self.host_permits.clone().acquire_owned(),
                )
                .await
                .map_err(|_| "the host's Postgres connection cap is reached".to_string())?
                .map_err(|e| e.to_string())?
            }
        };
        let (client, connection) =
            tokio::time::timeout(self.limits.acquire_timeout, pool.config.connect(NoTls))
                .await
                .map_err(|_| "timed out connecting".to_string())?
                .map_err(|e| connect_error_text(&e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("postgres connection ended: {e}");
            }
        });
        Ok(PooledClient {
            client: Some(client),
            statements: Statements::default(),
            host_permit: Some(host_permit),
            in_use: Some(in_use),
            pool,
        })
    }

    fn pool_for(&self, address: &str) -> Result<Arc<Pool>, String> {
        let mut pools = self.pools.lock().unwrap();
        if let Some(p) = pools.get(address) {
            return Ok(p.clone());
        }
        let config = tokio_postgres::Config::from_str(address)
            .map_err(|e| format!("invalid connection string: {e}"))?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err("sslmode=require is not supported by the local host; use sslmode=disable for local servers".into());
        }
        let pool = Arc::new(Pool {
            config,
            in_use: Arc::new(Semaphore::new(self.limits.per_address_max)),
            idle: Mutex::new(Vec::new()),
        });
        pools.insert(address.to_string(), pool.clone());
        Ok(pool)
    }

    fn evict_one_idle(&self) {
        let pools = self.pools.lock().unwrap();
        for pool in pools.values() {
            let mut idle = pool.idle.lock().unwrap();
            if !idle.is_empty() {
                // Dropping the client closes it and releases its host permit.
                drop(idle.remove(0));
                return;
            }
        }
    }
}

fn connect_error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

impl PooledClient {
    fn client(&self) -> &tokio_postgres::Client {
        self.client.as_ref().expect("client present until drop")
    }

    /// The statement for `sql`, prepared on this connection once.
    async fn prepared(
        &mut self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        if let Some(stmt) = self.statements.0.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client().prepare(sql).await?;
        if self.statements.0.len() >= STATEMENTS_PER_CONNECTION_MAX {
            self.statements.0.clear();
        }
        self.statements.0.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    /// Runs `sql` with a kept statement; one stale by a schema change (SQLSTATE 0A000, "cached
    /// plan must not change result type") is prepared again and run once more.
    async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(tokio_postgres::Statement, Vec<Row>), tokio_postgres::Error> {
        let stmt = self.prepared(sql).await?;
        match self.client().query(&stmt, params).await {
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::FEATURE_NOT_SUPPORTED) => {
                self.statements.0.remove(sql);
                let stmt = self.prepared(sql).await?;
                let rows = self.client().query(&stmt, params).await?;
                Ok((stmt, rows))
            }
            other => other.map(|rows| (stmt, rows)),
        }
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        let (Some(client), Some(host_permit)) = (self.client.take(), self.host_permit.take())
        else {
            return;
        };
        if client.is_closed() {
            return;
        }
        let pool = self.pool.clone();
        let statements = std::mem::take(&mut self.statements);
        let in_use = self.in_use.take();
        // Reset off the request path; a connection that fails to reset is closed instead. The
        // address's slot is given back only once the connection is idle again: a request waiting
        // for the address then reuses it instead of opening one more (which, under load, used
        // to fill the host's cap with connections still resetting: bench/README.md).
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if client.batch_execute("ROLLBACK").await.is_ok()
                    && client.batch_execute(SESSION_RESET).await.is_ok()
                {
                    pool.idle.lock().unwrap().push(IdleClient {
                        client,
                        statements,
                        host_permit,
                        since: Instant::now(),
                    });
                }
                drop(in_use);
            });
        }
    }
}

impl pg::Host for PgView<'_> {}

impl pg::HostConnection for PgView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        // Spin's check and wording (URL or keyword/value form; the message holds no password).
        if let Err(denied) = self.guest.grants.check_postgres(&address) {
            tracing::warn!(
                "component `{}`: {denied} (allowed_outbound_hosts)",
                self.guest.id
            );
            return Ok(Err(Error::ConnectionFailed(denied)));
        }
        match self.pools.acquire(&address).await {
            Ok(client) => Ok(Ok(self.table.push(PgConnection { client })?)),
            Err(e) => Ok(Err(Error::ConnectionFailed(e))),
        }
    }

    async fn query(
        &mut self,
        this: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let conn = self.table.get_mut(&this)?;
        let params: Vec<PgParam> = params.into_iter().map(PgParam).collect();
        let refs = sql_params(&params);
        let (stmt, rows) = match conn.client.query(&statement, &refs).await {
            Ok(done) => done,
            Err(e) => return Ok(Err(query_error(e))),
        };
        let columns: Vec<Column> = stmt
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_string(),
                data_type: data_type(c.type_()),
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(columns.len());
            for (i, col) in stmt.columns().iter().enumerate() {
                match column_value(row, i, col.type_()) {
                    Ok(v) => values.push(v),
                    // As Spin 3.6: a column that does not convert fails the query, with the
                    // driver's error in full (a `timestamptz` read as a datetime: WrongType).
                    Err(e) => {
                        return Ok(Err(Error::QueryFailed(QueryError::Text(format!(
                            "column `{}`: {e:?}",
                            col.name()
                        )))))
                    }
                }
            }
            out.push(values);
        }
        Ok(Ok(RowSet { columns, rows: out }))
    }

    async fn execute(
        &mut self,
        this: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let conn = self.table.get_mut(&this)?;
        let params: Vec<PgParam> = params.into_iter().map(PgParam).collect();
        let refs = sql_params(&params);
        let stmt = match conn.client.prepared(&statement).await {
            Ok(stmt) => stmt,
            Err(e) => return Ok(Err(query_error(e))),
        };
        match conn.client.client().execute(&stmt, &refs).await {
            Ok(n) => Ok(Ok(n)),
            Err(e) => Ok(Err(query_error(e))),
        }
    }

    async fn drop(&mut self, this: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

fn sql_params(params: &[PgParam]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn query_error(e: tokio_postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        return Error::QueryFailed(QueryError::DbError(DbError {
            as_text: e.to_string(),
            severity: db.severity().to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            extras: [
                ("constraint", db.constraint()),
                ("table", db.table()),
                ("column", db.column()),
                ("schema", db.schema()),
                ("hint", db.hint()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
            .collect(),
        }));
    }
    let text = connect_error_text(&e);
    if text.contains("error serializing parameter") {
        Error::BadParameter(text)
    } else if e.is_closed() {
        Error::ConnectionFailed(text)
    } else {
        Error::QueryFailed(QueryError::Text(text))
    }
}

fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB | Type::JSON => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

type ConvResult = Result<DbValue, Box<dyn std::error::Error + Sync + Send>>;

fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<Option<T>, tokio_postgres::Error> {
    row.try_get::<_, Option<T>>(i)
}

fn column_value(row: &Row, i: usize, ty: &Type) -> ConvResult {
    macro_rules! simple {
        ($t:ty, $variant:ident) => {
            get::<$t>(row, i)?.map(DbValue::$variant)
        };
    }
    let value = match *ty {
        Type::BOOL => simple!(bool, Boolean),
        Type::CHAR => simple!(i8, Int8),
        Type::INT2 => simple!(i16, Int16),
        Type::INT4 => simple!(i32, Int32),
        Type::INT8 => simple!(i64, Int64),
        Type::FLOAT4 => simple!(f32, Floating32),
        Type::FLOAT8 => simple!(f64, Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => simple!(String, Str),
        Type::BYTEA => simple!(Vec<u8>, Binary),
        Type::DATE => get::<NaiveDate>(row, i)?
            .map(|d| DbValue::Date((d.year(), d.month() as u8, d.day() as u8))),
        Type::TIME => get::<NaiveTime>(row, i)?.map(|t| DbValue::Time(time_tuple(t))),
        Type::TIMESTAMP => {
            get::<NaiveDateTime>(row, i)?.map(|dt| DbValue::Datetime(datetime_tuple(dt)))
        }
        // As Spin 3.6: a datetime is read as a `timestamp` only, so a `timestamptz` column fails
        // with WrongType (select it as text, or cast it to `timestamp`).
        Type::TIMESTAMPTZ => {
            get::<NaiveDateTime>(row, i)?.map(|dt| DbValue::Datetime(datetime_tuple(dt)))
        }
        Type::UUID => get::<uuid::Uuid>(row, i)?.map(|u| DbValue::Uuid(u.to_string())),
        Type::JSONB | Type::JSON => get::<serde_json::Value>(row, i)?
            .map(|v| serde_json::to_vec(&v).map(DbValue::Jsonb))
            .transpose()?,
        Type::NUMERIC => get::<Numeric>(row, i)?.map(|n| DbValue::Decimal(n.0)),
        Type::INT4_RANGE => get::<RawValue>(row, i)?
            .map(|raw| decode_range(&raw.0, pgproto::int4_from_sql).map(DbValue::RangeInt32))
            .transpose()?,
        Type::INT8_RANGE => get::<RawValue>(row, i)?
            .map(|raw| decode_range(&raw.0, pgproto::int8_from_sql).map(DbValue::RangeInt64))
            .transpose()?,
        Type::NUM_RANGE => get::<RawValue>(row, i)?
            .map(|raw| {
                decode_range(&raw.0, |b| Ok(Numeric::from_sql(&Type::NUMERIC, b)?.0))
                    .map(DbValue::RangeDecimal)
            })
            .transpose()?,
        Type::INT4_ARRAY => simple!(Vec<Option<i32>>, ArrayInt32),
        Type::INT8_ARRAY => simple!(Vec<Option<i64>>, ArrayInt64),
        Type::NUMERIC_ARRAY => get::<Vec<Option<Numeric>>>(row, i)?
            .map(|v| DbValue::ArrayDecimal(v.into_iter().map(|n| n.map(|n| n.0)).collect())),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            simple!(Vec<Option<String>>, ArrayStr)
        }
        Type::INTERVAL => get::<PgInterval>(row, i)?.map(|iv| {
            DbValue::Interval(Interval {
                micros: iv.micros,
                days: iv.days,
                months: iv.months,
            })
        }),
        _ => match ty.kind() {
            Kind::Enum(_) => simple!(String, Str),
            _ => get::<RawValue>(row, i)?.map(|r| DbValue::Unsupported(r.0)),
        },
    };
    Ok(value.unwrap_or(DbValue::DbNull))
}

type Bound<T> = Option<(T, RangeBoundKind)>;

fn decode_range<T>(
    raw: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, Box<dyn std::error::Error + Sync + Send>>,
) -> Result<(Bound<T>, Bound<T>), Box<dyn std::error::Error + Sync + Send>> {
    match pgproto::range_from_sql(raw)? {
        pgproto::Range::Empty => Ok((None, None)),
        pgproto::Range::Nonempty(lower, upper) => {
            let conv = |b: pgproto::RangeBound<Option<&[u8]>>| -> Result<Bound<T>, Box<dyn std::error::Error + Sync + Send>> {
                Ok(match b {
                    pgproto::RangeBound::Inclusive(Some(v)) => Some((decode(v)?, RangeBoundKind::Inclusive)),
                    pgproto::RangeBound::Exclusive(Some(v)) => Some((decode(v)?, RangeBoundKind::Exclusive)),
                    _ => None,
                })
            };
            Ok((conv(lower)?, conv(upper)?))
        }
    }
}

fn time_tuple(t: NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

fn datetime_tuple(dt: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    (
        dt.year(),
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
        dt.nanosecond(),
    )
}

/// A guest parameter, encoded according to the type the server inferred for its placeholder.
/// Each variant only encodes into the column types its natural Rust type accepts (as Spin does);
/// anything else is a `bad-parameter` naming both types.
#[derive(Debug)]
struct PgParam(ParameterValue);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

fn encode<T: ToSql>(
    value: T,
    ty: &Type,
    out: &mut bytes::BytesMut,
    what: &str,
) -> Result<IsNull, BoxError> {
    if !T::accepts(ty) {
        return Err(format!(
            "error serializing parameter: WrongType: a {what} value cannot be sent as {}",
            ty.name()
        )
        .into());
    }
    value.to_sql(ty, out)
}

impl ToSql for PgParam {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        use ParameterValue as P;
        match &self.0 {
            P::Boolean(v) => encode(*v, ty, out, "boolean"),
            P::Int8(v) => encode(*v, ty, out, "int8"),
            P::Int16(v) => encode(*v, ty, out, "int16"),
            P::Int32(v) => encode(*v, ty, out, "int32"),
            P::Int64(v) => encode(*v, ty, out, "int64"),
            P::Floating32(v) => encode(*v, ty, out, "floating32"),
            P::Floating64(v) => encode(*v, ty, out, "floating64"),
            P::Str(v) => {
                if matches!(ty.kind(), Kind::Enum(_)) {
                    out.extend_from_slice(v.as_bytes());
                    return Ok(IsNull::No);
                }
                encode(v.as_str(), ty, out, "str")
            }
            P::Binary(v) => encode(v.as_slice(), ty, out, "binary"),
            P::Date((y, m, d)) => {
                let date = NaiveDate::from_ymd_opt(*y, *m as u32, *d as u32)
                    .ok_or("error serializing parameter: invalid date")?;
                encode(date, ty, out, "date")
            }
            P::Time((h, m, s, ns)) => {
                let t = NaiveTime::from_hms_nano_opt(*h as u32, *m as u32, *s as u32, *ns)
                    .ok_or("error serializing parameter: invalid time")?;
                encode(t, ty, out, "time")
            }
            P::Datetime((y, mo, d, h, mi, s, ns)) => {
                let dt = NaiveDate::from_ymd_opt(*y, *mo as u32, *d as u32)
                    .and_then(|date| date.and_hms_nano_opt(*h as u32, *mi as u32, *s as u32, *ns))
                    .ok_or("error serializing parameter: invalid datetime")?;
                // As Spin 3.6: a datetime binds to `timestamp` only (WrongType for timestamptz).
                encode(dt, ty, out, "datetime")
            }
            P::Timestamp(secs) => {
                // As Spin 3.6: a timestamp (epoch seconds) binds to `timestamptz` only.
                let dt = DateTime::<Utc>::from_timestamp(*secs, 0)
                    .ok_or("error serializing parameter: timestamp out of range")?;
                encode(dt, ty, out, "timestamp")
            }
            P::Uuid(v) => {
                let u = uuid::Uuid::parse_str(v)
                    .map_err(|e| format!("error serializing parameter: invalid uuid: {e}"))?;
                encode(u, ty, out, "uuid")
            }
            P::Jsonb(bytes) => {
                let v: serde_json::Value = serde_json::from_slice(bytes)
                    .map_err(|e| format!("error serializing parameter: invalid JSON: {e}"))?;
                encode(v, ty, out, "jsonb")
            }
            P::Decimal(v) => encode(Numeric(v.clone()), ty, out, "decimal"),
            P::RangeInt32((lo, hi)) => {
                encode_range(ty, &Type::INT4_RANGE, lo, hi, out, |v, buf| {
                    pgproto::int4_to_sql(*v, buf);
                    Ok(())
                })
            }
            P::RangeInt64((lo, hi)) => {
                encode_range(ty, &Type::INT8_RANGE, lo, hi, out, |v, buf| {
                    pgproto::int8_to_sql(*v, buf);
                    Ok(())
                })
            }
            P::RangeDecimal((lo, hi)) => {
                encode_range(ty, &Type::NUM_RANGE, lo, hi, out, |v: &String, buf| {
                    Numeric(v.clone()).to_sql(&Type::NUMERIC, buf).map(|_| ())
                })
            }
            P::ArrayInt32(v) => encode(v.clone(), ty, out, "array-int32"),
            P::ArrayInt64(v) => encode(v.clone(), ty, out, "array-int64"),
            P::ArrayDecimal(v) => encode(
                v.iter().map(|o| o.clone().map(Numeric)).collect::<Vec<_>>(),
                ty,
                out,
                "array-decimal",
            ),
            P::ArrayStr(v) => encode(v.clone(), ty, out, "array-str"),
            P::Interval(iv) => encode(
                PgInterval {
                    micros: iv.micros,
                    days: iv.days,
                    months: iv.months,
                },
                ty,
                out,
                "interval",
            ),
            P::DbNull => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        self.to_sql(ty, out)
    }
}

fn encode_range<T>(
    ty: &Type,
    expected: &Type,
    lo: &Bound<T>,
    hi: &Bound<T>,
    out: &mut bytes::BytesMut,
    encode_value: impl Fn(&T, &mut bytes::BytesMut) -> Result<(), BoxError>,
) -> Result<IsNull, BoxError> {
    if ty != expected {
        return Err(format!(
            "error serializing parameter: a {} value cannot be sent as {}",
            expected.name(),
            ty.name()
        )
        .into());
    }
    let mut err: Option<BoxError> = None;
    pgproto::range_to_sql(
        |buf| write_bound(lo, buf, &encode_value, &mut err),
        |buf| write_bound(hi, buf, &encode_value, &mut None),
        out,
    )?;
    if let Some(e) = err {
        return Err(e);
    }
    Ok(IsNull::No)
}

fn write_bound<T>(
    bound: &Bound<T>,
    buf: &mut bytes::BytesMut,
    encode_value: &impl Fn(&T, &mut bytes::BytesMut) -> Result<(), BoxError>,
    err: &mut Option<BoxError>,
) -> Result<pgproto::RangeBound<postgres_protocol::IsNull>, BoxError> {
    Ok(match bound {
        None => pgproto::RangeBound::Unbounded,
        Some((v, kind)) => {
            if let Err(e) = encode_value(v, buf) {
                *err = Some(e);
                return Err("range bound".into());
            }
            match kind {
                RangeBoundKind::Inclusive => {
                    pgproto::RangeBound::Inclusive(postgres_protocol::IsNull::No)
                }
                RangeBoundKind::Exclusive => {
                    pgproto::RangeBound::Exclusive(postgres_protocol::IsNull::No)
                }
            }
        }
    })
}
