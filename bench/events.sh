#!/usr/bin/env bash
# Ticketing benchmark (docs/ticketing.md, issue "E-Events"): a sale of BENCH_TICKETS free tickets
# (default 5,000) signed in wasm and stored, beside the same signatures natively; then check-in
# at concurrency 16 for BENCH_SECS (default 20) beside pgbench's bare conditional UPDATE at the
# same concurrency in the same run. Runs the ignored test tests/tests/events_bench.rs; prints a
# Markdown table.
source "$(dirname "$0")/../scripts/lib.sh"
cd "$NEXGATE_ROOT"
bash infra/setup-stores.sh
bash scripts/build.sh
step "ticketing benchmark (${BENCH_TICKETS:-5000} tickets, ${BENCH_SECS:-20} s of check-in)"
native_cargo test --locked --release -p nexgate-tests --test events_bench -- --ignored --nocapture --test-threads 1 2>&1 \
    | grep -E '^\||test result'
