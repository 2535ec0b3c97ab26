#!/usr/bin/env bash
# Host overhead benchmark: requests per second and p50/p99 latency of the trivial `hello`
# component through nexgate-host, beside a native hyper hello-world measured in the same run, at
# concurrency 1 and 64; then GET /health of the real app. Prints a Markdown table.
#
# Usage: bash bench/run.sh            (DURATION=10s by default; needs root for apt on first run)
source "$(dirname "$0")/../scripts/lib.sh"
source "$NEXGATE_ROOT/infra/local.env"
cd "$NEXGATE_ROOT"
DURATION="${DURATION:-10s}"

bash infra/setup-stores.sh
bash scripts/build.sh
apt_install wrk

BIN="$NEXGATE_NATIVE_TARGET_DIR/release"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# Starts a server that prints "listening on <url>" and puts its URL in $started_url. (Not called
# in a $(...) subshell, so its pid reaches the trap that stops it.)
start() {
    local log; log="$(mktemp)"
    "$@" >"$log" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 600); do
        if grep -q '^listening on ' "$log"; then started_url="$(sed -n 's/^listening on //p' "$log" | head -1)"; return; fi
        sleep 0.1
    done
    fail "$1 did not start"
}

step "starting the native baseline and the host"
start "$BIN/nexgate-bench-hello" 127.0.0.1:0; native_url="$started_url"
start "$BIN/nexgate-host" up --from bench/spin.toml --listen 127.0.0.1:0 --instances-max 256; host_url="$started_url"

step "preparing a database for GET /health"
"$BIN/nexgate-ops" migrate --server-url "postgres://nexgate_admin:$PG_PASSWORD@$PG_HOST:$PG_PORT" \
    --database nexgate_bench --notifications-database notifications_bench --migrations-dir migrations 2>/dev/null
SPIN_VARIABLE_HEALTH_DB_URL="postgres://nexgate_health:$PG_PASSWORD@$PG_HOST:$PG_PORT/nexgate_bench?sslmode=disable" \
    SPIN_VARIABLE_STORAGE_ACCESS_KEY="$STORAGE_ACCESS_KEY" SPIN_VARIABLE_STORAGE_SECRET_KEY="$STORAGE_SECRET_KEY" \
    SPIN_VARIABLE_REDIS_KEY_PREFIX="bench:" SPIN_VARIABLE_EVENT_TOPIC_PREFIX="bench" RUST_LOG=warn \
    start "$BIN/nexgate-host" up --from spin.toml --listen 127.0.0.1:0
app_url="$started_url"

# wrk's summary → "rps p50 p99" (latencies in microseconds).
measure() {
    local url="$1" conns="$2" threads=1
    [ "$conns" -gt 1 ] && threads=2
    wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "$url" | awk '
        function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        / Non-2xx/ { bad = $NF }
        END { printf "%.0f %.0f %.0f %s\n", rps, p50, p99, (bad == "" ? 0 : bad) }'
}

step "measuring ($DURATION per row)"
# Warm-up (first instantiations, connection pools).
wrk -t1 -c4 -d2s "$host_url/hello" >/dev/null; wrk -t1 -c4 -d2s "$app_url/health" >/dev/null
printf '| target | concurrency | req/s | p50 µs | p99 µs | non-2xx |\n|---|---|---|---|---|---|\n'
for c in 1 64; do
    read -r nr n50 n99 nbad < <(measure "$native_url/" "$c")
    read -r hr h50 h99 hbad < <(measure "$host_url/hello" "$c")
    printf '| native hyper hello | %s | %s | %s | %s | %s |\n' "$c" "$nr" "$n50" "$n99" "$nbad"
    printf '| host + hello component | %s | %s | %s | %s | %s |\n' "$c" "$hr" "$h50" "$h99" "$hbad"
    printf '| host overhead | %s | %s× throughput | +%s µs | +%s µs | |\n' "$c" \
        "$(awk -v a="$hr" -v b="$nr" 'BEGIN { printf "%.2f", a / b }')" "$((h50 - n50))" "$((h99 - n99))"
done
for c in 1 16; do
    read -r r p50 p99 bad < <(measure "$app_url/health" "$c")
    printf '| GET /health (Postgres, Redis, MQTT, S3) | %s | %s | %s | %s | %s |\n' "$c" "$r" "$p50" "$p99" "$bad"
done
