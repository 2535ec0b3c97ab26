//! `POST /internal/auth/jobs/purge` (the scheduler, hourly): deletes what auth no longer needs, in
//! bounded batches so one call never holds locks for long.
//!
//! Kept: rotated refresh tokens until they expire (reuse detection needs them); ended sessions for
//! 30 days (the sessions list and investigations); everything else a day past its expiry.

use nexgate_platform::db::query;
use nexgate_platform::Problem;
use serde_json::{json, Map, Value};
use spin_sdk::http::{Request, Response};

use crate::http::json;

/// Rows deleted per table per call.
pub const PURGE_BATCH_ROWS_MAX: i64 = 5_000;

/// Each purge: the table and which rows are done with.
const PURGES: &[(&str, &str, &str)] = &[
    (
        "registrations",
        "auth.registrations",
        "coalesce(completed_at, expires_at) < now() - interval '1 day'",
    ),
    (
        "mfa_challenges",
        "auth.mfa_challenges",
        "expires_at < now() - interval '1 day'",
    ),
    (
        "password_resets",
        "auth.password_resets",
        "expires_at < now() - interval '1 day'",
    ),
    (
        "contact_changes",
        "auth.contact_changes",
        "coalesce(completed_at, expires_at) < now() - interval '1 day'",
    ),
    (
        "refresh_tokens",
        "auth.refresh_tokens",
        "expires_at < now() - interval '1 day'",
    ),
    (
        "sessions",
        "auth.sessions",
        "coalesce(revoked_at, expires_at) < now() - interval '30 days'",
    ),
];

/// `POST /internal/auth/jobs/purge`.
pub fn purge(req: &Request) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let conn = nexgate_platform::db::open_from_variables()?;
    let mut deleted = Map::new();
    for (name, table, done) in PURGES {
        // ctid batches: a bounded DELETE without a sortable key.
        let rows = query(
            &conn,
            &format!(
                "WITH gone AS (DELETE FROM {table} WHERE ctid IN \
                     (SELECT ctid FROM {table} WHERE {done} LIMIT $1) RETURNING 1) \
                 SELECT count(*)::int8 AS n FROM gone"
            ),
            &[spin_sdk::pg4::ParameterValue::Int64(PURGE_BATCH_ROWS_MAX)],
        )?;
        deleted.insert(name.to_string(), Value::from(rows.value::<i64>(0, "n")?));
    }
    Ok(json(200, &json!({ "deleted": deleted })))
}
