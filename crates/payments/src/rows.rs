//! The service's rows (intents, payables) with their loaders and JSON views.

use nexgate_platform::db::{for_update, load_one, ts, FromRow, Rows};
use nexgate_platform::money::{Currency, Money};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::providers::Provider;
use crate::states::{IntentState, PayableState};

/// A row of `payments.intents`.
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: Uuid,
    pub payable_id: Uuid,
    pub payer_id: Uuid,
    pub method_id: Uuid,
    pub provider: Provider,
    pub amount: i64,
    pub currency: Currency,
    pub state: IntentState,
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
    /// A member of a multi-payable payment: the intent the provider saw (docs/payments.md).
    pub lead_intent_id: Option<Uuid>,
    /// A lead's total, when it collects for members too.
    pub collect_amount: Option<i64>,
}

pub fn intent_columns() -> String {
    format!(
        "id, payable_id, payer_id, method_id, provider, amount, currency, state, provider_request_id, \
         provider_transaction_id, checkout_url, failure_code, failure_reason, receipt_number, \
         refunded_amount, status_checks, needs_review, lead_intent_id, collect_amount, {}, {}, {}",
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
            provider: Provider::from_db(&r.value::<String>(i, "provider")?)?,
            amount: r.value(i, "amount")?,
            currency: Currency::parse(&r.value::<String>(i, "currency")?)?,
            state: IntentState::parse(&r.value::<String>(i, "state")?)?,
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
            lead_intent_id: r.value(i, "lead_intent_id")?,
            collect_amount: r.value(i, "collect_amount")?,
        })
    }

    /// Loads one intent (`FOR UPDATE` when `lock`).
    pub fn load(conn: &Connection, id: Uuid, lock: bool) -> Result<Option<Self>, Problem> {
        load_one(
            conn,
            &format!(
                "SELECT {} FROM payments.intents WHERE id = $1{}",
                intent_columns(),
                for_update(lock)
            ),
            &[P::Uuid(id.to_string())],
        )
    }

    pub fn is_final(&self) -> bool {
        self.state.is_final()
    }

    /// The amount asked for (this intent's payable).
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }

    /// What the provider collects for this intent: its amount, or a lead's total.
    pub fn collected(&self) -> Money {
        Money::new(self.collect_amount.unwrap_or(self.amount), self.currency)
    }

    /// The members of a lead intent (locked when `lock`), oldest first.
    pub fn members(conn: &Connection, lead: Uuid, lock: bool) -> Result<Vec<Self>, Problem> {
        nexgate_platform::db::load_all(
            conn,
            &format!(
                "SELECT {} FROM payments.intents WHERE lead_intent_id = $1 ORDER BY id{}",
                intent_columns(),
                for_update(lock)
            ),
            &[P::Uuid(lead.to_string())],
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
            "lead_intent_id": self.lead_intent_id,
            "collect_amount": self.collect_amount,
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
    pub currency: Currency,
    pub description: String,
    pub release_rule: String,
    pub dispute_window_secs: i32,
    pub fee_bps: i32,
    pub state: PayableState,
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
    /// The amount owed.
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }

    pub fn from_rows(r: &Rows, i: usize) -> Result<Self, Problem> {
        Ok(Self {
            id: r.value(i, "id")?,
            owner_service: r.value(i, "owner_service")?,
            reference: r.value(i, "reference")?,
            purpose: r.value(i, "purpose")?,
            payer_id: r.value(i, "payer_id")?,
            payee_id: r.value(i, "payee_id")?,
            amount: r.value(i, "amount")?,
            currency: Currency::parse(&r.value::<String>(i, "currency")?)?,
            description: r.value(i, "description")?,
            release_rule: r.value(i, "release_rule")?,
            dispute_window_secs: r.value(i, "dispute_window_secs")?,
            fee_bps: r.value(i, "fee_bps")?,
            state: PayableState::parse(&r.value::<String>(i, "state")?)?,
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
        load_one(
            conn,
            &format!(
                "SELECT {} FROM payments.payables WHERE id = $1{}",
                payable_columns(),
                for_update(lock)
            ),
            &[P::Uuid(id.to_string())],
        )
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

impl FromRow for Intent {
    fn from_row(rows: &Rows, i: usize) -> Result<Self, Problem> {
        Self::from_rows(rows, i)
    }
}

impl FromRow for Payable {
    fn from_row(rows: &Rows, i: usize) -> Result<Self, Problem> {
        Self::from_rows(rows, i)
    }
}
