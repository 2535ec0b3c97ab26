//! Authentication shared by every component (DESIGN.md, Security).
//!
//! Layout:
//! - [`jwt`]: access tokens: EdDSA (Ed25519) JWTs, JWK/JWKS parsing, signing (auth's issuing
//!   components only) and verification (everyone);
//! - [`session_mirror`]: the Redis mirror of live sessions that auth writes and the extractor
//!   reads, with the scripts that keep a revocation from being overwritten;
//! - [`extractor`]: [`extractor::authenticate`] turns a request's `Authorization: Bearer` header
//!   into an [`AuthContext`] (token verified, session live), or a 401 problem with a stable code.

pub mod extractor;
pub mod jwt;
pub mod session_mirror;

pub use extractor::{authenticate, AuthContext};
