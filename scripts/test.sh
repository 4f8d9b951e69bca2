#!/usr/bin/env bash
# Runs every Komander test. The one command for developers and for CI (.ci/run execs it).
#
#   scripts/test.sh
#
# Stages, in order; the first failure stops the run with a non-zero exit:
#   1. provision  install what is missing: Debian's postgresql, docker.io, busybox-static,
#                 docker-registry, chromium and chromium-driver (and python3-venv if
#                 `python3 -m venv` fails; Debian's npm only on a machine with no node at all),
#                 the rustfmt and clippy components, the wasm32-wasip2 and
#                 wasm32-unknown-unknown targets, schemathesis (pinned) in a venv under
#                 ~/.cache/komander, and axe-core (pinned, from the npm registry, with the
#                 machine's npm) under ~/.cache/komander/node
#   2. lint       cargo fmt --check; cargo clippy -D warnings, with KOMANDER_SKIP_GUEST_BUILD=1,
#                 also of the web UI's browser half (wasm32-unknown-unknown)
#                 (it only checks: no plugin and no hydrate bundle is built for it)
#   3. test       build komander with its first-party plugins and the web UI's hydrate bundle;
#                 a private PostgreSQL server, a private dockerd and a private image registry,
#                 then cargo test --workspace (SQLite, PostgreSQL, the Docker capability
#                 against the real engine, image pins against the registry, the web UI in a
#                 headless chromium, checked by axe-core; screenshots in target/screenshots/)
#   4. fuzz       schemathesis against a real `komander serve` on SQLite
#   5. pg smoke   `komander serve` on a fresh PostgreSQL database becomes ready
#
# It works as root on a fresh Debian 12 machine and on a developer's machine that has things
# installed already: every install is skipped when its thing is there. With CI=true anything that
# cannot be provisioned fails the run. Otherwise a missing PostgreSQL, Docker Engine, browser or
# npm is a loud warning: their tests skip (saying so) and the PostgreSQL smoke test does not run.
#
# Everything this script starts (PostgreSQL, dockerd, the registry, komander) is stopped by process id when it exits,
# however it exits, and its temporary directories are removed.
#
# Environment:
#   CARGO_TARGET_DIR    default ~/.cache/komander/target: outside the repo, so a fresh clone (CI)
#                       or a second worktree reuses the compiled dependencies
#   KOMANDER_FUZZ_SEED  replay a schemathesis run with the seed it printed
#   KOMANDER_FUZZ_EXAMPLES  schemathesis's test cases per operation and phase (default 25)
#   KOMANDER_TEST_KUBECONFIG  a kubeconfig file: runs the live Kubernetes test against that
#                       cluster (nothing here can start one, so it skips without, even in CI)
#   KOMANDER_TEST_CHROMIUM, KOMANDER_TEST_CHROMEDRIVER
#                       other browser binaries than Debian's /usr/bin/chromium and
#                       /usr/bin/chromedriver
#   KOMANDER_SCREENSHOTS  where the browser tests save their screenshots (default
#                       target/screenshots/ of the repository)
#   KOMANDER_SKIP_GUEST_BUILD  ignored (unset): the tests need what the build scripts build
#   CI                  "true" (or 1) makes every provisioning problem fatal
set -euo pipefail

readonly SCHEMATHESIS_VERSION=4.32.5
readonly FUZZ_EXAMPLES=${KOMANDER_FUZZ_EXAMPLES:-25} # test cases per API operation and phase
readonly FUZZ_TIMEOUT=600 # seconds for the whole schemathesis run
readonly READY_TIMEOUT=60 # seconds for komander to answer /readyz
readonly STOP_TIMEOUT=15  # seconds a process gets after its signal, before SIGKILL

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly CACHE_DIR=$HOME/.cache/komander
readonly VENV=$CACHE_DIR/venv

