//! `POST /auth/login` (docs/auth.md, "Login").
//!
//! Order matters: the body is checked, the account looked up, then the attempt is counted against
//! the account from this source, the account from anywhere and the source (atomically, before any
//! hashing; see [`LoginLimits`]), then the password is verified (against a dummy hash when there is no account, so both cost the same), then a
//! session starts. Unknown user and wrong password get the same 401.

use nexgate_events::catalogue::auth::{LoginNewDevice, SuspiciousActivityDetected};
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{open, query, transaction};
use nexgate_platform::Problem;
use serde::Deserialize;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::device::{Device, DeviceInput};
use crate::events::SCHEMA;
use crate::http::{client_ip, content_type, json};
use crate::identifier::LoginIdentifier;
use crate::password;
use crate::rate_limit::{self, Attempt};
use crate::secrets::sha256_hex;
use crate::session;
use crate::settings::Settings;
use nexgate_events::outbox::Outbox;

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
    let conn = open(&settings.db_url)?;
    let account = find_account(&conn, &identifier)?;
    let limits = LoginLimits::new(&settings, &identifier, account.as_ref(), ip.as_deref());
    count_attempt(
        &settings,
        &redis,
        &conn,
        component,
        &identifier,
        &limits,
        ip.as_deref(),
    )?;

    let ok = password::verify(
        &body.password,
        account.as_ref().and_then(|a| a.password_hash.as_deref()),
    );
    let Some(account) = account.filter(|_| ok) else {
        return Err(invalid_credentials());
    };
    limits.forget_on_success(&redis);

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
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let (started, roles) = transaction(conn, |conn| -> Result<_, Problem> {
        let started = session::start(conn, settings, account_id, device, ip, amr)?;
        if started.new_device {
            outbox.record(
                conn,
                Some(account_id),
                ("session", started.session_id.to_string()),
                vec![account_id],
                &LoginNewDevice {
                    session_id: started.session_id,
                    device_name: device.name.clone(),
                    platform: device.platform.clone(),
                    ip: ip.map(str::to_string),
                    logged_in_at: nexgate_platform::time::now_rfc3339(),
                },
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

/// The counters one login attempt is counted in (docs/auth.md, "Login"):
/// - `pair`: this account (whatever spelling named it) from this source (IP, or /64 for IPv6):
///   `login_failures_per_identifier_max`, then a lockout that doubles each time (per source, so
///   an attacker locks out only themselves);
/// - `account`: this account from every source, four times that limit, a fixed lockout that
///   sources which signed in to the account before (`known`, 30 days) do not feel, so nobody can
///   keep the owner out from their usual place;
/// - `source`: every login from this source, `login_failures_per_ip_max`.
///
/// An identifier no account has is counted under its normalised spelling instead of an account.
struct LoginLimits {
    pair: String,
    account: String,
    known: String,
    source: Option<String>,
    source_key: String,
}

/// How long a source that signed in to an account stays known to it.
const KNOWN_SOURCE_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// The account-wide limit, in multiples of the per-source one.
const ACCOUNT_LIMIT_FACTOR: i64 = 4;

impl LoginLimits {
    fn new(
        settings: &Settings,
        identifier: &LoginIdentifier,
        account: Option<&Account>,
        ip: Option<&str>,
    ) -> Self {
        let subject = match account {
            Some(a) => format!("account:{}", a.id),
            None => sha256_hex(&identifier.limit_key()),
        };
        let source_bucket = ip
            .map(crate::http::limit_bucket)
            .unwrap_or_else(|| "unknown".into());
        let source_hash = sha256_hex(&source_bucket);
        Self {
            pair: settings.redis_key(&["login", "failures", &subject, "from", &source_hash]),
            account: settings.redis_key(&["login", "failures", &subject]),
            known: settings.redis_key(&["login", "known-sources", &subject]),
            source: ip.map(|_| settings.redis_key(&["login", "failures", "ip", &source_bucket])),
            source_key: source_hash,
        }
    }

    fn is_known_source(&self, redis: &spin_sdk::redis::Connection) -> bool {
        use spin_sdk::redis::{RedisParameter, RedisResult};
        let reply = redis.execute(
            "SISMEMBER",
            &[
                RedisParameter::Binary(self.known.as_bytes().to_vec()),
                RedisParameter::Binary(self.source_key.as_bytes().to_vec()),
            ],
        );
        matches!(reply.as_deref(), Ok([RedisResult::Int64(1)]))
    }

    /// A success is no failure: the account's and the pair's counters are forgotten, the source's
    /// attempt taken back, and the source remembered as one the owner uses.
    fn forget_on_success(&self, redis: &spin_sdk::redis::Connection) {
        use spin_sdk::redis::RedisParameter as R;
        let mut failed = Vec::new();
        if let Err(e) = redis.del(&[self.pair.clone(), self.account.clone()]) {
            failed.push(format!("{e:?}"));
        }
        if let Some(key) = &self.source {
            if let Err(e) = rate_limit::forgive_one(redis, key) {
                failed.push(format!("{e:?}"));
            }
        }
        let remember = redis
            .sadd(&self.known, std::slice::from_ref(&self.source_key))
            .and_then(|_| {
                redis.execute(
                    "PEXPIRE",
                    &[
                        R::Binary(self.known.as_bytes().to_vec()),
                        R::Int64(KNOWN_SOURCE_TTL_MS),
                    ],
                )
            });
        if let Err(e) = remember {
            failed.push(format!("{e:?}"));
        }
        if !failed.is_empty() {
            eprintln!("auth: login counters not updated after a success: {failed:?}");
        }
    }
}

/// Counts the attempt in every counter of `limits`; over any limit that applies is a 429 with
/// `Retry-After`, and the attempt that starts a lockout emits suspicious activity.
fn count_attempt(
    settings: &Settings,
    redis: &spin_sdk::redis::Connection,
    conn: &Connection,
    component: &str,
    identifier: &LoginIdentifier,
    limits: &LoginLimits,
    ip: Option<&str>,
) -> Result<(), Problem> {
    let per_source = settings.login_failures_per_identifier_max;
    let store_down = |e: spin_sdk::redis::Error| {
        eprintln!("auth: login counter failed: {e:?}");
        Problem::unavailable("the session store is unavailable")
    };
    let pair = rate_limit::attempt(redis, &limits.pair, settings.login_rule(per_source))
        .map_err(store_down)?;
    let fixed = rate_limit::Rule {
        lockout_max_ms: settings.login_lockout_base_secs * 1000,
        ..settings.login_rule(per_source * ACCOUNT_LIMIT_FACTOR)
    };
    let account = rate_limit::attempt(redis, &limits.account, fixed).map_err(store_down)?;
    let source = match &limits.source {
        Some(key) => rate_limit::attempt(
            redis,
            key,
            settings.login_rule(settings.login_failures_per_ip_max),
        )
        .map_err(store_down)?,
        None => Attempt::Allowed,
    };
    let account = match account {
        Attempt::Refused { .. } if limits.is_known_source(redis) => Attempt::Allowed,
        other => other,
    };
    let mut retry_after = 0;
    for (attempt, reports) in [(pair, true), (account, true), (source, false)] {
        if let Attempt::Refused {
            retry_after_secs,
            started_lockout,
        } = attempt
        {
            retry_after = retry_after.max(retry_after_secs);
            if started_lockout && reports {
                report_lockout(conn, component, identifier, ip, retry_after_secs)?;
            }
        }
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
    let mut outbox = Outbox::new(SCHEMA, component)?;
    transaction(conn, |conn| {
        outbox.record(
            conn,
            None,
            ("login_identifier", sha256_hex(&identifier.limit_key())),
            owner.into_iter().collect(),
            &SuspiciousActivityDetected {
                reason: "login_lockout".to_string(),
                ip: ip.map(str::to_string),
                locked_for_secs: i64::try_from(locked_for_secs).ok(),
                session_id: None,
            },
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
