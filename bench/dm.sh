#!/usr/bin/env bash
# Direct-message benchmark (docs/dm.md): seeds a user with 1,000 conversations and 1,000,000
# messages over 10,000 conversations, then sending and the conversation list at concurrency 4 and
# 16 beside GET /users/me in the same run, and search at 4. Runs the ignored test
# tests/tests/dm_bench.rs; prints a Markdown table. BENCH_SECS (default 15) per measurement.
# Then the real-time gateway (tests/tests/dm_realtime_bench.rs): the bus's bare publish-to-consume
# latency at 200 messages/s, 10,000 idle connections (BENCH_IDLE_CONNECTIONS) and the gateway's
# memory, and send-to-socket latency at 200 messages/s with them open. BENCH_ONLY=realtime runs
# only that part.
source "$(dirname "$0")/../scripts/lib.sh"
cd "$NEXGATE_ROOT"
bash infra/setup-stores.sh
bash scripts/build.sh
# 10,000 client sockets here and 10,000 in the gateway: raise the open-file limit for both (the
# soft limit to the hard one; each process needs a little over 10,000).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 10300 ] \
    || fail "the open-file limit is $(ulimit -n); the 10,000-connection figure needs about 10,300"
if [ "${BENCH_ONLY:-}" != realtime ]; then
    step "direct-message benchmark (${BENCH_SECS:-15} s per measurement)"
    native_cargo test --locked --release -p nexgate-tests --test dm_bench -- --ignored --nocapture --test-threads 1 2>&1 \
        | grep -E '^\||seeded|test result'
fi
step "real-time gateway benchmark (${BENCH_SECS:-15} s per measurement)"
native_cargo test --locked --release -p nexgate-tests --test dm_realtime_bench -- --ignored --nocapture --test-threads 1 2>&1 \
    | grep -E '^\||idle connections|RSS|test result|panicked'
