//! The authentication service (schema `auth`; docs/auth.md).
//!
//! Layout:
//! - pure rules, unit-tested natively: [`identifier`] (email, E.164 phone, login identifier),
//!   [`password`] (policy, argon2id), [`secrets`] (refresh tokens, codes, hashes), [`device`];
//! - stores: [`settings`] (variables), [`rate_limit`] (atomic Redis counters), [`session`]
//!   (sessions, tokens, the Redis mirror), [`events`] (the outbox);
//! - flows, one per endpoint family, each `fn(&Request) -> Result<Response, Problem>`:
//!   [`registration`], [`login`], [`refresh`], [`session_routes`], [`password_flows`], [`mfa`],
//!   [`contact`], [`identities`], [`account_deletion`]; and the hourly [`housekeeping`] job.
//!
//! The components in `functions/auth-*` only route to these.

pub mod account_deletion;
pub mod contact;
pub mod device;
pub mod events;
pub mod housekeeping;
pub mod http;
pub mod id_token;
pub mod identifier;
pub mod identities;
pub mod login;
pub mod mfa;
pub mod oauth;
pub mod password;
pub mod password_flows;
/// The platform's rate limiter, where auth's limits have always lived.
pub use nexgate_platform::rate_limit;
pub mod reauthentication;
pub mod refresh;
pub mod registration;
pub mod secret_box;
pub mod secrets;
pub mod session;
pub mod session_routes;
pub mod settings;
pub mod totp;
