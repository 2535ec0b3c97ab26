//! The RabbitMQ side of the event bus: topology, subscriptions, and publishing with confirms.
//!
//! Components publish over MQTT to `<prefix>/<type with / for .>`; RabbitMQ's MQTT plugin routes
//! that to the `amq.topic` exchange with routing key `<prefix>.<type>`. For every consuming service
//! in the subscriptions file there is:
//! - `<prefix>.svc.<service>`: durable, bound to `<prefix>.<type>` for each subscribed type;
//! - `<prefix>.svc.<service>.retry.<n>`: one delay queue per backoff step (`RETRY_DELAYS_MS`); a
//!   message waits there for its step's TTL and is dead-lettered back to the main queue;
//! - `<prefix>.svc.<service>.dead`: deliveries the service refused (4xx) or that ran out of retries.
//!
//! Native workers that consume events themselves (the media worker) are listed under `[workers]`
//! and get the same three kinds of queue as `<prefix>.worker.<name>...`; the dispatcher leaves
//! them alone. [`consumer::consume`] is the loop both run: bounded retries, then dead-letter.
//!
//! Everything is declared before anything is served, because the broker acknowledges a publish that
//! no queue takes (the message would be lost): by `nexgate-ops declare` as `nexgate-admin`. Each
//! consumer also re-declares only what it consumes ([`DeclareScope`]), which is all its broker user
//! may configure (`infra/rabbitmq/identities.toml`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::Deserialize;

pub mod consumer;
pub mod supervise;

/// The exchange RabbitMQ's MQTT plugin publishes to.
pub const TOPIC_EXCHANGE: &str = "amq.topic";

/// Delay before each retry of a delivery that failed with 5xx or a timeout; after the last, the
/// delivery goes to the dead-letter queue.
pub const RETRY_DELAYS_MS: [u32; 5] = [1_000, 5_000, 30_000, 120_000, 600_000];

/// Which event types each consuming service receives (`infra/subscriptions.toml`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Subscriptions {
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSubscription>,
    /// Native consumers (not dispatched over HTTP): name → the types they receive.
    #[serde(default)]
    pub workers: BTreeMap<String, ServiceSubscription>,
}

/// One consuming service's subscription.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceSubscription {
    /// Event types (`auth.user.registered`) or AMQP topic patterns over them (`payments.#`).
    pub events: Vec<String>,
    /// A worker each of whose replicas needs every event (the real-time gateway: each holds its
    /// own sockets): each replica declares its own exclusive queue ([`QueueArgs::open_replica`])
    /// and nothing durable is declared for it, so no queue fills while no replica runs.
    #[serde(default)]
    pub per_replica: bool,
}

impl Subscriptions {
    /// Reads and checks the file: names must be schema-like, events three dotted parts or patterns.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let subs: Self =
            toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
        for (service, sub) in subs.services.iter().chain(&subs.workers) {
            if service.is_empty() || !service.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                bail!(
                    "{}: service `{service}` must be a schema name",
                    path.display()
                );
            }
            for event in &sub.events {
                let parts: Vec<&str> = event.split('.').collect();
                let pattern = parts.iter().any(|p| *p == "#" || *p == "*");
                let valid_parts = parts.iter().all(|p| {
                    *p == "#"
                        || *p == "*"
                        || (!p.is_empty()
                            && p.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
                });
                if !valid_parts || (!pattern && parts.len() != 3) {
                    bail!("{}: `{event}` (service {service}) is not an event type `<schema>.<entity>.<verb>` or a pattern", path.display());
                }
            }
        }
        Ok(subs)
    }
}

/// Queue names of one consuming service.
pub struct ServiceQueues {
    pub main: String,
    pub retries: Vec<String>,
    pub dead: String,
}

/// The queue names for `service` under `prefix`.
pub fn service_queues(prefix: &str, service: &str) -> ServiceQueues {
    queues_named(format!("{prefix}.svc.{service}"))
}

/// The queue names for the native worker `worker` under `prefix`.
pub fn worker_queues(prefix: &str, worker: &str) -> ServiceQueues {
    queues_named(format!("{prefix}.worker.{worker}"))
}

fn queues_named(main: String) -> ServiceQueues {
    ServiceQueues {
        retries: (1..=RETRY_DELAYS_MS.len())
            .map(|n| format!("{main}.retry.{n}"))
            .collect(),
        dead: format!("{main}.dead"),
        main,
    }
}

