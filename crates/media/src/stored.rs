//! The record of one stored object of a file, as the media worker reports it and the File Manager
//! keeps it (`files.files.variants` / `poster`): one type on both sides of that contract.

use serde::{Deserialize, Serialize};

/// One stored object of a file: a variant, a rendition or a poster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredObject {
    /// `160`, `480`, `1080`, `2048` for images; `720p`, `480p` for video; `poster`.
    pub name: String,
    /// `jpeg`, `png`, `webp`, `mp4`.
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub key: String,
}
