//! The Redis mirror of sessions: `<redis_key_prefix>auth:session:<sid>` holds `live` or `revoked`.
//!
//! Postgres (`auth.sessions`, published as `auth.live_sessions`) is the truth; Redis only saves the
//! extractor a query. Three rules keep the mirror from ever calling a revoked session live:
//! - auth writes `revoked` after committing a revocation, with a TTL longer than an access token
//!   lives, so no token of that session can outlive the tombstone;
//! - auth marks a session `live` (login, refresh) through a script that never replaces `revoked`;
//! - the extractor, after a miss, only adds an entry that is absent (`SET NX`), so a revocation
//!   written meanwhile wins.
//!
//! A failed write is logged and tolerated: the worst case is a stale `live` entry, bounded by its
//! TTL ([`LIVE_TTL_MS`], the lifetime of an access token).

use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
use uuid::Uuid;

/// Value of a live session's entry.
pub const LIVE: &[u8] = b"live";
/// Value of a revoked session's entry.
pub const REVOKED: &[u8] = b"revoked";
/// How long a `live` entry lasts; auth refreshes it on login and refresh.
pub const LIVE_TTL_MS: i64 = 15 * 60 * 1000;
/// How long a tombstone lasts: longer than any access token (15 min) plus clock skew.
pub const REVOKED_TTL_MS: i64 = 20 * 60 * 1000;
/// How long the extractor remembers what Postgres said after a miss.
pub const LOOKUP_TTL_MS: i64 = 5 * 60 * 1000;

/// Sets `live` unless the entry says `revoked`. Returns 1 when set.
const MARK_LIVE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == 'revoked' then return 0 end \
     redis.call('SET', KEYS[1], 'live', 'PX', ARGV[1]) return 1";

/// The mirror's state for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirrored {
    Live,
    Revoked,
    Unknown,
}

/// The key of a session under the run's prefix.
pub fn key(redis_key_prefix: &str, session_id: Uuid) -> String {
    nexgate_platform::config::redis_key(
        redis_key_prefix,
        &["auth", "session", &session_id.to_string()],
    )
}

/// The key remembering that a token's exact bytes were verified: `<prefix>auth:verified:<sha256>`.
pub fn verified_key(redis_key_prefix: &str, token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    nexgate_platform::config::redis_key(redis_key_prefix, &["auth", "verified", &digest])
}

/// What a verified-token entry holds: a tag of the key set it was verified with, so publishing a
/// different `jwt_public_keys` (a rotation or a withdrawn key) invalidates every cached verdict.
pub fn key_set_tag(jwks: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(jwks.as_bytes())[..8])
}

/// One round trip: the verified-token entry and the session's entry.
pub fn lookup_both(
    conn: &Connection,
    verified_key: &str,
    session_key: &str,
) -> Result<(Option<Vec<u8>>, Mirrored), spin_sdk::redis::Error> {
    let reply = conn.execute(
        "MGET",
        &[
            RedisParameter::Binary(verified_key.as_bytes().to_vec()),
            RedisParameter::Binary(session_key.as_bytes().to_vec()),
        ],
    )?;
    let value = |i: usize| match reply.get(i) {
        Some(RedisResult::Binary(b)) => Some(b.clone()),
        _ => None,
    };
    let state = match value(1).as_deref() {
        Some(LIVE) => Mirrored::Live,
        Some(REVOKED) => Mirrored::Revoked,
        _ => Mirrored::Unknown,
    };
    Ok((value(0), state))
}

/// Remembers that a token verified, until it expires (at most an access token's lifetime).
pub fn remember_verified(
    conn: &Connection,
    verified_key: &str,
    tag: &str,
    ttl_ms: i64,
) -> Result<(), spin_sdk::redis::Error> {
    set_with_ttl(
        conn,
        verified_key,
        tag.as_bytes(),
        ttl_ms.clamp(1, LIVE_TTL_MS),
        false,
    )
}

/// Reads a session's entry.
pub fn lookup(conn: &Connection, key: &str) -> Result<Mirrored, spin_sdk::redis::Error> {
    Ok(match conn.get(key)?.as_deref() {
        Some(LIVE) => Mirrored::Live,
        Some(REVOKED) => Mirrored::Revoked,
        _ => Mirrored::Unknown,
    })
}

/// Marks a session live (login, refresh) unless it was revoked meanwhile.
pub fn mark_live(conn: &Connection, key: &str) -> Result<(), spin_sdk::redis::Error> {
    conn.execute(
        "EVAL",
        &[
            RedisParameter::Binary(MARK_LIVE_SCRIPT.as_bytes().to_vec()),
            RedisParameter::Int64(1),
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Int64(LIVE_TTL_MS),
        ],
    )?;
    Ok(())
}

/// Writes the tombstone of a revoked session (after the revocation committed).
pub fn mark_revoked(conn: &Connection, key: &str) -> Result<(), spin_sdk::redis::Error> {
    set_with_ttl(conn, key, REVOKED, REVOKED_TTL_MS, false)
}

/// Remembers what Postgres said after a miss, without replacing anything written meanwhile.
pub fn remember(conn: &Connection, key: &str, live: bool) -> Result<(), spin_sdk::redis::Error> {
    let (value, ttl) = if live {
        (LIVE, LOOKUP_TTL_MS)
    } else {
        (REVOKED, REVOKED_TTL_MS)
    };
    set_with_ttl(conn, key, value, ttl, true)
}

fn set_with_ttl(
    conn: &Connection,
    key: &str,
    value: &[u8],
    ttl_ms: i64,
    only_if_absent: bool,
) -> Result<(), spin_sdk::redis::Error> {
    let mut args = vec![
        RedisParameter::Binary(key.as_bytes().to_vec()),
        RedisParameter::Binary(value.to_vec()),
        RedisParameter::Binary(b"PX".to_vec()),
        RedisParameter::Int64(ttl_ms),
    ];
    if only_if_absent {
        args.push(RedisParameter::Binary(b"NX".to_vec()));
    }
    let reply = conn.execute("SET", &args)?;
    // `SET ... NX` answers nil when the key existed; both outcomes are fine.
    debug_assert!(matches!(
        reply.first(),
        Some(RedisResult::Status(_)) | Some(RedisResult::Nil) | None
    ));
    Ok(())
}
