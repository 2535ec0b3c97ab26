#!/usr/bin/env bash
# Builds the Spin components for wasm32-wasip1 with +simd128 and copies each to build/components/,
# where spin.toml's `source` paths point. Incremental: cargo rebuilds only what changed, and a
# component file is replaced only when its bytes changed.
#
# Usage: scripts/build-wasm.sh [crate ...]   (default: every component crate)
#
# Uses rustup's wasm32-wasip1 target where it is installed; otherwise Debian's rustc-web with the
# standard library built from source (see ../shared/TOOLCHAIN.md), installing it when missing.
source "$(dirname "$0")/lib.sh"
cd "$NEXGATE_ROOT"

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
    mapfile -t crates < <(component_crates)
fi
packages=()
for c in "${crates[@]}"; do packages+=(-p "$c"); done

step "building ${#crates[@]} components for wasm32-wasip1 (first build from cold takes several minutes)"
# Initial linear memory 8 MiB (Rust's default is the 1 MiB stack plus static data): wasi-libc's
# malloc serves from the initial memory first, so a typical request never executes `memory.grow`,
# and the host's pooling allocator never has to change page protections for it (two `mprotect`
# calls and a TLB shoot-down per request otherwise; see bench/README.md). Untouched pages cost
# nothing: they are never faulted in, and the host resets only the pages an instance wrote.
flags="-C target-feature=+simd128 -C link-arg=--initial-memory=8388608"
claim_target_dir "$NEXGATE_WASM_TARGET_DIR"
if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
    note "using rustup's wasm32-wasip1 standard library"
    CARGO_TARGET_DIR="$NEXGATE_WASM_TARGET_DIR" RUSTFLAGS="$flags" \
        cargo build --locked --release --target wasm32-wasip1 "${packages[@]}"
else
    note "rustup has no wasm32-wasip1 here: using Debian's rustc-web and building std from source"
    apt_install rustc-web rust-web-src lld-22 wasi-libc
    [ -x /usr/bin/rustc ] || fail "/usr/bin/rustc (rustc-web) is missing after install"
    RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$NEXGATE_WASM_TARGET_DIR" \
        RUSTFLAGS="$flags -C link-self-contained=no -L /usr/lib/wasm32-wasi -C link-arg=/usr/lib/wasm32-wasi/crt1-reactor.o" \
        cargo build --locked --release -Zbuild-std=std,panic_abort --target wasm32-wasip1 "${packages[@]}"
fi

mkdir -p build/components
for c in "${crates[@]}"; do
    file="${c//-/_}.wasm"
    built="$NEXGATE_WASM_TARGET_DIR/wasm32-wasip1/release/$file"
    [ -f "$built" ] || fail "cargo reported success but $built is missing"
    if ! cmp -s "$built" "build/components/$c.wasm"; then
        cp "$built" "build/components/$c.wasm.tmp" && mv "build/components/$c.wasm.tmp" "build/components/$c.wasm"
        note "updated build/components/$c.wasm ($(du -k "build/components/$c.wasm" | cut -f1) KiB)"
    fi
done
