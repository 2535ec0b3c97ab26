//! The notifier's clock: fires scheduled reminders at their time (through the same preference
//! rules as events) and assembles digests (one email per user and period listing what was
//! collected).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use nexgate_notifications::templates;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::db::Db;
use crate::directory::{Directory, Facts, Relation};
use crate::gateways::Gateways;
use crate::record::{insert_delivery, notify, NewDelivery, Notice};

/// Reminders fired, or digests assembled, per round.
const BATCH: i64 = 50;
/// Lines listed in one digest email (the rest is counted).
const DIGEST_LINES_MAX: usize = 50;

pub struct Clock {
    pub db: Mutex<Db>,
    pub directory: Arc<Directory>,
    pub gateways: Arc<Gateways>,
    pub tick: Duration,
}

impl Clock {
    pub async fn run(self) {
        loop {
            let done =
                async { Ok::<_, anyhow::Error>(self.reminders().await? + self.digests().await?) };
            match done.await {
                Ok(n) if n > 0 => continue,
                Ok(_) => tokio::time::sleep(self.tick).await,
                Err(e) => {
                    tracing::warn!("clock: {e:#}");
                    self.db.lock().await.reset();
                    tokio::time::sleep(self.tick.max(Duration::from_secs(1))).await;
                }
            }
        }
    }

    /// Fires due reminders; each is marked fired in the transaction that writes its effects.
    async fn reminders(&self) -> Result<usize> {
        let mut db = self.db.lock().await;
        let mut tx = db.transaction().await?;
        let rows = tx
            .query(
                "SELECT id, user_id, kind, data FROM notifications.scheduled
                 WHERE fired_at IS NULL AND cancelled_at IS NULL AND fire_at <= now()
                 ORDER BY fire_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[&BATCH],
            )
            .await?;
        let now = Utc::now();
        for r in &rows {
            let (id, user, kind, data): (Uuid, Uuid, String, Value) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            let name = match kind.as_str() {
                "event_reminder_24h" => "reminders.event_24h",
                "event_reminder_1h" => "reminders.event_1h",
                _ => "reminders.installment",
            };
            if let Some(template) = templates::template(name) {
                let facts = Facts {
                    contact: self.directory.contact(user).await?,
                    relation: Relation::Normal,
                };
                let notice = Notice {
                    template,
                    event_id: id,
                    data: &data,
                    actor: None,
                };
                notify(&mut tx, &self.gateways, &notice, user, &facts, now).await?;
            }
            tx.execute(
                "UPDATE notifications.scheduled SET fired_at = now() WHERE id = $1",
                &[&id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Assembles the digests that are due: per user and period, the collected emails become one.
    async fn digests(&self) -> Result<usize> {
        let due = {
            let mut db = self.db.lock().await;
            db.client()
                .await?
                .query(
                    "SELECT DISTINCT user_id, hold_reason FROM notifications.deliveries
                     WHERE status = 'held' AND hold_reason IN ('digest_daily', 'digest_weekly') AND next_attempt_at <= now()
                     LIMIT $1",
                    &[&BATCH],
                )
                .await?
        };
        let mut made = 0;
        for r in &due {
            let (user, reason): (Uuid, String) = (r.get(0), r.get(1));
            if self.digest(user, &reason).await? {
                made += 1;
            }
        }
        Ok(made)
    }

    async fn digest(&self, user: Uuid, reason: &str) -> Result<bool> {
        let contact = self.directory.contact(user).await?;
        let mut db = self.db.lock().await;
        let mut tx = db.transaction().await?;
        let rows = tx
            .query(
                "SELECT id, address, message FROM notifications.deliveries
                 WHERE user_id = $1 AND status = 'held' AND hold_reason = $2 AND next_attempt_at <= now()
                 ORDER BY created_at FOR UPDATE SKIP LOCKED",
                &[&user, &reason],
            )
            .await?;
        if rows.is_empty() {
            return Ok(false);
        }
        let period = if reason == "digest_weekly" {
            "weekly"
        } else {
            "daily"
        };
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
        // The current verified address; the one known when the items were collected otherwise.
        let address: Option<String> = contact
            .email
            .or_else(|| rows.last().and_then(|r| r.get::<_, Option<String>>(1)));
        let mut lines: Vec<String> = rows
            .iter()
            .take(DIGEST_LINES_MAX)
            .map(|r| {
                let m: Value = r.get::<_, Option<Value>>(2).unwrap_or(Value::Null);
                format!(
                    "- {}: {}",
                    m["title"].as_str().unwrap_or(""),
                    m["body"].as_str().unwrap_or("")
                )
            })
            .collect();
        if rows.len() > DIGEST_LINES_MAX {
            lines.push(format!(
                "… and {} more in the app.",
                rows.len() - DIGEST_LINES_MAX
            ));
        }
        let digest_id = Uuid::now_v7();
        let count = rows.len() as i32;
        tx.execute(
            "INSERT INTO notifications.digests (id, user_id, period, item_count) VALUES ($1, $2, $3, $4)",
            &[&digest_id, &user, &period, &count],
        )
        .await?;
        let title = format!(
            "Your Nexgate {period} digest: {count} notification{}",
            if count == 1 { "" } else { "s" }
        );
        let configured = self
            .gateways
            .configured(nexgate_notifications::Channel::Email);
        let (status, note) = match (&address, configured) {
            (Some(_), true) => ("queued", None),
            (None, _) => ("skipped", Some("no verified email")),
            (_, false) => ("skipped", Some("channel not configured")),
        };
        insert_delivery(
            &mut tx,
            NewDelivery {
                user,
                event_id: digest_id,
                channel: "email",
                status,
                address: address.as_deref(),
                message: Some(json!({
                    "title": title,
                    "body": lines.join("\n"),
                    "data": { "type": "digest", "digest_id": digest_id },
                })),
                next_attempt_at: (status == "queued").then(Utc::now),
                note,
                category: "normal",
                ..Default::default()
            },
        )
        .await?;
        tx.execute(
            "UPDATE notifications.deliveries SET status = 'digested', digest_id = $2, next_attempt_at = NULL, updated_at = now()
             WHERE id = ANY($1)",
            &[&ids, &digest_id],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
