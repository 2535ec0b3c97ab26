//! The auth extractor: `Authorization: Bearer <access token>` → [`AuthContext`].
//!
//! 1. read the JWT's claims and refuse a malformed, foreign (`iss` ≠ `jwt_issuer`, `aud` ≠
//!    `jwt_audience`) or expired one before any cryptography;
//! 2. one Redis round trip (`MGET`) reads whether these exact token bytes were already verified
//!    with the current key set (`auth:verified:<sha256>` = a tag of `jwt_public_keys`) and the
//!    session's mirror entry ([`crate::session_mirror`]);
//! 3. verify the Ed25519 signature with `jwt_public_keys` unless it was, and remember the verdict
//!    until the token expires; a changed key set invalidates every remembered verdict;
//! 4. check the session is live: the mirror's answer, else `auth.live_sessions` in Postgres (a
//!    miss, or Redis down);
//! 3. hand the handler who is calling, how they authenticated and their roles.
//!
//! Failures are 401 problems with stable codes: `token_missing`, `token_invalid`,
//! `token_expired`, `session_revoked`.

use nexgate_platform::config::var;
use nexgate_platform::Problem;
use spin_sdk::http::Request;
use spin_sdk::pg4::ParameterValue;
use uuid::Uuid;

use crate::jwt::{self, AccessClaims, TokenError, TokenVerifier};
use crate::session_mirror::{self, Mirrored};

/// How old a step-up may be for a sensitive action.
pub const STEP_UP_MAX_AGE_SECS: i64 = 10 * 60;

/// How long ago the user may have last proved who they are for a sensitive change (MFA, recovery
/// codes, contact points): the same ten minutes.
pub const REAUTHENTICATION_MAX_AGE_SECS: i64 = 10 * 60;

/// Who is calling, after the token and the session were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// Authentication methods (RFC 8176) of the token: `pwd`, `otp`, ...
    pub amr: Vec<String>,
    /// When the user last proved who they are, Unix seconds.
    pub auth_time: i64,
    pub roles: Vec<String>,
}

impl AuthContext {
    fn from_claims(c: AccessClaims) -> Self {
        Self {
            user_id: c.sub,
            session_id: c.sid,
            amr: c.amr,
            auth_time: c.auth_time,
            roles: c.roles,
        }
    }

    /// Whether the token carries `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// 403 `step_up_required` unless the token proves a TOTP code (`otp` in `amr`) entered at most
    /// [`STEP_UP_MAX_AGE_SECS`] ago: what sensitive actions (payouts, payout-number changes)
    /// demand. Get one from `POST /auth/mfa/step-up`.
    pub fn require_step_up(&self, now_secs: i64) -> Result<(), Problem> {
        let fresh = now_secs - self.auth_time <= STEP_UP_MAX_AGE_SECS;
        if self.amr.iter().any(|m| m == "otp") && fresh {
            Ok(())
        } else {
            Err(
                Problem::new(403, "step_up_required", "A fresh second factor is required")
                    .with_detail(
                        "confirm with POST /auth/mfa/step-up (needs MFA enabled), then retry",
                    ),
            )
        }
    }

    /// 403 `reauthentication_required` unless the user proved who they are (a password, a TOTP
    /// code, or a sign-in) at most [`REAUTHENTICATION_MAX_AGE_SECS`] ago: what enrolling or
    /// removing MFA and regenerating recovery codes demand, so a stolen bearer token alone cannot
    /// take the account over. Get one from `POST /auth/reauthenticate` or `/auth/mfa/step-up`.
    pub fn require_recent_auth(&self, now_secs: i64) -> Result<(), Problem> {
        if now_secs - self.auth_time <= REAUTHENTICATION_MAX_AGE_SECS {
            Ok(())
        } else {
            Err(
                Problem::new(403, "reauthentication_required", "Confirm it is you first")
                    .with_detail(
                        "re-authenticate with POST /auth/reauthenticate {password} (or \
                         /auth/mfa/step-up {code} where MFA is on, or sign in again), then retry",
                    ),
            )
        }
    }

    /// 403 `role_required` unless the token carries `role`.
    pub fn require_role(&self, role: &str) -> Result<(), Problem> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(Problem::new(403, "role_required", "A role is required")
                .with_detail(format!("this action needs the `{role}` role")))
        }
    }
}

/// The token problems, each a 401 with a stable code.
fn token_problem(e: &TokenError) -> Problem {
    match e {
        TokenError::Expired => Problem::new(401, "token_expired", "The access token has expired")
            .with_detail("refresh it with POST /auth/refresh"),
        TokenError::BadKey(detail) => Problem::internal(format!("jwt_public_keys: {detail}")),
        other => Problem::new(401, "token_invalid", "The access token is invalid")
            .with_detail(other.to_string()),
    }
}

