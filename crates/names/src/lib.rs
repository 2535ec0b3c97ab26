//! The rules for names users choose, shared by every service that takes one: [`username`] (auth
//! at registration, profiles at a rename, next commerce's shop handles) and [`display_name`].
//!
//! Pure format rules only. Whether a name is free or reserved is the profile service's to say: its
//! SQL function `profiles.create_profile` and the table's constraints enforce the same rules again
//! and own the reserved words and uniqueness, so the database stays the one authority.

pub mod display_name;
pub mod mentions;
pub mod username;
