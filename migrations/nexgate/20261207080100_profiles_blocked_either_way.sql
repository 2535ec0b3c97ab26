-- Published for other services (docs/profiles.md, "Published for other services"): whether either
-- of two users blocked the other. Commerce hides a shop from a user its owner blocked (or who
-- blocked its owner) and refuses their checkouts; social and DMs need the same answer.
CREATE FUNCTION profiles.blocked_either_way(a uuid, b uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM profiles.blocks
        WHERE (blocker_id = a AND blocked_id = b) OR (blocker_id = b AND blocked_id = a))
$$;
REVOKE ALL ON FUNCTION profiles.blocked_either_way(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION profiles.blocked_either_way(uuid, uuid) TO nexgate_services;
