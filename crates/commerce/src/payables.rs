//! Commerce's side of payments (docs/payments.md, Payables): each order is paid into escrow
//! through one payable (reference: the order id), made and moved with the kit's payables client.

use nexgate_platform::payables as kit;
use nexgate_platform::Problem;
use uuid::Uuid;

pub use kit::{freeze, void, Voided};

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
    kit::create(&kit::NewPayable {
        id: p.id,
        owner_service: "commerce",
        reference: p.order_id.to_string(),
        purpose: "order",
        payer: p.buyer,
        payee: p.seller,
        amount: p.amount,
        currency: p.currency,
        description: p.description,
        release_rule: "on_confirmation",
        expires_in_secs: p.expires_in_secs,
    })
    .await
}

/// Releases the escrow to the seller (the buyer confirmed, or the order completed by itself).
pub async fn release(payable: Uuid, reason: &str) -> Result<(), Problem> {
    kit::release(payable, reason).await.map_err(order_disputed)
}

/// Releases a frozen escrow to the seller: an operator resolved the dispute for them.
pub async fn release_disputed(payable: Uuid, reason: &str) -> Result<(), Problem> {
    kit::release_disputed(payable, reason)
        .await
        .map_err(order_disputed)
}

fn order_disputed(p: Problem) -> Problem {
    if p.code == "escrow_frozen" {
        Problem::conflict("order_disputed", "the payment is held by a dispute")
    } else {
        p
    }
}
