//! The consumer loop shared by the dispatcher and native workers: each delivery through a handler
//! (one at a time, or several at once), then ack only once its outcome is safely with the broker:
//! - [`Outcome::Done`] is acked;
//! - [`Outcome::Refused`] is published to the dead-letter queue with the answer, then acked;
//! - [`Outcome::Retry`] is published to the next delay queue ([`RETRY_DELAYS_MS`]) with the attempt
//!   count in `x-nexgate-attempts`, then acked; after the last delay, dead-lettered.
//!
//! If the outcome cannot be published, the delivery is nacked back to the queue (at least once).

use std::future::Future;
use std::time::Duration;

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::{publish_confirmed, ServiceQueues, RETRY_DELAYS_MS};

/// Header counting the attempts a message has had.
pub const ATTEMPTS_HEADER: &str = "x-nexgate-attempts";
/// Header carrying why a message was dead-lettered.
pub const ANSWER_HEADER: &str = "x-nexgate-answer";

/// The outcome of handling one delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Will never succeed (a 4xx, a malformed message): dead-letter it with this answer.
    Refused {
        status: u16,
        answer: String,
    },
    /// Might succeed later (a 5xx, a timeout, a store down).
    Retry {
        why: String,
    },
}

/// How many attempts a delivery has had before this one.
pub fn attempts_of(delivery: &lapin::message::Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPTS_HEADER).cloned())
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::LongInt(n) => Some(n.max(0) as u32),
            AMQPValue::LongLongInt(n) => Some(n.max(0) as u32),
            _ => None,
        })
        .unwrap_or(0)
}

/// Consumes `queues.main` with `prefetch` deliveries in flight, handing each body to `handle`
/// one at a time, until the channel closes. `name` appears in logs and the consumer tag.
pub async fn consume<F, Fut>(
    channel: lapin::Channel,
    queues: &ServiceQueues,
    name: &str,
    prefetch: u16,
    handle: F,
) -> Result<()>
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    consume_concurrently(channel, queues, name, prefetch, 1, handle).await
}

/// Like [`consume`], with up to `concurrency` deliveries handled at once (each still acked only
/// after its own outcome is recorded; order between them is not kept).
pub async fn consume_concurrently<F, Fut>(
    channel: lapin::Channel,
    queues: &ServiceQueues,
    name: &str,
    prefetch: u16,
    concurrency: usize,
    handle: F,
) -> Result<()>
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            &queues.main,
            name,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let (channel, handle) = (&channel, &handle);
    consumer
        .map(|d| d.map_err(anyhow::Error::from))
        .try_for_each_concurrent(concurrency.max(1), |delivery| async move {
            settle(channel, queues, name, delivery, handle).await
        })
        .await
}

/// Handles one delivery and acks it once its outcome is recorded (nacks it back otherwise).
async fn settle<F, Fut>(
    channel: &lapin::Channel,
    queues: &ServiceQueues,
    name: &str,
    delivery: lapin::message::Delivery,
    handle: &F,
) -> Result<()>
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let attempts = attempts_of(&delivery);
    let outcome = handle(delivery.data.clone()).await;
    let settled = match &outcome {
        Outcome::Done => Ok(()),
        Outcome::Refused { status, answer } => {
            tracing::warn!("{name}: refused with {status}; dead-lettered");
            dead_letter(
                channel,
                queues,
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
                    "{name}: failed ({why}); retry {} in {} ms",
                    next + 1,
                    RETRY_DELAYS_MS[next]
                );
                let mut headers = FieldTable::default();
                headers.insert(
                    ShortString::from(ATTEMPTS_HEADER),
                    AMQPValue::LongUInt(attempts + 1),
                );
                publish_confirmed(channel, "", &queues.retries[next], &delivery.data, headers).await
            } else {
                tracing::warn!(
                    "{name}: kept failing ({why}); dead-lettered after {} attempts",
                    attempts + 1
                );
                dead_letter(channel, queues, &delivery.data, attempts + 1, why).await
            }
        }
    };
    match settled {
        Ok(()) => delivery.ack(BasicAckOptions::default()).await?,
        // The outcome could not be recorded: leave the message with the broker.
        Err(e) => {
            tracing::error!("{name}: cannot record an outcome: {e:#}");
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(())
}

async fn dead_letter(
    channel: &lapin::Channel,
    queues: &ServiceQueues,
    data: &[u8],
    attempts: u32,
    answer: &str,
) -> Result<()> {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from(ATTEMPTS_HEADER),
        AMQPValue::LongUInt(attempts),
    );
    headers.insert(
        ShortString::from(ANSWER_HEADER),
        AMQPValue::LongString(LongString::from(answer.to_string())),
    );
    publish_confirmed(channel, "", &queues.dead, data, headers).await
}
