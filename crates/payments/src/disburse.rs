//! Refunds and payouts: money out of a ledger account to a mobile number (docs/payments.md,
//! "Refunds and payouts"). The amount is reserved with a pending ledger transfer whose id is the
//! disbursement's id, in the transaction that creates the row; after commit the provider is asked
//! once; its answer (synchronous, callback or status query) posts or voids the reservation, once.
//! An unclear answer is never re-sent: the sweeper asks the provider.

use nexgate_events::catalogue::payments::{PayoutFailed, PayoutSent, RefundProcessed};
use nexgate_events::outbox::{with_events, Outbox};
use nexgate_platform::db::{constraint, for_update, load_one, query, FromRow, Rows};
use nexgate_platform::ids::new_id;
use nexgate_platform::money::{Currency, Money};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::ledger::{
    account, derived_id, must_transfer, reports_amount, transfer, whole_major_units, Account,
};
use crate::phone::Provider;
use crate::providers::{PayoutAsked, Status};
use crate::secrets::new_secret;
use crate::settings::Settings;
use crate::settings::SCHEMA;
use crate::settle::Applied;
use crate::states::DisbursementState;
use nexgate_platform::db::ts;

/// A row of `payments.disbursements`.
#[derive(Debug, Clone)]
pub struct Disbursement {
    pub id: Uuid,
    pub kind: String,
    pub intent_id: Option<Uuid>,
    pub payable_id: Option<Uuid>,
    pub user_id: Uuid,
    pub provider: Provider,
    pub msisdn: String,
    pub network: String,
    pub amount: i64,
    pub currency: Currency,
    pub state: DisbursementState,
    pub provider_request_id: Option<String>,
    pub provider_transaction_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub reason: String,
    pub status_checks: i32,
    pub created_at: String,
    pub completed_at: Option<String>,
}

pub fn columns() -> String {
    format!(
        "id, kind, intent_id, payable_id, user_id, provider, msisdn, network, amount, currency, state, \
         provider_request_id, provider_transaction_id, failure_code, failure_reason, reason, status_checks, {}, {}",
        ts("created_at"),
        ts("completed_at")
    )
}

impl Disbursement {
    pub fn from_rows(r: &Rows, i: usize) -> Result<Self, Problem> {
        Ok(Self {
            id: r.value(i, "id")?,
            kind: r.value(i, "kind")?,
            intent_id: r.value(i, "intent_id")?,
            payable_id: r.value(i, "payable_id")?,
            user_id: r.value(i, "user_id")?,
            provider: Provider::from_db(&r.value::<String>(i, "provider")?)?,
            // Empty once the user deleted their account (only a finished disbursement is erased).
            msisdn: r.value::<Option<String>>(i, "msisdn")?.unwrap_or_default(),
            network: r.value(i, "network")?,
            amount: r.value(i, "amount")?,
            currency: Currency::parse(&r.value::<String>(i, "currency")?)?,
            state: DisbursementState::parse(&r.value::<String>(i, "state")?)?,
            provider_request_id: r.value(i, "provider_request_id")?,
            provider_transaction_id: r.value(i, "provider_transaction_id")?,
            failure_code: r.value(i, "failure_code")?,
            failure_reason: r.value(i, "failure_reason")?,
            reason: r.value(i, "reason")?,
            status_checks: r.value(i, "status_checks")?,
            created_at: r.value(i, "created_at")?,
            completed_at: r.value(i, "completed_at")?,
        })
    }

    pub fn load(conn: &Connection, id: Uuid, lock: bool) -> Result<Option<Self>, Problem> {
        load_one(
            conn,
            &format!(
                "SELECT {} FROM payments.disbursements WHERE id = $1{}",
                columns(),
                for_update(lock)
            ),
            &[P::Uuid(id.to_string())],
        )
    }

    pub fn is_final(&self) -> bool {
        self.state.is_final()
    }

