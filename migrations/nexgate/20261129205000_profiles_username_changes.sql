-- Username changes: at most one per 30 days; a released username keeps resolving to its old owner
-- for 14 days and nobody else may claim it meanwhile (so links and mentions do not jump to a
-- stranger).

CREATE TABLE profiles.username_history (
    username_key text NOT NULL,
    user_id uuid NOT NULL,
    released_at timestamptz NOT NULL DEFAULT now(),
    held_until timestamptz NOT NULL,
    CONSTRAINT username_history_pkey PRIMARY KEY (username_key, released_at),
    CONSTRAINT username_history_user_fkey FOREIGN KEY (user_id) REFERENCES profiles.profiles (user_id) ON DELETE CASCADE,
    CONSTRAINT username_history_key_lowercase CHECK (username_key = lower(username_key))
);
CREATE INDEX username_history_held_idx ON profiles.username_history (username_key, held_until DESC);

-- Now also 'taken' while a released name is held for its old owner.
CREATE OR REPLACE FUNCTION profiles.username_problem(candidate text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN candidate IS NULL
          OR candidate !~ '^[A-Za-z0-9_][A-Za-z0-9_.]{1,28}[A-Za-z0-9_]$'
          OR position('..' IN candidate) > 0 THEN 'invalid'
        WHEN lower(candidate) LIKE 'nexgate%'
          OR EXISTS (SELECT 1 FROM profiles.reserved_usernames r WHERE r.username_key = lower(candidate))
          THEN 'reserved'
        WHEN EXISTS (SELECT 1 FROM profiles.profiles p WHERE lower(p.username) = lower(candidate))
          OR EXISTS (SELECT 1 FROM profiles.username_history h
                     WHERE h.username_key = lower(candidate) AND h.held_until > now())
          THEN 'taken'
    END
$$;
