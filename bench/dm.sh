#!/usr/bin/env bash
# Direct-message benchmark (docs/dm.md): seeds a user with 1,000 conversations and 1,000,000
# messages over 10,000 conversations, then sending and the conversation list at concurrency 4 and
# 16 beside GET /users/me in the same run, and search at 4. Runs the ignored test
# tests/tests/dm_bench.rs; prints a Markdown table. BENCH_SECS (default 15) per measurement.
source "$(dirname "$0")/../scripts/lib.sh"
cd "$NEXGATE_ROOT"
bash infra/setup-stores.sh
bash scripts/build.sh
step "direct-message benchmark (${BENCH_SECS:-15} s per measurement)"
native_cargo test --locked --release -p nexgate-tests --test dm_bench -- --ignored --nocapture --test-threads 1 2>&1 \
    | grep -E '^\||seeded|test result'
