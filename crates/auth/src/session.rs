//! Sessions and their tokens: starting a session (login, registration), issuing access tokens,
//! and revoking sessions with their Redis tombstones.

use nexgate_authn::jwt::{AccessClaims, TokenSigner};
use nexgate_authn::session_mirror;
use nexgate_platform::db::query;
use nexgate_platform::ids::new_id;
use nexgate_platform::Problem;
use serde::Serialize;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::device::Device;
use crate::secrets::{new_refresh_token, sha256_hex};
use crate::settings::Settings;

/// Live sessions one account may hold; a new login past it ends the least recently used one.
pub const SESSIONS_PER_ACCOUNT_MAX: i64 = 100;

/// What login, registration and refresh answer.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub user_id: Uuid,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub session_id: Uuid,
}

/// A session just started, before its tokens are issued.
pub struct Started {
    pub session_id: Uuid,
    pub refresh_token: String,
    /// The device's fingerprint was not known for this account.
    pub new_device: bool,
    /// Sessions ended to stay under [`SESSIONS_PER_ACCOUNT_MAX`]; tombstone them after commit.
    pub evicted: Vec<Uuid>,
}

/// The signer from the `jwt_private_key` variable (issuing components only).
pub fn signer_from_variables() -> Result<TokenSigner, Problem> {
    let jwk = nexgate_platform::config::var("jwt_private_key").map_err(Problem::internal)?;
    TokenSigner::from_jwk_json(&jwk).map_err(|e| Problem::internal(format!("jwt_private_key: {e}")))
}

/// Starts a session inside the caller's transaction: the session row, its first refresh token,
/// the known-device record, and the per-account cap.
pub fn start(
    conn: &Connection,
    settings: &Settings,
    account_id: Uuid,
    device: &Device,
    ip: Option<&str>,
    amr: &str,
) -> Result<Started, Problem> {
    let session_id = new_id();
    let fingerprint = device.fingerprint();
    conn.execute(
        "INSERT INTO auth.sessions (id, account_id, device_id, device_name, device_platform, app_version, \
             device_fingerprint, ip, amr, auth_time, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now() + make_interval(secs => $10))",
        &[
            P::Uuid(session_id.to_string()),
            P::Uuid(account_id.to_string()),
            P::Str(device.id.clone()),
            P::Str(device.name.clone()),
            P::Str(device.platform.clone()),
            P::Str(device.app_version.clone()),
            P::Str(fingerprint.clone()),
            ip.map_or(P::DbNull, |i| P::Str(i.to_string())),
            P::Str(amr.to_string()),
            P::Floating64(settings.refresh_token_ttl_secs as f64),
        ],
    )?;
    let refresh_token = new_refresh_token().map_err(Problem::internal)?;
    insert_refresh_token(conn, settings, session_id, 1, &refresh_token)?;
    let device_rows = query(
        conn,
        "INSERT INTO auth.known_devices (account_id, device_fingerprint) VALUES ($1, $2) \
         ON CONFLICT (account_id, device_fingerprint) DO UPDATE SET last_seen_at = now() \
         RETURNING (xmax = 0) AS inserted",
        &[P::Uuid(account_id.to_string()), P::Str(fingerprint)],
    )?;
    let new_device = device_rows
        .get::<bool>(0, "inserted")
        .map_err(Problem::internal)?;
    let evicted_rows = query(
        conn,
        "UPDATE auth.sessions SET revoked_at = now(), revoke_reason = 'session_limit' \
         WHERE id IN (SELECT id FROM auth.sessions WHERE account_id = $1 AND revoked_at IS NULL \
                      ORDER BY last_seen_at DESC OFFSET $2) \
         RETURNING id",
        &[
            P::Uuid(account_id.to_string()),
            P::Int64(SESSIONS_PER_ACCOUNT_MAX),
        ],
    )?;
    let evicted = evicted_rows.column::<Uuid>("id")?;
    Ok(Started {
        session_id,
        refresh_token,
        new_device,
        evicted,
    })
}

/// Stores a refresh token (hashed) as generation `generation` of its session.
pub fn insert_refresh_token(
    conn: &Connection,
    settings: &Settings,
    session_id: Uuid,
    generation: i32,
    token: &str,
) -> Result<(), Problem> {
    conn.execute(
        "INSERT INTO auth.refresh_tokens (token_hash, session_id, generation, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        &[
            P::Str(sha256_hex(token)),
            P::Uuid(session_id.to_string()),
            P::Int32(generation),
            P::Floating64(settings.refresh_token_ttl_secs as f64),
        ],
    )?;
    Ok(())
}

