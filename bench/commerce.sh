#!/usr/bin/env bash
# Commerce benchmark: checkouts per second on one hot variant at concurrency 64 (orders,
# reservations, payables; no provider call) beside pgbench running the bare conditional stock
# UPDATE at the same concurrency in the same run (docs/commerce.md, "Speed goals"). Runs the
# ignored test tests/tests/commerce_bench.rs; prints a Markdown table.
# Usage: bash bench/commerce.sh   (BENCH_SECS=30 per side by default)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$NEXGATE_ROOT"
bash infra/setup-stores.sh
bash scripts/build.sh
step "commerce checkout benchmark (${BENCH_SECS:-30} s per side)"
native_cargo test --locked --release -p nexgate-tests --test commerce_bench -- --ignored --nocapture --test-threads 1 2>&1 \
    | grep -E '^\||test result'
