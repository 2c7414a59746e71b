#!/usr/bin/env bash
# Builds the container image `odradek:dev` with podman and serves a Docker-compatible API for it.
#
#   bash docker/build-image.sh                      # everything below, idempotently
#   export "$(bash docker/build-image.sh | tail -n1)"   # ... and take DOCKER_HOST from the last line
#   cargo test --test container -- --nocapture      # testcontainers then talks to podman
#
# Steps (each skipped when already done):
# 1. installs podman and runc with apt-get (non-interactive; `apt-get update` only when a package
#    is unknown to the current lists or the install fails), as root or through `sudo -n`;
# 2. writes /etc/containers/containers.conf when absent: runtime runc, cgroupfs, file events, and
#    default ulimits no higher than this machine's hard limits (podman's defaults, nofile=1048576,
#    are refused where the hard limit is lower, e.g. in CI sandboxes); falls back to the vfs
#    storage driver if podman cannot start with its default (overlay);
# 3. builds a statically linked broker (glibc static, `+crt-static`) in target/static, so it
#    does not fight the normal build, and lays out a build context in target/static/docker-context;
# 4. `podman build` of docker/Dockerfile (FROM scratch: nothing is pulled from any registry);
#    prints the image size;
# 5. starts `podman system service --time=0 unix://$SOCK` in the background (detached, run from /, output in
#    /tmp/odradek-podman-service.log) unless something already answers on $SOCK.
# The last line printed is `DOCKER_HOST=unix://$SOCK`.
#
# Environment: ODRADEK_IMAGE (default odradek:dev), ODRADEK_PODMAN_SOCK (default
# /tmp/odradek-podman.sock), CARGO_TARGET_DIR_STATIC (default target/static).
# Works unattended (CI=true, no stdin). Never touches port 9092.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

IMAGE=${ODRADEK_IMAGE:-odradek:dev}
SOCK=${ODRADEK_PODMAN_SOCK:-/tmp/odradek-podman.sock}
STATIC_TARGET_DIR=${CARGO_TARGET_DIR_STATIC:-$ROOT/target/static}
TRIPLE=x86_64-unknown-linux-gnu
SERVICE_LOG=/tmp/odradek-podman-service.log
export DEBIAN_FRONTEND=noninteractive

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-image.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else echo "need root (or sudo) to run: $*" >&2; return 1
    fi
}

# ---------------------------------------------------------------- 1. podman + runc
apt_install() {
    local pkgs=("$@") need_update=0 p policy
    for p in "${pkgs[@]}"; do
        policy=$(apt-cache policy "$p" 2>/dev/null || true)
        case "$policy" in
            *"Candidate: (none)"*|"") need_update=1 ;;
            *"Candidate: "*) ;;
            *) need_update=1 ;;
        esac
    done
    if [ "$need_update" -eq 1 ]; then
        log "apt-get update"
        as_root apt-get update -q >&2
    fi
    log "apt-get install -y ${pkgs[*]}"
    if ! as_root apt-get install -y -q --no-install-recommends "${pkgs[@]}" </dev/null >&2; then
        log "install failed; apt-get update and retry"
        as_root apt-get update -q >&2
        as_root apt-get install -y -q --no-install-recommends "${pkgs[@]}" </dev/null >&2
    fi
}

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
# CNI's bridge/portmap plugins (podman 4 on Debian 12) publish ports with iptables.
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
    apt_install "${missing[@]}"
fi
log "$(podman --version), $(runc --version | head -n1)"

# ---------------------------------------------------------------- 2. podman configuration
CONF=/etc/containers/containers.conf
if [ ! -e "$CONF" ]; then
    # Ulimits inside containers may not exceed the hard limits podman itself runs under.
    # podman caps its own RLIMIT_NPROC (at pid_max, 32768 here), below the shell's hard limit,
    # so nproc stays modest: it counts the threads of the container's uid, and 4096 is plenty.
    hard_nofile=$(ulimit -Hn); hard_nproc=$(ulimit -Hu)
    [ "$hard_nofile" = unlimited ] && hard_nofile=1048576
    [ "$hard_nproc" = unlimited ] && hard_nproc=4096
    nofile=$(( hard_nofile < 65536 ? hard_nofile : 65536 ))
    nproc=$(( hard_nproc < 4096 ? hard_nproc : 4096 ))
    log "writing $CONF (runtime runc, cgroupfs, nofile=$nofile, nproc=$nproc)"
    as_root mkdir -p /etc/containers
    printf '%s\n' \
        '# Written by odradek docker/build-image.sh: podman as root without systemd or Docker.' \
        '[containers]' \
        "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]" \
        '[engine]' \
        'runtime = "runc"' \
        'cgroup_manager = "cgroupfs"' \
        'events_logger = "file"' \
        | as_root tee "$CONF" >/dev/null