/// The account's roles, for the `roles` claim.
pub fn roles(conn: &Connection, account_id: Uuid) -> Result<Vec<String>, Problem> {
    let rows = query(
        conn,
        "SELECT role FROM auth.account_roles WHERE account_id = $1 ORDER BY role",
        &[P::Uuid(account_id.to_string())],
    )?;
    rows.column::<String>("role")
}

/// The answer to a fresh proof of identity inside a live session (re-authentication, step-up):
/// an access token for the same session with `method` added to `amr` and `auth_time` now.
pub fn renewed_for_fresh_proof(
    signer: &TokenSigner,
    settings: &Settings,
    ctx: &nexgate_authn::AuthContext,
    method: &str,
    roles: Vec<String>,
) -> serde_json::Value {
    let mut amr = ctx.amr.clone();
    if !amr.iter().any(|m| m == method) {
        amr.push(method.to_string());
    }
    let now = nexgate_platform::time::now_unix().0;
    let token = access_token(
        signer,
        settings,
        ctx.user_id,
        ctx.session_id,
        &amr.join(" "),
        now,
        roles,
    );
    serde_json::json!({ "access_token": token, "token_type": "Bearer", "expires_in": settings.access_token_ttl_secs })
}

/// Signs an access token for a session.
pub fn access_token(
    signer: &TokenSigner,
    settings: &Settings,
    user_id: Uuid,
    session_id: Uuid,
    amr: &str,
    auth_time: i64,
    roles: Vec<String>,
) -> String {
    let now = nexgate_platform::time::now_unix().0;
    signer.sign(&AccessClaims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: user_id,
        sid: session_id,
        iat: now,
        exp: now + settings.access_token_ttl_secs,
        auth_time,
        amr: amr.split_whitespace().map(str::to_string).collect(),
        roles,
        jti: new_id(),
    })
}

/// What a token answer is made of: the session and how the user authenticated.
pub struct Grant {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub refresh_token: String,
    /// Space-separated RFC 8176 methods.
    pub amr: String,
    pub auth_time: i64,
    pub roles: Vec<String>,
}

/// The answer for a session with a new refresh token.
pub fn token_response(signer: &TokenSigner, settings: &Settings, grant: Grant) -> TokenResponse {
    TokenResponse {
        user_id: grant.user_id,
        access_token: access_token(
            signer,
            settings,
            grant.user_id,
            grant.session_id,
            &grant.amr,
            grant.auth_time,
            grant.roles,
        ),
        refresh_token: grant.refresh_token,
        token_type: "Bearer",
        expires_in: settings.access_token_ttl_secs,
        session_id: grant.session_id,
    }
}

/// After commit: marks a session live in the Redis mirror (a failure only costs the extractor a
/// Postgres query).
pub fn mirror_live(settings: &Settings, session_id: Uuid) {
    let result = settings.redis().ok().map(|conn| {
        session_mirror::mark_live(
            &conn,
            &session_mirror::key(&settings.redis_key_prefix, session_id),
        )
    });
    if let Some(Err(e)) = result {
        eprintln!("auth: cannot mirror session {session_id} as live: {e:?}");
    }
}

/// After commit: writes the tombstones of revoked sessions, so every component refuses their
/// tokens on the next request.
pub fn mirror_revoked(settings: &Settings, session_ids: &[Uuid]) {
    if session_ids.is_empty() {
        return;
    }
    match settings.redis() {
        Ok(conn) => {
            for id in session_ids {
                let key = session_mirror::key(&settings.redis_key_prefix, *id);
                if let Err(e) = session_mirror::mark_revoked(&conn, &key) {
                    eprintln!("auth: cannot mirror the revocation of session {id}: {e:?}");
                }
            }
        }
        Err(_) => eprintln!(
            "auth: {} revocations not mirrored (Redis down); live entries expire within {} s",
            session_ids.len(),
            session_mirror::LIVE_TTL_MS / 1000
        ),
    }
}

/// Revokes sessions matching `condition` (SQL over `auth.sessions`, with `$1`..), returning ids.
pub fn revoke_where(
    conn: &Connection,
    condition: &str,
    params: &[P],
    reason: &str,
) -> Result<Vec<Uuid>, Problem> {
    let reason_param = params.len() + 1;
    let mut all: Vec<P> = params.to_vec();
    all.push(P::Str(reason.to_string()));
    let rows = query(
        conn,
        &format!(
            "UPDATE auth.sessions SET revoked_at = now(), revoke_reason = ${reason_param} \
             WHERE revoked_at IS NULL AND ({condition}) RETURNING id"
        ),
        &all,
    )?;
    rows.column::<Uuid>("id")
}
