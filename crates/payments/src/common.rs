//! What the payment handlers share: settings (from the variables), the ledger calls, rows and
//! their JSON views, derived ids.

use nexgate_events::outbox::Outbox;
use nexgate_platform::config::var;
use nexgate_platform::db::{query, Rows};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::phone::Provider;
use crate::providers::{daraja, selcom, tembo};

pub const SCHEMA: &str = "payments";

pub use nexgate_platform::body::json_response as json;
pub use nexgate_platform::db::open_from_variables as db;

/// Default platform fee: 2.5% (`payments_platform_fee_bps`).
pub const PLATFORM_FEE_BPS_DEFAULT: i64 = 250;
/// Default dispute window: 3 days (`payments_dispute_window_secs`).
pub const DISPUTE_WINDOW_SECS_DEFAULT: i64 = 3 * 24 * 3600;
/// How long a payable may wait for payment.
pub const PAYABLE_TTL_SECS: i64 = 24 * 3600;

pub fn outbox(component: &str) -> Result<Outbox, Problem> {
    Outbox::new(SCHEMA, component)
}

/// Runs `work` in one transaction with an outbox of `component`; what it records is published
/// after the commit.
pub fn with_events<T>(
    conn: &Connection,
    component: &str,
    work: impl FnOnce(&Connection, &mut Outbox) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let mut events = outbox(component)?;
    let done = nexgate_platform::db::transaction(conn, |conn| work(conn, &mut events))?;
    events.publish(conn);
    Ok(done)
}

/// Reads an optional variable (absent in components that do not declare it → empty).
fn opt(name: &str) -> String {
    var(name).unwrap_or_default().trim().to_string()
}

