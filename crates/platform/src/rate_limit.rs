//! Atomic attempt counters in Redis (the one rate limiter: auth's login and contact limits,
//! commerce's checkout and review limits), checked *before* any costly work (a password hash).
//!
//! Each attempt increments its counters first (one Lua script per counter, so the increment, the
//! window and the lockout are one atomic step); an attempt whose count passes the limit is refused
//! without hashing. Parallel attempts therefore cannot exceed the limit: exactly `limit` of them
//! get to the password check. The attempt that first passes the limit starts a lockout, which
//! doubles with each lockout of the same key within a day (progressive), up to a maximum.

use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

/// KEYS[1] counter, KEYS[2] lockout level; ARGV: limit, window ms, lock base ms, lock max ms,
/// level ttl ms. Returns {count, ms until the counter resets, 1 if this attempt started a lockout}.
const ATTEMPT_SCRIPT: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local limit = tonumber(ARGV[1])
if n == limit + 1 then
  local level = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  local lock = math.floor(math.min(tonumber(ARGV[3]) * 2 ^ (level - 1), tonumber(ARGV[4])))
  redis.call('PEXPIRE', KEYS[1], lock)
  return {n, lock, 1}
end
return {n, redis.call('PTTL', KEYS[1]), 0}
"#;

/// How long a lockout level is remembered (progressive lockouts within a day).
pub const LOCKOUT_LEVEL_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// One counter's rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub limit: i64,
    pub window_ms: i64,
    pub lockout_base_ms: i64,
    pub lockout_max_ms: i64,
}

/// The outcome of counting one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Under the limit: go on (hash, compare).
    Allowed,
    /// Over the limit; `started_lockout` is true for the attempt that crossed it.
    Refused {
        retry_after_secs: u64,
        started_lockout: bool,
    },
}

/// Counts one attempt against `key` (its lockout level lives at `key` + `:level`).
pub fn attempt(
    conn: &Connection,
    key: &str,
    rule: Rule,
) -> Result<Attempt, spin_sdk::redis::Error> {
    let reply = conn.execute(
        "EVAL",
        &[
            RedisParameter::Binary(ATTEMPT_SCRIPT.as_bytes().to_vec()),
            RedisParameter::Int64(2),
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Binary(format!("{key}:level").into_bytes()),
            RedisParameter::Int64(rule.limit),
            RedisParameter::Int64(rule.window_ms),
            RedisParameter::Int64(rule.lockout_base_ms),
            RedisParameter::Int64(rule.lockout_max_ms),
            RedisParameter::Int64(LOCKOUT_LEVEL_TTL_MS),
        ],
    )?;
    let int = |i: usize| match reply.get(i) {
        Some(RedisResult::Int64(n)) => *n,
        _ => 0,
    };
    let (count, ttl_ms, started) = (int(0), int(1), int(2));
    if count <= rule.limit {
        return Ok(Attempt::Allowed);
    }
    Ok(Attempt::Refused {
        retry_after_secs: (ttl_ms.max(1000) as u64).div_ceil(1000),
        started_lockout: started == 1,
    })
}

/// Counts one attempt against `key`; over the limit is a 429 `rate_limited` with `Retry-After`,
/// and an unreachable Redis a 503 (`what` names the counter in the log).
pub fn count_or_refuse(
    conn: &Connection,
    key: &str,
    rule: Rule,
    what: &str,
) -> Result<(), crate::Problem> {
    match attempt(conn, key, rule) {
        Ok(Attempt::Allowed) => Ok(()),
        Ok(Attempt::Refused {
            retry_after_secs, ..
        }) => Err(crate::Problem::rate_limited(retry_after_secs)),
        Err(e) => {
            eprintln!("rate limit: {what} counter failed: {e:?}");
            Err(crate::Problem::unavailable(
                "the session store is unavailable",
            ))
        }
    }
}

/// Counts one attempt on the counter `parts` (under the component's `redis_key_prefix`, through
/// its `redis_url`), `limit` per fixed window of `window_secs` (past it: 429 until the window
/// ends). For the services' plain per-user or per-object limits; Redis down is a 503, since a
/// limit cannot be skipped.
pub fn count_in_window(
    parts: &[&str],
    limit: i64,
    window_secs: i64,
    what: &str,
) -> Result<(), crate::Problem> {
    let url = crate::config::var("redis_url").map_err(crate::Problem::internal)?;
    let prefix = crate::config::var("redis_key_prefix").unwrap_or_default();
    let conn = Connection::open(&url).map_err(|e| {
        eprintln!("rate limit: redis: {e}");
        crate::Problem::unavailable("the rate limiter (Redis)")
    })?;
    let window_ms = window_secs * 1000;
    let rule = Rule {
        limit,
        window_ms,
        lockout_base_ms: window_ms,
        lockout_max_ms: window_ms,
    };
    count_or_refuse(&conn, &crate::config::redis_key(&prefix, parts), rule, what)
}

/// The per-user limit every service counts: one `what` by `user` of `service`
/// (`<service>:limit:<what>:<user>`), `limit` per window of `window_secs`; past it a 429 with
/// `Retry-After` until the window ends; Redis down is a 503.
pub fn count_per_user(
    service: &str,
    what: &str,
    user: uuid::Uuid,
    limit: i64,
    window_secs: i64,
) -> Result<(), crate::Problem> {
    let user = user.to_string();
    count_in_window(&[service, "limit", what, &user], limit, window_secs, what)
}

/// A limit the deployment may set in the component's variable `variable` (a positive integer),
/// else `default`.
pub fn configured_limit(variable: &str, default: i64) -> i64 {
    crate::config::var(variable)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Forgets the failures of `key` (after a successful login with that identifier).
pub fn reset(conn: &Connection, key: &str) -> Result<(), spin_sdk::redis::Error> {
    conn.del(&[key.to_string()])?;
    Ok(())
}

/// Takes back one attempt that turned out not to be a failure (a successful login from an IP),
/// without ever creating the key.
pub fn forgive_one(conn: &Connection, key: &str) -> Result<(), spin_sdk::redis::Error> {
    conn.execute(
        "EVAL",
        &[
            RedisParameter::Binary(
                b"if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0"
                    .to_vec(),
            ),
            RedisParameter::Int64(1),
            RedisParameter::Binary(key.as_bytes().to_vec()),
        ],
    )?;
    Ok(())
}
