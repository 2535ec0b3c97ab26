//! The transactional outbox: record with the change, publish after commit, mark when acknowledged.

use nexgate_platform::config::{event_topic, mqtt_address_with_client_id};
use nexgate_platform::db::check_identifier;
use nexgate_platform::Problem;
use spin_sdk::pg4::{Connection, ParameterValue};

use crate::catalogue::EventData;
use crate::envelope::Envelope;

/// Keep-alive announced to the broker by publishing connections (they live for one request).
const MQTT_KEEP_ALIVE_SECS: u64 = 30;

/// Where and how a component publishes.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// `mqtt_url` variable (`mqtt://127.0.0.1:1883`).
    pub mqtt_url: String,
    /// `event_topic_prefix` variable.
    pub topic_prefix: String,
    /// The component's id, for the MQTT client id.
    pub component: String,
    /// `mqtt_username` variable: the service's broker user (`nexgate-<service>`), which may
    /// publish only that service's types.
    pub username: String,
    /// `mqtt_password` variable (secret).
    pub password: String,
}

impl Publisher {
    /// From the `mqtt_url`, `event_topic_prefix`, `mqtt_username` and `mqtt_password` variables.
    pub fn from_variables(component: &str) -> anyhow::Result<Self> {
        Ok(Self {
            mqtt_url: nexgate_platform::config::var("mqtt_url")?,
            topic_prefix: nexgate_platform::config::var("event_topic_prefix")?,
            component: component.to_string(),
            username: nexgate_platform::config::var("mqtt_username")?,
            password: nexgate_platform::config::var("mqtt_password")?,
        })
    }

    /// The MQTT topic of an envelope.
    pub fn topic(&self, envelope: &Envelope) -> String {
        event_topic(&self.topic_prefix, &envelope.event_type)
    }

    /// Publishes envelopes at QoS 1 on one connection; returns how many the broker acknowledged
    /// (in order: publishing stops at the first failure).
    pub fn publish(&self, envelopes: &[Envelope]) -> usize {
        let address = mqtt_address_with_client_id(&self.mqtt_url, &self.component);
        let conn = match spin_sdk::mqtt::Connection::open(
            &address,
            &self.username,
            &self.password,
            MQTT_KEEP_ALIVE_SECS,
        ) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("events: cannot connect to MQTT: {e:?}");
                return 0;
            }
        };
        let mut acknowledged = 0;
        for envelope in envelopes {
            let payload = serde_json::to_vec(envelope).unwrap_or_default();
            match conn.publish(
                &self.topic(envelope),
                &payload,
                spin_sdk::mqtt::Qos::AtLeastOnce,
            ) {
                Ok(()) => acknowledged += 1,
                Err(e) => {
                    eprintln!("events: publishing {} failed: {e:?}", envelope.id);
                    break;
                }
            }
        }
        acknowledged
    }
}

/// Writes an event into `<schema>.outbox`; call inside the transaction that makes the change.
pub fn record(
    conn: &Connection,
    schema: &str,
    publisher: &Publisher,
    envelope: &Envelope,
) -> Result<(), Problem> {
    let schema = check_identifier(schema)?;
    let payload = serde_json::to_vec(envelope).map_err(Problem::internal)?;
    conn.execute(
        &format!(
            "INSERT INTO {schema}.outbox (id, event_type, topic, payload, purge_after_publish) VALUES ($1, $2, $3, $4, $5)"
        ),
        &[
            ParameterValue::Uuid(envelope.id.to_string()),
            ParameterValue::Str(envelope.event_type.clone()),
            ParameterValue::Str(publisher.topic(envelope)),
            ParameterValue::Jsonb(payload),
            ParameterValue::Boolean(envelope.carries_secret()),
        ],
    )
    .map_err(|e| Problem::internal(format!("outbox insert: {e:?}")))?;
    Ok(())
}

