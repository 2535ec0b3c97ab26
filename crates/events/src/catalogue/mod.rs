//! The catalogue of every event type: its producer, data fields and version, and the typed data
//! struct a producer fills.
//!
//! A type is named after its producer's schema (`<schema>.<entity>.<verb>`); `platform.*` is the
//! platform's own. Each producer has one file here (`files.rs`), written with [`event_types!`]:
//! one block per type gives its name, version, whether it carries a one-time secret, its
//! description and its data fields (Rust type and documented meaning). The macro makes the data
//! struct (`files::FileReady`), its [`EventData`] impl and the producer's `TYPES`, listed in
//! [`PRODUCERS`]; a new service adds its file. Whoever needs a type first adds it to its
//! producer's file and to `docs/events.md` (a test keeps the two in step), after checking it is not
//! already here under another name. An `Option` field is left out of the data when `None`.

/// One data field of an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataField {
    pub name: &'static str,
    /// JSON type and meaning, as documented.
    pub description: &'static str,
    pub required: bool,
}

/// One event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    pub name: &'static str,
    /// The schema (or `platform`) that produces it.
    pub producer: &'static str,
    pub version: u32,
    pub description: &'static str,
    pub data_fields: &'static [DataField],
    /// Carries a one-time secret (a code, a reset link): purged from the outbox once published,
    /// delivered regardless of preferences.
    pub carries_secret: bool,
}

/// The data of one catalogued event type, as its producer fills it and a consumer reads it.
pub trait EventData: serde::Serialize + serde::de::DeserializeOwned {
    /// The catalogue entry of the type this is the data of.
    const TYPE: EventType;
}

/// Whether a data field always has a value: an `Option` field may be left out.
pub trait FieldPresence {
    /// `false` for an `Option`.
    const REQUIRED: bool = true;
    /// Left out of the data (a `None`).
    fn is_absent(&self) -> bool {
        false
    }
}

impl<T> FieldPresence for Option<T> {
    const REQUIRED: bool = false;
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl<T> FieldPresence for Vec<T> {}
impl FieldPresence for uuid::Uuid {}
impl FieldPresence for String {}
impl FieldPresence for i64 {}
impl FieldPresence for bool {}
impl FieldPresence for serde_json::Value {}

/// Declares a producer's event types: per type its data struct, [`EventData`] impl and catalogue
/// entry; then the producer's `TYPES`. See `files.rs` for the shape.
macro_rules! event_types {
    (producer: $producer:literal; $(
        $struct_name:ident {
            name: $name:literal,
            version: $version:literal,
            secret: $secret:literal,
            description: $description:literal,
            data: { $( $field:ident : $field_type:ty = $field_description:literal ),* $(,)? }
        }
    )*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $description)]
            #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
            pub struct $struct_name {
                $(
                    #[doc = $field_description]
                    #[serde(skip_serializing_if = "crate::catalogue::FieldPresence::is_absent")]
                    pub $field: $field_type,
                )*
            }

            impl $crate::catalogue::EventData for $struct_name {
                const TYPE: $crate::catalogue::EventType = $crate::catalogue::EventType {
                    name: $name,
                    producer: $producer,
                    version: $version,
                    description: $description,
                    data_fields: &[$(
                        $crate::catalogue::DataField {
                            name: stringify!($field),
                            description: $field_description,
                            required: <$field_type as $crate::catalogue::FieldPresence>::REQUIRED,
                        },
                    )*],
                    carries_secret: $secret,
                };
            }
        )*

        /// Every type of this producer, in catalogue order.
        pub const TYPES: &[$crate::catalogue::EventType] =
            &[$( <$struct_name as $crate::catalogue::EventData>::TYPE ),*];
    };
}

pub mod auth;
pub mod commerce;
pub mod dm;
pub mod events;
pub mod files;
pub mod payments;
pub mod platform;
pub mod profiles;
pub mod social;

/// Every producer's types.
pub const PRODUCERS: &[&[EventType]] = &[
    platform::TYPES,
    auth::TYPES,
    profiles::TYPES,
    commerce::TYPES,
    events::TYPES,
    payments::TYPES,
    files::TYPES,
    dm::TYPES,
    social::TYPES,
];

/// Every event type.
pub fn all() -> impl Iterator<Item = &'static EventType> {
    PRODUCERS.iter().flat_map(|types| types.iter())
}

/// Finds a type by name.
pub fn find(name: &str) -> Option<&'static EventType> {
    all().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_three_lowercase_parts_named_after_the_producer() {
        for t in all() {
            let parts: Vec<&str> = t.name.split('.').collect();
            assert_eq!(parts.len(), 3, "{}", t.name);
            assert_eq!(parts[0], t.producer, "{}", t.name);
            assert!(
                t.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = all().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all().count());
    }

    #[test]
    fn docs_events_md_lists_exactly_the_catalogue() {
        let doc = include_str!("../../../../docs/events.md");
        let documented: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("### `").and_then(|r| r.strip_suffix('`')))
            .collect();
        let mut catalogued: Vec<&str> = all().map(|t| t.name).collect();
        let mut documented_sorted = documented.clone();
        catalogued.sort();
        documented_sorted.sort();
        assert_eq!(
            documented_sorted, catalogued,
            "docs/events.md and the catalogue disagree"
        );
        for t in all() {
            let section = doc.split(&format!("### `{}`", t.name)).nth(1).unwrap();
            let section = section.split("\n### ").next().unwrap();
            for f in t.data_fields {
                assert!(
                    section.contains(&format!("`{}`", f.name)),
                    "{}: field {} undocumented",
                    t.name,
                    f.name
                );
            }
            // And the page documents no field the data struct does not have.
            for row in section.lines().filter_map(|l| l.strip_prefix("| `")) {
                let field = row.split('`').next().unwrap_or_default();
                assert!(
                    t.data_fields.iter().any(|f| f.name == field),
                    "{}: docs/events.md documents `{field}`, the catalogue does not have it",
                    t.name
                );
            }
        }
    }
}
