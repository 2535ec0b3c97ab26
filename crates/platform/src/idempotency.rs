//! `Idempotency-Key`: the first response to a request is stored in Postgres and replayed to every
//! retry; the same key with a different request is a 422.
//!
//! Use [`once`] inside the transaction that makes the change. It claims the key (inserts its row:
//! a concurrent request with the same key waits on that row until this transaction ends, then
//! sees the stored response and replays it, so the change happens once even when a client fires
//! retries in parallel), runs the work, and stores the work's response in the same transaction.
//!
//! A failure that rolls back (a 5xx) also removes the key, so the client's retry runs anew.
//! Keys are scoped (usually by user id) so two users cannot collide.

use sha2::{Digest, Sha256};
use spin_sdk::pg4::{Connection, ParameterValue, PgError};

use crate::db::{self, check_identifier};
use crate::problem::Problem;

/// Longest key accepted (RFC draft: a client-chosen string, usually a UUID).
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 255;

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time: process it.
    Proceed,
    /// Seen before with the same request: answer this.
    Replay(StoredResponse),
}

/// A stored first response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Reads and checks the header value.
pub fn parse_key(header: Option<&str>) -> Result<&str, Problem> {
    let key = header.ok_or_else(|| {
        Problem::new(
            400,
            "idempotency_key_required",
            "An Idempotency-Key header is required",
        )
        .with_detail("send a unique Idempotency-Key (for example a UUID) with this request")
    })?;
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_BYTES_MAX
        || !key.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err(Problem::invalid_field(
            "Idempotency-Key",
            format!("must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} visible ASCII characters"),
        ));
    }
    Ok(key)
}

/// The fingerprint of a request: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// The answer for a key reused with a different request.
pub fn mismatch() -> Problem {
    Problem::new(
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was used for a different request",
    )
    .with_detail("use a new Idempotency-Key for a new request")
}

/// One keyed request: where its key lives and what the request was.
#[derive(Debug, Clone, Copy)]
pub struct Keyed<'a> {
    /// The service's schema (its `idempotency_keys` table).
    pub schema: &'a str,
    /// Who the key belongs to (usually the user id), so two callers cannot collide.
    pub scope: &'a str,
    pub key: &'a str,
    /// [`fingerprint`] of what the request means.
    pub request_hash: &'a str,
}

/// What [`once`] did.
#[derive(Debug)]
pub enum Once<T> {
    /// The key was seen before with the same request: this was the first response.
    Replayed(StoredResponse),
    /// The work ran now; its response is stored for the retries.
    Ran(T),
}

/// Runs `work` once per key, inside the caller's transaction: a retry (or a parallel duplicate)
/// gets the first response instead; the same key with another request is a 422. `work` returns
/// the response to store and what the caller needs next. The only way into the key table.
pub fn once<T>(
    conn: &Connection,
    keyed: Keyed<'_>,
    work: impl FnOnce(&Connection) -> Result<(StoredResponse, T), Problem>,
) -> Result<Once<T>, Problem> {
    let Keyed {
        schema,
        scope,
        key,
        request_hash,
    } = keyed;
    match begin(conn, schema, scope, key, request_hash, None)? {
        Begin::Replay(stored) => Ok(Once::Replayed(stored)),
        Begin::Proceed => {
            let (response, value) = work(conn)?;
            complete(conn, schema, scope, key, &response)?;
            Ok(Once::Ran(value))
        }
    }
}

/// [`once`] for work whose response is known before it runs (it answers an id chosen up front):
/// the key is claimed with its response in one statement, and the work's last statement is the
/// transaction's last. A hot row the work locks (a checkout's stock) is then held only until the
/// commit. A failing `work` rolls back the claim and its response with everything else.
pub fn once_answering<T>(
    conn: &Connection,
    keyed: Keyed<'_>,
    response: StoredResponse,
    work: impl FnOnce(&Connection) -> Result<T, Problem>,
) -> Result<Once<T>, Problem> {
    let Keyed {
        schema,
        scope,
        key,
        request_hash,
    } = keyed;
    match begin(conn, schema, scope, key, request_hash, Some(&response))? {
        Begin::Replay(stored) => Ok(Once::Replayed(stored)),
        Begin::Proceed => Ok(Once::Ran(work(conn)?)),
    }
}

impl StoredResponse {
    /// A JSON response to store.
    pub fn json(status: u16, body: &serde_json::Value) -> Result<Self, Problem> {
        Ok(Self {
            status,
            content_type: "application/json".into(),
            body: serde_json::to_vec(body).map_err(Problem::internal)?,
        })
    }

    /// The `id` of a stored `{"id": ...}` body (what a replay answers about).
    pub fn id(&self) -> Result<uuid::Uuid, Problem> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("id")?.as_str()?.parse().ok())
            .ok_or_else(|| Problem::internal("a stored response without an id"))
    }
}