/// Provider credentials and service settings. A provider whose key variable is empty is off.
#[derive(Debug, Clone)]
pub struct Settings {
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
    pub fn from_variables() -> Result<Self, Problem> {
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
        match provider {
            Provider::Daraja => self.daraja.is_some(),
            Provider::Selcom => self.selcom.is_some(),
            Provider::Tembo => self.tembo.is_some(),
        }
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

/// An id derived from another and a label (the same inputs give the same id), so that the ledger
/// transfers of one business step are idempotent across retries.
pub fn derived_id(base: Uuid, label: &str) -> Uuid {
    let mut h = Sha256::new();
    h.update(base.as_bytes());
    h.update(label.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    Uuid::from_bytes(b)
}

/// A fresh URL-safe secret (32 random bytes, hex) and its SHA-256.
pub fn new_secret() -> Result<(String, Vec<u8>), Problem> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Problem::internal(format!("randomness: {e}")))?;
    let secret = hex::encode(bytes);
    Ok((secret.clone(), Sha256::digest(secret.as_bytes()).to_vec()))
}

pub fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// The ledger accounts the service uses, by name.
pub enum Account<'a> {
    /// Money the provider holds for us (collections in, refunds and payouts out).
    Clearing(&'a str, &'a str),
    /// The escrow of one payable.
    Escrow(Uuid, &'a str),
    /// A seller's or organizer's available balance.
    Available(Uuid, &'a str),
    /// The platform's fees.
    Fees(&'a str),
}

/// The id of a named ledger account (made on first use).
pub fn account(conn: &Connection, which: Account<'_>) -> Result<Uuid, Problem> {
    let (name, code, owner, currency, limit): (String, &str, Option<Uuid>, &str, Option<&str>) =
        match which {
            Account::Clearing(provider, cur) => (
                format!("clearing:{provider}:{cur}"),
                "provider_clearing",
                None,
                cur,
                None,
            ),
            Account::Escrow(payable, cur) => (
                format!("escrow:{payable}"),
                "escrow",
                Some(payable),
                cur,
                Some("debits"),
            ),
            Account::Available(user, cur) => (
                format!("available:{user}:{cur}"),
                "available",
                Some(user),
                cur,
                Some("debits"),
            ),
            Account::Fees(cur) => (
                format!("fees:{cur}"),
                "platform_fees",
                None,
                cur,
                Some("debits"),
            ),
        };
    let rows = query(
        conn,
        "SELECT payments.named_account($1, $2, $3, $4, $5) AS id",
        &[
            P::Str(name),
            P::Str(code.into()),
            owner.map(|o| P::Uuid(o.to_string())).unwrap_or(P::DbNull),
            P::Str(currency.into()),
            limit.map(|l| P::Str(l.into())).unwrap_or(P::DbNull),
        ],
    )?;
    rows.value(0, "id")
}

/// One ledger transfer; `created` and `exists` (a retry) are fine, anything else is an error
/// naming the result.
#[allow(clippy::too_many_arguments)]
pub fn transfer(
    conn: &Connection,
    id: Uuid,
    debit: Uuid,
    credit: Uuid,
    amount: Option<i64>,
    currency: &str,
    kind: &str,
    pending: Option<Uuid>,
    reference: &str,
) -> Result<String, Problem> {
    let rows = query(
        conn,
        "SELECT payments.create_transfer($1, $2, $3, $4, $5, $6, $7, $8) AS result",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(debit.to_string()),
            P::Uuid(credit.to_string()),
            amount.map(P::Int64).unwrap_or(P::DbNull),
            P::Str(currency.into()),
            P::Str(kind.into()),
            pending.map(|p| P::Uuid(p.to_string())).unwrap_or(P::DbNull),
            P::Str(reference.chars().take(200).collect()),
        ],
    )?;
    let result: String = rows.value(0, "result")?;
    Ok(result)
}

/// [`transfer`] that must succeed (`created` or `exists`).
#[allow(clippy::too_many_arguments)]
pub fn must_transfer(
    conn: &Connection,
    id: Uuid,
    debit: Uuid,
    credit: Uuid,
    amount: Option<i64>,
    currency: &str,
    kind: &str,
    pending: Option<Uuid>,
    reference: &str,
) -> Result<(), Problem> {
    match transfer(
        conn, id, debit, credit, amount, currency, kind, pending, reference,
    )?
    .as_str()
    {
        "created" | "exists" => Ok(()),
        other => Err(Problem::internal(format!(
            "ledger transfer {id} refused: {other}"
        ))),
    }
}

pub const TS: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";

/// `to_char(<col> AT TIME ZONE 'UTC', ...) AS <col>`.
pub fn ts(col: &str) -> String {
    format!("to_char({col} AT TIME ZONE 'UTC', {TS}) AS {col}")
}

/// A row of `payments.intents`.
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: Uuid,
    pub payable_id: Uuid,
    pub payer_id: Uuid,
    pub method_id: Uuid,
    pub provider: String,
    pub amount: i64,
    pub currency: String,
    pub state: String,
    pub provider_request_id: Option<String>,
    pub provider_transaction_id: Option<String>,
    pub checkout_url: Option<String>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub receipt_number: Option<String>,
    pub refunded_amount: i64,
    pub status_checks: i32,
    pub needs_review: bool,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

pub fn intent_columns() -> String {
    format!(
        "id, payable_id, payer_id, method_id, provider, amount, currency, state, provider_request_id, \
         provider_transaction_id, checkout_url, failure_code, failure_reason, receipt_number, \
         refunded_amount, status_checks, needs_review, {}, {}, {}",
        ts("created_at"),
        ts("updated_at"),
        ts("completed_at")
    )
}

impl Intent {
    pub fn from_rows(r: &Rows, i: usize) -> Result<Self, Problem> {
        Ok(Self {
            id: r.value(i, "id")?,
            payable_id: r.value(i, "payable_id")?,
            payer_id: r.value(i, "payer_id")?,
            method_id: r.value(i, "method_id")?,
            provider: r.value(i, "provider")?,
            amount: r.value(i, "amount")?,
            currency: r.value(i, "currency")?,
            state: r.value(i, "state")?,
            provider_request_id: r.value(i, "provider_request_id")?,
            provider_transaction_id: r.value(i, "provider_transaction_id")?,
            checkout_url: r.value(i, "checkout_url")?,
            failure_code: r.value(i, "failure_code")?,
            failure_reason: r.value(i, "failure_reason")?,
            receipt_number: r.value(i, "receipt_number")?,
            refunded_amount: r.value(i, "refunded_amount")?,
            status_checks: r.value(i, "status_checks")?,
            needs_review: r.value(i, "needs_review")?,
            created_at: r.value(i, "created_at")?,
            updated_at: r.value(i, "updated_at")?,
            completed_at: r.value(i, "completed_at")?,
        })
    }

    /// Loads one intent (`FOR UPDATE` when `lock`).
    pub fn load(conn: &Connection, id: Uuid, lock: bool) -> Result<Option<Self>, Problem> {
        let rows = query(
            conn,
            &format!(
                "SELECT {} FROM payments.intents WHERE id = $1{}",
                intent_columns(),
                if lock { " FOR UPDATE" } else { "" }
            ),
            &[P::Uuid(id.to_string())],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::from_rows(&rows, 0)?))
    }

    pub fn is_final(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "created" | "awaiting_customer" | "processing"
        )
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "payable_id": self.payable_id,
            "method_id": self.method_id,
            "provider": self.provider,
            "amount": self.amount,
            "currency": self.currency,
            "state": self.state,
            "checkout_url": self.checkout_url,
            "provider_reference": self.provider_transaction_id,
            "receipt_number": self.receipt_number,
            "failure": self.failure_code.as_ref().map(|code| json!({"code": code, "reason": self.failure_reason})),
            "refunded_amount": self.refunded_amount,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "completed_at": self.completed_at,
        })
    }
}

/// A row of `payments.payables`.
#[derive(Debug, Clone)]
pub struct Payable {
    pub id: Uuid,
    pub owner_service: String,
    pub reference: String,
    pub purpose: String,
    pub payer_id: Uuid,
    pub payee_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub release_rule: String,
    pub dispute_window_secs: i32,
    pub fee_bps: i32,
    pub state: String,
    pub refunded_amount: i64,
    pub frozen_reason: Option<String>,
    pub expired: bool,
    pub created_at: String,
    pub paid_at: Option<String>,
    pub release_after: Option<String>,
    pub released_at: Option<String>,
    pub expires_at: String,
}

