-- Account deletion (docs/payments.md, "Deleted accounts"). Auth refuses a deletion while any of
-- these is true (each row is a stable code it lists in its 409); once the account is deleted,
-- payments anonymises what identifies the person (numbers, labels, provider payloads) and keeps
-- the ledger, payables and intents, which accounting requires, under the bare user id.
CREATE FUNCTION payments.deletion_blockers(target uuid) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'payments.available_balance' WHERE EXISTS (
        SELECT 1 FROM payments.ledger_accounts a
        WHERE a.owner_id = target AND a.code = 'available'
          AND a.credits_posted - a.debits_posted - a.debits_pending > 0)
    UNION ALL
    SELECT 'payments.payout_in_flight' WHERE EXISTS (
        SELECT 1 FROM payments.disbursements d
        WHERE d.user_id = target AND d.kind = 'payout' AND d.state IN ('created', 'sent', 'unknown'))
    UNION ALL
    SELECT 'payments.refund_in_flight' WHERE EXISTS (
        SELECT 1 FROM payments.disbursements d
        WHERE d.user_id = target AND d.kind = 'refund' AND d.state IN ('created', 'sent', 'unknown'))
    UNION ALL
    SELECT 'payments.escrow_as_payer' WHERE EXISTS (
        SELECT 1 FROM payments.payables p WHERE p.payer_id = target AND p.state IN ('paid', 'frozen'))
    UNION ALL
    SELECT 'payments.escrow_as_payee' WHERE EXISTS (
        SELECT 1 FROM payments.payables p WHERE p.payee_id = target AND p.state IN ('paid', 'frozen'))
    UNION ALL
    SELECT 'payments.live_payment' WHERE EXISTS (
        SELECT 1 FROM payments.intents i
        WHERE i.payer_id = target AND i.state IN ('created', 'awaiting_customer', 'processing'))
$$;
REVOKE ALL ON FUNCTION payments.deletion_blockers(uuid) FROM PUBLIC;
GRANT USAGE ON SCHEMA payments TO nexgate_auth;
GRANT EXECUTE ON FUNCTION payments.deletion_blockers(uuid) TO nexgate_auth;

-- An erased method keeps its row (intents and disbursements point at it) but not its number.
ALTER TABLE payments.methods ADD COLUMN erased_at timestamptz;
ALTER TABLE payments.methods DROP CONSTRAINT methods_msisdn;
ALTER TABLE payments.methods ADD CONSTRAINT methods_msisdn
    CHECK (erased_at IS NOT NULL OR (kind = 'mobile_money') = (msisdn IS NOT NULL AND network IS NOT NULL));
ALTER TABLE payments.disbursements ALTER COLUMN msisdn DROP NOT NULL;
ALTER TABLE payments.disbursements ADD CONSTRAINT disbursements_msisdn_while_open
    CHECK (msisdn IS NOT NULL OR state IN ('succeeded', 'failed'));
-- The provider payloads of a deleted payer (they carry the number and sometimes a name).
ALTER TABLE payments.callbacks ADD COLUMN redacted_at timestamptz;
