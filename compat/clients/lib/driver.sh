# Shared by every compat/clients/*/run.sh: runs scenarios 1-8 against brokers started with
# compat/lib/broker.sh and prints one RESULT line per scenario (protocol: compat/matrix.sh).
#
# The caller sets CLIENT_ID and VERSION, defines `client_cmd PHASE LIMIT` (runs the client's
# scenario PHASE against $BROKER with a time limit; its last stdout line is
# "pass|fail|unsupported<TAB>detail"), may set EXTRA_BROKER_ARGS, then calls run_scenarios.

SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-90}   # s per scenario run
RUN_BUDGET=${RUN_BUDGET:-360}              # s for all scenarios (the runner's limit is 420 s)

log() { echo "[$CLIENT_ID] $*" >&2; }

result() {  # result SCENARIO STATUS DETAIL
    printf 'RESULT\t%s %s\t%s\t%s\t%s\n' "$CLIENT_ID" "$VERSION" "$1" "$2" "$(printf '%s' "$3" | tr '\t\n' '  ' | cut -c1-1500)"
}

# scenario PHASE -> SC_STATUS, SC_DETAIL; the client's output is in $WORK/client-PHASE.{out,log}
scenario() {
    local phase=$1 out="$WORK/client-$1.out" err="$WORK/client-$1.log" rc=0 lines_before last t0=$SECONDS
    local left=$((RUN_BUDGET - SECONDS)) limit=$SCENARIO_TIMEOUT
    SC_STATUS=fail
    if ! odradek_alive; then SC_DETAIL="the broker is not running"; return; fi
    if [ "$left" -lt 15 ]; then
        SC_DETAIL="not run: the ${RUN_BUDGET}s budget of run.sh was used up by earlier scenarios"
        log "scenario $phase: $SC_DETAIL"; return
    fi
    [ "$left" -lt "$limit" ] && limit=$left
    lines_before=$(wc -l <"$BROKER_LOG" 2>/dev/null || echo 0)
    log "scenario $phase against $BROKER"
    client_cmd "$phase" "$limit" >"$out" 2>"$err" </dev/null || rc=$?
    last=$(tail -n 1 "$out")
    SC_STATUS=${last%%$'\t'*}
    SC_DETAIL=${last#*$'\t'}
    case "$SC_STATUS" in
        pass|fail|unsupported) ;;
        *)
            SC_STATUS=fail
            if [ "$rc" -ge 124 ]; then SC_DETAIL="timed out after ${limit}s"; else SC_DETAIL="client exited $rc without a result"; fi
            SC_DETAIL="$SC_DETAIL; last client log line: $(grep -v '^\s*File \|^\s*\^\|^\s' "$err" | tail -n 1)"
            ;;
    esac
    if ! odradek_alive; then SC_STATUS=fail; SC_DETAIL="the broker died during the scenario; $SC_DETAIL"; fi
    log "scenario $phase: $SC_STATUS in $((SECONDS - t0))s"
    if [ "$SC_STATUS" = fail ]; then
        # The broker's reasons when it dropped a client connection (unsupported API or version).
        local closing
        closing=$(tail -n +"$((lines_before + 1))" "$BROKER_LOG" 2>/dev/null | grep -o 'closing connection.*' | sed 's/ peer=[^ ]*//' | sort -u | head -n 3 | tr '\n' ' ')
        [ -n "$closing" ] && SC_DETAIL="$SC_DETAIL [broker: $closing]"
        log "scenario $phase FAILED: $SC_DETAIL"
        tail -n 40 "$err" | sed 's/^/    client| /' >&2
        broker_log_tail 15 >&2
    fi
}

# Scenarios 1-3, 4 (with a broker restart between its two phases), 5-7, then 8 on a broker with
# auto.create.topics.enable=false.
run_scenarios() {
    local args=(--override group.initial.rebalance.delay.ms=200 --override group.min.session.timeout.ms=1000 "${EXTRA_BROKER_ARGS[@]}")
    odradek_start "${args[@]}" >&2 || { log "broker did not start"; exit 1; }
    for s in 1 2 3; do scenario "$s"; result "$s" "$SC_STATUS" "$SC_DETAIL"; done
    scenario 4a
    if [ "$SC_STATUS" = pass ]; then
        log "restarting the broker on the same data dir"
        odradek_stop
        if odradek_start "${args[@]}" >&2; then scenario 4b; else SC_STATUS=fail; SC_DETAIL="broker did not restart"; fi
    fi
    result 4 "$SC_STATUS" "$SC_DETAIL"
    odradek_alive || odradek_start "${args[@]}" >&2
    for s in 5 6 7; do scenario "$s"; result "$s" "$SC_STATUS" "$SC_DETAIL"; done
    odradek_stop
    if odradek_start "${args[@]}" --override auto.create.topics.enable=false >&2; then
        scenario 8
    else
        SC_STATUS=fail; SC_DETAIL="broker with auto.create.topics.enable=false did not start"
    fi
    result 8 "$SC_STATUS" "$SC_DETAIL"
    odradek_stop
}
