-- Account deletion (docs/auth.md, "Deleting an account"). `DELETE /auth/account` removes the
-- account row; its sessions, refresh tokens, MFA, linked identities, known devices, roles and
-- pending changes go with it through their ON DELETE CASCADE keys. Only the id and the time stay
-- here, so an operator can tell a deleted account from one that never existed; the email and the
-- phone are not kept and may register again at once.
CREATE TABLE auth.deleted_accounts (
    id uuid NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deleted_accounts_pkey PRIMARY KEY (id)
);

-- The services that can refuse a deletion publish `<schema>.deletion_blockers(uuid) RETURNS
-- SETOF text` and grant EXECUTE (and USAGE on their schema) to nexgate_auth; auth finds them in
-- the catalogue with this function and calls each one.
CREATE FUNCTION auth.deletion_blocker_schemas() RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT n.nspname::text
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proname = 'deletion_blockers'
      AND p.pronargs = 1 AND p.proargtypes[0] = 'uuid'::regtype
      AND p.proretset AND p.prorettype = 'text'::regtype
      AND has_schema_privilege(n.oid, 'USAGE')
      AND has_function_privilege(p.oid, 'EXECUTE')
    ORDER BY 1
$$;