/// RabbitMQ of a local machine (`infra/setup-stores.sh`), without credentials: every program is
/// given its own broker user in `NEXGATE_AMQP_URL` (anonymous and `guest` access are off).
pub const DEFAULT_AMQP_URL: &str = "amqp://127.0.0.1:5672/%2f";

/// Which queues a program declares: its broker user may configure no others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclareScope<'a> {
    /// Every service's and worker's queues (`nexgate-ops declare`, as `nexgate-admin`).
    All,
    /// The consuming services' queues (the dispatcher).
    Services,
    /// One native worker's queues.
    Worker(&'a str),
}

/// Where the consuming services' queues live and which they are: the flags every user of the bus
/// takes (`nexgate-ops declare|dispatcher`, the media worker, the notifier).
#[derive(clap::Args, Clone, Debug)]
pub struct QueueArgs {
    #[arg(long, env = "NEXGATE_AMQP_URL", default_value = DEFAULT_AMQP_URL)]
    pub amqp_url: String,
    #[arg(
        long,
        env = "SPIN_VARIABLE_EVENT_TOPIC_PREFIX",
        default_value = "nexgate"
    )]
    pub prefix: String,
    #[arg(long, default_value = "infra/subscriptions.toml")]
    pub subscriptions: std::path::PathBuf,
    /// Let the queues expire after this long unused (test prefixes).
    #[arg(long)]
    pub expires_ms: Option<u32>,
}

impl QueueArgs {
    /// Loads the subscriptions, connects, and declares every queue and binding (idempotent).
    pub async fn declare(&self) -> Result<(Subscriptions, Connection, Channel)> {
        let subs = Subscriptions::load(&self.subscriptions)?;
        let (conn, channel) = self.connect_and_declare(&subs, DeclareScope::All).await?;
        Ok((subs, conn, channel))
    }

    /// [`QueueArgs::declare`] for the native worker `worker`, whose `[workers.<worker>]` section
    /// must exist; answers its queues.
    pub async fn open_worker(&self, worker: &str) -> Result<(Connection, Channel, ServiceQueues)> {
        let subs = self.check_worker(worker)?;
        let (conn, channel) = self
            .connect_and_declare(&subs, DeclareScope::Worker(worker))
            .await?;
        Ok((conn, channel, worker_queues(&self.prefix, worker)))
    }

    /// For a `per_replica` worker: connects and declares this replica's own queue,
    /// `<prefix>.worker.<worker>.<replica>`, exclusive (only this connection consumes it) and
    /// deleted when the connection closes, bound to the worker's types; answers its name.
    pub async fn open_replica(
        &self,
        worker: &str,
        replica: &str,
    ) -> Result<(Connection, Channel, String)> {
        let subs = self.check_worker(worker)?;
        let sub = &subs.workers[worker];
        anyhow::ensure!(
            sub.per_replica,
            "{}: [workers.{worker}] needs `per_replica = true`",
            self.subscriptions.display()
        );
        let (conn, channel) = connect(&self.amqp_url).await?;
        let queue = format!("{}.worker.{worker}.{replica}", self.prefix);
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        channel
            .queue_declare(&queue, options, FieldTable::default())
            .await
            .with_context(|| format!("declaring {queue}"))?;
        for event in &sub.events {
            channel
                .queue_bind(
                    &queue,
                    TOPIC_EXCHANGE,
                    &format!("{}.{event}", self.prefix),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok((conn, channel, queue))
    }

    /// The subscriptions, if they have a `[workers.<worker>]` section (a configuration error is
    /// reported at start-up, not retried like a broker that is down).
    pub fn check_worker(&self, worker: &str) -> Result<Subscriptions> {
        let subs = Subscriptions::load(&self.subscriptions)?;
        anyhow::ensure!(
            subs.workers.contains_key(worker),
            "{} has no [workers.{worker}] section",
            self.subscriptions.display()
        );
        Ok(subs)
    }

    async fn connect_and_declare(
        &self,
        subs: &Subscriptions,
        scope: DeclareScope<'_>,
    ) -> Result<(Connection, Channel)> {
        let (conn, channel) = connect(&self.amqp_url).await?;
        declare(&channel, &self.prefix, subs, scope, self.expires_ms).await?;
        Ok((conn, channel))
    }
}

/// Opens a connection and a channel with publisher confirms on.
pub async fn connect(amqp_url: &str) -> Result<(Connection, Channel)> {
    let conn = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .with_context(|| {
            format!(
                "cannot connect to RabbitMQ at {amqp_url}; is it running (infra/setup-stores.sh)?"
            )
        })?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((conn, channel))
}

fn table(entries: Vec<(&str, AMQPValue)>) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(k.to_string()), v);
    }
    t
}

