//! Images, start to end: the header is read first (type and pixel count, so a decompression bomb
//! is refused before a byte is decoded), then the image is decoded, turned upright by its EXIF
//! orientation, resized down the variant ladder ([`crate::limits::variant_sizes`]) with
//! `fast_image_resize`, and re-encoded from bare pixels, which leaves every piece of metadata
//! (EXIF, GPS, XMP, ICC, comments) behind. Opaque images become JPEG, images with transparency PNG.
//! The BlurHash (4×3 components) is computed from the smallest variant.

use std::io::Cursor;

use fast_image_resize::images::Image as ResizeImage;
use fast_image_resize::{FilterType, MulDiv, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::codecs::png::{PngDecoder, PngEncoder};
use image::codecs::webp::WebPDecoder;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder};

use crate::limits::{
    variant_sizes, IMAGE_EDGE_MAX, IMAGE_MEMORY_BYTES_MAX, IMAGE_PIXELS_MAX, IMAGE_VARIANT_EDGES,
};
use crate::sniff::{sniff, MediaKind, MediaType};

/// JPEG quality of the variants.
pub const JPEG_QUALITY: u8 = 82;
/// BlurHash components (x, y).
pub const BLURHASH_COMPONENTS: (u32, u32) = (4, 3);

/// Why an image was refused. Each maps to a client error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// Not a JPEG, PNG or WebP by its magic bytes.
    UnsupportedType,
    /// A video where an image was expected.
    NotAnImage(MediaType),
    /// More pixels, or a longer edge, than the limits allow (a decompression bomb, for one).
    TooManyPixels { width: u32, height: u32 },
    /// Within the pixel limits, but processing it would take more memory than an image may
    /// (a 16-bit or grey-with-alpha image near the pixel limit).
    NeedsTooMuchMemory { bytes: u64 },
    /// Truncated or corrupt data.
    Corrupt(String),
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnsupportedType => write!(f, "the file is not a JPEG, PNG or WebP image"),
            Self::NotAnImage(t) => write!(f, "a {} is not an image", t.mime()),
            Self::TooManyPixels { width, height } => write!(
                f,
                "{width}x{height} is more than {IMAGE_PIXELS_MAX} pixels or {IMAGE_EDGE_MAX} on an edge"
            ),
            Self::NeedsTooMuchMemory { bytes } => write!(
                f,
                "processing it would take {} MiB, more than the {} MiB an image may use",
                bytes.div_ceil(1024 * 1024),
                IMAGE_MEMORY_BYTES_MAX / (1024 * 1024)
            ),
            Self::Corrupt(why) => write!(f, "the image cannot be decoded: {why}"),
        }
    }
}

/// The encoding of the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jpeg,
    Png,
}

impl OutputFormat {
    /// The format's name in a variant record (`jpeg`, `png`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }
}

/// One encoded rung of the ladder.
#[derive(Debug, Clone)]
pub struct EncodedVariant {
    /// The ladder rung (`160`, `480`, `1080`, `2048`): the variant's long edge is at most this.
    pub edge: u32,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// A processed image.
#[derive(Debug, Clone)]
pub struct ProcessedImage {
    pub source_type: MediaType,
    /// Upright size of the original.
    pub width: u32,
    pub height: u32,
    pub format: OutputFormat,
    /// Smallest first.
    pub variants: Vec<EncodedVariant>,
    pub blurhash: String,
}

/// An image's type and stored size, from its header only.
pub fn probe(bytes: &[u8]) -> Result<(MediaType, u32, u32), ImageError> {
    let t = sniff(bytes).ok_or(ImageError::UnsupportedType)?;
    if t.kind() != MediaKind::Image {
        return Err(ImageError::NotAnImage(t));
    }
    let (w, h) = decoder(t, bytes)?.dimensions();
    check_pixels(w, h)?;
    Ok((t, w, h))
}

fn check_pixels(width: u32, height: u32) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt("the image has no pixels".into()));
    }
    if u64::from(width) * u64::from(height) > IMAGE_PIXELS_MAX
        || width > IMAGE_EDGE_MAX
        || height > IMAGE_EDGE_MAX
    {
        return Err(ImageError::TooManyPixels { width, height });
    }
    Ok(())
}

