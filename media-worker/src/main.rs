//! `nexgate-media-worker`: the File Manager's native half (docs/files.md).
//!
//! It consumes `<prefix>.worker.media` (bound to `files.media_job.requested`, declared from the
//! `[workers.media]` section of the subscriptions file). The event names only a job and its file:
//! the job itself (sources, destination bucket and prefix) is read from the File Manager
//! (`GET /internal/files/jobs/{id}`), so a forged event cannot point the worker at other objects.
//! It runs the job with FFmpeg, writes the results under the file's prefix, and reports to
//! `POST /internal/files/jobs/result`. A delivery is
//! acked only once the File Manager has recorded the outcome; storage or File Manager trouble is
//! retried with the bus's backoff and dead-lettered after the last attempt; a bad input is a
//! recorded failure, never a crash.

mod jobs;
mod s3;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Parser;
use nexgate_bus::consumer::{self, Outcome};
use serde_json::{json, Value};
use uuid::Uuid;

use jobs::{Job, JobEnd, JobOutput, Worker};

/// The worker's name in the subscriptions file (`[workers.media]`).
const WORKER: &str = "media";
/// The event type of a job.
const JOB_TYPE: &str = "files.media_job.requested";

#[derive(Parser)]
#[command(
    name = "nexgate-media-worker",
    version,
    about = "Nexgate's media worker (FFmpeg)"
)]
struct Args {
    #[command(flatten)]
    queues: nexgate_bus::QueueArgs,
    /// Where the application serves (`http://127.0.0.1:3000`).
    #[arg(long, env = "NEXGATE_BASE_URL")]
    base_url: String,
    #[arg(
        long,
        env = "SPIN_VARIABLE_FILES_INTERNAL_TOKEN",
        hide_env_values = true
    )]
    files_internal_token: String,
    #[arg(
        long,
        env = "SPIN_VARIABLE_STORAGE_ENDPOINT",
        default_value = "http://127.0.0.1:3900"
    )]
    storage_endpoint: String,
    #[arg(long, env = "SPIN_VARIABLE_STORAGE_REGION", default_value = "garage")]
    storage_region: String,
    #[arg(long, env = "SPIN_VARIABLE_STORAGE_ACCESS_KEY", hide_env_values = true)]
    storage_access_key: String,
    #[arg(long, env = "SPIN_VARIABLE_STORAGE_SECRET_KEY", hide_env_values = true)]
    storage_secret_key: String,
    /// Scratch space for inputs and outputs (one folder per job, removed after it).
    #[arg(long, env = "NEXGATE_MEDIA_WORK_DIR", default_value_os_t = std::env::temp_dir().join("nexgate-media"))]
    work_dir: PathBuf,
    #[arg(long, env = "NEXGATE_FFMPEG", default_value = "ffmpeg")]
    ffmpeg: String,
    #[arg(long, env = "NEXGATE_FFPROBE", default_value = "ffprobe")]
    ffprobe: String,
}

struct Ctx {
    worker: Worker,
    http: reqwest::Client,
    /// `<base>/internal/files/jobs`: `/{id}` describes a job, `/result` records its outcome.
    jobs_url: String,
    token: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    for tool in [&args.ffmpeg, &args.ffprobe] {
        let ok = std::process::Command::new(tool)
            .arg("-version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        anyhow::ensure!(
            ok,
            "`{tool} -version` failed: install FFmpeg (infra/setup-stores.sh does)"
        );
    }
    args.queues.check_worker(WORKER)?;
    std::fs::create_dir_all(&args.work_dir)?;
    let ctx = Arc::new(Ctx {
        worker: Worker {
            s3: s3::S3::new(
                &args.storage_endpoint,
                &args.storage_region,
                &args.storage_access_key,
                &args.storage_secret_key,
            )?,
            work_dir: args.work_dir.clone(),
            ffmpeg: args.ffmpeg.clone(),
            ffprobe: args.ffprobe.clone(),
        },
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?,
        jobs_url: format!(
            "{}/internal/files/jobs",
            args.base_url.trim_end_matches('/')
        ),
        token: args.files_internal_token.clone(),
    });
    // One job at a time: FFmpeg already uses every core. Reconnects after the broker drops it (a
    // restart), with backoff; a job interrupted by the drop is delivered again. Never returns.
    nexgate_bus::supervise::run_forever("media-worker", || {
        let (ctx, queues) = (ctx.clone(), &args.queues);
        async move {
            let (_conn, channel, queues) = queues.open_worker(WORKER).await?;
            tracing::info!("media-worker: ready, consuming {}", queues.main);
            consumer::consume(channel, &queues, "media-worker", 1, |body| {
                let ctx = ctx.clone();
                async move { handle(&ctx, body).await }
            })
            .await
        }
    })
    .await;
    Ok(())
}

