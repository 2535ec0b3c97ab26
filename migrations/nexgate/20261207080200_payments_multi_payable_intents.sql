-- One mobile-money prompt for several payables of one payer (docs/payments.md, "Several payables,
-- one prompt"). The lead intent is the only one the provider sees, for the total
-- (`collect_amount`); every other payable gets a member intent (`lead_intent_id`) that settles in
-- the lead's transaction with the same outcome. So each payable keeps its own intent, ledger
-- credit, receipt, events and refunds, and nothing else in payments changes.
ALTER TABLE payments.intents ADD COLUMN lead_intent_id uuid;
ALTER TABLE payments.intents ADD COLUMN collect_amount bigint;
ALTER TABLE payments.intents ADD CONSTRAINT intents_lead_fkey
    FOREIGN KEY (lead_intent_id) REFERENCES payments.intents (id);
ALTER TABLE payments.intents ADD CONSTRAINT intents_collect_amount
    CHECK (collect_amount IS NULL OR (lead_intent_id IS NULL AND collect_amount > amount));
CREATE INDEX intents_lead_idx ON payments.intents (lead_intent_id) WHERE lead_intent_id IS NOT NULL;
-- The provider's transaction is credited once: through the lead (members repeat its id).
DROP INDEX payments.intents_provider_transaction_key;
CREATE UNIQUE INDEX intents_provider_transaction_key ON payments.intents (provider, provider_transaction_id)
    WHERE provider_transaction_id IS NOT NULL AND lead_intent_id IS NULL;
-- The sweeper asks the provider about leads only; members follow them.
DROP INDEX payments.intents_sweep_idx;
CREATE INDEX intents_sweep_idx ON payments.intents (next_check_at)
    WHERE state IN ('created', 'awaiting_customer', 'processing') AND NOT needs_review AND lead_intent_id IS NULL;
