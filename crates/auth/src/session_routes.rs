//! Logging out and managing sessions (docs/auth.md, "Sessions"): every route here needs a valid
//! access token (the shared extractor).

use nexgate_authn::{authenticate, AuthContext};
use nexgate_platform::db::{open, query, transaction};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Serialize;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

use crate::http::{json, no_content};
use crate::session::{self, SESSIONS_PER_ACCOUNT_MAX};
use crate::settings::Settings;

fn revoke(
    ctx: &AuthContext,
    condition: &str,
    params: &[P],
    reason: &str,
) -> Result<Vec<Uuid>, Problem> {
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    let ids = transaction(&conn, |conn| {
        session::revoke_where(conn, condition, params, reason)
    })?;
    let _ = ctx;
    session::mirror_revoked(&settings, &ids);
    Ok(ids)
}

/// `POST /auth/logout`: ends this session.
pub fn logout(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    revoke(
        &ctx,
        "id = $1",
        &[P::Uuid(ctx.session_id.to_string())],
        "logout",
    )?;
    Ok(no_content())
}

/// `POST /auth/logout/all`: ends every session of the user, this one included.
pub fn logout_all(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    revoke(
        &ctx,
        "account_id = $1",
        &[P::Uuid(ctx.user_id.to_string())],
        "logout_all",
    )?;
    Ok(no_content())
}

/// `DELETE /auth/sessions/{id}`: ends one of the user's sessions; another user's is a 404.
pub fn delete_session(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    let owned = query(
        &conn,
        "SELECT revoked_at IS NULL AND expires_at > now() AS live FROM auth.sessions WHERE id = $1 AND account_id = $2",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
    )?;
    if owned.is_empty() || !owned.get::<bool>(0, "live").map_err(Problem::internal)? {
        return Err(Problem::not_found("no such live session"));
    }
    revoke(
        &ctx,
        "id = $1 AND account_id = $2",
        &[P::Uuid(id.to_string()), P::Uuid(ctx.user_id.to_string())],
        "revoked_by_user",
    )?;
    Ok(no_content())
}

#[derive(Serialize)]
struct DeviceView {
    id: String,
    name: String,
    platform: String,
    app_version: String,
}

#[derive(Serialize)]
struct SessionView {
    id: Uuid,
    device: DeviceView,
    ip: Option<String>,
    first_seen_at: String,
    last_seen_at: String,
    current: bool,
}

#[derive(Serialize)]
struct SessionList {
    items: Vec<SessionView>,
}

/// `GET /auth/sessions`: the user's live sessions, most recently used first (at most
/// [`SESSIONS_PER_ACCOUNT_MAX`], so no pagination is needed).
pub fn list_sessions(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    let rows = query(
        &conn,
        "SELECT id, device_id, device_name, device_platform, app_version, ip, \
                auth.rfc3339(created_at) AS first_seen_at, auth.rfc3339(last_seen_at) AS last_seen_at \
         FROM auth.sessions WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > now() \
         ORDER BY last_seen_at DESC, id DESC LIMIT $2",
        &[P::Uuid(ctx.user_id.to_string()), P::Int64(SESSIONS_PER_ACCOUNT_MAX)],
    )?;
    let e = Problem::internal;
    let mut items = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let id: Uuid = rows.get(i, "id").map_err(e)?;
        items.push(SessionView {
            id,
            device: DeviceView {
                id: rows.get(i, "device_id").map_err(e)?,
                name: rows.get(i, "device_name").map_err(e)?,
                platform: rows.get(i, "device_platform").map_err(e)?,
                app_version: rows.get(i, "app_version").map_err(e)?,
            },
            ip: rows.get(i, "ip").map_err(e)?,
            first_seen_at: rows.get(i, "first_seen_at").map_err(e)?,
            last_seen_at: rows.get(i, "last_seen_at").map_err(e)?,
            current: id == ctx.session_id,
        });
    }
    Ok(json(200, &SessionList { items }))
}

/// `GET /.well-known/jwks.json`: the public keys (variable `jwt_public_keys`), checked.
pub fn jwks() -> Result<Response, Problem> {
    nexgate_authn::extractor::verifier_from_variables()?;
    let keys = nexgate_platform::config::var("jwt_public_keys").map_err(Problem::internal)?;
    let parsed: serde_json::Value = serde_json::from_str(&keys).map_err(Problem::internal)?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/jwk-set+json")
        .header("cache-control", "public, max-age=300")
        .body(serde_json::to_vec(&parsed).unwrap_or_default())
        .build())
}
