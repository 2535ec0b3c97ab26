#!/usr/bin/env bash
# Installs (when missing) and starts (when not running) every store Nexgate needs on this machine:
# PostgreSQL 15 (max_connections raised, every service's role), Redis (no persistence), RabbitMQ with
# its MQTT listener, Garage (S3) with its key, a private bucket and a public bucket served by its web
# endpoint, and FFmpeg. Idempotent: a second run checks everything and changes nothing.
#
# Local development credentials only; production gets its own from the operator (docs/operations.md).
source "$(dirname "$0")/../scripts/lib.sh"
source "$NEXGATE_ROOT/infra/local.env"

[ "$(id -u)" = 0 ] || fail "run as root (it installs packages and starts system services)"
mkdir -p "$NEXGATE_STATE_DIR"

# ---------------------------------------------------------------------------------------------
step "PostgreSQL"
apt_install postgresql postgresql-client
PG_VERSION="$(ls /etc/postgresql | sort -n | tail -1)"
[ -n "$PG_VERSION" ] || fail "no PostgreSQL cluster under /etc/postgresql"
pg_running() { pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; }
if ! pg_running; then
    note "starting PostgreSQL $PG_VERSION"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start || fail "PostgreSQL did not start; see /var/log/postgresql/"
fi
psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtA $*"; }
current_max="$(psql_admin "-c 'SHOW max_connections'")"
# Shared buffers in MiB: the packaged default (128 MiB) is sized for a small machine; the search
# and the lists read tables of hundreds of MiB (bench/README.md, direct messages).
current_buffers_mb="$(psql_admin "-c \"SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'\"")"
restart=0
if [ "$current_max" -lt "$PG_MAX_CONNECTIONS" ]; then
    note "raising max_connections from $current_max to $PG_MAX_CONNECTIONS (side-by-side test runs)"
    psql_admin "-c 'ALTER SYSTEM SET max_connections = $PG_MAX_CONNECTIONS'"
    restart=1
fi
if [ "$current_buffers_mb" -lt "$PG_SHARED_BUFFERS_MB" ]; then
    note "raising shared_buffers from ${current_buffers_mb} MiB to ${PG_SHARED_BUFFERS_MB} MiB"
    psql_admin "-c \"ALTER SYSTEM SET shared_buffers = '${PG_SHARED_BUFFERS_MB}MB'\""
    restart=1
fi
if [ "$restart" = 1 ]; then
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main restart || fail "PostgreSQL did not restart"
fi

note "roles: admin, one per service, relay, notifier and realtime (cluster-wide, so here and not in migrations)"
roles_sql="$(mktemp)"
{
    echo "DO \$\$ BEGIN"
    echo "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nexgate_admin') THEN CREATE ROLE nexgate_admin LOGIN SUPERUSER; END IF;"
    echo "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nexgate_services') THEN CREATE ROLE nexgate_services NOLOGIN; END IF;"
    for role in $PG_SERVICE_ROLES nexgate_relay nexgate_notifier nexgate_realtime; do
        echo "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN CREATE ROLE $role LOGIN; END IF;"
    done
    echo "END \$\$;"
    echo "ALTER ROLE nexgate_admin PASSWORD '$PG_PASSWORD';"
    for role in $PG_SERVICE_ROLES nexgate_relay nexgate_notifier nexgate_realtime; do
        echo "ALTER ROLE $role PASSWORD '$PG_PASSWORD';"
    done
    for role in $PG_SERVICE_ROLES; do
        echo "GRANT nexgate_services TO $role;"
    done
} > "$roles_sql"
chmod 644 "$roles_sql"
su postgres -c "PGOPTIONS='-c client_min_messages=warning' psql -v ON_ERROR_STOP=1 -qtA -f $roles_sql" >/dev/null || fail "creating roles failed"
rm -f "$roles_sql"

# ---------------------------------------------------------------------------------------------
step "Redis"
apt_install redis-server
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    note "starting Redis on 127.0.0.1:$REDIS_PORT (no persistence)"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
        --maxclients 10000 >/dev/null || fail "Redis did not start"
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -p "$REDIS_PORT" ping >/dev/null || fail "Redis does not answer PING"

# ---------------------------------------------------------------------------------------------
step "RabbitMQ with MQTT"
apt_install rabbitmq-server
if ! grep -q '^\[rabbitmq_mqtt' /etc/rabbitmq/enabled_plugins 2>/dev/null && \
   ! grep -q 'rabbitmq_mqtt' /etc/rabbitmq/enabled_plugins 2>/dev/null; then
    rabbitmq-plugins enable --offline rabbitmq_mqtt >/dev/null || fail "cannot enable rabbitmq_mqtt"
