# Shared helpers for the scripts in this folder. Source it; do not run it.
#
# NEXGATE_CACHE_DIR (default ~/.cache/nexgate, outside the clone) holds the cargo target folders for
# native and wasm builds and the host's compiled-component cache, so a fresh clone on a used machine
# does not rebuild the world.

set -euo pipefail

NEXGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NEXGATE_ROOT
export NEXGATE_CACHE_DIR="${NEXGATE_CACHE_DIR:-$HOME/.cache/nexgate}"
export NEXGATE_NATIVE_TARGET_DIR="${NEXGATE_NATIVE_TARGET_DIR:-$NEXGATE_CACHE_DIR/target}"
export NEXGATE_WASM_TARGET_DIR="${NEXGATE_WASM_TARGET_DIR:-$NEXGATE_CACHE_DIR/target-wasm}"
export NEXGATE_HOST_CACHE_DIR="${NEXGATE_HOST_CACHE_DIR:-$NEXGATE_CACHE_DIR/host-compiled}"
export NEXGATE_STATE_DIR="${NEXGATE_STATE_DIR:-/var/lib/nexgate}"
export PATH="$HOME/.cargo/bin:$PATH"

# Step bookkeeping: every failure names the step it happened in.
NEXGATE_STEP="start"
step() {
    NEXGATE_STEP="$1"
    printf '\033[1m==> %s\033[0m\n' "$1" >&2
}
note() { printf '    %s\n' "$*" >&2; }
fail() {
    printf '\033[31merror during "%s": %s\033[0m\n' "$NEXGATE_STEP" "$*" >&2
    exit 1
}
on_error() {
    local code=$?
    # A child script that failed has already named its step.
    [ "$NEXGATE_STEP" = "start" ] && return
    printf '\033[31mfailed during "%s" (exit %s). See the output above; re-running is safe.\033[0m\n' "$NEXGATE_STEP" "$code" >&2
}
trap on_error ERR

# Runs apt-get install for the packages that are missing (quietly, once).
NEXGATE_APT_UPDATED=""
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    note "installing Debian packages: ${missing[*]} (takes a few minutes the first time)"
    if [ -z "$NEXGATE_APT_UPDATED" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || fail "apt-get update failed; is the package mirror reachable?"
        NEXGATE_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || fail "apt-get install ${missing[*]} failed"
}

# Native cargo, with the shared native target folder.
native_cargo() {
    claim_target_dir "$NEXGATE_NATIVE_TARGET_DIR"
    CARGO_TARGET_DIR="$NEXGATE_NATIVE_TARGET_DIR" cargo "$@"
}

# Every crate with crate-type cdylib under functions/, tests/fixtures/ and bench/components/ is a
# Spin component.
component_crates() {
    local manifest
    for manifest in "$NEXGATE_ROOT"/functions/*/Cargo.toml "$NEXGATE_ROOT"/tests/fixtures/*/Cargo.toml \
        "$NEXGATE_ROOT"/bench/components/*/Cargo.toml; do
        [ -f "$manifest" ] || continue
        grep -q 'crate-type = \["cdylib"\]' "$manifest" || continue
        sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1
    done
}

# `--exclude <crate>` for every component: native builds and tests leave them to the wasm build.
native_excludes() {
    local c
    for c in $(component_crates); do printf -- '--exclude %s ' "$c"; done
}

# The shared target folders serve every clone on this machine. Cargo decides whether a workspace
# crate is fresh from the source paths recorded at its last build; after a build from another
# clone it could reuse artefacts built from that clone's files. So when the clone changes, forget
# the fingerprints of our own crates (dependencies stay reused) and record the new owner.
claim_target_dir() {
    local dir="$1" owner_file="$1/.nexgate-root" pkg
    mkdir -p "$dir"
    if [ "$(cat "$owner_file" 2>/dev/null)" != "$NEXGATE_ROOT" ]; then
        for pkg in $(workspace_packages); do
            find "$dir" -maxdepth 4 -type d -path "*/.fingerprint/$pkg-*" -prune -exec rm -rf {} + 2>/dev/null || true
        done
        echo "$NEXGATE_ROOT" > "$owner_file"
    fi
}

# Names of this workspace's own packages.
workspace_packages() {
    local manifest
    for manifest in "$NEXGATE_ROOT"/*/Cargo.toml "$NEXGATE_ROOT"/crates/*/Cargo.toml "$NEXGATE_ROOT"/functions/*/Cargo.toml \
        "$NEXGATE_ROOT"/tests/Cargo.toml "$NEXGATE_ROOT"/tests/fixtures/*/Cargo.toml "$NEXGATE_ROOT"/bench/*/Cargo.toml; do
        [ -f "$manifest" ] || continue
        sed -n '/^\[package\]/,/^\[/ s/^name = "\(.*\)"/\1/p' "$manifest" | head -1
    done | sort -u
}
