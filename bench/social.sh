#!/usr/bin/env bash
# Social benchmark (docs/social.md, issue "E-Social"): seeds 10,000 users, 1,000,000 posts, a viewer
# following 1,000 accounts and an author followed by all; then the home feed's first and next
# pages at concurrency 4 and 16 beside the raw Postgres page and GET /users/relationships for 100
# ids in the same run, post creation by the author at 4, and like/unlike on one hot post at 64
# beside pgbench's bare counter UPDATE. Runs the ignored test tests/tests/social_bench.rs; prints a
# Markdown table. BENCH_SECS (default 15) per measurement.
source "$(dirname "$0")/../scripts/lib.sh"
cd "$NEXGATE_ROOT"
bash infra/setup-stores.sh
bash scripts/build.sh
step "social benchmark (${BENCH_SECS:-15} s per measurement)"
native_cargo test --locked --release -p nexgate-tests --test social_bench -- --ignored --nocapture --test-threads 1 2>&1 \
    | grep -E '^\||^seeded|test result'
