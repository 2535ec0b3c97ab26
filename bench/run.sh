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
# The host as it should be served: the `dist` profile (whole-program LTO). Tests and CI use the
# `release` build, which is measured beside it.
step "building nexgate-host and the native baseline with the dist profile (fat LTO: ~18 min the first time, ~8 min after a host change)"
native_cargo build --locked --profile dist -p nexgate-host -p nexgate-bench-hello

BIN="$NEXGATE_NATIVE_TARGET_DIR/release"
DIST_BIN="$NEXGATE_NATIVE_TARGET_DIR/dist"
ADMIN="postgres://nexgate_admin:$PG_PASSWORD@$PG_HOST:$PG_PORT"
source bench/lib.sh
tmp="$(mktemp -d)"
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

# The baseline and the host run on CPU 0 and wrk on CPU 1, so the two do not trade places on the
# two cores between rows (the main source of noise here); both servers get the same single core.
step "starting the native baseline and the two builds of the host (CPU 0; wrk on CPU 1)"
start taskset -c 0 "$DIST_BIN/nexgate-bench-hello" 127.0.0.1:0; native_url="$started_url"; native_pid="${pids[-1]}"
start taskset -c 0 "$DIST_BIN/nexgate-host" up --from bench/spin.toml --listen 127.0.0.1:0 --instances-max 256
dist_url="$started_url"; dist_pid="${pids[-1]}"
start taskset -c 0 "$BIN/nexgate-host" up --from bench/spin.toml --listen 127.0.0.1:0 --instances-max 256
release_url="$started_url"; release_pid="${pids[-1]}"

step "preparing a database for GET /health"
bench_db nexgate_bench
export_app_variables nexgate_bench
start "$BIN/nexgate-host" up --from spin.toml --listen 127.0.0.1:0
app_url="$started_url"; app_pid="${pids[-1]}"

# wrk's summary → "rps p50 p99 non2xx cpu" (latencies in microseconds; cpu = the server's CPU
# time per request in microseconds, user + system, from /proc/<pid>/stat). `measure_server URL
# CONNS PID [pinned] [wrk script]`.
measure_server() {
    local url="$1" conns="$2" pid="$3" pin="${4:-}" script="${5:-}" threads=1 before after
    [ "$conns" -gt 1 ] && threads=2
    local wrk=(wrk); [ -n "$pin" ] && wrk=(taskset -c 1 wrk)
    [ -n "$script" ] && wrk+=(-s "$script")
    before="$(awk '{ print $14 + $15 }' "/proc/$pid/stat")"
    "${wrk[@]}" -t"$threads" -c"$conns" -d"$DURATION" --latency "$url" >"$tmp/wrk.out"
    after="$(awk '{ print $14 + $15 }' "/proc/$pid/stat")"
    awk -v ticks="$((after - before))" -v hz="$(getconf CLK_TCK)" '
        function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        / Non-2xx/ { bad = $NF }
        END { printf "%.0f %.0f %.0f %s %.0f\n", rps, p50, p99, (bad == "" ? 0 : bad), (n > 0 ? ticks * 1000000 / hz / n : 0) }' "$tmp/wrk.out"
}
# Warm-up (first instantiations, connection pools).
for url in "$dist_url" "$release_url"; do
    wrk -t1 -c4 -d2s "$url/hello" >/dev/null; wrk -t1 -c4 -d2s "$url/wasi-hello" >/dev/null
done
wrk -t1 -c4 -d2s "$app_url/health" >/dev/null
# `host_rows LABEL URL PID CONNS`: the row of one host target and its overhead over the baseline
# measured just before it (nr n50 n99 ncpu).
host_rows() {
    local r p50 p99 bad cpu
    read -r r p50 p99 bad cpu < <(measure_server "$2" "$4" "$3" pin "${5:-}")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$4" "$r" "$p50" "$p99" "$cpu" "$bad"
    printf '| overhead | %s | %s× throughput | **%+d µs** | %+d µs | %+d µs | |\n' "$4" \
        "$(awk -v a="$r" -v b="$nr" 'BEGIN { printf "%.2f", a / b }')" "$((p50 - n50))" "$((p99 - n99))" "$((cpu - ncpu))"
}
printf '| target | concurrency | req/s | p50 µs | p99 µs | server CPU µs/req | non-2xx |\n|---|---|---|---|---|---|---|\n'
for c in 1 64; do
    read -r nr n50 n99 nbad ncpu < <(measure_server "$native_url/" "$c" "$native_pid" pin)
    printf '| native hyper hello | %s | %s | %s | %s | %s | %s |\n' "$c" "$nr" "$n50" "$n99" "$ncpu" "$nbad"
    host_rows "host (dist) + wasi-hello (wasi:http types)" "$dist_url/wasi-hello" "$dist_pid" "$c"
    host_rows "host (dist) + hello (spin-sdk Request/Response)" "$dist_url/hello" "$dist_pid" "$c"
    host_rows "host (release, as tested) + wasi-hello" "$release_url/wasi-hello" "$release_pid" "$c"
    host_rows "host (release, as tested) + hello" "$release_url/hello" "$release_pid" "$c"
done
# One connection with 1 ms between a response and the next request (bench/think-time.lua): the
# server idles between requests as under real traffic, and each request finds the instance the
# host made for it after the previous one.
think=bench/think-time.lua
read -r nr n50 n99 nbad ncpu < <(measure_server "$native_url/" 1 "$native_pid" pin "$think")
printf '| native hyper hello, 1 ms think time | 1 | %s | %s | %s | %s | %s |\n' "$nr" "$n50" "$n99" "$ncpu" "$nbad"
host_rows "host (dist) + wasi-hello, 1 ms think time" "$dist_url/wasi-hello" "$dist_pid" 1 "$think"
host_rows "host (dist) + hello, 1 ms think time" "$dist_url/hello" "$dist_pid" 1 "$think"
for c in 1 16; do
    read -r r p50 p99 bad cpu < <(measure_server "$app_url/health" "$c" "$app_pid")
    printf '| GET /health (Postgres, Redis, MQTT, S3) | %s | %s | %s | %s | %s | %s |\n' "$c" "$r" "$p50" "$p99" "$cpu" "$bad"
done

# Where the host's share goes, step by step, without the network: the same requests made
# in-process one at a time (`nexgate-host lifecycle`), dist build, CPU 0.
for path in /wasi-hello /hello; do
    echo
    taskset -c 0 "$DIST_BIN/nexgate-host" lifecycle --from bench/spin.toml --path "$path" 2>/dev/null |
        awk 'NR == 1 { print $0 "\n"; next }
             NR == 2 { print "| step | mean µs | p50 µs | p99 µs |\n|---|---|---|---|"; next }
             { n = NF; name = $1; for (i = 2; i <= n - 3; i++) name = name " " $i
               printf "| %s | %s | %s | %s |\n", name, $(n-2), $(n-1), $n }'
done
