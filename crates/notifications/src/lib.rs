//! The Notification Service (docs/notifications.md): its rules, shared by the native notifier and
//! the `/notifications` component (templates with categories and default channels, preferences with
//! their validation, and the decision of what each channel does with a notification: send now,
//! hold for quiet hours, collect for a digest, or skip by preference), and, with the feature
//! `api`, the component's handlers and their SQL ([`api`]).

#[cfg(feature = "api")]
pub mod api;
pub mod preferences;
pub mod templates;

use serde::{Deserialize, Serialize};

/// How much a notification matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Security and payments: bypass quiet hours and digests; cannot be switched off per type.
    Critical,
    Important,
    Normal,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Critical => "critical",
            Category::Important => "important",
            Category::Normal => "normal",
        }
    }
}

/// Where a notification is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    InApp,
    Push,
    Email,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::InApp, Channel::Push, Channel::Email, Channel::Sms];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::InApp => "in_app",
            Channel::Push => "push",
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }
}
