//! The auth events (catalogue: `auth.*`), recorded in `auth.outbox` with the change and
//! published after commit (`nexgate_events::outbox::Outbox::new(SCHEMA, component)`).

/// The schema whose outbox auth writes.
pub const SCHEMA: &str = "auth";
