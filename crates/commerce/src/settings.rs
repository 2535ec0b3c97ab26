//! The service's settings, from its variables.

use nexgate_platform::config::var;
use nexgate_platform::Problem;

/// The service's schema (its outbox, its idempotency records).
pub const SCHEMA: &str = "commerce";

/// How long checkout holds stock for an unpaid order (`commerce_reservation_ttl_secs`): 15 min.
pub const RESERVATION_TTL_SECS_DEFAULT: i64 = 15 * 60;
/// Payments refuses a payable shorter than this, so a reservation may not be shorter either.
pub const RESERVATION_TTL_SECS_MIN: i64 = 5 * 60;
/// How long after delivery an order completes by itself (`commerce_auto_complete_secs`): 7 days.
pub const AUTO_COMPLETE_SECS_DEFAULT: i64 = 7 * 24 * 3600;
/// Checkouts a user may start per minute (`commerce_checkouts_per_minute`).
pub const CHECKOUTS_PER_MINUTE_DEFAULT: i64 = 10;

#[derive(Debug, Clone)]
pub struct Settings {
    pub component: &'static str,
    pub reservation_ttl_secs: i64,
    pub auto_complete_secs: i64,
    pub checkouts_per_minute: i64,
}

impl Settings {
    pub fn from_variables(component: &'static str) -> Result<Self, Problem> {
        let number = |name: &str, default: i64, min: i64| -> Result<i64, Problem> {
            let raw = var(name).unwrap_or_default();
            let raw = raw.trim();
            if raw.is_empty() {
                return Ok(default);
            }
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(|| {
                    Problem::internal(format!("variable `{name}` must be an integer ≥ {min}"))
                })
        };
        Ok(Self {
            component,
            reservation_ttl_secs: number(
                "reservation_ttl_secs",
                RESERVATION_TTL_SECS_DEFAULT,
                RESERVATION_TTL_SECS_MIN,
            )?,
            auto_complete_secs: number("auto_complete_secs", AUTO_COMPLETE_SECS_DEFAULT, 60)?,
            checkouts_per_minute: number("checkouts_per_minute", CHECKOUTS_PER_MINUTE_DEFAULT, 1)?,
        })
    }
}
