-- The payment service's ledger (issue "Payment service", docs/payments.md): double-entry in
-- Postgres, modelled on TigerBeetle. Accounts carry their running balances; transfers are the
-- immutable journal (one debit and one credit of the same amount, so every transfer balances by
-- construction); two-phase transfers reserve with `pending`, then `post_pending` or
-- `void_pending` resolves the reservation exactly once; every transfer is idempotent on its id.
-- `payments.create_transfer` is the only writer.

SELECT platform.install_service_tables('payments');

CREATE TABLE payments.ledger_accounts (
    id uuid NOT NULL,
    -- What the account is for: provider_clearing, escrow, available, platform_fees, refunds, payouts...
    code text NOT NULL,
    -- The user (seller, organizer) or object (payable) it belongs to, if any.
    owner_id uuid,
    currency text NOT NULL,
    -- A balance that must not go negative: debits may not exceed credits (a seller's available
    -- balance, an escrow), or the reverse (a clearing account that may only hold what came in).
    debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
    credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
    debits_pending bigint NOT NULL DEFAULT 0,
    debits_posted bigint NOT NULL DEFAULT 0,
    credits_pending bigint NOT NULL DEFAULT 0,
    credits_posted bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_accounts_currency CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT ledger_accounts_code CHECK (code ~ '^[a-z][a-z0-9_]{0,39}$'),
    CONSTRAINT ledger_accounts_one_limit CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
    CONSTRAINT ledger_accounts_amounts CHECK (debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0),
    -- The flags, enforced by the database itself as a last line.
    CONSTRAINT ledger_accounts_debits_limit CHECK (NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted),
    CONSTRAINT ledger_accounts_credits_limit CHECK (NOT credits_must_not_exceed_debits OR credits_pending + credits_posted <= debits_posted)
);
CREATE INDEX ledger_accounts_owner_idx ON payments.ledger_accounts (owner_id, code) WHERE owner_id IS NOT NULL;

