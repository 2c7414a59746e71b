# Shared by the Go clients' run.sh (sarama, kafka-go, confluent-kafka-go): installs the Debian
# packages, builds the client's main.go with lib/common.go in GOPATH mode into the cache, starts
# brokers and runs scenarios 1-8, printing RESULT lines (compat/matrix.sh protocol).
# The caller sets HERE, CLIENT_ID, APT_PKGS, VERSION_PKG, VERSION_SUFFIX (or a version_suffix
# function), EXTRA_BROKER_ARGS, and sources this file.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPAT_NAME=$CLIENT_ID
. "$HERE/../../lib/broker.sh"
CACHE=${COMPAT_CACHE:-$HOME/.cache/odradek-compat}/$CLIENT_ID
. "$LIB/driver.sh"

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

client_cmd() {  # client_cmd PHASE LIMIT
    DATA_DIR="$WORK/data" timeout --kill-after=5 "$2" "$CACHE/bin/scenarios" "$1" "$BROKER"
}

run_scenarios
exit 0
