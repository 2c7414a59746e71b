# Shared by the Python clients' run.sh (confluent-kafka-python, kafka-python, aiokafka): installs
# the pinned packages into a cached venv and runs the client's scenarios.py (with lib/common.py on
# PYTHONPATH) through lib/driver.sh. The caller sets HERE, CLIENT_ID, PIP_PKGS, VERSION_CMD.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPAT_NAME=$CLIENT_ID
. "$HERE/../../lib/broker.sh"
. "$LIB/driver.sh"

# ------------------------------------------------------------------ install (cached venv)
CACHE=${COMPAT_CACHE:-$HOME/.cache/odradek-compat}
VENV=$CACHE/venv-$CLIENT_ID
install_client() {
    local want; want=$(printf '%s\n' "${PIP_PKGS[@]}")
    if [ "$(cat "$VENV/.pinned" 2>/dev/null)" = "$want" ]; then return 0; fi
    log "installing ${PIP_PKGS[*]} into $VENV"
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    if python3 -m venv "$VENV" >&2; then
        "$VENV/bin/pip" install --disable-pip-version-check -q "${PIP_PKGS[@]}" >&2 || { log "pip install ${PIP_PKGS[*]} failed"; return 1; }
    else
        # no venv module (Debian without python3-venv): a plain target directory on PYTHONPATH
        log "python3 -m venv failed; installing with pip --target instead"
        rm -rf "$VENV" && mkdir -p "$VENV/site"
        python3 -m pip install --disable-pip-version-check -q --target "$VENV/site" "${PIP_PKGS[@]}" >&2 || { log "pip install --target failed"; return 1; }
    fi
    printf '%s\n' "$want" >"$VENV/.pinned"
}
install_client || { log "could not install $CLIENT_ID"; exit 1; }
if [ -x "$VENV/bin/python" ]; then PY=("$VENV/bin/python"); else PY=(env PYTHONPATH="$LIB:$VENV/site" python3); fi
VERSION=$("${PY[@]}" -c "$VERSION_CMD") || { log "cannot import the client"; exit 1; }
log "$CLIENT_ID $VERSION"

# ------------------------------------------------------------------ scenarios
client_cmd() {  # client_cmd PHASE LIMIT
    (cd "$HERE" && BOOTSTRAP="$BROKER" DATA_DIR="$WORK/data" PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$LIB" \
        timeout --kill-after=5 "$2" "${PY[@]}" scenarios.py "$1")
}

EXTRA_BROKER_ARGS=()
run_scenarios
exit 0