CREATE TABLE payments.ledger_transfers (
    id uuid NOT NULL,
    debit_account_id uuid NOT NULL,
    credit_account_id uuid NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    -- single_phase | pending | post_pending | void_pending
    kind text NOT NULL,
    -- For post_pending / void_pending: the pending transfer resolved.
    pending_id uuid,
    -- Who asked for it and why (the audit log is the ledger plus this).
    reference text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_transfers_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_transfers_debit_fkey FOREIGN KEY (debit_account_id) REFERENCES payments.ledger_accounts (id),
    CONSTRAINT ledger_transfers_credit_fkey FOREIGN KEY (credit_account_id) REFERENCES payments.ledger_accounts (id),
    CONSTRAINT ledger_transfers_pending_fkey FOREIGN KEY (pending_id) REFERENCES payments.ledger_transfers (id),
    CONSTRAINT ledger_transfers_amount CHECK (amount > 0),
    CONSTRAINT ledger_transfers_distinct_accounts CHECK (debit_account_id <> credit_account_id),
    CONSTRAINT ledger_transfers_kind CHECK (kind IN ('single_phase', 'pending', 'post_pending', 'void_pending')),
    CONSTRAINT ledger_transfers_pending_ref CHECK ((kind IN ('post_pending', 'void_pending')) = (pending_id IS NOT NULL)),
    CONSTRAINT ledger_transfers_reference_length CHECK (char_length(reference) BETWEEN 1 AND 200)
);
-- A pending transfer is resolved (posted or voided) at most once.
CREATE UNIQUE INDEX ledger_transfers_resolves_once ON payments.ledger_transfers (pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX ledger_transfers_debit_idx ON payments.ledger_transfers (debit_account_id, created_at);
CREATE INDEX ledger_transfers_credit_idx ON payments.ledger_transfers (credit_account_id, created_at);

-- The journal is immutable.
CREATE FUNCTION payments.ledger_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger transfers are immutable' USING ERRCODE = 'P0001';
END $$;
CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE OR DELETE ON payments.ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION payments.ledger_transfers_immutable();

-- Creates one transfer, or says why not. Results: 'created', 'exists' (the same transfer again:
-- nothing changes), 'exists_with_different_fields', 'currency_mismatch', 'account_not_found',
-- 'exceeds_credits', 'exceeds_debits', 'pending_not_found', 'pending_already_resolved',
-- 'pending_mismatch'. For post_pending, p_amount may be NULL (the pending amount) or less (the
-- rest is released); for void_pending it is ignored. Accounts are locked in id order, so
-- concurrent transfers never deadlock.
CREATE FUNCTION payments.create_transfer(
    p_id uuid, p_debit uuid, p_credit uuid, p_amount bigint, p_currency text,
    p_kind text, p_pending_id uuid, p_reference text
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    existing payments.ledger_transfers%ROWTYPE;
    pending payments.ledger_transfers%ROWTYPE;
    d payments.ledger_accounts%ROWTYPE;
    c payments.ledger_accounts%ROWTYPE;
    amt bigint := p_amount;
BEGIN
    -- Idempotency: the same id again is the same answer, never a second transfer.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_id::text, 0));
    SELECT * INTO existing FROM payments.ledger_transfers WHERE id = p_id;
    IF FOUND THEN
        IF existing.debit_account_id = p_debit AND existing.credit_account_id = p_credit
           AND existing.currency = p_currency AND existing.kind = p_kind
           AND existing.pending_id IS NOT DISTINCT FROM p_pending_id
           AND (p_amount IS NULL OR existing.amount = p_amount OR p_kind = 'void_pending') THEN
            RETURN 'exists';
        END IF;
        RETURN 'exists_with_different_fields';
    END IF;

    IF p_kind IN ('post_pending', 'void_pending') THEN
        SELECT * INTO pending FROM payments.ledger_transfers WHERE id = p_pending_id AND kind = 'pending';
        IF NOT FOUND THEN RETURN 'pending_not_found'; END IF;
        IF pending.debit_account_id <> p_debit OR pending.credit_account_id <> p_credit
           OR pending.currency <> p_currency THEN
            RETURN 'pending_mismatch';
        END IF;
        IF p_kind = 'void_pending' OR amt IS NULL THEN amt := pending.amount; END IF;
        IF amt > pending.amount OR amt <= 0 THEN RETURN 'pending_mismatch'; END IF;
    ELSIF amt IS NULL OR amt <= 0 THEN
        RAISE EXCEPTION 'amount must be positive' USING ERRCODE = '22023';
    END IF;

    -- Lock both accounts, lowest id first.
    PERFORM 1 FROM payments.ledger_accounts WHERE id IN (p_debit, p_credit) ORDER BY id FOR UPDATE;
    SELECT * INTO d FROM payments.ledger_accounts WHERE id = p_debit;
    IF NOT FOUND THEN RETURN 'account_not_found'; END IF;
    SELECT * INTO c FROM payments.ledger_accounts WHERE id = p_credit;
    IF NOT FOUND THEN RETURN 'account_not_found'; END IF;
    IF d.currency <> p_currency OR c.currency <> p_currency THEN RETURN 'currency_mismatch'; END IF;

    IF p_kind IN ('post_pending', 'void_pending') THEN
        IF EXISTS (SELECT 1 FROM payments.ledger_transfers WHERE pending_id = p_pending_id) THEN
            RETURN 'pending_already_resolved';
        END IF;
        -- Release the reservation; post what is posted.
        UPDATE payments.ledger_accounts SET debits_pending = debits_pending - pending.amount,
            debits_posted = debits_posted + CASE WHEN p_kind = 'post_pending' THEN amt ELSE 0 END
            WHERE id = p_debit;
        UPDATE payments.ledger_accounts SET credits_pending = credits_pending - pending.amount,
            credits_posted = credits_posted + CASE WHEN p_kind = 'post_pending' THEN amt ELSE 0 END
            WHERE id = p_credit;
    ELSE
        IF d.debits_must_not_exceed_credits AND d.debits_pending + d.debits_posted + amt > d.credits_posted THEN
            RETURN 'exceeds_credits';
        END IF;
        IF c.credits_must_not_exceed_debits AND c.credits_pending + c.credits_posted + amt > c.debits_posted THEN
            RETURN 'exceeds_debits';
        END IF;
        IF p_kind = 'pending' THEN
            UPDATE payments.ledger_accounts SET debits_pending = debits_pending + amt WHERE id = p_debit;
            UPDATE payments.ledger_accounts SET credits_pending = credits_pending + amt WHERE id = p_credit;
        ELSE
            UPDATE payments.ledger_accounts SET debits_posted = debits_posted + amt WHERE id = p_debit;
            UPDATE payments.ledger_accounts SET credits_posted = credits_posted + amt WHERE id = p_credit;
        END IF;
    END IF;

    INSERT INTO payments.ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, kind, pending_id, reference)
    VALUES (p_id, p_debit, p_credit, amt, p_currency, p_kind, p_pending_id, p_reference);
    RETURN 'created';
END $$;

-- Both sides of every posted transfer, for statements and audits.
CREATE VIEW payments.ledger_entries AS
    SELECT id AS transfer_id, debit_account_id AS account_id, -amount AS amount, currency, kind, reference, created_at
    FROM payments.ledger_transfers WHERE kind IN ('single_phase', 'post_pending')
    UNION ALL
    SELECT id, credit_account_id, amount, currency, kind, reference, created_at
    FROM payments.ledger_transfers WHERE kind IN ('single_phase', 'post_pending');

-- The invariants, as rows that must not exist: a currency whose posted or pending debits and
-- credits differ, an account whose balances disagree with its journal, or one over its limit.
CREATE VIEW payments.ledger_violations AS
    SELECT 'unbalanced_' || currency AS violation, NULL::uuid AS account_id
    FROM payments.ledger_accounts GROUP BY currency
    HAVING sum(debits_posted) <> sum(credits_posted) OR sum(debits_pending) <> sum(credits_pending)
    UNION ALL
    SELECT 'journal_mismatch', a.id
    FROM payments.ledger_accounts a
    WHERE a.debits_posted <> COALESCE((SELECT sum(amount) FROM payments.ledger_transfers t
                                        WHERE t.debit_account_id = a.id AND t.kind IN ('single_phase', 'post_pending')), 0)
       OR a.credits_posted <> COALESCE((SELECT sum(amount) FROM payments.ledger_transfers t
                                        WHERE t.credit_account_id = a.id AND t.kind IN ('single_phase', 'post_pending')), 0)
    UNION ALL
    SELECT 'over_limit', id FROM payments.ledger_accounts
    WHERE (debits_must_not_exceed_credits AND debits_pending + debits_posted > credits_posted)
       OR (credits_must_not_exceed_debits AND credits_pending + credits_posted > debits_posted);
