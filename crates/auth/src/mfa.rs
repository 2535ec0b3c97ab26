//! Multi-factor authentication with TOTP (docs/auth.md, "MFA").
//!
//! - `POST /auth/mfa/totp/setup`: a new (pending) seed, as base32 and an `otpauth://` URI;
//! - `POST /auth/mfa/totp/enable` `{code}`: the first valid code turns MFA on and returns ten
//!   single-use recovery codes, shown this once;
//! - `POST /auth/mfa/totp/disable` `{code | recovery_code}`: turns it off;
//! - a password login with MFA on answers `{mfa_required, mfa_token}` ([`challenge`]), finished by
//!   `POST /auth/mfa/verify` `{mfa_token, code | recovery_code}`;
//! - `POST /auth/mfa/step-up` `{code}`: an access token for the same session whose `amr` has `otp`
//!   and whose `auth_time` is now, which sensitive actions demand (`AuthContext::require_step_up`).
//!
//! Every check of a code counts against the account's MFA failures (the login limits), and a TOTP
//! step is accepted once only.

use nexgate_authn::{authenticate, AuthContext};
use nexgate_events::catalogue::auth::{MfaDisabled, MfaEnabled, MfaRecoveryCodesRegenerated};
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{open, query, transaction};
use nexgate_platform::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::device::Device;
use crate::events::SCHEMA;
use crate::http::{client_ip, content_type, json, no_content};
use crate::rate_limit;
use crate::secret_box::SecretBox;
use crate::secrets::{new_refresh_token, random_bytes, sha256_hex};
use crate::session;
use crate::settings::Settings;
use crate::totp;
use nexgate_events::outbox::Outbox;

/// How long a login waits for its second factor.
pub const CHALLENGE_TTL_SECS: i64 = 5 * 60;
/// Codes tried per challenge.
pub const CHALLENGE_ATTEMPTS_MAX: i32 = 5;
/// Recovery codes made when MFA is enabled.
pub const RECOVERY_CODES: usize = 10;
/// The issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "Nexgate";

/// Either a TOTP code or a recovery code, exactly one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactorBody {
    mfa_token: Option<String>,
    code: Option<String>,
    recovery_code: Option<String>,
}

enum Factor {
    Totp(String),
    Recovery(String),
}

impl FactorBody {
    fn factor(&self, recovery_allowed: bool) -> Result<Factor, Problem> {
        match (&self.code, &self.recovery_code) {
            (Some(c), None) => {
                let c = c.trim();
                if c.len() != 6 || !c.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Problem::invalid_field("code", "must be 6 digits"));
                }
                Ok(Factor::Totp(c.to_string()))
            }
            (None, Some(r)) if recovery_allowed => {
                let r = normalise_recovery(r);
                // 16 characters (80 bits); 8 for codes handed out before they grew.
                if r.len() != RECOVERY_CODE_CHARS && r.len() != LEGACY_RECOVERY_CODE_CHARS {
                    return Err(Problem::invalid_field(
                        "recovery_code",
                        "must be a recovery code (xxxx-xxxx-xxxx-xxxx)",
                    ));
                }
                Ok(Factor::Recovery(r))
            }
            (None, Some(_)) => Err(Problem::invalid_field(
                "recovery_code",
                "is not accepted here; use a code from the authenticator",
            )),
            _ if recovery_allowed => Err(Problem::invalid_field(
                "code",
                "give exactly one of `code` and `recovery_code`",
            )),
            _ => Err(Problem::invalid_field("code", "is required")),
        }
    }
}

/// Random bytes of one recovery code: 80 bits, so a guess has no chance even at the login
/// limits (each code is also stored salted with its account, SHA-256).
const RECOVERY_CODE_BYTES: usize = 10;
/// Its base32 length (`xxxx-xxxx-xxxx-xxxx` without the dashes).
const RECOVERY_CODE_CHARS: usize = 16;
/// The length of the 40-bit codes handed out before; still accepted until used or replaced.
const LEGACY_RECOVERY_CODE_CHARS: usize = 8;

