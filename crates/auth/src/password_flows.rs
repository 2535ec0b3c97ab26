//! Forgotten and changed passwords (docs/auth.md, "Passwords").
//!
//! - `POST /auth/password/forgot` `{identifier}`: the same 202 whether or not an account exists;
//!   when one does, a single-use reset token (256 bits, stored hashed, 30 minutes) goes to its
//!   verified email (else phone) in `auth.password_reset.requested`, a secret-carrying event.
//! - `POST /auth/password/reset` `{token, new_password}`: sets the password, spends the token and
//!   ends every session of the account.
//! - `POST /auth/password/change` `{current_password, new_password}` (logged in): needs the current
//!   password (its failures count like logins), ends every other session.
//!
//! Each change emits `auth.password.changed`, so the owner hears of it.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::auth::{PasswordChanged, PasswordResetRequested};
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::config::var;
use nexgate_platform::db::{open, query, transaction};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::events::SCHEMA;
use crate::http::{client_ip, content_type, json, no_content};
use crate::identifier::{Channel, LoginIdentifier};
use crate::password;
use crate::rate_limit::{self, Attempt, Rule};
use crate::secrets::{new_refresh_token, sha256_hex};
use crate::session;
use crate::settings::Settings;
use nexgate_events::outbox::Outbox;

/// How long a reset token works.
pub const RESET_TOKEN_TTL_SECS: i64 = 30 * 60;
/// Longest reset token accepted (ours are 43 characters).
const RESET_TOKEN_CHARS_MAX: usize = 128;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgotBody {
    identifier: String,
}

/// The one answer of `POST /auth/password/forgot`, whether or not an account exists.
pub fn forgot_accepted() -> Response {
    json(
        202,
        &json!({ "status": "if the account exists, a reset link is on its way" }),
    )
}

/// A reset request counted and accepted: the link is sent, if an account exists, *after* the
/// answer ([`ResetRequest::send_link`]), so the answer takes the same time either way.
pub struct ResetRequest {
    identifier: LoginIdentifier,
    settings: Settings,
}

/// `POST /auth/password/forgot`, up to its answer: checks the body and counts the request (both
/// the same for every identifier). `Ok(None)`: over the limit, nothing will be sent; `Ok(Some)`:
/// answer [`forgot_accepted`], then call [`ResetRequest::send_link`].
pub fn forgot(req: &Request) -> Result<Option<ResetRequest>, Problem> {
    let body: ForgotBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let identifier = LoginIdentifier::parse(&body.identifier)
        .map_err(|m| Problem::invalid_field("identifier", m))?;
    let settings = Settings::from_variables()?;
    let redis = settings.redis()?;
    let key = settings.redis_key(&["password_reset", &sha256_hex(&identifier.limit_key())]);
    // Reset requests per identifier per hour (default 3).
    let limit = var("password_resets_per_identifier_per_hour_max")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Problem::internal(
                "password_resets_per_identifier_per_hour_max is not a positive number",
            )
        })?;
    let hourly = Rule {
        limit,
        window_ms: 3_600_000,
        lockout_base_ms: 3_600_000,
        lockout_max_ms: 3_600_000,
    };
    let counted = rate_limit::attempt(&redis, &key, hourly).map_err(|e| {
        eprintln!("auth: reset counter failed: {e:?}");
        Problem::unavailable("the session store is unavailable")
    })?;
    // Over the limit: the same answer (it reveals nothing), and nothing sent.
    Ok(matches!(counted, Attempt::Allowed).then_some(ResetRequest {
        identifier,
        settings,
    }))
}

impl ResetRequest {
    /// Sends the reset link when an account has the identifier (after the answer: failures are
    /// logged, the user may ask again).
    pub fn send_link(self, component: &str) {
        if let Err(e) = self.try_send_link(component) {
            eprintln!("auth: a reset link was not sent: {e:?}");
        }
    }

