//! The Notification Service's routes for the apps (feature `api`, built into the
//! `notifications-api` component; the native notifier leaves it out): the centre ([`centre`]),
//! the preferences ([`preferences`]), push devices ([`devices`]) and delivery status
//! ([`deliveries`]). Handlers and their SQL live
//! here; the component is a route table.

pub mod centre;
pub mod deliveries;
pub mod devices;
pub mod preferences;
