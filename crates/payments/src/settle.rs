//! Applying what a provider said to an intent, once: the state change, the ledger credit of the
//! escrow, the receipt and the events, in one transaction under the intent's row lock. Callbacks
//! and the sweeper both come through here, so a duplicate, late or racing report changes nothing
//! twice.

use nexgate_events::outbox::Outbox;
use nexgate_platform::db::{constraint, query};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::common::{
    account, minor_per_major, must_transfer, with_events, Account, Intent, Payable,
};
use crate::providers::Status;

/// What happened to a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// It moved the intent (to `processing`, `succeeded` or `failed`).
    Applied(&'static str),
    /// The intent had already reached that (or another final) state: nothing changed.
    Duplicate,
    /// Refused: nothing changed (the reason is recorded with the callback).
    Rejected(String),
    /// Taken as a hint only: the provider is asked to confirm (M-Pesa B2C results).
    Deferred(&'static str),
}

impl Applied {
    pub fn outcome(&self) -> (&'static str, Option<String>) {
        match self {
            Applied::Applied(state) => ("applied", Some((*state).to_string())),
            Applied::Duplicate => ("duplicate", None),
            Applied::Rejected(why) => ("rejected", Some(why.clone())),
            Applied::Deferred(why) => ("deferred", Some((*why).to_string())),
        }
    }
}

/// Applies `status` to intent `id`. `source` names who said it (callback, sweeper).
pub fn apply(
    conn: &Connection,
    component: &str,
    id: Uuid,
    status: &Status,
    source: &str,
) -> Result<Applied, Problem> {
    with_events(conn, component, |conn, events| {
        let Some(intent) = Intent::load(conn, id, true)? else {
            return Ok(Applied::Rejected("no such intent".into()));
        };
        apply_locked(conn, events, &intent, status, source)
    })
}

fn apply_locked(
    conn: &Connection,
    events: &mut Outbox,
    intent: &Intent,
    status: &Status,
    source: &str,
) -> Result<Applied, Problem> {
    let id = P::Uuid(intent.id.to_string());
    match status {
        Status::Pending => {
            if intent.is_final() {
                return Ok(Applied::Duplicate);
            }
            if intent.state == "processing" {
                return Ok(Applied::Duplicate);
            }
            query(conn, "UPDATE payments.intents SET state = 'processing', updated_at = now() WHERE id = $1", &[id])?;
            Ok(Applied::Applied("processing"))
        }
        Status::Failed { code, reason } => {
            if intent.state == "failed" {
                return Ok(Applied::Duplicate);
            }
            if intent.is_final() {
                // Already succeeded (or expired): a late failure report changes nothing.
                return Ok(Applied::Duplicate);
            }
            query(
                conn,
                "UPDATE payments.intents SET state = 'failed', failure_code = $2, failure_reason = $3,
                     completed_at = now(), updated_at = now() WHERE id = $1",
                &[id, P::Str(code.chars().take(40).collect()), P::Str(reason.chars().take(200).collect())],
            )?;
            let payable = Payable::load(conn, intent.payable_id, false)?
                .ok_or_else(|| Problem::internal("payable vanished"))?;
            events.record(
                conn,
                "payments.payment.failed",
                Some(intent.payer_id),
                ("intent", intent.id.to_string()),
                vec![intent.payer_id],
                json!({
                    "intent_id": intent.id,
                    "payable_id": intent.payable_id,
                    "payer_id": intent.payer_id,
                    "owner_service": payable.owner_service,
                    "reference": payable.reference,
                    "amount": intent.amount,
                    "currency": intent.currency,
                    "code": code,
                    "reason": reason,
                }),
            )?;
            Ok(Applied::Applied("failed"))
        }
        Status::Succeeded {
            transaction_id,
            amount_major,
        } => {
            if let Some(major) = amount_major {
                if major * minor_per_major(&intent.currency) != intent.amount {
                    return Ok(Applied::Rejected(format!(
                        "amount mismatch: provider says {major}, intent is {} minor units",
                        intent.amount
                    )));
                }
            }
            match intent.state.as_str() {
                "succeeded" | "refunded" | "partially_refunded" => {
                    // A status query settles without M-Pesa's receipt number (it uses the
                    // CheckoutRequestID); the genuine callback, arriving after, fills it in.
                    if !transaction_id.is_empty()
                        && intent.provider_transaction_id.is_some()
                        && intent.provider_transaction_id == intent.provider_request_id
                    {
                        query(
                            conn,
                            "UPDATE payments.intents SET provider_transaction_id = $2, updated_at = now() WHERE id = $1",
                            &[id, P::Str(transaction_id.clone())],
                        )?;
                    }
                    return Ok(Applied::Duplicate);
                }
                "failed" | "expired" => {
                    // Money arrived after we gave up on it: never lost, never auto-credited to a
                    // payable that may be paid another way; an operator settles it.
                    query(
                        conn,
                        "UPDATE payments.intents SET needs_review = true, updated_at = now() WHERE id = $1",
                        &[id],
                    )?;
                    return Ok(Applied::Rejected(format!(
                        "late success on a {} intent: sent to review",
                        intent.state
                    )));
                }
                _ => {}
            }
            succeed(conn, events, intent, transaction_id, source)
        }
    }
}

fn succeed(
    conn: &Connection,
    events: &mut Outbox,
    intent: &Intent,
    transaction_id: &str,
    source: &str,
) -> Result<Applied, Problem> {
    let payable = Payable::load(conn, intent.payable_id, true)?
        .ok_or_else(|| Problem::internal("payable vanished"))?;
    let transaction_id = if transaction_id.is_empty() {
        intent
            .provider_request_id
            .clone()
            .unwrap_or_else(|| intent.id.to_string())
    } else {
        transaction_id.to_string()
    };
    let updated = query(
        conn,
        "UPDATE payments.intents SET state = 'succeeded', provider_transaction_id = $2,
             receipt_number = 'NXR-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') || '-' || lpad(nextval('payments.receipt_numbers')::text, 8, '0'),
             completed_at = now(), updated_at = now()
         WHERE id = $1",
        &[P::Uuid(intent.id.to_string()), P::Str(transaction_id.clone())],
    );
    if let Err(e) = updated {
        if constraint(&e) == Some("intents_provider_transaction_key") {
            return Ok(Applied::Rejected(format!(
                "provider transaction {transaction_id} was already credited to another intent"
            )));
        }
        return Err(e.into());
    }
    // The collection: the provider's clearing account pays into this payable's escrow. The
    // transfer id is the intent id, so the ledger itself refuses a second credit.
    let clearing = account(conn, Account::Clearing(&intent.provider, &intent.currency))?;
    let escrow = account(conn, Account::Escrow(payable.id, &payable.currency))?;
    must_transfer(
        conn,
        intent.id,
        clearing,
        escrow,
        Some(intent.amount),
        &intent.currency,
        "single_phase",
        None,
        &format!(
            "collection {} via {} ({source})",
            transaction_id, intent.provider
        ),
    )?;
    query(
        conn,
        "UPDATE payments.payables SET state = 'paid', paid_at = now(), updated_at = now(),
             release_after = CASE WHEN release_rule = 'after_dispute_window'
                                  THEN now() + make_interval(secs => dispute_window_secs) END
         WHERE id = $1 AND state = 'open'",
        &[P::Uuid(payable.id.to_string())],
    )?;
    let receipt: Option<String> = query(
        conn,
        "SELECT receipt_number FROM payments.intents WHERE id = $1",
        &[P::Uuid(intent.id.to_string())],
    )?
    .value(0, "receipt_number")?;
    let common = json!({
        "intent_id": intent.id,
        "payable_id": payable.id,
        "payer_id": payable.payer_id,
        "payee_id": payable.payee_id,
        "owner_service": payable.owner_service,
        "reference": payable.reference,
        "purpose": payable.purpose,
        "amount": intent.amount,
        "currency": intent.currency,
        "receipt_number": receipt,
    });
    events.record(
        conn,
        "payments.payment.succeeded",
        Some(payable.payer_id),
        ("intent", intent.id.to_string()),
        vec![payable.payer_id],
        common.clone(),
    )?;
    events.record(
        conn,
        "payments.payment.received",
        Some(payable.payer_id),
        ("payable", payable.id.to_string()),
        vec![payable.payee_id],
        common,
    )?;
    Ok(Applied::Applied("succeeded"))
}