WORK=''              # our temporary directory: server data dirs, logs
SERVER_PID=''        # the `komander serve` we started, while it runs
FUZZ_TOKEN=''        # the fuzzer's server's bootstrap token
SERVER_LOG=''        # its output
SERVER_URL=''        # its base URL, http://127.0.0.1:<port>
KOMANDER_BIN=''      # the binary under test, in CARGO_TARGET_DIR
STOPPED_STATUS=''    # exit status of the last process stop_pid stopped, if it was our child
POLICY_RC_CREATED='' # set while /usr/sbin/policy-rc.d is ours to remove

# shellcheck source=scripts/postgres.sh
source "$REPO_ROOT/scripts/postgres.sh"
# shellcheck source=scripts/docker.sh
source "$REPO_ROOT/scripts/docker.sh"
# shellcheck source=scripts/registry.sh
source "$REPO_ROOT/scripts/registry.sh"
# shellcheck source=scripts/compose.sh
source "$REPO_ROOT/scripts/compose.sh"
# shellcheck source=scripts/axe.sh
source "$REPO_ROOT/scripts/axe.sh"

# --- output ---------------------------------------------------------------------------------

log() { printf '==> test.sh: %s\n' "$*"; }
warn() { printf 'test.sh: warning: %s\n' "$*" >&2; }
die() {
    printf 'test.sh: error: %s\n' "$*" >&2
    exit 1
}

# A warning nobody can miss in a scrolling log: something is NOT being tested.
loud_warning() {
    local bar='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
    {
        printf '\n%s\n' "$bar"
        printf '!!! %s\n' "$@"
        printf '%s\n\n' "$bar"
    } >&2
}

is_ci() { [[ ${CI:-} == true || ${CI:-} == 1 ]]; }

# --- processes --------------------------------------------------------------------------------

# Prints a TCP port that is free on 127.0.0.1 right now (the kernel picks it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# True while the process runs. A zombie (exited, not yet reaped by us) counts as stopped:
# `kill -0` would still say it exists. Reads /proc so that no procps is needed.
pid_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) } # drop "pid (command) ": the state letter comes next
    [[ ${stat:0:1} != Z ]]
}

# stop_pid PID SIGNAL NAME: sends SIGNAL, waits up to STOP_TIMEOUT seconds, then SIGKILL.
# Returns 1 if the process had to be killed. Sets STOPPED_STATUS to its exit status when it was
# our child (for the postmaster, which pg_ctl started, `wait` can only say it is not ours).
stop_pid() {
    local pid=$1 signal=$2 name=$3 i killed=0
    STOPPED_STATUS=''
    if pid_alive "$pid"; then
        kill -s "$signal" "$pid" 2>/dev/null || true
        for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        if pid_alive "$pid"; then
            warn "$name (pid $pid) did not stop within ${STOP_TIMEOUT}s of SIG$signal: killing it"
            kill -s KILL "$pid" 2>/dev/null || true
            killed=1
            for ((i = 0; i < 50; i++)); do
                pid_alive "$pid" || break
                sleep 0.1
            done
        fi
    fi
    if wait "$pid" 2>/dev/null; then STOPPED_STATUS=0; else STOPPED_STATUS=$?; fi
    ((killed == 0))
}

# http_status URL [TOKEN]: prints the HTTP status of a GET (0 when nothing answered).
# Python rather than curl: python3 is needed anyway, and a fresh Debian has no curl.
# Proxies are ignored: the server is on loopback.
http_status() {
    python3 - "$@" <<'PY'
import sys, urllib.error, urllib.request

request = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    request.add_header("Authorization", "Bearer " + sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=5) as response:
        print(response.status)
except urllib.error.HTTPError as error:
    print(error.code)
except Exception:
    print(0)
PY
}

# Removes the EXIT-trap's leftovers and stops what we started, in reverse order of starting.
cleanup() {
    local status=$?
    set +e
    trap - INT TERM
    if [[ -n $SERVER_PID ]]; then
        if ((status != 0)) && [[ -f $SERVER_LOG ]]; then
            warn "last lines of the komander server's log:"
            tail -n 40 "$SERVER_LOG" >&2
        fi
        stop_pid "$SERVER_PID" TERM komander
        SERVER_PID=''
    fi
    pg_stop
    registry_stop
    docker_stop
    remove_policy_rc
    if [[ -n $WORK ]]; then
        rm -rf -- "$WORK"
    fi
    exit "$status"
}

