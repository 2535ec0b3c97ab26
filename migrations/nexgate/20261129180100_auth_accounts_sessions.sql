-- Authentication, first milestone: accounts, roles, pending registrations, sessions with their
-- refresh-token families, known devices, and the views other services read (docs/auth.md).
--
-- Secrets are stored only as hashes: passwords as argon2id PHC strings, verification codes and
-- refresh tokens as SHA-256 (hex). Emails are stored lowercased, phones in E.164.

SELECT platform.install_service_tables('auth');

-- Times in API answers: RFC 3339 in UTC with milliseconds.
CREATE FUNCTION auth.rfc3339(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

CREATE TABLE auth.accounts (
    id uuid NOT NULL,
    email text,
    email_verified_at timestamptz,
    phone text,
    phone_verified_at timestamptz,
    -- NULL for accounts that only sign in through an identity provider.
    password_hash text,
    password_changed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_pkey PRIMARY KEY (id),
    CONSTRAINT accounts_contact_required CHECK (email IS NOT NULL OR phone IS NOT NULL),
    CONSTRAINT accounts_email_normalised CHECK (email = lower(email) AND position('@' IN email) > 1),
    CONSTRAINT accounts_phone_e164 CHECK (phone ~ '^\+[1-9][0-9]{6,14}$')
);
CREATE UNIQUE INDEX accounts_email_key ON auth.accounts (email);
CREATE UNIQUE INDEX accounts_phone_key ON auth.accounts (phone);

-- Roles are granted only by an operator command (`nexgate-ops grant-role`), never by the API.
CREATE TABLE auth.account_roles (
    account_id uuid NOT NULL,
    role text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by text NOT NULL,
    CONSTRAINT account_roles_pkey PRIMARY KEY (account_id, role),
    CONSTRAINT account_roles_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE,
    CONSTRAINT account_roles_known CHECK (role IN ('operator'))
);

-- A registration waits here until its code is verified; only then does the account exist.
-- When the address already has an account, existing_account_id is set, no code is sent (its
-- owner gets a notice instead) and verification can never succeed.
CREATE TABLE auth.registrations (
    id uuid NOT NULL,
    channel text NOT NULL,
    address text NOT NULL,
    password_hash text NOT NULL,
    username text NOT NULL,
    display_name text NOT NULL,
    existing_account_id uuid,
    code_hash text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    sends integer NOT NULL DEFAULT 1,
    last_sent_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT registrations_pkey PRIMARY KEY (id),
    CONSTRAINT registrations_channel CHECK (channel IN ('email', 'phone'))
);
CREATE INDEX registrations_expires_idx ON auth.registrations (expires_at);

-- One session per login: the `sid` of its access tokens and the family of its refresh tokens.
CREATE TABLE auth.sessions (
    id uuid NOT NULL,
    account_id uuid NOT NULL,
    device_id text NOT NULL,
    device_name text NOT NULL,
    device_platform text NOT NULL,
    app_version text NOT NULL,
    -- SHA-256 of the device's stable attributes (id and platform).
    device_fingerprint text NOT NULL,
    ip text,
    -- Authentication methods (RFC 8176), space-separated: 'pwd', 'pwd otp', 'fed'.
    amr text NOT NULL,
    auth_time timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- Sliding: each refresh moves it forward by the refresh-token lifetime.
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoke_reason text,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE,
    CONSTRAINT sessions_revoke_reason CHECK (
        revoke_reason IN ('logout', 'logout_all', 'revoked_by_user', 'refresh_token_reuse', 'password_reset', 'password_changed', 'session_limit'))
);
CREATE INDEX sessions_account_idx ON auth.sessions (account_id) WHERE revoked_at IS NULL;

-- Refresh tokens of a session, one generation per rotation; only the newest is unrotated.
CREATE TABLE auth.refresh_tokens (
    token_hash text NOT NULL,
    session_id uuid NOT NULL,
    generation integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT refresh_tokens_generation_key UNIQUE (session_id, generation),
    CONSTRAINT refresh_tokens_session_fkey FOREIGN KEY (session_id) REFERENCES auth.sessions (id) ON DELETE CASCADE
);

-- Devices seen per account: a login from a fingerprint not here emits auth.login.new_device.
CREATE TABLE auth.known_devices (
    account_id uuid NOT NULL,
    device_fingerprint text NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT known_devices_pkey PRIMARY KEY (account_id, device_fingerprint),
    CONSTRAINT known_devices_account_fkey FOREIGN KEY (account_id) REFERENCES auth.accounts (id) ON DELETE CASCADE
);

-- Published views (docs/auth.md). Other services and the notifier read only these.
CREATE VIEW auth.contact_points AS
    SELECT id AS user_id,
           CASE WHEN email_verified_at IS NOT NULL THEN email END AS email,
           CASE WHEN phone_verified_at IS NOT NULL THEN phone END AS phone
    FROM auth.accounts;

CREATE VIEW auth.verification_flags AS
    SELECT id AS user_id,
           email_verified_at IS NOT NULL AS email_verified,
           phone_verified_at IS NOT NULL AS phone_verified
    FROM auth.accounts;

CREATE VIEW auth.live_sessions AS
    SELECT id AS session_id, account_id AS user_id, expires_at
    FROM auth.sessions
    WHERE revoked_at IS NULL AND expires_at > now();

GRANT USAGE ON SCHEMA auth TO nexgate_services, nexgate_notifier;
GRANT SELECT ON auth.contact_points, auth.verification_flags, auth.live_sessions TO nexgate_services;
GRANT SELECT ON auth.contact_points, auth.verification_flags TO nexgate_notifier;
