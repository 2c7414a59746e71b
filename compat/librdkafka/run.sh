#!/usr/bin/env bash
# librdkafka's own test suite (tests/ of the librdkafka source that the rdkafka-sys crate ships)
# against Odradek.
#
# 1. finds the rdkafka-sys version in Cargo.lock and its source in the cargo registry (runs
#    `cargo fetch` if it is not there), copies librdkafka out of the registry into
#    ${COMPAT_CACHE:-$HOME/.cache/odradek-compat}/librdkafka-build (never into the repo), and builds it:
#    ./configure && make libs && make -C tests build. The build is cached and redone only when the
#    source version, the configure flags or the available test dependencies change. Installs with
#    apt-get (when root) the headers the suite can use: zlib, zstd, rapidjson (statistics checks);
#    builds compat/librdkafka/kafka-topics.c as $KAFKA_PATH/bin/kafka-topics.sh (see that file).
# 2. for each scenario of the suite that a single broker can serve, starts one broker the way the
#    suite's trivup clusters are set up (tests/scenarios/*.json; everything else at Kafka's
#    defaults), on a free loopback port (compat/lib/broker.sh):
#      default       auto.create.topics.enable=true, num.partitions=4
#      noautocreate  auto.create.topics.enable=false, num.partitions=4
#    plus group.min.session.timeout.ms=1000 (a few tests ask for session.timeout.ms 5000, below
#    Kafka's default minimum of 6000). group.initial.rebalance.delay.ms stays at Kafka's 3000: tests
#    such as 0118 rely on two consumers that subscribe together landing in one first generation.
#    Writes the suite's test.conf (metadata.broker.list=127.0.0.1:PORT) and runs every broker test of
#    that scenario (-L: tests that need no broker are left out) that is not in skip.txt, each test
#    number in its own test-runner process (a hung or crashing test can't take others down),
#    LIBRDKAFKA_PARALLEL of them at a time, with TEST_KAFKA_VERSION=4.0.0 (the API set Odradek serves:
#    Kafka 4's, e.g. no message format v0/v1), KAFKA_PATH=<the kafka-topics.sh stand-in> and
#    BROKERS=127.0.0.1:PORT. The socket-emulation tests (sockem: latency/disconnects injected on the
#    client side) run too; LIBRDKAFKA_SOCKEM=0 leaves them out like the suite's -E.
#    After the tests the broker gets SIGTERM: it must exit 0 within ~1 s (reported, not a failure).
#    Then the security pass `sasl_ssl`: LIBRDKAFKA_SECURITY_TESTS (default 0001,0002,0011,0012,0013,
#    0135,0142) again, test.conf pointing at a SASL_SSL listener with SCRAM-SHA-512 (certificates
#    made by openssl per run, a user seeded with add.scram, connections.max.reauth.ms=10000);
#    every test of the pass must pass (skipped counts as failed); it runs in full mode, as 0142's
#    sub-tests are not marked quick. librdkafka is built with SSL.
# 3. writes compat/librdkafka/RESULTS.md (every broker test: passed / FAILED / skipped and why) and
#    exits 1 if any test that is not in skip.txt failed.
#
#   bash compat/librdkafka/run.sh                          # quick mode (-Q), what CI runs
#   LIBRDKAFKA_MODE=full bash compat/librdkafka/run.sh     # the whole suite (no -Q)
#   LIBRDKAFKA_TESTS=0011,0081 bash compat/librdkafka/run.sh   # only these test numbers (skip list
#                                                          # still applies; RESULTS.md not rewritten
#                                                          # unless LIBRDKAFKA_RESULTS is set)
# Environment: ODRADEK_BIN (default target/debug/odradek), COMPAT_CACHE, LIBRDKAFKA_PARALLEL
# (test processes at once, default 4), LIBRDKAFKA_SOCKEM=0 (leave out the socket-emulation tests,
# like the suite's -E), LIBRDKAFKA_TEST_TIMEOUT (s per test process, default 420 quick / 900 full),
# LIBRDKAFKA_RESULTS (where to write the results; default compat/librdkafka/RESULTS.md),
# LIBRDKAFKA_SKIP_FILE (default compat/librdkafka/skip.txt; /dev/null runs the skipped tests too),
# LIBRDKAFKA_REBALANCE_DELAY_MS (the broker's group.initial.rebalance.delay.ms, default 3000),
# LIBRDKAFKA_SECURITY=0 (leave out the security pass; it is left out of LIBRDKAFKA_TESTS runs
# unless LIBRDKAFKA_SECURITY=1), LIBRDKAFKA_SECURITY_TESTS, KEEP_WORK=1 (keep the work dir: per-test logs under WORK/<scenario>/<number>/log, broker logs).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
COMPAT_NAME=librdkafka
. "$ROOT/compat/lib/broker.sh"

