#!/usr/bin/env bash
# Runs the platform on this machine: installs and starts the stores, builds, migrates, declares the
# event queues, then serves on http://127.0.0.1:${NEXGATE_PORT:-3000} with the relay, dispatcher,
# scheduler, notifier, media worker and real-time gateway (ws://127.0.0.1:3100/dm/stream) beside
# it. Logs go to the terminal; Ctrl-C stops everything.
source "$(dirname "$0")/lib.sh"
source "$NEXGATE_ROOT/infra/local.env"
cd "$NEXGATE_ROOT"

bash infra/setup-stores.sh
bash scripts/build.sh

# NEXGATE_HOST_PROFILE=dist serves with the whole-program-optimised host (~20 % less CPU per
# request; its first build takes ~18 minutes). The default is the release build the tests use.
HOST_PROFILE="${NEXGATE_HOST_PROFILE:-release}"
case "$HOST_PROFILE" in
    release) ;;
    dist)
        step "building nexgate-host with the dist profile (fat LTO: ~18 min the first time, ~8 min after a host change)"
        native_cargo build --locked --profile dist -p nexgate-host ;;
    *) fail "NEXGATE_HOST_PROFILE must be release or dist, not '$HOST_PROFILE'" ;;
esac
HOST_BIN="$NEXGATE_NATIVE_TARGET_DIR/$HOST_PROFILE/nexgate-host"
OPS_BIN="$NEXGATE_NATIVE_TARGET_DIR/release/nexgate-ops"
MEDIA_WORKER_BIN="$NEXGATE_NATIVE_TARGET_DIR/release/nexgate-media-worker"
NOTIFIER_BIN="$NEXGATE_NATIVE_TARGET_DIR/release/nexgate-notifier"
REALTIME_BIN="$NEXGATE_NATIVE_TARGET_DIR/release/nexgate-realtime"
PORT="${NEXGATE_PORT:-3000}"
REALTIME_PORT="${NEXGATE_REALTIME_PORT:-3100}"
DB="${NEXGATE_DB:-nexgate}"
SERVER_URL="postgres://nexgate_admin:$PG_PASSWORD@$PG_HOST:$PG_PORT"

step "migrating databases $DB and notifications"
"$OPS_BIN" migrate --server-url "$SERVER_URL" --database "$DB" --migrations-dir migrations

# Every program talks to the broker as its own user (infra/rabbitmq/identities.toml); the
# passwords are the files infra/setup-stores.sh made. Only this script holds the admin's.
broker_password() { cat "$BROKER_PASSWORD_DIR/$1.password"; }
amqp_url() { echo "amqp://$1:$(broker_password "$1")@127.0.0.1:$AMQP_PORT/%2f"; }

step "declaring event queues (infra/subscriptions.toml)"
NEXGATE_AMQP_URL="$(amqp_url nexgate-admin)" "$OPS_BIN" declare --subscriptions infra/subscriptions.toml