/// The bearer token of a request, if any.
pub fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.header("authorization")?.as_str()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Verifies a request's access token and session (see the module docs).
pub fn authenticate(req: &Request) -> Result<AuthContext, Problem> {
    let Some(token) = bearer_token(req) else {
        return Err(
            Problem::new(401, "token_missing", "Authentication is required")
                .with_detail("send `Authorization: Bearer <access token>`"),
        );
    };
    let issuer = var("jwt_issuer").map_err(Problem::internal)?;
    let audience = var("jwt_audience").map_err(Problem::internal)?;
    let jwks = var("jwt_public_keys").map_err(Problem::internal)?;
    let now = nexgate_platform::time::now_unix().0;
    // Structure, issuer, audience and expiry first: cheap, and no cryptography for a dead token.
    let claims = jwt::read_claims_unverified(token, &issuer, &audience, now)
        .map_err(|e| token_problem(&e))?;
    let context = AuthContext::from_claims(claims.clone());
    let prefix = var("redis_key_prefix").map_err(Problem::internal)?;
    let session_key = session_mirror::key(&prefix, context.session_id);
    let verified_key = session_mirror::verified_key(&prefix, token);
    let tag = session_mirror::key_set_tag(&jwks);

    // One Redis round trip answers both "was this exact token verified with these keys?" and
    // "is its session live?".
    let redis = var("redis_url")
        .and_then(|url| Ok(spin_sdk::redis::Connection::open(&url)?))
        .map_err(|e| eprintln!("auth extractor: Redis unavailable, asking Postgres: {e:#}"))
        .ok();
    let (verified, mirrored) = match &redis {
        Some(conn) => session_mirror::lookup_both(conn, &verified_key, &session_key)
            .unwrap_or_else(|e| {
                eprintln!("auth extractor: Redis lookup failed, asking Postgres: {e:?}");
                (None, Mirrored::Unknown)
            }),
        None => (None, Mirrored::Unknown),
    };
    if verified.as_deref() != Some(tag.as_bytes()) {
        TokenVerifier::from_jwks_json(&jwks, &issuer, &audience)
            .map_err(|e| Problem::internal(format!("jwt_public_keys: {e}")))?
            .verify(token, now)
            .map_err(|e| token_problem(&e))?;
        if let Some(conn) = &redis {
            let ttl_ms = (claims.exp - now) * 1000;
            if let Err(e) = session_mirror::remember_verified(conn, &verified_key, &tag, ttl_ms) {
                eprintln!("auth extractor: cannot remember a verified token: {e:?}");
            }
        }
    }
    let live = match mirrored {
        Mirrored::Live => true,
        Mirrored::Revoked => false,
        Mirrored::Unknown => {
            let live = live_in_postgres(context.session_id, context.user_id)?;
            if let Some(conn) = &redis {
                if let Err(e) = session_mirror::remember(conn, &session_key, live) {
                    eprintln!("auth extractor: cannot remember the session state: {e:?}");
                }
            }
            live
        }
    };
    if live {
        Ok(context)
    } else {
        Err(
            Problem::new(401, "session_revoked", "The session has ended")
                .with_detail("log in again"),
        )
    }
}

/// The verifier configured by `jwt_public_keys`, `jwt_issuer` and `jwt_audience`.
pub fn verifier_from_variables() -> Result<TokenVerifier, Problem> {
    let jwks = var("jwt_public_keys").map_err(Problem::internal)?;
    let issuer = var("jwt_issuer").map_err(Problem::internal)?;
    let audience = var("jwt_audience").map_err(Problem::internal)?;
    TokenVerifier::from_jwks_json(&jwks, &issuer, &audience)
        .map_err(|e| Problem::internal(format!("jwt_public_keys: {e}")))
}

/// Asks `auth.live_sessions` in the core database: through `sessions_db_url` in components whose
/// own database is elsewhere (the Notification Service's), else through `db_url`.
fn live_in_postgres(session_id: Uuid, user_id: Uuid) -> Result<bool, Problem> {
    let url = var("sessions_db_url")
        .or_else(|_| var("db_url"))
        .map_err(Problem::internal)?;
    let conn = nexgate_platform::db::open(&url)?;
    let rows = conn.query(
        "SELECT 1 AS live FROM auth.live_sessions WHERE session_id = $1 AND user_id = $2",
        &[
            ParameterValue::Uuid(session_id.to_string()),
            ParameterValue::Uuid(user_id.to_string()),
        ],
    )?;
    Ok(!rows.rows.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(amr: &[&str], auth_time: i64) -> AuthContext {
        AuthContext {
            user_id: Uuid::nil(),
            session_id: Uuid::nil(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            auth_time,
            roles: vec![],
        }
    }

    #[test]
    fn a_sensitive_change_needs_any_proof_no_older_than_ten_minutes() {
        assert!(ctx(&["pwd"], 1000).require_recent_auth(1000 + 600).is_ok());
        assert!(ctx(&["fed"], 1000).require_recent_auth(1000 + 10).is_ok());
        let stale = ctx(&["pwd", "otp"], 1000).require_recent_auth(1000 + 601);
        assert_eq!(stale.unwrap_err().code, "reauthentication_required");
    }

    #[test]
    fn step_up_needs_otp_no_older_than_ten_minutes() {
        assert!(ctx(&["pwd", "otp"], 1000)
            .require_step_up(1000 + 600)
            .is_ok());
        assert!(ctx(&["pwd", "otp"], 1000)
            .require_step_up(1000 + 601)
            .is_err());
        assert!(ctx(&["pwd"], 1000).require_step_up(1000).is_err());
        assert!(
            ctx(&["pwd", "mfa"], 1000).require_step_up(1000).is_err(),
            "recovery codes are not step-up"
        );
    }
}
