# shellcheck shell=bash
# A private, throwaway Docker Engine for the test suite.
#
# Sourced by scripts/test.sh, which defines `log`, `warn`, `pid_alive` and `stop_pid` and owns
# the EXIT trap that calls `docker_stop`. Nothing here touches a system Docker service: we run
# Debian's `dockerd` ourselves with its data, state and socket in a temporary directory (it
# starts and stops its own containerd). Test images are built on it FROM scratch with Debian's
# busybox-static (tests/src/docker.rs), since no registry can be reached.
#
# After `docker_start` succeeds:
#   DOCKER_DIR  the temporary directory (root/, exec/, docker.sock, dockerd.log)
#   DOCKER_PID  dockerd's process id
#   KOMANDER_TEST_DOCKER_HOST  exported: unix://$DOCKER_DIR/docker.sock

DOCKER_DIR=''
DOCKER_PID=''

# Whether Debian's Docker Engine and busybox-static are installed.
docker_installed() {
    command -v dockerd >/dev/null && command -v docker >/dev/null &&
        dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'
}

# Starts the private engine. Returns non-zero (after saying why) instead of exiting, so that
# the caller decides whether a missing engine is fatal (CI) or a loud warning (a developer).
docker_start() {
    local i
    if ! docker_installed; then
        warn "dockerd, docker or busybox-static is not installed"
        return 1
    fi
    if ((EUID != 0)); then
        warn "dockerd needs root"
        return 1
    fi
    DOCKER_DIR=$(mktemp -d /tmp/komander-docker.XXXXXX) || return 1
    # --shutdown-timeout: containers left running get 5 s at our SIGTERM, then SIGKILL.
    # The default bridge (docker0) serves containers that name no network.
    dockerd --data-root "$DOCKER_DIR/root" --exec-root "$DOCKER_DIR/exec" \
        --pidfile "$DOCKER_DIR/dockerd.pid" --host "unix://$DOCKER_DIR/docker.sock" \
        --shutdown-timeout 5 --log-level warn >"$DOCKER_DIR/dockerd.log" 2>&1 &
    DOCKER_PID=$!
    # Bounded: 60 tries, 0.5 s apart.
    for ((i = 0; i < 60; i++)); do
        if ! pid_alive "$DOCKER_PID"; then
            warn "dockerd exited at start:"
            tail -n 20 "$DOCKER_DIR/dockerd.log" >&2
            return 1
        fi
        if docker --host "unix://$DOCKER_DIR/docker.sock" version >/dev/null 2>&1; then
            break
        fi
        sleep 0.5
    done
    if ((i == 60)); then
        warn "dockerd (pid $DOCKER_PID) did not answer within 30 s:"
        tail -n 20 "$DOCKER_DIR/dockerd.log" >&2
        return 1
    fi
    export KOMANDER_TEST_DOCKER_HOST="unix://$DOCKER_DIR/docker.sock"
    log "dockerd $(dockerd --version | sed 's/^Docker version //') running: pid $DOCKER_PID, $KOMANDER_TEST_DOCKER_HOST"
}

# Stops the private engine by its pid (it stops the containers and its containerd) and removes
# its directory. Safe to call twice, and when docker_start failed half-way.
docker_stop() {
    if [[ -n $DOCKER_PID ]]; then
        stop_pid "$DOCKER_PID" TERM dockerd || true
        DOCKER_PID=''
    fi
    if [[ -n $DOCKER_DIR ]]; then
        rm -rf -- "$DOCKER_DIR" 2>/dev/null || warn "could not remove all of $DOCKER_DIR"
        DOCKER_DIR=''
    fi
    unset KOMANDER_TEST_DOCKER_HOST
}
