//! Applying what a provider said to an intent, once: the state change, the ledger credit of the
//! escrow, the receipt and the events, in one transaction under the intent's row lock. Callbacks
//! and the sweeper both come through here, so a duplicate, late or racing report changes nothing
//! twice.

use nexgate_events::catalogue::payments::{PaymentFailed, PaymentReceived, PaymentSucceeded};
use nexgate_events::outbox::{with_events, Outbox};
use nexgate_platform::db::{constraint, query};
use nexgate_platform::Problem;
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::ledger::{account, must_transfer, reports_amount, Account};
use crate::providers::Status;
use crate::rows::{Intent, Payable};
use crate::settings::{Settings, SCHEMA};
use crate::states::IntentState;

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
    /// A success on a payable nobody may pay any more: credited, and a refund of all of it is
    /// reserved; the caller sends it after the commit ([`apply_then_return`]).
    Returning { refund: Uuid, secret: String },
}

impl Applied {
    pub fn outcome(&self) -> (&'static str, Option<String>) {
        match self {
            Applied::Applied(state) => ("applied", Some((*state).to_string())),
            Applied::Duplicate => ("duplicate", None),
            Applied::Rejected(why) => ("rejected", Some(why.clone())),
            Applied::Deferred(why) => ("deferred", Some((*why).to_string())),
            Applied::Returning { refund, .. } => (
                "applied",
                Some(format!("succeeded and returned (refund {refund})")),
            ),
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
    apply_with_members(conn, component, id, status, source).map(|(applied, _)| applied)
}

/// [`apply`] to a lead intent and, when it moved, the same outcome to each of its members (a
/// multi-payable payment), in one transaction: each member's payable gets its own credit and
/// events. Also answers the refunds members reserved (a success on a payable nobody may pay).
fn apply_with_members(
    conn: &Connection,
    component: &str,
    id: Uuid,
    status: &Status,
    source: &str,
) -> Result<(Applied, Vec<(Uuid, String)>), Problem> {
    with_events(conn, SCHEMA, component, |conn, events| {
        let Some(intent) = Intent::load(conn, id, true)? else {
            return Ok((Applied::Rejected("no such intent".into()), Vec::new()));
        };
        let applied = apply_locked(conn, events, &intent, status, source)?;
        let mut returning = Vec::new();
        if matches!(applied, Applied::Applied(_) | Applied::Returning { .. }) {
            // The provider's amount was checked against the lead's total; members take theirs.
            let member_status = match status {
                Status::Succeeded { transaction_id, .. } => Status::Succeeded {
                    transaction_id: transaction_id.clone(),
                    amount_major: None,
                },
                other => other.clone(),
            };
            for member in Intent::members(conn, intent.id, true)? {
                if let Applied::Returning { refund, secret } =
                    apply_locked(conn, events, &member, &member_status, source)?
                {
                    returning.push((refund, secret));
                }
            }
        }
        Ok((applied, returning))
    })
}

/// [`apply`], then, when the payment landed on a payable nobody may pay any more, sends the refund
/// it reserved (a refund never sent is found by the sweeper's status queries and reviewed).
pub async fn apply_then_return(
    settings: &Settings,
    conn: &Connection,
    id: Uuid,
    status: &Status,
    source: &str,
) -> Result<Applied, Problem> {
    let (applied, mut returning) =
        apply_with_members(conn, settings.component, id, status, source)?;
    if let Applied::Returning { refund, secret } = &applied {
        returning.push((*refund, secret.clone()));
    }
    for (refund, secret) in returning {
        crate::disburse::send_once(settings, conn, settings.component, refund, &secret).await?;
    }
    Ok(applied)
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
            if intent.state == IntentState::Processing {
                return Ok(Applied::Duplicate);
            }
            query(conn, "UPDATE payments.intents SET state = 'processing', updated_at = now() WHERE id = $1", &[id])?;
            Ok(Applied::Applied("processing"))
        }
        Status::Failed { code, reason } => failed(conn, events, intent, code, reason),
        Status::Succeeded {
            transaction_id,
            amount_major,
        } => succeeded(conn, events, intent, transaction_id, *amount_major, source),
    }
}

