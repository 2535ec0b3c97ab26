//! The profile service's rules that others check before calling it (docs/profiles.md).
//!
//! Registration (auth) validates a username and a display name with these before it asks the
//! profile service's SQL function `profiles.create_profile` to claim the name; the function and
//! the table's constraints enforce the same rules again, and own the reserved words and the
//! uniqueness, so the database stays the one authority.

pub mod display_name;
pub mod username;
