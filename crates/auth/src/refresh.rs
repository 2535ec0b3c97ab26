//! `POST /auth/refresh`: rotates the refresh token (docs/auth.md, "Refresh").
//!
//! The session row is locked first, then the token re-read, so two refreshes of one family are
//! serialised. A token already rotated is a reuse: within `refresh_reuse_grace_ms` of its rotation
//! it is a racing retry of the app (409, nothing revoked); later it means the token leaked, and the
//! whole session (the family, including the newest token) is revoked.

use nexgate_events::catalogue::auth::SuspiciousActivityDetected;
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{open, query, transaction};
use nexgate_platform::Problem;
use serde::Deserialize;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::events::SCHEMA;
use crate::http::{client_ip, content_type, json};
use crate::secrets::{new_refresh_token, sha256_hex};
use crate::session;
use crate::settings::Settings;
use nexgate_events::outbox::Outbox;

/// Longest refresh token accepted (ours are 43 characters).
pub const REFRESH_TOKEN_CHARS_MAX: usize = 128;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

enum Outcome {
    Rotated(session::Grant),
    RetryInGrace,
    ReuseRevoked(Uuid),
}

/// The presented token, hashed as stored, and where the request came from.
struct Presented {
    token_hash: String,
    ip: Option<String>,
}

fn invalid() -> Problem {
    Problem::new(
        401,
        "refresh_token_invalid",
        "The refresh token is not valid",
    )
    .with_detail("log in again")
}

/// `POST /auth/refresh`.
pub fn refresh(req: &Request, component: &str) -> Result<Response, Problem> {
    let body: RefreshBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let presented = body.refresh_token.trim();
    if presented.is_empty() || presented.len() > REFRESH_TOKEN_CHARS_MAX {
        return Err(Problem::invalid_field(
            "refresh_token",
            "is not a refresh token",
        ));
    }
    let presented = Presented {
        token_hash: sha256_hex(presented),
        ip: client_ip(req),
    };
    let settings = Settings::from_variables()?;
    let signer = session::signer_from_variables()?;
    let conn = open(&settings.db_url)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let outcome = transaction(&conn, |conn| {
        rotate(conn, &settings, &mut outbox, &presented)
    })?;
    match outcome {
        Outcome::Rotated(grant) => {
            session::mirror_live(&settings, grant.session_id);
            Ok(json(
                200,
                &session::token_response(&signer, &settings, grant),
            ))
        }
        Outcome::RetryInGrace => Err(Problem::conflict(
            "refresh_token_rotated",
            "this refresh token was just rotated; use the newest one",
        )),
        Outcome::ReuseRevoked(session_id) => {
            session::mirror_revoked(&settings, &[session_id]);
            outbox.publish(&conn);
            Err(Problem::new(
                401,
                "refresh_token_reused",
                "The refresh token was already used",
            )
            .with_detail("the session was ended for safety; log in again"))
        }
    }
}

/// Inside the transaction: locks the token's session, then rotates the token, or answers a
/// reuse (a retry within the grace, or a leak that ends the session).
fn rotate(
    conn: &Connection,
    settings: &Settings,
    outbox: &mut Outbox,
    presented: &Presented,
) -> Result<Outcome, Problem> {
    let e = Problem::internal;
    let token_hash = P::Str(presented.token_hash.clone());
    let owner = query(
        conn,
        "SELECT session_id FROM auth.refresh_tokens WHERE token_hash = $1",
        std::slice::from_ref(&token_hash),
    )?;
    if owner.is_empty() {
        return Err(invalid());
    }
    let session_id: Uuid = owner.get(0, "session_id").map_err(e)?;
    let s = query(
        conn,
        "SELECT account_id, revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired, amr, \
                floor(extract(epoch FROM auth_time))::int8 AS auth_time \
         FROM auth.sessions WHERE id = $1 FOR UPDATE",
        &[P::Uuid(session_id.to_string())],
    )?;
    let user_id: Uuid = s.get(0, "account_id").map_err(e)?;
    if s.get::<bool>(0, "revoked").map_err(e)? || s.get::<bool>(0, "expired").map_err(e)? {
        return Err(invalid());
    }
    // Re-read under the session lock: a concurrent rotation is now visible.
    let t = query(
        conn,
        "SELECT generation, expires_at <= now() AS expired, \
                (extract(epoch FROM now() - rotated_at) * 1000)::int8 AS rotated_ms_ago \
         FROM auth.refresh_tokens WHERE token_hash = $1",
        std::slice::from_ref(&token_hash),
    )?;
    let generation: i32 = t.get(0, "generation").map_err(e)?;
    if let Some(ms_ago) = t.get::<Option<i64>>(0, "rotated_ms_ago").map_err(e)? {
        if ms_ago <= settings.refresh_reuse_grace_ms {
            return Ok(Outcome::RetryInGrace);
        }
        revoke_for_reuse(conn, outbox, (user_id, session_id), &presented.ip)?;
        return Ok(Outcome::ReuseRevoked(session_id));
    }
    if t.get::<bool>(0, "expired").map_err(e)? {
        return Err(invalid());
    }
    conn.execute(
        "UPDATE auth.refresh_tokens SET rotated_at = now() WHERE token_hash = $1",
        &[token_hash],
    )?;
    let token = new_refresh_token().map_err(Problem::internal)?;
    session::insert_refresh_token(conn, settings, session_id, generation + 1, &token)?;
    conn.execute(
        "UPDATE auth.sessions SET last_seen_at = now(), ip = coalesce($2, ip), \
             expires_at = now() + make_interval(secs => $3) WHERE id = $1",
        &[
            P::Uuid(session_id.to_string()),
            presented.ip.clone().map_or(P::DbNull, P::Str),
            P::Floating64(settings.refresh_token_ttl_secs as f64),
        ],
    )?;
    Ok(Outcome::Rotated(session::Grant {
        user_id,
        session_id,
        refresh_token: token,
        amr: s.get(0, "amr").map_err(e)?,
        auth_time: s.get(0, "auth_time").map_err(e)?,
        roles: session::roles(conn, user_id)?,
    }))
}

/// A rotated token came back after the grace: it leaked. The whole session ends, and the owner
/// hears of it.
fn revoke_for_reuse(
    conn: &Connection,
    outbox: &mut Outbox,
    (user_id, session_id): (Uuid, Uuid),
    ip: &Option<String>,
) -> Result<(), Problem> {
    session::revoke_where(
        conn,
        "id = $1",
        &[P::Uuid(session_id.to_string())],
        "refresh_token_reuse",
    )?;
    outbox.record(
        conn,
        None,
        ("session", session_id.to_string()),
        vec![user_id],
        &SuspiciousActivityDetected {
            reason: "refresh_token_reuse".to_string(),
            ip: ip.clone(),
            locked_for_secs: None,
            session_id: Some(session_id),
        },
    )
}
