//! File types from magic bytes, never from a name or a declared content type.

use serde::Serialize;

/// A type the File Manager accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Jpeg,
    Png,
    Webp,
    Mp4,
    Mov,
}

/// Images are processed in the component, videos by the media worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaType {
    pub fn kind(self) -> MediaKind {
        match self {
            Self::Jpeg | Self::Png | Self::Webp => MediaKind::Image,
            Self::Mp4 | Self::Mov => MediaKind::Video,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Mp4 => "video/mp4",
            Self::Mov => "video/quicktime",
        }
    }

    /// The type a client declares for a presigned upload (`video/mp4`).
    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next().unwrap_or("").trim();
        [Self::Jpeg, Self::Png, Self::Webp, Self::Mp4, Self::Mov]
            .into_iter()
            .find(|t| t.mime().eq_ignore_ascii_case(essence))
    }
}

/// Bytes [`sniff`] needs to decide.
pub const SNIFF_BYTES: usize = 16;

/// What the first bytes of a file say it is; `None` for anything else (a renamed executable, a
/// GIF, a truncated header).
pub fn sniff(head: &[u8]) -> Option<MediaType> {
    if head.len() >= 3 && head[..3] == [0xFF, 0xD8, 0xFF] {
        return Some(MediaType::Jpeg);
    }
    if head.len() >= 8 && head[..8] == [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A] {
        return Some(MediaType::Png);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some(MediaType::Webp);
    }
    // ISO base media (MP4) and QuickTime: a box size, then `ftyp` with its major brand.
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"qt  " => Some(MediaType::Mov),
            b"isom" | b"iso2" | b"iso4" | b"iso5" | b"iso6" | b"mp41" | b"mp42" | b"avc1"
            | b"M4V " | b"dash" | b"3gp4" | b"3gp5" => Some(MediaType::Mp4),
            _ => None,
        };
    }
    // Old QuickTime files start with a `moov`, `mdat`, `wide` or `free` atom instead.
    if head.len() >= 8 && matches!(&head[4..8], b"moov" | b"mdat" | b"wide" | b"free") {
        return Some(MediaType::Mov);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide_and_nothing_else_does() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            Some(MediaType::Jpeg)
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(MediaType::Png)
        );
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(MediaType::Webp));
        assert_eq!(sniff(b"\0\0\0\x20ftypisom\0\0\x02\0"), Some(MediaType::Mp4));
        assert_eq!(sniff(b"\0\0\0\x14ftypqt  \0\0\0\0"), Some(MediaType::Mov));
        // An ELF executable named photo.jpg, a GIF, a script, nothing.
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0\0\0\0\0"), None);
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), None);
        assert_eq!(sniff(b"#!/bin/sh\nrm -rf"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(&[0xFF, 0xD8]), None);
    }

    #[test]
    fn declared_types_map_back() {
        assert_eq!(MediaType::from_mime("video/mp4"), Some(MediaType::Mp4));
        assert_eq!(
            MediaType::from_mime("Video/QuickTime; codecs=x"),
            Some(MediaType::Mov)
        );
        assert_eq!(MediaType::from_mime("application/x-msdownload"), None);
    }
}