    fn try_send_link(self, component: &str) -> Result<(), Problem> {
        let conn = open(&self.settings.db_url)?;
        let Some((account_id, channel, address)) = reset_destination(&conn, &self.identifier)?
        else {
            return Ok(());
        };
        let token = new_refresh_token().map_err(Problem::internal)?;
        let base = var("public_base_url").map_err(Problem::internal)?;
        let link = format!(
            "{}/reset-password?token={token}",
            base.trim_end_matches('/')
        );
        let expires_at = nexgate_platform::time::rfc3339(
            nexgate_platform::time::now_unix().0 + RESET_TOKEN_TTL_SECS,
            0,
        );
        let mut outbox = Outbox::new(SCHEMA, component)?;
        transaction(&conn, |conn| -> Result<(), Problem> {
            conn.execute(
                "INSERT INTO auth.password_resets (token_hash, account_id, channel, expires_at) \
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                &[
                    P::Str(sha256_hex(&token)),
                    P::Uuid(account_id.to_string()),
                    P::Str(channel.as_str().into()),
                    P::Floating64(RESET_TOKEN_TTL_SECS as f64),
                ],
            )?;
            outbox.record(
                conn,
                Some(account_id),
                ("account", account_id.to_string()),
                vec![account_id],
                &PasswordResetRequested {
                    channel: channel.as_str().to_string(),
                    address,
                    token,
                    link,
                    expires_at,
                },
            )
        })?;
        outbox.publish(&conn);
        Ok(())
    }
}

