//! The gateway's message format (docs/dm.md, "Real-time gateway"): JSON text frames, each with a
//! `type`.
//!
//! Client → gateway: `{"type":"auth","token":"<access token>","since":"<sync token>"?}` first
//! (and again with a fresh token before the old one expires), `{"type":"typing",
//! "conversation_id":"..."}`, `{"type":"ping"}`.
//!
//! Gateway → client: `{"type":"changes","changes":[...],"token":"..."}` (the same change objects
//! and tokens as `GET /dm/sync`), `{"type":"ready","token":"..."}` once authenticated (after what
//! was missed since `since`), `{"type":"token","token":"..."}` (nothing new for you below it),
//! `{"type":"typing","conversation_id":"...","user_id":"...","expires_in_ms":6000}`,
//! `{"type":"pong"}`, `{"type":"error","code":"...","detail":"..."}`.

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Auth {
        token: String,
        #[serde(default)]
        since: Option<String>,
    },
    Typing {
        conversation_id: Uuid,
    },
    Ping,
}

impl ClientFrame {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a frame this gateway reads: {e}"))
    }
}

pub fn changes(changes: &[Value], token: &str) -> String {
    json!({"type": "changes", "changes": changes, "token": token}).to_string()
}

pub fn ready(token: &str) -> String {
    json!({"type": "ready", "token": token}).to_string()
}

pub fn token(token: &str) -> String {
    json!({"type": "token", "token": token}).to_string()
}

pub fn typing(conversation: Uuid, user: Uuid, expires_in_ms: u64) -> String {
    json!({"type": "typing", "conversation_id": conversation, "user_id": user,
           "expires_in_ms": expires_in_ms})
    .to_string()
}

pub fn pong() -> String {
    json!({"type": "pong"}).to_string()
}

pub fn error(code: &str, detail: &str) -> String {
    json!({"type": "error", "code": code, "detail": detail}).to_string()
}

/// Close codes (4000-4999 are the application's).
pub mod close {
    /// A frame that is not JSON this gateway reads, or no `auth` first.
    pub const BAD_FRAME: u16 = 4400;
    /// Token missing, invalid or expired; session revoked.
    pub const UNAUTHENTICATED: u16 = 4401;
    /// No `auth` frame in time, or nothing heard within the idle timeout.
    pub const TIMEOUT: u16 = 4408;
    /// Too many connections for this user or this gateway, or frames too fast.
    pub const LIMITED: u16 = 4429;
    /// A frame above the size cap (RFC 6455 "message too big").
    pub const TOO_BIG: u16 = 1009;
    /// The client did not read fast enough (RFC 6455 "try again later"): reconnect and resync.
    pub const TOO_SLOW: u16 = 1013;
    /// The gateway is shutting down: reconnect (to another replica) and resync.
    pub const GOING_AWAY: u16 = 1001;
}
