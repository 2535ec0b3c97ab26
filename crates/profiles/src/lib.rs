//! The profile service (schema `profiles`; docs/profiles.md): profiles, privacy, the follow graph,
//! blocks and mutes ([`profile`], [`graph`], [`lookup`]). The name rules ([`username`],
//! [`display_name`]) live in `nexgate-names`, shared with auth (which checks them before asking
//! `profiles.create_profile` to claim a name) and, next, commerce.

pub use nexgate_names::{display_name, username};
pub mod erasure;
pub mod graph;
pub mod inbox;
pub mod lookup;
pub mod profile;
pub mod rename;
pub mod trust;
pub mod verification;
