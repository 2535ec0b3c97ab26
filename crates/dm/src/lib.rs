//! Direct messages (docs/dm.md). Served: [`conversations`] (one per pair of users, message
//! requests, groups and their members, each member's choices), [`messages`] (send once per client
//! id, history both ways, edit, unsend, delete for me, read pointers) and [`sync`] (everything that
//! changed since a token; [`changes`] is its query, shared with the real-time gateway). [`access`] decides who is in a conversation; [`limits`] counts sends.

pub mod access;
pub mod changes;
pub mod conversations;
pub mod inbox;
pub mod limits;
pub mod media;
pub mod messages;
pub mod sync;

/// The service's schema (its outbox lives there).
pub const SCHEMA: &str = "dm";
