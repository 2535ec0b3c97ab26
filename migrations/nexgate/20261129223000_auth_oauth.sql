-- Sign-in with identity providers (docs/auth.md, "OAuth"): which provider subject belongs to which
-- account. An account made through a provider may have no password and, when the provider gave no
-- verified email, no contact point either.

CREATE TABLE auth.oauth_identities (
    provider text NOT NULL,
    subject text NOT NULL,
    account_id uuid NOT NULL,
    -- What the provider said at the first sign-in (the account's own email is separate).
    email text,
    email_verified boolean NOT NULL DEFAULT false,
    -- Apple sends the user's name only on the first sign-in: kept here.
    display_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_identities_pkey PRIMARY KEY (provider, subject),
    CONSTRAINT oauth_identities_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE,
    CONSTRAINT oauth_identities_provider CHECK (provider IN ('google', 'apple', 'facebook')),
    CONSTRAINT oauth_identities_subject_length CHECK (char_length(subject) BETWEEN 1 AND 255)
);
CREATE INDEX oauth_identities_account_idx ON auth.oauth_identities (account_id);

-- A contact point is required only of accounts that have a password.
ALTER TABLE auth.accounts DROP CONSTRAINT accounts_contact_required;
ALTER TABLE auth.accounts ADD CONSTRAINT accounts_contact_required
    CHECK (email IS NOT NULL OR phone IS NOT NULL OR password_hash IS NULL);

-- The first factor an MFA challenge follows (`pwd` or `fed`), so the session's `amr` is true.
ALTER TABLE auth.mfa_challenges ADD COLUMN first_factor text NOT NULL DEFAULT 'pwd';
ALTER TABLE auth.mfa_challenges ADD CONSTRAINT mfa_challenges_first_factor CHECK (first_factor IN ('pwd', 'fed'));
