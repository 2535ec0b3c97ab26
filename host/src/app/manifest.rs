//! Reading `spin.toml` (manifest version 2) into the application the host runs.
//!
//! Only what the host can honour is accepted: an unknown key, a feature the host does not provide
//! (for example `files`, which would need preopened directories) or a dangling component reference is
//! an error naming the component and the line to fix, so a manifest that starts here also starts on Spin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::app::template::Template;

/// A parsed, validated application manifest.
#[derive(Debug, Clone)]
pub struct App {
    /// `[application] name`.
    pub name: String,
    /// Application variables (`[variables]`).
    pub variables: BTreeMap<String, VariableDecl>,
    /// HTTP triggers in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// Components by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// One application variable.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// An HTTP trigger: a route (or a private, chaining-only entry) bound to a component.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// `None` for `route = { private = true }`: reachable only by local service chaining.
    pub route: Option<String>,
    pub component: String,
}

/// A component as declared under `[component.<id>]`.
#[derive(Debug, Clone)]
pub struct ComponentDecl {
    /// Absolute path of the `.wasm` file (core module or component).
    pub source: PathBuf,
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    /// Component variables: name → template over application variables.
    pub variables: BTreeMap<String, Template>,
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: u32,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    authors: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    route: RawRoute,
    component: String,
    #[serde(default)]
    executor: Option<RawExecutor>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExecutor {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    build: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    exclude_files: Vec<String>,
}

/// Reads and validates the manifest at `path`.
pub fn load(path: &Path) -> Result<App> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read manifest {}", path.display()))?;
    let base_dir = path
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse(&text, &base_dir).with_context(|| format!("invalid manifest {}", path.display()))
}

/// Parses manifest text; `base_dir` resolves relative `source` paths.
pub fn parse(text: &str, base_dir: &Path) -> Result<App> {
    let raw: RawManifest = toml::from_str(text)?;
    if raw.spin_manifest_version != 2 {
        bail!(
            "spin_manifest_version = {} is not supported; use 2",
            raw.spin_manifest_version
        );
    }
    for name in raw.variables.keys() {
        check_variable_name(name).with_context(|| format!("[variables] {name}"))?;
    }
    for (name, decl) in &raw.variables {
        if decl.required && decl.default.is_some() {
            bail!("variable `{name}` is required and has a default; choose one");
        }
    }

    let mut components = BTreeMap::new();
    for (id, c) in raw.component {
        let decl = component_decl(&id, c, &raw.variables, base_dir)?;
        components.insert(id, decl);
    }
    let http_triggers = raw
        .trigger
        .http
        .into_iter()
        .map(|t| http_trigger(t, &components))
        .collect::<Result<Vec<_>>>()?;
    Ok(App {
        name: raw.application.name,
        variables: raw.variables,
        http_triggers,
        components,
    })
}

/// One `[component.<id>]`, checked: features this host does not provide are refused, and every
/// `{{ variable }}` it uses must be declared under `[variables]`.
fn component_decl(
    id: &str,
    c: RawComponent,
    declared: &BTreeMap<String, VariableDecl>,
    base_dir: &Path,
) -> Result<ComponentDecl> {
    check_component_id(id)?;
    if !c.files.is_empty() {
        bail!("component `{id}`: `files` is not supported by this host (no preopened directories); remove it");
    }
    if !c.sqlite_databases.is_empty() {
        bail!("component `{id}`: `sqlite_databases` is not provided by this host; remove it");
    }
    if !c.ai_models.is_empty() {
        bail!("component `{id}`: `ai_models` is not provided by this host; remove it");
    }
    let mut variables = BTreeMap::new();
    for (name, value) in c.variables {
        check_variable_name(&name)
            .with_context(|| format!("component `{id}`: variable `{name}`"))?;
        let template = Template::parse(&value)
            .with_context(|| format!("component `{id}`: variable `{name}`"))?;
        for referenced in template.references() {
            if !declared.contains_key(referenced) {
                bail!("component `{id}`: variable `{name}` refers to `{{{{ {referenced} }}}}`, which is not declared under [variables]");
            }
        }
        variables.insert(name, template);
    }
    for host in &c.allowed_outbound_hosts {
        let template = Template::parse(host)
            .with_context(|| format!("component `{id}`: allowed_outbound_hosts `{host}`"))?;
        for referenced in template.references() {
            if !declared.contains_key(referenced) {
                bail!("component `{id}`: allowed_outbound_hosts `{host}` refers to an undeclared variable `{referenced}`");
            }
        }
    }
    Ok(ComponentDecl {
        source: base_dir.join(&c.source),
        allowed_outbound_hosts: c.allowed_outbound_hosts,
        key_value_stores: c.key_value_stores,
        variables,
        environment: c.environment,
    })
}