MODE=${LIBRDKAFKA_MODE:-quick}
PAR=${LIBRDKAFKA_PARALLEL:-4}
SOCKEM=${LIBRDKAFKA_SOCKEM:-1}
KAFKA_VERSION_GATE=4.0.0
ONLY=${LIBRDKAFKA_TESTS:-}
SKIP_FILE=${LIBRDKAFKA_SKIP_FILE:-$HERE/skip.txt}
case "$MODE" in
    quick) QUICK_FLAG=-Q; PER_TEST_TIMEOUT=${LIBRDKAFKA_TEST_TIMEOUT:-420} ;;
    full) QUICK_FLAG=; PER_TEST_TIMEOUT=${LIBRDKAFKA_TEST_TIMEOUT:-900} ;;
    *) say "LIBRDKAFKA_MODE must be quick or full"; exit 2 ;;
esac
if [ -n "$ONLY" ]; then RESULTS=${LIBRDKAFKA_RESULTS:-$WORK/RESULTS.md}; else RESULTS=${LIBRDKAFKA_RESULTS:-$HERE/RESULTS.md}; fi
BUILD=${COMPAT_CACHE:-$HOME/.cache/odradek-compat}/librdkafka-build
TREE=$BUILD/librdkafka
CONFIGURE_FLAGS=(--no-download --disable-gssapi --disable-curl --disable-lz4-ext)
# The security pass (after the scenarios): these tests over SASL_SSL with SCRAM-SHA-512.
# NUMBER~TEXT runs only that test's sub-tests whose name contains TEXT (the suite's SUBTESTS): 0142's
# consumer sub-test creates a topic with replication factor 3, which one broker refuses as Kafka does.
SECURITY_TESTS=${LIBRDKAFKA_SECURITY_TESTS:-0001,0002,0011,0012,0013,0135,0142~producer message loss,0142~in the middle of a txn,0142~reauth failure}
SECURITY=${LIBRDKAFKA_SECURITY:-1}
[ -z "$ONLY" ] || SECURITY=${LIBRDKAFKA_SECURITY:-0}
BROKER_SETTINGS=(--override num.partitions=4
    --override group.initial.rebalance.delay.ms=${LIBRDKAFKA_REBALANCE_DELAY_MS:-3000}
    --override group.min.session.timeout.ms=1000)

command -v python3 >/dev/null 2>&1 || { say "python3 is required"; exit 1; }
[ "$SECURITY" = 0 ] || command -v openssl >/dev/null 2>&1 || { say "openssl is required (the security pass makes its certificates)"; exit 1; }
command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 ||
    { say "gcc, g++ and make are required"; exit 1; }
T_START=$(date +%s)

# ------------------------------------------------------------------ test dependencies (optional)
install_test_deps() {
    local want=()
    [ -f /usr/include/zlib.h ] || want+=(zlib1g-dev)
    [ -f /usr/include/zstd.h ] || want+=(libzstd-dev)
    [ -f /usr/include/rapidjson/schema.h ] || want+=(rapidjson-dev)
    [ -f /usr/include/openssl/ssl.h ] || want+=(libssl-dev)
    [ "${#want[@]}" -gt 0 ] || return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "missing ${want[*]} (not root or no apt-get): the tests that need them will skip"
        return 0
    fi
    say "apt-get install ${want[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${want[@]}" </dev/null >"$WORK/apt.log" 2>&1 ||
        { apt-get update -q >>"$WORK/apt.log" 2>&1 &&
          apt-get install -y -q --no-install-recommends "${want[@]}" </dev/null >>"$WORK/apt.log" 2>&1; } ||
        say "apt-get install failed (see below); the tests that need them will skip: $(tail -n 3 "$WORK/apt.log")"
}