fn normalise_recovery(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn recovery_hash(account_id: Uuid, normalised: &str) -> String {
    sha256_hex(&format!("{account_id}:{normalised}"))
}

fn code_invalid() -> Problem {
    Problem::new(422, "code_invalid", "The code is wrong").with_field("code", "is wrong")
}

/// Counts one second-factor check for the account; past the login limits it is a 429.
fn count_check(settings: &Settings, account_id: Uuid) -> Result<(), Problem> {
    let key = settings.redis_key(&["mfa", "failures", &account_id.to_string()]);
    let rule = settings.login_rule(settings.login_failures_per_identifier_max);
    rate_limit::count_or_refuse(&settings.redis()?, &key, rule, "MFA")
}

fn forget_failures(settings: &Settings, account_id: Uuid) {
    if let Ok(redis) = settings.redis() {
        let key = settings.redis_key(&["mfa", "failures", &account_id.to_string()]);
        let _ = rate_limit::reset(&redis, &key);
    }
}

/// Checks a factor inside the caller's transaction (the TOTP row is locked, so two requests
/// cannot both spend one step). Returns the RFC 8176 method it proves, or `None` when wrong.
fn check_factor(
    conn: &Connection,
    sealer: &SecretBox,
    account_id: Uuid,
    factor: &Factor,
    require_enabled: bool,
) -> Result<Option<&'static str>, Problem> {
    match factor {
        Factor::Totp(code) => {
            let rows = query(
                conn,
                "SELECT secret_sealed, enabled_at IS NOT NULL AS enabled, last_used_step \
                 FROM auth.mfa_totp WHERE account_id = $1 FOR UPDATE",
                &[P::Uuid(account_id.to_string())],
            )?;
            if rows.is_empty() {
                return Err(mfa_not_set_up());
            }
            if require_enabled && !rows.value::<bool>(0, "enabled")? {
                return Err(mfa_not_enabled());
            }
            let secret = sealer.open(account_id, &rows.value::<Vec<u8>>(0, "secret_sealed")?)?;
            let last: i64 = rows.value(0, "last_used_step")?;
            let now = nexgate_platform::time::now_unix().0.max(0) as u64;
            let Some(step) = totp::matching_step(&secret, code, now, last.max(0) as u64) else {
                return Ok(None);
            };
            conn.execute(
                "UPDATE auth.mfa_totp SET last_used_step = $2 WHERE account_id = $1",
                &[P::Uuid(account_id.to_string()), P::Int64(step as i64)],
            )?;
            Ok(Some("otp"))
        }
        Factor::Recovery(code) => {
            let spent = query(
                conn,
                "UPDATE auth.mfa_recovery_codes SET used_at = now() \
                 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING 1 AS spent",
                &[
                    P::Uuid(account_id.to_string()),
                    P::Str(recovery_hash(account_id, code)),
                ],
            )?;
            Ok((!spent.is_empty()).then_some("mfa"))
        }
    }
}

fn mfa_not_set_up() -> Problem {
    Problem::conflict(
        "mfa_not_set_up",
        "set up TOTP first: POST /auth/mfa/totp/setup",
    )
}

fn mfa_not_enabled() -> Problem {
    Problem::conflict("mfa_not_enabled", "MFA is not enabled on this account")
}

#[derive(Serialize)]
struct Setup {
    secret: String,
    otpauth_uri: String,
}

