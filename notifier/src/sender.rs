//! The delivery loop: claims due push/email/SMS deliveries (queued ones, and quiet-hours holds
//! whose window ended), sends them with bounded concurrency, and records each attempt.
//!
//! Claiming pushes the row's `next_attempt_at` a lease ahead in the same statement, so another
//! notifier (or this one after a crash) only takes it again once the lease ran out: a crash
//! repeats at most the sends that were in flight. Transient failures come back after an
//! exponential backoff with jitter until `max_attempts`, then the row is `dead` (the dead
//! letters, for an operator); permanent failures are `failed` at once; a push token the gateway
//! calls dead is deleted from the user's devices.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::stream::{self, StreamExt};
use nexgate_notifications::Channel;
use rand::Rng;
use serde_json::Value;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::db::Db;
use crate::gateways::{Gateways, Outcome, Outgoing};

/// How long a claimed delivery is ours before another sender may take it.
const LEASE_SECS: f64 = 120.0;
/// Deliveries claimed per round.
const BATCH: i64 = 64;

pub struct Sender {
    pub db: Mutex<Db>,
    pub gateways: Arc<Gateways>,
    pub max_attempts: i32,
    pub backoff: Duration,
    pub backoff_max: Duration,
    pub concurrency: usize,
    pub tick: Duration,
    /// Longest one delivery may take (gateway timeout plus the database work).
    pub deadline: Duration,
}

#[derive(Clone)]
struct Claimed {
    id: Uuid,
    user: Uuid,
    channel: Channel,
    address: Option<String>,
    message: Value,
    attempt: i32,
}

