//! Re-authentication: proving again who you are before a sensitive change (docs/auth.md,
//! "Re-authentication").
//!
//! A bearer token alone must not be enough to enrol or remove MFA, regenerate recovery codes,
//! change an email or phone, or add a payout number: a stolen token would be enough to take the
//! account over. So those actions call [`AuthContext::require_recent_auth`]: the token's
//! `auth_time` must be at most ten minutes old. A user gets such a token by
//! - `POST /auth/reauthenticate` `{password}` (this module), for accounts with a password;
//! - `POST /auth/mfa/step-up` `{code}`, where MFA is on (it also adds `otp`, which payouts need);
//! - signing in again (a login, or a fresh identity-provider sign-in for accounts without one).
//!
//! [`AuthContext::require_recent_auth`]: nexgate_authn::extractor::AuthContext::require_recent_auth

use nexgate_authn::authenticate;
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::open;
use nexgate_platform::Problem;
use serde::Deserialize;
use spin_sdk::http::{Request, Response};

use crate::http::{content_type, json};
use crate::password_flows::{current_password_field, has_password, verify_current_password};
use crate::session;
use crate::settings::Settings;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReauthenticateBody {
    password: String,
}

/// `POST /auth/reauthenticate` `{password}`: the right password (counted against the login
/// limits) answers an access token for the same session with `pwd` in `amr` and `auth_time` now.
/// An account without a password (made through an identity provider) gets 409
/// `password_not_set`: it re-authenticates by signing in with its provider again.
pub fn reauthenticate(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let body: ReauthenticateBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    current_password_field("password", &body.password)?;
    let settings = Settings::from_variables()?;
    let signer = session::signer_from_variables()?;
    let conn = open(&settings.db_url)?;
    if !has_password(&conn, ctx.user_id)? {
        return Err(
            Problem::conflict("password_not_set", "This account has no password")
                .with_detail("sign in again with your identity provider to re-authenticate"),
        );
    }
    verify_current_password(&settings, &conn, ctx.user_id, "password", &body.password)?;
    let roles = session::roles(&conn, ctx.user_id)?;
    Ok(json(
        200,
        &session::renewed_for_fresh_proof(&signer, &settings, &ctx, "pwd", roles),
    ))
}
