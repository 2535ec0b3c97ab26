//! The event envelope every producer writes and every consumer reads.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::{self, EventData};

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub kind: String,
    pub id: String,
}

/// A domain event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7, the consumers' dedupe key.
    pub id: Uuid,
    /// `<schema>.<entity>.<verb>`, named after the producer's schema.
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339 UTC.
    pub occurred_at: String,
    /// The user who caused it, or null for the system.
    pub actor: Option<Uuid>,
    pub subject: Subject,
    /// The users who should hear of it.
    pub audience: Vec<Uuid>,
    pub data: serde_json::Value,
    /// Version of this type's `data` shape.
    pub version: u32,
}

/// Why an envelope could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("`{0}`'s data does not serialise: {1}")]
    Data(&'static str, String),
}

impl Envelope {
    /// Builds the envelope of one event: its type, version and data from the typed `data`.
    pub fn new<E: EventData>(
        actor: Option<Uuid>,
        subject: Subject,
        audience: Vec<Uuid>,
        data: &E,
    ) -> Result<Self, EnvelopeError> {
        let data = serde_json::to_value(data)
            .map_err(|e| EnvelopeError::Data(E::TYPE.name, e.to_string()))?;
        let (secs, nanos) = nexgate_platform::time::now_unix();
        Ok(Self {
            id: nexgate_platform::ids::new_id(),
            event_type: E::TYPE.name.to_string(),
            occurred_at: nexgate_platform::time::rfc3339(secs, nanos),
            actor,
            subject,
            audience,
            data,
            version: E::TYPE.version,
        })
    }

    /// The typed data, when this envelope is of type `E` and its data reads as `E`.
    pub fn data_as<E: EventData>(&self) -> Option<E> {
        if self.event_type != E::TYPE.name {
            return None;
        }
        serde_json::from_value(self.data.clone()).ok()
    }

    /// Whether this event carries a one-time secret (its outbox row is purged once published).
    pub fn carries_secret(&self) -> bool {
        catalogue::find(&self.event_type).is_some_and(|t| t.carries_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::files::FileFailed;
    use crate::catalogue::platform::HealthChecked;

    fn subject() -> Subject {
        Subject {
            kind: "component".into(),
            id: "health".into(),
        }
    }

    #[test]
    fn envelopes_serialise_with_the_documented_fields_and_the_type_of_their_data() {
        let data = HealthChecked {
            component: "health".into(),
            checked_at: "2026-11-29T00:00:00.000Z".into(),
        };
        let e = Envelope::new(None, subject(), vec![], &data).unwrap();
        let v = serde_json::to_value(&e).unwrap();
        for key in [
            "id",
            "type",
            "occurred_at",
            "actor",
            "subject",
            "audience",
            "data",
            "version",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["type"], "platform.health.checked");
        assert_eq!(v["data"]["component"], "health");
        assert_eq!(e.id.get_version_num(), 7);
        assert_eq!(e.data_as::<HealthChecked>(), Some(data));
        assert_eq!(e.data_as::<FileFailed>(), None, "another type's data");
    }

    #[test]
    fn a_none_field_is_left_out_and_reads_back_as_none() {
        let e = Envelope::new(
            None,
            subject(),
            vec![],
            &crate::catalogue::auth::LoginNewDevice {
                session_id: Uuid::nil(),
                device_name: "phone".into(),
                platform: "ios".into(),
                ip: None,
                logged_in_at: "2026-11-29T00:00:00.000Z".into(),
            },
        )
        .unwrap();
        assert!(e.data.get("ip").is_none());
        assert_eq!(
            e.data_as::<crate::catalogue::auth::LoginNewDevice>()
                .unwrap()
                .ip,
            None
        );
    }
}