impl Sender {
    pub async fn run(self) {
        loop {
            match self.round().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => tokio::time::sleep(self.tick).await,
                Err(e) => {
                    tracing::warn!("sender: {e:#}");
                    self.db.lock().await.reset();
                    tokio::time::sleep(self.tick.max(Duration::from_secs(1))).await;
                }
            }
        }
    }

    /// One claim-and-send round; the number of deliveries it handled.
    async fn round(&self) -> Result<usize> {
        let claimed = self.claim().await?;
        let n = claimed.len();
        let results: Vec<Result<()>> = stream::iter(claimed)
            .map(|c| async move {
                // A send that outlives its deadline does not hold up the others: it counts as a
                // transient failure (the gateway may still deliver it: at least once).
                let claimed = c.clone();
                match tokio::time::timeout(self.deadline, self.deliver(c)).await {
                    Ok(done) => done,
                    Err(_) => {
                        let why = format!("no answer within {:?}", self.deadline);
                        tracing::warn!("delivery {}: {why}; retried", claimed.id);
                        let outcome = Outcome::Transient { status: None, why };
                        self.record(&claimed, "", outcome).await
                    }
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for r in results {
            r?;
        }
        Ok(n)
    }

    async fn claim(&self) -> Result<Vec<Claimed>> {
        let mut db = self.db.lock().await;
        let rows = db
            .query(
                "UPDATE notifications.deliveries d
                 SET next_attempt_at = now() + make_interval(secs => $1), attempts = d.attempts + 1, updated_at = now()
                 FROM (SELECT id FROM notifications.deliveries
                       WHERE status IN ('queued', 'held') AND next_attempt_at <= now()
                         AND channel <> 'in_app' AND (status = 'queued' OR hold_reason = 'quiet_hours')
                       ORDER BY (category = 'critical') DESC, next_attempt_at
                       LIMIT $2 FOR UPDATE SKIP LOCKED) due
                 WHERE d.id = due.id
                 RETURNING d.id, d.user_id, d.channel, d.address, d.message, d.attempts",
                &[&LEASE_SECS, &BATCH],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Claimed {
                    id: r.get(0),
                    user: r.get(1),
                    channel: Channel::parse(r.get(2))?,
                    address: r.get(3),
                    message: r.get::<_, Option<Value>>(4).unwrap_or(Value::Null),
                    attempt: r.get(5),
                })
            })
            .collect())
    }

    async fn deliver(&self, c: Claimed) -> Result<()> {
        tracing::debug!("delivering {} over {}", c.id, c.channel.as_str());
        // Push goes to the device's current token (read now: a re-registered token is used, a
        // removed device is skipped).
        let to = match (c.channel, &c.address) {
            (Channel::Push, Some(device)) => {
                let mut db = self.db.lock().await;
                let rows = db
                    .query(
                        "SELECT token FROM notifications.push_devices WHERE user_id = $1 AND device_id = $2",
                        &[&c.user, device],
                    )
                    .await?;
                drop(db);
                match rows.first() {
                    Some(r) => r.get::<_, String>(0),
                    None => {
                        return self
                            .finish(&c, "skipped", None, Some("the device was removed"), None)
                            .await
                    }
                }
            }
            (_, Some(a)) => a.clone(),
            (_, None) => {
                return self
                    .finish(&c, "failed", None, Some("no address"), None)
                    .await
            }
        };
        let outgoing = Outgoing {
            to: &to,
            title: c.message["title"].as_str().unwrap_or(""),
            body: c.message["body"].as_str().unwrap_or(""),
            data: &c.message["data"],
        };
        tracing::debug!("sending {}", c.id);
        let outcome = self.gateways.send(c.channel, &outgoing).await;
        tracing::debug!("{} answered {outcome:?}", c.id);
        self.record(&c, &to, outcome).await
    }

    /// Exponential backoff with "equal jitter": half the delay fixed, half random.
    fn backoff(&self, attempt: i32) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(1u32 << (attempt.clamp(1, 20) - 1) as u32)
            .min(self.backoff_max);
        let half = exp / 2;
        half + Duration::from_millis(rand::thread_rng().gen_range(0..=half.as_millis() as u64))
    }

    async fn record(&self, c: &Claimed, to: &str, outcome: Outcome) -> Result<()> {
        match outcome {
            Outcome::Sent { reference } => {
                self.finish(
                    c,
                    "sent",
                    None,
                    None,
                    Some(("sent", None, reference.as_deref())),
                )
                .await
            }
            Outcome::Permanent { status, why } => {
                tracing::info!(
                    "delivery {} ({}) failed for good: {why}",
                    c.id,
                    c.channel.as_str()
                );
                self.finish(
                    c,
                    "failed",
                    None,
                    Some(&why),
                    Some(("permanent", status, Some(&why))),
                )
                .await
            }
            Outcome::DeadToken { status, why } => {
                tracing::info!("delivery {}: push token dead, dropping it: {why}", c.id);
                {
                    let mut db = self.db.lock().await;
                    db.execute(
                        "DELETE FROM notifications.push_devices WHERE user_id = $1 AND token = $2",
                        &[&c.user, &to],
                    )
                    .await?;
                }
                self.finish(
                    c,
                    "failed",
                    None,
                    Some(&why),
                    Some(("dead_token", status, Some(&why))),
                )
                .await
            }
            Outcome::Transient { status, why } => {
                if c.attempt >= self.max_attempts {
                    tracing::warn!(
                        "delivery {} ({}) dead after {} attempts: {why}",
                        c.id,
                        c.channel.as_str(),
                        c.attempt
                    );
                    self.finish(
                        c,
                        "dead",
                        None,
                        Some(&why),
                        Some(("transient", status, Some(&why))),
                    )
                    .await
                } else {
                    let retry_in = self.backoff(c.attempt);
                    self.finish(
                        c,
                        "queued",
                        Some(retry_in),
                        Some(&why),
                        Some(("transient", status, Some(&why))),
                    )
                    .await
                }
            }
        }
    }

    /// Writes the delivery's new state and its attempt in one transaction. A secret in a
    /// delivery that reached a final state is erased.
    async fn finish(
        &self,
        c: &Claimed,
        status: &str,
        retry_in: Option<Duration>,
        note: Option<&str>,
        attempt: Option<(&str, Option<u16>, Option<&str>)>,
    ) -> Result<()> {
        let mut db = self.db.lock().await;
        let mut tx = db.transaction().await?;
        let final_state = status != "queued";
        let retry_secs = retry_in.map(|d| d.as_secs_f64());
        let reference = match attempt {
            Some(("sent", _, r)) => r,
            _ => None,
        };
        tx.execute(
            "UPDATE notifications.deliveries SET status = $2,
                 next_attempt_at = CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $3::float8) END,
                 hold_reason = NULL, last_error = $4, updated_at = now(),
                 sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END,
                 provider_reference = coalesce($5, provider_reference),
                 message = CASE WHEN $6 AND (message->>'secret')::boolean IS TRUE THEN NULL ELSE message END
             WHERE id = $1",
            &[&c.id, &status, &retry_secs, &note, &reference, &final_state],
        )
        .await?;
        if let Some((outcome, http_status, detail)) = attempt {
            let http_status = http_status.map(i32::from);
            let detail = if outcome == "sent" { None } else { detail };
            tx.execute(
                "INSERT INTO notifications.delivery_attempts (delivery_id, attempt, outcome, http_status, detail)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (delivery_id, attempt) DO NOTHING",
                &[&c.id, &c.attempt, &outcome, &http_status, &detail],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
