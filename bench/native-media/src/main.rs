//! `nexgate-bench-media make-jpeg <path> <width> <height>` writes a photo-like JPEG (smooth shapes
//! plus sensor-like noise, so it compresses like a camera picture);
//! `nexgate-bench-media process <path> <seconds>` runs the File Manager's image pipeline on it
//! natively, one image at a time, for that long and prints `<images per second> <p50 ms> <p99 ms>`,
//! the baseline of the in-component figure (bench/files.sh).

use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};
use nexgate_media::image_pipeline;

fn make_jpeg(path: &str, width: u32, height: u32) {
    let mut state: u32 = 0x2545_F491;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 17) as i32 - 8
    };
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let fx = x as f32 / width as f32;
            let fy = y as f32 / height as f32;
            let base = [
                200.0 * fx + 40.0 * (fy * 12.0).sin(),
                180.0 * fy + 50.0 * (fx * 9.0).cos(),
                120.0 + 100.0 * ((fx + fy) * 7.0).sin(),
            ];
            for b in base {
                pixels.push((b as i32 + noise()).clamp(0, 255) as u8);
            }
        }
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 92)
        .write_image(&pixels, width, height, ExtendedColorType::Rgb8)
        .expect("encode");
    std::fs::write(path, out).expect("write");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("make-jpeg") => {
            let w = args[3].parse().expect("width");
            let h = args[4].parse().expect("height");
            make_jpeg(&args[2], w, h);
        }
        Some("process") => {
            let bytes = std::fs::read(&args[2]).expect("read");
            let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
            let deadline = Instant::now() + Duration::from_secs(secs);
            let mut lat: Vec<Duration> = Vec::new();
            let started = Instant::now();
            while Instant::now() < deadline || lat.is_empty() {
                let t = Instant::now();
                let out = image_pipeline::process(&bytes).expect("process");
                assert!(!out.variants.is_empty());
                lat.push(t.elapsed());
            }
            let elapsed = started.elapsed().as_secs_f64();
            lat.sort();
            let pct = |p: f64| {
                lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1].as_secs_f64()
                    * 1000.0
            };
            println!(
                "{:.2} {:.0} {:.0}",
                lat.len() as f64 / elapsed,
                pct(0.5),
                pct(0.99)
            );
        }
        _ => {
            eprintln!(
                "usage: nexgate-bench-media make-jpeg <path> <w> <h> | process <path> <secs>"
            );
            std::process::exit(2);
        }
    }
}
