-- The payment service's collections (issue "Payment service", docs/payments.md): payment methods,
-- payables created by the owning services, intents with their provider state machine, the raw
-- callbacks as received (the audit of who told us what), receipts, and named ledger accounts.

-- Named accounts: one provider clearing account per provider and currency, one escrow per payable,
-- one available balance per payee and currency, one platform-fee account per currency.
ALTER TABLE payments.ledger_accounts ADD COLUMN name text;
CREATE UNIQUE INDEX ledger_accounts_name_key ON payments.ledger_accounts (name) WHERE name IS NOT NULL;

-- The id of the named account, made on first use. `limit_side`: 'debits' (debits must not exceed
-- credits), 'credits' (the reverse) or NULL.
CREATE FUNCTION payments.named_account(p_name text, p_code text, p_owner uuid, p_currency text, p_limit_side text)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    found_id uuid;
BEGIN
    SELECT id INTO found_id FROM payments.ledger_accounts WHERE name = p_name;
    IF FOUND THEN RETURN found_id; END IF;
    INSERT INTO payments.ledger_accounts (id, name, code, owner_id, currency,
                                          debits_must_not_exceed_credits, credits_must_not_exceed_debits)
    VALUES (gen_random_uuid(), p_name, p_code, p_owner, p_currency,
            p_limit_side IS NOT DISTINCT FROM 'debits', p_limit_side IS NOT DISTINCT FROM 'credits')
    ON CONFLICT (name) WHERE name IS NOT NULL DO NOTHING;
    SELECT id INTO found_id FROM payments.ledger_accounts WHERE name = p_name;
    RETURN found_id;
END $$;