fn corrupt(e: impl std::fmt::Display) -> ImageError {
    ImageError::Corrupt(e.to_string())
}

fn decoder<'a>(t: MediaType, bytes: &'a [u8]) -> Result<Box<dyn ImageDecoder + 'a>, ImageError> {
    let cursor = Cursor::new(bytes);
    Ok(match t {
        MediaType::Jpeg => Box::new(JpegDecoder::new(cursor).map_err(corrupt)?),
        MediaType::Png => Box::new(PngDecoder::new(cursor).map_err(corrupt)?),
        MediaType::Webp => Box::new(WebPDecoder::new(cursor).map_err(corrupt)?),
        other => return Err(ImageError::NotAnImage(other)),
    })
}

/// A JPEG must end with its end-of-image marker (possibly followed by a camera's trailer); a
/// truncated one would otherwise decode with its missing rows painted grey.
fn check_complete(t: MediaType, bytes: &[u8]) -> Result<(), ImageError> {
    if t == MediaType::Jpeg {
        let tail = &bytes[bytes.len().saturating_sub(256 * 1024)..];
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err(ImageError::Corrupt(
                "the JPEG has no end-of-image marker (truncated?)".into(),
            ));
        }
    }
    Ok(())
}

/// The memory processing an image takes at its peak, from its header: the decoded pixels, their
/// conversion to 8-bit RGB(A) unless they are already, a 90° turn (a new buffer), the largest
/// rung's resize buffers, and the upload held twice (request and copy). (Premultiplying alpha is
/// done in place, and an opaque RGBA image loses its alpha in place: neither needs a copy.)
pub fn memory_needed(dec: &dyn ImageDecoder, orientation: Orientation, input: usize) -> u64 {
    use image::ColorType;
    let (w, h) = dec.dimensions();
    let pixels = u64::from(w) * u64::from(h);
    let depth8 = if dec.color_type().has_alpha() { 4 } else { 3 };
    let converted = match dec.color_type() {
        ColorType::Rgb8 | ColorType::Rgba8 => 0,
        _ => pixels * depth8,
    };
    let turned = match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => pixels * depth8,
        _ => 0,
    };
    let rung = u64::from(IMAGE_VARIANT_EDGES[IMAGE_VARIANT_EDGES.len() - 1]);
    // The largest rung, its intermediate pass, and (with alpha) its un-premultiplied copy.
    let rungs = if depth8 == 4 { 2 } else { 1 };
    let resize = u64::from(w.max(h)) * rung * depth8 + rungs * rung * rung * depth8;
    dec.total_bytes() + converted + turned + resize + 2 * input as u64
}

/// Decodes, orients, resizes and encodes one image.
pub fn process(bytes: &[u8]) -> Result<ProcessedImage, ImageError> {
    let (source_type, img) = decode_upright(bytes)?;
    let (width, height) = (img.width(), img.height());
    let (pixels, raw) = Pixels::of(img);
    let (variants, smallest) = encode_ladder(&pixels, raw, width, height)?;
    let blurhash = blurhash_of_rung(&pixels, &smallest)?;
    Ok(ProcessedImage {
        source_type,
        width,
        height,
        format: pixels.format,
        variants,
        blurhash,
    })
}

