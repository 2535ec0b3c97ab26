//! A service's side of payments' payables (docs/payments.md, "Payables"): each owning service
//! (commerce's orders, events' tickets, ...) creates, voids, freezes, releases its payables through
//! payments' internal component by Spin's local service chaining, with `payments_internal_token`
//! (the kit's [`crate::internal::call`]). The owner's own row names the payable (its id is chosen
//! by the owner before the payable exists) and the payable names the owner's row (`reference`).

use crate::Problem;
use serde_json::{json, Value};
use uuid::Uuid;

/// `POST /internal/payments/<path>` with `body`: (status, JSON).
async fn call(path: &str, body: Value) -> Result<(u16, Value), Problem> {
    crate::internal::call(
        "payments",
        spin_sdk::http::Method::Post,
        &format!("/internal/payments/{path}"),
        &body,
        None,
    )
    .await
}

/// A payable as its owner asks for it.
pub struct NewPayable<'a> {
    /// Chosen by the owner and stored with its row before the payable exists.
    pub id: Uuid,
    /// The owning service (`owner_service` of the payment events it will receive).
    pub owner_service: &'a str,
    /// The owner's row (an order id, a ticket id): unique per owner, so a retry finds it.
    pub reference: String,
    /// `order`, `ticket`, `installment`, `group_buy_share`, `buy_together_share`.
    pub purpose: &'a str,
    pub payer: Uuid,
    pub payee: Uuid,
    pub amount: i64,
    pub currency: &'a str,
    pub description: &'a str,
    /// `on_confirmation` (the owner releases) or `after_dispute_window` (payments does).
    pub release_rule: &'a str,
    pub expires_in_secs: i64,
}

/// Creates (or, on a retry with the same reference, finds) the payable; answers its id.
pub async fn create(p: &NewPayable<'_>) -> Result<Uuid, Problem> {
    let (status, body) = call(
        "payables",
        json!({
            "id": p.id,
            "owner_service": p.owner_service,
            "reference": p.reference,
            "purpose": p.purpose,
            "payer_id": p.payer,
            "payee_id": p.payee,
            "amount": p.amount,
            "currency": p.currency,
            "description": p.description,
            "release_rule": p.release_rule,
            "expires_in_secs": p.expires_in_secs,
        }),
    )
    .await?;
    if !matches!(status, 200 | 201) {
        return Err(Problem::internal(format!(
            "payments refused the payable: {status} {body}"
        )));
    }
    body["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| Problem::internal("payments answered a payable without id"))
}

/// What a void did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voided {
    /// Nothing was paid (or it is being refunded in full): the owner may let its goods go.
    Done,
    /// A payment is under way: wait for it to end, then try again.
    PaymentLive,
}

/// Voids the payable: unpaid, it can no longer be paid; paid, payments refunds what is in escrow
/// (a payment landing later is refunded by payments itself).
pub async fn void(payable: Uuid, reason: &str) -> Result<Voided, Problem> {
    let (status, body) = call(
        &format!("payables/{payable}/void"),
        json!({ "reason": reason }),
    )
    .await?;
    match status {
        200 | 202 => Ok(Voided::Done),
        // Never made: the owner's call to payments failed and the buyer did not retry.
        404 => Ok(Voided::Done),
        409 if body["code"] == "payment_in_progress" => Ok(Voided::PaymentLive),
        // Payments cannot refund a card yet: the owner's row stays as it is, and says why.
        422 if body["code"] == "refund_not_supported" => Err(Problem::conflict(
            "card_refund_not_supported",
            "this was paid by card, which cannot be refunded here yet; an operator refunds it \
             from Selcom's merchant dashboard, then cancels it",
        )),
        _ => Err(Problem::internal(format!(
            "payments void answered {status}: {body}"
        ))),
    }
}

/// Releases the escrow to the payee.
pub async fn release(payable: Uuid, reason: &str) -> Result<(), Problem> {
    release_with(payable, reason, false).await
}

/// Releases a frozen escrow to the payee: an operator resolved the dispute for them.
pub async fn release_disputed(payable: Uuid, reason: &str) -> Result<(), Problem> {
    release_with(payable, reason, true).await
}

/// Freezes the escrow (a dispute, or poor feedback an operator must look at).
pub async fn freeze(payable: Uuid, reason: &str) -> Result<(), Problem> {
    let (status, body) = call(
        &format!("payables/{payable}/freeze"),
        json!({ "reason": reason }),
    )
    .await?;
    match status {
        200 => Ok(()),
        _ => Err(Problem::internal(format!(
            "payments freeze answered {status}: {body}"
        ))),
    }
}

async fn release_with(payable: Uuid, reason: &str, resolve_dispute: bool) -> Result<(), Problem> {
    let (status, body) = call(
        &format!("payables/{payable}/release"),
        json!({ "reason": reason, "resolve_dispute": resolve_dispute }),
    )
    .await?;
    match status {
        200 => Ok(()),
        409 if body["code"] == "escrow_frozen" => Err(Problem::conflict(
            "escrow_frozen",
            "the payment is held by a dispute",
        )),
        _ => Err(Problem::internal(format!(
            "payments release answered {status}: {body}"
        ))),
    }
}