CREATE TABLE payments.methods (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    -- mobile_money | card (cards live at the provider's hosted page; we keep only its reference)
    kind text NOT NULL,
    -- What the method is for: paying, or receiving payouts (changes to these need a step-up).
    use text NOT NULL DEFAULT 'pay',
    -- E.164 digits without the plus (mobile money only).
    msisdn text,
    -- safaricom_ke, vodacom_tz, airtel_tz, tigo_tz, halotel_tz, ... (mobile money only)
    network text,
    provider text NOT NULL,
    currency text NOT NULL,
    label text NOT NULL,
    -- The provider's reference of a card (after its first checkout), never a card number.
    provider_reference text,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    removed_at timestamptz,
    CONSTRAINT methods_pkey PRIMARY KEY (id),
    CONSTRAINT methods_kind CHECK (kind IN ('mobile_money', 'card')),
    CONSTRAINT methods_use CHECK (use IN ('pay', 'payout')),
    CONSTRAINT methods_provider CHECK (provider IN ('daraja', 'selcom', 'tembo')),
    CONSTRAINT methods_msisdn CHECK ((kind = 'mobile_money') = (msisdn IS NOT NULL AND network IS NOT NULL)),
    CONSTRAINT methods_msisdn_format CHECK (msisdn IS NULL OR msisdn ~ '^[1-9][0-9]{7,14}$'),
    CONSTRAINT methods_label_length CHECK (char_length(label) BETWEEN 1 AND 60)
);
CREATE UNIQUE INDEX methods_live_number_key ON payments.methods (user_id, use, provider, msisdn)
    WHERE removed_at IS NULL AND msisdn IS NOT NULL;
CREATE UNIQUE INDEX methods_one_default_key ON payments.methods (user_id, use)
    WHERE removed_at IS NULL AND is_default;
CREATE INDEX methods_user_idx ON payments.methods (user_id, created_at) WHERE removed_at IS NULL;

CREATE TABLE payments.payables (
    id uuid NOT NULL,
    -- The service that sells (commerce, events, ...) and its own reference: unique together, so
    -- a retried create answers the same payable.
    owner_service text NOT NULL,
    reference text NOT NULL,
    -- order | ticket | installment | group_buy_share | buy_together_share
    purpose text NOT NULL,
    payer_id uuid NOT NULL,
    payee_id uuid NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    description text NOT NULL,
    -- on_confirmation (the owner releases) | after_dispute_window (released automatically)
    release_rule text NOT NULL,
    dispute_window_secs integer NOT NULL,
    -- The platform fee, in basis points, fixed when the payable is created.
    fee_bps integer NOT NULL,
    -- open → paid (held in escrow) → released | frozen → released | voided (refunded)
    state text NOT NULL DEFAULT 'open',
    paid_at timestamptz,
    release_after timestamptz,
    released_at timestamptz,
    frozen_reason text,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payables_pkey PRIMARY KEY (id),
    CONSTRAINT payables_reference_key UNIQUE (owner_service, reference),
    CONSTRAINT payables_purpose CHECK (purpose IN ('order', 'ticket', 'installment', 'group_buy_share', 'buy_together_share')),
    CONSTRAINT payables_release_rule CHECK (release_rule IN ('on_confirmation', 'after_dispute_window')),
    CONSTRAINT payables_state CHECK (state IN ('open', 'paid', 'released', 'frozen', 'voided')),
    CONSTRAINT payables_amount CHECK (amount > 0),
    CONSTRAINT payables_fee CHECK (fee_bps BETWEEN 0 AND 10000),
    CONSTRAINT payables_currency CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT payables_parties CHECK (payer_id <> payee_id)
);
CREATE INDEX payables_release_due_idx ON payments.payables (release_after) WHERE state = 'paid';
CREATE INDEX payables_payer_idx ON payments.payables (payer_id, created_at);

CREATE SEQUENCE payments.receipt_numbers;

CREATE TABLE payments.intents (
    id uuid NOT NULL,
    payable_id uuid NOT NULL,
    payer_id uuid NOT NULL,
    method_id uuid NOT NULL,
    provider text NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    -- created → awaiting_customer → processing → succeeded | failed | expired;
    -- succeeded → refunded | partially_refunded
    state text NOT NULL DEFAULT 'created',
    -- What the provider calls the request (CheckoutRequestID, Selcom order_id, Tembo transactionRef).
    provider_request_id text,
    -- What the provider calls the payment once it happened (MpesaReceiptNumber, transid, transactionId).
    provider_transaction_id text,
    -- SHA-256 of the secret in this intent's callback URL (M-Pesa does not sign its callbacks).
    callback_secret_sha256 bytea NOT NULL,
    checkout_url text,
    failure_code text,
    failure_reason text,
    -- The sweeper: how often it asked the provider, and when it asks next.
    status_checks integer NOT NULL DEFAULT 0,
    next_check_at timestamptz NOT NULL,
    needs_review boolean NOT NULL DEFAULT false,
    receipt_number text,
    refunded_amount bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    CONSTRAINT intents_pkey PRIMARY KEY (id),
    CONSTRAINT intents_payable_fkey FOREIGN KEY (payable_id) REFERENCES payments.payables (id),
    CONSTRAINT intents_method_fkey FOREIGN KEY (method_id) REFERENCES payments.methods (id),
    CONSTRAINT intents_state CHECK (state IN ('created', 'awaiting_customer', 'processing', 'succeeded', 'failed', 'expired', 'refunded', 'partially_refunded')),
    CONSTRAINT intents_amount CHECK (amount > 0),
    CONSTRAINT intents_refunded CHECK (refunded_amount BETWEEN 0 AND amount)
);
-- A payable has at most one intent that is live or paid.
CREATE UNIQUE INDEX intents_one_live_per_payable ON payments.intents (payable_id)
    WHERE state NOT IN ('failed', 'expired');
-- Each provider payment is credited at most once.
CREATE UNIQUE INDEX intents_provider_transaction_key ON payments.intents (provider, provider_transaction_id)
    WHERE provider_transaction_id IS NOT NULL;
CREATE UNIQUE INDEX intents_provider_request_key ON payments.intents (provider, provider_request_id)
    WHERE provider_request_id IS NOT NULL;
CREATE UNIQUE INDEX intents_receipt_key ON payments.intents (receipt_number) WHERE receipt_number IS NOT NULL;
CREATE INDEX intents_sweep_idx ON payments.intents (next_check_at)
    WHERE state IN ('created', 'awaiting_customer', 'processing') AND NOT needs_review;
CREATE INDEX intents_payer_idx ON payments.intents (payer_id, created_at, id);

-- Every callback as it arrived, with what we did about it.
CREATE TABLE payments.callbacks (
    id uuid NOT NULL,
    provider text NOT NULL,
    intent_id uuid,
    body jsonb NOT NULL,
    -- applied | duplicate | ignored | rejected
    outcome text NOT NULL,
    detail text,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT callbacks_pkey PRIMARY KEY (id)
);
CREATE INDEX callbacks_intent_idx ON payments.callbacks (intent_id, received_at);
