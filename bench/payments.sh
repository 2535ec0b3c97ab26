#!/usr/bin/env bash
# Payment benchmark: intent creation p50/p99 (Selcom order + wallet push against the provider
# simulator) beside GET /payments/methods, and signed provider callbacks processed per second with
# their ledger postings beside the same callbacks replayed (everything but the posting). Runs the
# ignored test tests/tests/payments_bench.rs; prints a Markdown table.
# Usage: bash bench/payments.sh   (BENCH_PAYMENTS=400 intents per concurrency level by default)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$NEXGATE_ROOT"
bash infra/setup-stores.sh
bash scripts/build.sh
step "payments benchmark (${BENCH_PAYMENTS:-400} intents per row)"
native_cargo test --locked --release -p nexgate-tests --test payments_bench -- --ignored --nocapture 2>&1 \
    | grep -E '^\||^[0-9]+ intents|test result'
