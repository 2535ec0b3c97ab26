//! Documents that must stay true: the OpenAPI document covers every public route of spin.toml.

use nexgate_tests::repo_root;

/// Public routes of spin.toml: not private, not under /internal/.
fn public_routes() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    manifest["trigger"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["route"].as_str().map(str::to_string))
        .filter(|r| !r.starts_with("/internal/"))
        .collect()
}

#[test]
fn every_public_route_is_in_the_openapi_document() {
    let doc = std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap();
    let paths: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("  /") && l.trim_end().ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    assert!(
        doc.starts_with("openapi: 3.1"),
        "docs/openapi.yaml must be OpenAPI 3.1"
    );
    for route in public_routes() {
        let openapi_form = route
            .split('/')
            .map(|seg| {
                seg.strip_prefix(':')
                    .map(|n| format!("{{{n}}}"))
                    .unwrap_or_else(|| seg.to_string())
            })
            .collect::<Vec<_>>()
            .join("/");
        let covered = match openapi_form.strip_suffix("/...") {
            Some(prefix) => paths.iter().any(|p| p.starts_with(prefix)),
            None => paths.contains(&openapi_form.as_str()),
        };
        assert!(
            covered,
            "route {route} of spin.toml is missing from docs/openapi.yaml"
        );
    }
}
