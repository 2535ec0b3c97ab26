//! Commerce's side of payments (docs/payments.md, Payables): each order is paid into escrow
//! through one payable, created, voided, refunded and released through payments' internal
//! component by Spin's local service chaining, with `payments_internal_token`.

use nexgate_platform::Problem;
use serde_json::{json, Value};
use uuid::Uuid;

/// `POST /internal/payments/<path>` with `body` on payments' internal component (the kit's
/// internal call: `payments_internal_token`, granted in `spin.toml`): (status, JSON).
async fn call(path: &str, body: Value, key: Option<&str>) -> Result<(u16, Value), Problem> {
    nexgate_platform::internal::call(
        "payments",
        spin_sdk::http::Method::Post,
        &format!("/internal/payments/{path}"),
        &body,
        key,
    )
    .await
}

/// An order's payable as commerce asks for it.
pub struct NewPayable<'a> {
    /// Chosen by the checkout and stored on the order before the payable exists.
    pub id: Uuid,
    pub order_id: Uuid,
    pub buyer: Uuid,
    pub seller: Uuid,
    pub amount: i64,
    pub currency: &'a str,
    pub description: &'a str,
    pub expires_in_secs: i64,
}

/// Creates (or, on a retry, finds: the reference is the order id) the order's payable.
pub async fn create(p: &NewPayable<'_>) -> Result<Uuid, Problem> {
    let (status, body) = call(
        "payables",
        json!({
            "id": p.id,
            "owner_service": "commerce",
            "reference": p.order_id.to_string(),
            "purpose": "order",
            "payer_id": p.buyer,
            "payee_id": p.seller,
            "amount": p.amount,
            "currency": p.currency,
            "description": p.description,
            "release_rule": "on_confirmation",
            "expires_in_secs": p.expires_in_secs,
        }),
        None,
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
    /// Nothing was paid (or it is being refunded in full): the order may let its stock go.
    Done,
    /// A payment is under way: wait for it to end, then try again.
    PaymentLive,
}

/// Voids the payable: unpaid, it can no longer be paid; paid, payments refunds what is in escrow.
pub async fn void(payable: Uuid, reason: &str) -> Result<Voided, Problem> {
    let (status, body) = call(
        &format!("payables/{payable}/void"),
        json!({ "reason": reason }),
        None,
    )
    .await?;
    match status {
        200 | 202 => Ok(Voided::Done),
        // Never made: the checkout's call to payments failed and the buyer did not retry.
        404 => Ok(Voided::Done),
        409 if body["code"] == "payment_in_progress" => Ok(Voided::PaymentLive),
        // Payments cannot refund a card yet: the order stays as it is, and says why.
        422 if body["code"] == "refund_not_supported" => Err(Problem::conflict(
            "card_refund_not_supported",
            "this order was paid by card, which cannot be refunded here yet; an operator refunds it \
             from Selcom's merchant dashboard, then cancels it",
        )),
        _ => Err(Problem::internal(format!(
            "payments void answered {status}: {body}"
        ))),
    }
}

/// Releases the escrow to the seller (the buyer confirmed, or the order completed by itself).
pub async fn release(payable: Uuid, reason: &str) -> Result<(), Problem> {
    release_with(payable, reason, false).await
}

/// Releases a frozen escrow to the seller: an operator resolved the dispute for them.
pub async fn release_disputed(payable: Uuid, reason: &str) -> Result<(), Problem> {
    release_with(payable, reason, true).await
}

/// Freezes the escrow while the buyer's dispute is open.
pub async fn freeze(payable: Uuid, reason: &str) -> Result<(), Problem> {
    let (status, body) = call(
        &format!("payables/{payable}/freeze"),
        json!({ "reason": reason }),
        None,
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
        None,
    )
    .await?;
    match status {
        200 => Ok(()),
        409 if body["code"] == "escrow_frozen" => Err(Problem::conflict(
            "order_disputed",
            "the payment is held by a dispute",
        )),
        _ => Err(Problem::internal(format!(
            "payments release answered {status}: {body}"
        ))),
    }
}
