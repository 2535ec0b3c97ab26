//! `nexgate-ops scheduler`: calls `POST <base>/internal/<service>/jobs/<job>` on a schedule.
//!
//! The schedule is one file (`infra/schedule.toml`): each job names its service, its job name and
//! its period (`every_seconds`). A job that is still running when its next turn comes is skipped
//! (never two at once), and a failure is logged and retried at the next turn.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The schedule file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default)]
    pub jobs: Vec<Job>,
}

/// One scheduled job.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub service: String,
    pub job: String,
    pub every_seconds: u64,
}

impl Schedule {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let schedule: Self =
            toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
        for j in &schedule.jobs {
            let ok = |s: &str| {
                !s.is_empty()
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    })
            };
            if !ok(&j.service) || !ok(&j.job) {
                bail!(
                    "{}: job `{}/{}` has an invalid name",
                    path.display(),
                    j.service,
                    j.job
                );
            }
            if j.every_seconds == 0 {
                bail!(
                    "{}: job `{}/{}` must run at least every second",
                    path.display(),
                    j.service,
                    j.job
                );
            }
        }
        Ok(schedule)
    }
}

/// Runs every job on its period until the process stops.
pub async fn run(
    schedule: Schedule,
    base_url: String,
    tokens: BTreeMap<String, String>,
) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut tasks = Vec::new();
    for job in schedule.jobs {
        let url = format!(
            "{}/internal/{}/jobs/{}",
            base_url.trim_end_matches('/'),
            job.service,
            job.job
        );
        let token = tokens.get(&job.service).cloned().unwrap_or_default();
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(job.every_seconds));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticker.tick().await;
                match http
                    .post(&url)
                    .header("x-internal-token", &token)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        tracing::debug!("scheduler: {url} -> {}", r.status())
                    }
                    Ok(r) => tracing::warn!("scheduler: {url} -> {}", r.status()),
                    Err(e) => tracing::warn!("scheduler: {url} failed: {e}"),
                }
            }
        }));
    }
    tracing::info!("scheduler: {} jobs", tasks.len());
    for t in tasks {
        t.await?;
    }
    Ok(())
}