/// A failure report: the intent fails (unless it already reached a final state) and the payer hears.
fn failed(
    conn: &Connection,
    events: &mut Outbox,
    intent: &Intent,
    code: &str,
    reason: &str,
) -> Result<Applied, Problem> {
    let id = P::Uuid(intent.id.to_string());
    if intent.state == IntentState::Failed {
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
        &[
            id,
            P::Str(code.chars().take(40).collect()),
            P::Str(reason.chars().take(200).collect()),
        ],
    )?;
    let payable = Payable::load(conn, intent.payable_id, false)?
        .ok_or_else(|| Problem::internal("payable vanished"))?;
    events.record(
        conn,
        Some(intent.payer_id),
        ("intent", intent.id.to_string()),
        vec![intent.payer_id],
        &PaymentFailed {
            intent_id: intent.id,
            payable_id: intent.payable_id,
            payer_id: intent.payer_id,
            owner_service: payable.owner_service,
            reference: payable.reference,
            amount: intent.amount,
            currency: intent.currency.to_string(),
            code: code.to_string(),
            reason: reason.to_string(),
        },
    )?;

    Ok(Applied::Applied("failed"))
}

/// A success report: checked against the intent's amount, then credited once ([`succeed`]); a
/// success on a settled intent only fills in M-Pesa's receipt, on a failed one goes to review.
fn succeeded(
    conn: &Connection,
    events: &mut Outbox,
    intent: &Intent,
    transaction_id: &str,
    amount_major: Option<i64>,
    source: &str,
) -> Result<Applied, Problem> {
    let id = P::Uuid(intent.id.to_string());
    if let Some(major) = amount_major {
        if !reports_amount(major, intent.collected()) {
            return Ok(Applied::Rejected(format!(
                "amount mismatch: provider says {major}, intent collects {} minor units",
                intent.collected().amount
            )));
        }
    }
    let payable = Payable::load(conn, intent.payable_id, true)?
        .ok_or_else(|| Problem::internal("payable vanished"))?;
    let closed = crate::returns::is_closed(&payable);
    match intent.state {
        IntentState::Succeeded | IntentState::Refunded | IntentState::PartiallyRefunded => {
            // A status query settles without M-Pesa's receipt number (it uses the
            // CheckoutRequestID); the genuine callback, arriving after, fills it in.
            if !transaction_id.is_empty()
                && intent.provider_transaction_id.is_some()
                && intent.provider_transaction_id == intent.provider_request_id
            {
                query(
                    conn,
                    "UPDATE payments.intents SET provider_transaction_id = $2, updated_at = now() WHERE id = $1",
                    &[id, P::Str(transaction_id.to_string())],
                )?;
            }
            return Ok(Applied::Duplicate);
        }
        IntentState::Failed | IntentState::Expired
            if !closed || crate::returns::another_intent_holds(conn, intent)? =>
        {
            // Money arrived after we gave up on it, for a payable that may be paid another way:
            // never lost, never auto-credited; an operator settles it.
            send_to_review(conn, intent)?;
            return Ok(Applied::Rejected(format!(
                "late success on a {} intent: sent to review",
                intent.state
            )));
        }
        _ => {}
    }
    if closed {
        return crate::returns::credit_and_return(
            conn,
            events,
            intent,
            &payable,
            transaction_id,
            source,
        );
    }
    succeed(conn, events, intent, &payable, transaction_id, source)
}

/// Flags the intent for an operator (money that arrived where it cannot be applied by itself).
pub(crate) fn send_to_review(conn: &Connection, intent: &Intent) -> Result<(), Problem> {
    query(
        conn,
        "UPDATE payments.intents SET needs_review = true, updated_at = now() WHERE id = $1",
        &[P::Uuid(intent.id.to_string())],
    )?;
    Ok(())
}