/// The image decoded (once its header showed it fits in memory), in 8-bit RGB(A), upright.
fn decode_upright(bytes: &[u8]) -> Result<(MediaType, DynamicImage), ImageError> {
    let (source_type, w, h) = probe(bytes)?;
    check_complete(source_type, bytes)?;
    let mut dec = decoder(source_type, bytes)?;
    let orientation = dec.orientation().map_err(corrupt)?;
    let needed = memory_needed(dec.as_ref(), orientation, bytes.len());
    if needed > IMAGE_MEMORY_BYTES_MAX {
        return Err(ImageError::NeedsTooMuchMemory { bytes: needed });
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(IMAGE_EDGE_MAX);
    limits.max_image_height = Some(IMAGE_EDGE_MAX);
    limits.max_alloc = Some(IMAGE_MEMORY_BYTES_MAX);
    dec.set_limits(limits).map_err(corrupt)?;
    let img = DynamicImage::from_decoder(dec).map_err(corrupt)?;
    if (img.width(), img.height()) != (w, h) {
        return Err(ImageError::Corrupt(
            "the header and the pixels disagree".into(),
        ));
    }
    let mut img = to_8_bit(img);
    img.apply_orientation(orientation);
    Ok((source_type, img))
}

/// The pixels to resize and how they are encoded: transparent images stay RGBA and become PNG,
/// opaque ones RGB and JPEG.
struct Pixels {
    format: OutputFormat,
    pixel_type: PixelType,
    color: ExtendedColorType,
    transparent: bool,
    alpha: MulDiv,
}

impl Pixels {
    /// The encoding chosen for `img`, and its bytes in that pixel layout.
    fn of(img: DynamicImage) -> (Self, Vec<u8>) {
        let (format, pixel_type, color, raw) = match img {
            DynamicImage::ImageRgba8(rgba) if rgba.pixels().any(|p| p.0[3] != 255) => (
                OutputFormat::Png,
                PixelType::U8x4,
                ExtendedColorType::Rgba8,
                rgba.into_raw(),
            ),
            DynamicImage::ImageRgba8(opaque) => (
                OutputFormat::Jpeg,
                PixelType::U8x3,
                ExtendedColorType::Rgb8,
                drop_alpha_in_place(opaque.into_raw()),
            ),
            other => (
                OutputFormat::Jpeg,
                PixelType::U8x3,
                ExtendedColorType::Rgb8,
                other.into_rgb8().into_raw(),
            ),
        };
        let pixels = Self {
            transparent: format == OutputFormat::Png,
            format,
            pixel_type,
            color,
            alpha: MulDiv::default(),
        };
        (pixels, raw)
    }

    /// A rung's bytes with straight (not premultiplied) alpha, as encoders and BlurHash take them.
    fn straight(&self, premultiplied: &ResizeImage<'_>) -> Result<Vec<u8>, ImageError> {
        let mut copy = premultiplied.copy();
        self.alpha
            .divide_alpha_inplace(&mut copy)
            .map_err(corrupt)?;
        Ok(copy.into_vec())
    }
}

/// Every rung of the ladder, encoded, largest first in the making, smallest first in the answer;
/// also the smallest rung's pixels (for the BlurHash).
fn encode_ladder(
    pixels: &Pixels,
    raw: Vec<u8>,
    width: u32,
    height: u32,
) -> Result<(Vec<EncodedVariant>, ResizeImage<'static>), ImageError> {
    let (format, pixel_type, color, transparent) = (
        pixels.format,
        pixels.pixel_type,
        pixels.color,
        pixels.transparent,
    );
    // Largest rung first, each smaller one from the one before: far less work than resizing the
    // full original four times, with no visible loss (every step shrinks by about half or more).
    let mut ladder = variant_sizes(width, height);
    ladder.reverse();
    let mut resizer = Resizer::new();
    // Transparent pixels are resized premultiplied (no colour bleeds from invisible pixels). The
    // resizer would premultiply into a copy of the whole source; it is done here in place instead
    // (that copy is what ran a 30-megapixel image out of memory), and undone on each rung's copy.
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(false);
    let mut source = ResizeImage::from_vec_u8(width, height, raw, pixel_type).map_err(corrupt)?;
    if transparent {
        pixels
            .alpha
            .multiply_alpha_inplace(&mut source)
            .map_err(corrupt)?;
    }
    let mut variants = Vec::with_capacity(ladder.len());
    for (edge, vw, vh) in ladder {
        let rung = if (vw, vh) == (source.width(), source.height()) {
            source
        } else {
            let mut dst = ResizeImage::new(vw, vh, pixel_type);
            resizer
                .resize(&source, &mut dst, &options)
                .map_err(corrupt)?;
            dst
        };
        let bytes = if transparent {
            encode(format, &pixels.straight(&rung)?, vw, vh, color)?
        } else {
            encode(format, rung.buffer(), vw, vh, color)?
        };
        variants.push(EncodedVariant {
            edge,
            width: vw,
            height: vh,
            bytes,
        });
        source = rung;
    }
    variants.reverse();

    Ok((variants, source))
}

/// The BlurHash of the smallest rung.
fn blurhash_of_rung(pixels: &Pixels, source: &ResizeImage<'_>) -> Result<String, ImageError> {
    // `source` is now the smallest rung.
    let rgba: Vec<u8> = if pixels.transparent {
        pixels.straight(source)?
    } else {
        source
            .buffer()
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    };
    let blurhash = blurhash::encode(
        BLURHASH_COMPONENTS.0,
        BLURHASH_COMPONENTS.1,
        source.width(),
        source.height(),
        &rgba,
    )
    .map_err(corrupt)?;

    Ok(blurhash)
}

/// 8-bit RGB or RGBA, converting (one new buffer) only what is not already.
fn to_8_bit(img: DynamicImage) -> DynamicImage {
    match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => img,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.into_rgba8()),
        other => DynamicImage::ImageRgb8(other.into_rgb8()),
    }
}

