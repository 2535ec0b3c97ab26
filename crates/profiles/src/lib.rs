//! The profile service (schema `profiles`; docs/profiles.md): profiles, privacy, the follow graph,
//! blocks and mutes ([`profile`], [`graph`], [`common`]), and the rules others check before calling
//! it ([`username`], [`display_name`]).
//!
//! Registration (auth) validates a username and a display name with these before it asks the
//! profile service's SQL function `profiles.create_profile` to claim the name; the function and
//! the table's constraints enforce the same rules again, and own the reserved words and the
//! uniqueness, so the database stays the one authority.

pub mod common;
pub mod display_name;
pub mod graph;
pub mod profile;
pub mod rename;
pub mod trust;
pub mod username;
pub mod verification;