/// `POST /auth/mfa/totp/setup`.
pub fn setup(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let settings = Settings::from_variables()?;
    let sealer = SecretBox::from_variables()?;
    let conn = open(&settings.db_url)?;
    let secret = random_bytes::<{ totp::SECRET_BYTES }>().map_err(Problem::internal)?;
    let sealed = sealer.seal(ctx.user_id, &secret)?;
    let label = transaction(&conn, |conn| -> Result<String, Problem> {
        let rows = query(
            conn,
            "SELECT coalesce(a.email, a.phone) AS label, m.enabled_at IS NOT NULL AS enabled \
             FROM auth.accounts a LEFT JOIN auth.mfa_totp m ON m.account_id = a.id \
             WHERE a.id = $1 FOR UPDATE OF a",
            &[P::Uuid(ctx.user_id.to_string())],
        )?;
        if rows.is_empty() {
            return Err(Problem::not_found("no such account"));
        }
        if rows.value::<Option<bool>>(0, "enabled")? == Some(true) {
            return Err(Problem::conflict(
                "mfa_already_enabled",
                "MFA is already on; disable it first to change the authenticator",
            ));
        }
        conn.execute(
            "INSERT INTO auth.mfa_totp (account_id, secret_sealed) VALUES ($1, $2) \
             ON CONFLICT (account_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, \
                 last_used_step = 0, created_at = now()",
            &[P::Uuid(ctx.user_id.to_string()), P::Binary(sealed)],
        )?;
        rows.value(0, "label")
    })?;
    Ok(json(
        200,
        &Setup {
            secret: totp::base32(&secret),
            otpauth_uri: totp::otpauth_uri(TOTP_ISSUER, &label, &secret),
        },
    ))
}

/// `POST /auth/mfa/totp/enable`.
pub fn enable(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let body: FactorBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let factor = body.factor(false)?;
    let settings = Settings::from_variables()?;
    let sealer = SecretBox::from_variables()?;
    count_check(&settings, ctx.user_id)?;
    let conn = open(&settings.db_url)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let codes = transaction(&conn, |conn| -> Result<Option<Vec<String>>, Problem> {
        let state = query(
            conn,
            "SELECT enabled_at IS NOT NULL AS enabled FROM auth.mfa_totp WHERE account_id = $1",
            &[P::Uuid(ctx.user_id.to_string())],
        )?;
        if state.is_empty() {
            return Err(mfa_not_set_up());
        }
        if state.value::<bool>(0, "enabled")? {
            return Err(Problem::conflict(
                "mfa_already_enabled",
                "MFA is already on",
            ));
        }
        if check_factor(conn, &sealer, ctx.user_id, &factor, false)?.is_none() {
            return Ok(None);
        }
        conn.execute(
            "UPDATE auth.mfa_totp SET enabled_at = now() WHERE account_id = $1",
            &[P::Uuid(ctx.user_id.to_string())],
        )?;
        let codes = replace_recovery_codes(conn, ctx.user_id)?;
        mfa_event(conn, &mut outbox, &ctx, true)?;
        Ok(Some(codes))
    })?;
    let Some(codes) = codes else {
        return Err(code_invalid());
    };
    forget_failures(&settings, ctx.user_id);
    outbox.publish(&conn);
    Ok(json(
        200,
        &json!({ "enabled": true, "recovery_codes": codes }),
    ))
}

/// Replaces the account's recovery codes with [`RECOVERY_CODES`] new ones (inside the caller's
/// transaction); answers them as the user sees them (`abcd-efgh`), the only time they are shown.
fn replace_recovery_codes(conn: &Connection, user_id: Uuid) -> Result<Vec<String>, Problem> {
    conn.execute(
        "DELETE FROM auth.mfa_recovery_codes WHERE account_id = $1",
        &[P::Uuid(user_id.to_string())],
    )?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let raw = totp::base32(&random_bytes::<RECOVERY_CODE_BYTES>().map_err(Problem::internal)?)
            .to_lowercase();
        conn.execute(
            "INSERT INTO auth.mfa_recovery_codes (account_id, code_hash) VALUES ($1, $2)",
            &[
                P::Uuid(user_id.to_string()),
                P::Str(recovery_hash(user_id, &raw)),
            ],
        )?;
        let groups: Vec<&str> = (0..raw.len()).step_by(4).map(|i| &raw[i..i + 4]).collect();
        codes.push(groups.join("-"));
    }
    Ok(codes)
}