# --- provisioning -----------------------------------------------------------------------------

remove_policy_rc() {
    if [[ -n $POLICY_RC_CREATED ]]; then
        rm -f /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=''
    fi
}

# Installs Debian packages, quietly; the log is shown only when apt-get fails. Returns non-zero
# (after saying why) when it cannot: not root, no apt-get, or apt-get failed.
install_packages() {
    local apt_log=$WORK/apt.log status=0
    if ((EUID != 0)) || ! command -v apt-get >/dev/null; then
        warn "missing Debian packages: $* (install them as root: apt-get install $*)"
        return 1
    fi
    log "installing Debian packages: $*"
    # Installing postgresql or docker.io starts system services, which we never use (the tests
    # run private servers) and which would hold ports and memory. policy-rc.d exiting 101
    # forbids service starts during the install; we remove it after, but only if we made it.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# Written by komander scripts/test.sh for one apt-get install.\nexit 101\n' \
            >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
    } >"$apt_log" 2>&1 || status=$?
    remove_policy_rc
    if ((status != 0)); then
        warn "apt-get failed (exit $status):"
        tail -n 30 "$apt_log" >&2
        return 1
    fi
}

# A venv that works: its python runs and has pip (Debian's python3 without python3-venv leaves
# a half-made venv with no pip behind).
venv_ok() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1
}

make_venv() {
    rm -rf -- "$VENV"
    mkdir -p "$CACHE_DIR"
    if python3 -m venv "$VENV" >"$WORK/venv.log" 2>&1 && venv_ok; then
        return 0
    fi
    rm -rf -- "$VENV"
    return 1
}

