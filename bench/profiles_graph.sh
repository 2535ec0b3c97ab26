#!/usr/bin/env bash
# The published follow graph at scale (issue 21): 10,000 users and 1,000,000 follows, then
# EXPLAIN ANALYZE of what the business services will call, beside a baseline in the same run:
# - `profiles.follows(a, b)` for a pair that follows and one that does not;
# - a 20-row page of whom X follows (`profiles.accepted_follows`, newest first) and the next page;
# - baseline: one profile row by primary key.
# Each query runs 200 times after 20 warm-ups; prints the median and p99 of Postgres's own
# "Execution Time" as a Markdown table. Usage: bash bench/profiles_graph.sh
source "$(dirname "$0")/../scripts/lib.sh"
source "$NEXGATE_ROOT/infra/local.env"
cd "$NEXGATE_ROOT"
BIN="$NEXGATE_NATIVE_TARGET_DIR/release"
ADMIN="postgres://nexgate_admin:$PG_PASSWORD@$PG_HOST:$PG_PORT"
source bench/lib.sh

bash infra/setup-stores.sh
bash scripts/build.sh

DB=nexgate_bench_graph
step "preparing $DB: 10,000 users, 1,000,000 follows (100 per user, to pseudo-random users)"
bench_db "$DB"
psql -q "$ADMIN/$DB" -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE TABLE public.bench_ids AS SELECT n, gen_random_uuid() AS id FROM generate_series(0, 9999) n;
CREATE UNIQUE INDEX ON public.bench_ids (n);
INSERT INTO auth.accounts (id, email, email_verified_at)
    SELECT id, 'graph' || n || '@example.com', now() FROM public.bench_ids;
INSERT INTO profiles.profiles (user_id, username, display_name)
    SELECT id, 'graph_' || n, 'Graph ' || n FROM public.bench_ids;
INSERT INTO profiles.follows (follower_id, followee_id, created_at)
    SELECT a.id, b.id, now() - (f.n * 100 + k) * interval '1 second'
    FROM public.bench_ids f
    CROSS JOIN generate_series(1, 100) k
    JOIN public.bench_ids a ON a.n = f.n
    JOIN public.bench_ids b ON b.n = (f.n + k * 97) % 10000;
ANALYZE profiles.follows;
ANALYZE profiles.profiles;
SQL
FOLLOWS="$(psql -qtA "$ADMIN/$DB" -c "SELECT count(*) FROM profiles.follows")"
[ "$FOLLOWS" = 1000000 ] || fail "expected 1,000,000 follows, have $FOLLOWS"
X="$(psql -qtA "$ADMIN/$DB" -c "SELECT id FROM public.bench_ids WHERE n = 4242")"
Y="$(psql -qtA "$ADMIN/$DB" -c "SELECT id FROM public.bench_ids WHERE n = (4242 + 97) % 10000")"
Z="$(psql -qtA "$ADMIN/$DB" -c "SELECT id FROM public.bench_ids WHERE n = 4243")"
CURSOR="$(psql -qtA "$ADMIN/$DB" -c "SELECT created_at FROM profiles.accepted_follows WHERE follower_id = '$X' ORDER BY created_at DESC, followee_id LIMIT 1 OFFSET 19")"

# Execution times (ms) of `$2` over 200 runs as the commerce service: "median p99".
timed() {
    local sql="$1" i
    {
        echo "SET ROLE nexgate_commerce;"
        for i in $(seq 220); do echo "EXPLAIN (ANALYZE, FORMAT JSON) $sql;"; done
    } | psql -qtA "$ADMIN/$DB" | grep -o '"Execution Time": [0-9.]*' | awk '{print $3}' | tail -200 \
        | sort -n | awk '{v[NR]=$1} END {printf "%.3f %.3f\n", v[int(NR*0.5)], v[int(NR*0.99)]}'
}

step "the plans"
psql -q "$ADMIN/$DB" -c "SET ROLE nexgate_commerce" \
    -c "EXPLAIN ANALYZE SELECT profiles.follows('$X', '$Y')" \
    -c "EXPLAIN ANALYZE SELECT followee_id, created_at FROM profiles.accepted_follows WHERE follower_id = '$X' ORDER BY created_at DESC, followee_id LIMIT 20"

printf '| query (1,000,000 follows) | median ms | p99 ms |\n|---|---|---|\n'
for row in "baseline: one profile by primary key|SELECT username FROM profiles.public_cards WHERE user_id = '$X'" \
           "follows(a, b), following|SELECT profiles.follows('$X', '$Y')" \
           "follows(a, b), not following|SELECT profiles.follows('$X', '$Z')" \
           "whom X follows, first page of 20|SELECT followee_id, created_at FROM profiles.accepted_follows WHERE follower_id = '$X' ORDER BY created_at DESC, followee_id LIMIT 20" \
           "whom X follows, next page of 20|SELECT followee_id, created_at FROM profiles.accepted_follows WHERE follower_id = '$X' AND created_at < '$CURSOR' ORDER BY created_at DESC, followee_id LIMIT 20"; do
    name="${row%%|*}"; sql="${row#*|}"
    read -r median p99 < <(timed "$sql")
    printf '| %s | %s | %s |\n' "$name" "$median" "$p99"
done
