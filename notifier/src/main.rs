//! `nexgate-notifier`: the Notification Service's native half (docs/notifications.md).
//!
//! Three loops share the `notifications` database:
//! - the consumer (`record`) reads `<prefix>.worker.notifier` one envelope at a time and, in one
//!   transaction, records the event id (a redelivered event changes nothing), writes the in-app
//!   notifications (similar unread ones folded into one group) and queues push, email and SMS
//!   deliveries as each recipient's preferences decide (sent now, held for quiet hours, collected
//!   for a digest, or skipped), and schedules reminders. The message is acked after that commit.
//! - the sender (`sender`) claims due deliveries, sends them through the gateways (SMTP, Africa's
//!   Talking SMS, FCM HTTP v1 push), records every attempt, retries transient failures with
//!   exponential backoff and jitter up to a bound (then `dead`), never retries a permanent one,
//!   and drops push tokens the gateway reports dead.
//! - the clock (`schedule`) fires reminders at their time and assembles digests.
//!
//! Who users are (verified email and phone, names, mutes, blocks) comes from the views auth and
//! profiles publish, read through the read-only `nexgate_notifier` role and cached (`directory`).

mod directory;
mod gateways;
mod record;
mod schedule;
mod sender;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use nexgate_bus::consumer;
use tokio::sync::Mutex;

use nexgate_native_db as db;

use crate::db::{Db, Pool};

const WORKER: &str = "notifier";

#[derive(Parser, Clone)]
#[command(name = "nexgate-notifier", version, about = "Nexgate's notifier")]
pub struct Args {
    #[command(flatten)]
    queues: nexgate_bus::QueueArgs,
    /// The `notifications` database as `nexgate_notifications`.
    #[arg(long, env = "NEXGATE_NOTIFICATIONS_DB_URL", hide_env_values = true)]
    db_url: String,
    /// The core database as the read-only `nexgate_notifier` (contact points, cards, mutes, blocks).
    #[arg(long, env = "NEXGATE_DIRECTORY_DB_URL", hide_env_values = true)]
    directory_db_url: String,
    #[command(flatten)]
    gateways: gateways::GatewayArgs,
    /// Attempts of a delivery before it is dead-lettered (status `dead`).
    #[arg(long, env = "NEXGATE_DELIVERY_MAX_ATTEMPTS", default_value_t = 6)]
    max_attempts: i32,
    /// First retry delay; doubles per attempt (with jitter) up to `--backoff-max-ms`.
    #[arg(long, env = "NEXGATE_DELIVERY_BACKOFF_MS", default_value_t = 2_000)]
    backoff_ms: u64,
    #[arg(
        long,
        env = "NEXGATE_DELIVERY_BACKOFF_MAX_MS",
        default_value_t = 600_000
    )]
    backoff_max_ms: u64,
    /// Gateway sends in flight at once.
    #[arg(long, env = "NEXGATE_DELIVERY_CONCURRENCY", default_value_t = 16)]
    send_concurrency: usize,
    /// Events handled at once (each with its own database connection).
    #[arg(long, env = "NEXGATE_NOTIFIER_WORKERS", default_value_t = 4)]
    workers: usize,
    /// The private keys (base64url, comma-separated, current first) that open one-time secrets
    /// sealed to the notifier (`nexgate-ops seal-keygen`; docs/events.md, "Sealed secrets").
    #[arg(long, env = "NEXGATE_NOTIFIER_SEAL_KEYS", hide_env_values = true)]
    seal_keys: String,
    /// How often the sender and the clock look for due work when idle.
    #[arg(long, env = "NEXGATE_NOTIFIER_TICK_MS", default_value_t = 500)]
    tick_ms: u64,
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
    let opening_keys = Arc::new(
        nexgate_events::sealed::OpeningKeys::parse(&args.seal_keys)
            .map_err(|e| anyhow::anyhow!("NEXGATE_NOTIFIER_SEAL_KEYS: {e}"))?,
    );
    // The subscriptions first: a missing [workers.notifier] section stops it before anything runs.
    args.queues.check_worker(WORKER)?;
    let gateways = Arc::new(gateways::Gateways::from_args(&args.gateways)?);
    tracing::info!("channels configured: {}", gateways.describe());
    let workers = args.workers.max(1);
    let directory = Arc::new(directory::Directory::new(&args.directory_db_url, workers));

    let sender = sender::Sender {
        db: Mutex::new(Db::new(&args.db_url)),
        gateways: gateways.clone(),
        max_attempts: args.max_attempts.max(1),
        backoff: Duration::from_millis(args.backoff_ms.max(1)),
        backoff_max: Duration::from_millis(args.backoff_max_ms.max(args.backoff_ms)),
        concurrency: args.send_concurrency.max(1),
        tick: Duration::from_millis(args.tick_ms.max(10)),
        deadline: Duration::from_millis(args.gateways.gateway_timeout_ms.saturating_mul(2))
            + Duration::from_secs(5),
    };
    tokio::spawn(async move { sender.run().await });
    let clock = schedule::Clock {
        db: Mutex::new(Db::new(&args.db_url)),
        directory: directory.clone(),
        gateways: gateways.clone(),
        tick: Duration::from_millis(args.tick_ms.max(10)),
    };
    tokio::spawn(async move { clock.run().await });

    let recorder = Arc::new(record::Recorder {
        db: Pool::new(&args.db_url, workers),
        directory,
        gateways,
        opening_keys,
    });
    let prefetch = u16::try_from(workers * 4).unwrap_or(u16::MAX);
    // Reconnects after the broker drops it (a restart), with backoff; never returns.
    nexgate_bus::supervise::run_forever("notifier", || {
        let (recorder, queues) = (recorder.clone(), &args.queues);
        async move {
            let (_conn, channel, queues) = queues.open_worker(WORKER).await?;
            tracing::info!("notifier: ready, consuming {}", queues.main);
            consumer::consume_concurrently(
                channel,
                &queues,
                "notifier",
                prefetch,
                workers,
                |body| {
                    let recorder = recorder.clone();
                    async move { recorder.handle(&body).await }
                },
            )
            .await
        }
    })
    .await;
    Ok(())
}
