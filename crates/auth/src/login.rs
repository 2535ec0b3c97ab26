//! `POST /auth/login` (docs/auth.md, "Login").
//!
//! Order matters: the body is checked, then the attempt is counted against the identifier and the
//! client IP (atomically, before any hashing), then the account is looked up and the password
//! verified (against a dummy hash when there is no account, so both cost the same), then a
//! session starts. Unknown user and wrong password get the same 401.

use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{open, query, transaction};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::device::{Device, DeviceInput};
use crate::http::{client_ip, content_type, json};
use crate::identifier::LoginIdentifier;
use crate::password;
use crate::rate_limit::{self, Attempt};
use crate::secrets::sha256_hex;
use crate::session;
use crate::settings::Settings;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    identifier: String,
    password: String,
    device: DeviceInput,
}

fn invalid_credentials() -> Problem {
    Problem::new(401, "invalid_credentials", "Wrong identifier or password")
}

/// `POST /auth/login`.
pub fn login(req: &Request, component: &str) -> Result<Response, Problem> {
    let body: LoginBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let identifier = LoginIdentifier::parse(&body.identifier)
        .map_err(|m| Problem::invalid_field("identifier", m))?;
    if body.password.is_empty() || body.password.chars().count() > password::PASSWORD_CHARS_MAX {
        return Err(Problem::invalid_field(
            "password",
            "must be 1 to 128 characters",
        ));
    }
    let device = Device::parse(body.device, "device")?;
    let settings = Settings::from_variables()?;
    let ip = client_ip(req);

    let redis = settings.redis()?;
    let id_key = settings.redis_key(&["login", "failures", &sha256_hex(&identifier.limit_key())]);
    let ip_key = ip
        .as_deref()
        .map(|ip| settings.redis_key(&["login", "failures", "ip", ip]));
    let conn = open(&settings.db_url)?;
    count_attempt(
        &settings,
        &redis,
        &conn,
        component,
        &identifier,
        &id_key,
        ip_key.as_deref(),
        ip.as_deref(),
    )?;

    let account = find_account(&conn, &identifier)?;
    let ok = password::verify(
        &body.password,
        account.as_ref().and_then(|a| a.password_hash.as_deref()),
    );
    let Some(account) = account.filter(|_| ok) else {
        return Err(invalid_credentials());
    };
    // A success does not count as a failure: forget the identifier's and take back the IP's.
    if let Err(e) = rate_limit::reset(&redis, &id_key) {
        eprintln!("auth: cannot reset the login counter: {e:?}");
    }
    if let Some(key) = &ip_key {
        if let Err(e) = rate_limit::forgive_one(&redis, key) {
            eprintln!("auth: cannot adjust the IP login counter: {e:?}");
        }
    }

    if mfa_enabled(&conn, account.id)? {
        return crate::mfa::challenge(&conn, account.id, &device, ip.as_deref(), "pwd");
    }
    let signer = session::signer_from_variables()?;
    finish_login(
        &conn,
        &settings,
        &signer,
        component,
        account.id,
        &device,
        ip.as_deref(),
        "pwd",
    )
}

fn mfa_enabled(conn: &Connection, account_id: Uuid) -> Result<bool, Problem> {
    let rows = query(
        conn,
        "SELECT 1 AS on FROM auth.mfa_totp WHERE account_id = $1 AND enabled_at IS NOT NULL",
        &[P::Uuid(account_id.to_string())],
    )?;
    Ok(!rows.is_empty())
}

/// Starts the session of a login whose every factor is checked, announces a new device, and
/// answers with the tokens.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish_login(
    conn: &Connection,
    settings: &Settings,
    signer: &nexgate_authn::jwt::TokenSigner,
    component: &str,
    account_id: Uuid,
    device: &Device,
    ip: Option<&str>,
    amr: &str,
) -> Result<Response, Problem> {
    let mut outbox = crate::events::outbox(component)?;
    let (started, roles) = transaction(conn, |conn| -> Result<_, Problem> {
        let started = session::start(conn, settings, account_id, device, ip, amr)?;
        if started.new_device {
            outbox.record(
                conn,
                "auth.login.new_device",
                Some(account_id),
                ("session", started.session_id.to_string()),
                vec![account_id],
                json!({
                    "session_id": started.session_id,
                    "device_name": device.name,
                    "platform": device.platform,
                    "ip": ip,
                    "logged_in_at": nexgate_platform::time::now_rfc3339(),
                }),
            )?;
        }
        let roles = session::roles(conn, account_id)?;
        Ok((started, roles))
    })?;
    session::mirror_live(settings, started.session_id);
    session::mirror_revoked(settings, &started.evicted);
    outbox.publish(conn);
    let auth_time = nexgate_platform::time::now_unix().0;
    Ok(json(
        200,
        &session::token_response(
            signer,
            settings,
            session::Grant {
                user_id: account_id,
                session_id: started.session_id,
                refresh_token: started.refresh_token,
                amr: amr.into(),
                auth_time,
                roles,
            },
        ),
    ))
}

