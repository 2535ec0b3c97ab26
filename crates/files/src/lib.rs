//! The File Manager (docs/files.md): every media file of the platform goes through it.
//!
//! - [`direct`]: `POST /files` — images in the body (or several in a multipart body), processed
//!   synchronously: variants, BlurHash, metadata stripped;
//! - [`images`]: an image's bytes to stored variants, here or in a `files-image` instance (the
//!   images of a multipart upload are processed all at once);
//! - [`uploads`]: `POST /files/uploads` (a presigned PUT bound to type and size) and
//!   `POST /files/{id}/complete` (checks what arrived, then processes an image or queues a video);
//! - [`read`]: `GET /files/{id}`, `DELETE /files/{id}`, `GET /files/limits`;
//! - [`internal`]: attach/detach for owning services, signed URLs for private media, the media
//!   worker's results, the scheduled cleanup;
//! - [`erasure`]: a deleted account's files and objects go (`auth.account.deleted`);
//! - [`media_jobs`]: the media worker's jobs, recorded here and read back by the worker.

pub mod attached;
pub mod direct;
pub mod erasure;
pub mod images;
pub mod internal;
pub mod media_jobs;
pub mod read;
pub mod record;
pub mod settings;
pub mod uploads;
