//! The catalogue of every event type: its producer, data fields and version.
//!
//! A type is named after its producer's schema (`<schema>.<entity>.<verb>`); `platform.*` is the
//! platform's own. Whoever needs a type first adds it here and to `docs/events.md` (a test keeps the
//! two in step), after checking it is not already here under another name.

/// One data field of an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataField {
    pub name: &'static str,
    /// JSON type and meaning, as documented.
    pub description: &'static str,
    pub required: bool,
}

/// One event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    pub name: &'static str,
    /// The schema (or `platform`) that produces it.
    pub producer: &'static str,
    pub version: u32,
    pub description: &'static str,
    pub data_fields: &'static [DataField],
    /// Carries a one-time secret (a code, a reset link): purged from the outbox once published,
    /// delivered regardless of preferences.
    pub carries_secret: bool,
}

/// Every event type.
pub const CATALOGUE: &[EventType] = &[
    EventType {
    name: "platform.health.checked",
    producer: "platform",
    version: 1,
    description: "The health component checked its dependencies (proves the MQTT path end to end).",
    data_fields: &[
        DataField {
            name: "component",
            description: "string: the component that checked",
            required: true,
        },
        DataField {
            name: "checked_at",
            description: "string: RFC 3339 time of the check",
            required: true,
        },
    ],
    carries_secret: false,
    },
    EventType {
        name: "auth.account.created",
        producer: "auth",
        version: 1,
        description: "A registration was verified: the account and its profile now exist. Audience: the new user (welcome message).",
        data_fields: &[
            DataField {
                name: "user_id",
                description: "string (uuid): the new account",
                required: true,
            },
            DataField {
                name: "channel",
                description: "string: email or phone (the verified contact point), or google, apple or facebook for an account made through that provider",
                required: true,
            },
            DataField {
                name: "username",
                description: "string: the username claimed",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "auth.verification_code.issued",
        producer: "auth",
        version: 1,
        description: "A one-time code must reach an email address or phone. Carries a secret, sealed to the notifier (see Sealed secrets); purged from the outbox once published; delivered regardless of preferences and quiet hours.",
        data_fields: &[
            DataField {
                name: "purpose",
                description: "string: registration (later also contact_change)",
                required: true,
            },
            DataField {
                name: "channel",
                description: "string: email or phone",
                required: true,
            },
            DataField {
                name: "address",
                description: "string: the email address or E.164 number to send to",
                required: true,
            },
            DataField {
                name: "code",
                description: "string, sealed: the 6-digit code",
                required: true,
            },
            DataField {
                name: "expires_at",
                description: "string: RFC 3339 time after which the code is refused",
                required: true,
            },
        ],
        carries_secret: true,
    },
    EventType {
        name: "auth.registration.address_in_use",
        producer: "auth",
        version: 1,
        description: "Someone tried to register with an email or phone that already has an account; its owner gets this notice instead of a code (the registrant sees the same answer either way). Audience: the owner.",
        data_fields: &[
            DataField {
                name: "channel",
                description: "string: email or phone",
                required: true,
            },
            DataField {
                name: "address",
                description: "string: the address the attempt used",
                required: true,
            },
            DataField {
                name: "attempted_at",
                description: "string: RFC 3339 time of the attempt",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "auth.login.new_device",
        producer: "auth",
        version: 1,
        description: "A login from a device never seen for this account. Audience: the account's user.",
        data_fields: &[
            DataField {
                name: "session_id",
                description: "string (uuid): the new session",
                required: true,
            },
            DataField {
                name: "device_name",
                description: "string: the name the app reported",
                required: true,
            },
            DataField {
                name: "platform",
                description: "string: ios, android, web, desktop or other",
                required: true,
            },
            DataField {
                name: "ip",
                description: "string or null: the client address",
                required: false,
            },
            DataField {
                name: "logged_in_at",
                description: "string: RFC 3339 time of the login",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "auth.suspicious_activity.detected",
        producer: "auth",
        version: 1,
        description: "Something looked like an attack on an account: a login lockout after repeated failures, or a rotated refresh token presented again (its session family was revoked). Audience: the account's user when the identifier matched an account, else nobody.",
        data_fields: &[
            DataField {
                name: "reason",
                description: "string: login_lockout or refresh_token_reuse",
                required: true,
            },
            DataField {
                name: "ip",
                description: "string or null: the client address",
                required: false,
            },
            DataField {
                name: "locked_for_secs",
                description: "integer: for login_lockout, how long logins are refused",
                required: false,
            },
            DataField {
                name: "session_id",
                description: "string (uuid): for refresh_token_reuse, the revoked session",
                required: false,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "auth.password_reset.requested",
        producer: "auth",
        version: 1,
        description: "Someone asked to reset the password of an account; the link goes to its verified email (else phone). Carries a secret, sealed to the notifier (see Sealed secrets); purged from the outbox once published; delivered regardless of preferences. Audience: the account's user.",
        data_fields: &[
            DataField {
                name: "channel",
                description: "string: email or phone",
                required: true,
            },
            DataField {
                name: "address",
                description: "string: where to send the link",
                required: true,
            },
            DataField {
                name: "token",
                description: "string: the single-use reset token",
                required: true,
            },
            DataField {
                name: "link",
                description: "string: public_base_url + /reset-password?token=...",
                required: true,
            },
            DataField {
                name: "expires_at",
                description: "string: RFC 3339 time after which the token is refused",
                required: true,
            },
        ],
        carries_secret: true,
    },
    EventType {
        name: "auth.password.changed",
        producer: "auth",
        version: 1,
        description: "An account's password was reset or changed (security notice). Audience: the account's user.",
        data_fields: &[
            DataField {
                name: "how",
                description: "string: reset or change",
                required: true,
            },
            DataField {
                name: "ip",
                description: "string or null: the client address",
                required: false,
            },
            DataField {
                name: "changed_at",
                description: "string: RFC 3339 time of the change",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "auth.mfa.enabled",
        producer: "auth",
        version: 1,
        description: "Two-factor authentication was turned on for an account (security notice). Audience: the account's user.",
        data_fields: &[
            DataField {
                name: "method",
                description: "string: totp",
                required: true,
            },
            DataField {
                name: "session_id",
                description: "string (uuid): the session that turned it on",
                required: true,
            },
            DataField {
                name: "at",
                description: "string: RFC 3339 time",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "auth.mfa.disabled",
        producer: "auth",
        version: 1,
        description: "Two-factor authentication was turned off for an account (security notice). Audience: the account's user.",
        data_fields: &[
            DataField {
                name: "method",
                description: "string: totp",
                required: true,
            },
            DataField {
                name: "session_id",
                description: "string (uuid): the session that turned it off",
                required: true,
            },
            DataField {
                name: "at",
                description: "string: RFC 3339 time",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "profiles.profile.updated",
        producer: "profiles",
        version: 1,
        description: "A user changed their profile (name, bio, links, privacy). Audience: the user (other services refresh cached cards).",
        data_fields: &[
            DataField {
                name: "user_id",
                description: "string (uuid): whose profile",
                required: true,
            },
            DataField {
                name: "fields",
                description: "array of strings: the columns that changed",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "profiles.follow.created",
        producer: "profiles",
        version: 1,
        description: "A user followed a public account. Audience: the followed user (new follower).",
        data_fields: &[
            DataField {
                name: "follower_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "followee_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "profiles.follow_request.created",
        producer: "profiles",
        version: 1,
        description: "A user asked to follow a private account. Audience: the private account's owner.",
        data_fields: &[
            DataField {
                name: "requester_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "target_id",
                description: "string (uuid): the private account",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "profiles.follow_request.approved",
        producer: "profiles",
        version: 1,
        description: "A private account approved a follow request; the follow now exists. Audience: the requester.",
        data_fields: &[
            DataField {
                name: "requester_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "target_id",
                description: "string (uuid): the private account",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "profiles.block.created",
        producer: "profiles",
        version: 1,
        description: "A user blocked another: follows both ways are gone and each is hidden from the other; services drop cached content between them. Audience: the blocker only (the blocked user is never told).",
        data_fields: &[
            DataField {
                name: "blocker_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "blocked_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "created_at",
                description: "string: RFC 3339 time",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "auth.contact.changed",
        producer: "auth",
        version: 1,
        description: "An account's email address or phone number was added or replaced after the new one was verified. Tell the old address (when there was one) and the user. Audience: the account's user.",
        data_fields: &[
            DataField {
                name: "channel",
                description: "string: email or phone",
                required: true,
            },
            DataField {
                name: "old_address",
                description: "string or null: the address replaced (send the notice here)",
                required: false,
            },
            DataField {
                name: "new_address",
                description: "string: the verified new address",
                required: true,
            },
            DataField {
                name: "changed_at",
                description: "string: RFC 3339 time",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "profiles.verification.changed",
        producer: "profiles",
        version: 1,
        description: "An operator changed a user's verification level (identity or business granted, or dropped back to what the contact points give). Audience: the user.",
        data_fields: &[
            DataField {
                name: "user_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "previous_level",
                description: "string: none, contact, identity or business",
                required: true,
            },
            DataField {
                name: "level",
                description: "string: the new effective level",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "commerce.order.completed",
        producer: "commerce",
        version: 1,
        description: "An order was completed: the buyer confirmed receipt or the dispute window passed and escrow was released. Consumed by profiles (trust score). Audience: buyer and seller.",
        data_fields: &[
            DataField {
                name: "order_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "seller_id",
                description: "string (uuid): the selling user",
                required: true,
            },
            DataField {
                name: "buyer_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "commerce.order.cancelled",
        producer: "commerce",
        version: 1,
        description: "An order was cancelled. Consumed by profiles (trust score counts cancellations by the seller). Audience: buyer and seller.",
        data_fields: &[
            DataField {
                name: "order_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "seller_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "buyer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "cancelled_by",
                description: "string: seller, buyer or system",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "commerce.review.created",
        producer: "commerce",
        version: 1,
        description: "A buyer reviewed a seller after an order. Consumed by profiles (trust score) and the notifier (review received). Audience: the seller.",
        data_fields: &[
            DataField {
                name: "review_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "seller_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "author_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "rating",
                description: "integer: 1 to 5",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "events.ticket.purchased",
        producer: "events",
        version: 1,
        description: "A ticket was bought and paid for. Consumed by profiles (the organizer's completed transactions) and the notifier. Audience: the buyer.",
        data_fields: &[
            DataField {
                name: "ticket_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "event_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "organizer_id",
                description: "string (uuid): the organizing user",
                required: true,
            },
            DataField {
                name: "buyer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "starts_at",
                description: "string: RFC 3339, when the event starts (the notifier schedules reminders at T-24h and T-1h)",
                required: false,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "events.event.cancelled",
        producer: "events",
        version: 1,
        description: "An organizer cancelled an event. Consumed by profiles (the organizer's cancellations) and the notifier. Audience: ticket holders.",
        data_fields: &[
            DataField {
                name: "event_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "organizer_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "payments.refund.processed",
        producer: "payments",
        version: 1,
        description: "A refund reached the payer. Consumed by profiles (the payee's refunds) and the notifier. Audience: payer and payee.",
        data_fields: &[
            DataField {
                name: "refund_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payee_id",
                description: "string (uuid): the seller or organizer refunded from",
                required: true,
            },
            DataField {
                name: "payer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "amount",
                description: "integer: minor units",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "payments.dispute.opened",
        producer: "payments",
        version: 1,
        description: "A payer opened a dispute on a payment held in escrow. Consumed by profiles (the payee's disputes). Audience: payer and payee.",
        data_fields: &[
            DataField {
                name: "dispute_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payee_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payer_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "files.file.ready",
        producer: "files",
        version: 1,
        description: "A file finished processing: its variants (and for a video its renditions and poster) are in storage. Also sent again when the media worker adds WebP variants to an image. Audience: the owner.",
        data_fields: &[
            DataField {
                name: "file_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "owner_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "purpose",
                description: "string: avatar, cover, post, product, event or message",
                required: true,
            },
            DataField {
                name: "kind",
                description: "string: image or video",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "files.file.failed",
        producer: "files",
        version: 1,
        description: "A file could not be processed (corrupt or hostile input, over a limit found only while processing, such as a video's duration). Audience: the owner.",
        data_fields: &[
            DataField {
                name: "file_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "owner_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "purpose",
                description: "string",
                required: true,
            },
            DataField {
                name: "reason",
                description: "string: why, fit to show the user",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "files.media_job.requested",
        producer: "files",
        version: 2,
        description: "Work for the native media worker (consumed from its own queue, not by the dispatcher): transcode an uploaded video, or add WebP variants to a processed image. Names the job only: the worker reads what to do from GET /internal/files/jobs/{job_id}, never buckets or keys from the bus. Audience: none.",
        data_fields: &[
            DataField {
                name: "job",
                description: "string: transcode_video or webp_variants",
                required: true,
            },
            DataField {
                name: "job_id",
                description: "string (uuid): the job, as the File Manager keeps it",
                required: true,
            },
            DataField {
                name: "file_id",
                description: "string (uuid): the job's file",
                required: true,
            },
            DataField {
                name: "owner_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "auth.identity.linked",
        producer: "auth",
        version: 1,
        description: "An identity provider's sign-in (Google, Apple) was linked to an existing account because the provider vouched for the account's email. Security notice for the owner. Audience: the user.",
        data_fields: &[
            DataField {
                name: "user_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "provider",
                description: "string: google, apple or facebook",
                required: true,
            },
            DataField {
                name: "email",
                description: "string: the email that matched",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "payments.payment.succeeded",
        producer: "payments",
        version: 1,
        description: "A payment for a payable succeeded and is held in escrow. Consumed by the owning service (by owner_service and reference) and the notifier. Audience: the payer.",
        data_fields: &[
            DataField {
                name: "intent_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payable_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payee_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "owner_service",
                description: "string: the service that owns the payable",
                required: true,
            },
            DataField {
                name: "reference",
                description: "string: the owning service's reference",
                required: true,
            },
            DataField {
                name: "purpose",
                description: "string: order, ticket, installment, group_buy_share, buy_together_share",
                required: true,
            },
            DataField {
                name: "amount",
                description: "integer: minor units",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
            DataField {
                name: "receipt_number",
                description: "string: our receipt number",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "payments.payment.failed",
        producer: "payments",
        version: 1,
        description: "A payment attempt failed definitively (the provider's code and words). Consumed by the owning service and the notifier. Audience: the payer.",
        data_fields: &[
            DataField {
                name: "intent_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payable_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "owner_service",
                description: "string",
                required: true,
            },
            DataField {
                name: "reference",
                description: "string",
                required: true,
            },
            DataField {
                name: "amount",
                description: "integer: minor units",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
            DataField {
                name: "code",
                description: "string: the provider's result code",
                required: true,
            },
            DataField {
                name: "reason",
                description: "string: the provider's description",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "payments.payment.received",
        producer: "payments",
        version: 1,
        description: "Money for the payee arrived and is held in escrow until released. Consumed by the notifier. Audience: the payee.",
        data_fields: &[
            DataField {
                name: "intent_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payable_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payee_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "owner_service",
                description: "string",
                required: true,
            },
            DataField {
                name: "reference",
                description: "string",
                required: true,
            },
            DataField {
                name: "purpose",
                description: "string",
                required: true,
            },
            DataField {
                name: "amount",
                description: "integer: minor units",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
            DataField {
                name: "receipt_number",
                description: "string",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "payments.escrow.released",
        producer: "payments",
        version: 1,
        description: "A payable's escrow went to the payee's available balance, minus the platform fee. Consumed by the notifier. Audience: the payee.",
        data_fields: &[
            DataField {
                name: "payable_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payee_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "payer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "owner_service",
                description: "string",
                required: true,
            },
            DataField {
                name: "reference",
                description: "string",
                required: true,
            },
            DataField {
                name: "amount",
                description: "integer: minor units credited to the payee (after the fee)",
                required: true,
            },
            DataField {
                name: "fee",
                description: "integer: minor units kept as the platform fee",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
            DataField {
                name: "reason",
                description: "string: why (released by owner, dispute window passed)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "payments.payout.sent",
        producer: "payments",
        version: 1,
        description: "A payout reached the seller's or organizer's number. Consumed by the notifier. Audience: the payee.",
        data_fields: &[
            DataField {
                name: "payout_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "user_id",
                description: "string (uuid): who was paid",
                required: true,
            },
            DataField {
                name: "amount",
                description: "integer: minor units",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
            DataField {
                name: "provider",
                description: "string: daraja, selcom or tembo",
                required: true,
            },
            DataField {
                name: "provider_reference",
                description: "string: the provider's transaction id",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "payments.payout.failed",
        producer: "payments",
        version: 1,
        description: "A payout failed definitively; the amount is back in the available balance. Consumed by the notifier. Audience: the payee.",
        data_fields: &[
            DataField {
                name: "payout_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "user_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "amount",
                description: "integer: minor units",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
            DataField {
                name: "code",
                description: "string: the provider's result code",
                required: true,
            },
            DataField {
                name: "reason",
                description: "string: the provider's description",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "dm.message.created",
        producer: "dm",
        version: 1,
        description: "A direct message was sent. Consumed by the notifier. Audience: the conversation's other members.",
        data_fields: &[
            DataField {
                name: "message_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "conversation_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "sender_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "preview",
                description: "string: the first 80 characters of text (empty for media); never for end-to-end encrypted bodies",
                required: false,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "dm.reaction.created",
        producer: "dm",
        version: 1,
        description: "Someone reacted to a direct message. Consumed by the notifier. Audience: the message's author.",
        data_fields: &[
            DataField {
                name: "message_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "conversation_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "reactor_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "author_id",
                description: "string (uuid): the message's author",
                required: true,
            },
            DataField {
                name: "emoji",
                description: "string",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "commerce.order.placed",
        producer: "commerce",
        version: 1,
        description: "A buyer placed an order. Consumed by the notifier. Audience: buyer and seller.",
        data_fields: &[
            DataField {
                name: "order_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "buyer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "seller_id",
                description: "string (uuid): the shop's owner",
                required: true,
            },
            DataField {
                name: "shop_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "total",
                description: "integer: minor units",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "commerce.order.shipped",
        producer: "commerce",
        version: 1,
        description: "The seller shipped an order. Consumed by the notifier. Audience: the buyer.",
        data_fields: &[
            DataField {
                name: "order_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "buyer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "shop_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "tracking_number",
                description: "string",
                required: false,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "commerce.order.delivered",
        producer: "commerce",
        version: 1,
        description: "An order was delivered. Consumed by the notifier. Audience: buyer and seller.",
        data_fields: &[
            DataField {
                name: "order_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "buyer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "seller_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "commerce.group_buy.progressed",
        producer: "commerce",
        version: 1,
        description: "A group buy gained participants. Consumed by the notifier (grouped). Audience: its participants.",
        data_fields: &[
            DataField {
                name: "group_buy_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "product_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "participants",
                description: "integer: joined so far",
                required: true,
            },
            DataField {
                name: "target",
                description: "integer: participants needed",
                required: true,
            },
            DataField {
                name: "ends_at",
                description: "string: RFC 3339",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "commerce.installment.scheduled",
        producer: "commerce",
        version: 1,
        description: "An installment plan set a due date. The notifier schedules its reminder from it. Audience: the buyer.",
        data_fields: &[
            DataField {
                name: "installment_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "order_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "buyer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "due_at",
                description: "string: RFC 3339",
                required: true,
            },
            DataField {
                name: "amount",
                description: "integer: minor units",
                required: true,
            },
            DataField {
                name: "currency",
                description: "string: ISO 4217",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "events.ticket.checked_in",
        producer: "events",
        version: 1,
        description: "A ticket was checked in (app, scanner, manual code or kiosk). Consumed by the notifier. Audience: the holder.",
        data_fields: &[
            DataField {
                name: "ticket_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "event_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "holder_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "method",
                description: "string: app, scanner, manual, kiosk",
                required: true,
            },
            DataField {
                name: "day",
                description: "string: the event day (YYYY-MM-DD) for multi-day events",
                required: false,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "events.event.starting_soon",
        producer: "events",
        version: 1,
        description: "An event starts within the hour. Consumed by the notifier. Audience: ticket holders.",
        data_fields: &[
            DataField {
                name: "event_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "organizer_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "starts_at",
                description: "string: RFC 3339",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "social.post.liked",
        producer: "social",
        version: 1,
        description: "Someone liked a post. Consumed by the notifier (grouped per post). Audience: the post's author.",
        data_fields: &[
            DataField {
                name: "post_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "author_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "liker_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "social.comment.created",
        producer: "social",
        version: 1,
        description: "Someone commented on a post. Consumed by the notifier (grouped per post). Audience: the post's author.",
        data_fields: &[
            DataField {
                name: "comment_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "post_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "author_id",
                description: "string (uuid): the post's author",
                required: true,
            },
            DataField {
                name: "commenter_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "preview",
                description: "string: the first 80 characters",
                required: false,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "social.post.reposted",
        producer: "social",
        version: 1,
        description: "Someone reposted a post. Consumed by the notifier (grouped per post). Audience: the post's author.",
        data_fields: &[
            DataField {
                name: "post_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "author_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "reposter_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "social.mention.created",
        producer: "social",
        version: 1,
        description: "Someone @mentioned a user in a post, comment or bio (the one mention type for profiles and social). Consumed by the notifier. Audience: the mentioned user.",
        data_fields: &[
            DataField {
                name: "mentioned_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "mentioner_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "context",
                description: "string: post, comment or bio",
                required: true,
            },
            DataField {
                name: "post_id",
                description: "string (uuid)",
                required: false,
            },
            DataField {
                name: "comment_id",
                description: "string (uuid)",
                required: false,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "social.shop.mentioned",
        producer: "social",
        version: 1,
        description: "Someone $mentioned a shop in a post. Consumed by the notifier. Audience: the shop's owner.",
        data_fields: &[
            DataField {
                name: "shop_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "shop_owner_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "mentioner_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "post_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "social.poll.ended",
        producer: "social",
        version: 1,
        description: "A poll closed. Consumed by the notifier. Audience: the author and the voters.",
        data_fields: &[
            DataField {
                name: "poll_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "post_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "author_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
    EventType {
        name: "social.collaboration.invited",
        producer: "social",
        version: 1,
        description: "A user was invited to co-author a post. Consumed by the notifier. Audience: the invitee.",
        data_fields: &[
            DataField {
                name: "post_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "inviter_id",
                description: "string (uuid)",
                required: true,
            },
            DataField {
                name: "invitee_id",
                description: "string (uuid)",
                required: true,
            },
        ],
        carries_secret: false,
    },
];

/// Finds a type by name.
pub fn find(name: &str) -> Option<&'static EventType> {
    CATALOGUE.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_three_lowercase_parts_named_after_the_producer() {
        for t in CATALOGUE {
            let parts: Vec<&str> = t.name.split('.').collect();
            assert_eq!(parts.len(), 3, "{}", t.name);
            assert_eq!(parts[0], t.producer, "{}", t.name);
            assert!(
                t.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }

    #[test]
    fn docs_events_md_lists_exactly_the_catalogue() {
        let doc = include_str!("../../../docs/events.md");
        let documented: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("### `").and_then(|r| r.strip_suffix('`')))
            .collect();
        let mut catalogued: Vec<&str> = CATALOGUE.iter().map(|t| t.name).collect();
        let mut documented_sorted = documented.clone();
        catalogued.sort();
        documented_sorted.sort();
        assert_eq!(
            documented_sorted, catalogued,
            "docs/events.md and the catalogue disagree"
        );
        for t in CATALOGUE {
            let section = doc.split(&format!("### `{}`", t.name)).nth(1).unwrap();
            let section = section.split("\n### ").next().unwrap();
            for f in t.data_fields {
                assert!(
                    section.contains(&format!("`{}`", f.name)),
                    "{}: field {} undocumented",
                    t.name,
                    f.name
                );
            }
        }
    }
}
