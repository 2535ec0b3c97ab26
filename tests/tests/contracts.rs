//! Documents that must stay true. Every component declares what it serves as data (`const ROUTES`
//! in `functions/<component>/src/lib.rs`, routed by `nexgate_platform::routes`, so a component
//! answers exactly its table), and:
//! - every route of every table is in `docs/openapi.yaml` (public) or `docs/openapi-internal.yaml`
//!   (`/internal/...`) with the same path and method, and every operation of both documents is in a
//!   table;
//! - spin.toml sends each of those paths to the component whose table has it;
//! - every operation lists the statuses the platform gives it: 401 when it needs a token, 400, 415
//!   and 422 when it reads a JSON body, 401 and 403 for an internal one.

use std::collections::{BTreeMap, BTreeSet};

use nexgate_tests::repo_root;
use serde_yaml::Value as Yaml;

/// (method, path template), as the documents and the tables write them.
type Operation = (String, String);

/// Every component's table: component → its routes.
fn route_tables() -> BTreeMap<String, Vec<Operation>> {
    let mut tables = BTreeMap::new();
    let dir = repo_root().join("functions");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let source = entry.path().join("src/lib.rs");
        let Ok(text) = std::fs::read_to_string(&source) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().to_string();
        let start = text
            .find("const ROUTES: &Table = &[")
            .unwrap_or_else(|| panic!("{} has no `const ROUTES: &Table`", source.display()));
        let block = &text[start..start + text[start..].find("];").unwrap()];
        let routes = parse_table(block);
        assert!(!routes.is_empty(), "{name}: an empty route table");
        tables.insert(name, routes);
    }
    tables
}

/// The `("METHOD", "/path")` pairs of a table's source.
fn parse_table(block: &str) -> Vec<Operation> {
    let mut out = Vec::new();
    let mut rest = block;
    while let Some(open) = rest.find("(\"") {
        rest = &rest[open + 2..];
        let method_end = rest.find('"').unwrap();
        let method = rest[..method_end].to_string();
        rest = &rest[method_end + 1..];
        let path_start = rest.find('"').unwrap() + 1;
        let path_end = path_start + rest[path_start..].find('"').unwrap();
        out.push((method, rest[path_start..path_end].to_string()));
        rest = &rest[path_end + 1..];
    }
    out
}

