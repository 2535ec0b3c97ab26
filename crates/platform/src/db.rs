//! Postgres through Spin's `pg4`: typed row decoding by column name, a transaction helper, and
//! mapping of named constraints and SQLSTATEs to client errors.

// spin-sdk's Postgres error types are large; they are returned as they are, like spin-sdk does.
#![allow(clippy::result_large_err)]

use spin_sdk::pg4::{self, Connection, DbValue, Decode, ParameterValue, PgError, RowSet};

use crate::problem::Problem;

/// SQLSTATE of a unique violation.
pub const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE of a foreign-key violation.
pub const FOREIGN_KEY_VIOLATION: &str = "23503";
/// SQLSTATE of a check violation.
pub const CHECK_VIOLATION: &str = "23514";
/// SQLSTATE of a serialization failure (retry the transaction).
pub const SERIALIZATION_FAILURE: &str = "40001";

/// Opens the component's own database (the `db_url` variable).
pub fn open_from_variables() -> Result<Connection, Problem> {
    open(&crate::config::var("db_url").map_err(Problem::internal)?)
}

/// Opens a connection; failure is a 503 naming the database, with the cause logged.
pub fn open(url: &str) -> Result<Connection, Problem> {
    Connection::open(url).map_err(|e| {
        eprintln!("postgres: cannot connect: {e:?}");
        Problem::unavailable("the database is unavailable")
    })
}

/// The SQLSTATE of a database error, if it is one.
pub fn sqlstate(err: &PgError) -> Option<&str> {
    match err {
        PgError::QueryFailed(pg4::QueryError::DbError(db)) => Some(db.code.as_str()),
        _ => None,
    }
}

/// The constraint a database error names, if any.
pub fn constraint(err: &PgError) -> Option<&str> {
    match err {
        PgError::QueryFailed(pg4::QueryError::DbError(db)) => db
            .extras
            .iter()
            .find(|(k, _)| k == "constraint")
            .map(|(_, v)| v.as_str()),
        _ => None,
    }
}

/// Runs `work` inside `BEGIN`/`COMMIT` on `conn`; any error rolls back. The error type only needs
/// to absorb database errors, so handlers can return their own (for example a [`Problem`]).
pub fn transaction<T, E: From<PgError>>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    conn.execute("BEGIN", &[])?;
    match work(conn) {
        Ok(v) => {
            conn.execute("COMMIT", &[])?;
            Ok(v)
        }
        Err(e) => {
            // If ROLLBACK fails the connection is broken; the host resets it on drop anyway.
            let _ = conn.execute("ROLLBACK", &[]);
            Err(e)
        }
    }
}

/// A row set with column lookup by name.
pub struct Rows {
    set: RowSet,
}

impl Rows {
    pub fn new(set: RowSet) -> Self {
        Self { set }
    }

    pub fn len(&self) -> usize {
        self.set.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.rows.is_empty()
    }

    fn index(&self, column: &str) -> Result<usize, pg4::Error> {
        self.set
            .columns
            .iter()
            .position(|c| c.name == column)
            .ok_or_else(|| pg4::Error::Decode(format!("no column `{column}`")))
    }

    /// Decodes `column` of row `row`.
    pub fn get<T: Decode>(&self, row: usize, column: &str) -> Result<T, pg4::Error> {
        let i = self.index(column)?;
        let value: &DbValue = self
            .set
            .rows
            .get(row)
            .and_then(|r| r.get(i))
            .ok_or_else(|| pg4::Error::Decode(format!("no row {row}")))?;
        T::decode(value).map_err(|e| pg4::Error::Decode(format!("column `{column}`: {e}")))
    }
}

impl Rows {
    /// Decodes `column` of every row; a decoding failure is a 500 (logged).
    pub fn column<T: Decode>(&self, column: &str) -> Result<Vec<T>, Problem> {
        let mut out = Vec::with_capacity(self.len());
        for row in 0..self.len() {
            out.push(self.get::<T>(row, column).map_err(Problem::internal)?);
        }
        Ok(out)
    }

    /// Decodes `column` of row `row`; a decoding failure is a 500 (logged).
    pub fn value<T: Decode>(&self, row: usize, column: &str) -> Result<T, Problem> {
        self.get::<T>(row, column).map_err(Problem::internal)
    }
}

/// A row type read by name from a query's columns (its loader's `SELECT` names them).
pub trait FromRow: Sized {
    fn from_row(rows: &Rows, i: usize) -> Result<Self, Problem>;
}

/// The one row `sql` selects (the first, if several), decoded; `None` when there is none. The one
/// row loader: `load_one(conn, &format!("SELECT {} FROM x WHERE id = $1{}", cols, lock(l)), ..)`.
pub fn load_one<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: &[ParameterValue],
) -> Result<Option<T>, Problem> {
    let rows = query(conn, sql, params)?;
    if rows.is_empty() {
        return Ok(None);
    }
    T::from_row(&rows, 0).map(Some)
}

/// Every row `sql` selects, decoded.
pub fn load_all<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: &[ParameterValue],
) -> Result<Vec<T>, Problem> {
    let rows = query(conn, sql, params)?;
    (0..rows.len()).map(|i| T::from_row(&rows, i)).collect()
}

/// ` FOR UPDATE` when `lock` (a loader's row lock inside a transaction), else nothing.
pub fn for_update(lock: bool) -> &'static str {
    if lock {
        " FOR UPDATE"
    } else {
        ""
    }
}

/// How every API time is written: RFC 3339 in UTC with microseconds (Postgres's own precision, so
/// a keyset cursor built from it finds its row again), e.g. `2026-12-07T05:16:14.123456Z`.
pub const TIMESTAMP_FORMAT: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

/// `to_char(<col> AT TIME ZONE 'UTC', ...) AS <col>`: a timestamptz column as API text, named
/// after the column (`i.created_at` → `created_at`).
pub fn ts(col: &str) -> String {
    ts_as(col, col.rsplit('.').next().unwrap_or(col))
}

/// `to_char((<expr>) AT TIME ZONE 'UTC', ...) AS <alias>`: any timestamptz expression as API text.
pub fn ts_as(expr: &str, alias: &str) -> String {
    format!("to_char(({expr}) AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}) AS {alias}")
}

/// Runs a query and wraps the result for lookup by name.
pub fn query(conn: &Connection, sql: &str, params: &[ParameterValue]) -> Result<Rows, PgError> {
    conn.query(sql, params).map(Rows::new)
}

/// Checks that `name` is a plain lowercase identifier before it is put into SQL text (schema names).
pub fn check_identifier(name: &str) -> Result<&str, Problem> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(Problem::internal(format!(
            "`{name}` is not a plain identifier"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_one_way_with_microseconds() {
        assert_eq!(
            ts("i.created_at"),
            "to_char((i.created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS created_at"
        );
        assert!(ts_as("max(at)", "last_at").ends_with(" AS last_at"));
    }

    #[test]
    fn identifiers_are_checked_before_use_in_sql() {
        assert!(check_identifier("auth").is_ok());
        assert!(check_identifier("auth; DROP TABLE x").is_err());
        assert!(check_identifier("Auth").is_err());
        assert!(check_identifier("").is_err());
    }
}