/// What the event says: which job of which file (nothing else is taken from the bus).
#[derive(serde::Deserialize)]
struct NamedJob {
    job_id: Uuid,
    file_id: Uuid,
}

/// Reads the job from the File Manager and checks it is the named file's.
async fn fetch_job(ctx: &Ctx, named: &NamedJob) -> Result<Job, Outcome> {
    let retry = |why: String| Outcome::Retry { why };
    let resp = ctx
        .http
        .get(format!("{}/{}", ctx.jobs_url, named.job_id))
        .header("x-internal-token", &ctx.token)
        .send()
        .await
        .map_err(|e| retry(format!("reading the job: {e}")))?;
    let status = resp.status().as_u16();
    match status {
        200 => {}
        // The file was deleted meanwhile: nothing to do.
        410 => return Err(Outcome::Done),
        404 => {
            return Err(refused(format!(
                "unknown job {}: the File Manager has no such job",
                named.job_id
            )))
        }
        400..=499 => {
            return Err(Outcome::Refused {
                status,
                answer: resp.text().await.unwrap_or_default(),
            })
        }
        _ => return Err(retry(format!("reading the job: status {status}"))),
    }
    let job: Job = resp
        .json()
        .await
        .map_err(|e| retry(format!("reading the job: {e}")))?;
    if job.file_id != named.file_id {
        return Err(refused(format!(
            "job {} is not a job of file {}",
            named.job_id, named.file_id
        )));
    }
    Ok(job)
}

fn refused(why: impl Into<String>) -> Outcome {
    Outcome::Refused {
        status: 400,
        answer: why.into(),
    }
}

async fn handle(ctx: &Ctx, body: Vec<u8>) -> Outcome {
    let Ok(envelope) = serde_json::from_slice::<Value>(&body) else {
        return refused("the message is not JSON");
    };
    if envelope["type"] != JOB_TYPE {
        return refused(format!("not a {JOB_TYPE} event"));
    }
    let named: NamedJob = match serde_json::from_value(envelope["data"].clone()) {
        Ok(j) => j,
        Err(e) => return refused(format!("malformed job: {e}")),
    };
    let job = match fetch_job(ctx, &named).await {
        Ok(job) => job,
        Err(outcome) => return outcome,
    };
    let job_id = named.job_id;
    let started = std::time::Instant::now();
    let (outcome, reason, output) = match ctx.worker.run(&job).await {
        JobEnd::Ready(out) => ("ready", None, out),
        JobEnd::Failed(reason) => ("failed", Some(reason), JobOutput::default()),
        JobEnd::Transient(e) => {
            return Outcome::Retry {
                why: format!("{e:#}"),
            }
        }
    };
    tracing::info!(
        "media worker: {} of {} {outcome} in {} ms{}",
        job.job,
        job.file_id,
        started.elapsed().as_millis(),
        reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    let written: Vec<String> = output
        .variants
        .iter()
        .chain(output.poster.iter())
        .map(|w| w.key.clone())
        .collect();
    let report = json!({
        "job_id": job_id,
        "file_id": job.file_id,
        "job": job.job,
        "outcome": outcome,
        "reason": reason,
        "width": output.width,
        "height": output.height,
        "duration_ms": output.duration_ms,
        "blurhash": output.blurhash,
        "variants": output.variants,
        "poster": output.poster,
    });
    let sent = ctx
        .http
        .post(format!("{}/result", ctx.jobs_url))
        .header("x-internal-token", &ctx.token)
        .json(&report)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                why: format!("reporting: {e}"),
            }
        }
    };
    let status = resp.status().as_u16();
    match status {
        200..=299 => {
            // The result is recorded: the original upload has served its purpose.
            if job.job == "transcode_video" && outcome == "ready" {
                if let (Some(b), Some(k)) = (&job.source_bucket, &job.source_key) {
                    let _ = ctx.worker.s3.delete(b, k).await;
                }
            }
            Outcome::Done
        }
        410 => {
            // The file was deleted meanwhile: take back what this job wrote.
            for key in written {
                let _ = ctx.worker.s3.delete(&job.bucket, &key).await;
            }
            Outcome::Done
        }
        400..=499 => Outcome::Refused {
            status,
            answer: resp.text().await.unwrap_or_default(),
        },
        _ => Outcome::Retry {
            why: format!("reporting: status {status}"),
        },
    }
}
