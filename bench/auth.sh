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
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
start() {
    local log; log="$(mktemp)"
    "$@" >"$log" 2>&1 &
    pids+=($!)
    started_log="$log"
    for _ in $(seq 600); do
        if grep -q '^listening on ' "$log"; then started_url="$(sed -n 's/^listening on //p' "$log" | head -1)"; return; fi
        sleep 0.1
    done
    tail -5 "$log" >&2
    fail "$1 did not start"
}

step "preparing database $DB, keys and a user"
ADMIN="postgres://nexgate_admin:$PG_PASSWORD@$PG_HOST:$PG_PORT"
su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $DB WITH (FORCE)'" >/dev/null
"$BIN/nexgate-ops" migrate --server-url "$ADMIN" --database "$DB" --notifications-database notifications_bench \
    --migrations-dir migrations 2>/dev/null
KEYS="$(mktemp -d)"
"$BIN/nexgate-ops" jwt-keygen --dir "$KEYS" 2>/dev/null
HASH="$("$BIN/nexgate-bench-auth" hash "$PASSWORD")"
USER_ID="$(cat /proc/sys/kernel/random/uuid)"
psql -q "$ADMIN/$DB" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO auth.accounts (id, email, email_verified_at, password_hash) VALUES ('$USER_ID', 'bench@example.com', now(), '$HASH');
SELECT profiles.create_profile('$USER_ID', 'bench_user', 'Bench');
SQL

export SPIN_VARIABLE_REDIS_KEY_PREFIX="bench-auth:" SPIN_VARIABLE_EVENT_TOPIC_PREFIX="bench" RUST_LOG=warn
export SPIN_VARIABLE_JWT_PRIVATE_KEY="$(cat "$KEYS/jwt-private.jwk")" SPIN_VARIABLE_JWT_PUBLIC_KEYS="$(cat "$KEYS/jwt-public.jwks")"
export SPIN_VARIABLE_MFA_ENCRYPTION_KEY="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
export SPIN_VARIABLE_AUTH_DB_URL="postgres://nexgate_auth:$PG_PASSWORD@$PG_HOST:$PG_PORT/$DB?sslmode=disable"
export SPIN_VARIABLE_PROFILES_DB_URL="postgres://nexgate_profiles:$PG_PASSWORD@$PG_HOST:$PG_PORT/$DB?sslmode=disable"
export SPIN_VARIABLE_HEALTH_DB_URL="postgres://nexgate_health:$PG_PASSWORD@$PG_HOST:$PG_PORT/$DB?sslmode=disable"
export SPIN_VARIABLE_STORAGE_ACCESS_KEY="$STORAGE_ACCESS_KEY" SPIN_VARIABLE_STORAGE_SECRET_KEY="$STORAGE_SECRET_KEY"
# The benchmark logs in far more often than the limits allow a real client to fail; successes are
# not failures, but keep the per-IP budget out of the way.
export SPIN_VARIABLE_LOGIN_FAILURES_PER_IP_MAX=1000000
start "$BIN/nexgate-host" up --from spin.toml --listen 127.0.0.1:0; app_url="$started_url"
SPIN_VARIABLE_DB_URL="$SPIN_VARIABLE_AUTH_DB_URL" SPIN_VARIABLE_BENCH_PASSWORD_HASH="$HASH" \
    start "$BIN/nexgate-host" up --from bench/spin.toml --listen 127.0.0.1:0; probe_url="$started_url"

LUA="$(mktemp --suffix .lua)"
cat > "$LUA" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"identifier":"bench@example.com","password":"$PASSWORD","device":{"id":"bench","name":"bench","platform":"other","app_version":"1"}}'
LUA
measure() { # url conns [wrk args...] → "rps p50 p99 non2xx" (µs)
    local url="$1" conns="$2"; shift 2
    wrk -t1 -c"$conns" -d"$DURATION" --latency "$@" "$url" | awk '
        function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        / Non-2xx/ { bad = $NF }
        END { printf "%.1f %.0f %.0f %s\n", rps, p50, p99, (bad == "" ? 0 : bad) }'
}

step "measuring ($DURATION per row)"
wrk -t1 -c2 -d2s -s "$LUA" "$app_url/auth/login" >/dev/null

printf '\n| argon2id verify (19 MiB, t=2, p=1) | concurrency | verifications/s | p50 ms | p99 ms |\n|---|---|---|---|---|\n'
for c in 1 2; do
    read -r nr n50 n99 < <("$BIN/nexgate-bench-auth" verify "$SECS" "$c")
    read -r cr c50 c99 cbad < <(measure "$probe_url/bench/argon2" "$c" -H "x-bench-password: $PASSWORD")
    printf '| native (same crate) | %s | %s | %s | %s |\n' "$c" "$nr" "$n50" "$n99"
    printf '| inside a component (wasm) | %s | %s | %s | %s |\n' "$c" "$cr" \
        "$(awk -v v="$c50" 'BEGIN{printf "%.1f", v/1000}')" "$(awk -v v="$c99" 'BEGIN{printf "%.1f", v/1000}')"
done

printf '\n| POST /auth/login | concurrency | logins/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n'
for c in 1 2 8; do
    read -r r p50 p99 bad < <(measure "$app_url/auth/login" "$c" -s "$LUA")
    printf '| login (argon2id + session + tokens) | %s | %s | %s | %s | %s |\n' "$c" "$r" \
        "$(awk -v v="$p50" 'BEGIN{printf "%.1f", v/1000}')" "$(awk -v v="$p99" 'BEGIN{printf "%.1f", v/1000}')" "$bad"
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
su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $DB WITH (FORCE)'" >/dev/null