/// `POST /auth/mfa/recovery-codes`: new recovery codes for an account with MFA on; the old ones
/// stop working. Needs a recent re-authentication (docs/auth.md, "Re-authentication").
/// The owner hears of it (`auth.mfa.recovery_codes_regenerated`).
pub fn regenerate_recovery_codes(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let codes = transaction(&conn, |conn| -> Result<Vec<String>, Problem> {
        let state = query(
            conn,
            "SELECT enabled_at IS NOT NULL AS enabled FROM auth.mfa_totp WHERE account_id = $1 \
             FOR UPDATE",
            &[P::Uuid(ctx.user_id.to_string())],
        )?;
        if state.is_empty() || !state.value::<bool>(0, "enabled")? {
            return Err(Problem::conflict(
                "mfa_not_enabled",
                "recovery codes exist only while MFA is on",
            ));
        }
        let codes = replace_recovery_codes(conn, ctx.user_id)?;
        outbox.record(
            conn,
            Some(ctx.user_id),
            ("account", ctx.user_id.to_string()),
            vec![ctx.user_id],
            &MfaRecoveryCodesRegenerated {
                session_id: ctx.session_id,
                at: nexgate_platform::time::now_rfc3339(),
            },
        )?;
        Ok(codes)
    })?;
    outbox.publish(&conn);
    Ok(json(200, &json!({ "recovery_codes": codes })))
}

/// `POST /auth/mfa/totp/disable`.
pub fn disable(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(nexgate_platform::time::now_unix().0)?;
    let body: FactorBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let factor = body.factor(true)?;
    let settings = Settings::from_variables()?;
    let sealer = SecretBox::from_variables()?;
    count_check(&settings, ctx.user_id)?;
    let conn = open(&settings.db_url)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let done = transaction(&conn, |conn| -> Result<bool, Problem> {
        if check_factor(conn, &sealer, ctx.user_id, &factor, true)?.is_none() {
            return Ok(false);
        }
        conn.execute(
            "DELETE FROM auth.mfa_totp WHERE account_id = $1",
            &[P::Uuid(ctx.user_id.to_string())],
        )?;
        conn.execute(
            "DELETE FROM auth.mfa_recovery_codes WHERE account_id = $1",
            &[P::Uuid(ctx.user_id.to_string())],
        )?;
        mfa_event(conn, &mut outbox, &ctx, false)?;
        Ok(true)
    })?;
    if !done {
        return Err(code_invalid());
    }
    forget_failures(&settings, ctx.user_id);
    outbox.publish(&conn);
    Ok(no_content())
}

fn mfa_event(
    conn: &Connection,
    outbox: &mut Outbox,
    ctx: &AuthContext,
    enabled: bool,
) -> Result<(), Problem> {
    let (method, session_id, at) = (
        "totp".to_string(),
        ctx.session_id,
        nexgate_platform::time::now_rfc3339(),
    );
    let subject = ("account", ctx.user_id.to_string());
    let audience = vec![ctx.user_id];
    if enabled {
        let data = MfaEnabled {
            method,
            session_id,
            at,
        };
        outbox.record(conn, Some(ctx.user_id), subject, audience, &data)
    } else {
        let data = MfaDisabled {
            method,
            session_id,
            at,
        };
        outbox.record(conn, Some(ctx.user_id), subject, audience, &data)
    }
}

/// After a correct first factor (`pwd`, or `fed` for an identity provider) with MFA on: a
/// challenge instead of a session.
pub fn challenge(
    conn: &Connection,
    account_id: Uuid,
    device: &Device,
    ip: Option<&str>,
    first_factor: &str,
) -> Result<Response, Problem> {
    let token = new_refresh_token().map_err(Problem::internal)?;
    conn.execute(
        "INSERT INTO auth.mfa_challenges (token_hash, account_id, device_id, device_name, device_platform, \
             app_version, ip, expires_at, first_factor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8), $9)",
        &[
            P::Str(sha256_hex(&token)),
            P::Uuid(account_id.to_string()),
            P::Str(device.id.clone()),
            P::Str(device.name.clone()),
            P::Str(device.platform.clone()),
            P::Str(device.app_version.clone()),
            ip.map_or(P::DbNull, |i| P::Str(i.into())),
            P::Floating64(CHALLENGE_TTL_SECS as f64),
            P::Str(first_factor.into()),
        ],
    )?;
    Ok(json(
        200,
        &json!({ "mfa_required": true, "mfa_token": token, "expires_in": CHALLENGE_TTL_SECS }),
    ))
}

