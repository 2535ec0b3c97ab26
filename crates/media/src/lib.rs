//! Media rules and image processing, with no I/O: the File Manager component runs it in wasm, the
//! media worker and the benchmark run the same code natively (docs/files.md).
//!
//! - [`sniff`]: what a file is, from its magic bytes only;
//! - [`limits`]: sizes, pixel counts, durations and types per purpose (served at `GET /files/limits`);
//! - [`image_pipeline`]: header check, decode, EXIF orientation, resize to the variant ladder,
//!   re-encode (which drops every piece of metadata) and BlurHash;
//! - [`stored`]: the record of a stored variant, shared with the media worker.

pub mod image_pipeline;
pub mod limits;
pub mod sniff;
pub mod stored;
