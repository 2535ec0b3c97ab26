//! What the File Manager accepts, per purpose: the one source of truth, served as JSON at
//! `GET /files/limits` so apps validate before uploading.

use serde::Serialize;

use crate::sniff::MediaType;

/// What a file is for. It fixes the size limits, whether video is allowed, and the bucket:
/// `message` media and `document`s are private, everything else is public behind the CDN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Avatar,
    Cover,
    Post,
    Product,
    Event,
    Message,
    /// A shop's logo or banner.
    Shop,
    /// A photo or scan of a business document for seller verification (private, images only).
    Document,
}

pub const PURPOSES: [Purpose; 8] = [
    Purpose::Avatar,
    Purpose::Cover,
    Purpose::Post,
    Purpose::Product,
    Purpose::Event,
    Purpose::Message,
    Purpose::Shop,
    Purpose::Document,
];

const MIB: u64 = 1024 * 1024;

/// Longest edge of each image variant, smallest first. A variant is never upscaled: the first
/// rung at or above the original's long edge keeps the original size, and the ladder stops there.
pub const IMAGE_VARIANT_EDGES: [u32; 4] = [160, 480, 1080, 2048];

/// Most pixels an image may have (checked from the header, before decoding).
pub const IMAGE_PIXELS_MAX: u64 = 30_000_000;
/// Longest edge an image may have.
pub const IMAGE_EDGE_MAX: u32 = 12_000;
/// Memory processing one image may take (decoded pixels, an 8-bit conversion, a rotation, the
/// resize buffers, the upload itself), estimated from the header before decoding: the files
/// components run with 256 MiB per instance, and an image over this is a 422, never an
/// out-of-memory 500. An 8-bit RGB(A) image at the pixel limit fits; a 16-bit one that large does not.
pub const IMAGE_MEMORY_BYTES_MAX: u64 = 200 * MIB;
/// Longest video, checked by the media worker with ffprobe.
pub const VIDEO_DURATION_SECS_MAX: u32 = 600;
/// Largest video frame (both edges), checked by the media worker.
pub const VIDEO_EDGE_MAX: u32 = 4096;
/// Heights the media worker transcodes to (never upscaled).
pub const VIDEO_RENDITION_HEIGHTS: [u32; 2] = [720, 480];
/// Files one multipart request may carry.
pub const FILES_PER_REQUEST_MAX: usize = 10;
/// Largest body of one direct upload request (all its parts).
pub const DIRECT_UPLOAD_BYTES_MAX: u64 = 40 * MIB;

impl Purpose {
    pub fn parse(s: &str) -> Option<Self> {
        PURPOSES.into_iter().find(|p| p.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avatar => "avatar",
            Self::Cover => "cover",
            Self::Post => "post",
            Self::Product => "product",
            Self::Event => "event",
            Self::Message => "message",
            Self::Shop => "shop",
            Self::Document => "document",
        }
    }

    /// Private media never get a public URL.
    pub fn is_private(self) -> bool {
        matches!(self, Self::Message | Self::Document)
    }

    /// Largest image, in bytes.
    pub fn image_bytes_max(self) -> u64 {
        match self {
            Self::Avatar => 10 * MIB,
            Self::Cover | Self::Shop | Self::Document => 15 * MIB,
            _ => 20 * MIB,
        }
    }

    /// Largest video, in bytes; `None` when the purpose takes no video.
    pub fn video_bytes_max(self) -> Option<u64> {
        match self {
            Self::Avatar | Self::Cover | Self::Shop | Self::Document => None,
            Self::Message => Some(200 * MIB),
            _ => Some(500 * MIB),
        }
    }

    /// Types accepted for this purpose.
    pub fn accepts(self, t: MediaType) -> bool {
        match t.kind() {
            crate::sniff::MediaKind::Image => true,
            crate::sniff::MediaKind::Video => self.video_bytes_max().is_some(),
        }
    }

    /// Largest file of type `t`, in bytes (0 when refused).
    pub fn bytes_max(self, t: MediaType) -> u64 {
        match t.kind() {
            crate::sniff::MediaKind::Image => self.image_bytes_max(),
            crate::sniff::MediaKind::Video => self.video_bytes_max().unwrap_or(0),
        }
    }
}

