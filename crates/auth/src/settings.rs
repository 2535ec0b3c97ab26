//! The auth service's configuration, from Spin variables (docs/configuration.md).

use nexgate_platform::config::var;
use nexgate_platform::Problem;

/// Everything the auth handlers read from variables.
#[derive(Debug, Clone)]
pub struct Settings {
    pub db_url: String,
    pub redis_url: String,
    pub redis_key_prefix: String,
    pub issuer: String,
    pub audience: String,
    /// Access-token lifetime (`access_token_ttl_secs`, 900).
    pub access_token_ttl_secs: i64,
    /// Refresh-token and session lifetime, sliding (`refresh_token_ttl_secs`, 30 days).
    pub refresh_token_ttl_secs: i64,
    /// A rotated refresh token presented again within this window is a racing retry: 409 and
    /// nothing revoked (`refresh_reuse_grace_ms`, 5000).
    pub refresh_reuse_grace_ms: i64,
    /// Failed logins per identifier in a window before a lockout (`login_failures_per_identifier_max`, 5).
    pub login_failures_per_identifier_max: i64,
    /// Failed logins per client IP in a window (`login_failures_per_ip_max`, 50).
    pub login_failures_per_ip_max: i64,
    /// The failure-counting window (`login_failure_window_secs`, 900).
    pub login_failure_window_secs: i64,
    /// The first lockout; each further lockout within a day doubles it (`login_lockout_base_secs`, 60).
    pub login_lockout_base_secs: i64,
    /// The longest lockout (`login_lockout_max_secs`, 3600).
    pub login_lockout_max_secs: i64,
}

fn number(name: &str) -> Result<i64, Problem> {
    let raw = var(name).map_err(Problem::internal)?;
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Problem::internal(format!(
                "variable `{name}` must be a positive integer, not `{raw}`"
            ))
        })
}

impl Settings {
    pub fn from_variables() -> Result<Self, Problem> {
        let text = |name: &str| var(name).map_err(Problem::internal);
        Ok(Self {
            db_url: text("db_url")?,
            redis_url: text("redis_url")?,
            redis_key_prefix: text("redis_key_prefix")?,
            issuer: text("jwt_issuer")?,
            audience: text("jwt_audience")?,
            access_token_ttl_secs: number("access_token_ttl_secs")?,
            refresh_token_ttl_secs: number("refresh_token_ttl_secs")?,
            refresh_reuse_grace_ms: number("refresh_reuse_grace_ms")?,
            login_failures_per_identifier_max: number("login_failures_per_identifier_max")?,
            login_failures_per_ip_max: number("login_failures_per_ip_max")?,
            login_failure_window_secs: number("login_failure_window_secs")?,
            login_lockout_base_secs: number("login_lockout_base_secs")?,
            login_lockout_max_secs: number("login_lockout_max_secs")?,
        })
    }

    /// The failure rule of the login limits with `limit` attempts (window, progressive lockout).
    pub fn login_rule(&self, limit: i64) -> crate::rate_limit::Rule {
        crate::rate_limit::Rule {
            limit,
            window_ms: self.login_failure_window_secs * 1000,
            lockout_base_ms: self.login_lockout_base_secs * 1000,
            lockout_max_ms: self.login_lockout_max_secs * 1000,
        }
    }

    /// A Redis key under the run's prefix, in auth's namespace.
    pub fn redis_key(&self, parts: &[&str]) -> String {
        let mut all = vec!["auth"];
        all.extend_from_slice(parts);
        nexgate_platform::config::redis_key(&self.redis_key_prefix, &all)
    }

    pub fn redis(&self) -> Result<spin_sdk::redis::Connection, Problem> {
        spin_sdk::redis::Connection::open(&self.redis_url).map_err(|e| {
            eprintln!("auth: Redis unavailable: {e:?}");
            Problem::unavailable("the session store is unavailable")
        })
    }
}