/// After `COMMIT`: publishes the recorded envelopes and marks (or purges) the acknowledged ones.
/// What is not acknowledged stays for the relay; this never fails the request.
pub fn publish_recorded(
    conn: &Connection,
    schema: &str,
    publisher: &Publisher,
    envelopes: &[Envelope],
) -> usize {
    let Ok(schema) = check_identifier(schema) else {
        return 0;
    };
    let acknowledged = publisher.publish(envelopes);
    for envelope in &envelopes[..acknowledged] {
        let sql = if envelope.carries_secret() {
            format!("DELETE FROM {schema}.outbox WHERE id = $1")
        } else {
            format!(
                "UPDATE {schema}.outbox SET published_at = now(), publish_attempts = publish_attempts + 1 WHERE id = $1 AND published_at IS NULL"
            )
        };
        if let Err(e) = conn.execute(&sql, &[ParameterValue::Uuid(envelope.id.to_string())]) {
            eprintln!(
                "events: marking {} failed (the relay will republish it): {e:?}",
                envelope.id
            );
        }
    }
    acknowledged
}

/// Events recorded in a transaction, published once it committed: the usual way a handler uses
/// the outbox (`record` inside, `publish` after `COMMIT`).
pub struct Outbox {
    schema: &'static str,
    publisher: Publisher,
    recorded: Vec<Envelope>,
    relay_only: bool,
    relay_now: bool,
}

impl Outbox {
    /// For a service's schema and the component (its MQTT client id), from the variables.
    pub fn new(schema: &'static str, component: &str) -> Result<Self, Problem> {
        Ok(Self {
            schema,
            publisher: Publisher::from_variables(component).map_err(Problem::internal)?,
            recorded: Vec::new(),
            relay_only: false,
            relay_now: false,
        })
    }

    /// Records an event inside the open transaction (a failure is a 500, logged). A type's
    /// one-time secrets are sealed to the notifier's key (variable `notifier_public_key`) before
    /// anything is written.
    pub fn record<E: EventData>(
        &mut self,
        conn: &Connection,
        actor: Option<uuid::Uuid>,
        subject: (&str, String),
        audience: Vec<uuid::Uuid>,
        data: &E,
    ) -> Result<(), Problem> {
        let subject = crate::Subject {
            kind: subject.0.to_string(),
            id: subject.1,
        };
        let mut envelope =
            Envelope::new(actor, subject, audience, data).map_err(Problem::internal)?;
        if E::TYPE.carries_secret {
            // The secret never reaches the outbox, the broker or a log in clear.
            let key =
                nexgate_platform::config::var("notifier_public_key").map_err(Problem::internal)?;
            let event_type = E::TYPE.name;
            crate::sealed::SealingKey::parse(&key)
                .and_then(|k| k.seal_secrets(event_type, &mut envelope.data))
                .map_err(|e| Problem::internal(format!("sealing {event_type}: {e}")))?;
        }
        record(conn, self.schema, &self.publisher, &envelope)?;
        self.recorded.push(envelope);
        Ok(())
    }

    /// An event's outbox row for a hot path that writes it inside its own statement (a
    /// data-modifying CTE in autocommit, one round trip): the envelope and the five values of
    /// `INSERT INTO <schema>.outbox (id, event_type, topic, payload, purge_after_publish)`, to
    /// bind as `$n::uuid, $n+1::text, $n+2::text, $n+3::jsonb, $n+4::boolean`. Once the statement
    /// committed with the row, hand the envelope to [`Outbox::written`] so it is published. Types
    /// carrying a secret must go through [`Outbox::record`] (they are sealed there).
    pub fn row<E: EventData>(
        &self,
        actor: Option<uuid::Uuid>,
        subject: (&str, String),
        audience: Vec<uuid::Uuid>,
        data: &E,
    ) -> Result<(Envelope, Vec<ParameterValue>), Problem> {
        if E::TYPE.carries_secret {
            return Err(Problem::internal(format!(
                "{} carries a secret: record it with Outbox::record",
                E::TYPE.name
            )));
        }
        let subject = crate::Subject {
            kind: subject.0.to_string(),
            id: subject.1,
        };
        let envelope = Envelope::new(actor, subject, audience, data).map_err(Problem::internal)?;
        let payload = serde_json::to_vec(&envelope).map_err(Problem::internal)?;
        let values = vec![
            ParameterValue::Uuid(envelope.id.to_string()),
            ParameterValue::Str(envelope.event_type.clone()),
            ParameterValue::Str(self.publisher.topic(&envelope)),
            ParameterValue::Jsonb(payload),
            ParameterValue::Boolean(false),
        ];
        Ok((envelope, values))
    }

