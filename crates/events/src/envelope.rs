//! The event envelope every producer writes and every consumer reads.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue;

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
    #[error("`{0}` is not in the events catalogue (crates/events/src/catalogue.rs)")]
    UnknownType(String),
    #[error("`{0}` is missing required data field `{1}`")]
    MissingField(String, String),
}

impl Envelope {
    /// Builds an envelope for a catalogued type, checking `data` carries the type's required fields.
    pub fn new(
        event_type: &str,
        actor: Option<Uuid>,
        subject: Subject,
        audience: Vec<Uuid>,
        data: serde_json::Value,
    ) -> Result<Self, EnvelopeError> {
        let t = catalogue::find(event_type)
            .ok_or_else(|| EnvelopeError::UnknownType(event_type.to_string()))?;
        for field in t.data_fields.iter().filter(|f| f.required) {
            if data.get(field.name).is_none() {
                return Err(EnvelopeError::MissingField(
                    event_type.to_string(),
                    field.name.to_string(),
                ));
            }
        }
        let (secs, nanos) = nexgate_platform::time::now_unix();
        Ok(Self {
            id: nexgate_platform::ids::new_id(),
            event_type: event_type.to_string(),
            occurred_at: nexgate_platform::time::rfc3339(secs, nanos),
            actor,
            subject,
            audience,
            data,
            version: t.version,
        })
    }

    /// Whether this event carries a one-time secret (its outbox row is purged once published).
    pub fn carries_secret(&self) -> bool {
        catalogue::find(&self.event_type).is_some_and(|t| t.carries_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_of_catalogued_types_serialise_with_the_documented_fields() {
        let e = Envelope::new(
            "platform.health.checked",
            None,
            Subject {
                kind: "component".into(),
                id: "health".into(),
            },
            vec![],
            serde_json::json!({ "component": "health", "checked_at": "2026-11-29T00:00:00.000Z" }),
        )
        .unwrap();
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
        assert_eq!(e.id.get_version_num(), 7);
    }

    #[test]
    fn unknown_types_and_missing_fields_are_refused() {
        let s = Subject {
            kind: "x".into(),
            id: "1".into(),
        };
        assert!(matches!(
            Envelope::new(
                "auth.user.teleported",
                None,
                s.clone(),
                vec![],
                serde_json::json!({})
            ),
            Err(EnvelopeError::UnknownType(_))
        ));
        assert!(matches!(
            Envelope::new(
                "platform.health.checked",
                None,
                s,
                vec![],
                serde_json::json!({})
            ),
            Err(EnvelopeError::MissingField(_, _))
        ));
    }
}
