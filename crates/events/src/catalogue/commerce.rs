//! The event types of the marketplace (to be built: issues "E-Commerce service"): `commerce.*`.

use uuid::Uuid;

event_types! {
    producer: "commerce";

    OrderCompleted {
        name: "commerce.order.completed",
        version: 1,
        secret: false,
        description: "An order was completed: the buyer confirmed receipt or the dispute window passed and escrow was released. Consumed by profiles (trust score). Audience: buyer and seller.",
        data: {
            order_id: Uuid = "string (uuid)",
            seller_id: Uuid = "string (uuid): the selling user",
            buyer_id: Uuid = "string (uuid)",
        }
    }

    OrderCancelled {
        name: "commerce.order.cancelled",
        version: 1,
        secret: false,
        description: "An order was cancelled. Consumed by profiles (trust score counts cancellations by the seller). Audience: buyer and seller.",
        data: {
            order_id: Uuid = "string (uuid)",
            seller_id: Uuid = "string (uuid)",
            buyer_id: Uuid = "string (uuid)",
            cancelled_by: String = "string: seller, buyer or system",
        }
    }

    ReviewCreated {
        name: "commerce.review.created",
        version: 1,
        secret: false,
        description: "A buyer reviewed a seller after an order. Consumed by profiles (trust score) and the notifier (review received). Audience: the seller.",
        data: {
            review_id: Uuid = "string (uuid)",
            seller_id: Uuid = "string (uuid)",
            author_id: Uuid = "string (uuid)",
            rating: i64 = "integer: 1 to 5",
        }
    }

    OrderPlaced {
        name: "commerce.order.placed",
        version: 1,
        secret: false,
        description: "A buyer placed an order and paid it into escrow (emitted when paid: a seller never hears of an unpaid order). Consumed by the notifier. Audience: buyer and seller.",
        data: {
            order_id: Uuid = "string (uuid)",
            buyer_id: Uuid = "string (uuid)",
            seller_id: Uuid = "string (uuid): the shop's owner",
            shop_id: Uuid = "string (uuid)",
            total: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
        }
    }

    OrderShipped {
        name: "commerce.order.shipped",
        version: 1,
        secret: false,
        description: "The seller shipped an order. Consumed by the notifier. Audience: the buyer.",
        data: {
            order_id: Uuid = "string (uuid)",
            buyer_id: Uuid = "string (uuid)",
            shop_id: Uuid = "string (uuid)",
            tracking_number: Option<String> = "string",
        }
    }

    OrderDelivered {
        name: "commerce.order.delivered",
        version: 1,
        secret: false,
        description: "An order was delivered. Consumed by the notifier. Audience: buyer and seller.",
        data: {
            order_id: Uuid = "string (uuid)",
            buyer_id: Uuid = "string (uuid)",
            seller_id: Uuid = "string (uuid)",
        }
    }

    StockLow {
        name: "commerce.stock.low",
        version: 1,
        secret: false,
        description: "A sale left a variant with few units available (at or below the shop's threshold, 5). Audience: the seller.",
        data: {
            variant_id: Uuid = "string (uuid)",
            product_id: Uuid = "string (uuid)",
            shop_id: Uuid = "string (uuid)",
            seller_id: Uuid = "string (uuid): the shop's owner",
            available: i64 = "integer: units left to sell",
        }
    }

    StockRestocked {
        name: "commerce.stock.restocked",
        version: 1,
        secret: false,
        description: "A variant that was sold out can be bought again (back in stock). Consumed by the notifier. Audience: the users whose wishlist holds the product (that variant, or any). At most 1,000 named.",
        data: {
            variant_id: Uuid = "string (uuid)",
            product_id: Uuid = "string (uuid)",
            shop_id: Uuid = "string (uuid)",
            available: i64 = "integer: units available now",
        }
    }

    SellerVerificationDecided {
        name: "commerce.seller_verification.decided",
        version: 1,
        secret: false,
        description: "An operator decided a shop owner's request for business verification (an approval has already moved the level through profiles). Consumed by the notifier. Audience: the owner.",
        data: {
            request_id: Uuid = "string (uuid)",
            shop_id: Uuid = "string (uuid)",
            decision: String = "string: approved or rejected",
            reason: String = "string: the operator's reason, shown to the owner",
        }
    }

    PriceDropped {
        name: "commerce.price.dropped",
        version: 1,
        secret: false,
        description: "A variant's price went down (at most once per product per day). Consumed by the notifier. Audience: the users whose wishlist holds the product. At most 1,000 named.",
        data: {
            product_id: Uuid = "string (uuid)",
            variant_id: Uuid = "string (uuid)",
            old_price: i64 = "integer: minor units",
            new_price: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
        }
    }

    GroupBuyProgressed {
        name: "commerce.group_buy.progressed",
        version: 1,
        secret: false,
        description: "A group buy gained participants. Consumed by the notifier (grouped). Audience: its participants.",
        data: {
            group_buy_id: Uuid = "string (uuid)",
            product_id: Uuid = "string (uuid)",
            participants: i64 = "integer: joined so far",
            target: i64 = "integer: participants needed",
            ends_at: String = "string: RFC 3339",
        }
    }

    InstallmentScheduled {
        name: "commerce.installment.scheduled",
        version: 1,
        secret: false,
        description: "An installment plan set a due date. The notifier schedules its reminder from it. Audience: the buyer.",
        data: {
            installment_id: Uuid = "string (uuid)",
            order_id: Uuid = "string (uuid)",
            buyer_id: Uuid = "string (uuid)",
            due_at: String = "string: RFC 3339",
            amount: i64 = "integer: minor units",
            currency: String = "string: ISO 4217",
        }
    }
}