    /// The amount paid out.
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind,
            "intent_id": self.intent_id,
            "payable_id": self.payable_id,
            "provider": self.provider,
            "phone": (!self.msisdn.is_empty()).then(|| crate::phone::masked(&self.msisdn)),
            "amount": self.amount,
            "currency": self.currency,
            "state": self.state,
            "provider_reference": self.provider_transaction_id,
            "failure": self.failure_code.as_ref().map(|code| json!({"code": code, "reason": self.failure_reason})),
            "reason": self.reason,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
        })
    }

    /// (debit, credit) accounts of the reservation.
    fn accounts(&self, conn: &Connection) -> Result<(Uuid, Uuid), Problem> {
        let source = match (self.kind.as_str(), self.payable_id) {
            ("refund", Some(payable)) => {
                account(conn, Account::Escrow(payable, self.currency.code()))?
            }
            _ => account(conn, Account::Available(self.user_id, self.currency.code()))?,
        };
        Ok((
            source,
            account(
                conn,
                Account::Clearing(self.provider.as_str(), self.currency.code()),
            )?,
        ))
    }
}

/// What to reserve.
pub struct NewDisbursement<'a> {
    pub kind: &'a str,
    pub intent_id: Option<Uuid>,
    pub payable_id: Option<Uuid>,
    pub method_id: Option<Uuid>,
    pub user_id: Uuid,
    pub provider: Provider,
    pub msisdn: &'a str,
    pub network: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub reason: &'a str,
    pub requested_by: &'a str,
}

/// Inserts the row and reserves the amount (inside the caller's transaction). Returns the id and
/// the callback secret. 409 `insufficient_balance` when the source account cannot cover it.
pub fn reserve(conn: &Connection, d: &NewDisbursement<'_>) -> Result<(Uuid, String), Problem> {
    whole_major_units(Money::of(d.amount, d.currency)?)?;
    let id = new_id();
    let (secret, secret_hash) = new_secret()?;
    query(
        conn,
        "INSERT INTO payments.disbursements (id, kind, intent_id, payable_id, method_id, user_id, provider, msisdn, network,
             amount, currency, callback_secret_sha256, reason, requested_by, next_check_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now() + interval '60 seconds')",
        &[
            P::Uuid(id.to_string()),
            P::Str(d.kind.into()),
            d.intent_id.map(|i| P::Uuid(i.to_string())).unwrap_or(P::DbNull),
            d.payable_id.map(|i| P::Uuid(i.to_string())).unwrap_or(P::DbNull),
            d.method_id.map(|i| P::Uuid(i.to_string())).unwrap_or(P::DbNull),
            P::Uuid(d.user_id.to_string()),
            P::Str(d.provider.as_str().into()),
            P::Str(d.msisdn.into()),
            P::Str(d.network.into()),
            P::Int64(d.amount),
            P::Str(d.currency.into()),
            P::Binary(secret_hash),
            P::Str(d.reason.chars().take(200).collect()),
            P::Str(d.requested_by.into()),
        ],
    )?;
    let source = match (d.kind, d.payable_id) {
        ("refund", Some(payable)) => account(conn, Account::Escrow(payable, d.currency))?,
        _ => account(conn, Account::Available(d.user_id, d.currency))?,
    };
    let clearing = account(conn, Account::Clearing(d.provider.as_str(), d.currency))?;
    let result = transfer(
        conn,
        id,
        source,
        clearing,
        Some(d.amount),
        d.currency,
        "pending",
        None,
        &format!("{} {id} reserved by {}", d.kind, d.requested_by),
    )?;
    match result.as_str() {
        "created" => Ok((id, secret)),
        "exceeds_credits" => Err(Problem::conflict(
            "insufficient_balance",
            format!(
                "the balance does not cover {} minor units of {}",
                d.amount, d.currency
            ),
        )),
        other => Err(Problem::internal(format!("reserve {id}: {other}"))),
    }
}

fn result_url(settings: &Settings, d: &Disbursement, secret: &str) -> String {
    settings.callback_url(d.provider, d.id, secret)
}