fi
# MQTT over TLS on $MQTT_TLS_PORT (`mqtts://localhost:8883`), with a certificate from a local CA
# made once; components reach it when the CA is in their trust store (docs/host.md). Plain MQTT on
# loopback stays the default for local runs.
TLS_DIR="$NEXGATE_STATE_DIR/tls"
if [ ! -s "$TLS_DIR/broker.pem" ]; then
    note "making a local CA and the broker's TLS certificate in $TLS_DIR"
    apt_install openssl
    mkdir -p "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Nexgate local CA" \
        -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" >/dev/null 2>&1 || fail "cannot make the local CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$TLS_DIR/broker.key" -out "$TLS_DIR/broker.csr" >/dev/null 2>&1 || fail "cannot make the broker key"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$TLS_DIR/broker.ext"
    openssl x509 -req -in "$TLS_DIR/broker.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
        -CAcreateserial -days 3650 -extfile "$TLS_DIR/broker.ext" -out "$TLS_DIR/broker.pem" >/dev/null 2>&1 \
        || fail "cannot sign the broker certificate"
    chmod 600 "$TLS_DIR/ca.key"
    chmod 644 "$TLS_DIR/ca.pem" "$TLS_DIR/broker.pem"
    chgrp rabbitmq "$TLS_DIR/broker.key" 2>/dev/null || true
    chmod 640 "$TLS_DIR/broker.key"
fi
desired_conf="listeners.tcp.default = 127.0.0.1:$AMQP_PORT
mqtt.listeners.tcp.default = 127.0.0.1:$MQTT_PORT
mqtt.listeners.ssl.default = 127.0.0.1:$MQTT_TLS_PORT
ssl_options.cacertfile = $TLS_DIR/ca.pem
ssl_options.certfile = $TLS_DIR/broker.pem
ssl_options.keyfile = $TLS_DIR/broker.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
mqtt.allow_anonymous = false
mqtt.exchange = amq.topic
management.tcp.port = 15672
"
conf_changed=""
if [ "$(cat /etc/rabbitmq/rabbitmq.conf 2>/dev/null)" != "$(printf '%s' "$desired_conf")" ]; then
    printf '%s' "$desired_conf" > /etc/rabbitmq/rabbitmq.conf
    conf_changed=1
fi
rabbit_running() { timeout 20 rabbitmqctl -q status >/dev/null 2>&1; }
if rabbit_running && [ -n "$conf_changed" ]; then
    note "configuration changed: restarting RabbitMQ"
    rabbitmqctl -q stop >/dev/null 2>&1 || true
fi
if ! rabbit_running; then
    note "starting RabbitMQ (AMQP $AMQP_PORT, MQTT $MQTT_PORT); takes ~10 s"
    # A node left half-booted (it answers nothing) holds the node name: stop it first.
    if pgrep -u rabbitmq -f 'beam.smp.*rabbit' >/dev/null 2>&1; then
        note "a RabbitMQ node is up but not answering: stopping it"
        timeout 30 rabbitmqctl -q stop >/dev/null 2>&1 || pkill -9 -u rabbitmq -f 'beam.smp' || true
        sleep 1
    fi
    # RabbitMQ 3.10 hangs at boot ("Mnesia is overloaded") when it must recover more queues than
    # it has file handles, and `su` gives the rabbitmq user a soft limit of 1,024; a test run leaves
    # about that many queues behind (they expire ten minutes after the next boot). So raise the
    # limit first: the hard one as root, the soft one to match inside the user's shell.
    (
        ulimit -H -n 65536 2>/dev/null || true
        ulimit -S -n "$(ulimit -H -n)" 2>/dev/null || true
        cd /var/lib/rabbitmq && su rabbitmq -s /bin/sh -c \
            'ulimit -S -n "$(ulimit -H -n)"; exec /usr/lib/rabbitmq/bin/rabbitmq-server -detached'
    ) >/dev/null 2>&1 || true
    # The node needs a moment before rabbitmqctl can even reach it; keep asking for up to 2 minutes.
    deadline=$((SECONDS + 120))
    until timeout 30 rabbitmqctl -q await_startup >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "RabbitMQ did not start; see /var/log/rabbitmq/"
        sleep 2
    done
fi
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$MQTT_PORT") 2>/dev/null && break; sleep 0.2; done
(exec 3<>/dev/tcp/127.0.0.1/"$MQTT_PORT") 2>/dev/null || fail "the MQTT listener on $MQTT_PORT is not up"

note "broker identities (infra/rabbitmq/identities.toml; passwords in $BROKER_PASSWORD_DIR)"
apt_install python3
definitions="$(mktemp)"
python3 "$NEXGATE_ROOT/infra/rabbitmq/definitions.py" "$NEXGATE_ROOT/infra/rabbitmq/identities.toml" "$BROKER_PASSWORD_DIR" > "$definitions" \
    || fail "cannot make the broker definitions"
# Importing takes a few seconds, so it runs only when the identities, a password or the broker's
# users changed (a wiped node has none of ours). Hashes are salted afresh each run, so the stamp is
# taken over the inputs, not the output.
stamp="$(cat "$NEXGATE_ROOT/infra/rabbitmq/identities.toml" "$BROKER_PASSWORD_DIR"/*.password | sha256sum | cut -d' ' -f1)"
broker_users="$(timeout 30 rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ')"
if [ "$(cat "$BROKER_PASSWORD_DIR/.applied" 2>/dev/null)" != "$stamp" ] \
    || ! grep -q "nexgate-admin" <<<"$broker_users" || grep -qw guest <<<"$broker_users"; then
    chmod 644 "$definitions"
    timeout 60 rabbitmqctl -q import_definitions "$definitions" >/dev/null \
        || fail "rabbitmqctl import_definitions failed"
    if grep -qw guest <<<"$broker_users"; then
        note "deleting RabbitMQ's guest user (no anonymous or default access)"
        timeout 30 rabbitmqctl -q delete_user guest >/dev/null || fail "cannot delete the guest user"
    fi
    echo "$stamp" > "$BROKER_PASSWORD_DIR/.applied"