/// One `[[trigger.http]]`, checked: its component exists, its executor is Spin's, and its route
/// is one Spin could match (or it is private).
fn http_trigger(
    t: RawHttpTrigger,
    components: &BTreeMap<String, ComponentDecl>,
) -> Result<HttpTrigger> {
    if !components.contains_key(&t.component) {
        bail!(
            "[[trigger.http]] component = \"{}\" names no [component.{}]",
            t.component,
            t.component
        );
    }
    if let Some(executor) = &t.executor {
        if executor.kind != "spin" {
            bail!(
                "component `{}`: executor type `{}` is not supported (only \"spin\")",
                t.component,
                executor.kind
            );
        }
    }
    let route = match t.route {
        RawRoute::Path(p) => {
            crate::app::routing::check_route(&p)
                .with_context(|| format!("component `{}`: route `{p}`", t.component))?;
            Some(p)
        }
        RawRoute::Private { private: true } => None,
        RawRoute::Private { private: false } => {
            bail!(
                "component `{}`: route = {{ private = false }} is not a route; give a path",
                t.component
            )
        }
    };
    Ok(HttpTrigger {
        route,
        component: t.component,
    })
}

/// Spin's variable names: lowercase ASCII letters, digits and underscores, starting with a letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("variable name `{name}` must be lowercase letters, digits and underscores, starting with a letter");
    }
    Ok(())
}

fn check_component_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!("component id `{id}` must be lowercase kebab-case (letters, digits, `-`)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
db_url = { required = true, secret = true }
prefix = { default = "nexgate" }
[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = { private = true }
component = "health"
[component.health]
source = "health.wasm"
allowed_outbound_hosts = ["postgres://{{ db_host }}:5432"]
[component.health.variables]
db_url = "{{ db_url }}"
"#;

    #[test]
    fn a_valid_manifest_parses_with_private_routes() {
        let text = MINIMAL.replace("{{ db_host }}", "localhost");
        let app = parse(&text, Path::new("/app")).unwrap();
        assert_eq!(app.name, "demo");
        assert_eq!(app.http_triggers.len(), 2);
        assert_eq!(app.http_triggers[1].route, None);
        assert_eq!(
            app.components["health"].source,
            PathBuf::from("/app/health.wasm")
        );
    }

    #[test]
    fn an_undeclared_variable_in_a_host_template_is_refused() {
        let err = parse(MINIMAL, Path::new("/app")).unwrap_err();
        assert!(format!("{err:#}").contains("db_host"), "{err:#}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let text = MINIMAL.replace("{{ db_host }}", "localhost") + "\n[component.health.typo]\n";
        assert!(parse(&text, Path::new("/app")).is_err());
    }

    #[test]
    fn a_trigger_for_a_missing_component_is_refused() {
        let text = MINIMAL.replace("{{ db_host }}", "localhost").replace(
            "component = \"health\"\n[[trigger",
            "component = \"nope\"\n[[trigger",
        );
        let err = parse(&text, Path::new("/app")).unwrap_err();
        assert!(format!("{err:#}").contains("nope"));
    }

    #[test]
    fn files_are_refused_with_the_component_named() {
        let text = MINIMAL.replace("{{ db_host }}", "localhost").replace(
            "source = \"health.wasm\"",
            "source = \"health.wasm\"\nfiles = [\"static/**\"]",
        );
        let err = parse(&text, Path::new("/app")).unwrap_err();
        assert!(format!("{err:#}").contains("component `health`"));
    }
}
