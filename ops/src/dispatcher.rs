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
use nexgate_bus::consumer::{self, Outcome};
use nexgate_bus::{self as bus, Subscriptions};

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
    bus::declare(
        &channel,
        &settings.prefix,
        &subs,
        bus::DeclareScope::Services,
        settings.expires_ms,
    )
    .await?;
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

impl ServiceConsumer {
    async fn consume(self, channel: lapin::Channel) -> Result<()> {
        let name = format!("dispatcher-{}", self.service);
        consumer::consume(channel, &self.queues, &name, PREFETCH_PER_SERVICE, |body| {
            self.deliver(body)
        })
        .await
    }

    async fn deliver(&self, envelope: Vec<u8>) -> Outcome {
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-internal-token", &self.token)
            .body(envelope)
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
