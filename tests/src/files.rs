//! Helpers for the File Manager's tests: generated inputs (images with EXIF and GPS, a
//! decompression bomb, videos from FFmpeg's test sources), direct reads of object storage, and
//! ffprobe.

use std::path::Path;
use std::process::Command;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use nexgate_platform::sigv4::{self, Credentials};
use serde_json::Value;

use crate::LocalEnv;

/// A JPEG of `width`×`height` with a gradient (so it compresses like a photo, not a flat fill).
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), width, height, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// A PNG with a transparent gradient (alpha varies across the width).
pub fn png_rgba(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([200, (y % 256) as u8, 40, (x * 255 / width.max(1)) as u8])
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), width, height, ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// A PNG of `width`x`height` half-transparent pixels of one colour: tiny on the wire, as large as
/// the pixel limit allows once decoded.
pub fn png_flat_rgba(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(width, height, image::Rgba([30, 120, 200, 128]));
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Up,
    )
    .write_image(img.as_raw(), width, height, ExtendedColorType::Rgba8)
    .unwrap();
    out
}

/// A lossless WebP of an opaque gradient.
pub fn webp(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
    });
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .write_image(img.as_raw(), width, height, ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// Marker bytes written into the GPS IFD, so a test can look for them in the outputs.
pub const GPS_MARKER: &[u8] = b"NEXGATE-GPS-MARK";

/// Inserts an Exif APP1 segment with an orientation and a GPS IFD (latitude reference, a
/// processing-method string carrying [`GPS_MARKER`]) after the SOI marker.
pub fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    // TIFF header (big-endian), IFD0 at 8 with two entries: Orientation, GPSInfo pointer.
    let mut t = b"MM\0\x2a\0\0\0\x08".to_vec();
    let ifd0_len = 2 + 2 * 12 + 4;
    let gps_ifd_at = 8 + ifd0_len as u32;
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&0x0112u16.to_be_bytes());
    t.extend_from_slice(&3u16.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&0x8825u16.to_be_bytes());
    t.extend_from_slice(&4u16.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&gps_ifd_at.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD: GPSLatitudeRef "S", GPSProcessingMethod (UNDEFINED) with the marker.
    let gps_len = 2 + 2 * 12 + 4;
    let data_at = gps_ifd_at + gps_len as u32;
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&0x0001u16.to_be_bytes());
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&2u32.to_be_bytes());
    t.extend_from_slice(b"S\0\0\0");
    t.extend_from_slice(&0x001Bu16.to_be_bytes());
    t.extend_from_slice(&7u16.to_be_bytes());
    t.extend_from_slice(&(GPS_MARKER.len() as u32).to_be_bytes());
    t.extend_from_slice(&data_at.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(GPS_MARKER);
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(&t);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    out.extend_from_slice(&c);
    out.extend_from_slice(&crc32(&c).to_be_bytes());
}

/// A valid PNG header announcing `width`×`height` RGB pixels, with a tiny compressed stream of
/// zeros: the classic decompression bomb (a few hundred bytes that would decode to gigabytes).
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    png_header_only(width, height, 8, 2)
}

/// A PNG header claiming `width`x`height` at `bit_depth` and `color_type` (2 RGB, 6 RGBA), with
/// a few bytes of pixel data: only the header is honest.
pub fn png_header_only(width: u32, height: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of a few KiB of zeros (stored as a tiny deflate block of repeated zeros).
    let idat = [
        0x78, 0x9c, 0x63, 0x60, 0x18, 0x05, 0xa3, 0x60, 0x14, 0x0c, 0x00, 0x00,
    ];
    png_chunk(&mut out, b"IDAT", &idat);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A video from FFmpeg's test sources: `secs` seconds of `width`×`height` with a tone.
pub fn video(dir: &Path, name: &str, secs: u32, width: u32, height: u32) -> Vec<u8> {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc2=size={width}x{height}:rate=30:duration={secs}"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={secs}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg could not make the test video");
    std::fs::read(&path).unwrap()
}

/// ffprobe's JSON for a file's bytes.
pub fn ffprobe(dir: &Path, bytes: &[u8]) -> Value {
    let path = dir.join(format!("probe-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Direct, signed access to the local Garage for assertions.
pub struct StorageProbe {
    endpoint: String,
    host: String,
    creds: Credentials,
    http: reqwest::Client,
    pub public_bucket: String,
    pub private_bucket: String,
}

impl StorageProbe {
    pub fn new(env: &LocalEnv) -> Self {
        let host = format!("127.0.0.1:{}", env.get("GARAGE_S3_PORT"));
        Self {
            endpoint: format!("http://{host}"),
            host,
            creds: Credentials {
                access_key: env.get("STORAGE_ACCESS_KEY").into(),
                secret_key: env.get("STORAGE_SECRET_KEY").into(),
                region: env.get("STORAGE_REGION").into(),
                service: "s3".into(),
            },
            http: reqwest::Client::new(),
            public_bucket: env.get("STORAGE_PUBLIC_BUCKET").into(),
            private_bucket: env.get("STORAGE_PRIVATE_BUCKET").into(),
        }
    }

    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
    ) -> reqwest::RequestBuilder {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (amz_date, date) = nexgate_platform::time::amz_date(secs);
        let headers = vec![("host".to_string(), self.host.clone())];
        let signed = sigv4::sign_headers(
            &self.creds,
            method,
            path,
            query,
            &headers,
            &sigv4::sha256_hex(b""),
            &amz_date,
            &date,
        );
        let qs: Vec<String> = query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    sigv4::uri_encode(k, false),
                    sigv4::uri_encode(v, false)
                )
            })
            .collect();
        let mut url = format!("{}{}", self.endpoint, sigv4::uri_encode(path, true));
        if !qs.is_empty() {
            url = format!("{url}?{}", qs.join("&"));
        }
        let mut rb = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        for (k, v) in signed {
            rb = rb.header(k, v);
        }
        rb
    }

    /// Keys under `prefix` in `bucket` (ListObjectsV2, first page).
    pub async fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let query = vec![
            ("list-type".to_string(), "2".to_string()),
            ("prefix".to_string(), prefix.to_string()),
        ];
        let resp = self
            .signed("GET", &format!("/{bucket}/"), &query)
            .send()
            .await
            .expect("list objects");
        assert_eq!(resp.status().as_u16(), 200, "ListObjectsV2 failed");
        let xml = resp.text().await.unwrap();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// An object's bytes, or `None`.
    pub async fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let resp = self
            .signed("GET", &format!("/{bucket}/{key}"), &[])
            .send()
            .await
            .expect("get object");
        if resp.status().as_u16() == 200 {
            Some(resp.bytes().await.unwrap().to_vec())
        } else {
            None
        }
    }
}

/// A long, tiny video (`secs` seconds of one 64×64 colour at 1 frame a second, no sound): cheap
/// to make and to upload, for the duration limit.
pub fn long_video(dir: &Path, name: &str, secs: u32) -> Vec<u8> {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("color=c=teal:size=64x64:rate=1:duration={secs}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg could not make the long video");
    std::fs::read(&path).unwrap()
}