/// Sends a reserved disbursement to its provider, once, and applies a clear answer.
pub async fn send_once(
    settings: &Settings,
    conn: &Connection,
    component: &str,
    id: Uuid,
    secret: &str,
) -> Result<(), Problem> {
    let d = Disbursement::load(conn, id, false)?
        .ok_or_else(|| Problem::internal("disbursement vanished"))?;
    let provider = d.provider;
    let narration = if d.kind == "refund" {
        "Nexgate refund"
    } else {
        "Nexgate payout"
    };
    let asked = provider
        .pay_out(settings, &d, narration, &result_url(settings, &d, secret))
        .await?;
    let id_param = P::Uuid(d.id.to_string());
    match asked {
        PayoutAsked::Answered(status) => {
            apply(conn, component, d.id, &status, "provider answer")?;
        }
        PayoutAsked::Taken(request_id) => {
            query(
                conn,
                "UPDATE payments.disbursements SET state = 'sent', provider_request_id = $2, updated_at = now()
                 WHERE id = $1 AND state = 'created'",
                &[id_param, request_id.map(P::Str).unwrap_or(P::DbNull)],
            )?;
        }
        PayoutAsked::Refused { code, reason } => {
            let refused = Status::Failed { code, reason };
            apply(conn, component, d.id, &refused, "provider refusal")?;
        }
        PayoutAsked::Unclear => {
            // Unclear: never re-sent; the sweeper asks.
            query(
                conn,
                "UPDATE payments.disbursements SET state = 'unknown', updated_at = now() WHERE id = $1 AND state = 'created'",
                &[id_param],
            )?;
        }
    }
    Ok(())
}

/// Applies a provider's answer to a disbursement, once.
pub fn apply(
    conn: &Connection,
    component: &str,
    id: Uuid,
    status: &Status,
    source: &str,
) -> Result<Applied, Problem> {
    with_events(conn, SCHEMA, component, |conn, events| {
        let Some(d) = Disbursement::load(conn, id, true)? else {
            return Ok(Applied::Rejected("no such disbursement".into()));
        };
        apply_locked(conn, events, &d, status, source)
    })
}

fn apply_locked(
    conn: &Connection,
    events: &mut Outbox,
    d: &Disbursement,
    status: &Status,
    source: &str,
) -> Result<Applied, Problem> {
    if d.is_final() {
        return Ok(Applied::Duplicate);
    }
    let id = P::Uuid(d.id.to_string());
    match status {
        Status::Pending => {
            if d.state == DisbursementState::Created {
                query(conn, "UPDATE payments.disbursements SET state = 'unknown', updated_at = now() WHERE id = $1", &[id])?;
            }
            Ok(Applied::Duplicate)
        }
        Status::Succeeded {
            transaction_id,
            amount_major,
        } => succeeded(conn, events, d, transaction_id, *amount_major, source),
        Status::Failed { code, reason } => failed(conn, events, d, code, reason),
    }
}

/// The provider paid it out: the reservation is posted (the money has left), and the refund or
/// payout is announced.
fn succeeded(
    conn: &Connection,
    events: &mut Outbox,
    d: &Disbursement,
    transaction_id: &str,
    amount_major: Option<i64>,
    source: &str,
) -> Result<Applied, Problem> {
    let id = P::Uuid(d.id.to_string());
    if let Some(major) = amount_major {
        if !reports_amount(major, d.money()) {
            return Ok(Applied::Rejected(format!(
                "amount mismatch: provider says {major}"
            )));
        }
    }
    let (debit, credit) = d.accounts(conn)?;
    let transaction_id = if transaction_id.is_empty() {
        d.id.to_string()
    } else {
        transaction_id.to_string()
    };
    if let Err(e) = query(
        conn,
        "UPDATE payments.disbursements SET state = 'succeeded', provider_transaction_id = $2, failure_code = NULL, failure_reason = NULL,
             completed_at = now(), updated_at = now() WHERE id = $1",
        &[id, P::Str(transaction_id.clone())],
    ) {
        if constraint(&e) == Some("disbursements_provider_transaction_key") {
            return Ok(Applied::Rejected(format!("provider transaction {transaction_id} already used")));
        }
        return Err(e.into());
    }
    must_transfer(
        conn,
        derived_id(d.id, "post"),
        debit,
        credit,
        None,
        d.currency.code(),
        "post_pending",
        Some(d.id),
        &format!("{} {} sent ({source})", d.kind, d.id),
    )?;
    if d.kind == "refund" {
        refund_succeeded(conn, events, d)?;
    } else {
        events.record(
            conn,
            Some(d.user_id),
            ("payout", d.id.to_string()),
            vec![d.user_id],
            &PayoutSent {
                payout_id: d.id,
                user_id: d.user_id,
                amount: d.amount,
                currency: d.currency.to_string(),
                provider: d.provider.to_string(),
                provider_reference: transaction_id,
            },
        )?;
    }
    Ok(Applied::Applied("succeeded"))
}

