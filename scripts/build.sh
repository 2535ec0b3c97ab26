#!/usr/bin/env bash
# Builds everything: the components (wasm32-wasip1, copied to build/components/) and the native
# binaries (nexgate-host, nexgate-ops) in the shared target folder outside the clone.
# Incremental and idempotent; a fresh machine's first build takes a while (announced below).
source "$(dirname "$0")/lib.sh"
cd "$NEXGATE_ROOT"

step "fetching crates (the host's bindings read spin-sdk's WIT files from the cargo registry)"
cargo fetch --locked >/dev/null 2>&1 || cargo fetch --locked

bash "$NEXGATE_ROOT/scripts/build-wasm.sh"

step "building nexgate-host and nexgate-ops (release; about 15 minutes on 2 cores from cold, seconds after)"
# The same package set as scripts/test.sh, so features unify the same way and nothing is rebuilt twice.
native_cargo build --locked --release --workspace $(native_excludes)
note "binaries in $NEXGATE_NATIVE_TARGET_DIR/release/"