/// Claims the key (see the module docs), with its response when it is known already. Must run
/// inside a transaction.
fn begin(
    conn: &Connection,
    schema: &str,
    scope: &str,
    key: &str,
    request_hash: &str,
    answer: Option<&StoredResponse>,
) -> Result<Begin, Problem> {
    let schema = check_identifier(schema)?;
    let or_null = |v: Option<ParameterValue>| v.unwrap_or(ParameterValue::DbNull);
    let inserted = conn
        .execute(
            &format!(
                "INSERT INTO {schema}.idempotency_keys (scope, idempotency_key, request_hash,
                     response_status, response_content_type, response_body, completed_at)
                 VALUES ($1, $2, $3, $4::smallint, $5, $6, CASE WHEN $4::smallint IS NULL THEN NULL ELSE now() END)
                 ON CONFLICT (scope, idempotency_key) DO NOTHING"
            ),
            &[
                ParameterValue::Str(scope.into()),
                ParameterValue::Str(key.into()),
                ParameterValue::Str(request_hash.into()),
                or_null(answer.map(|a| ParameterValue::Int16(a.status as i16))),
                or_null(answer.map(|a| ParameterValue::Str(a.content_type.clone()))),
                or_null(answer.map(|a| ParameterValue::Binary(a.body.clone()))),
            ],
        )
        .map_err(db_problem)?;
    if inserted == 1 {
        return Ok(Begin::Proceed);
    }
    let rows = db::query(
        conn,
        &format!(
            "SELECT request_hash, response_status::int4 AS status, response_content_type, response_body
             FROM {schema}.idempotency_keys WHERE scope = $1 AND idempotency_key = $2"
        ),
        &[ParameterValue::Str(scope.into()), ParameterValue::Str(key.into())],
    )
    .map_err(db_problem)?;
    if rows.is_empty() {
        // The first request rolled back between our insert and select: claim it now.
        return begin(conn, schema, scope, key, request_hash, answer);
    }
    let stored_hash: String = rows.get(0, "request_hash").map_err(Problem::internal)?;
    if stored_hash != request_hash {
        return Err(mismatch());
    }
    let status: Option<i32> = rows.get(0, "status").map_err(Problem::internal)?;
    match status {
        Some(status) => Ok(Begin::Replay(StoredResponse {
            status: status as u16,
            content_type: rows
                .get::<Option<String>>(0, "response_content_type")
                .map_err(Problem::internal)?
                .unwrap_or_default(),
            body: rows
                .get::<Option<Vec<u8>>>(0, "response_body")
                .map_err(Problem::internal)?
                .unwrap_or_default(),
        })),
        // Committed without a response: only possible if a caller forgot `complete`.
        None => Err(Problem::conflict(
            "request_in_progress",
            "the first request with this key has not finished; retry shortly",
        )),
    }
}

/// Stores the response of the first request (inside the same transaction as [`begin`]).
fn complete(
    conn: &Connection,
    schema: &str,
    scope: &str,
    key: &str,
    response: &StoredResponse,
) -> Result<(), Problem> {
    let schema = check_identifier(schema)?;
    conn.execute(
        &format!(
            "UPDATE {schema}.idempotency_keys
             SET response_status = $3, response_content_type = $4, response_body = $5, completed_at = now()
             WHERE scope = $1 AND idempotency_key = $2"
        ),
        &[
            ParameterValue::Str(scope.into()),
            ParameterValue::Str(key.into()),
            ParameterValue::Int16(response.status as i16),
            ParameterValue::Str(response.content_type.clone()),
            ParameterValue::Binary(response.body.clone()),
        ],
    )
    .map_err(db_problem)?;
    Ok(())
}

fn db_problem(e: PgError) -> Problem {
    Problem::internal(format!("idempotency store: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_method_path_and_body() {
        let a = fingerprint("POST", "/payments/intents", b"{\"x\":1}");
        assert_eq!(a, fingerprint("POST", "/payments/intents", b"{\"x\":1}"));
        assert_ne!(a, fingerprint("POST", "/payments/intents", b"{\"x\":2}"));
        assert_ne!(a, fingerprint("PUT", "/payments/intents", b"{\"x\":1}"));
        assert_ne!(a, fingerprint("POST", "/payments/intentsx", b"{\"x\":1}"));
    }

    #[test]
    fn keys_are_required_and_bounded() {
        assert_eq!(
            parse_key(None).unwrap_err().code,
            "idempotency_key_required"
        );
        assert!(parse_key(Some("")).is_err());
        assert!(parse_key(Some("has space")).is_err());
        assert!(parse_key(Some(&"k".repeat(256))).is_err());
        assert_eq!(
            parse_key(Some("0190b6a1-7a3c-7cc0-8f3e-6f1f2c3d4e5f"))
                .unwrap()
                .len(),
            36
        );
    }

    #[test]
    fn a_reused_key_is_a_422() {
        assert_eq!(mismatch().status, 422);
    }
}
