-- M-Pesa does not sign its results (docs/payments.md, "Refunds and payouts"): a Daraja payout or
-- refund M-Pesa may have accepted is marked failed, and its reservation given back, only after two
-- transaction-status answers agree that it failed, each received under its own fresh secret. This
-- counts the failed answers seen so far; a forged "failed" alone can never re-credit a balance.
ALTER TABLE payments.disbursements
    ADD COLUMN failure_confirmations smallint NOT NULL DEFAULT 0;
