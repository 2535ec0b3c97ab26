//! `GET /dm/sync?since=<token>` (docs/dm.md, "Sync"): everything that changed for the user since
//! a token, for a client coming back online: new, edited and unsent messages (as they are now),
//! moved read pointers and membership changes of the conversations they are in, and their own
//! membership changes (added, removed). The token is a transaction-id boundary
//! (`pg_snapshot_xmin`): every change below it has committed or never will, so a change that
//! commits late is never skipped. Without `since`: no changes, just the current token.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_response as json, query_param, query_string};
use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;

use crate::changes;

/// Changes per answer; `has_more` says to call again with the answer's token.
pub const CHANGES_MAX: i64 = 500;

pub fn sync(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let since = match query_param(query_string(req), "since") {
        None => None,
        Some(t) => Some(parse_token(t)?),
    };
    let conn = db()?;
    let boundary: String = query(&conn, changes::BOUNDARY_SQL, &[])?.value(0, "b")?;
    let Some(since) = since else {
        return Ok(json(
            200,
            &json!({"changes": [], "token": boundary, "has_more": false}),
        ));
    };
    let rows = query(
        &conn,
        &changes::changes_sql("$1", "$2::text", "$3::text", "$4"),
        &[
            P::Uuid(ctx.user_id.to_string()),
            P::Str(since),
            P::Str(boundary.clone()),
            P::Int64(CHANGES_MAX + 1),
        ],
    )?;
    let has_more = rows.len() as i64 > CHANGES_MAX;
    let changes = (0..rows.len().min(CHANGES_MAX as usize))
        .map(|i| rows.value::<Value>(i, "change"))
        .collect::<Result<Vec<_>, _>>()?;
    // With more to come, the next call starts at the first transaction not fully returned.
    let token = if has_more {
        rows.value(CHANGES_MAX as usize, "txid")?
    } else {
        boundary
    };
    Ok(json(
        200,
        &json!({"changes": changes, "token": token, "has_more": has_more}),
    ))
}

/// A token this endpoint gave: a transaction id (digits).
fn parse_token(t: &str) -> Result<String, Problem> {
    if !changes::is_token(t) {
        return Err(Problem::invalid_field(
            "since",
            "is not a token this endpoint gave",
        ));
    }
    Ok(t.to_string())
}
