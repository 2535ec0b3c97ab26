//! Spin variables every component reads, and the prefixes that let runs go side by side.
//!
//! Every Redis key goes through [`redis_key`] (prefix `redis_key_prefix`) and every MQTT topic
//! through [`event_topic`] (prefix `event_topic_prefix`); MQTT client ids are unique per open.

/// Reads a Spin variable; a missing one is an internal error naming it (never sent to clients).
pub fn var(name: &str) -> anyhow::Result<String> {
    spin_sdk::variables::get(name).map_err(|e| anyhow::anyhow!("variable `{name}`: {e:?}"))
}

/// Whether a secret's value is unusable: empty, or a documented placeholder (`CHANGE-ME...`, as in
/// `infra/spinkube/secrets.example.yaml`). A component never checks anything with such a key: a
/// signature under an empty or published key proves nothing.
pub fn is_placeholder_secret(value: &str) -> bool {
    let v = value.trim();
    v.is_empty() || v.to_ascii_uppercase().starts_with("CHANGE-ME")
}

/// A Redis key under the run's prefix: `redis_key("nexgate:", &["session", id])` → `nexgate:session:<id>`.
pub fn redis_key(prefix: &str, parts: &[&str]) -> String {
    let mut key = String::from(prefix);
    key.push_str(&parts.join(":"));
    key
}

/// The MQTT topic of an event type under the prefix: `nexgate/auth/user/registered`.
pub fn event_topic(prefix: &str, event_type: &str) -> String {
    format!(
        "{}/{}",
        prefix.trim_end_matches('/'),
        event_type.replace('.', "/")
    )
}

/// The MQTT address with a client id unique to this open (`<component>-<uuid>`), replacing any
/// `client_id` already in the URL. Spin opens a connection per `open`, and a broker disconnects an
/// older connection that reuses a client id.
pub fn mqtt_address_with_client_id(mqtt_url: &str, component: &str) -> String {
    let (base, query) = mqtt_url.split_once('?').unwrap_or((mqtt_url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("client_id="))
        .collect();
    let id = format!("client_id={component}-{}", uuid::Uuid::new_v4().simple());
    params.push(&id);
    format!("{base}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_and_documented_placeholder_secrets_are_unusable() {
        for bad in [
            "",
            "  ",
            "CHANGE-ME",
            "CHANGE-ME-at-least-24-bytes",
            "change-me-now",
        ] {
            assert!(super::is_placeholder_secret(bad), "{bad:?}");
        }
        assert!(!super::is_placeholder_secret("f3a1c9e07b2d4c58a1e6"));
    }

    use super::*;

    #[test]
    fn keys_and_topics_carry_their_prefix() {
        assert_eq!(redis_key("t1:", &["session", "abc"]), "t1:session:abc");
        assert_eq!(
            event_topic("nexgate", "auth.user.registered"),
            "nexgate/auth/user/registered"
        );
        assert_eq!(event_topic("test-1/", "a.b.c"), "test-1/a/b/c");
    }

    #[test]
    fn mqtt_client_ids_are_unique_and_replace_any_given() {
        let a = mqtt_address_with_client_id("mqtt://127.0.0.1:1883?client_id=fixed&x=1", "health");
        let b = mqtt_address_with_client_id("mqtt://127.0.0.1:1883?client_id=fixed&x=1", "health");
        assert_ne!(a, b);
        assert!(a.starts_with("mqtt://127.0.0.1:1883?x=1&client_id=health-"));
        assert!(!a.contains("fixed"));
    }
}
