-- Adding or changing an email address or phone number: the new one is verified with a code before
-- it replaces the old one (which is then told).

CREATE TABLE auth.contact_changes (
    id uuid NOT NULL,
    account_id uuid NOT NULL,
    channel text NOT NULL,
    address text NOT NULL,
    -- Set when the address already belongs to another account: no code is sent, verify fails.
    taken boolean NOT NULL DEFAULT false,
    code_hash text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contact_changes_pkey PRIMARY KEY (id),
    CONSTRAINT contact_changes_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE,
    CONSTRAINT contact_changes_channel CHECK (channel IN ('email', 'phone'))
);
CREATE INDEX contact_changes_account_idx ON auth.contact_changes (account_id, created_at DESC);
