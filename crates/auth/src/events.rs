//! The auth events (catalogue: `auth.*`), recorded in `auth.outbox` with the change and
//! published after commit.

use nexgate_events::outbox::{publish_recorded, record, Publisher};
use nexgate_events::{Envelope, Subject};
use nexgate_platform::Problem;
use serde_json::Value;
use spin_sdk::pg4::Connection;
use uuid::Uuid;

/// The schema whose outbox auth writes.
pub const SCHEMA: &str = "auth";

/// Events recorded in a transaction, to publish once it committed.
pub struct Outbox {
    publisher: Publisher,
    recorded: Vec<Envelope>,
}

impl Outbox {
    /// For the component `component` (its MQTT client id).
    pub fn new(component: &str) -> Result<Self, Problem> {
        Ok(Self {
            publisher: Publisher::from_variables(component).map_err(Problem::internal)?,
            recorded: Vec::new(),
        })
    }

    /// Records an event inside the open transaction.
    pub fn record(
        &mut self,
        conn: &Connection,
        event_type: &str,
        actor: Option<Uuid>,
        subject: (&str, String),
        audience: Vec<Uuid>,
        data: Value,
    ) -> Result<(), Problem> {
        let envelope = Envelope::new(
            event_type,
            actor,
            Subject {
                kind: subject.0.to_string(),
                id: subject.1,
            },
            audience,
            data,
        )
        .map_err(Problem::internal)?;
        record(conn, SCHEMA, &self.publisher, &envelope)?;
        self.recorded.push(envelope);
        Ok(())
    }

    /// After `COMMIT`: publishes what was recorded (the relay retries what is not acknowledged).
    pub fn publish(self, conn: &Connection) {
        if !self.recorded.is_empty() {
            publish_recorded(conn, SCHEMA, &self.publisher, &self.recorded);
        }
    }
}
