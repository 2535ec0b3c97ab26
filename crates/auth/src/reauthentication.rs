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
use nexgate_platform::db::{open, query};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;

use crate::http::{content_type, json};
use crate::password_flows::verify_current_password;
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
    if body.password.is_empty()
        || body.password.chars().count() > crate::password::PASSWORD_CHARS_MAX
    {
        return Err(Problem::invalid_field(
            "password",
            "must be 1 to 128 characters",
        ));
    }
    let settings = Settings::from_variables()?;
    let signer = session::signer_from_variables()?;
    let conn = open(&settings.db_url)?;
    let has_password = !query(
        &conn,
        "SELECT 1 AS yes FROM auth.accounts WHERE id = $1 AND password_hash IS NOT NULL",
        &[P::Uuid(ctx.user_id.to_string())],
    )?
    .is_empty();
    if !has_password {
        return Err(
            Problem::conflict("password_not_set", "This account has no password")
                .with_detail("sign in again with your identity provider to re-authenticate"),
        );
    }
    verify_current_password(&settings, &conn, ctx.user_id, "password", &body.password)?;
    let mut amr = ctx.amr.clone();
    if !amr.iter().any(|m| m == "pwd") {
        amr.push("pwd".into());
    }
    let now = nexgate_platform::time::now_unix().0;
    let token = session::access_token(
        &signer,
        &settings,
        ctx.user_id,
        ctx.session_id,
        &amr.join(" "),
        now,
        session::roles(&conn, ctx.user_id)?,
    );
    Ok(json(
        200,
        &json!({ "access_token": token, "token_type": "Bearer", "expires_in": settings.access_token_ttl_secs }),
    ))
}