fi

if ! podman info >/dev/null 2>/tmp/odradek-podman-info.err; then
    log "podman info failed with the default storage driver: $(tail -n1 /tmp/odradek-podman-info.err)"
    log "retrying with STORAGE_DRIVER=vfs"
    export STORAGE_DRIVER=vfs
    podman info >/dev/null || die "podman does not work here (see podman info above)"
fi
log "podman storage driver: $(podman info --format '{{.Store.GraphDriverName}}'), cgroups $(podman info --format '{{.Host.CgroupsVersion}}') via $(podman info --format '{{.Host.CgroupManager}}')"

# ---------------------------------------------------------------- 3. static binary + context
log "cargo build --release --target $TRIPLE --bin odradek (static, CARGO_TARGET_DIR=$STATIC_TARGET_DIR)"
# glibc static (the broker does no DNS lookups, so glibc's NSS caveat does not apply).
# No debug info and stripped: the image ships nothing but the binary.
RUSTFLAGS='-C target-feature=+crt-static' \
CARGO_TARGET_DIR="$STATIC_TARGET_DIR" \
CARGO_PROFILE_RELEASE_DEBUG=0 \
CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --target "$TRIPLE" --bin odradek >&2

BIN="$STATIC_TARGET_DIR/$TRIPLE/release/odradek"
[ -x "$BIN" ] || die "no binary at $BIN"
if command -v file >/dev/null 2>&1; then
    case "$(file -b "$BIN")" in
        *"statically linked"*|*"static-pie linked"*) ;;
        *) die "$BIN is not statically linked: $(file -b "$BIN")" ;;
    esac
fi

CTX="$STATIC_TARGET_DIR/docker-context"
rm -rf "$CTX"
mkdir -p "$CTX/data"
cp "$BIN" "$CTX/odradek"

# ---------------------------------------------------------------- 4. the image
log "podman build -t $IMAGE -f docker/Dockerfile $CTX"
old_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
podman build --pull=never -t "$IMAGE" -f "$ROOT/docker/Dockerfile" "$CTX" >&2
new_id=$(podman image inspect --format '{{.Id}}' "$IMAGE")
# Drop the image this tag pointed to before, so rebuilds don't pile up (kept if still in use).
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    podman rmi "$old_id" >/dev/null 2>&1 || true
fi
# Smoke run: catches a runtime that cannot start containers here (rlimits, cgroups, storage).
if ! out=$(podman run --rm --network none "$IMAGE" --help 2>&1); then
    printf '%s\n' "$out" >&2
    case "$out" in
        *"error setting rlimit"*)
            die "the container runtime refused the default ulimits in $CONF: lower default_ulimits there (e.g. [\"nofile=1024:1024\", \"nproc=1024:1024\"])" ;;
        *) die "podman cannot run $IMAGE here (output above)" ;;
    esac
fi
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image $IMAGE: $size bytes ($(( (size + 524288) / 1048576 )) MiB), binary $(stat -c %s "$BIN") bytes"

# ---------------------------------------------------------------- 5. Docker-compatible API
answers() { podman --remote --url "unix://$SOCK" version >/dev/null 2>&1; }
PIDFILE=$SOCK.pid
# A service this script started before the configuration changed still runs with the old one.
# One whose working directory was deleted (a removed clone) cannot start containers: runc fails
# with "write child: broken pipe". Both are restarted.
if answers && [ -f "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    why=
    if [ "$CONF" -nt "$PIDFILE" ]; then why="$CONF changed since it started"
    elif [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == *" (deleted)" ]]; then
        why="its working directory was deleted"
    fi
    if [ -n "$why" ]; then
        log "restarting the podman API (pid $pid): $why"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
fi
if answers; then
    log "podman API already answering on $SOCK"
else
    rm -f "$SOCK"
    log "starting podman system service on unix://$SOCK (log: $SERVICE_LOG)"
    # Detached from this shell (own session, no inherited stdout/stderr) so it outlives the
    # script and does not hold a CI runner's pipes open.
    # Started in / so that deleting this checkout later does not break it (see above).
    (cd / && exec setsid nohup podman system service --time=0 "unix://$SOCK" >"$SERVICE_LOG" 2>&1 </dev/null) &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
        answers && break
        sleep 0.1
    done
    answers || { cat "$SERVICE_LOG" >&2; die "podman API did not come up on $SOCK"; }
fi
# Images, containers and volumes are shared by the CLI and the API: check the API sees the image.
podman --remote --url "unix://$SOCK" image exists "$IMAGE" || die "the API on $SOCK does not see $IMAGE"

echo "export DOCKER_HOST=unix://$SOCK to use it (e.g. cargo test --test container)"
echo "DOCKER_HOST=unix://$SOCK"