# Debian's pip refuses system-wide installs, and a pinned tool should not change under us:
# schemathesis lives in its own venv, installed only when it is not already that version.
ensure_schemathesis() {
    local installed
    installed=$("$VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null) || true
    if [[ $installed != "$SCHEMATHESIS_VERSION" ]]; then
        log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "schemathesis==$SCHEMATHESIS_VERSION"
    fi
}

# rustfmt and clippy are rustup components that a minimal toolchain may lack.
ensure_rust_components() {
    local installed missing=()
    if ! command -v cargo >/dev/null && [[ -f $HOME/.cargo/env ]]; then
        # shellcheck source=/dev/null
        source "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
    if command -v rustup >/dev/null; then
        installed=$(rustup component list --installed) || die "rustup component list failed"
        grep -q '^rustfmt' <<<"$installed" || missing+=(rustfmt)
        grep -q '^clippy' <<<"$installed" || missing+=(clippy)
        if ((${#missing[@]})); then
            log "adding Rust components: ${missing[*]}"
            rustup component add "${missing[@]}" || die "rustup component add ${missing[*]} failed"
        fi
        # Plugins are WebAssembly components (wasm32-wasip2): the first-party build script and
        # the plugin host's tests build plugins/ for it. The web UI's hydrate bundle is built
        # for the browser (wasm32-unknown-unknown) by komander-web-bundle's build script.
        local targets target missing_targets=()
        targets=$(rustup target list --installed) || die "rustup target list failed"
        for target in wasm32-wasip2 wasm32-unknown-unknown; do
            grep -qx "$target" <<<"$targets" || missing_targets+=("$target")
        done
        if ((${#missing_targets[@]})); then
            log "adding Rust targets: ${missing_targets[*]}"
            rustup target add "${missing_targets[@]}" ||
                die "rustup target add ${missing_targets[*]} failed"
        fi
    elif ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        die "cargo fmt and cargo clippy are needed, and there is no rustup to add them"
    fi
}

# The browser the web UI's tests drive: Debian's chromium and chromium-driver, unless
# KOMANDER_TEST_CHROMIUM and KOMANDER_TEST_CHROMEDRIVER name others (as the tests read them).
browser_installed() {
    [[ -x ${KOMANDER_TEST_CHROMIUM:-/usr/bin/chromium} &&
        -x ${KOMANDER_TEST_CHROMEDRIVER:-/usr/bin/chromedriver} ]]
}

# Checks the browser after the install; without it the browser tests skip (loudly, outside CI).
check_browser() {
    if browser_installed; then
        return 0
    fi
    local absent="${KOMANDER_TEST_CHROMIUM:-/usr/bin/chromium} or ${KOMANDER_TEST_CHROMEDRIVER:-/usr/bin/chromedriver}"
    if is_ci; then
        die "no browser: $absent is missing; with CI=true the browser tests must run"
    fi
    loud_warning \
        "No browser: $absent is missing." \
        "The web UI's browser tests will SKIP." \
        "CI runs them: install Debian's chromium and chromium-driver, as root, to run them here."
}

# axe-core for the accessibility checks of the browser tests, handed to them as
# KOMANDER_TEST_AXE. It is installed with the machine's npm (NodeSource's Node.js 20 brings
# one); this script never installs Debian's nodejs over an existing node.
provide_axe() {
    if ensure_axe; then
        export KOMANDER_TEST_AXE=$AXE_SCRIPT
        return 0
    fi
    local why="could not install axe-core $AXE_VERSION into $AXE_PREFIX (see above)"
    if ! command -v npm >/dev/null; then
        why="npm is missing (node: $(command -v node || echo none)), so axe-core $AXE_VERSION cannot be installed: install Node.js with its npm"
    fi
    if is_ci; then
        die "$why; with CI=true the accessibility checks must run"
    fi
    loud_warning \
        "$why." \
        "The web UI's accessibility checks (axe-core) will SKIP." \
        "CI runs them: install Node.js 20 with npm (or, on a machine without node, Debian's npm)."
}

provision() {
    local need=()
    # python3 picks free ports, makes tokens, polls HTTP and hosts schemathesis.
    if ! command -v python3 >/dev/null; then
        need+=(python3 python3-venv)
    elif ! venv_ok && ! make_venv; then
        need+=(python3-venv)
    fi
    if ! pg_bin_dir >/dev/null; then
        need+=(postgresql)
    fi
    if ! docker_installed; then
        need+=(docker.io busybox-static)
    fi
    if ! registry_installed; then
        need+=(docker-registry)
    fi
    if ! browser_installed; then
        need+=(chromium chromium-driver)
    fi
    # npm installs axe-core. Debian's npm depends on Debian's nodejs, which would replace a
    # NodeSource Node.js: it is installed only where there is no node at all.
    if ! axe_ready && ! command -v npm >/dev/null && ! command -v node >/dev/null; then
        need+=(npm)
    fi
    if ((${#need[@]})) && ! install_packages "${need[@]}"; then
        if is_ci; then
            die "could not install ${need[*]}; with CI=true everything must be provisioned"
        fi
        # A developer can go on without PostgreSQL, Docker, a browser or npm (loudly, later);
        # not without python3.
    fi
    command -v python3 >/dev/null || die "python3 is required and could not be installed"
    venv_ok || make_venv || {
        cat "$WORK/venv.log" >&2
        die "python3 -m venv $VENV failed (Debian: apt-get install python3-venv)"
    }
    ensure_schemathesis || die "could not install schemathesis $SCHEMATHESIS_VERSION into $VENV"
    if ensure_compose; then
        export KOMANDER_TEST_COMPOSE=$VENV/bin/docker-compose
    elif is_ci; then
        die "could not install Docker Compose $COMPOSE_VERSION into $VENV"
    else
        loud_warning "Docker Compose $COMPOSE_VERSION could not be installed:" \
            "the tests that run \`docker compose\` will SKIP."
    fi
    check_browser
    provide_axe
    ensure_rust_components
}

# --- komander serve ---------------------------------------------------------------------------

# start_komander NAME [VAR=VALUE...]: starts `komander serve` on a free port with a fresh data
# directory under $WORK/NAME plus the given settings, and waits until /readyz answers 200.
# Sets SERVER_PID, SERVER_LOG and SERVER_URL.
start_komander() {
    local name=$1 dir=$WORK/$1 port var unset_args=()
    shift
    mkdir -p "$dir/data"
    port=$(free_port)
    SERVER_URL=http://127.0.0.1:$port
    SERVER_LOG=$dir/server.log
    # The server sees only the settings given here: a developer's own KOMANDER_* variables (a
    # config file, a database URL, keys) would change what is tested.
    for var in $(compgen -e); do
        if [[ $var == KOMANDER_* ]]; then
            unset_args+=(-u "$var")
        fi
    done
    # In its own working directory, so that a relative default can never write into the repo.
    # `exec` twice (subshell, env): $! is komander's own pid.
    (cd "$dir" && exec env "${unset_args[@]}" KOMANDER_DATA_DIR="$dir/data" \
        KOMANDER_LISTEN="127.0.0.1:$port" "$@" "$KOMANDER_BIN" serve) >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    log "komander serve ($name) started: pid $SERVER_PID, $SERVER_URL"

    local i
    for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
        if ! pid_alive "$SERVER_PID"; then # (cleanup shows the end of its log)
            die "komander serve ($name) exited before it was ready"
        fi
        if [[ $(http_status "$SERVER_URL/readyz") == 200 ]]; then
            return 0
        fi
        sleep 0.2
    done
    die "komander serve ($name) did not answer 200 on /readyz within ${READY_TIMEOUT}s"
}

# Stops the server with SIGTERM, its graceful shutdown. Not stopping in time is a failure: it is
# what a service manager or Kubernetes relies on.
stop_komander() {
    local pid=$SERVER_PID
    SERVER_PID=''
    stop_pid "$pid" TERM komander ||
        die "komander did not shut down within ${STOP_TIMEOUT}s of SIGTERM"
    if [[ $STOPPED_STATUS != 0 ]]; then
        warn "komander exited with status $STOPPED_STATUS after SIGTERM (a graceful stop exits 0)"
    fi
}

# --- stages -----------------------------------------------------------------------------------

# step NAME COMMAND...: runs one command with its output on the console; names it if it fails.
step() {
    local name=$1
    shift
    log "$name: $*"
    "$@" || die "$name failed (exit $?)"
}

start_postgres() {
    if pg_start; then
        return 0
    fi
    pg_stop # whatever half-started
    if is_ci; then
        die "could not start PostgreSQL; with CI=true the PostgreSQL tests must run"
    fi
    loud_warning \
        "PostgreSQL could not be provisioned (see the warnings above)." \
        "The PostgreSQL tests will SKIP and the PostgreSQL smoke test will NOT run." \
        "CI runs them: install Debian's postgresql (or run this script as root) to run them here."
}

start_docker() {
    if docker_start; then
        return 0
    fi
    docker_stop # whatever half-started
    if is_ci; then
        die "could not start dockerd; with CI=true the Docker tests must run"
    fi
    loud_warning \
        "A Docker Engine could not be provisioned (see the warnings above)." \
        "The Docker tests will SKIP." \
        "CI runs them: install Debian's docker.io and busybox-static, as root, to run them here."
}

start_registry() {
    if registry_start; then
        return 0
    fi
    registry_stop # whatever half-started
    if is_ci; then
        die "could not start docker-registry; with CI=true the registry tests must run"
    fi
    loud_warning \
        "An image registry could not be provisioned (see the warnings above)." \
        "The tests of image pins against a registry will SKIP." \
        "CI runs them: install Debian's docker-registry, as root, to run them here."
}

# Runs one `komander` client command against the fuzzer's server as the bootstrap user; its
# failure ends the run.
seed() {
    KOMANDER_SERVER=$SERVER_URL KOMANDER_TOKEN=$FUZZ_TOKEN "$KOMANDER_BIN" "$@" ||
        die "fuzz: seeding with 'komander $*' failed"
}

# POSTs the JSON $2 to the fuzzer's server's API path $1 as the bootstrap user and prints the
# answer; an answer other than 2xx ends the run.
seed_post() {
    python3 - "$SERVER_URL/api/v1/$1" "$FUZZ_TOKEN" "$2" <<'PY' || die "fuzz: seeding with POST $1 failed"
import sys, urllib.error, urllib.request

request = urllib.request.Request(sys.argv[1], data=sys.argv[3].encode(), method="POST")
request.add_header("Authorization", "Bearer " + sys.argv[2])
request.add_header("Content-Type", "application/json")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=10) as response:
        print(response.read().decode())
except urllib.error.HTTPError as error:
    sys.exit(f"{error.code}: {error.read().decode()}")
PY
}

# Prints the field at the dotted path $1 of the JSON object on standard input.
json_field() {
    python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(value)' "$1"
}

# Fuzzes the REST API with schemathesis against a real server on SQLite, authenticated as the
# bootstrap (instance-admin) service user.
fuzz_api() {
    local token status
    token=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    FUZZ_TOKEN=$token
    # No Docker Engine for the fuzzer: a generated apply must never reach a real engine (and
    # pull from a public registry); with no target, runs answer 409 `no_target`.
    start_komander fuzz KOMANDER_BOOTSTRAP_TOKEN="$token" \
        KOMANDER_DOCKER_HOST="unix://$WORK/fuzz/no-docker.sock"

    # Without this, a broken bootstrap token makes every request 401 and the run passes empty.
    status=$(http_status "$SERVER_URL/api/v1/me" "$token")
    [[ $status == 200 ]] || die "GET /api/v1/me with the bootstrap token answered $status, not 200"

    # The environment below names the first-party Compose runtime, which the server installs
    # in the background after it is ready: wait for it (bounded like readiness).
    local i
    for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
        status=$(http_status "$SERVER_URL/api/v1/plugins/komander.compose" "$token")
        [[ $status == 200 ]] && break
        sleep 0.2
    done
    [[ $status == 200 ]] ||
        die "fuzz: the first-party komander.compose was not installed within ${READY_TIMEOUT}s"

    # Objects named like the examples in the document, made with the CLI itself, so that the
    # fuzzer reaches past the 404 of an empty instance (scripts/schemathesis.toml lists them;
    # its path parameters take them), and others for its deletes alone. Targets name an engine
    # socket nothing listens on. Environment `laptop` runs its deployments where the CLI runs:
    # its operation is started over the API, as the CLI does, and held by the fuzzer with its
    # lease. The example plugins are those the tests built.
    local plugins=$CARGO_TARGET_DIR/plugins/wasm32-wasip2/release wasm
    for wasm in webhook_runtime komander_test_guest; do
        [[ -f $plugins/$wasm.wasm ]] ||
            die "fuzz: $plugins/$wasm.wasm is missing: the test stage builds it"
    done
    local dev=(--project shop --environment dev --deployment app)
    local socket=(--socket "$WORK/fuzz/no-docker.sock")
    local seed_steps=(
        "plugin install $plugins/webhook_runtime.wasm"
        "plugin install $plugins/komander_test_guest.wasm"
        "target create local ${socket[*]}"
        "target create lent ${socket[*]}"
        "target create spare ${socket[*]}"
        "project create shop"
        "project create attic"
        "target grant local --project shop"
        "target grant lent --project shop"
        "environment create --project shop dev --runtime compose --target local"
        "environment create --project shop laptop --runtime compose --executor local"
        "environment create --project shop scratch --runtime compose --target local"
        "deployment create --project shop --environment dev app"
        "deployment create --project shop --environment dev scratch"
        "deployment create --project shop --environment laptop app"
        "service create ${dev[*]} web --image busybox:1 --port 80:18080"
        "service create ${dev[*]} worker --image busybox:1"
        "variable set ${dev[*]} --service web MODE --value fuzz"
        "variable set ${dev[*]} --service web OLD --value gone"
        "user create-service ada"
        "user create-service grace"
        "member add --project shop grace --role dev"
    )
    local step_args started invitation api_token
    for step_args in "${seed_steps[@]}"; do
        # shellcheck disable=SC2086 # each step is a list of words
        seed $step_args >/dev/null
    done
    # The ids (and the lease) the server makes, for the parameters that take them.
    started=$(seed_post projects/shop/environments/laptop/deployments/app/operations '{"kind": "apply"}')
    KOMANDER_FUZZ_OPERATION=$(json_field operation.id <<<"$started")
    KOMANDER_FUZZ_LEASE=$(json_field lease_token <<<"$started")
    invitation=$(seed --output json invitation create --project shop --role dev | json_field id)
    KOMANDER_FUZZ_INVITATION_TOKEN=$(seed --output json invitation create --project shop --role dev | json_field token)
    api_token=$(seed --output json token create --user ada --name fuzz | json_field id)
    export KOMANDER_FUZZ_OPERATION KOMANDER_FUZZ_LEASE KOMANDER_FUZZ_INVITATION_TOKEN
    # Ids that deletes take, as dictionaries (see scripts/schemathesis.toml).
    {
        cat "$REPO_ROOT/scripts/schemathesis.toml"
        printf '\n[dictionaries.invitations]\nvalues = ["%s"]\n' "$invitation"
        printf '[dictionaries.tokens]\nvalues = ["%s"]\n' "$api_token"
    } >"$WORK/fuzz/schemathesis.toml"

    # Every check runs: scripts/schemathesis.toml says which it leaves out, where, and why.
    #   --origin           the server we started, whatever `servers` the document names
    #   --exclude-operation-id install_plugin
    #                      installing from a URL downloads it: the network rule forbids
    #                      generated URLs (the plugin tests cover that operation)
    #   --generation-with-security-parameters false
    #                      send our bearer token, never generated Authorization values
    #   --suppress-health-check too_slow,filter_too_much
    #                      generator self-checks, not API bugs: they must not flake on a busy machine
    #   --generation-database none, and the run's own directory as cwd: no .hypothesis or
    #                      .schemathesis directories in the repo
    # The grep hides schemathesis's pytest-like closing line ("== 1 warning in 3.2s =="), so
    # that the last test-runner summary printed is cargo test's; the exit status is st's own.
    # PYTHONUNBUFFERED: st writes into a pipe, and we want its progress as it happens.
    local seed_args=()
    if [[ -n ${KOMANDER_FUZZ_SEED:-} ]]; then
        seed_args=(--seed "$KOMANDER_FUZZ_SEED")
    fi
    log "fuzz: schemathesis $SCHEMATHESIS_VERSION, $FUZZ_EXAMPLES examples per operation, at most ${FUZZ_TIMEOUT}s"
    set +e
    (cd "$WORK/fuzz" && PYTHONUNBUFFERED=1 timeout --kill-after=10 "$FUZZ_TIMEOUT" \
        "$VENV/bin/st" --config-file "$WORK/fuzz/schemathesis.toml" \
        run "$SERVER_URL/api/v1/openapi.json" \
        --origin "$SERVER_URL" \
        --header "Authorization: Bearer $token" \
        --exclude-operation-id install_plugin \
        --max-examples "$FUZZ_EXAMPLES" \
        --generation-with-security-parameters false \
        --suppress-health-check too_slow,filter_too_much \
        --generation-database none \
        --request-timeout 10 \
        --no-color \
        "${seed_args[@]}") 2>&1 | grep --line-buffered -v -E '^=+( .*)? =+$'
    status=${PIPESTATUS[0]}
    set -e
    if ((status == 124 || status == 137)); then
        die "fuzz: schemathesis did not finish within ${FUZZ_TIMEOUT}s"
    elif ((status != 0)); then
        # (cleanup shows the server's log: it is still running)
        die "fuzz: schemathesis found failures (exit $status); replay with KOMANDER_FUZZ_SEED=<the Seed above>"
    fi
    stop_komander
    log "fuzz: passed"
}

# `komander serve` on a fresh PostgreSQL database: it migrates, becomes ready and stops cleanly.
# The cargo tests cover the PostgreSQL store; this covers the binary's wiring of it.
postgres_smoke() {
    local url tables
    if [[ -z $PG_PID ]]; then
        loud_warning "PostgreSQL smoke test NOT run: no PostgreSQL server (see above)."
        return 0
    fi
    url=$(pg_create_database komander_smoke) || die "createdb komander_smoke failed"
    start_komander pg-smoke KOMANDER_DATABASE_URL="$url"
    # Ready must mean it uses that database: its migrations created tables there.
    tables=$("$PG_BIN/psql" -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U postgres -d komander_smoke \
        -c "select count(*) from information_schema.tables where table_schema = 'public'") ||
        die "psql could not read komander_smoke"
    ((tables > 0)) || die "komander was ready on PostgreSQL but created no tables in komander_smoke"
    stop_komander
    log "PostgreSQL smoke: passed ($tables tables)"
}

main() {
    cd "$REPO_ROOT"
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/komander/target}
    if [[ $CARGO_TARGET_DIR != /* ]]; then # cargo reads it relative to the cwd: pin it
        CARGO_TARGET_DIR=$REPO_ROOT/$CARGO_TARGET_DIR
    fi
    KOMANDER_BIN=$CARGO_TARGET_DIR/debug/komander
    # Tests and the fuzzer talk to servers on loopback only: never through a proxy.
    export NO_PROXY=127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}
    export no_proxy=$NO_PROXY
    # The check-only switch (docs/operations.md) leaves the first-party plugins and the web UI's
    # hydrate bundle out of the build: only the clippy step below sets it.
    if [[ -n ${KOMANDER_SKIP_GUEST_BUILD:-} ]]; then
        warn "ignoring KOMANDER_SKIP_GUEST_BUILD=$KOMANDER_SKIP_GUEST_BUILD: the tests need the plugins and the hydrate bundle built"
        unset KOMANDER_SKIP_GUEST_BUILD
    fi

    # INT and TERM become an exit, which runs cleanup. Ctrl-C reaches cargo too (same process
    # group); a TERM sent to this script alone takes effect when the running cargo step ends.
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    WORK=$(mktemp -d /tmp/komander-test.XXXXXX)
    mkdir -p "$WORK/fuzz"

    provision

    step "format" cargo fmt --all --check
    step "format (plugins)" cargo fmt --manifest-path plugins/Cargo.toml --all --check
    # Clippy only checks: its build scripts build no guest (the plugins and the hydrate bundle
    # are built once, by the build step below, in target directories of their own).
    step "clippy" env KOMANDER_SKIP_GUEST_BUILD=1 \
        cargo clippy --workspace --all-targets -- -D warnings
    # The web UI's browser half is code the workspace's clippy never compiles.
    step "clippy (web, browser half)" env KOMANDER_SKIP_GUEST_BUILD=1 \
        cargo clippy -p komander-web --features hydrate --target wasm32-unknown-unknown -- -D warnings
    # Plugins build in a target directory of their own (never the server's: see DESIGN.md §3).
    step "clippy (plugins)" env CARGO_TARGET_DIR="$CARGO_TARGET_DIR/plugins" \
        cargo clippy --manifest-path plugins/Cargo.toml --target wasm32-wasip2 --release -- -D warnings
    # The SDK's own tests (the compile-time manifest check) run on this machine's target.
    step "test (plugin SDK)" env CARGO_TARGET_DIR="$CARGO_TARGET_DIR/plugins" \
        cargo test --manifest-path plugins/Cargo.toml --locked -p komander-plugin-sdk

    # The end-to-end tests start the komander binary itself: build it first, with the
    # first-party plugins and the web UI's hydrate bundle (the browser tests hydrate pages).
    step "build" cargo build -p komander-server
    [[ -x $KOMANDER_BIN ]] || die "cargo build did not produce $KOMANDER_BIN"
    export KOMANDER_BIN

    start_postgres
    start_docker
    start_registry
    if [[ -z ${KOMANDER_TEST_KUBECONFIG:-} ]]; then
        # Not a provisioning failure: no Kubernetes API server can be installed here.
        loud_warning \
            "KOMANDER_TEST_KUBECONFIG is not set: the live Kubernetes round trip will SKIP." \
            "Its refusals and the official-schema checks run; point it at a kubeconfig to run the rest."
    fi
    step "test" cargo test --workspace
    registry_stop
    docker_stop

    fuzz_api
    postgres_smoke

    log "all stages passed"
}

# Sourcing the file (to try one function) defines everything and runs nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