#[derive(Serialize)]
pub struct PurposeLimits {
    pub purpose: Purpose,
    pub image_types: Vec<&'static str>,
    pub image_bytes_max: u64,
    pub video_types: Vec<&'static str>,
    pub video_bytes_max: Option<u64>,
    pub private: bool,
}

/// Everything `GET /files/limits` answers.
#[derive(Serialize)]
pub struct Limits {
    pub purposes: Vec<PurposeLimits>,
    pub image_pixels_max: u64,
    pub image_edge_max: u32,
    pub image_variant_edges: [u32; 4],
    pub video_duration_secs_max: u32,
    pub video_edge_max: u32,
    pub video_rendition_heights: [u32; 2],
    pub files_per_request_max: usize,
    pub direct_upload_bytes_max: u64,
}

pub fn limits() -> Limits {
    let images = [MediaType::Jpeg, MediaType::Png, MediaType::Webp];
    let videos = [MediaType::Mp4, MediaType::Mov];
    Limits {
        purposes: PURPOSES
            .into_iter()
            .map(|p| PurposeLimits {
                purpose: p,
                image_types: images.iter().map(|t| t.mime()).collect(),
                image_bytes_max: p.image_bytes_max(),
                video_types: if p.video_bytes_max().is_some() {
                    videos.iter().map(|t| t.mime()).collect()
                } else {
                    vec![]
                },
                video_bytes_max: p.video_bytes_max(),
                private: p.is_private(),
            })
            .collect(),
        image_pixels_max: IMAGE_PIXELS_MAX,
        image_edge_max: IMAGE_EDGE_MAX,
        image_variant_edges: IMAGE_VARIANT_EDGES,
        video_duration_secs_max: VIDEO_DURATION_SECS_MAX,
        video_edge_max: VIDEO_EDGE_MAX,
        video_rendition_heights: VIDEO_RENDITION_HEIGHTS,
        files_per_request_max: FILES_PER_REQUEST_MAX,
        direct_upload_bytes_max: DIRECT_UPLOAD_BYTES_MAX,
    }
}

/// The sizes of the variant ladder for an image of `width`×`height`: (name, width, height).
pub fn variant_sizes(width: u32, height: u32) -> Vec<(u32, u32, u32)> {
    let long = width.max(height).max(1);
    let mut out = Vec::new();
    for edge in IMAGE_VARIANT_EDGES {
        if edge >= long {
            out.push((edge, width, height));
            break;
        }
        let scale = edge as f64 / long as f64;
        let w = ((width as f64 * scale).round() as u32).max(1);
        let h = ((height as f64 * scale).round() as u32).max(1);
        out.push((edge, w, h));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_never_upscales_and_keeps_the_aspect() {
        assert_eq!(
            variant_sizes(4000, 3000),
            vec![
                (160, 160, 120),
                (480, 480, 360),
                (1080, 1080, 810),
                (2048, 2048, 1536)
            ]
        );
        assert_eq!(
            variant_sizes(600, 800),
            vec![(160, 120, 160), (480, 360, 480), (1080, 600, 800)]
        );
        assert_eq!(variant_sizes(100, 50), vec![(160, 100, 50)]);
        assert_eq!(
            variant_sizes(480, 480),
            vec![(160, 160, 160), (480, 480, 480)]
        );
    }

    #[test]
    fn purposes_parse_and_say_what_they_take() {
        assert_eq!(Purpose::parse("avatar"), Some(Purpose::Avatar));
        assert_eq!(Purpose::parse("Avatar"), None);
        assert!(!Purpose::Avatar.accepts(MediaType::Mp4));
        assert!(Purpose::Post.accepts(MediaType::Mov));
        assert!(Purpose::Message.is_private());
        assert!(Purpose::Document.is_private());
        assert_eq!(Purpose::Document.video_bytes_max(), None);
        assert!(!Purpose::Post.is_private());
        assert_eq!(Purpose::parse("shop"), Some(Purpose::Shop));
        assert!(!Purpose::Shop.accepts(MediaType::Mp4));
    }
}
