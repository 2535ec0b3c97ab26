//! The Spin interfaces the host gives components, beside WASI 0.2: one module per capability,
//! each with the small context it works on, the way wasmtime structures WASI's.
//!
//! A capability sees a request through its own view (`PgView`, `RedisView`, ...): what the
//! guest may do ([`Guest`]: its id and `allowed_outbound_hosts` grants, or its variables), the
//! capability's process-wide side (a field of [`Services`]: pools and clients shared by every
//! instance), and the request's resource table. No capability sees another's state or the
//! runtime; `runtime::state` builds each view from a request's store when the linker asks.
//!
//! - [`postgres`] (`spin:postgres/postgres@4.0.0`, values in [`pg_types`]),
//! - [`redis`] (`fermyon:spin/redis@2.0.0`), [`mqtt`] (`fermyon:spin/mqtt@2.0.0`),
//! - [`key_value`] (`fermyon:spin/key-value@2.0.0`), [`variables`] (`fermyon:spin/variables@2.0.0`),
//! - [`outbound_http`] (wasi:http's outgoing handler: grants and component chaining), with the
//!   grants themselves in [`outbound_grants`].

pub mod key_value;
pub mod mqtt;
pub mod outbound_grants;
pub mod outbound_http;
pub mod pg_types;
pub mod postgres;
pub mod redis;
pub mod variables;

use outbound_grants::OutboundGrants;

/// The guest a capability serves: its component id (for messages) and what
/// `allowed_outbound_hosts` grants it.
#[derive(Clone, Copy)]
pub struct Guest<'a> {
    pub id: &'a str,
    pub grants: &'a OutboundGrants,
}

/// The capabilities' process-wide side, shared by every instance.
pub struct Services {
    pub pg: postgres::PgPools,
    pub redis: redis::RedisClients,
    pub kv: key_value::KeyValueStores,
}