# ------------------------------------------------------------------ librdkafka source + build
RDKAFKA_SYS_VERSION=$(awk '/^name = "rdkafka-sys"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")
[ -n "$RDKAFKA_SYS_VERSION" ] || { say "rdkafka-sys not found in Cargo.lock"; exit 1; }
LIBRDKAFKA_VERSION=${RDKAFKA_SYS_VERSION#*+}

find_source() {
    local d
    for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"rdkafka-sys-$RDKAFKA_SYS_VERSION"/librdkafka; do
        if [ -f "$d/tests/test.c" ]; then echo "$d"; return 0; fi
    done
    return 1
}

SRC=$(find_source || true)
if [ -z "$SRC" ]; then
    say "rdkafka-sys $RDKAFKA_SYS_VERSION is not in the cargo registry: cargo fetch"
    (cd "$ROOT" && cargo fetch) || { say "cargo fetch failed"; exit 1; }
    SRC=$(find_source) || { say "no librdkafka source with tests/ in rdkafka-sys-$RDKAFKA_SYS_VERSION"; exit 1; }
fi

install_test_deps
HAVE_RAPIDJSON=no; [ -f /usr/include/rapidjson/schema.h ] && HAVE_RAPIDJSON=yes
[ -f /usr/include/openssl/ssl.h ] || { say "libssl-dev is required (librdkafka is built with SSL for the security pass)"; exit 1; }
STAMP="rdkafka-sys $RDKAFKA_SYS_VERSION; configure ${CONFIGURE_FLAGS[*]}; rapidjson $HAVE_RAPIDJSON; zlib $([ -f /usr/include/zlib.h ] && echo yes); zstd $([ -f /usr/include/zstd.h ] && echo yes)"

T_BUILD=$(date +%s)
if [ -x "$TREE/tests/test-runner" ] && [ "$(cat "$BUILD/stamp" 2>/dev/null)" = "$STAMP" ]; then
    say "using the cached build in $TREE ($STAMP)"
else
    say "building librdkafka $LIBRDKAFKA_VERSION and its test suite in $TREE (a few minutes)"
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    cp -a "$SRC" "$TREE"
    chmod -R u+w "$TREE"
    jobs=$(nproc 2>/dev/null || echo 2)
    if ! (cd "$TREE" && ./configure "${CONFIGURE_FLAGS[@]}" >"$BUILD/configure.log" 2>&1 &&
          make -j"$jobs" libs >"$BUILD/make-libs.log" 2>&1 &&
          make -j"$jobs" -C tests build >"$BUILD/make-tests.log" 2>&1); then
        say "build failed; last lines of the logs in $BUILD:"
        tail -n 30 "$BUILD"/configure.log "$BUILD"/make-*.log 2>/dev/null | sed 's/^/    /'
        exit 1
    fi
    echo "$STAMP" >"$BUILD/stamp"
    say "built in $(( $(date +%s) - T_BUILD )) s"
fi

# $KAFKA_PATH/bin/kafka-topics.sh: the shim (always rebuilt when its source is newer).
KAFKA_SHIM=$BUILD/kafka-path
if [ ! -x "$KAFKA_SHIM/bin/kafka-topics" ] || [ "$HERE/kafka-topics.c" -nt "$KAFKA_SHIM/bin/kafka-topics" ]; then
    mkdir -p "$KAFKA_SHIM/bin"
    gcc -O2 -Wall -I"$TREE/src" -o "$KAFKA_SHIM/bin/kafka-topics" "$HERE/kafka-topics.c" \
        -L"$TREE/src" -lrdkafka -Wl,-rpath,"$TREE/src"
    printf '#!/bin/sh\nexec "$(dirname "$0")/kafka-topics" "$@"\n' >"$KAFKA_SHIM/bin/kafka-topics.sh"
    chmod +x "$KAFKA_SHIM/bin/kafka-topics.sh"
fi
BUILD_SECS=$(( $(date +%s) - T_START ))

# ------------------------------------------------------------------ running
# The slowest tests (full mode: 0113 630 s, 0150 163 s, 0089 99 s; quick mode: 0139 86 s, 0033 68 s, ...) start
# first, so that the run is not left waiting for one of them at the end.
SLOW_FIRST="0113 0150 0089 0139 0033 0091 0076 0093 0094 0030 0088 0114 0049 0084 0075 0052 0123 0020 0129 0125"
PLAN_ARGS=(--test-c "$TREE/tests/test.c" --skip "$SKIP_FILE")
[ "$SOCKEM" = 1 ] || PLAN_ARGS+=(--no-sockem)
[ -z "$ONLY" ] || PLAN_ARGS+=(--only "$ONLY")

# run_one NUMBER[~SUBTEXT]: one test-runner process for one test number (all its variants of this
# scenario; with ~SUBTEXT only the sub-tests whose name contains SUBTEXT), in PASS_DIR/<item, as a
# file name>.
run_one() {
    local num=${1%%~*} sub="" rc=0 d
    case "$1" in *~*) sub=${1#*~} ;; esac
    d="$PASS_DIR/$(printf '%s' "$1" | tr -c 'A-Za-z0-9\n' '_')"
    mkdir -p "$d"
    # The subshell's own stderr goes to the log too (bash's "Aborted" notice: test-runner aborts
    # at exit when a failed test left librdkafka threads behind).
    (cd "$d" && TESTS=$num SUBTESTS=$sub TEST_REPORT="$d/report.json" \
        timeout --kill-after=10 "$PER_TEST_TIMEOUT" stdbuf -oL -eL "$TREE/tests/test-runner" \
        -L $QUICK_FLAG -p1 -s "$SCENARIO"; exit $?) >"$d/log" 2>&1 </dev/null || rc=$?
    echo "$rc" >"$d/rc"
    local states
    states=$(python3 -c '
import json, sys
try:
    t = json.load(open(sys.argv[1]))["tests"]
except Exception:
    print("no report"); sys.exit()
ran = ["%s=%s" % (k, v["state"]) for k, v in t.items() if k.startswith(sys.argv[2] + "_") and v["state"] != "SKIPPED"]
print(" ".join(ran) or "skipped")
' "$d/report.json" "$num" 2>/dev/null || echo "?")
    printf '[%s] %-12s %-4s %s%s (exit %s)\n' "$COMPAT_NAME" "$PASS" "$num" "${sub:+[$sub] }" "$states" "$rc"
}
export -f run_one
export PER_TEST_TIMEOUT QUICK_FLAG TREE COMPAT_NAME

run_scenario() {
    SCENARIO=$1 PASS=$1
    shift
    local nums
    nums=$(python3 "$HERE/suite.py" plan "${PLAN_ARGS[@]}" --scenario "$SCENARIO" --first "$SLOW_FIRST")
    if [ -z "$nums" ]; then say "scenario $SCENARIO: nothing to run"; return 0; fi
    odradek_start "${BROKER_SETTINGS[@]}" "$@" || return 1
    printf 'metadata.broker.list=%s\n' "$BROKER" >"$WORK/$PASS.conf"
    run_pass "$nums"
}

# run_pass NUMS: runs these test numbers against the running broker with $WORK/$PASS.conf as the
# suite's test.conf, in $WORK/$PASS/<number>/, then stops the broker.
run_pass() {
    local nums=$1
    PASS_DIR=$WORK/$PASS
    mkdir -p "$PASS_DIR"
    # Tests run in PASS_DIR/<number>/ and some open ../src/... (0053: statistics_schema.json).
    ln -sfn "$TREE/src" "$PASS_DIR/src"
    say "$PASS (test scenario $SCENARIO): $(echo "$nums" | wc -l) test numbers, $PAR at a time, $MODE mode, broker $BROKER"
    export SCENARIO PASS PASS_DIR
    export RDKAFKA_TEST_CONF="$WORK/$PASS.conf" TEST_KAFKA_VERSION=$KAFKA_VERSION_GATE \
        KAFKA_PATH="$KAFKA_SHIM" BROKERS="$BROKER" \
        LD_LIBRARY_PATH="$TREE/src:$TREE/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "$nums" | xargs -P "$PAR" -I{} bash -c 'run_one "$1"' _ {}
    if ! odradek_alive; then
        say "the broker died during $PASS"
        broker_log_tail 40
        echo "FAILED: the broker died during the run" >"$WORK/$PASS.shutdown"
        odradek_stop
    else
        stop_broker_checked
    fi
    cp "$BROKER_LOG" "$WORK/broker-$PASS.log" 2>/dev/null || true
}

# The security pass: one broker with a PLAINTEXT listener (for the kafka-topics stand-in) and a
# SASL_SSL one (SCRAM-SHA-512, a user seeded at start, connections.max.reauth.ms for 0142); the
# suite's test.conf points at SASL_SSL, as a trivup cluster started with --sasl SCRAM-SHA-512 --ssl
# would. Certificates are made here by the openssl CLI, a fresh CA per run.
run_security_pass() {
    SCENARIO=default PASS=sasl_ssl
    # Full mode: 0142's sub-tests are not marked quick (quick mode would pass it without running any).
    QUICK_FLAG=
    local nums certs=$WORK/certs
    nums=$(printf '%s' "$SECURITY_TESTS" | tr ',' '\n')
    mkdir -p "$certs"
    (
        cd "$certs"
        q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; }
        q openssl req -x509 -newkey rsa:2048 -noenc -keyout ca.key -out ca.pem -days 2 -subj "/CN=odradek-librdkafka-ca"
        q openssl req -newkey rsa:2048 -noenc -keyout server.key -out server.csr -subj "/CN=localhost"
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
        q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext
        cat server.key server.crt >server-keystore.pem
    ) || { say "could not make the certificates"; echo "FAILED: no certificates" >"$WORK/$PASS.shutdown"; return 1; }
    odradek_start "${BROKER_SETTINGS[@]}" --override auto.create.topics.enable=true \
        --override "listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0" \
        --override ssl.keystore.type=PEM --override "ssl.keystore.location=$certs/server-keystore.pem" \
        --override sasl.enabled.mechanisms=SCRAM-SHA-512 \
        --override "add.scram=SCRAM-SHA-512=[name=testuser,password=testpass]" \
        --override connections.max.reauth.ms=10000 || return 1
    local sasl_port
    sasl_port=$(grep -m1 -o "[ ,]SASL_SSL 127.0.0.1:[0-9]*" "$BROKER_LOG" | sed 's/.*://')
    [ -n "$sasl_port" ] || { say "no SASL_SSL port in the broker's startup line"; broker_log_tail 10; odradek_stop; return 1; }
    printf '%s\n' "metadata.broker.list=127.0.0.1:$sasl_port" security.protocol=SASL_SSL \
        sasl.mechanisms=SCRAM-SHA-512 sasl.username=testuser sasl.password=testpass \
        "ssl.ca.location=$certs/ca.pem" >"$WORK/$PASS.conf"
    run_pass "$nums"
}

# SIGTERM must stop the broker with exit status 0 within ~1 s (we allow 5 s); the outcome goes to
# RESULTS.md and is printed, but does not fail the run (it is not a librdkafka test).
stop_broker_checked() {
    local t0 t1 rc=0 _ out="$WORK/$PASS.shutdown"
    t0=$(date +%s%N)
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$BROKER_PID" 2>/dev/null; then
        echo "FAILED: still running 5 s after SIGTERM (killed)" >"$out"
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    else
        wait "$BROKER_PID" 2>/dev/null || rc=$?
        t1=$(date +%s%N)
        if [ "$rc" -eq 0 ] && [ $(( (t1 - t0) / 1000000 )) -le 1500 ]; then
            echo "ok: exit status 0 within 1.5 s" >"$out"
        elif [ "$rc" -eq 0 ]; then
            echo "SLOW: exit status 0 after $(( (t1 - t0) / 1000000 )) ms (should be ~1 s)" >"$out"
        else
            echo "FAILED: exit status $rc after SIGTERM" >"$out"
        fi
    fi
    BROKER_PID=""
    say "broker shutdown ($PASS): $(cat "$out")"
    case "$(cat "$out")" in ok*) ;; *) broker_log_tail 15 ;; esac
}

