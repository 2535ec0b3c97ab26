#!/usr/bin/env bash
# Sets up the stores, builds everything, and runs every test (unit tests in crates/, host/ and ops/,
# and the black-box tests in tests/ that start the real host with the real components). Ends with
# cargo's test summary; exits non-zero when any test fails.
source "$(dirname "$0")/lib.sh"
cd "$NEXGATE_ROOT"

bash infra/setup-stores.sh
bash scripts/build.sh

step "running the tests (unit and black-box)"
export NEXGATE_HOST_BIN="$NEXGATE_NATIVE_TARGET_DIR/release/nexgate-host"
export NEXGATE_OPS_BIN="$NEXGATE_NATIVE_TARGET_DIR/release/nexgate-ops"
# --release reuses the dependencies the binaries were built with (no second wasmtime build).
# The black-box tests mostly wait on processes and stores, so more threads than cores pays off.
native_cargo test --locked --release --workspace --no-fail-fast $(native_excludes) -- --test-threads "${NEXGATE_TEST_THREADS:-4}"
