# Helpers shared by the benchmarks (sourced after scripts/lib.sh).

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# Starts a server that prints "listening on <url>"; sets $started_url and $started_log. (Not called
# in a $(...) subshell, so its pid reaches the trap that stops it.)
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

# wrk's summary → "rps p50 p99 non2xx" (latencies in µs). Usage: measure <url> <conns> [wrk args...]
measure() {
    local url="$1" conns="$2"; shift 2
    wrk -t1 -c"$conns" -d"$DURATION" --latency "$@" "$url" | awk '
        function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        / Non-2xx/ { bad = $NF }
        END { printf "%.1f %.0f %.0f %s\n", rps, p50, p99, (bad == "" ? 0 : bad) }'
}

# A fresh database migrated for a benchmark: bench_db <name>
bench_db() {
    local db="$1"
    su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $db WITH (FORCE)'" >/dev/null
    "$BIN/nexgate-ops" migrate --server-url "$ADMIN" --database "$db" --notifications-database "notifications_$db" \
        --migrations-dir migrations 2>/dev/null
}

# Exports what spin.toml needs for database $1 (keys made fresh).
export_app_variables() {
    local db="$1" keys; keys="$(mktemp -d)"
    "$BIN/nexgate-ops" jwt-keygen --dir "$keys" 2>/dev/null
    export SPIN_VARIABLE_REDIS_KEY_PREFIX="bench-$db:" SPIN_VARIABLE_EVENT_TOPIC_PREFIX="bench" RUST_LOG=warn
    export SPIN_VARIABLE_JWT_PRIVATE_KEY="$(cat "$keys/jwt-private.jwk")" SPIN_VARIABLE_JWT_PUBLIC_KEYS="$(cat "$keys/jwt-public.jwks")"
    export SPIN_VARIABLE_AUTH_INTERNAL_TOKEN="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
    export SPIN_VARIABLE_PROFILES_INTERNAL_TOKEN="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
    export SPIN_VARIABLE_FILES_INTERNAL_TOKEN="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
    export SPIN_VARIABLE_MFA_ENCRYPTION_KEY="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    export SPIN_VARIABLE_PAYMENTS_INTERNAL_TOKEN="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
    local role
    for role in auth profiles files health payments; do
        export "SPIN_VARIABLE_${role^^}_DB_URL=postgres://nexgate_$role:$PG_PASSWORD@$PG_HOST:$PG_PORT/$db?sslmode=disable"
    done
    export SPIN_VARIABLE_NOTIFICATIONS_DB_URL="postgres://nexgate_notifications:$PG_PASSWORD@$PG_HOST:$PG_PORT/notifications_$db?sslmode=disable"
    export SPIN_VARIABLE_NOTIFICATIONS_SESSIONS_DB_URL="postgres://nexgate_notifications:$PG_PASSWORD@$PG_HOST:$PG_PORT/$db?sslmode=disable"
    export SPIN_VARIABLE_STORAGE_ACCESS_KEY="$STORAGE_ACCESS_KEY" SPIN_VARIABLE_STORAGE_SECRET_KEY="$STORAGE_SECRET_KEY"
    # The bus: each publishing service's broker user, and the notifier's sealing key (public half).
    "$BIN/nexgate-ops" seal-keygen --dir "$keys" 2>/dev/null
    export SPIN_VARIABLE_NOTIFIER_PUBLIC_KEY="$(cat "$keys/notifier-seal.pub")"
    for role in auth profiles files health payments; do
        export "SPIN_VARIABLE_${role^^}_MQTT_PASSWORD=$(cat "$BROKER_PASSWORD_DIR/nexgate-$role.password")"
    done
}

# The AMQP URL of broker user $1 (infra/rabbitmq/identities.toml).
amqp_url() { echo "amqp://$1:$(cat "$BROKER_PASSWORD_DIR/$1.password")@127.0.0.1:$AMQP_PORT/%2f"; }

ms() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }
