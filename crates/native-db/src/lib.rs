//! Database connections for the native workers (the notifier, the real-time gateway): one connection that reopens after an error, a small
//! pool of them, and transactions whose statements are prepared once per connection (a statement
//! sent as text costs a second round trip to parse every time).

use std::collections::HashMap;

use anyhow::Result;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement, Transaction};

/// A database connection, reopened when it breaks, with its prepared statements.
pub struct Db {
    url: String,
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
}

impl Db {
    pub fn new(url: &str) -> Self {
        Db {
            url: url.to_string(),
            client: None,
            statements: HashMap::new(),
        }
    }

    pub async fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::warn!("database connection ended: {e}");
                }
            });
            self.statements.clear();
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("just opened"))
    }

    /// Forgets the connection after an error (the next use reconnects).
    pub fn reset(&mut self) {
        self.client = None;
        self.statements.clear();
    }

    async fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        self.client().await?;
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .client
            .as_ref()
            .expect("opened above")
            .prepare(sql)
            .await?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs a query outside a transaction (its statement prepared once per connection).
    pub async fn query(&mut self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        let s = self.statement(sql).await?;
        let client = self.client.as_ref().expect("opened by statement()");
        Ok(client.query(&s, params).await?)
    }

    /// [`Db::query`], forgetting the connection when it fails (the next use reconnects): for
    /// readers whose only errors are a lost or restarted database.
    pub async fn query_or_reset(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>> {
        let rows = self.query(sql, params).await;
        if rows.is_err() {
            self.reset();
        }
        rows
    }

    pub async fn execute(&mut self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let s = self.statement(sql).await?;
        let client = self.client.as_ref().expect("opened by statement()");
        Ok(client.execute(&s, params).await?)
    }

    /// Begins a transaction.
    pub async fn transaction(&mut self) -> Result<Tx<'_>> {
        self.client().await?;
        let Db {
            client, statements, ..
        } = self;
        let tx = client.as_mut().expect("opened above").transaction().await?;
        Ok(Tx { tx, statements })
    }
}

/// A transaction whose statements are prepared once per connection.
pub struct Tx<'a> {
    tx: Transaction<'a>,
    statements: &'a mut HashMap<&'static str, Statement>,
}

pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    async fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).await?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub async fn execute(&mut self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let s = self.statement(sql).await?;
        Ok(self.tx.execute(&s, params).await?)
    }

    pub async fn query(&mut self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        let s = self.statement(sql).await?;
        Ok(self.tx.query(&s, params).await?)
    }

    pub async fn query_opt(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>> {
        let s = self.statement(sql).await?;
        Ok(self.tx.query_opt(&s, params).await?)
    }

    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }
}

/// A few database connections, each lent to one task at a time.
pub struct Pool {
    url: String,
    idle: std::sync::Mutex<Vec<Db>>,
    permits: tokio::sync::Semaphore,
}

impl Pool {
    pub fn new(url: &str, size: usize) -> Self {
        Pool {
            url: url.to_string(),
            idle: std::sync::Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(size.max(1)),
        }
    }

    /// A connection of the pool (opened on first use, reopened after a reset).
    pub async fn get(&self) -> Lent<'_> {
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the pool is never closed");
        let db = self
            .idle
            .lock()
            .expect("pool lock")
            .pop()
            .unwrap_or_else(|| Db::new(&self.url));
        Lent {
            pool: self,
            db: Some(db),
            _permit: permit,
        }
    }
}

/// A connection lent by a [`Pool`], returned on drop.
pub struct Lent<'a> {
    pool: &'a Pool,
    db: Option<Db>,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl std::ops::Deref for Lent<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db.as_ref().expect("lent until dropped")
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut Db {
        self.db.as_mut().expect("lent until dropped")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            self.pool.idle.lock().expect("pool lock").push(db);
        }
    }
}
