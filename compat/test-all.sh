#!/usr/bin/env bash
# The project's test command: `bash compat/test-all.sh`.
#
# 1. set-up (idempotent, non-interactive): installs kcat and whatever the build needs
#    (gcc, g++, make for rdkafka's bundled librdkafka; python3 for the compat scripts' JSON checks)
#    with apt-get, running `apt-get update` only when a package can't be found without it;
# 2. `cargo build --bins --tests --benches` once (benches only compiled, in the dev profile);
# 3. docker/build-image.sh (installs podman, builds the FROM-scratch image, starts podman's Docker API
#    socket), then `cargo test --no-fail-fast` (unit + integration tests, the container test included);
# 4. `cargo clippy --all-targets -- -D warnings` (Cargo.toml's [lints] included);
# 5. fuzz/smoke.sh: every fuzz target for FUZZ_SECONDS (30) with cargo-fuzz on the nightly toolchain
#    (installed with `cargo install cargo-fuzz` when missing);
# 6. every compat/*.sh client script (kcat.sh first) against the debug broker, target/debug/odradek,
#    each with ODRADEK_BIN set and a time limit (COMPAT_TIMEOUT, default 2400 s). Helpers the scripts
#    share live in compat/lib/ (not run directly).
#
# Exits non-zero if anything failed. The last line is `N passed, N failed` for the compat scripts.
# Flags: --setup-only (just install prerequisites), --compat-only (skip cargo test; still builds).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SETUP_ONLY=0
COMPAT_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --setup-only) SETUP_ONLY=1 ;;
        --compat-only) COMPAT_ONLY=1 ;;
        *) echo "usage: bash compat/test-all.sh [--setup-only] [--compat-only]" >&2; exit 2 ;;
    esac
done

log() { printf '==> %s\n' "$*"; }

# ---------------------------------------------------------------- set-up
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else echo "need root (or sudo) to run: $*" >&2; return 1
    fi
}

apt_install() {
    # Installs Debian packages; `apt-get update` only if some package is unknown to the
    # current lists, or if the install fails (stale lists: 404 on a superseded version).
    local pkgs=("$@") need_update=0 p policy
    export DEBIAN_FRONTEND=noninteractive
    for p in "${pkgs[@]}"; do
        policy=$(apt-cache policy "$p" 2>/dev/null || true)
        case "$policy" in
            *"Candidate: ("*|"") need_update=1 ;;
            *"Candidate: "*) ;;
            *) need_update=1 ;;
        esac
    done
    if [ "$need_update" -eq 1 ]; then
        log "apt-get update"
        as_root apt-get update -q
    fi
    log "apt-get install -y ${pkgs[*]}"
    if ! as_root apt-get install -y -q --no-install-recommends "${pkgs[@]}" </dev/null; then
        log "install failed; apt-get update and retry"
        as_root apt-get update -q
        as_root apt-get install -y -q --no-install-recommends "${pkgs[@]}" </dev/null
    fi
}