    /// An envelope whose row the caller's own statement wrote (see [`Outbox::row`]).
    pub fn written(&mut self, envelope: Envelope) {
        self.recorded.push(envelope);
    }

    /// Leaves what is recorded to `nexgate-ops relay` instead of publishing it after `COMMIT`:
    /// for hot paths whose events may arrive a few seconds later (the relay's `stale_after` plus
    /// its interval, about 6 s by default). A component's publish opens an MQTT connection per
    /// request, and under a storm of small writes the broker's share of the CPU is the bottleneck
    /// (docs/events.md, "Transport"); the relay publishes over one AMQP channel.
    pub fn leave_to_relay(&mut self) {
        self.relay_only = true;
    }

    /// Leaves what is recorded to the relay, now: the transaction also sends
    /// `NOTIFY nexgate_outbox, '<schema>:<id>,...'`, which a listening relay receives at `COMMIT`
    /// and answers by publishing exactly those rows over its one AMQP channel (a few
    /// milliseconds). For hot paths whose events are needed at once (a direct message wakes the
    /// real-time gateway) but which cannot afford an MQTT connection per request (each costs the
    /// broker more CPU than the rest of the request; docs/events.md, "Transport"). Should no
    /// relay be listening, the rows go out at its next pass like any left to it.
    pub fn leave_to_relay_now(&mut self) {
        self.relay_only = true;
        self.relay_now = true;
    }

    /// Inside the transaction, after the rows: the notice [`Outbox::leave_to_relay_now`] promises.
    pub fn notify_relay(&self, conn: &Connection) -> Result<(), Problem> {
        if !self.relay_now || self.recorded.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = self.recorded.iter().map(|e| e.id.to_string()).collect();
        conn.execute(
            "SELECT pg_notify($1, $2)",
            &[
                ParameterValue::Str(RELAY_CHANNEL.to_string()),
                ParameterValue::Str(format!("{}:{}", self.schema, ids.join(","))),
            ],
        )?;
        Ok(())
    }

    /// After `COMMIT`: publishes what was recorded (the relay retries what is not acknowledged),
    /// unless it was left to the relay.
    pub fn publish(self, conn: &Connection) {
        if !self.recorded.is_empty() && !self.relay_only {
            publish_recorded(conn, self.schema, &self.publisher, &self.recorded);
        }
    }
}

/// The channel of [`Outbox::leave_to_relay_now`]'s notices: `<schema>:<event id>,<event id>...`.
pub const RELAY_CHANNEL: &str = "nexgate_outbox";

/// Runs `work` in one transaction with an outbox of `component` in `schema`; what it records is
/// published after the commit. The one way a handler writes and announces in one step.
pub fn with_events<T>(
    conn: &Connection,
    schema: &'static str,
    component: &str,
    work: impl FnOnce(&Connection, &mut Outbox) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let mut events = Outbox::new(schema, component)?;
    let done = nexgate_platform::db::transaction(conn, |conn| -> Result<T, Problem> {
        let done = work(conn, &mut events)?;
        events.notify_relay(conn)?;
        Ok(done)
    })?;
    events.publish(conn);
    Ok(done)
}
