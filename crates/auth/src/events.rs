//! The auth events (catalogue: `auth.*`), recorded in `auth.outbox` with the change and
//! published after commit.

/// The schema whose outbox auth writes.
pub const SCHEMA: &str = "auth";

/// The auth outbox of a component.
pub type Outbox = nexgate_events::outbox::Outbox;

/// An outbox on `auth.outbox` for `component`.
pub fn outbox(component: &str) -> Result<Outbox, nexgate_platform::Problem> {
    Outbox::new(SCHEMA, component)
}
