//! The event types of the platform's own (the health check): `platform.*`.

event_types! {
    producer: "platform";

    HealthChecked {
        name: "platform.health.checked",
        version: 1,
        secret: false,
        description: "The health component checked its dependencies (proves the MQTT path end to end).",
        data: {
            component: String = "string: the component that checked",
            checked_at: String = "string: RFC 3339 time of the check",
        }
    }
}
