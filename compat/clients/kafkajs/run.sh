#!/usr/bin/env bash
# Compat scenarios 1-8 (protocol: compat/matrix.sh) for KafkaJS, with the codec packages it needs for
# snappy, lz4 and zstd (package.json here pins every version). Installs them with npm into a directory
# cached under ${COMPAT_CACHE:-~/.cache/odradek-compat} (zstd-napi compiles its addon there with node-gyp
# once), starts its own broker (compat/lib/broker.sh) and runs scenarios.js once per scenario; prints one
# RESULT line per scenario on stdout, logs on stderr.
#
#   bash compat/clients/kafkajs/run.sh
#   KEEP_WORK=1 ...     # keep the temp dir (broker logs, each scenario's client log)
set -uo pipefail

CLIENT_ID=kafkajs

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPAT_NAME=$CLIENT_ID
. "$HERE/../../lib/broker.sh"
. "$HERE/../lib/driver.sh"

# ------------------------------------------------------------------ install (cached npm dir)
CACHE=${COMPAT_CACHE:-$HOME/.cache/odradek-compat}
NODE_DIR=$CACHE/node-$CLIENT_ID
install_client() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { log "node and npm are needed"; return 1; }
    if [ -d "$NODE_DIR/node_modules" ] && cmp -s "$HERE/package.json" "$NODE_DIR/.pinned"; then return 0; fi
    log "installing $(tr -d '\n ' <"$HERE/package.json" | grep -o '"dependencies":{[^}]*}') into $NODE_DIR"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp "$HERE/package.json" "$NODE_DIR/package.json"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --no-save --loglevel=error >&2) || { log "npm install failed"; return 1; }
    (cd "$NODE_DIR" && node -e 'require("zstd-napi"); require("lz4-napi")') >&2 || { log "the native codec addons do not load"; return 1; }
    cp "$HERE/package.json" "$NODE_DIR/.pinned"
}
install_client || { log "could not install $CLIENT_ID"; exit 1; }
VERSION=$(cd "$NODE_DIR" && node -p 'require("kafkajs/package.json").version') || { log "cannot load kafkajs"; exit 1; }
log "$CLIENT_ID $VERSION"

client_cmd() {  # client_cmd PHASE LIMIT
    (cd "$HERE" && BOOTSTRAP="$BROKER" DATA_DIR="$WORK/data" NODE_DIR="$NODE_DIR" NODE_PATH="$NODE_DIR/node_modules" \
        timeout --kill-after=5 "$2" node scenarios.js "$1")
}

EXTRA_BROKER_ARGS=()
run_scenarios
exit 0