fi
rm -f "$definitions"

# ---------------------------------------------------------------------------------------------
step "Garage (S3 object storage)"
if ! command -v garage >/dev/null; then
    note "installing Garage with cargo (about 25 minutes on 2 cores, once per machine)"
    cargo install --locked garage --version "$GARAGE_VERSION" >/dev/null 2>&1 \
        || fail "cargo install garage failed; is crates.io reachable?"
fi
GARAGE_DIR="$NEXGATE_STATE_DIR/garage"
mkdir -p "$GARAGE_DIR/meta" "$GARAGE_DIR/data"
[ -f "$GARAGE_DIR/rpc_secret" ] || { od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$GARAGE_DIR/rpc_secret"; }
chmod 600 "$GARAGE_DIR/rpc_secret"
cat > "$GARAGE_DIR/garage.toml.new" <<EOF
metadata_dir = "$GARAGE_DIR/meta"
data_dir = "$GARAGE_DIR/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$GARAGE_RPC_PORT"
rpc_public_addr = "127.0.0.1:$GARAGE_RPC_PORT"
rpc_secret_file = "$GARAGE_DIR/rpc_secret"

[s3_api]
s3_region = "$STORAGE_REGION"
api_bind_addr = "127.0.0.1:$GARAGE_S3_PORT"
root_domain = ".s3.garage.localhost"

[s3_web]
bind_addr = "127.0.0.1:$GARAGE_WEB_PORT"
root_domain = ".web.garage.localhost"
index = "index.html"

[admin]
api_bind_addr = "127.0.0.1:$GARAGE_ADMIN_PORT"
EOF
if ! cmp -s "$GARAGE_DIR/garage.toml.new" "$GARAGE_DIR/garage.toml"; then
    mv "$GARAGE_DIR/garage.toml.new" "$GARAGE_DIR/garage.toml"
    pkill -x garage 2>/dev/null && sleep 1 || true
else
    rm -f "$GARAGE_DIR/garage.toml.new"
fi
export GARAGE_CONFIG_FILE="$GARAGE_DIR/garage.toml"
if ! garage status >/dev/null 2>&1; then
    note "starting Garage (S3 on $GARAGE_S3_PORT, web on $GARAGE_WEB_PORT)"
    setsid nohup garage server >"$GARAGE_DIR/garage.log" 2>&1 < /dev/null &
    for _ in $(seq 100); do garage status >/dev/null 2>&1 && break; sleep 0.2; done
    garage status >/dev/null 2>&1 || fail "Garage did not start; see $GARAGE_DIR/garage.log"
fi
# Read the whole answer before matching: `grep -q` leaves at the first match, and garage then dies
# of the closed pipe (SIGABRT), which pipefail would turn into "no match".
layout="$(garage layout show 2>/dev/null || true)"
if grep -q "No nodes currently have a role" <<<"$layout"; then
    node_id="$(garage node id -q | cut -d@ -f1)"
    note "assigning the storage layout to node ${node_id:0:16}"
    garage layout assign -z local -c 1G "$node_id" >/dev/null
    garage layout apply --version 1 >/dev/null
fi
if ! garage key info "$STORAGE_ACCESS_KEY" >/dev/null 2>&1; then
    garage key import --yes -n nexgate-local "$STORAGE_ACCESS_KEY" "$STORAGE_SECRET_KEY" >/dev/null \
        || fail "cannot import the local storage key"
fi
for bucket in "$STORAGE_PUBLIC_BUCKET" "$STORAGE_PRIVATE_BUCKET"; do
    garage bucket info "$bucket" >/dev/null 2>&1 || garage bucket create "$bucket" >/dev/null
    garage bucket allow --read --write --owner "$bucket" --key "$STORAGE_ACCESS_KEY" >/dev/null
done
garage bucket website --allow "$STORAGE_PUBLIC_BUCKET" >/dev/null
web_host="$STORAGE_PUBLIC_BUCKET.web.garage.localhost"
grep -q " $web_host\$" /etc/hosts || echo "127.0.0.1 $web_host" >> /etc/hosts

# ---------------------------------------------------------------------------------------------
step "FFmpeg"
apt_install ffmpeg

# The tests' SMTP server (the notifier's email channel is checked against a real one).
step "aiosmtpd (local SMTP server for the tests)"
apt_install python3-aiosmtpd

note "stores are up: PostgreSQL :5432, Redis :$REDIS_PORT, RabbitMQ :$AMQP_PORT (MQTT :$MQTT_PORT), Garage :$GARAGE_S3_PORT (web :$GARAGE_WEB_PORT)"
