//! The File Manager's settings: storage, buckets and the CDN base, from the variables.

use nexgate_platform::config::var;
use nexgate_platform::storage::Storage;
use nexgate_platform::Problem;

/// The schema whose outbox the File Manager writes.
pub const SCHEMA: &str = "files";

/// Storage, buckets and the CDN base, from the variables.
pub struct Settings {
    /// The component handling the request (its spin.toml id, its MQTT client id), passed in by
    /// the component.
    pub component: &'static str,
    pub storage: Storage,
    pub public_bucket: String,
    pub private_bucket: String,
    pub cdn_base_url: String,
}

impl Settings {
    pub fn from_variables(component: &'static str) -> Result<Self, Problem> {
        let v = |n: &str| var(n).map_err(Problem::internal);
        Ok(Self {
            component,
            storage: Storage::from_variables().map_err(Problem::internal)?,
            public_bucket: v("storage_public_bucket")?,
            private_bucket: v("storage_private_bucket")?,
            cdn_base_url: v("cdn_base_url")?.trim_end_matches('/').to_string(),
        })
    }

    /// The bucket name for a row's `bucket` column (`public` or `private`).
    pub fn bucket(&self, which: &str) -> &str {
        if which == "public" {
            &self.public_bucket
        } else {
            &self.private_bucket
        }
    }
}