/// RGBA bytes to RGB bytes in the same allocation (an opaque PNG or WebP at the pixel limit would
/// otherwise need a second, three-quarter-size buffer).
fn drop_alpha_in_place(mut rgba: Vec<u8>) -> Vec<u8> {
    let pixels = rgba.len() / 4;
    for i in 0..pixels {
        rgba.copy_within(i * 4..i * 4 + 3, i * 3);
    }
    // (Not shrunk: a reallocation would copy into a second buffer, the peak this avoids.)
    rgba.truncate(pixels * 3);
    rgba
}

/// Longest edge of the thumbnail a standalone BlurHash is computed from.
const BLURHASH_SOURCE_EDGE: u32 = 64;

/// The size and BlurHash of an image (a video poster): decoded, shrunk to a thumbnail, hashed.
pub fn blurhash_of(bytes: &[u8]) -> Result<(u32, u32, String), ImageError> {
    let (t, w, h) = probe(bytes)?;
    let img = DynamicImage::from_decoder(decoder(t, bytes)?).map_err(corrupt)?;
    let scale = (f64::from(BLURHASH_SOURCE_EDGE) / f64::from(w.max(h))).min(1.0);
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    let src = ResizeImage::from_vec_u8(w, h, img.into_rgba8().into_raw(), PixelType::U8x4)
        .map_err(corrupt)?;
    let mut dst = ResizeImage::new(tw, th, PixelType::U8x4);
    Resizer::new()
        .resize(&src, &mut dst, &ResizeOptions::new())
        .map_err(corrupt)?;
    let hash = blurhash::encode(
        BLURHASH_COMPONENTS.0,
        BLURHASH_COMPONENTS.1,
        tw,
        th,
        dst.buffer(),
    )
    .map_err(corrupt)?;
    Ok((w, h, hash))
}

