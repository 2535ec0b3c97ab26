-- Password resets: single-use tokens (stored as SHA-256), short-lived. A reset ends every session.

CREATE TABLE auth.password_resets (
    token_hash text NOT NULL,
    account_id uuid NOT NULL,
    channel text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    CONSTRAINT password_resets_pkey PRIMARY KEY (token_hash),
    CONSTRAINT password_resets_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE,
    CONSTRAINT password_resets_channel CHECK (channel IN ('email', 'phone'))
);
CREATE INDEX password_resets_account_idx ON auth.password_resets (account_id);
