-- Profiles, first piece (issue "User profile service"): a profile per user with its username and
-- display name, the reserved words, and the functions registration (auth) calls to check a
-- username and to create the profile in the same transaction as the account.
--
-- Rules (docs/profiles.md): usernames are 3-30 characters of [A-Za-z0-9_.], no '.' at either end,
-- never '..', unique case-insensitively, reserved words refused; display names 1-50 characters.

SELECT platform.install_service_tables('profiles');

CREATE TABLE profiles.profiles (
    user_id uuid NOT NULL,
    username text NOT NULL,
    display_name text NOT NULL,
    bio text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    username_changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_pkey PRIMARY KEY (user_id),
    CONSTRAINT profiles_username_format CHECK (
        username ~ '^[A-Za-z0-9_][A-Za-z0-9_.]{1,28}[A-Za-z0-9_]$' AND position('..' IN username) = 0),
    CONSTRAINT profiles_display_name_length CHECK (
        char_length(display_name) BETWEEN 1 AND 50 AND display_name = btrim(display_name)),
    CONSTRAINT profiles_bio_length CHECK (char_length(bio) <= 300)
);
-- Case-insensitive uniqueness; a violation names this index (mapped to 409 username_taken).
CREATE UNIQUE INDEX profiles_username_key ON profiles.profiles (lower(username));

-- Words no one may take as a username: routes, the brand, staff titles, providers.
CREATE TABLE profiles.reserved_usernames (
    username_key text NOT NULL,
    reason text NOT NULL,
    CONSTRAINT reserved_usernames_pkey PRIMARY KEY (username_key),
    CONSTRAINT reserved_usernames_lowercase CHECK (username_key = lower(username_key))
);
INSERT INTO profiles.reserved_usernames (username_key, reason) VALUES
    ('auth', 'route'), ('users', 'route'), ('files', 'route'), ('payments', 'route'), ('dm', 'route'),
    ('shop', 'route'), ('events', 'route'), ('social', 'route'), ('notifications', 'route'),
    ('health', 'route'), ('internal', 'route'), ('api', 'route'), ('me', 'route'), ('admin', 'route'),
    ('settings', 'route'), ('login', 'route'), ('logout', 'route'), ('register', 'route'),
    ('signup', 'route'), ('search', 'route'), ('explore', 'route'), ('feed', 'route'), ('www', 'route'),
    ('mail', 'route'), ('root', 'route'), ('system', 'route'), ('null', 'route'), ('undefined', 'route'),
    ('nexgate', 'brand'), ('official', 'brand'), ('verified', 'brand'),
    ('support', 'staff'), ('help', 'staff'), ('staff', 'staff'), ('team', 'staff'),
    ('moderator', 'staff'), ('operator', 'staff'), ('security', 'staff'), ('billing', 'staff'),
    ('mpesa', 'provider'), ('selcom', 'provider'), ('tembo', 'provider'), ('temboplus', 'provider');

-- Why a username cannot be claimed: NULL when it can; else 'invalid', 'reserved' or 'taken'.
-- Anything starting with "nexgate" is reserved for the brand.
CREATE FUNCTION profiles.username_problem(candidate text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN candidate IS NULL
          OR candidate !~ '^[A-Za-z0-9_][A-Za-z0-9_.]{1,28}[A-Za-z0-9_]$'
          OR position('..' IN candidate) > 0 THEN 'invalid'
        WHEN lower(candidate) LIKE 'nexgate%'
          OR EXISTS (SELECT 1 FROM profiles.reserved_usernames r WHERE r.username_key = lower(candidate))
          THEN 'reserved'
        WHEN EXISTS (SELECT 1 FROM profiles.profiles p WHERE lower(p.username) = lower(candidate))
          THEN 'taken'
    END
$$;

-- Creates the profile of a new user, claiming the username. Called by auth inside the
-- transaction that creates the account, so both exist or neither does. Errors:
--   23514 check_violation, constraint profiles_username_reserved: a reserved word;
--   23514 check_violation, constraint profiles_username_format / profiles_display_name_length;
--   23505 unique_violation, constraint profiles_username_key: taken (also under a race).
CREATE FUNCTION profiles.create_profile(new_user_id uuid, new_username text, new_display_name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF profiles.username_problem(new_username) = 'reserved' THEN
        RAISE EXCEPTION 'the username "%" is reserved', new_username
            USING ERRCODE = 'check_violation', CONSTRAINT = 'profiles_username_reserved';
    END IF;
    INSERT INTO profiles.profiles (user_id, username, display_name)
    VALUES (new_user_id, new_username, new_display_name);
END
$$;

-- The user a username (any case) belongs to, for logging in by username.
CREATE FUNCTION profiles.user_id_by_username(candidate text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT user_id FROM profiles.profiles WHERE lower(username) = lower(candidate)
$$;

REVOKE ALL ON FUNCTION profiles.user_id_by_username(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION profiles.username_problem(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION profiles.create_profile(uuid, text, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA profiles TO nexgate_services;
GRANT EXECUTE ON FUNCTION profiles.username_problem(text) TO nexgate_services;
GRANT EXECUTE ON FUNCTION profiles.create_profile(uuid, text, text) TO nexgate_services;
GRANT EXECUTE ON FUNCTION profiles.user_id_by_username(text) TO nexgate_services;
