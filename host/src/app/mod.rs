//! What the application is: the manifest and the files beside it, resolved at start-up. Nothing
//! here runs a guest.
//!
//! - [`manifest`]: `spin.toml` (manifest version 2), checked as Spin checks it.
//! - [`template`]: `{{ variable }}` templates in `allowed_outbound_hosts` and variable defaults.
//! - [`variables`]: application variables and each component's view of them.
//! - [`runtime_config`]: the runtime-config file (key-value store backends).
//! - [`routing`]: routes to components, with Spin's own matcher and headers.

pub mod manifest;
pub mod routing;
pub mod runtime_config;
pub mod template;
pub mod variables;
