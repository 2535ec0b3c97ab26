//! Payments that land on a payable nobody may pay any more: voided by its owner, or expired while
//! the payment was under way (a stock reservation ran out). The money is taken into the ledger like
//! any collection, then a refund of all of it is reserved in the same transaction and sent right
//! after the commit ([`crate::settle::apply_then_return`]), and the owner and payer hear of it
//! (`payments.payment.returned`). The intent's row lock and the refund's derived accounting make
//! it happen once, however often the provider reports the success.

use nexgate_events::catalogue::payments::PaymentReturned;
use nexgate_events::outbox::Outbox;
use nexgate_platform::db::query;
use nexgate_platform::Problem;
use spin_sdk::pg4::{Connection, ParameterValue as P};

use crate::rows::{Intent, Payable};
use crate::settle::{record_collection, send_to_review, Applied};
use crate::states::PayableState;

/// Whether nobody may pay `payable` any more: voided, or still open past its expiry.
pub(crate) fn is_closed(payable: &Payable) -> bool {
    payable.state == PayableState::Voided
        || (payable.state == PayableState::Open && payable.expired)
}

/// Whether another intent of the payable is live or paid (a late success of this one cannot then
/// be recorded as the payable's payment; it goes to review).
pub(crate) fn another_intent_holds(conn: &Connection, intent: &Intent) -> Result<bool, Problem> {
    query(
        conn,
        "SELECT EXISTS (SELECT 1 FROM payments.intents WHERE payable_id = $1 AND id <> $2
             AND state NOT IN ('failed', 'expired')) AS held",
        &[
            P::Uuid(intent.payable_id.to_string()),
            P::Uuid(intent.id.to_string()),
        ],
    )?
    .value(0, "held")
}

/// Credits the payment, closes the payable (`voided`) and reserves a refund of all of it to the
/// number that paid. A card payment cannot be refunded from here: it is credited and sent to
/// review (the operator refunds it from Selcom's dashboard).
pub(crate) fn credit_and_return(
    conn: &Connection,
    events: &mut Outbox,
    intent: &Intent,
    payable: &Payable,
    transaction_id: &str,
    source: &str,
) -> Result<Applied, Problem> {
    if record_collection(conn, intent, payable, transaction_id, source)?.is_none() {
        return Ok(Applied::Rejected(format!(
            "provider transaction {transaction_id} was already credited to another intent"
        )));
    }
    let why = if payable.state == PayableState::Voided {
        "voided"
    } else {
        "expired"
    };
    query(
        conn,
        "UPDATE payments.payables SET state = 'voided', updated_at = now() WHERE id = $1 AND state = 'open'",
        &[P::Uuid(payable.id.to_string())],
    )?;
    let reason = format!("paid after the payable was {why}");
    let refund = match crate::payables::start_refund(conn, payable, intent.amount, &reason) {
        Ok((refund, secret)) => Some((refund, secret)),
        Err(p) if p.code == "refund_not_supported" => None,
        Err(p) => return Err(p),
    };
    events.record(
        conn,
        Some(intent.payer_id),
        ("intent", intent.id.to_string()),
        vec![intent.payer_id],
        &PaymentReturned {
            intent_id: intent.id,
            payable_id: payable.id,
            payer_id: payable.payer_id,
            payee_id: payable.payee_id,
            owner_service: payable.owner_service.clone(),
            reference: payable.reference.clone(),
            amount: intent.amount,
            currency: intent.currency.to_string(),
            why: why.to_string(),
            refund_id: refund.as_ref().map(|(id, _)| *id),
        },
    )?;
    match refund {
        Some((refund, secret)) => Ok(Applied::Returning { refund, secret }),
        None => {
            send_to_review(conn, intent)?;
            Ok(Applied::Applied(
                "succeeded; a card payment to return by hand: sent to review",
            ))
        }
    }
}
