//! `nexgate-ops dispatcher`: delivers each consuming service's queue to its HTTP endpoint.
//!
//! Components cannot subscribe, so for each service in the subscriptions file the dispatcher reads
//! `<prefix>.svc.<service>` and calls `POST <base>/internal/<service>/events` with one envelope per
//! call and the service's internal token (`x-internal-token`):
//! - 2xx: done (the service dedupes, so a duplicate also answers 2xx);
//! - 4xx: the service refused the envelope; it goes to the dead-letter queue with the answer;
//! - 5xx, a timeout or a connection error: retried after 1 s, 5 s, 30 s, 2 min, 10 min (delay
//!   queues), then dead-lettered.
//!
//! A delivery is acked only after its outcome is safely with the broker.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::bus::{self, Subscriptions, RETRY_DELAYS_MS};

/// How long a service has to answer one delivery.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// Deliveries in flight per service.
pub const PREFETCH_PER_SERVICE: u16 = 16;
/// Longest answer kept with a dead-lettered delivery.
const DEAD_LETTER_ANSWER_BYTES_MAX: usize = 2_048;

/// Settings of one dispatcher.
pub struct DispatcherSettings {
    pub amqp_url: String,
    pub prefix: String,
    pub base_url: String,
    /// Service → internal token.
    pub tokens: BTreeMap<String, String>,
    /// Expiry of the queues it declares (test prefixes); `None` keeps them.
    pub expires_ms: Option<u32>,
}

/// The outcome of one delivery attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Refused { status: u16, answer: String },
    Retry { why: String },
}

/// Classifies an HTTP answer.
pub fn classify(status: u16, answer: String) -> Outcome {
    match status {
        200..=299 => Outcome::Done,
        400..=499 => Outcome::Refused { status, answer },
        _ => Outcome::Retry {
            why: format!("status {status}"),
        },
    }
}

/// Runs one consumer per service until an error stops one of them.
pub async fn run(settings: DispatcherSettings, subs: Subscriptions) -> Result<()> {
    let (_conn, channel) = bus::connect(&settings.amqp_url).await?;
    bus::declare(&channel, &settings.prefix, &subs, settings.expires_ms).await?;
    let http = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .build()?;
    let mut tasks = Vec::new();
    for service in subs.services.keys() {
        let token = settings.tokens.get(service).cloned().unwrap_or_default();
        if token.is_empty() {
            tracing::warn!("dispatcher: no internal token for `{service}`; its endpoint will refuse deliveries");
        }
        let (conn, channel) = bus::connect(&settings.amqp_url).await?;
        let ctx = ServiceConsumer {
            service: service.clone(),
            queues: bus::service_queues(&settings.prefix, service),
            url: format!(
                "{}/internal/{service}/events",
                settings.base_url.trim_end_matches('/')
            ),
            token,
            http: http.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let _conn = conn;
            ctx.consume(channel).await
        }));
    }
    tracing::info!(
        "dispatcher: delivering {} services' queues to {}",
        tasks.len(),
        settings.base_url
    );
    for t in tasks {
        t.await.context("consumer task")??;
    }
    Ok(())
}

struct ServiceConsumer {
    service: String,
    queues: bus::ServiceQueues,
    url: String,
    token: String,
    http: reqwest::Client,
}

fn attempts_of(delivery: &lapin::message::Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-nexgate-attempts").cloned())
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::LongInt(n) => Some(n.max(0) as u32),
            AMQPValue::LongLongInt(n) => Some(n.max(0) as u32),
            _ => None,
        })
        .unwrap_or(0)
}

impl ServiceConsumer {
    async fn consume(self, channel: lapin::Channel) -> Result<()> {
        channel
            .basic_qos(PREFETCH_PER_SERVICE, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                &self.queues.main,
                &format!("dispatcher-{}", self.service),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            let outcome = self.deliver(&delivery.data).await;
            let attempts = attempts_of(&delivery);
            let settled = match &outcome {
                Outcome::Done => Ok(()),
                Outcome::Refused { status, answer } => {
                    tracing::warn!(
                        "dispatcher: `{}` refused an event with {status}; dead-lettered",
                        self.service
                    );
                    self.dead_letter(
                        &channel,
                        &delivery.data,
                        attempts + 1,
                        &format!("{status} {answer}"),
                    )
                    .await
                }
                Outcome::Retry { why } => {
                    let next = attempts as usize;
                    if next < RETRY_DELAYS_MS.len() {
                        tracing::info!(
                            "dispatcher: `{}` failed ({why}); retry {} in {} ms",
                            self.service,
                            next + 1,
                            RETRY_DELAYS_MS[next]
                        );
                        let mut headers = FieldTable::default();
                        headers.insert(
                            ShortString::from("x-nexgate-attempts"),
                            AMQPValue::LongUInt(attempts + 1),
                        );
                        bus::publish_confirmed(
                            &channel,
                            "",
                            &self.queues.retries[next],
                            &delivery.data,
                            headers,
                        )
                        .await
                    } else {
                        tracing::warn!("dispatcher: `{}` kept failing ({why}); dead-lettered after {} attempts", self.service, attempts + 1);
                        self.dead_letter(&channel, &delivery.data, attempts + 1, why)
                            .await
                    }
                }
            };
            match settled {
                Ok(()) => delivery.ack(BasicAckOptions::default()).await?,
                // The outcome could not be recorded: leave the message with the broker.
                Err(e) => {
                    tracing::error!(
                        "dispatcher: cannot record the outcome for `{}`: {e:#}",
                        self.service
                    );
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await?;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        Ok(())
    }

    async fn deliver(&self, envelope: &[u8]) -> Outcome {
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-internal-token", &self.token)
            .body(envelope.to_vec())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let mut answer = resp.text().await.unwrap_or_default();
                answer.truncate(DEAD_LETTER_ANSWER_BYTES_MAX);
                classify(status, answer)
            }
            Err(e) => Outcome::Retry { why: e.to_string() },
        }
    }

    async fn dead_letter(
        &self,
        channel: &lapin::Channel,
        data: &[u8],
        attempts: u32,
        answer: &str,
    ) -> Result<()> {
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from("x-nexgate-attempts"),
            AMQPValue::LongUInt(attempts),
        );
        headers.insert(
            ShortString::from("x-nexgate-answer"),
            AMQPValue::LongString(LongString::from(answer.to_string())),
        );
        bus::publish_confirmed(channel, "", &self.queues.dead, data, headers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_as_done_refused_or_retry() {
        assert_eq!(classify(204, String::new()), Outcome::Done);
        assert!(matches!(
            classify(422, "bad".into()),
            Outcome::Refused { status: 422, .. }
        ));
        assert!(matches!(
            classify(503, String::new()),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify(302, String::new()),
            Outcome::Retry { .. }
        ));
    }
}