/// The provider did not pay it out: the reservation is voided (the money is back where it came
/// from), and the failure announced.
fn failed(
    conn: &Connection,
    events: &mut Outbox,
    d: &Disbursement,
    code: &str,
    reason: &str,
) -> Result<Applied, Problem> {
    let id = P::Uuid(d.id.to_string());
    // A transaction-status query says only "Failed": keep the code of the result it confirms.
    let (code, reason) = match (code, &d.failure_code) {
        ("Failed", Some(hinted)) => (
            hinted.clone(),
            d.failure_reason
                .clone()
                .unwrap_or_else(|| reason.to_string()),
        ),
        _ => (code.to_string(), reason.to_string()),
    };
    let (code, reason) = (&code, &reason);
    let (debit, credit) = d.accounts(conn)?;
    query(
        conn,
        "UPDATE payments.disbursements SET state = 'failed', failure_code = $2, failure_reason = $3,
             completed_at = now(), updated_at = now() WHERE id = $1",
        &[id, P::Str(code.chars().take(40).collect()), P::Str(reason.chars().take(200).collect())],
    )?;
    must_transfer(
        conn,
        derived_id(d.id, "void"),
        debit,
        credit,
        None,
        d.currency.code(),
        "void_pending",
        Some(d.id),
        &format!("{} {} failed: {code}", d.kind, d.id),
    )?;
    if d.kind == "refund" {
        // The reservation is back in escrow.
        let (intent, payable) = (
            d.intent_id.unwrap_or_default(),
            d.payable_id.unwrap_or_default(),
        );
        query(conn, "UPDATE payments.intents SET refunded_amount = refunded_amount - $2, updated_at = now() WHERE id = $1", &[P::Uuid(intent.to_string()), P::Int64(d.amount)])?;
        query(conn, "UPDATE payments.payables SET refunded_amount = refunded_amount - $2, updated_at = now() WHERE id = $1", &[P::Uuid(payable.to_string()), P::Int64(d.amount)])?;
    } else {
        events.record(
            conn,
            Some(d.user_id),
            ("payout", d.id.to_string()),
            vec![d.user_id],
            &PayoutFailed {
                payout_id: d.id,
                user_id: d.user_id,
                amount: d.amount,
                currency: d.currency.to_string(),
                code: code.clone(),
                reason: reason.clone(),
            },
        )?;
    }
    Ok(Applied::Applied("failed"))
}

fn refund_succeeded(
    conn: &Connection,
    events: &mut Outbox,
    d: &Disbursement,
) -> Result<(), Problem> {
    let intent = d.intent_id.unwrap_or_default();
    let payable = d.payable_id.unwrap_or_default();
    let rows = query(
        conn,
        "SELECT i.amount, i.refunded_amount, p.payer_id, p.payee_id, p.owner_service, p.reference
         FROM payments.intents i JOIN payments.payables p ON p.id = i.payable_id WHERE i.id = $1",
        &[P::Uuid(intent.to_string())],
    )?;
    let amount: i64 = rows.value(0, "amount")?;
    let refunded: i64 = rows.value(0, "refunded_amount")?;
    let in_flight: i64 = query(
        conn,
        "SELECT count(*) AS n FROM payments.disbursements WHERE intent_id = $1 AND state IN ('created', 'sent', 'unknown') AND id <> $2",
        &[P::Uuid(intent.to_string()), P::Uuid(d.id.to_string())],
    )?
    .value(0, "n")?;
    let fully = refunded == amount && in_flight == 0;
    query(
        conn,
        "UPDATE payments.intents SET state = CASE WHEN $2 THEN 'refunded' ELSE 'partially_refunded' END, updated_at = now() WHERE id = $1",
        &[P::Uuid(intent.to_string()), P::Boolean(fully)],
    )?;
    if fully {
        query(
            conn,
            "UPDATE payments.payables SET state = 'refunded', frozen_reason = NULL, updated_at = now() WHERE id = $1",
            &[P::Uuid(payable.to_string())],
        )?;
    }
    let payer: Uuid = rows.value(0, "payer_id")?;
    let payee: Uuid = rows.value(0, "payee_id")?;
    events.record(
        conn,
        None,
        ("refund", d.id.to_string()),
        vec![payer, payee],
        &RefundProcessed {
            refund_id: d.id,
            payable_id: payable,
            intent_id: intent,
            payer_id: payer,
            payee_id: payee,
            owner_service: rows.value::<String>(0, "owner_service")?,
            reference: rows.value::<String>(0, "reference")?,
            amount: d.amount,
            currency: d.currency.to_string(),
            fully_refunded: fully,
        },
    )?;
    Ok(())
}