/// The account and its verified address to send a reset to (email first).
fn reset_destination(
    conn: &Connection,
    identifier: &LoginIdentifier,
) -> Result<Option<(Uuid, Channel, String)>, Problem> {
    let (condition, value) = match identifier {
        LoginIdentifier::Email(e) => ("a.email = $1", e.as_str().to_string()),
        LoginIdentifier::Phone(p) => ("a.phone = $1", p.as_str().to_string()),
        LoginIdentifier::Username(u) => ("a.id = profiles.user_id_by_username($1)", u.clone()),
    };
    let rows = query(
        conn,
        &format!(
            "SELECT c.user_id, c.email, c.phone FROM auth.accounts a \
             JOIN auth.contact_points c ON c.user_id = a.id WHERE {condition}"
        ),
        &[P::Str(value)],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let id: Uuid = rows.value(0, "user_id")?;
    if let Some(email) = rows.value::<Option<String>>(0, "email")? {
        return Ok(Some((id, Channel::Email, email)));
    }
    Ok(rows
        .value::<Option<String>>(0, "phone")?
        .map(|phone| (id, Channel::Phone, phone)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    new_password: String,
}

fn reset_token_invalid() -> Problem {
    Problem::new(
        400,
        "reset_token_invalid",
        "The reset link is invalid or expired",
    )
    .with_detail("ask for a new one with POST /auth/password/forgot")
}

/// `POST /auth/password/reset`.
pub fn reset(req: &Request, component: &str) -> Result<Response, Problem> {
    let body: ResetBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let token = body.token.trim();
    if token.is_empty() || token.len() > RESET_TOKEN_CHARS_MAX {
        return Err(Problem::invalid_field("token", "is not a reset token"));
    }
    password::check_policy(&body.new_password)
        .map_err(|m| Problem::invalid_field("new_password", m))?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    // The token first: a made-up one costs a lookup, not an argon2 hash (the claim below stays
    // the single-use check).
    let live = query(
        &conn,
        "SELECT 1 AS live FROM auth.password_resets \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()",
        &[P::Str(sha256_hex(token))],
    )?;
    if live.is_empty() {
        return Err(reset_token_invalid());
    }
    let hash = password::hash(&body.new_password).map_err(Problem::internal)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let ip = client_ip(req);
    let revoked = transaction(&conn, |conn| -> Result<Vec<Uuid>, Problem> {
        let rows = query(
            conn,
            "UPDATE auth.password_resets SET used_at = now() \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING account_id",
            &[P::Str(sha256_hex(token))],
        )?;
        if rows.is_empty() {
            return Err(reset_token_invalid());
        }
        let account_id: Uuid = rows.value(0, "account_id")?;
        set_password(conn, account_id, &hash)?;
        let revoked = session::revoke_where(
            conn,
            "account_id = $1",
            &[P::Uuid(account_id.to_string())],
            "password_reset",
        )?;
        // Any other outstanding reset link dies with this one.
        conn.execute(
            "UPDATE auth.password_resets SET used_at = now() WHERE account_id = $1 AND used_at IS NULL",
            &[P::Uuid(account_id.to_string())],
        )?;
        changed_event(conn, &mut outbox, account_id, "reset", ip.as_deref())?;
        Ok(revoked)
    })?;
    session::mirror_revoked(&settings, &revoked);
    outbox.publish(&conn);
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    current_password: String,
    new_password: String,
}

/// `POST /auth/password/change`.
pub fn change(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let body: ChangeBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    current_password_field("current_password", &body.current_password)?;
    password::check_policy(&body.new_password)
        .map_err(|m| Problem::invalid_field("new_password", m))?;
    if body.new_password == body.current_password {
        return Err(Problem::invalid_field(
            "new_password",
            "must differ from the current password",
        ));
    }
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    verify_current_password(
        &settings,
        &conn,
        ctx.user_id,
        "current_password",
        &body.current_password,
    )?;
    let hash = password::hash(&body.new_password).map_err(Problem::internal)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let ip = client_ip(req);
    let revoked = transaction(&conn, |conn| -> Result<Vec<Uuid>, Problem> {
        set_password(conn, ctx.user_id, &hash)?;
        let revoked = session::revoke_where(
            conn,
            "account_id = $1 AND id <> $2",
            &[
                P::Uuid(ctx.user_id.to_string()),
                P::Uuid(ctx.session_id.to_string()),
            ],
            "password_changed",
        )?;
        changed_event(conn, &mut outbox, ctx.user_id, "change", ip.as_deref())?;
        Ok(revoked)
    })?;
    session::mirror_revoked(&settings, &revoked);
    outbox.publish(&conn);
    Ok(no_content())
}

/// 422 naming `field` unless a typed current password has a plausible length (1 to 128
/// characters).
pub(crate) fn current_password_field(field: &str, password: &str) -> Result<(), Problem> {
    if password.is_empty() || password.chars().count() > password::PASSWORD_CHARS_MAX {
        return Err(Problem::invalid_field(field, "must be 1 to 128 characters"));
    }
    Ok(())
}

/// Whether the account has a password (accounts made through an identity provider have none).
pub(crate) fn has_password(conn: &Connection, user_id: Uuid) -> Result<bool, Problem> {
    Ok(!query(
        conn,
        "SELECT 1 AS yes FROM auth.accounts WHERE id = $1 AND password_hash IS NOT NULL",
        &[P::Uuid(user_id.to_string())],
    )?
    .is_empty())
}

/// Checks a logged-in user's current password (password change, contact change,
/// re-authentication), given in the body's `field`. Every check counts against one per-user
/// counter with the login limits: 429 past it, 403 `current_password_wrong` for a wrong one; a
/// right one clears the counter.
pub(crate) fn verify_current_password(
    settings: &Settings,
    conn: &Connection,
    user_id: Uuid,
    field: &str,
    password: &str,
) -> Result<(), Problem> {
    let redis = settings.redis()?;
    let key = settings.redis_key(&["password_check", "failures", &user_id.to_string()]);
    let rule = settings.login_rule(settings.login_failures_per_identifier_max);
    rate_limit::count_or_refuse(&redis, &key, rule, "password-check")?;
    let rows = query(
        conn,
        "SELECT password_hash FROM auth.accounts WHERE id = $1",
        &[P::Uuid(user_id.to_string())],
    )?;
    let stored: Option<String> = if rows.is_empty() {
        None
    } else {
        rows.value(0, "password_hash")?
    };
    if !password::verify(password, stored.as_deref()) {
        return Err(Problem::new(
            403,
            "current_password_wrong",
            "The current password is wrong",
        )
        .with_field(field, "is wrong"));
    }
    let _ = rate_limit::reset(&redis, &key);
    Ok(())
}

fn set_password(conn: &Connection, account_id: Uuid, hash: &str) -> Result<(), Problem> {
    conn.execute(
        "UPDATE auth.accounts SET password_hash = $2, password_changed_at = now(), updated_at = now() \
         WHERE id = $1",
        &[P::Uuid(account_id.to_string()), P::Str(hash.into())],
    )?;
    Ok(())
}

fn changed_event(
    conn: &Connection,
    outbox: &mut Outbox,
    account_id: Uuid,
    how: &str,
    ip: Option<&str>,
) -> Result<(), Problem> {
    outbox.record(
        conn,
        Some(account_id),
        ("account", account_id.to_string()),
        vec![account_id],
        &PasswordChanged {
            how: how.to_string(),
            ip: ip.map(str::to_string),
            changed_at: nexgate_platform::time::now_rfc3339(),
        },
    )
}
