#!/usr/bin/env bash
# Notification benchmark: events per second end to end (publish on RabbitMQ → the notifier's
# committed in-app row) with p50/p99 latency, beside events the notifier only deduplicates and
# acks (the floor, same run); the pushes those events cause with a fast and a slow (250 ms)
# gateway. Runs the ignored test tests/tests/notifications_bench.rs; prints a Markdown table.
# Usage: bash bench/notifications.sh   (BENCH_NOTIFICATIONS=2000 events per burst by default)
source "$(dirname "$0")/../scripts/lib.sh"
cd "$NEXGATE_ROOT"
bash infra/setup-stores.sh
bash scripts/build.sh
step "notifications benchmark (${BENCH_NOTIFICATIONS:-2000} events per burst)"
native_cargo test --locked --release -p nexgate-tests --test notifications_bench -- --ignored --nocapture 2>&1 \
    | grep -E '^\||test result'