fn encode(
    format: OutputFormat,
    pixels: &[u8],
    width: u32,
    height: u32,
    color: ExtendedColorType,
) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    match format {
        OutputFormat::Jpeg => JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
            .write_image(pixels, width, height, color)
            .map_err(corrupt)?,
        OutputFormat::Png => PngEncoder::new(&mut out)
            .write_image(pixels, width, height, color)
            .map_err(corrupt)?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    #[test]
    fn alpha_is_dropped_in_the_same_buffer() {
        let rgba = vec![1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255];
        let before = rgba.as_ptr();
        let rgb = drop_alpha_in_place(rgba);
        assert_eq!(rgb, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(rgb.as_ptr(), before, "no second buffer");
    }

    #[test]
    fn memory_is_estimated_from_the_header_and_bounds_what_is_processed() {
        let png = |w: u32, h: u32, color: image::ColorType| {
            let img = DynamicImage::new(w, h, color);
            let mut out = Vec::new();
            img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
                .unwrap();
            out
        };
        let rgba8 = png(100, 50, image::ColorType::Rgba8);
        let dec = decoder(MediaType::Png, &rgba8).unwrap();
        let rung = 2048u64;
        assert_eq!(
            memory_needed(dec.as_ref(), Orientation::NoTransforms, rgba8.len()),
            100 * 50 * 4 + 100 * rung * 4 + 2 * rung * rung * 4 + 2 * rgba8.len() as u64
        );
        // 16 bits a channel: the decode itself, then an 8-bit copy; a turn adds another.
        let deep = png(100, 50, image::ColorType::Rgba16);
        let dec = decoder(MediaType::Png, &deep).unwrap();
        let upright = memory_needed(dec.as_ref(), Orientation::NoTransforms, 0);
        let turned = memory_needed(dec.as_ref(), Orientation::Rotate90, 0);
        assert_eq!(
            upright,
            100 * 50 * 8 + 100 * 50 * 4 + 100 * rung * 4 + 2 * rung * rung * 4
        );
        assert_eq!(turned - upright, 100 * 50 * 4);
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .write_image(img.as_raw(), width, height, ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// Inserts an APP1 Exif segment (orientation, and a GPS IFD pointer) after the SOI marker.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes());
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut seg = b"Exif\0\0".to_vec();
        seg.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&seg);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn a_large_jpeg_gets_the_whole_ladder_and_a_blurhash() {
        let out = process(&jpeg(3000, 2000)).unwrap();
        assert_eq!(out.format, OutputFormat::Jpeg);
        let sizes: Vec<_> = out
            .variants
            .iter()
            .map(|v| (v.edge, v.width, v.height))
            .collect();
        assert_eq!(
            sizes,
            vec![
                (160, 160, 107),
                (480, 480, 320),
                (1080, 1080, 720),
                (2048, 2048, 1365)
            ]
        );
        for v in &out.variants {
            let decoded = image::load_from_memory(&v.bytes).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (v.width, v.height));
        }
        assert_eq!(out.blurhash.len(), 4 + 2 * 4 * 3);
        assert!(blurhash::decode(&out.blurhash, 32, 32, 1.0).is_ok());
    }

    #[test]
    fn exif_orientation_is_applied_and_the_exif_is_gone() {
        let rotated = with_exif_orientation(&jpeg(400, 200), 6);
        assert!(rotated.windows(4).any(|w| w == b"Exif"));
        let out = process(&rotated).unwrap();
        assert_eq!((out.width, out.height), (200, 400));
        for v in &out.variants {
            assert!(!v.bytes.windows(4).any(|w| w == b"Exif"));
        }
    }

    #[test]
    fn transparency_keeps_png() {
        let img = RgbaImage::from_fn(300, 300, |x, _| Rgba([255, 0, 0, (x % 256) as u8]));
        let mut png = Vec::new();
        PngEncoder::new(&mut png)
            .write_image(img.as_raw(), 300, 300, ExtendedColorType::Rgba8)
            .unwrap();
        let out = process(&png).unwrap();
        assert_eq!(out.format, OutputFormat::Png);
        assert_eq!(out.variants.len(), 2);
    }

    #[test]
    fn bombs_truncations_and_impostors_are_refused() {
        // A PNG header claiming 20000x20000 is refused from the header alone.
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bomb.extend_from_slice(&20_000u32.to_be_bytes());
        bomb.extend_from_slice(&20_000u32.to_be_bytes());
        bomb.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            probe(&bomb),
            Err(ImageError::TooManyPixels { .. }) | Err(ImageError::Corrupt(_))
        ));
        let full = jpeg(640, 480);
        let truncated = &full[..full.len() / 2];
        assert!(matches!(process(truncated), Err(ImageError::Corrupt(_))));
        assert_eq!(
            process(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0").unwrap_err(),
            ImageError::UnsupportedType
        );
    }
}
