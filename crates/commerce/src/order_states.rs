//! Who may move an order from which state to which (docs/commerce.md, "Orders"): a pure table,
//! unit-tested here; handlers apply it with a conditional `UPDATE ... WHERE state = $from`.

/// An order's state, written as the database's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    PendingPayment,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
    Disputed,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::Paid => "paid",
            Self::Processing => "processing",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Disputed => "disputed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending_payment" => Self::PendingPayment,
            "paid" => Self::Paid,
            "processing" => Self::Processing,
            "shipped" => Self::Shipped,
            "delivered" => Self::Delivered,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            "disputed" => Self::Disputed,
            _ => return None,
        })
    }

    /// Whether money for this order sits in escrow (paid, not yet released or refunded).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            Self::Paid | Self::Processing | Self::Shipped | Self::Delivered | Self::Disputed
        )
    }
}

/// Who acts on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Buyer,
    Seller,
    System,
    /// A platform operator resolving a dispute.
    Operator,
    /// One of the shop's staff, acting for the seller (the same rights on orders).
    Staff,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
            Self::System => "system",
            Self::Operator => "operator",
            Self::Staff => "staff",
        }
    }

    /// The party an action counts for (staff act for the seller): what `cancelled_by` and the
    /// events say.
    pub fn party(self) -> &'static str {
        match self {
            Self::Staff => "seller",
            other => other.as_str(),
        }
    }
}

/// What can happen to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Payments reported the payment into escrow.
    Pay,
    Process,
    Ship,
    Deliver,
    /// The buyer confirms receipt (escrow released).
    Confirm,
    /// The delivered order's confirmation window passed.
    AutoComplete,
    Cancel,
    /// The buyer disputes a shipped or delivered order (escrow frozen).
    Dispute,
    /// An operator ends a dispute for the seller (escrow released) ...
    ResolveRelease,
    /// ... or for the buyer (refunded in full).
    ResolveRefund,
}

impl Action {
    /// The action named in a route (`/shop/orders/{id}/<action>`).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "process" => Self::Process,
            "ship" => Self::Ship,
            "deliver" => Self::Deliver,
            "confirm" => Self::Confirm,
            "cancel" => Self::Cancel,
            "dispute" => Self::Dispute,
            _ => return None,
        })
    }
}

/// The state `action` by `actor` leads to from `from`, or why it may not happen.
pub fn next(from: OrderState, action: Action, actor: Actor) -> Result<OrderState, &'static str> {
    let actor = if actor == Actor::Staff {
        Actor::Seller
    } else {
        actor
    };
    use Action as A;
    use Actor::{Buyer, Operator, Seller, System};
    use OrderState as S;
    match (action, actor, from) {
        (A::Pay, System, S::PendingPayment) => Ok(S::Paid),
        (A::Process, Seller, S::Paid) => Ok(S::Processing),
        (A::Ship, Seller, S::Paid | S::Processing) => Ok(S::Shipped),
        (A::Deliver, Seller, S::Shipped) => Ok(S::Delivered),
        (A::Confirm, Buyer, S::Shipped | S::Delivered) => Ok(S::Completed),
        (A::AutoComplete, System, S::Delivered) => Ok(S::Completed),
        (A::Cancel, Buyer, S::PendingPayment | S::Paid | S::Processing) => Ok(S::Cancelled),
        (A::Cancel, Seller, S::PendingPayment | S::Paid | S::Processing | S::Shipped) => {
            Ok(S::Cancelled)
        }
        (A::Cancel, System, S::PendingPayment) => Ok(S::Cancelled),
        (A::Dispute, Buyer, S::Shipped | S::Delivered) => Ok(S::Disputed),
        (A::ResolveRelease, Operator, S::Disputed) => Ok(S::Completed),
        (A::ResolveRefund, Operator, S::Disputed) => Ok(S::Cancelled),
        (A::ResolveRelease | A::ResolveRefund, _, _) if actor != Operator => {
            Err("only an operator resolves a dispute")
        }
        (A::Dispute, Seller | System | Operator, _) => Err("only the buyer opens a dispute"),
        (_, Operator, _) => Err("operators only resolve disputes"),
        (A::Pay | A::AutoComplete, Buyer | Seller, _) => Err("only the platform does this"),
        (A::Process | A::Ship | A::Deliver, Buyer | System, _) => Err("only the seller does this"),
        (A::Confirm, Seller | System, _) => Err("only the buyer confirms delivery"),
        (A::Cancel, Buyer, S::Shipped | S::Delivered) => {
            Err("a shipped order can no longer be cancelled; open a dispute instead")
        }
        _ => Err("not possible in the order's current state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use OrderState as S;

    #[test]
    fn the_happy_path_runs_from_payment_to_completion() {
        let mut s = S::PendingPayment;
        for (action, actor) in [
            (A::Pay, Actor::System),
            (A::Process, Actor::Seller),
            (A::Ship, Actor::Seller),
            (A::Deliver, Actor::Seller),
            (A::Confirm, Actor::Buyer),
        ] {
            s = next(s, action, actor).unwrap();
        }
        assert_eq!(s, S::Completed);
        assert_eq!(
            next(S::Delivered, A::AutoComplete, Actor::System),
            Ok(S::Completed)
        );
    }

    #[test]
    fn each_party_does_only_its_own_steps() {
        assert!(next(S::Paid, A::Ship, Actor::Buyer).is_err());
        assert!(next(S::Delivered, A::Confirm, Actor::Seller).is_err());
        assert!(next(S::PendingPayment, A::Pay, Actor::Buyer).is_err());
        assert!(next(S::Shipped, A::Cancel, Actor::Buyer).is_err());
        assert_eq!(next(S::Shipped, A::Cancel, Actor::Seller), Ok(S::Cancelled));
        assert!(next(S::Paid, A::Cancel, Actor::System).is_err());
        assert!(next(S::Completed, A::Cancel, Actor::Seller).is_err());
        assert!(next(S::Cancelled, A::Pay, Actor::System).is_err());
        assert_eq!(
            next(S::Delivered, A::Dispute, Actor::Buyer),
            Ok(S::Disputed)
        );
        assert!(next(S::Paid, A::Dispute, Actor::Buyer).is_err());
        assert!(next(S::Disputed, A::ResolveRelease, Actor::Seller).is_err());
        assert_eq!(
            next(S::Disputed, A::ResolveRefund, Actor::Operator),
            Ok(S::Cancelled)
        );
        assert!(next(S::Disputed, A::Confirm, Actor::Buyer).is_err());
    }

    #[test]
    fn states_round_trip_through_their_text() {
        for s in [
            S::PendingPayment,
            S::Paid,
            S::Processing,
            S::Shipped,
            S::Delivered,
            S::Completed,
            S::Cancelled,
            S::Disputed,
        ] {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
        }
    }
}
