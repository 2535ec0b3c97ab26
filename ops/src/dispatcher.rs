//! `nexgate-ops dispatcher`: delivers each consuming service's queue to its HTTP endpoint.
//!
//! Components cannot subscribe, so for each service in the subscriptions file the dispatcher reads
//! `<prefix>.svc.<service>` and calls `POST <base>/internal/<service>/events` with one envelope per
//! call and the service's internal token (`x-internal-token`):
//! - 2xx: done (the service dedupes, so a duplicate also answers 2xx);
//! - 4xx: the service refused the envelope; it goes to the dead-letter queue with the answer —
//!   except 401, 403, 408, 409, 425 and 429 ("not now": a token rotation, a locked row, slow
//!   down), which are retried like a 5xx;
//! - 5xx, a timeout or a connection error: retried after 1 s, 5 s, 30 s, 2 min, 10 min (delay
//!   queues), then dead-lettered.
//!
//! A delivery is acked only after its outcome is safely with the broker. Each service's consumer
//! reconnects on its own after the broker drops it (a restart), with backoff.

use std::collections::BTreeMap;
use std::sync::Arc;
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

/// Classifies an HTTP answer. A 4xx is the service refusing the envelope for good, except the
/// answers that say "not now": 401/403 (a token being rotated between the dispatcher and the
/// service), 408, 409 (a row locked or a state not reached yet), 425 and 429 (slow down): those are
/// retried like a 5xx, and dead-lettered only when the retries run out.
pub fn classify(status: u16, answer: String) -> Outcome {
    match status {
        200..=299 => Outcome::Done,
        401 | 403 | 408 | 409 | 425 | 429 => Outcome::Retry {
            why: format!("status {status} (not now)"),
        },
        400..=499 => Outcome::Refused { status, answer },
        _ => Outcome::Retry {
            why: format!("status {status}"),
        },
    }
}

/// Runs one consumer per service, each on its own connection and each reconnecting on its own
/// after a broker restart ([`bus::supervise::run_forever`]); never returns.
pub async fn run(settings: DispatcherSettings, subs: Subscriptions) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .build()?;
    let settings = Arc::new(settings);
    let subs = Arc::new(subs);
    let mut tasks = Vec::new();
    for service in subs.services.keys() {
        let token = settings.tokens.get(service).cloned().unwrap_or_default();
        if token.is_empty() {
            tracing::warn!("dispatcher: no internal token for `{service}`; its endpoint will refuse deliveries");
        }
        let consumer = Arc::new(ServiceConsumer {
            service: service.clone(),
            queues: bus::service_queues(&settings.prefix, service),
            url: format!(
                "{}/internal/{service}/events",
                settings.base_url.trim_end_matches('/')
            ),
            token,
            http: http.clone(),
        });
        let (settings, subs) = (settings.clone(), subs.clone());
        tasks.push(tokio::spawn(async move {
            let what = format!("dispatcher-{}", consumer.service);
            bus::supervise::run_forever(&what, || {
                let (consumer, settings, subs) = (consumer.clone(), settings.clone(), subs.clone());
                async move { consumer.session(&settings, &subs).await }
            })
            .await
        }));
    }
    tracing::info!(
        "dispatcher: delivering {} services' queues to {}",
        tasks.len(),
        settings.base_url
    );
    for t in tasks {
        t.await.context("consumer task")?;
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
    /// Connects, (re)declares the services' queues and consumes this service's until the
    /// connection drops.
    async fn session(&self, settings: &DispatcherSettings, subs: &Subscriptions) -> Result<()> {
        let (_conn, channel) = bus::connect(&settings.amqp_url).await?;
        bus::declare(
            &channel,
            &settings.prefix,
            subs,
            bus::DeclareScope::Services,
            settings.expires_ms,
        )
        .await?;
        let name = format!("dispatcher-{}", self.service);
        tracing::info!("{name}: ready, consuming {}", self.queues.main);
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
        for not_now in [401, 403, 408, 409, 425, 429] {
            assert!(
                matches!(classify(not_now, String::new()), Outcome::Retry { .. }),
                "{not_now}"
            );
        }
        for never in [400, 404, 410, 413, 422] {
            assert!(
                matches!(classify(never, String::new()), Outcome::Refused { .. }),
                "{never}"
            );
        }
    }
}
