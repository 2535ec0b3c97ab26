#!/usr/bin/env bash
# Auth benchmark: login throughput and latency (bounded by argon2id), argon2id verifications per
# second inside a component beside the same code natively, and the per-request cost of the auth
# extractor (a component route that authenticates vs a no-op route of the same component).
# Prints Markdown tables. Usage: bash bench/auth.sh   (DURATION=10s per row by default)
source "$(dirname "$0")/../scripts/lib.sh"
source "$NEXGATE_ROOT/infra/local.env"
cd "$NEXGATE_ROOT"
DURATION="${DURATION:-10s}"
SECS="${DURATION%s}"

bash infra/setup-stores.sh
bash scripts/build.sh
apt_install wrk

BIN="$NEXGATE_NATIVE_TARGET_DIR/release"
DB=nexgate_bench_auth
PASSWORD=bench-password-of-nexgate
ADMIN="postgres://nexgate_admin:$PG_PASSWORD@$PG_HOST:$PG_PORT"
source bench/lib.sh

step "preparing database $DB, keys and a user"
bench_db "$DB"
HASH="$("$BIN/nexgate-bench-auth" hash "$PASSWORD")"
USER_ID="$(cat /proc/sys/kernel/random/uuid)"
psql -q "$ADMIN/$DB" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO auth.accounts (id, email, email_verified_at, password_hash) VALUES ('$USER_ID', 'bench@example.com', now(), '$HASH');
SELECT profiles.create_profile('$USER_ID', 'bench_user', 'Bench');
SQL

export_app_variables "$DB"
# The benchmark logs in far more often than the limits allow a real client to fail; successes are
# not failures, but keep the per-IP budget out of the way.
export SPIN_VARIABLE_LOGIN_FAILURES_PER_IP_MAX=1000000
RUST_LOG=info start "$BIN/nexgate-host" up --from spin.toml --listen 127.0.0.1:0; app_url="$started_url"; app_log="$started_log"
SPIN_VARIABLE_DB_URL="$SPIN_VARIABLE_AUTH_DB_URL" SPIN_VARIABLE_BENCH_PASSWORD_HASH="$HASH" \
    start "$BIN/nexgate-host" up --from bench/spin.toml --listen 127.0.0.1:0; probe_url="$started_url"

LUA="$(mktemp --suffix .lua)"
cat > "$LUA" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"identifier":"bench@example.com","password":"$PASSWORD","device":{"id":"bench","name":"bench","platform":"other","app_version":"1"}}'
LUA
step "measuring ($DURATION per row)"
wrk -t1 -c2 -d2s -s "$LUA" "$app_url/auth/login" >/dev/null

printf '\n| argon2id verify (19 MiB, t=2, p=1) | concurrency | verifications/s | p50 ms | p99 ms |\n|---|---|---|---|---|\n'
for c in 1 2; do
    read -r nr n50 n99 < <("$BIN/nexgate-bench-auth" verify "$SECS" "$c")
    read -r cr c50 c99 cbad < <(measure "$probe_url/bench/argon2" "$c" -H "x-bench-password: $PASSWORD")
    printf '| native (same crate) | %s | %s | %s | %s |\n' "$c" "$nr" "$n50" "$n99"
    printf '| inside a component (wasm) | %s | %s | %s | %s |\n' "$c" "$cr" \
        "$(ms "$c50")" "$(ms "$c99")"
done

printf '\n| POST /auth/login | concurrency | logins/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n'
for c in 1 2 8; do
    read -r r p50 p99 bad < <(measure "$app_url/auth/login" "$c" -s "$LUA")
    printf '| login (argon2id + session + tokens) | %s | %s | %s | %s | %s |\n' "$c" "$r" \
        "$(ms "$p50")" "$(ms "$p99")" "$bad"
done

# Logged in after the login rows: those end the oldest sessions past 100 per account.
TOKEN="$(curl -sf -X POST -H 'content-type: application/json' --data-binary @<(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$LUA") "$app_url/auth/login" \
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
[ -n "$TOKEN" ] || fail "the benchmark user could not log in"
wrk -t1 -c2 -d2s -H "authorization: Bearer $TOKEN" "$probe_url/bench/authenticated" >/dev/null
printf '\n| auth extractor | concurrency | req/s | p50 µs | p99 µs | non-2xx |\n|---|---|---|---|---|---|\n'
for c in 1 16; do
    read -r br b50 b99 bbad < <(measure "$probe_url/bench/noop" "$c")
    read -r ar a50 a99 abad < <(measure "$probe_url/bench/authenticated" "$c" -H "authorization: Bearer $TOKEN")
    printf '| no-op route (baseline) | %s | %s | %s | %s | %s |\n' "$c" "$br" "$b50" "$b99" "$bbad"
    printf '| authenticated route | %s | %s | %s | %s | %s |\n' "$c" "$ar" "$a50" "$a99" "$abad"
    printf '| extractor cost | %s | | +%s µs | +%s µs | |\n' "$c" "$((a50 - b50))" "$((a99 - b99))"
done
echo; echo "non-2xx answers of POST /auth/login during the run (status: count):"
grep -o 'POST /auth/login auth-login [0-9]*' "$app_log" | awk '$4 !~ /^2/ { n[$4]++ } END { for (s in n) print "  " s ": " n[s] }'
su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $DB WITH (FORCE)'" >/dev/null
