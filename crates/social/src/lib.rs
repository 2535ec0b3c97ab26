//! The social service (issue 24, being built): so far [`facets`], the server's reading of a post's
//! text into mentions, shop mentions and hashtags with UTF-8 byte ranges (Bluesky's facets), and
//! [`ranking`], the pure scores the ranked and trending feeds will sort by.

pub mod facets;
pub mod ranking;

/// The service's schema.
pub const SCHEMA: &str = "social";