/// Counts the attempt against the identifier and the IP; over either limit is a 429 with
/// `Retry-After`, and the attempt that starts an identifier lockout emits suspicious activity.
#[allow(clippy::too_many_arguments)]
fn count_attempt(
    settings: &Settings,
    redis: &spin_sdk::redis::Connection,
    conn: &Connection,
    component: &str,
    identifier: &LoginIdentifier,
    id_key: &str,
    ip_key: Option<&str>,
    ip: Option<&str>,
) -> Result<(), Problem> {
    let rule = |limit: i64| settings.login_rule(limit);
    let store_down = |e: spin_sdk::redis::Error| {
        eprintln!("auth: login counter failed: {e:?}");
        Problem::unavailable("the session store is unavailable")
    };
    let by_id = rate_limit::attempt(
        redis,
        id_key,
        rule(settings.login_failures_per_identifier_max),
    )
    .map_err(store_down)?;
    let by_ip = match ip_key {
        Some(key) => rate_limit::attempt(redis, key, rule(settings.login_failures_per_ip_max))
            .map_err(store_down)?,
        None => Attempt::Allowed,
    };
    let mut retry_after = 0;
    if let Attempt::Refused {
        retry_after_secs,
        started_lockout,
    } = by_id
    {
        retry_after = retry_after_secs;
        if started_lockout {
            report_lockout(conn, component, identifier, ip, retry_after_secs)?;
        }
    }
    if let Attempt::Refused {
        retry_after_secs, ..
    } = by_ip
    {
        retry_after = retry_after.max(retry_after_secs);
    }
    if retry_after > 0 {
        return Err(Problem::new(429, "login_locked", "Too many failed logins")
            .with_detail(format!("retry after {retry_after} s"))
            .with_retry_after(retry_after));
    }
    Ok(())
}

fn report_lockout(
    conn: &Connection,
    component: &str,
    identifier: &LoginIdentifier,
    ip: Option<&str>,
    locked_for_secs: u64,
) -> Result<(), Problem> {
    let owner = find_account(conn, identifier)?.map(|a| a.id);
    let mut outbox = crate::events::outbox(component)?;
    transaction(conn, |conn| {
        outbox.record(
            conn,
            "auth.suspicious_activity.detected",
            None,
            ("login_identifier", sha256_hex(&identifier.limit_key())),
            owner.into_iter().collect(),
            json!({ "reason": "login_lockout", "ip": ip, "locked_for_secs": locked_for_secs }),
        )
    })?;
    outbox.publish(conn);
    Ok(())
}

struct Account {
    id: Uuid,
    password_hash: Option<String>,
}

fn find_account(
    conn: &Connection,
    identifier: &LoginIdentifier,
) -> Result<Option<Account>, Problem> {
    let (sql, value) = match identifier {
        LoginIdentifier::Email(e) => (
            "SELECT id, password_hash FROM auth.accounts WHERE email = $1",
            e.as_str().to_string(),
        ),
        LoginIdentifier::Phone(p) => (
            "SELECT id, password_hash FROM auth.accounts WHERE phone = $1",
            p.as_str().to_string(),
        ),
        LoginIdentifier::Username(u) => (
            "SELECT id, password_hash FROM auth.accounts WHERE id = profiles.user_id_by_username($1)",
            u.clone(),
        ),
    };
    let rows = query(conn, sql, &[P::Str(value)])?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Account {
        id: rows.get(0, "id").map_err(Problem::internal)?,
        password_hash: rows.get(0, "password_hash").map_err(Problem::internal)?,
    }))
}
