//! The social service (issue 24, being built): so far [`facets`], the server's reading of a post's
//! text into mentions, shop mentions and hashtags with UTF-8 byte ranges (Bluesky's facets).

pub mod facets;

/// The service's schema.
pub const SCHEMA: &str = "social";
