//! Spin variables: application variables with their providers, and each component's view of them.
//!
//! Precedence, highest first: `--variable name=value` flags, `SPIN_VARIABLE_<NAME>` environment
//! variables, then the manifest's `default`. A `required` variable without a value stops start-up.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Result};

use crate::app::manifest::{App, ComponentDecl};

/// Resolved application variable values (`None` when a variable has no value at all).
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, Option<String>>,
}

impl AppVariables {
    /// Resolves every application variable; names every missing required one in the error.
    pub fn resolve(
        app: &App,
        flags: &HashMap<String, String>,
        env: &HashMap<String, String>,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in &app.variables {
            let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            let value = flags
                .get(name)
                .cloned()
                .or_else(|| env.get(&env_name).cloned())
                .or_else(|| decl.default.clone());
            if decl.required && value.is_none() {
                missing.push(format!(
                    "`{name}` (set {env_name} or --variable {name}=...)"
                ));
            }
            values.insert(name.clone(), value);
        }
        for name in flags.keys() {
            if !app.variables.contains_key(name) {
                bail!("--variable {name}: no such variable under [variables]");
            }
        }
        if !missing.is_empty() {
            bail!("required variables have no value: {}", missing.join(", "));
        }
        Ok(Self { values })
    }

    /// The value of an application variable.
    pub fn get(&self, name: &str) -> Result<String, VariableError> {
        match self.values.get(name) {
            Some(Some(v)) => Ok(v.clone()),
            Some(None) => Err(VariableError::Undefined(format!(
                "application variable `{name}` has no value"
            ))),
            None => Err(VariableError::Undefined(format!(
                "no application variable `{name}`"
            ))),
        }
    }

    /// Resolves every variable of a component; each may fail on its own (like Spin, a component
    /// only sees the error when it asks for that variable).
    pub fn for_component(
        &self,
        component: &ComponentDecl,
    ) -> BTreeMap<String, Result<String, VariableError>> {
        component
            .variables
            .iter()
            .map(|(name, template)| (name.clone(), template.resolve(|n| self.get(n))))
            .collect()
    }
}

/// Why a variable could not be read (mirrors `fermyon:spin/variables.error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariableError {
    #[error("undefined: {0}")]
    Undefined(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "v"
[variables]
needed = { required = true }
prefix = { default = "nexgate" }
optional = {}
[[trigger.http]]
route = "/"
component = "c"
[component.c]
source = "c.wasm"
[component.c.variables]
topic = "{{ prefix }}/events"
maybe = "{{ optional }}"
"#;

    fn app() -> App {
        crate::app::manifest::parse(APP, Path::new("/")).unwrap()
    }

    #[test]
    fn flags_beat_environment_beat_defaults() {
        let app = app();
        let mut env = HashMap::new();
        env.insert("SPIN_VARIABLE_NEEDED".into(), "from-env".into());
        env.insert("SPIN_VARIABLE_PREFIX".into(), "env-prefix".into());
        let vars = AppVariables::resolve(&app, &HashMap::new(), &env).unwrap();
        assert_eq!(vars.get("needed").unwrap(), "from-env");
        assert_eq!(vars.get("prefix").unwrap(), "env-prefix");

        let mut flags = HashMap::new();
        flags.insert("prefix".to_string(), "flag-prefix".to_string());
        let vars = AppVariables::resolve(&app, &flags, &env).unwrap();
        assert_eq!(vars.get("prefix").unwrap(), "flag-prefix");

        env.remove("SPIN_VARIABLE_PREFIX");
        let vars = AppVariables::resolve(&app, &HashMap::new(), &env).unwrap();
        let resolved = vars.for_component(&app.components["c"]);
        assert_eq!(resolved["topic"].as_deref().unwrap(), "nexgate/events");
        assert!(resolved["maybe"].is_err());
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        let err = AppVariables::resolve(&app(), &HashMap::new(), &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("SPIN_VARIABLE_NEEDED"), "{err}");
    }
}