T_RUN=$(date +%s)
run_scenario default --override auto.create.topics.enable=true
run_scenario noautocreate --override auto.create.topics.enable=false
[ "$SECURITY" = 0 ] || run_security_pass
RUN_SECS=$(( $(date +%s) - T_RUN ))

# ------------------------------------------------------------------ results
REPORT_ARGS=(--test-c "$TREE/tests/test.c" --skip "$SKIP_FILE" --work "$WORK" --out "$RESULTS"
    --mode "$MODE" --scenarios default,noautocreate --kafka-version "$KAFKA_VERSION_GATE"
    --librdkafka-version "$LIBRDKAFKA_VERSION"
    --broker-settings "\`${BROKER_SETTINGS[*]}\` and auto.create.topics.enable true (scenario default) / false (noautocreate)")
[ "$SOCKEM" = 1 ] || REPORT_ARGS+=(--no-sockem)
[ -z "$ONLY" ] || REPORT_ARGS+=(--only "$ONLY")
[ "$SECURITY" = 0 ] || REPORT_ARGS+=(--security-pass "sasl_ssl=$SECURITY_TESTS")
rc=0
python3 "$HERE/suite.py" report "${REPORT_ARGS[@]}" || rc=$?
say "results: $RESULTS"
say "time: setup/build ${BUILD_SECS} s, tests ${RUN_SECS} s"
if [ "$rc" -ne 0 ]; then
    for f in "$WORK"/broker-*.log; do
        [ -f "$f" ] || continue
        say "last lines of $(basename "$f"):"
        tail -n 20 "$f" | sed 's/^/    broker| /'
    done
    say "per-test logs: $WORK/<scenario>/<number>/log, broker logs: $WORK/broker-<scenario>.log (kept with KEEP_WORK=1)"
fi
exit "$rc"
