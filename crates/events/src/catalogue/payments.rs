//! The event types of the payment service (docs/payments.md): `payments.*`.

use uuid::Uuid;

event_types! {
    producer: "payments";

    RefundProcessed {
        name: "payments.refund.processed",
        version: 1,
        secret: false,
        description: "A refund reached the payer. Consumed by profiles (the payee's refunds) and the notifier. Audience: payer and payee.",
        data: {
            refund_id: Uuid = "string (uuid)",
            payable_id: Uuid = "string (uuid): the payable refunded",
            intent_id: Uuid = "string (uuid): the payment refunded",
            payer_id: Uuid = "string (uuid)",
            payee_id: Uuid = "string (uuid): the seller or organizer refunded from",
            owner_service: String = "string: the service that owns the payable",
            reference: String = "string: the owning service's reference",
            amount: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
            fully_refunded: bool = "boolean: the whole payment is now refunded (the payable is refunded)",
        }
    }

    DisputeOpened {
        name: "payments.dispute.opened",
        version: 1,
        secret: false,
        description: "A payer opened a dispute on a payment held in escrow. Consumed by profiles (the payee's disputes). Audience: payer and payee.",
        data: {
            dispute_id: Uuid = "string (uuid)",
            payable_id: Uuid = "string (uuid): the payable disputed (its escrow is frozen)",
            owner_service: String = "string: the service that owns the payable",
            reference: String = "string: the owning service's reference (its order or ticket)",
            payee_id: Uuid = "string (uuid)",
            payer_id: Uuid = "string (uuid)",
            reason: String = "string: the payer's words",
        }
    }

    PaymentSucceeded {
        name: "payments.payment.succeeded",
        version: 1,
        secret: false,
        description: "A payment for a payable succeeded and is held in escrow. Consumed by the owning service (by owner_service and reference) and the notifier. Audience: the payer.",
        data: {
            intent_id: Uuid = "string (uuid)",
            payable_id: Uuid = "string (uuid)",
            payer_id: Uuid = "string (uuid)",
            payee_id: Uuid = "string (uuid)",
            owner_service: String = "string: the service that owns the payable",
            reference: String = "string: the owning service's reference",
            purpose: String = "string: order, ticket, installment, group_buy_share, buy_together_share",
            amount: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
            receipt_number: String = "string: our receipt number",
        }
    }

    PaymentFailed {
        name: "payments.payment.failed",
        version: 1,
        secret: false,
        description: "A payment attempt failed definitively (the provider's code and words). Consumed by the owning service and the notifier. Audience: the payer.",
        data: {
            intent_id: Uuid = "string (uuid)",
            payable_id: Uuid = "string (uuid)",
            payer_id: Uuid = "string (uuid)",
            owner_service: String = "string",
            reference: String = "string",
            amount: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
            code: String = "string: the provider's result code",
            reason: String = "string: the provider's description",
        }
    }

    PaymentReturned {
        name: "payments.payment.returned",
        version: 1,
        secret: false,
        description: "A payment landed on a payable nobody may pay any more (voided by its owner, or expired while the payment was under way): it was credited and is being refunded to the payer in full (payments.refund.processed follows). Consumed by the owning service (by owner_service and reference: the order or ticket stays unpaid) and the notifier. Audience: the payer.",
        data: {
            intent_id: Uuid = "string (uuid)",
            payable_id: Uuid = "string (uuid)",
            payer_id: Uuid = "string (uuid)",
            payee_id: Uuid = "string (uuid)",
            owner_service: String = "string: the service that owns the payable",
            reference: String = "string: the owning service's reference",
            amount: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
            why: String = "string: voided or expired",
            refund_id: Option<Uuid> = "string (uuid): the refund under way; absent for a card payment, which an operator refunds",
        }
    }

    PaymentReceived {
        name: "payments.payment.received",
        version: 1,
        secret: false,
        description: "Money for the payee arrived and is held in escrow until released. Consumed by the notifier. Audience: the payee.",
        data: {
            intent_id: Uuid = "string (uuid)",
            payable_id: Uuid = "string (uuid)",
            payer_id: Uuid = "string (uuid)",
            payee_id: Uuid = "string (uuid)",
            owner_service: String = "string",
            reference: String = "string",
            purpose: String = "string",
            amount: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
            receipt_number: String = "string",
        }
    }

    EscrowReleased {
        name: "payments.escrow.released",
        version: 1,
        secret: false,
        description: "A payable's escrow went to the payee's available balance, minus the platform fee. Consumed by the notifier. Audience: the payee.",
        data: {
            payable_id: Uuid = "string (uuid)",
            payee_id: Uuid = "string (uuid)",
            payer_id: Uuid = "string (uuid)",
            owner_service: String = "string",
            reference: String = "string",
            amount: i64 = "integer: minor units credited to the payee (after the fee)",
            fee: i64 = "integer: minor units kept as the platform fee",
            currency: String = "string: ISO 4217",
            reason: String = "string: why (released by owner, dispute window passed)",
        }
    }

    PayoutSent {
        name: "payments.payout.sent",
        version: 1,
        secret: false,
        description: "A payout reached the seller's or organizer's number. Consumed by the notifier. Audience: the payee.",
        data: {
            payout_id: Uuid = "string (uuid)",
            user_id: Uuid = "string (uuid): who was paid",
            amount: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
            provider: String = "string: daraja, selcom or tembo",
            provider_reference: String = "string: the provider's transaction id",
        }
    }

    PayoutFailed {
        name: "payments.payout.failed",
        version: 1,
        secret: false,
        description: "A payout failed definitively; the amount is back in the available balance. Consumed by the notifier. Audience: the payee.",
        data: {
            payout_id: Uuid = "string (uuid)",
            user_id: Uuid = "string (uuid)",
            amount: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
            code: String = "string: the provider's result code",
            reason: String = "string: the provider's description",
        }
    }
}