setup() {
    local missing=()
    command -v kcat >/dev/null 2>&1 || missing+=(kcat)
    # rdkafka-sys builds the bundled librdkafka with ./configure && make (C and C++ parts);
    # libz-sys and zstd-sys compile C with the cc crate. pkg-config + zlib1g-dev are optional
    # (libz-sys falls back to its bundled zlib), so they are not required here.
    command -v gcc >/dev/null 2>&1 || missing+=(gcc)
    command -v g++ >/dev/null 2>&1 || missing+=(g++)
    command -v make >/dev/null 2>&1 || missing+=(make)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v timeout >/dev/null 2>&1 || missing+=(coreutils)
    # rdkafka's `ssl` feature builds librdkafka against OpenSSL (TLS, SCRAM, OAUTHBEARER in the
    # security tests); openssl makes the compat scripts' certificates.
    [ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    if [ "${#missing[@]}" -gt 0 ]; then
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "missing ${missing[*]} and no apt-get to install them" >&2
            return 1
        fi
        apt_install "${missing[@]}"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        # rustup's default location, when the shell's PATH lacks it (CI's environment).
        if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: this project needs a Rust toolchain (rustup) on PATH" >&2
        return 1
    fi
    log "kcat: $(kcat -V 2>&1 | grep -m1 Version || true)"
    log "$(cargo --version)"
}

setup
if [ "$SETUP_ONLY" -eq 1 ]; then exit 0; fi

# ---------------------------------------------------------------- compat scripts to run
scripts=()
[ -f compat/kcat.sh ] && scripts+=(compat/kcat.sh)
for s in compat/*.sh; do
    case "$s" in
        compat/test-all.sh|compat/kcat.sh) ;;
        *) scripts+=("$s") ;;
    esac
done

# ---------------------------------------------------------------- build + cargo test
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
log "cargo build --bins --tests --benches"
if ! cargo build --bins --tests --benches; then
    log "BUILD FAILED: no test and no compat script could run"
    echo "0 passed, ${#scripts[@]} failed"
    exit 1
fi

BIN="$ROOT/target/debug/odradek"
if [ ! -x "$BIN" ]; then
    echo "broker binary $BIN was not built" >&2
    exit 1
fi

cargo_rc=0
if [ "$COMPAT_ONLY" -eq 0 ]; then
    # The container test (tests/container.rs) drives the image through podman's Docker API.
    log "docker/build-image.sh (podman, static binary, image odradek:dev, API socket)"
    bash docker/build-image.sh
    export DOCKER_HOST=unix:///tmp/odradek-podman.sock
    log "cargo test --no-fail-fast"
    cargo test --no-fail-fast || cargo_rc=$?
    if [ "$cargo_rc" -ne 0 ]; then log "cargo test FAILED (exit $cargo_rc)"; fi
fi

# ---------------------------------------------------------------- lints
# The guard rails of Cargo.toml's [lints] and src/lib.rs, and every clippy warning, fail the run.
clippy_rc=0
if [ "$COMPAT_ONLY" -eq 0 ]; then
    log "cargo clippy --all-targets -- -D warnings"
    cargo clippy --all-targets -- -D warnings || clippy_rc=$?
    if [ "$clippy_rc" -ne 0 ]; then log "clippy FAILED (exit $clippy_rc)"; fi
fi

# ---------------------------------------------------------------- fuzz smoke
# Every fuzz target for FUZZ_SECONDS (default 30) on the nightly toolchain, so that a new crash
# surfaces in CI; `cargo test` above already replayed the seeds and every crash ever found.
fuzz_rc=0
if [ "$COMPAT_ONLY" -eq 0 ]; then
    log "fuzz/smoke.sh (each target ${FUZZ_SECONDS:-30} s)"
    FUZZ_SECONDS="${FUZZ_SECONDS:-30}" bash fuzz/smoke.sh </dev/null || fuzz_rc=$?
    if [ "$fuzz_rc" -ne 0 ]; then log "fuzz smoke FAILED (exit $fuzz_rc)"; fi
fi

# ---------------------------------------------------------------- compat scripts
passed=0
failed=0
failed_names=()
for s in "${scripts[@]}"; do
    log "compat: $s"
    rc=0
    ODRADEK_BIN="$BIN" timeout --kill-after=60 "${COMPAT_TIMEOUT:-2400}" bash "$s" </dev/null || rc=$?
    if [ "$rc" -eq 0 ]; then
        log "PASS $s"
        passed=$((passed + 1))
    else
        log "FAIL $s (exit $rc)"
        failed=$((failed + 1))
        failed_names+=("$s")
    fi
done

echo
if [ "$COMPAT_ONLY" -eq 0 ]; then
    if [ "$cargo_rc" -eq 0 ]; then log "cargo test: ok"; else log "cargo test: FAILED (exit $cargo_rc)"; fi
    if [ "$clippy_rc" -eq 0 ]; then log "clippy: ok"; else log "clippy: FAILED (exit $clippy_rc)"; fi
    if [ "$fuzz_rc" -eq 0 ]; then log "fuzz smoke: ok"; else log "fuzz smoke: FAILED (exit $fuzz_rc)"; fi
fi
if [ "$failed" -gt 0 ]; then log "compat scripts failed: ${failed_names[*]}"; fi
echo "$passed passed, $failed failed"

if [ "$cargo_rc" -ne 0 ] || [ "$clippy_rc" -ne 0 ] || [ "$fuzz_rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
    exit 1
fi
