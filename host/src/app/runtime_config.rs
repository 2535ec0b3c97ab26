//! The runtime configuration file (`--runtime-config-file`), read as `spin up` reads it.
//!
//! What this host takes from it:
//! - `state_dir`: where local state lives (default `.spin` beside `spin.toml`; `""` means none,
//!   so the `default` key-value store is in memory);
//! - `[key_value_store.<label>]` with `type = "spin"` (SQLite; `path` relative to the file's
//!   folder, in memory without one) or `type = "redis"` (`url`).
//!
//! The `default` key-value store needs no configuration, as on Spin: SQLite at
//! `<state_dir>/sqlite_key_value.db`. Any other label exists only if the file defines it. A key
//! this host does not know stops start-up with its name, as Spin does for unused keys.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The label every Spin app may use without configuration.
pub const DEFAULT_KEY_VALUE_STORE: &str = "default";

/// The file Spin keeps the `default` store in, under the state folder.
const DEFAULT_KEY_VALUE_FILE: &str = "sqlite_key_value.db";

/// Where one key-value label keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueBackend {
    /// SQLite in this file, or in memory.
    Sqlite(Option<PathBuf>),
    /// A Redis server; keys are written as the guest names them, as Spin's Redis store does.
    Redis(String),
}

/// What the host needs from the runtime configuration.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// Every key-value label that can be opened, `default` included.
    pub key_value_stores: HashMap<String, KeyValueBackend>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<String>,
    #[serde(default)]
    key_value_store: HashMap<String, RawStore>,
}

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum RawStore {
    #[serde(rename = "spin")]
    Spin { path: Option<PathBuf> },
    #[serde(rename = "redis")]
    Redis { url: String },
}

impl RuntimeConfig {
    /// Reads `file` (or nothing) for the app whose manifest is in `app_dir`; `state_dir` from the
    /// command line wins over the file's.
    pub fn load(file: Option<&Path>, app_dir: &Path, state_dir: Option<&Path>) -> Result<Self> {
        let (raw, config_dir) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the runtime config file {}", path.display())
                })?;
                let raw: RawConfig = toml::from_str(&text).with_context(|| {
                    format!(
                        "runtime config file {} (this host reads `state_dir` and \
                         `[key_value_store.<label>]` of type \"spin\" or \"redis\")",
                        path.display()
                    )
                })?;
                let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                (raw, dir)
            }
            None => (RawConfig::default(), app_dir.to_path_buf()),
        };
        let state_dir: Option<PathBuf> = match (state_dir, raw.state_dir.as_deref()) {
            (Some(dir), _) => Some(dir.to_path_buf()),
            (None, Some("")) => None,
            (None, Some(dir)) => Some(PathBuf::from(dir)),
            (None, None) => Some(app_dir.join(".spin")),
        };
        let mut stores = HashMap::new();
        stores.insert(
            DEFAULT_KEY_VALUE_STORE.to_string(),
            KeyValueBackend::Sqlite(state_dir.map(|d| d.join(DEFAULT_KEY_VALUE_FILE))),
        );
        for (label, store) in raw.key_value_store {
            let backend = match store {
                RawStore::Spin { path } => {
                    KeyValueBackend::Sqlite(path.map(|p| config_dir.join(p)))
                }
                RawStore::Redis { url } => {
                    if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                        bail!("key_value_store.{label}: `url` must be a redis:// URL");
                    }
                    KeyValueBackend::Redis(url)
                }
            };
            stores.insert(label, backend);
        }
        Ok(Self {
            key_value_stores: stores,
        })
    }

    /// Refuses a component whose `key_value_stores` names a label nobody defined (as Spin does).
    pub fn check_component(&self, component: &str, labels: &[String]) -> Result<()> {
        for label in labels {
            if !self.key_value_stores.contains_key(label) {
                bail!(
                    "component `{component}` uses key-value store `{label}`, which is not defined: \
                     only `default` exists without configuration; define it as \
                     `[key_value_store.{label}]` in the runtime config file"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<RuntimeConfig> {
        let dir = std::env::temp_dir().join(format!("rc-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("runtime-config.toml");
        std::fs::write(&file, text).unwrap();
        RuntimeConfig::load(Some(&file), Path::new("/app"), None)
    }

    #[test]
    fn the_default_store_is_sqlite_in_the_state_folder_without_configuration() {
        let rc = RuntimeConfig::load(None, Path::new("/app"), None).unwrap();
        assert_eq!(
            rc.key_value_stores["default"],
            KeyValueBackend::Sqlite(Some(PathBuf::from("/app/.spin/sqlite_key_value.db")))
        );
        assert!(rc.check_component("c", &["default".into()]).is_ok());
        let err = rc
            .check_component("c", &["cache".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`cache`"), "{err}");
    }

    #[test]
    fn an_empty_state_dir_keeps_the_default_store_in_memory() {
        let rc = load("state_dir = \"\"\n").unwrap();
        assert_eq!(
            rc.key_value_stores["default"],
            KeyValueBackend::Sqlite(None)
        );
    }

    #[test]
    fn labels_come_from_the_file_with_paths_relative_to_it() {
        let rc = load(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
             [key_value_store.local]\ntype = \"spin\"\npath = \"kv/local.db\"\n",
        )
        .unwrap();
        assert_eq!(
            rc.key_value_stores["default"],
            KeyValueBackend::Redis("redis://127.0.0.1:6379".into())
        );
        match &rc.key_value_stores["local"] {
            KeyValueBackend::Sqlite(Some(p)) => assert!(p.ends_with("kv/local.db")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_keys_and_store_types_stop_start_up() {
        assert!(load("[key_value_store.x]\ntype = \"azure_cosmos\"\n").is_err());
        assert!(load("[sqlite_database.default]\npath = \"x\"\n").is_err());
    }
}
