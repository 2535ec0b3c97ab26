//! The two jobs of `files.media_job.requested`:
//! - `transcode_video`: ffprobe the upload (streams, duration, size; refused over the limits),
//!   FFmpeg to H.264/AAC MP4 with faststart at 720p and 480p (never upscaled, metadata dropped), a
//!   poster JPEG with its BlurHash, all written under the file's prefix;
//! - `webp_variants`: each JPEG/PNG variant of an image also as WebP (libwebp through FFmpeg).
//!
//! A bad input ends the job as `failed` with a reason; only storage or File Manager trouble is
//! retried. FFmpeg runs with a wall-clock limit so a hostile file cannot hold the worker.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use nexgate_media::image_pipeline;
use nexgate_media::limits::{VIDEO_DURATION_SECS_MAX, VIDEO_EDGE_MAX, VIDEO_RENDITION_HEIGHTS};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::process::Command;
use uuid::Uuid;

pub use nexgate_media::stored::StoredObject;

use crate::s3::{ReadError, S3};

/// Longest FFmpeg or ffprobe run before the job fails.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(600);

/// The job, as the File Manager describes it (`GET /internal/files/jobs/{id}`).
#[derive(Debug, Deserialize)]
pub struct Job {
    pub job: String,
    pub file_id: Uuid,
    pub bucket: String,
    pub key_prefix: String,
    pub source_bucket: Option<String>,
    pub source_key: Option<String>,
    #[serde(default)]
    pub sources: Vec<Source>,
}

#[derive(Debug, Deserialize)]
pub struct Source {
    pub name: String,
    pub key: String,
}

/// What a job produced.
#[derive(Debug, Default, Serialize)]
pub struct JobOutput {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u32>,
    pub blurhash: Option<String>,
    pub variants: Vec<StoredObject>,
    pub poster: Option<StoredObject>,
}

/// How a job ended.
pub enum JobEnd {
    Ready(JobOutput),
    /// The input is bad: a reason for the user.
    Failed(String),
    /// Storage or the machine failed: try again later.
    Transient(anyhow::Error),
}

/// What an output is: (file extension, content type, format name).
#[derive(Clone, Copy)]
enum OutputKind {
    Mp4,
    Jpeg,
    Webp,
}

impl OutputKind {
    fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Mp4 => ("mp4", "video/mp4", "mp4"),
            Self::Jpeg => ("jpg", "image/jpeg", "jpeg"),
            Self::Webp => ("webp", "image/webp", "webp"),
        }
    }
}

pub struct Worker {
    pub s3: S3,
    pub work_dir: PathBuf,
    pub ffmpeg: String,
    pub ffprobe: String,
}

/// Runs a tool with the timeout; returns (success, stdout, stderr's last lines).
async fn run(program: &str, args: &[&str]) -> Result<(bool, Vec<u8>, String)> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    let out = tokio::time::timeout(TOOL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("{program} ran longer than {} s", TOOL_TIMEOUT.as_secs()))??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join(" | ");
    Ok((out.status.success(), out.stdout, tail))
}

/// What ffprobe says of a video.
#[derive(Debug)]
pub struct Probe {
    pub width: u32,
    pub height: u32,
    pub duration_ms: u32,
    pub has_audio: bool,
}

fn rotation(stream: &Value) -> i64 {
    let from_tag = stream["tags"]["rotate"]
        .as_str()
        .and_then(|r| r.parse::<i64>().ok());
    let from_side = stream["side_data_list"].as_array().and_then(|l| {
        l.iter().find_map(|d| {
            d["rotation"]
                .as_i64()
                .or_else(|| d["rotation"].as_f64().map(|f| f as i64))
        })
    });
    from_tag.or(from_side).unwrap_or(0)
}

