//! What every Nexgate component shares (DESIGN.md): the platform library.
//!
//! Layout:
//! - [`problem`]: RFC 9457 problem+json errors with stable codes; a 5xx never carries detail;
//! - [`body`]: JSON request bodies with a size limit and field-level 4xx;
//! - [`ids`]: UUIDv7 ids made in code;
//! - [`money`]: the currency table (ISO 4217 exponents) and integer minor-unit amounts;
//! - [`pagination`]: cursor pagination with a bounded `limit`;
//! - [`config`]: Spin variables every component reads, the Redis key prefix and MQTT client ids;
//! - [`internal`]: the `x-internal-token` check of service-to-service routes;
//! - [`db`]: Postgres (spin `pg4`) helpers: typed row decoding, transactions, constraint mapping;
//! - [`idempotency`]: `Idempotency-Key` handling backed by Postgres;
//! - [`storage`]: S3 requests signed with AWS Signature Version 4 (sans-IO signing + spin HTTP).
//!
//! Pure parts are unit-tested natively; the parts that call Spin interfaces run inside components
//! and are covered by the black-box tests in `tests/`.

pub mod attachments;
pub mod body;
pub mod config;
pub mod db;
pub mod idempotency;
pub mod ids;
pub mod internal;
pub mod money;
pub mod multipart;
pub mod pagination;
pub mod payables;
pub mod problem;
pub mod public_media;
pub mod rate_limit;
pub mod routes;
pub mod sigv4;
pub mod storage;
pub mod time;

pub use problem::Problem;
