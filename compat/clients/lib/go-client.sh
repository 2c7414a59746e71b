# Shared by the Go clients' run.sh (sarama, kafka-go, confluent-kafka-go): installs the Debian
# packages, builds the client's main.go with lib/common.go in GOPATH mode into the cache, starts
# brokers and runs scenarios 1-8, printing RESULT lines (compat/matrix.sh protocol).
# The caller sets HERE, CLIENT_ID, APT_PKGS, VERSION_PKG, VERSION_SUFFIX (or a version_suffix
# function), EXTRA_BROKER_ARGS, and sources this file.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPAT_NAME=$CLIENT_ID
. "$HERE/../../lib/broker.sh"
CACHE=${COMPAT_CACHE:-$HOME/.cache/odradek-compat}/$CLIENT_ID
SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-90}   # s per scenario run
RUN_BUDGET=${RUN_BUDGET:-360}              # s for all scenarios (the runner's limit is 420 s)

log() { echo "[$CLIENT_ID] $*" >&2; }

# ------------------------------------------------------------------ install + build (shared by the Go clients)
install_pkgs() {
    local p missing=()
    for p in $APT_PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing ${missing[*]} with apt-get"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
        || { $sudo apt-get update >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

build() {
    local sum stamp="$CACHE/bin/.source-sha256"
    sum=$(cat "$HERE"/*.go "$LIB"/common.go | sha256sum | cut -d' ' -f1)
    if [ -x "$CACHE/bin/scenarios" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then return 0; fi
    mkdir -p "$CACHE/bin" "$CACHE/gopath" "$CACHE/gocache"
    log "building the scenarios (go build, GOPATH mode)"
    # The client's main.go plus the shared common.go, built together as one package.
    local src="$CACHE/src"
    rm -rf "$src" && mkdir -p "$src" && cp "$HERE"/*.go "$LIB"/common.go "$src"/
    (cd "$src" && GO111MODULE=off GOPATH="$CACHE/gopath:/usr/share/gocode" GOCACHE="$CACHE/gocache" GOFLAGS= \
        go build -o "$CACHE/bin/scenarios.new" .) >&2 || { log "go build failed"; return 1; }
    mv "$CACHE/bin/scenarios.new" "$CACHE/bin/scenarios"
    echo "$sum" >"$stamp"
}

install_pkgs || { log "could not install $APT_PKGS"; exit 1; }
command -v go >/dev/null 2>&1 || { log "go not found after installing golang-go"; exit 1; }
build || exit 1
declare -F version_suffix >/dev/null && VERSION_SUFFIX=$(version_suffix)
VERSION="$(dpkg-query -W -f='${Version}' "$VERSION_PKG" | sed 's/-[^-]*$//')$VERSION_SUFFIX"
log "$CLIENT_ID $VERSION; $(go version)"

result() {  # result SCENARIO STATUS DETAIL
    printf 'RESULT\t%s %s\t%s\t%s\t%s\n' "$CLIENT_ID" "$VERSION" "$1" "$2" "$(printf '%s' "$3" | tr '\t\n' '  ' | cut -c1-1500)"
}

# scenario PHASE -> SC_STATUS / SC_DETAIL; client output in $WORK/go-PHASE.log
scenario() {
    local phase=$1 out="$WORK/go-$1.out" err="$WORK/go-$1.log" rc=0 lines_before
    lines_before=$(cat "$BROKER_LOG" 2>/dev/null | wc -l)
    local left=$((RUN_BUDGET - SECONDS)) limit=$SCENARIO_TIMEOUT
    if [ "$left" -lt 15 ]; then
        SC_STATUS=fail; SC_DETAIL="not run: the ${RUN_BUDGET}s budget of run.sh was used up by earlier scenarios"
        log "scenario $phase: $SC_DETAIL"; return
    fi
    [ "$left" -lt "$limit" ] && limit=$left
    log "scenario $phase against $BROKER"
    DATA_DIR="$WORK/data" timeout --kill-after=5 "$limit" "$CACHE/bin/scenarios" "$phase" "$BROKER" \
        >"$out" 2>"$err" </dev/null || rc=$?
    local last; last=$(tail -n 1 "$out")
    SC_STATUS=${last%%$'\t'*}
    SC_DETAIL=${last#*$'\t'}
    case "$SC_STATUS" in
        pass|fail|unsupported) ;;
        *)
            SC_STATUS=fail
            if [ "$rc" -ge 124 ]; then SC_DETAIL="timed out after ${limit}s"; else SC_DETAIL="client exited $rc without a result"; fi
            SC_DETAIL="$SC_DETAIL; last client log line: $(grep -v '^\s' "$err" | tail -n 1)"
            ;;
    esac
    if [ "$SC_STATUS" = fail ]; then
        # The broker's reason when it dropped a client connection (unsupported API or version).
        local closing
        closing=$(tail -n +"$((lines_before + 1))" "$BROKER_LOG" 2>/dev/null | grep -o 'closing connection.*' | sort | uniq -c | sort -rn | head -n 3 | sed 's/^ *//' | tr '\n' ' ')
        [ -n "$closing" ] && SC_DETAIL="$SC_DETAIL [broker: $closing]"
        log "scenario $phase FAILED: $SC_DETAIL"
        sed 's/^/    client| /' "$err" | tail -n 40 >&2
        broker_log_tail 15 >&2
    fi
}

BROKER_ARGS=(--override group.initial.rebalance.delay.ms=200 --override group.min.session.timeout.ms=1000 "${EXTRA_BROKER_ARGS[@]}")
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
