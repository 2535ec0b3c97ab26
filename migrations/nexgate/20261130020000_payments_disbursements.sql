-- Refunds and payouts (docs/payments.md, "Refunds and payouts"): money out of a ledger account to a
-- mobile number through the provider that serves it. The amount is reserved with a pending ledger
-- transfer (id = the disbursement's id) before the provider is asked, and posted or voided once
-- when the provider's answer is known. An unclear answer is queried, never re-sent.

CREATE TABLE payments.disbursements (
    id uuid NOT NULL,
    -- refund (back to the payer, from a payable's escrow) | payout (to a payee, from their available balance)
    kind text NOT NULL,
    intent_id uuid,
    payable_id uuid,
    method_id uuid,
    -- Who receives the money.
    user_id uuid NOT NULL,
    provider text NOT NULL,
    msisdn text NOT NULL,
    network text NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    -- created (reserved) → sent (the provider took it) → succeeded | failed; unknown: no clear
    -- answer yet, the sweeper asks.
    state text NOT NULL DEFAULT 'created',
    provider_request_id text,
    provider_transaction_id text,
    failure_code text,
    failure_reason text,
    callback_secret_sha256 bytea NOT NULL,
    -- A fresh secret per status query whose answer comes by callback (Daraja's transaction status).
    query_secret_sha256 bytea,
    reason text NOT NULL,
    requested_by text NOT NULL,
    status_checks integer NOT NULL DEFAULT 0,
    next_check_at timestamptz NOT NULL,
    needs_review boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    CONSTRAINT disbursements_pkey PRIMARY KEY (id),
    CONSTRAINT disbursements_kind CHECK (kind IN ('refund', 'payout')),
    CONSTRAINT disbursements_refund_has_intent CHECK ((kind = 'refund') = (intent_id IS NOT NULL AND payable_id IS NOT NULL)),
    CONSTRAINT disbursements_intent_fkey FOREIGN KEY (intent_id) REFERENCES payments.intents (id),
    CONSTRAINT disbursements_payable_fkey FOREIGN KEY (payable_id) REFERENCES payments.payables (id),
    CONSTRAINT disbursements_method_fkey FOREIGN KEY (method_id) REFERENCES payments.methods (id),
    CONSTRAINT disbursements_state CHECK (state IN ('created', 'sent', 'succeeded', 'failed', 'unknown')),
    CONSTRAINT disbursements_amount CHECK (amount > 0),
    CONSTRAINT disbursements_reason_length CHECK (char_length(reason) BETWEEN 1 AND 200)
);
CREATE UNIQUE INDEX disbursements_provider_transaction_key ON payments.disbursements (provider, provider_transaction_id)
    WHERE provider_transaction_id IS NOT NULL;
CREATE INDEX disbursements_sweep_idx ON payments.disbursements (next_check_at)
    WHERE state IN ('created', 'sent', 'unknown') AND NOT needs_review;
CREATE INDEX disbursements_user_idx ON payments.disbursements (user_id, created_at);
CREATE INDEX disbursements_payable_idx ON payments.disbursements (payable_id) WHERE payable_id IS NOT NULL;

-- A payable whose whole payment went back to the payer.
ALTER TABLE payments.payables DROP CONSTRAINT payables_state;
ALTER TABLE payments.payables ADD CONSTRAINT payables_state
    CHECK (state IN ('open', 'paid', 'released', 'frozen', 'voided', 'refunded'));
-- Refunded (or reserved for a refund in flight) out of the payment; never more than was paid.
ALTER TABLE payments.payables ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0;
ALTER TABLE payments.payables ADD CONSTRAINT payables_refunded CHECK (refunded_amount BETWEEN 0 AND amount);