KEY_DIR="${NEXGATE_STATE_DIR:-$HOME/.local/share/nexgate}/keys"
step "access-token keys in $KEY_DIR (made once, kept)"
"$OPS_BIN" jwt-keygen --dir "$KEY_DIR"
"$OPS_BIN" seal-keygen --dir "$KEY_DIR"
"$OPS_BIN" ticket-keygen --dir "$KEY_DIR"
for service in auth profiles files payments commerce events social dm; do
    [ -s "$KEY_DIR/$service-internal.token" ] || (umask 077; od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$KEY_DIR/$service-internal.token")
done
[ -s "$KEY_DIR/mfa.key" ] || (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$KEY_DIR/mfa.key")

db_url() { echo "postgres://$1:$PG_PASSWORD@$PG_HOST:$PG_PORT/$DB?sslmode=disable"; }
export SPIN_VARIABLE_HEALTH_DB_URL="$(db_url nexgate_health)"
export SPIN_VARIABLE_AUTH_DB_URL="$(db_url nexgate_auth)"
export SPIN_VARIABLE_PROFILES_DB_URL="$(db_url nexgate_profiles)"
export SPIN_VARIABLE_FILES_DB_URL="$(db_url nexgate_files)"
export SPIN_VARIABLE_PAYMENTS_DB_URL="$(db_url nexgate_payments)"
export SPIN_VARIABLE_COMMERCE_DB_URL="$(db_url nexgate_commerce)"
export SPIN_VARIABLE_EVENTS_DB_URL="$(db_url nexgate_events)"
export SPIN_VARIABLE_SOCIAL_DB_URL="$(db_url nexgate_social)"
export SPIN_VARIABLE_DM_DB_URL="$(db_url nexgate_dm)"
export SPIN_VARIABLE_NOTIFICATIONS_DB_URL="postgres://nexgate_notifications:$PG_PASSWORD@$PG_HOST:$PG_PORT/notifications?sslmode=disable"
export SPIN_VARIABLE_NOTIFICATIONS_SESSIONS_DB_URL="$(db_url nexgate_notifications)"
export SPIN_VARIABLE_JWT_PRIVATE_KEY="$(cat "$KEY_DIR/jwt-private.jwk")"
export SPIN_VARIABLE_JWT_PUBLIC_KEYS="$(cat "$KEY_DIR/jwt-public.jwks")"
export SPIN_VARIABLE_MFA_ENCRYPTION_KEY="$(cat "$KEY_DIR/mfa.key")"
export SPIN_VARIABLE_NOTIFIER_PUBLIC_KEY="$(cat "$KEY_DIR/notifier-seal.pub")"
export SPIN_VARIABLE_AUTH_INTERNAL_TOKEN="$(cat "$KEY_DIR/auth-internal.token")"
export SPIN_VARIABLE_PROFILES_INTERNAL_TOKEN="$(cat "$KEY_DIR/profiles-internal.token")"
export SPIN_VARIABLE_FILES_INTERNAL_TOKEN="$(cat "$KEY_DIR/files-internal.token")"
export SPIN_VARIABLE_PAYMENTS_INTERNAL_TOKEN="$(cat "$KEY_DIR/payments-internal.token")"
export SPIN_VARIABLE_COMMERCE_INTERNAL_TOKEN="$(cat "$KEY_DIR/commerce-internal.token")"
export SPIN_VARIABLE_EVENTS_INTERNAL_TOKEN="$(cat "$KEY_DIR/events-internal.token")"
export SPIN_VARIABLE_SOCIAL_INTERNAL_TOKEN="$(cat "$KEY_DIR/social-internal.token")"
export SPIN_VARIABLE_DM_INTERNAL_TOKEN="$(cat "$KEY_DIR/dm-internal.token")"
export SPIN_VARIABLE_TICKET_SIGNING_KEY="$(cat "$KEY_DIR/ticket-signing.pem")"
export SPIN_VARIABLE_TICKET_SIGNING_KEY_ID="$(cat "$KEY_DIR/ticket-signing.kid")"
export SPIN_VARIABLE_TICKET_PUBLIC_KEYS="$(cat "$KEY_DIR/ticket-public.jwks")"
for service in health auth profiles files payments commerce events social dm; do
    export "SPIN_VARIABLE_${service^^}_MQTT_PASSWORD=$(broker_password "nexgate-$service")"
done
export SPIN_VARIABLE_STORAGE_ACCESS_KEY="$STORAGE_ACCESS_KEY"
export SPIN_VARIABLE_STORAGE_SECRET_KEY="$STORAGE_SECRET_KEY"
export SPIN_VARIABLE_PUBLIC_BASE_URL="${SPIN_VARIABLE_PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
export NEXGATE_BASE_URL="http://127.0.0.1:$PORT"
export NEXGATE_RELAY_DB_URL="$(db_url nexgate_relay)"

step "starting the relay and the dispatcher (the scheduler and the media worker follow once the app answers)"
pids=()
prefix_lines() { sed -u "s/^/[$1] /"; }

# Sandbox mode (on unless NEXGATE_SANDBOX=0; never in production manifests): the payment providers
# are simulated locally and every payment waits for you on a page, like a provider's test mode.
if [ "${NEXGATE_SANDBOX:-1}" = 1 ]; then
    SANDBOX_BIN="$NEXGATE_NATIVE_TARGET_DIR/release/nexgate-sandbox"
    SANDBOX_ADDRESSES="--providers 127.0.0.1:$SANDBOX_PROVIDERS_PORT --control 127.0.0.1:$SANDBOX_CONTROL_PORT
        --identities 127.0.0.1:$SANDBOX_IDENTITIES_PORT --push 127.0.0.1:$SANDBOX_PUSH_PORT
        --state-dir $NEXGATE_STATE_DIR/sandbox"
    step "sandbox mode: approve or decline payments on http://127.0.0.1:$SANDBOX_CONTROL_PORT/"
    while IFS='=' read -r name value; do
        export "$name=$value"
    done < <("$SANDBOX_BIN" app-env $SANDBOX_ADDRESSES)
    rm -f "$NEXGATE_STATE_DIR/sandbox/fcm-service-account.json"
    "$SANDBOX_BIN" serve $SANDBOX_ADDRESSES --app "http://127.0.0.1:$PORT" \
        2>&1 | prefix_lines sandbox & pids+=($!)
    for _ in $(seq 100); do
        [ -s "$NEXGATE_STATE_DIR/sandbox/fcm-service-account.json" ] && break
        sleep 0.1
    done
fi
NEXGATE_AMQP_URL="$(amqp_url nexgate-relay)" "$OPS_BIN" relay 2>&1 | prefix_lines relay & pids+=($!)
NEXGATE_AMQP_URL="$(amqp_url nexgate-dispatcher)" \
    "$OPS_BIN" dispatcher --subscriptions infra/subscriptions.toml 2>&1 | prefix_lines dispatcher & pids+=($!)
trap 'kill "${pids[@]}" 2>/dev/null; pkill -P $$ 2>/dev/null || true' EXIT

step "serving on http://127.0.0.1:$PORT (Ctrl-C stops)"
"$HOST_BIN" up --from spin.toml --listen "127.0.0.1:$PORT" \
    --runtime-config-file infra/runtime-config.toml --cache-dir "$NEXGATE_HOST_CACHE_DIR" &
host_pid=$!
pids+=($host_pid)
# The scheduler's first round runs at once, so it starts when the app answers.
for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/.well-known/spin/health" && break
    kill -0 "$host_pid" 2>/dev/null || fail "nexgate-host stopped (see its log above)"
    sleep 0.2
done
"$OPS_BIN" scheduler --schedule infra/schedule.toml 2>&1 | prefix_lines scheduler & pids+=($!)
NEXGATE_AMQP_URL="$(amqp_url nexgate-media)" \
    "$MEDIA_WORKER_BIN" --subscriptions infra/subscriptions.toml 2>&1 | prefix_lines media-worker & pids+=($!)
INBOX_DIR="$NEXGATE_STATE_DIR/inbox"
/usr/bin/python3 scripts/local-inbox.py --dir "$INBOX_DIR" --smtp-port "$INBOX_SMTP_PORT" --sms-port "$INBOX_SMS_PORT" \
    2>&1 | prefix_lines inbox & pids+=($!)
if [ "${NEXGATE_SANDBOX:-1}" = 1 ]; then
    while IFS='=' read -r name value; do
        export "$name=$value"
    done < <("$SANDBOX_BIN" notifier-env $SANDBOX_ADDRESSES)
fi
NEXGATE_SMTP_URL="smtp://127.0.0.1:$INBOX_SMTP_PORT" NEXGATE_EMAIL_FROM="Nexgate <no-reply@nexgate.local>" \
NEXGATE_SMS_ORIGIN="http://127.0.0.1:$INBOX_SMS_PORT" NEXGATE_SMS_USERNAME=local NEXGATE_SMS_API_KEY=local \
NEXGATE_AMQP_URL="$(amqp_url nexgate-notifier)" \
NEXGATE_NOTIFIER_SEAL_KEYS="$(cat "$KEY_DIR/notifier-seal.key")" \
NEXGATE_NOTIFICATIONS_DB_URL="postgres://nexgate_notifications:$PG_PASSWORD@$PG_HOST:$PG_PORT/notifications?sslmode=disable" \
NEXGATE_DIRECTORY_DB_URL="$(db_url nexgate_notifier)" \
    "$NOTIFIER_BIN" --subscriptions infra/subscriptions.toml 2>&1 | prefix_lines notifier & pids+=($!)
# The real-time gateway (docs/dm.md, "Real-time gateway"): ws://127.0.0.1:$REALTIME_PORT/dm/stream.
NEXGATE_AMQP_URL="$(amqp_url nexgate-realtime)" \
NEXGATE_REALTIME_LISTEN="127.0.0.1:$REALTIME_PORT" \
NEXGATE_REALTIME_DB_URL="$(db_url nexgate_realtime)" \
NEXGATE_REALTIME_ALLOWED_ORIGINS="${NEXGATE_REALTIME_ALLOWED_ORIGINS:-http://127.0.0.1:$PORT,http://localhost:$PORT}" \
    "$REALTIME_BIN" --subscriptions infra/subscriptions.toml 2>&1 | prefix_lines realtime & pids+=($!)
note "real-time gateway: ws://127.0.0.1:$REALTIME_PORT/dm/stream (token in the first frame)"
wait "$host_pid"
