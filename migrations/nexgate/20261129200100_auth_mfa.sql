-- Multi-factor authentication: TOTP (RFC 6238) with single-use recovery codes, and the short-lived
-- challenges a password login with MFA on must answer before a session starts.

-- One TOTP authenticator per account. The seed is sealed with AES-256-GCM (`mfa_encryption_key`),
-- because codes must be computed from it; it is pending until the first valid code enables it.
CREATE TABLE auth.mfa_totp (
    account_id uuid NOT NULL,
    secret_sealed bytea NOT NULL,
    enabled_at timestamptz,
    -- The last time step accepted: a code is never accepted twice.
    last_used_step bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mfa_totp_pkey PRIMARY KEY (account_id),
    CONSTRAINT mfa_totp_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE
);

-- Ten single-use recovery codes, shown once when MFA is enabled, stored as SHA-256.
CREATE TABLE auth.mfa_recovery_codes (
    account_id uuid NOT NULL,
    code_hash text NOT NULL,
    used_at timestamptz,
    CONSTRAINT mfa_recovery_codes_pkey PRIMARY KEY (account_id, code_hash),
    CONSTRAINT mfa_recovery_codes_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE
);

-- A password login waiting for its second factor (token stored as SHA-256; 5 minutes, 5 tries).
CREATE TABLE auth.mfa_challenges (
    token_hash text NOT NULL,
    account_id uuid NOT NULL,
    device_id text NOT NULL,
    device_name text NOT NULL,
    device_platform text NOT NULL,
    app_version text NOT NULL,
    ip text,
    attempts integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    CONSTRAINT mfa_challenges_pkey PRIMARY KEY (token_hash),
    CONSTRAINT mfa_challenges_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE
);
CREATE INDEX mfa_challenges_expires_idx ON auth.mfa_challenges (expires_at);