impl Worker {
    pub async fn probe(&self, path: &Path) -> Result<Result<Probe, String>> {
        let p = path.to_string_lossy();
        let (ok, stdout, err) = run(
            &self.ffprobe,
            &[
                "-v",
                "error",
                "-print_format",
                "json",
                "-show_format",
                "-show_streams",
                &p,
            ],
        )
        .await?;
        if !ok {
            return Ok(Err(format!("not a readable video ({err})")));
        }
        let v: Value = serde_json::from_slice(&stdout).unwrap_or(Value::Null);
        let streams = v["streams"].as_array().cloned().unwrap_or_default();
        let Some(video) = streams.iter().find(|s| s["codec_type"] == "video") else {
            return Ok(Err("the file has no video stream".into()));
        };
        let (mut w, mut h) = (
            video["width"].as_u64().unwrap_or(0) as u32,
            video["height"].as_u64().unwrap_or(0) as u32,
        );
        if rotation(video).rem_euclid(180) == 90 {
            std::mem::swap(&mut w, &mut h);
        }
        let duration = v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse::<f64>().ok())
            .or_else(|| video["duration"].as_str().and_then(|d| d.parse().ok()))
            .unwrap_or(0.0);
        if w == 0 || h == 0 {
            return Ok(Err("the video has no frame size".into()));
        }
        if w > VIDEO_EDGE_MAX || h > VIDEO_EDGE_MAX {
            return Ok(Err(format!(
                "{w}x{h} is larger than {VIDEO_EDGE_MAX} on an edge"
            )));
        }
        if duration <= 0.0 {
            return Ok(Err("the video has no duration".into()));
        }
        if duration > f64::from(VIDEO_DURATION_SECS_MAX) {
            return Ok(Err(format!(
                "the video lasts {duration:.0} s, more than {VIDEO_DURATION_SECS_MAX} s"
            )));
        }
        Ok(Ok(Probe {
            width: w,
            height: h,
            duration_ms: (duration * 1000.0).round() as u32,
            has_audio: streams.iter().any(|s| s["codec_type"] == "audio"),
        }))
    }

    /// A scratch folder for one job, removed afterwards.
    fn scratch(&self, id: Uuid) -> Result<PathBuf> {
        let dir = self
            .work_dir
            .join(format!("{id}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    pub async fn run(&self, job: &Job) -> JobEnd {
        let dir = match self.scratch(job.file_id) {
            Ok(d) => d,
            Err(e) => return JobEnd::Transient(e),
        };
        let end = match job.job.as_str() {
            "transcode_video" => self.transcode(job, &dir).await,
            "webp_variants" => self.webp(job, &dir).await,
            other => JobEnd::Failed(format!("unknown job `{other}`")),
        };
        let _ = std::fs::remove_dir_all(&dir);
        end
    }

    async fn fetch(&self, bucket: &str, key: &str, to: &Path) -> Result<(), JobEnd> {
        match self.s3.get(bucket, key).await {
            Ok(bytes) => std::fs::write(to, bytes).map_err(|e| JobEnd::Transient(e.into())),
            Err(ReadError::Missing) => Err(JobEnd::Failed("the uploaded file is gone".into())),
            Err(ReadError::Failed(e)) => Err(JobEnd::Transient(e)),
        }
    }

    /// Uploads one output under the file's prefix as `<name>.<ext>`.
    async fn store(
        &self,
        job: &Job,
        path: &Path,
        name: &str,
        kind: OutputKind,
        (width, height): (u32, u32),
    ) -> Result<StoredObject> {
        let (ext, mime, format) = kind.describe();
        let bytes = std::fs::read(path)?;
        let key = format!("{}{name}.{ext}", job.key_prefix);
        let len = bytes.len() as u64;
        self.s3.put(&job.bucket, &key, mime, bytes).await?;
        Ok(StoredObject {
            name: name.into(),
            format: format.into(),
            width,
            height,
            bytes: len,
            key,
        })
    }

    async fn transcode(&self, job: &Job, dir: &Path) -> JobEnd {
        match self.transcode_steps(job, dir).await {
            Ok(output) => JobEnd::Ready(output),
            Err(end) => end,
        }
    }

    /// Fetch, probe, every rendition in one FFmpeg run, then the poster.
    async fn transcode_steps(&self, job: &Job, dir: &Path) -> Result<JobOutput, JobEnd> {
        let (Some(bucket), Some(key)) = (&job.source_bucket, &job.source_key) else {
            return Err(JobEnd::Failed("the job names no source".into()));
        };
        let input = dir.join("original");
        self.fetch(bucket, key, &input).await?;
        let probe = match self.probe(&input).await {
            Ok(Ok(p)) => p,
            Ok(Err(reason)) => return Err(JobEnd::Failed(reason)),
            Err(e) => return Err(JobEnd::Transient(e)),
        };
        let outputs: Vec<(u32, PathBuf)> = rendition_heights(probe.height)
            .into_iter()
            .map(|h| (h, dir.join(format!("{h}p.mp4"))))
            .collect();
        let input_s = input.to_string_lossy().to_string();
        let args = renditions_args(&input_s, &outputs, probe.has_audio);
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        match run(&self.ffmpeg, &arg_refs).await {
            Ok((true, _, _)) => {}
            Ok((false, _, err)) => {
                return Err(JobEnd::Failed(format!(
                    "the video cannot be transcoded ({err})"
                )))
            }
            Err(e) => {
                return Err(JobEnd::Failed(format!(
                    "the video cannot be transcoded ({e})"
                )))
            }
        }
        let mut output = JobOutput {
            duration_ms: Some(probe.duration_ms),
            ..Default::default()
        };
        for (h, out) in &outputs {
            let (w, hh) = match self.probe(out).await {
                Ok(Ok(p)) => (p.width, p.height),
                Ok(Err(reason)) => {
                    return Err(JobEnd::Failed(format!(
                        "the transcoded video is unreadable: {reason}"
                    )))
                }
                Err(e) => return Err(JobEnd::Transient(e)),
            };
            if output.width.is_none() {
                output.width = Some(w);
                output.height = Some(hh);
            }
            let written = self
                .store(job, out, &format!("{h}p"), OutputKind::Mp4, (w, hh))
                .await
                .map_err(JobEnd::Transient)?;
            output.variants.push(written);
        }
        let poster_h = output.height.unwrap_or(probe.height);
        self.poster(
            job,
            dir,
            &input_s,
            (probe.duration_ms, poster_h),
            &mut output,
        )
        .await?;
        Ok(output)
    }

    /// The poster: a frame a second in (or mid-way through a shorter clip), `height` tall
    /// (the largest rendition's), with its blurhash.
    async fn poster(
        &self,
        job: &Job,
        dir: &Path,
        input: &str,
        (duration_ms, height): (u32, u32),
        output: &mut JobOutput,
    ) -> Result<(), JobEnd> {
        let poster = dir.join("poster.jpg");
        let at = format!("{:.3}", (f64::from(duration_ms) / 2000.0).min(1.0));
        let scale = format!("scale=-2:{height}");
        let poster_s = poster.to_string_lossy().to_string();
        let args = [
            "-hide_banner",
            "-nostdin",
            "-y",
            "-ss",
            &at,
            "-i",
            input,
            "-frames:v",
            "1",
            "-vf",
            &scale,
            "-q:v",
            "3",
            "-map_metadata",
            "-1",
            &poster_s,
        ];
        match run(&self.ffmpeg, &args).await {
            Ok((true, _, _)) => {}
            Ok((false, _, err)) => return Err(JobEnd::Failed(format!("no poster frame ({err})"))),
            Err(e) => return Err(JobEnd::Failed(format!("no poster frame ({e})"))),
        }
        let poster_bytes = std::fs::read(&poster).map_err(|e| JobEnd::Transient(e.into()))?;
        let (pw, ph, hash) = image_pipeline::blurhash_of(&poster_bytes)
            .map_err(|e| JobEnd::Failed(format!("the poster frame is unreadable: {e}")))?;
        output.blurhash = Some(hash);
        let written = self
            .store(job, &poster, "poster", OutputKind::Jpeg, (pw, ph))
            .await
            .map_err(JobEnd::Transient)?;
        output.poster = Some(written);
        Ok(())
    }

    async fn webp(&self, job: &Job, dir: &Path) -> JobEnd {
        let mut output = JobOutput::default();
        for (i, source) in job.sources.iter().enumerate() {
            // The File Manager names only the file's own variants; never read past its prefix.
            if !source.key.starts_with(&job.key_prefix) {
                return JobEnd::Failed(format!("variant {} is outside the file", source.name));
            }
            let input = dir.join(format!("{i}.src"));
            if let Err(end) = self.fetch(&job.bucket, &source.key, &input).await {
                return end;
            }
            let bytes = match std::fs::read(&input) {
                Ok(b) => b,
                Err(e) => return JobEnd::Transient(e.into()),
            };
            let (w, h) = match image_pipeline::probe(&bytes) {
                Ok((_, w, h)) => (w, h),
                Err(e) => {
                    return JobEnd::Failed(format!("variant {} is unreadable: {e}", source.name))
                }
            };
            let out = dir.join(format!("{i}.webp"));
            let (in_s, out_s) = (
                input.to_string_lossy().to_string(),
                out.to_string_lossy().to_string(),
            );
            let args = [
                "-hide_banner",
                "-nostdin",
                "-y",
                "-i",
                &in_s,
                "-c:v",
                "libwebp",
                "-quality",
                "80",
                "-map_metadata",
                "-1",
                &out_s,
            ];
            match run(&self.ffmpeg, &args).await {
                Ok((true, _, _)) => {}
                Ok((false, _, err)) => {
                    return JobEnd::Failed(format!("WebP encoding failed ({err})"))
                }
                Err(e) => return JobEnd::Transient(e),
            }
            match self
                .store(job, &out, &source.name, OutputKind::Webp, (w, h))
                .await
            {
                Ok(written) => output.variants.push(written),
                Err(e) => return JobEnd::Transient(e),
            }
        }
        JobEnd::Ready(output)
    }
}

/// The rendition ladder for a source `height` tall: every rung not above it, or one rendition
/// at its own (even) height when it is smaller than every rung.
fn rendition_heights(height: u32) -> Vec<u32> {
    let heights: Vec<u32> = VIDEO_RENDITION_HEIGHTS
        .iter()
        .copied()
        .filter(|h| *h <= height)
        .collect();
    if heights.is_empty() {
        vec![(height / 2 * 2).max(2)]
    } else {
        heights
    }
}

/// One FFmpeg run that decodes the source once and splits it to every rendition (decoding a
/// 1080p source is a large share of the work, so this is much faster than a run per height):
/// H.264 high profile, AAC stereo when there is sound, metadata stripped, fast start.
fn renditions_args(input: &str, outputs: &[(u32, PathBuf)], has_audio: bool) -> Vec<String> {
    let labels: Vec<String> = (0..outputs.len()).map(|i| format!("[s{i}]")).collect();
    let mut graph = format!("[0:v:0]split={}{}", outputs.len(), labels.concat());
    for (i, (h, _)) in outputs.iter().enumerate() {
        graph.push_str(&format!(";[s{i}]scale=-2:{h}[v{i}]"));
    }
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-y",
        "-i",
        input,
        "-filter_complex",
        &graph,
    ]
    .map(String::from)
    .to_vec();
    for (i, (_, path)) in outputs.iter().enumerate() {
        args.extend(["-map".to_string(), format!("[v{i}]")]);
        if has_audio {
            args.extend(
                ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-ac", "2"].map(String::from),
            );
        }
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "23",
                "-profile:v",
                "high",
                "-pix_fmt",
                "yuv420p",
                "-map_metadata",
                "-1",
                "-movflags",
                "+faststart",
            ]
            .map(String::from),
        );
        args.push(path.to_string_lossy().to_string());
    }
    args
}
