-- create_profile (called at registration verify) also refuses a username held for its previous
-- owner after a rename, as username_problem does at registration time: a name released between the
-- two steps must not go to someone else.

CREATE OR REPLACE FUNCTION profiles.create_profile(new_user_id uuid, new_username text, new_display_name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF profiles.username_problem(new_username) = 'reserved' THEN
        RAISE EXCEPTION 'the username "%" is reserved', new_username
            USING ERRCODE = 'check_violation', CONSTRAINT = 'profiles_username_reserved';
    END IF;
    IF EXISTS (SELECT 1 FROM profiles.username_history h
               WHERE h.username_key = lower(new_username) AND h.held_until > now()) THEN
        RAISE EXCEPTION 'the username "%" is held for its previous owner', new_username
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'profiles_username_key';
    END IF;
    INSERT INTO profiles.profiles (user_id, username, display_name)
    VALUES (new_user_id, new_username, new_display_name);
END
$$;