/// Remembers what an unconfirmed result said (its failure code and words), for the confirmation.
pub fn note_hint(conn: &Connection, id: Uuid, status: &Status) -> Result<(), Problem> {
    if let Status::Failed { code, reason } = status {
        query(
            conn,
            "UPDATE payments.disbursements SET failure_code = $2, failure_reason = $3, updated_at = now()
             WHERE id = $1 AND state IN ('created', 'sent', 'unknown')",
            &[P::Uuid(id.to_string()), P::Str(code.chars().take(40).collect()), P::Str(reason.chars().take(200).collect())],
        )?;
    }
    Ok(())
}

/// How many agreeing "failed" transaction-status answers void a Daraja disbursement.
const FAILURE_CONFIRMATIONS: i16 = 2;

/// A Daraja transaction-status answer saying `d` failed. M-Pesa signs nothing, so one such answer
/// (which anyone holding its secret could post) never gives the reservation back: it is counted,
/// its secret retired, and a new query asked under a new secret; the disbursement fails when
/// [`FAILURE_CONFIRMATIONS`] answers agree. A success in between settles it the other way.
pub async fn confirm_failure(
    settings: &Settings,
    conn: &Connection,
    component: &str,
    d: &Disbursement,
    answer: &Status,
) -> Result<Applied, Problem> {
    if d.is_final() {
        return Ok(Applied::Duplicate);
    }
    let counted = query(
        conn,
        "UPDATE payments.disbursements SET failure_confirmations = failure_confirmations + 1,
             query_secret_sha256 = NULL, updated_at = now()
         WHERE id = $1 AND state IN ('created', 'sent', 'unknown')
         RETURNING failure_confirmations",
        &[P::Uuid(d.id.to_string())],
    )?;
    if counted.is_empty() {
        return Ok(Applied::Duplicate);
    }
    let seen: i16 = counted.value(0, "failure_confirmations")?;
    if seen >= FAILURE_CONFIRMATIONS {
        return apply(
            conn,
            component,
            d.id,
            answer,
            "daraja status queries (agreeing)",
        );
    }
    // (No hint is noted: a status answer says only "Failed"; the B2C result's code is kept.)
    status(settings, d, Some(conn)).await?;
    Ok(Applied::Deferred(
        "a failure needs a second status answer: asked again",
    ))
}

/// Asks the provider where a disbursement stands: `Some(status)` for a synchronous answer, `None`
/// when the answer comes by callback (Daraja's transaction-status query, which needs
/// `query_conn` to remember the fresh secret of its result URL) or cannot be asked.
pub async fn status(
    settings: &Settings,
    d: &Disbursement,
    query_conn: Option<&Connection>,
) -> Result<Option<Status>, Problem> {
    let provider = d.provider;
    let result_url = match query_conn {
        Some(conn) if provider.answers_payout_status_by_callback() => {
            // The answer comes to a result URL with a fresh secret, remembered by its hash.
            let (secret, hash) = new_secret()?;
            query(
                conn,
                "UPDATE payments.disbursements SET query_secret_sha256 = $2 WHERE id = $1",
                &[P::Uuid(d.id.to_string()), P::Binary(hash)],
            )?;
            Some(result_url(settings, d, &secret))
        }
        _ => None,
    };
    provider
        .payout_status(settings, d, result_url.as_deref())
        .await
}

impl FromRow for Disbursement {
    fn from_row(rows: &Rows, i: usize) -> Result<Self, Problem> {
        Self::from_rows(rows, i)
    }
}
