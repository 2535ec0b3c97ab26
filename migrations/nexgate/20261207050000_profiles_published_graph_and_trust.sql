-- What profiles publishes for the business services (docs/profiles.md, "Published views"): the
-- accepted follows, `profiles.follows(a, b)`, and each user's trust score and badge. Granted to
-- nexgate_services; the services read them in SQL, never the tables behind them.

-- Accepted follows only (a pending request to a private account is not a follow).
CREATE VIEW profiles.accepted_follows AS
    SELECT follower_id, followee_id, created_at
    FROM profiles.follows;

-- Whether `follower` follows `followee` (one primary-key probe). SECURITY DEFINER like the other
-- published functions: callers get no rights on the table.
CREATE FUNCTION profiles.follows(follower uuid, followee uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM profiles.follows f
            WHERE f.follower_id = follower AND f.followee_id = followee)
    $$;

-- The trust score, 0 to 100, with the same formula and the same float8 arithmetic as
-- `crates/profiles/src/trust.rs::score` (a test compares the two over a grid of inputs):
-- 100 × (0.35 rating + 0.30 reliability + 0.15 experience + 0.10 age + 0.10 verification),
-- rounded half away from zero.
CREATE FUNCTION profiles.trust_score(
    completed bigint, cancellations bigint, refunds bigint, disputes bigint,
    ratings_count bigint, ratings_sum bigint, age_days bigint, verification_rank bigint
) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT round(((
              0.35::float8 * least(greatest((m.mean - 1.0::float8) / 4.0::float8, 0), 1)
            + 0.30::float8 * least(greatest(1.0::float8 - m.problems / m.outcomes, 0), 1)
            + 0.15::float8 * (1.0::float8 - exp(-(completed::float8) / 50.0::float8))
            + 0.10::float8 * least(greatest(age_days::float8 / 365.0::float8, 0), 1)
            + 0.10::float8 * least(greatest(verification_rank::float8 / 3.0::float8, 0), 1)
        ) * 100.0::float8)::numeric)::integer
        FROM (SELECT
                (ratings_sum::float8 + 5.0::float8 * 3.5::float8) / (ratings_count::float8 + 5.0::float8) AS mean,
                (refunds + 2 * disputes + cancellations)::float8 AS problems,
                greatest(completed + refunds + disputes + cancellations, 1)::float8 AS outcomes
        ) m
    $$;

CREATE VIEW profiles.trust_scores AS
    SELECT s.user_id, s.score,
           CASE WHEN s.completed < 5 THEN 'new'
                WHEN s.score >= 85 THEN 'top'
                WHEN s.score >= 70 THEN 'trusted'
                WHEN s.score >= 50 THEN 'good'
                ELSE 'low' END AS badge
    FROM (
        SELECT p.user_id, coalesce(t.completed, 0) AS completed,
               profiles.trust_score(
                   coalesce(t.completed, 0), coalesce(t.cancellations, 0), coalesce(t.refunds, 0),
                   coalesce(t.disputes, 0), coalesce(t.ratings_count, 0), coalesce(t.ratings_sum, 0),
                   floor(extract(epoch FROM now() - p.created_at) / 86400)::bigint,
                   v.level_rank) AS score
        FROM profiles.profiles p
        JOIN profiles.verification_levels v ON v.user_id = p.user_id
        LEFT JOIN profiles.trust_stats t ON t.user_id = p.user_id
    ) s;

GRANT SELECT ON profiles.accepted_follows, profiles.trust_scores TO nexgate_services;
GRANT EXECUTE ON FUNCTION profiles.follows(uuid, uuid) TO nexgate_services;
GRANT EXECUTE ON FUNCTION profiles.trust_score(bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint) TO nexgate_services;
