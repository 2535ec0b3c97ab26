//! `nexgate-notifier`: the Notification Service's native half (docs/notifications.md).
//!
//! It consumes `<prefix>.worker.notifier` (the `[workers.notifier]` section of the subscriptions
//! file) one envelope at a time. In one transaction on the `notifications` database it records the
//! event id (a redelivered event changes nothing), then for each recipient in the audience writes
//! the in-app notification, folding similar unread ones into one group, and records the delivery.
//! The delivery is acked only after that commit. A type without a template is recorded as skipped;
//! a malformed envelope is dead-lettered with the reason; a database outage is retried with the
//! bus's backoff.
//!
//! Not built yet (docs/notifications.md): preferences, quiet hours, push, email, SMS, digests.

mod templates;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Parser;
use nexgate_bus::consumer::{self, Outcome};
use nexgate_bus::{self as bus, Subscriptions};
use nexgate_events::envelope::Envelope;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

const WORKER: &str = "notifier";
/// Distinct actors kept on a grouped notification.
const GROUP_ACTORS_MAX: i32 = 100;

#[derive(Parser)]
#[command(name = "nexgate-notifier", version, about = "Nexgate's notifier")]
struct Args {
    #[arg(
        long,
        env = "NEXGATE_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    #[arg(
        long,
        env = "SPIN_VARIABLE_EVENT_TOPIC_PREFIX",
        default_value = "nexgate"
    )]
    prefix: String,
    #[arg(long, default_value = "infra/subscriptions.toml")]
    subscriptions: PathBuf,
    #[arg(long)]
    expires_ms: Option<u32>,
    /// The `notifications` database as `nexgate_notifications`.
    #[arg(long, env = "NEXGATE_NOTIFICATIONS_DB_URL", hide_env_values = true)]
    db_url: String,
}

/// The database connection, reopened when it breaks.
struct Db {
    url: String,
    client: Option<Client>,
}

impl Db {
    async fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::warn!("notifications database connection ended: {e}");
                }
            });
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("just opened"))
    }
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
    let subs = Subscriptions::load(&args.subscriptions)?;
    anyhow::ensure!(
        subs.workers.contains_key(WORKER),
        "{} has no [workers.{WORKER}] section",
        args.subscriptions.display()
    );
    let (_conn, channel) = bus::connect(&args.amqp_url).await?;
    bus::declare(&channel, &args.prefix, &subs, args.expires_ms).await?;
    let db = Arc::new(Mutex::new(Db {
        url: args.db_url.clone(),
        client: None,
    }));
    let queues = bus::worker_queues(&args.prefix, WORKER);
    tracing::info!("consuming {}", queues.main);
    consumer::consume(channel, &queues, "notifier", 16, |body| {
        let db = db.clone();
        async move { handle(&db, &body).await }
    })
    .await
}

async fn handle(db: &Mutex<Db>, body: &[u8]) -> Outcome {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => {
            return Outcome::Refused {
                status: 422,
                answer: format!("not an event envelope: {e}"),
            };
        }
    };
    if let Some(t) = nexgate_events::catalogue::find(&envelope.event_type) {
        if let Some(missing) = t
            .data_fields
            .iter()
            .find(|f| f.required && envelope.data.get(f.name).is_none())
        {
            return Outcome::Refused {
                status: 422,
                answer: format!(
                    "{} is missing required data field `{}`",
                    envelope.event_type, missing.name
                ),
            };
        }
    } else {
        return Outcome::Refused {
            status: 422,
            answer: format!("`{}` is not in the events catalogue", envelope.event_type),
        };
    }
    let mut db = db.lock().await;
    let client = match db.client().await {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Retry {
                why: format!("notifications database: {e}"),
            }
        }
    };
    match record(client, &envelope).await {
        Ok(()) => Outcome::Done,
        Err(e) => {
            db.client = None;
            Outcome::Retry {
                why: format!("notifications database: {e}"),
            }
        }
    }
}

/// Everything one event causes, in one transaction.
async fn record(client: &mut Client, e: &Envelope) -> Result<()> {
    let tx = client.transaction().await?;
    let template = templates::template(&e.event_type).filter(|_| !e.carries_secret());
    let (outcome, detail) = match &template {
        Some(_) if e.audience.is_empty() => ("skipped", Some("empty audience")),
        Some(_) => ("notified", None),
        None if e.carries_secret() => (
            "skipped",
            Some("carries a one-time secret: delivered to its address only"),
        ),
        None => ("skipped", Some("no template")),
    };
    let first = tx
        .execute(
            "INSERT INTO notifications.processed_events (event_id, event_type, outcome, detail) VALUES ($1, $2, $3, $4)
             ON CONFLICT (event_id) DO NOTHING",
            &[&e.id, &e.event_type, &outcome, &detail],
        )
        .await?;
    if first == 0 {
        // Seen before: its effects are already committed.
        tx.commit().await?;
        return Ok(());
    }
    if let (Some(t), "notified") = (template, outcome) {
        let title = templates::render(t.title, &e.data);
        let body = templates::render(t.body, &e.data);
        let group_key = t.group_by.and_then(|f| e.data.get(f)).map(|v| {
            format!(
                "{}:{}",
                e.event_type,
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            )
        });
        let mut recipients: Vec<Uuid> = e.audience.clone();
        recipients.sort();
        recipients.dedup();
        for user in recipients.into_iter().filter(|u| Some(*u) != e.actor) {
            let item = upsert_item(
                &tx,
                e,
                user,
                t.category,
                group_key.as_deref(),
                &title,
                &body,
            )
            .await?;
            tx.execute(
                "INSERT INTO notifications.deliveries (id, item_id, user_id, event_id, channel, status, attempts)
                 VALUES ($1, $2, $3, $4, 'in_app', 'delivered', 1)",
                &[&Uuid::now_v7(), &item, &user, &e.id],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Folds the event into the recipient's unread group of the same key (within a day), or writes a
/// new notification.
#[allow(clippy::too_many_arguments)]
async fn upsert_item(
    tx: &tokio_postgres::Transaction<'_>,
    e: &Envelope,
    user: Uuid,
    category: &str,
    group_key: Option<&str>,
    title: &str,
    body: &str,
) -> Result<Uuid> {
    let actors: Vec<Uuid> = e.actor.into_iter().collect();
    if let Some(key) = group_key {
        let folded = tx
            .query_opt(
                "UPDATE notifications.items SET
                     actors = CASE WHEN $3::uuid[] <@ actors OR cardinality(actors) >= $8 THEN actors ELSE actors || $3::uuid[] END,
                     title = $4, body = $5, data = $6, event_id = $7, updated_at = now(), seen_at = NULL
                 WHERE user_id = $1 AND group_key = $2 AND read_at IS NULL AND created_at > now() - interval '1 day'
                 RETURNING id",
                &[&user, &key, &actors, &title, &body, &e.data, &e.id, &GROUP_ACTORS_MAX],
            )
            .await?;
        if let Some(row) = folded {
            return Ok(row.get(0));
        }
        // An unread group older than a day stays as it is; a new one starts.
        tx.execute(
            "UPDATE notifications.items SET group_key = NULL WHERE user_id = $1 AND group_key = $2 AND read_at IS NULL",
            &[&user, &key],
        )
        .await?;
    }
    let id = Uuid::now_v7();
    let data: &Value = &e.data;
    tx.execute(
        "INSERT INTO notifications.items (id, user_id, event_type, category, group_key, actors, title, body, data, event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[&id, &user, &e.event_type, &category, &group_key, &actors, &title, &body, data, &e.id],
    )
    .await?;
    Ok(id)
}