fn challenge_invalid() -> Problem {
    Problem::new(
        401,
        "mfa_token_invalid",
        "The MFA challenge is invalid or expired",
    )
    .with_detail("log in again")
}

/// `POST /auth/mfa/verify`: finishes a login that needs a second factor.
pub fn verify(req: &Request, component: &str) -> Result<Response, Problem> {
    let body: FactorBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let token = body
        .mfa_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| Problem::invalid_field("mfa_token", "is required"))?
        .to_string();
    let factor = body.factor(true)?;
    let settings = Settings::from_variables()?;
    let sealer = SecretBox::from_variables()?;
    let signer = session::signer_from_variables()?;
    let conn = open(&settings.db_url)?;
    let hash = sha256_hex(&token);
    let owner = query(
        &conn,
        "SELECT account_id FROM auth.mfa_challenges WHERE token_hash = $1",
        &[P::Str(hash.clone())],
    )?;
    if owner.is_empty() {
        return Err(challenge_invalid());
    }
    count_check(&settings, owner.value(0, "account_id")?)?;
    let outcome = transaction(&conn, |conn| -> Result<Result<_, i32>, Problem> {
        let rows = query(
            conn,
            "SELECT account_id, device_id, device_name, device_platform, app_version, ip, attempts, \
                    first_factor, used_at IS NULL AND expires_at > now() AS usable \
             FROM auth.mfa_challenges WHERE token_hash = $1 FOR UPDATE",
            &[P::Str(hash.clone())],
        )?;
        let attempts: i32 = rows.value(0, "attempts")?;
        if !rows.value::<bool>(0, "usable")? || attempts >= CHALLENGE_ATTEMPTS_MAX {
            return Err(challenge_invalid());
        }
        let account_id: Uuid = rows.value(0, "account_id")?;
        let Some(method) = check_factor(conn, &sealer, account_id, &factor, true)? else {
            conn.execute(
                "UPDATE auth.mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1",
                &[P::Str(hash.clone())],
            )?;
            return Ok(Err(CHALLENGE_ATTEMPTS_MAX - attempts - 1));
        };
        conn.execute(
            "UPDATE auth.mfa_challenges SET used_at = now() WHERE token_hash = $1",
            &[P::Str(hash.clone())],
        )?;
        let device = Device {
            id: rows.value(0, "device_id")?,
            name: rows.value(0, "device_name")?,
            platform: rows.value(0, "device_platform")?,
            app_version: rows.value(0, "app_version")?,
        };
        let ip: Option<String> = rows.value(0, "ip")?;
        let first: String = rows.value(0, "first_factor")?;
        Ok(Ok((account_id, device, ip, format!("{first} {method}"))))
    })?;
    match outcome {
        Err(left) => Err(code_invalid().with_detail(format!("{} attempts left", left.max(0)))),
        Ok((account_id, device, ip, method)) => {
            forget_failures(&settings, account_id);
            let ip = ip.or_else(|| client_ip(req));
            crate::login::finish_login(
                &conn,
                &settings,
                &signer,
                component,
                account_id,
                &device,
                ip.as_deref(),
                &method,
            )
        }
    }
}

/// `POST /auth/mfa/step-up`: a fresh TOTP code buys an access token with `otp` in `amr` and
/// `auth_time` now, for the same session.
pub fn step_up(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let body: FactorBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let factor = body.factor(false)?;
    let settings = Settings::from_variables()?;
    let sealer = SecretBox::from_variables()?;
    let signer = session::signer_from_variables()?;
    count_check(&settings, ctx.user_id)?;
    let conn = open(&settings.db_url)?;
    let roles = transaction(&conn, |conn| -> Result<Option<Vec<String>>, Problem> {
        if check_factor(conn, &sealer, ctx.user_id, &factor, true)?.is_none() {
            return Ok(None);
        }
        Ok(Some(session::roles(conn, ctx.user_id)?))
    })?;
    let Some(roles) = roles else {
        return Err(code_invalid());
    };
    forget_failures(&settings, ctx.user_id);
    Ok(json(
        200,
        &session::renewed_for_fresh_proof(&signer, &settings, &ctx, "otp", roles),
    ))
}