fn succeed(
    conn: &Connection,
    events: &mut Outbox,
    intent: &Intent,
    payable: &Payable,
    transaction_id: &str,
    source: &str,
) -> Result<Applied, Problem> {
    let Some(receipt_number) = record_collection(conn, intent, payable, transaction_id, source)?
    else {
        return Ok(Applied::Rejected(format!(
            "provider transaction {transaction_id} was already credited to another intent"
        )));
    };
    query(
        conn,
        "UPDATE payments.payables SET state = 'paid', paid_at = now(), updated_at = now(),
             release_after = CASE WHEN release_rule = 'after_dispute_window'
                                  THEN now() + make_interval(secs => dispute_window_secs) END
         WHERE id = $1 AND state = 'open'",
        &[P::Uuid(payable.id.to_string())],
    )?;
    announce_success(conn, events, intent, payable, receipt_number)?;
    Ok(Applied::Applied("succeeded"))
}

/// The intent succeeds with its receipt number, and the provider's clearing account pays into
/// the payable's escrow (the transfer id is the intent id, so the ledger itself refuses a second
/// credit). `None` when the provider's transaction was already credited to another intent.
pub(crate) fn record_collection(
    conn: &Connection,
    intent: &Intent,
    payable: &Payable,
    transaction_id: &str,
    source: &str,
) -> Result<Option<String>, Problem> {
    let transaction_id = if transaction_id.is_empty() {
        intent
            .provider_request_id
            .clone()
            .unwrap_or_else(|| intent.id.to_string())
    } else {
        transaction_id.to_string()
    };
    let numbered = query(
        conn,
        "UPDATE payments.intents SET state = 'succeeded', provider_transaction_id = $2,
             receipt_number = 'NXR-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') || '-' || lpad(nextval('payments.receipt_numbers')::text, 8, '0'),
             completed_at = now(), updated_at = now()
         WHERE id = $1 RETURNING receipt_number",
        &[P::Uuid(intent.id.to_string()), P::Str(transaction_id.clone())],
    );
    let receipt_number: String = match numbered {
        Ok(rows) => rows.value(0, "receipt_number")?,
        Err(e) if constraint(&e) == Some("intents_provider_transaction_key") => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let clearing = account(
        conn,
        Account::Clearing(intent.provider.as_str(), intent.currency.code()),
    )?;
    let escrow = account(conn, Account::Escrow(payable.id, payable.currency.code()))?;
    must_transfer(
        conn,
        intent.id,
        clearing,
        escrow,
        Some(intent.amount),
        intent.currency.code(),
        "single_phase",
        None,
        &format!(
            "collection {} via {} ({source})",
            transaction_id, intent.provider
        ),
    )?;
    Ok(Some(receipt_number))
}

/// `payments.payment.succeeded` to the payer and `payments.payment.received` to the payee.
fn announce_success(
    conn: &Connection,
    events: &mut Outbox,
    intent: &Intent,
    payable: &Payable,
    receipt_number: String,
) -> Result<(), Problem> {
    let succeeded = PaymentSucceeded {
        intent_id: intent.id,
        payable_id: payable.id,
        payer_id: payable.payer_id,
        payee_id: payable.payee_id,
        owner_service: payable.owner_service.clone(),
        reference: payable.reference.clone(),
        purpose: payable.purpose.clone(),
        amount: intent.amount,
        currency: intent.currency.to_string(),
        receipt_number,
    };
    let received = PaymentReceived {
        intent_id: succeeded.intent_id,
        payable_id: succeeded.payable_id,
        payer_id: succeeded.payer_id,
        payee_id: succeeded.payee_id,
        owner_service: succeeded.owner_service.clone(),
        reference: succeeded.reference.clone(),
        purpose: succeeded.purpose.clone(),
        amount: succeeded.amount,
        currency: succeeded.currency.clone(),
        receipt_number: succeeded.receipt_number.clone(),
    };
    events.record(
        conn,
        Some(payable.payer_id),
        ("intent", intent.id.to_string()),
        vec![payable.payer_id],
        &succeeded,
    )?;
    events.record(
        conn,
        Some(payable.payer_id),
        ("payable", payable.id.to_string()),
        vec![payable.payee_id],
        &received,
    )?;
    Ok(())
}
