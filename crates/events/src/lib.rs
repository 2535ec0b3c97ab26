//! Domain events (DESIGN.md, Events): the envelope, the catalogue of every type, and the outbox.
//!
//! A component records an event in its schema's outbox in the same transaction as the change
//! ([`outbox::record`]), and after `COMMIT` publishes it over MQTT at QoS 1 and marks it
//! ([`outbox::publish_recorded`]). The native relay (`nexgate-ops relay`) republishes rows left
//! unmarked. Delivery is at least once; every consumer dedupes on the envelope's `id`. A type's
//! one-time secrets travel sealed to the notifier's key ([`sealed`]).

pub mod catalogue;
pub mod envelope;
pub mod inbox;
pub mod outbox;
pub mod sealed;

pub use catalogue::EventType;
pub use envelope::{Envelope, Subject};
