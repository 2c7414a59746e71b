# Sourced by the compat/*.sh client scripts: starts and stops one Odradek broker on a free
# loopback port with its own temporary data dir, and keeps a tally of named checks.
#
#   . "$(dirname "$0")/lib/broker.sh"
#   odradek_start [--override key=value ...]   # sets BROKER=127.0.0.1:PORT, BROKER_PID, BROKER_LOG
#   odradek_stop_checked                        # SIGTERM, counts a check: exit 0 within 5 s
#                                               # (odradek_start again restarts on the same data)
#   check "what" cmd args...                    # runs a check, counts pass/fail, never exits
#   finish                                      # prints the tally, exits 1 if any check failed
#
# The broker binary is $ODRADEK_BIN (default: target/debug/odradek of this repository).
# Everything started here is stopped and removed on exit (trap), whatever happens.

COMPAT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ODRADEK_BIN=${ODRADEK_BIN:-$COMPAT_ROOT/target/debug/odradek}
COMPAT_NAME=${COMPAT_NAME:-$(basename "$0")}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/odradek-compat.XXXXXX")
BROKER=""
BROKER_PID=""
BROKER_LOG="$WORK/broker.log"
BROKER_STARTS=0
CHECKS_OK=0
CHECKS_FAILED=0
FAILED_CHECKS=()

say() { printf '[%s] %s\n' "$COMPAT_NAME" "$*"; }

odradek_start() {
    if [ ! -x "$ODRADEK_BIN" ]; then
        say "broker binary not found: $ODRADEK_BIN (run cargo build, or set ODRADEK_BIN)"
        return 1
    fi
    mkdir -p "$WORK/data"
    BROKER_STARTS=$((BROKER_STARTS + 1))
    if [ "$BROKER_STARTS" -gt 1 ]; then BROKER_LOG="$WORK/broker-$BROKER_STARTS.log"; fi
    RUST_LOG=${RUST_LOG:-info} "$ODRADEK_BIN" --listeners 127.0.0.1:0 --data-dir "$WORK/data" "$@" \
        >"$BROKER_LOG" 2>&1 </dev/null &
    BROKER_PID=$!
    local _ addr=""
    for _ in $(seq 1 200); do
        addr=$(grep -m1 -o 'listening on [^,]*,' "$BROKER_LOG" 2>/dev/null | sed 's/^listening on //; s/,$//' || true)
        if [ -n "$addr" ]; then break; fi
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            say "broker exited during start-up; its log:"
            sed 's/^/    broker| /' "$BROKER_LOG"
            BROKER_PID=""
            return 1
        fi
        sleep 0.05
    done
    if [ -z "$addr" ]; then
        say "no 'listening on ADDR,' line from the broker within 10 s; its log:"
        sed 's/^/    broker| /' "$BROKER_LOG"
        return 1
    fi
    BROKER=$addr
    say "broker pid $BROKER_PID listening on $BROKER (data $WORK/data)"
}

odradek_alive() { [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; }

odradek_stop() {
    [ -n "$BROKER_PID" ] || return 0
    local _
    if kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$BROKER_PID" 2>/dev/null; then
            say "broker did not stop within 5 s of SIGTERM; killing it"
            kill -KILL "$BROKER_PID" 2>/dev/null || true
        fi
    fi
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}

broker_log_tail() {
    say "last lines of the broker's log ($BROKER_LOG):"
    tail -n "${1:-40}" "$BROKER_LOG" 2>/dev/null | sed 's/^/    broker| /'
}

_compat_cleanup() {
    local rc=$?
    odradek_stop
    if [ "$rc" -ne 0 ] || [ "$CHECKS_FAILED" -ne 0 ]; then
        if [ -n "${KEEP_WORK:-}" ]; then say "work dir kept: $WORK"; fi
    fi
    if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; fi
}
trap _compat_cleanup EXIT
trap 'exit 130' INT TERM

# check NAME COMMAND [ARGS...]: runs one check; its output is shown only when it fails.
check() {
    local name=$1
    shift
    local out="$WORK/check.out" rc=0
    if ! odradek_alive; then
        say "FAIL $name: the broker is no longer running"
        CHECKS_FAILED=$((CHECKS_FAILED + 1))
        FAILED_CHECKS+=("$name")
        return 0
    fi
    ("$@") >"$out" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        say "ok   $name"
        CHECKS_OK=$((CHECKS_OK + 1))
    else
        say "FAIL $name (exit $rc)"
        sed 's/^/    | /' "$out"
        CHECKS_FAILED=$((CHECKS_FAILED + 1))
        FAILED_CHECKS+=("$name")
        if ! odradek_alive; then say "the broker died during this check"; fi
        broker_log_tail 20
    fi
    return 0
}

# run_logged LABEL CMD...: runs CMD (stdout untouched), echoing the command to stderr; on failure
# prints CMD's stderr (to stderr).
run_logged() {
    local label=$1
    shift
    local err="$WORK/$label.stderr" rc=0
    echo "\$ $*" >&2
    "$@" 2>"$err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "command failed (exit $rc): $*" >&2
        sed 's/^/  stderr: /' "$err" >&2
    fi
    return "$rc"
}

# expect_eq WHAT EXPECTED ACTUAL: compares two strings, showing a diff when they differ.
expect_eq() {
    if [ "$2" == "$3" ]; then return 0; fi
    echo "$1 differs (--- expected, +++ actual):"
    diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") | tail -n +3 || true
    return 1
}

finish() {
    local total=$((CHECKS_OK + CHECKS_FAILED))
    if ! odradek_alive; then
        say "the broker is not running at the end (it should be): exit status lost"
        broker_log_tail 40
        CHECKS_FAILED=$((CHECKS_FAILED + 1))
        FAILED_CHECKS+=("broker-alive-at-end")
    else
        odradek_stop_checked
    fi
    if [ "$CHECKS_FAILED" -eq 0 ]; then
        say "all $total checks ok"
        exit 0
    fi
    say "$CHECKS_FAILED of $total checks FAILED: ${FAILED_CHECKS[*]}"
    exit 1
}

# Stops the broker with SIGTERM and checks the contract: exit 0 within ~1 s (we allow 5 s).
odradek_stop_checked() {
    local _ rc=0
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$BROKER_PID" 2>/dev/null; then
        say "FAIL clean-shutdown: broker still running 5 s after SIGTERM"
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
        CHECKS_FAILED=$((CHECKS_FAILED + 1))
        FAILED_CHECKS+=("clean-shutdown")
    else
        wait "$BROKER_PID" 2>/dev/null || rc=$?
        if [ "$rc" -eq 0 ]; then
            say "ok   clean-shutdown (SIGTERM -> exit 0)"
            CHECKS_OK=$((CHECKS_OK + 1))
        else
            say "FAIL clean-shutdown: broker exited with status $rc after SIGTERM"
            broker_log_tail 20
            CHECKS_FAILED=$((CHECKS_FAILED + 1))
            FAILED_CHECKS+=("clean-shutdown")
        fi
    fi
    BROKER_PID=""
}
