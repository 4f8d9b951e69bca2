# shellcheck shell=bash
# A private, throwaway image registry for the test suite: Debian's `docker-registry` (the CNCF
# distribution registry) on 127.0.0.1, so that image pins are tested with real repository
# digests without any public registry. The test engine pushes to and pulls from it over plain
# HTTP: dockerd allows that for 127.0.0.0/8 without configuration.
#
# Sourced by scripts/test.sh, which defines `log`, `warn`, `pid_alive`, `stop_pid`, `free_port`
# and `http_status` and owns the EXIT trap that calls `registry_stop`. Nothing here touches the
# package's system service: we run the binary ourselves with its storage in a temporary
# directory.
#
# After `registry_start` succeeds:
#   REGISTRY_DIR  the temporary directory (config.yml, data/, registry.log)
#   REGISTRY_PID  the registry's process id
#   KOMANDER_TEST_REGISTRY  exported: 127.0.0.1:<port>

REGISTRY_DIR=''
REGISTRY_PID=''

# Whether Debian's docker-registry is installed.
registry_installed() {
    command -v docker-registry >/dev/null
}

# Starts the private registry on a free port of 127.0.0.1. Returns non-zero (after saying why)
# instead of exiting, so that the caller decides whether that is fatal (CI) or a loud warning.
registry_start() {
    local i port
    if ! registry_installed; then
        warn "docker-registry is not installed"
        return 1
    fi
    REGISTRY_DIR=$(mktemp -d /tmp/komander-registry.XXXXXX) || return 1
    port=$(free_port)
    # No auth section: anyone on loopback may push and pull, which is what the tests need.
    cat >"$REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$REGISTRY_DIR/config.yml" >"$REGISTRY_DIR/registry.log" 2>&1 &
    REGISTRY_PID=$!
    # Bounded: 60 tries, 0.5 s apart.
    for ((i = 0; i < 60; i++)); do
        if ! pid_alive "$REGISTRY_PID"; then
            warn "docker-registry exited at start:"
            tail -n 20 "$REGISTRY_DIR/registry.log" >&2
            return 1
        fi
        if [[ $(http_status "http://127.0.0.1:$port/v2/") == 200 ]]; then
            break
        fi
        sleep 0.5
    done
    if ((i == 60)); then
        warn "docker-registry (pid $REGISTRY_PID) did not answer within 30 s:"
        tail -n 20 "$REGISTRY_DIR/registry.log" >&2
        return 1
    fi
    export KOMANDER_TEST_REGISTRY="127.0.0.1:$port"
    log "docker-registry running: pid $REGISTRY_PID, $KOMANDER_TEST_REGISTRY"
}

# Stops the private registry by its pid and removes its directory. Safe to call twice, and
# when registry_start failed half-way.
registry_stop() {
    if [[ -n $REGISTRY_PID ]]; then
        stop_pid "$REGISTRY_PID" TERM docker-registry || true
        REGISTRY_PID=''
    fi
    if [[ -n $REGISTRY_DIR ]]; then
        rm -rf -- "$REGISTRY_DIR" 2>/dev/null || warn "could not remove all of $REGISTRY_DIR"
        REGISTRY_DIR=''
    fi
    unset KOMANDER_TEST_REGISTRY
}