pub fn payable_columns() -> String {
    format!(
        "id, owner_service, reference, purpose, payer_id, payee_id, amount, currency, description, \
         release_rule, dispute_window_secs, fee_bps, state, refunded_amount, frozen_reason, expires_at <= now() AS expired, \
         {}, {}, {}, {}, {}",
        ts("created_at"),
        ts("paid_at"),
        ts("release_after"),
        ts("released_at"),
        ts("expires_at")
    )
}

impl Payable {
    pub fn from_rows(r: &Rows, i: usize) -> Result<Self, Problem> {
        Ok(Self {
            id: r.value(i, "id")?,
            owner_service: r.value(i, "owner_service")?,
            reference: r.value(i, "reference")?,
            purpose: r.value(i, "purpose")?,
            payer_id: r.value(i, "payer_id")?,
            payee_id: r.value(i, "payee_id")?,
            amount: r.value(i, "amount")?,
            currency: r.value(i, "currency")?,
            description: r.value(i, "description")?,
            release_rule: r.value(i, "release_rule")?,
            dispute_window_secs: r.value(i, "dispute_window_secs")?,
            fee_bps: r.value(i, "fee_bps")?,
            state: r.value(i, "state")?,
            refunded_amount: r.value(i, "refunded_amount")?,
            frozen_reason: r.value(i, "frozen_reason")?,
            expired: r.value(i, "expired")?,
            created_at: r.value(i, "created_at")?,
            paid_at: r.value(i, "paid_at")?,
            release_after: r.value(i, "release_after")?,
            released_at: r.value(i, "released_at")?,
            expires_at: r.value(i, "expires_at")?,
        })
    }

    pub fn load(conn: &Connection, id: Uuid, lock: bool) -> Result<Option<Self>, Problem> {
        let rows = query(
            conn,
            &format!(
                "SELECT {} FROM payments.payables WHERE id = $1{}",
                payable_columns(),
                if lock { " FOR UPDATE" } else { "" }
            ),
            &[P::Uuid(id.to_string())],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::from_rows(&rows, 0)?))
    }

    /// What is still in escrow for the payee: the amount less refunds (done or in flight).
    pub fn remaining(&self) -> i64 {
        self.amount - self.refunded_amount
    }

    /// The platform fee on what the payee gets, rounded down.
    pub fn fee(&self) -> i64 {
        self.remaining() * self.fee_bps as i64 / 10_000
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "owner_service": self.owner_service,
            "reference": self.reference,
            "purpose": self.purpose,
            "payer_id": self.payer_id,
            "payee_id": self.payee_id,
            "amount": self.amount,
            "currency": self.currency,
            "description": self.description,
            "release_rule": self.release_rule,
            "dispute_window_secs": self.dispute_window_secs,
            "fee": self.fee(),
            "refunded_amount": self.refunded_amount,
            "state": self.state,
            "frozen_reason": self.frozen_reason,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "paid_at": self.paid_at,
            "release_after": self.release_after,
            "released_at": self.released_at,
        })
    }
}

/// Whole major units of `amount` (the mobile-money APIs take integers), or a 422 when the amount
/// has cents.
pub fn whole_major_units(amount: i64, currency: &str) -> Result<i64, Problem> {
    let exponent = nexgate_platform::money::Currency::parse(currency)?.exponent();
    let unit = 10_i64.pow(exponent);
    if amount % unit != 0 {
        return Err(Problem::new(
            422,
            "amount_not_payable",
            "Mobile money takes whole units of the currency",
        )
        .with_detail(format!(
            "{amount} minor units of {currency} is not a whole amount"
        )));
    }
    Ok(amount / unit)
}

/// The unit multiplier of a currency (major → minor).
pub fn minor_per_major(currency: &str) -> i64 {
    nexgate_platform::money::Currency::parse(currency)
        .map(|c| 10_i64.pow(c.exponent()))
        .unwrap_or(100)
}

/// The request's JSON body (content type checked, at most 64 KiB).
pub fn body<T: serde::de::DeserializeOwned>(req: &spin_sdk::http::Request) -> Result<T, Problem> {
    nexgate_platform::body::parse_json(
        req.body(),
        req.header("content-type").and_then(|h| h.as_str()),
        nexgate_platform::body::JSON_BODY_BYTES_MAX,
    )
}

/// The query string of a request path.
pub fn query_string(req: &spin_sdk::http::Request) -> String {
    req.uri()
        .split_once('?')
        .map(|(_, q)| q.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let base = Uuid::now_v7();
        assert_eq!(derived_id(base, "release"), derived_id(base, "release"));
        assert_ne!(derived_id(base, "release"), derived_id(base, "fee"));
    }
}
