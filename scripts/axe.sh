# shellcheck shell=bash
# axe-core, the accessibility checker that the browser tests (tests/it/web.rs) inject into each
# main page of the web UI: pinned, from the npm registry, installed with the machine's npm into
# ~/.cache/komander/node. Nothing else is installed: npm must be there already.
#
# Sourced by scripts/test.sh, which defines `log` and hands the file to the tests as
# KOMANDER_TEST_AXE. Run by hand before running the browser tests alone as
#
#   export KOMANDER_TEST_AXE=$(bash scripts/axe.sh)
#
# which installs axe-core there unless it is that version already, and prints the path of its
# axe.min.js.

readonly AXE_VERSION=4.14.1
readonly AXE_PREFIX=$HOME/.cache/komander/node
readonly AXE_SCRIPT=$AXE_PREFIX/node_modules/axe-core/axe.min.js

# Prints the version of the axe-core installed under AXE_PREFIX; nothing when there is none.
axe_installed_version() {
    local manifest=$AXE_PREFIX/node_modules/axe-core/package.json
    [[ -f $manifest ]] || return 0
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' \
        "$manifest" 2>/dev/null || true
}

# True when axe.min.js of AXE_VERSION is there.
axe_ready() {
    [[ -f $AXE_SCRIPT && $(axe_installed_version) == "$AXE_VERSION" ]]
}

# Installs axe-core AXE_VERSION under AXE_PREFIX unless it is there at that version (npm is
# needed only then); fails unless it is there afterwards. npm's output goes to standard error.
ensure_axe() {
    if axe_ready; then
        return 0
    fi
    if ! command -v npm >/dev/null; then
        printf 'axe.sh: npm is missing: axe-core %s cannot be installed\n' "$AXE_VERSION" >&2
        return 1
    fi
    log "installing axe-core $AXE_VERSION (npm) into $AXE_PREFIX"
    mkdir -p "$AXE_PREFIX"
    # --ignore-scripts: nothing downloaded runs here; axe-core needs no install step.
    npm install --prefix "$AXE_PREFIX" --no-audit --no-fund --ignore-scripts --save-exact \
        --loglevel=error "axe-core@$AXE_VERSION" >&2 || return 1
    axe_ready
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    log() { printf '==> axe.sh: %s\n' "$*" >&2; }
    ensure_axe
    printf '%s\n' "$AXE_SCRIPT"
fi
