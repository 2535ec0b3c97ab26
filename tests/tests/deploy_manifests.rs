//! The operator manifests parse and agree with spin.toml (no cluster here: see infra/spinkube/README.md).

use nexgate_tests::repo_root;
use serde::Deserialize;

fn documents(path: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn spin_variables() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    manifest["variables"]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn every_kubernetes_object_has_api_version_kind_and_name() {
    for path in [
        "infra/spinkube/spinapp.yaml",
        "infra/spinkube/workers.yaml",
        "infra/spinkube/secrets.example.yaml",
    ] {
        for doc in documents(path) {
            assert!(doc["apiVersion"].as_str().is_some(), "{path}: apiVersion");
            assert!(doc["kind"].as_str().is_some(), "{path}: kind");
            assert!(
                doc["metadata"]["name"].as_str().is_some(),
                "{path}: metadata.name"
            );
        }
    }
}

#[test]
fn the_spinapp_sets_only_variables_spin_toml_declares_and_every_required_one() {
    let declared = spin_variables();
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let required: Vec<String> = manifest["variables"]
        .as_table()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.get("required").and_then(|r| r.as_bool()) == Some(true))
        .map(|(k, _)| k.clone())
        .collect();
    let app = &documents("infra/spinkube/spinapp.yaml")[0];
    assert_eq!(app["kind"], "SpinApp");
    assert!(app["spec"]["image"].as_str().is_some());
    let set: Vec<String> = app["spec"]["variables"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    for name in &set {
        assert!(
            declared.contains(name),
            "SpinApp sets `{name}`, which spin.toml does not declare"
        );
    }
    for name in &required {
        assert!(
            set.contains(name),
            "SpinApp misses required variable `{name}`"
        );
    }
}

#[test]
fn deployments_select_their_own_pods() {
    for doc in documents("infra/spinkube/workers.yaml") {
        if doc["kind"] == "Deployment" {
            assert_eq!(
                doc["spec"]["selector"]["matchLabels"],
                doc["spec"]["template"]["metadata"]["labels"]
            );
            assert!(doc["spec"]["template"]["spec"]["containers"][0]["args"]
                .as_sequence()
                .is_some());
        }
    }
}

#[test]
fn docker_compose_defines_the_four_stores() {
    let doc = &documents("infra/docker-compose.yml")[0];
    for service in ["postgres", "redis", "rabbitmq", "minio"] {
        assert!(
            doc["services"][service]["image"].as_str().is_some(),
            "{service}"
        );
    }
}

/// A variable whose default points at this machine (a store on 127.0.0.1, a public URL of
/// `localhost`) would silently point a cluster at nothing: the SpinApp must set every one. Public
/// URLs that go out in links and provider callbacks (`public_base_url`, `cdn_base_url`) above all.
#[test]
fn the_spinapp_sets_every_variable_whose_default_points_at_this_machine() {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let app = &documents("infra/spinkube/spinapp.yaml")[0];
    let set: Vec<&str> = app["spec"]["variables"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let local: Vec<&String> = manifest["variables"]
        .as_table()
        .unwrap()
        .iter()
        .filter(|(_, v)| {
            v.get("default")
                .and_then(|d| d.as_str())
                .is_some_and(|d| d.contains("127.0.0.1") || d.contains("localhost"))
        })
        .map(|(k, _)| k)
        .collect();
    assert!(local.iter().any(|k| *k == "public_base_url"));
    for name in local {
        assert!(
            set.contains(&name.as_str()),
            "SpinApp leaves `{name}` at its local default"
        );
    }
}

/// The scheduler and the dispatcher call `/internal/<service>/...` with that service's token,
/// which they read from `SPIN_VARIABLE_<SERVICE>_INTERNAL_TOKEN` in the `nexgate-ops` secret: every
/// service with a scheduled job or a subscription needs its token there, or its jobs and events
/// are refused (401) forever.
#[test]
fn the_ops_secret_carries_the_token_of_every_service_the_workers_call() {
    let secret = documents("infra/spinkube/secrets.example.yaml")
        .into_iter()
        .find(|d| d["metadata"]["name"] == "nexgate-ops")
        .expect("the nexgate-ops secret");
    let text = |path: &str| std::fs::read_to_string(repo_root().join(path)).unwrap();
    let schedule: toml::Value = toml::from_str(&text("infra/schedule.toml")).unwrap();
    let subscriptions: toml::Value = toml::from_str(&text("infra/subscriptions.toml")).unwrap();
    let mut services: Vec<String> = schedule["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["service"].as_str().unwrap().to_string())
        .collect();
    if let Some(subscribed) = subscriptions.get("services").and_then(|s| s.as_table()) {
        services.extend(subscribed.keys().cloned());
    }
    services.sort();
    services.dedup();
    assert!(services.contains(&"payments".to_string()));
    for service in services {
        let key = format!("SPIN_VARIABLE_{}_INTERNAL_TOKEN", service.to_uppercase());
        assert!(
            secret["stringData"][key.as_str()].as_str().is_some(),
            "nexgate-ops lacks {key}: the workers' calls to /internal/{service}/ would be refused"
        );
    }
}

#[test]
fn the_local_sandbox_is_never_part_of_a_production_manifest() {
    let dir = nexgate_tests::repo_root().join("infra/spinkube");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let manifest_text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        for needle in ["nexgate-sandbox", ":3600", ":3601", "pay.nexgate.test"] {
            assert!(
                !manifest_text.contains(needle),
                "{} mentions {needle}: the sandbox's simulated providers are for local use only",
                path.display()
            );
        }
    }
}
