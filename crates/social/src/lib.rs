//! The social service (docs/social.md). Served: [`posts`] (every kind, edited, deleted, pinned,
//! scheduled: [`scheduled`]), [`mentions`] (facets resolved to users and shops at write time),
//! [`coauthors`], [`interactions`] (likes, reposts, bookmarks), [`comments`], [`polls`],
//! [`feeds`] (following, trending, discover, profiles, hashtags), [`timeline`] (the cached home
//! feeds in Redis), [`reports`], [`inbox`] (the dispatcher's events) and [`jobs`]. Every read
//! goes through [`access`] and [`hydrate`]. Pure and unit-tested: [`facets`] and [`ranking`].

pub mod access;
pub mod coauthors;
pub mod comments;
pub mod embeds;
pub mod facets;
pub mod feeds;
pub mod hydrate;
pub mod inbox;
pub mod interactions;
pub mod jobs;
pub mod limits;
pub mod mentions;
pub mod polls;
pub mod posts;
pub mod ranking;
pub mod reports;
pub mod scheduled;
pub mod timeline;

/// The service's schema (its outbox and idempotency keys live there).
pub const SCHEMA: &str = "social";
