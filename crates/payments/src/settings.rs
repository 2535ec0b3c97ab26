//! The payment service's settings: provider credentials and service rules, from the variables.

use nexgate_platform::config::var;
use nexgate_platform::Problem;
use uuid::Uuid;

use crate::phone::Provider;
use crate::providers::{daraja, selcom, tembo};

/// The service's schema (its outbox, its idempotency records).
pub const SCHEMA: &str = "payments";

/// Default platform fee: 2.5% (`payments_platform_fee_bps`).
pub const PLATFORM_FEE_BPS_DEFAULT: i64 = 250;
/// Default dispute window: 3 days (`payments_dispute_window_secs`).
pub const DISPUTE_WINDOW_SECS_DEFAULT: i64 = 3 * 24 * 3600;
/// How long a payable may wait for payment, unless its owner says (`expires_in_secs`).
pub const PAYABLE_TTL_SECS: i64 = 24 * 3600;
/// The shortest wait an owner may set (a stock reservation is typically 15 minutes).
pub const PAYABLE_TTL_SECS_MIN: i64 = 5 * 60;
/// The longest wait an owner may set (an installment due date, a group-buy deadline).
pub const PAYABLE_TTL_SECS_MAX: i64 = 90 * 24 * 3600;

/// Reads an optional variable (absent in components that do not declare it → empty).
fn opt(name: &str) -> String {
    var(name).unwrap_or_default().trim().to_string()
}

/// Provider credentials and service settings. A provider whose key variable is empty is off.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The component handling the request (its spin.toml id, which is its MQTT client id), passed
    /// in by the component.
    pub component: &'static str,
    pub public_base_url: String,
    pub fee_bps: i64,
    pub dispute_window_secs: i64,
    pub daraja: Option<daraja::Config>,
    pub selcom: Option<selcom::Config>,
    pub tembo: Option<tembo::Config>,
    pub redis_url: String,
    pub redis_key_prefix: String,
    /// Selcom's vendor PIN for cash-ins (payouts and refunds).
    pub selcom_pin: String,
}

impl Settings {
    pub fn from_variables(component: &'static str) -> Result<Self, Problem> {
        let number = |name: &str, default: i64| -> Result<i64, Problem> {
            let v = opt(name);
            if v.is_empty() {
                return Ok(default);
            }
            v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Problem::internal(format!("variable `{name}` must be a non-negative integer"))
            })
        };
        let fee_bps = number("payments_platform_fee_bps", PLATFORM_FEE_BPS_DEFAULT)?;
        if fee_bps > 10_000 {
            return Err(Problem::internal(
                "payments_platform_fee_bps must be at most 10000",
            ));
        }
        let origin = |name: &str| opt(name).trim_end_matches('/').to_string();
        let daraja = (!opt("daraja_consumer_key").is_empty()).then(|| daraja::Config {
            origin: origin("daraja_origin"),
            consumer_key: opt("daraja_consumer_key"),
            consumer_secret: opt("daraja_consumer_secret"),
            shortcode: opt("daraja_shortcode"),
            passkey: opt("daraja_passkey"),
            initiator_name: opt("daraja_initiator_name"),
            security_credential: opt("daraja_security_credential"),
            b2c_shortcode: opt("daraja_b2c_shortcode"),
        });
        let selcom = (!opt("selcom_api_key").is_empty()).then(|| selcom::Config {
            origin: origin("selcom_origin"),
            api_key: opt("selcom_api_key"),
            api_secret: opt("selcom_api_secret"),
            vendor: opt("selcom_vendor"),
        });
        let tembo = (!opt("tembo_account_id").is_empty()).then(|| tembo::Config {
            origin: origin("tembo_origin"),
            account_id: opt("tembo_account_id"),
            secret_key: opt("tembo_secret_key"),
        });
        Ok(Self {
            component,
            public_base_url: opt("public_base_url").trim_end_matches('/').to_string(),
            fee_bps,
            dispute_window_secs: number(
                "payments_dispute_window_secs",
                DISPUTE_WINDOW_SECS_DEFAULT,
            )?,
            daraja,
            selcom,
            tembo,
            redis_url: opt("redis_url"),
            redis_key_prefix: opt("redis_key_prefix"),
            selcom_pin: opt("selcom_pin"),
        })
    }

    /// Whether `provider` has credentials here.
    pub fn enabled(&self, provider: Provider) -> bool {
        provider.is_configured(self)
    }

    /// Where `provider` calls back for `intent` (the secret authenticates M-Pesa and Tembo).
    pub fn callback_url(&self, provider: Provider, intent: Uuid, secret: &str) -> String {
        format!(
            "{}/payments/callbacks/{}/{intent}/{secret}",
            self.public_base_url,
            provider.as_str()
        )
    }
}

/// 503 `provider_not_configured`.
pub fn not_configured(provider: Provider) -> Problem {
    Problem::new(
        503,
        "provider_not_configured",
        "This payment provider is not available",
    )
    .with_detail(format!(
        "{} has no credentials on this deployment",
        provider.as_str()
    ))
}