/// Declares the queues and bindings of `scope`. `expires_ms` makes them vanish after that long
/// unused (test prefixes); `None` keeps them (the default prefix).
pub async fn declare(
    channel: &Channel,
    prefix: &str,
    subs: &Subscriptions,
    scope: DeclareScope<'_>,
    expires_ms: Option<u32>,
) -> Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let with_expiry = |mut entries: Vec<(&'static str, AMQPValue)>| {
        if let Some(ms) = expires_ms {
            entries.push(("x-expires", AMQPValue::LongUInt(ms)));
        }
        table(entries)
    };
    let services = subs
        .services
        .iter()
        .filter(|_| matches!(scope, DeclareScope::All | DeclareScope::Services))
        .map(|(name, sub)| (service_queues(prefix, name), sub));
    let workers = subs
        .workers
        .iter()
        .filter(|(name, sub)| match scope {
            DeclareScope::All => !sub.per_replica,
            DeclareScope::Services => false,
            DeclareScope::Worker(w) => w == name.as_str() && !sub.per_replica,
        })
        .map(|(name, sub)| (worker_queues(prefix, name), sub));
    let all = services.chain(workers);
    for (q, sub) in all {
        channel
            .queue_declare(&q.main, durable, with_expiry(vec![]))
            .await
            .with_context(|| format!("declaring {}", q.main))?;
        for event in &sub.events {
            channel
                .queue_bind(
                    &q.main,
                    TOPIC_EXCHANGE,
                    &format!("{prefix}.{event}"),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        for (queue, delay) in q.retries.iter().zip(RETRY_DELAYS_MS) {
            channel
                .queue_declare(
                    queue,
                    durable,
                    with_expiry(vec![
                        ("x-message-ttl", AMQPValue::LongUInt(delay)),
                        (
                            "x-dead-letter-exchange",
                            AMQPValue::LongString(LongString::from("")),
                        ),
                        (
                            "x-dead-letter-routing-key",
                            AMQPValue::LongString(LongString::from(q.main.clone())),
                        ),
                    ]),
                )
                .await
                .with_context(|| format!("declaring {queue}"))?;
        }
        channel
            .queue_declare(&q.dead, durable, with_expiry(vec![]))
            .await?;
    }
    Ok(())
}

/// Publishes and waits for the broker's confirm; a nack is an error.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    headers: FieldTable,
) -> Result<()> {
    let confirm = channel
        .basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions::default(),
            payload,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type(ShortString::from("application/json"))
                .with_headers(headers),
        )
        .await?
        .await?;
    if confirm.is_nack() {
        bail!("the broker refused the message (nack)");
    }
    Ok(())
}

/// Routing key RabbitMQ's MQTT plugin derives from an MQTT topic.
pub fn routing_key_for_topic(topic: &str) -> String {
    topic.replace('/', ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_accept_types_and_patterns_and_refuse_typos() {
        let dir = std::env::temp_dir().join(format!("subs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok.toml");
        std::fs::write(
            &ok,
            "[services.notifications]\nevents = [\"auth.user.registered\", \"payments.#\"]\n",
        )
        .unwrap();
        let subs = Subscriptions::load(&ok).unwrap();
        assert_eq!(subs.services["notifications"].events.len(), 2);
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "[services.notifications]\nevents = [\"auth.registered\"]\n",
        )
        .unwrap();
        assert!(Subscriptions::load(&bad).is_err());
        let typo = dir.join("typo.toml");
        std::fs::write(
            &typo,
            "[services.notifications]\nevent = [\"auth.user.registered\"]\n",
        )
        .unwrap();
        assert!(Subscriptions::load(&typo).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn queue_names_follow_the_prefix() {
        let q = service_queues("nexgate", "notifications");
        assert_eq!(q.main, "nexgate.svc.notifications");
        assert_eq!(q.retries[0], "nexgate.svc.notifications.retry.1");
        assert_eq!(q.dead, "nexgate.svc.notifications.dead");
        assert_eq!(worker_queues("t1", "media").main, "t1.worker.media");
        assert_eq!(
            routing_key_for_topic("nexgate/auth/user/registered"),
            "nexgate.auth.user.registered"
        );
    }
}
