#!/usr/bin/env bash
# Profiles benchmark: GET /users/relationships for 100 ids and a followers page (20 of 1,000
# followers), beside GET /users/me (same component kind, extractor, one indexed row) as the baseline,
# in one run. Prints a Markdown table. Usage: bash bench/profiles.sh   (DURATION=10s per row)
source "$(dirname "$0")/../scripts/lib.sh"
source "$NEXGATE_ROOT/infra/local.env"
cd "$NEXGATE_ROOT"
DURATION="${DURATION:-10s}"
BIN="$NEXGATE_NATIVE_TARGET_DIR/release"
ADMIN="postgres://nexgate_admin:$PG_PASSWORD@$PG_HOST:$PG_PORT"
source bench/lib.sh

bash infra/setup-stores.sh
bash scripts/build.sh
apt_install wrk

DB=nexgate_bench_profiles
PASSWORD=bench-password-of-nexgate
step "preparing $DB: 1,100 users, 1,000 following a star, relationships of all kinds"
bench_db "$DB"
HASH="$("$BIN/nexgate-bench-auth" hash "$PASSWORD")"
psql -q "$ADMIN/$DB" -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE TEMP TABLE u AS SELECT gen_random_uuid() AS id, n FROM generate_series(0, 1100) n;
INSERT INTO auth.accounts (id, email, email_verified_at, password_hash)
    SELECT id, 'bench' || n || '@example.com', now(), '$HASH' FROM u;
SELECT profiles.create_profile(id, 'bench_' || n, 'Bench ' || n) FROM u;
-- user 0 is "me", user 1 the star with 1,000 followers; me follows 2..51, 52..71 follow me back,
-- me blocks 72..76 and mutes 77..86.
INSERT INTO profiles.follows (follower_id, followee_id, created_at)
    SELECT u.id, (SELECT id FROM u WHERE n = 1), now() - n * interval '1 second' FROM u WHERE n BETWEEN 100 AND 1099;
INSERT INTO profiles.follows (follower_id, followee_id) SELECT (SELECT id FROM u WHERE n = 0), id FROM u WHERE n BETWEEN 2 AND 51;
INSERT INTO profiles.follows (follower_id, followee_id) SELECT id, (SELECT id FROM u WHERE n = 0) FROM u WHERE n BETWEEN 52 AND 71;
INSERT INTO profiles.blocks (blocker_id, blocked_id) SELECT (SELECT id FROM u WHERE n = 0), id FROM u WHERE n BETWEEN 72 AND 76;
INSERT INTO profiles.mutes (muter_id, muted_id) SELECT (SELECT id FROM u WHERE n = 0), id FROM u WHERE n BETWEEN 77 AND 86;
UPDATE profiles.profiles p SET
    followers_count = (SELECT count(*) FROM profiles.follows WHERE followee_id = p.user_id),
    following_count = (SELECT count(*) FROM profiles.follows WHERE follower_id = p.user_id);
CREATE TABLE public.bench_ids AS SELECT n, id FROM u;
SQL
IDS="$(psql -qtA "$ADMIN/$DB" -c "SELECT string_agg(id::text, ',' ORDER BY n) FROM public.bench_ids WHERE n BETWEEN 1 AND 100")"
STAR="$(psql -qtA "$ADMIN/$DB" -c "SELECT id FROM public.bench_ids WHERE n = 1")"

export_app_variables "$DB"
start "$BIN/nexgate-host" up --from spin.toml --listen 127.0.0.1:0; app_url="$started_url"
TOKEN="$(curl -sf -X POST -H 'content-type: application/json' \
    -d "{\"identifier\":\"bench0@example.com\",\"password\":\"$PASSWORD\",\"device\":{\"id\":\"bench\",\"name\":\"bench\",\"platform\":\"other\",\"app_version\":\"1\"}}" \
    "$app_url/auth/login" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
[ -n "$TOKEN" ] || fail "the benchmark user could not log in"
AUTH=(-H "authorization: Bearer $TOKEN")
[ "$(curl -sf "${AUTH[@]}" "$app_url/users/relationships?ids=$IDS" | grep -o '"id"' | wc -l)" = 100 ] \
    || fail "relationships did not answer 100 items"

step "measuring ($DURATION per row)"
wrk -t1 -c4 -d2s "${AUTH[@]}" "$app_url/users/me" >/dev/null
printf '| request | concurrency | req/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n'
for c in 1 16; do
    for row in "GET /users/me (baseline)|/users/me" \
               "GET /users/relationships (100 ids)|/users/relationships?ids=$IDS" \
               "GET /users/{star}/followers (20 of 1,000)|/users/$STAR/followers?limit=20"; do
        name="${row%%|*}"; path="${row#*|}"
        read -r r p50 p99 bad < <(measure "$app_url$path" "$c" "${AUTH[@]}")
        printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$c" "$r" "$(ms "$p50")" "$(ms "$p99")" "$bad"
    done
done
su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $DB WITH (FORCE)'" >/dev/null
