-- Verification level, one ordered scale: none < contact < identity < business.
-- `contact` is derived from auth's published flags (a verified email or phone); `identity` and
-- `business` are set by operators only, each change kept in an audit trail.

CREATE TABLE profiles.verification_grants (
    user_id uuid NOT NULL,
    level text NOT NULL,
    granted_by uuid NOT NULL,
    reason text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT verification_grants_pkey PRIMARY KEY (user_id),
    CONSTRAINT verification_grants_user_fkey FOREIGN KEY (user_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT verification_grants_level CHECK (level IN ('identity', 'business'))
);

-- Every operator decision, kept forever (also removals: level 'none').
CREATE TABLE profiles.verification_audit (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    previous_level text NOT NULL,
    new_level text NOT NULL,
    operator_id uuid NOT NULL,
    reason text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT verification_audit_pkey PRIMARY KEY (id),
    CONSTRAINT verification_audit_reason_length CHECK (char_length(reason) BETWEEN 3 AND 500)
);
CREATE INDEX verification_audit_user_idx ON profiles.verification_audit (user_id, at DESC);

-- Published: the effective level of every user, with its rank for comparisons (payouts need >= 2).
CREATE VIEW profiles.verification_levels AS
    SELECT p.user_id,
           CASE WHEN g.level IS NOT NULL THEN g.level
                WHEN f.email_verified OR f.phone_verified THEN 'contact'
                ELSE 'none' END AS level,
           CASE WHEN g.level = 'business' THEN 3
                WHEN g.level = 'identity' THEN 2
                WHEN f.email_verified OR f.phone_verified THEN 1
                ELSE 0 END AS level_rank
    FROM profiles.profiles p
    LEFT JOIN profiles.verification_grants g ON g.user_id = p.user_id
    LEFT JOIN auth.verification_flags f ON f.user_id = p.user_id;

GRANT SELECT ON profiles.verification_levels TO nexgate_services;