fn document(name: &str) -> Yaml {
    let text = std::fs::read_to_string(repo_root().join("docs").join(name)).unwrap();
    assert!(
        text.starts_with("openapi: 3.1"),
        "{name} must be OpenAPI 3.1"
    );
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Each operation of a document with its definition.
fn operations(doc: &Yaml) -> Vec<(Operation, Yaml)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push(((method.to_uppercase(), path.to_string()), op.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_by_its_exact_path_and_method_and_nothing_else_is() {
    let tables = route_tables();
    let public = document("openapi.yaml");
    let internal = document("openapi-internal.yaml");
    let documented: BTreeSet<Operation> = operations(&public)
        .into_iter()
        .chain(operations(&internal))
        .map(|(op, _)| op)
        .collect();
    let served: BTreeSet<Operation> = tables.values().flatten().cloned().collect();
    for (component, routes) in &tables {
        for route in routes {
            assert!(
                documented.contains(route),
                "{component} serves {} {} but {} does not document it",
                route.0,
                route.1,
                if route.1.starts_with("/internal/") {
                    "docs/openapi-internal.yaml"
                } else {
                    "docs/openapi.yaml"
                }
            );
        }
    }
    for op in &documented {
        assert!(
            served.contains(op),
            "{} {} is documented but no component's ROUTES serves it",
            op.0,
            op.1
        );
    }
    for ((_, path), _) in operations(&internal) {
        assert!(path.starts_with("/internal/"), "{path} is not internal");
    }
    for ((_, path), _) in operations(&public) {
        assert!(!path.starts_with("/internal/"), "{path} is internal");
    }
}

/// spin.toml's HTTP triggers.
fn spin_triggers() -> Vec<toml::Value> {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    manifest["trigger"]["http"].as_array().unwrap().clone()
}

/// spin.toml's routes: (route, component).
fn spin_routes() -> Vec<(String, String)> {
    spin_triggers()
        .iter()
        .filter_map(|t| {
            Some((
                t["route"].as_str()?.to_string(),
                t["component"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// How well a Spin route matches a path (None: not at all): exact routes beat routes with
/// parameters, which beat wildcards; among wildcards the longest prefix wins.
fn spin_match(route: &str, path: &[&str]) -> Option<(u8, usize)> {
    if let Some(prefix) = route.strip_suffix("/...") {
        let prefix: Vec<&str> = prefix.split('/').collect();
        let covered = prefix.len() <= path.len()
            && prefix
                .iter()
                .zip(path)
                .all(|(r, p)| r.starts_with(':') || r == p);
        return covered.then_some((0, prefix.len()));
    }
    let segments: Vec<&str> = route.split('/').collect();
    if segments.len() != path.len() {
        return None;
    }
    let mut literal = true;
    for (r, p) in segments.iter().zip(path) {
        if r.starts_with(':') {
            literal = false;
        } else if r != p {
            return None;
        }
    }
    Some((if literal { 2 } else { 1 }, segments.len()))
}

/// Components spin.toml reaches only by local service chaining (`route = { private = true }`).
fn private_components() -> BTreeSet<String> {
    spin_triggers()
        .iter()
        .filter(|t| t["route"].get("private").and_then(toml::Value::as_bool) == Some(true))
        .filter_map(|t| t["component"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn spin_sends_every_route_to_the_component_that_serves_it() {
    let spin = spin_routes();
    let private = private_components();
    for (component, routes) in route_tables() {
        if private.contains(&component) {
            // Reached only as `http://<component>.spin.internal/<path>`: no route may lead there.
            assert!(
                spin.iter().all(|(_, c)| c != &component),
                "{component} is private but spin.toml also routes to it"
            );
            continue;
        }
        for (method, template) in routes {
            // A parameter stands for a value no literal segment has.
            let concrete: Vec<String> = template
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "0190aaaa-0000-7000-8000-000000000000".to_string()
                    } else {
                        s.to_string()
                    }
                })
                .collect();
            let concrete: Vec<&str> = concrete.iter().map(String::as_str).collect();
            let best = spin
                .iter()
                .filter_map(|(route, c)| spin_match(route, &concrete).map(|score| (score, c)))
                .max_by_key(|(score, _)| *score);
            match best {
                Some((_, c)) => assert_eq!(
                    c, &component,
                    "{method} {template} is served by {component} but spin.toml routes it to {c}"
                ),
                None => panic!("{method} {template} ({component}) has no route in spin.toml"),
            }
        }
    }
}

fn statuses(op: &Yaml) -> BTreeSet<String> {
    op["responses"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .map(|k| match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    other => panic!("a response key {other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn reads_json(op: &Yaml) -> bool {
    match op.get("requestBody") {
        None => false,
        Some(body) => {
            body.get("$ref").is_some()
                || body["content"]
                    .as_mapping()
                    .is_some_and(|c| c.contains_key("application/json"))
        }
    }
}

#[test]
fn every_operation_lists_the_statuses_the_platform_gives_it() {
    let mut missing = Vec::new();
    let mut check = |doc: &str, (method, path): &Operation, op: &Yaml, wanted: &[&str]| {
        let listed = statuses(op);
        for status in wanted {
            if !listed.contains(*status) {
                missing.push(format!("{doc}: {method} {path} does not list {status}"));
            }
        }
    };
    for (op_id, op) in operations(&document("openapi.yaml")) {
        let bearer = op["security"]
            .as_sequence()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if bearer {
            check("openapi.yaml", &op_id, &op, &["401"]);
        }
        if reads_json(&op) {
            check("openapi.yaml", &op_id, &op, &["400", "415", "422"]);
        }
    }
    for (op_id, op) in operations(&document("openapi-internal.yaml")) {
        check("openapi-internal.yaml", &op_id, &op, &["401", "403"]);
        if reads_json(&op) {
            check("openapi-internal.yaml", &op_id, &op, &["400", "415"]);
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
