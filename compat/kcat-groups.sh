#!/usr/bin/env bash
# Consumer groups with Debian's kcat (librdkafka 2.0.x, KAFKA-COMPAT item 17): two `kcat -G`
# balanced consumers in one group on a 4-partition topic must split the partitions 2/2 and
# together consume every produced record exactly once; after both close (committing on close),
# a third member of the group resumes exactly after the committed offsets.
#
#   bash compat/kcat-groups.sh            # uses target/debug/odradek
#   ODRADEK_BIN=/path/to/odradek bash compat/kcat-groups.sh
#   KEEP_WORK=1 ...                       # keep the temp dir (broker log, kcat outputs)
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/broker.sh"

command -v kcat >/dev/null 2>&1 || { say "kcat not installed (apt-get install -y kcat)"; exit 1; }
command -v python3 >/dev/null 2>&1 || { say "python3 not installed"; exit 1; }
say "$(kcat -V 2>&1 | grep -m1 Version || echo 'kcat version unknown')"

# Background kcat -G members. `check` runs each check in a subshell, so their pids are kept in
# files ($WORK/NAME.pid); every member still running is stopped on exit, whatever happens.
_groups_cleanup() {
    local rc=$? f pid
    for f in "$WORK"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for f in "$WORK"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill -KILL "$pid" 2>/dev/null || true
    done
    (exit "$rc")
    _compat_cleanup
}
trap _groups_cleanup EXIT

odradek_start --override num.partitions=4 \
    --override group.initial.rebalance.delay.ms=200 \
    --override group.min.session.timeout.ms=1000

KCAT_TIMEOUT=${KCAT_TIMEOUT:-30}
kc() { timeout --kill-after=5 "$KCAT_TIMEOUT" kcat -b "$BROKER" -m 10 "$@"; }

TOPIC=kcat-groups
GROUP=kcat-group
PER_PARTITION=25
# start_member NAME: a kcat balanced consumer; records as "partition offset key value" lines in
# $WORK/NAME.out (unbuffered: -u), rebalance messages in $WORK/NAME.err.
start_member() {
    local name=$1
    timeout --kill-after=5 180 kcat -b "$BROKER" -u -G "$GROUP" -f '%p %o %k %s\n' \
        -X auto.offset.reset=earliest -X session.timeout.ms=6000 -X heartbeat.interval.ms=500 \
        "$TOPIC" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
    echo $! >"$WORK/$name.pid"
    echo "started kcat -G member $name (pid $!)"
}

# stop_member NAME: SIGTERM (timeout passes it on to kcat) -> kcat closes the consumer
# (commit + LeaveGroup) and exits.
stop_member() {
    local name=$1 pid i
    pid=$(cat "$WORK/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "kcat member $name did not exit within 15 s of SIGTERM"
        kill -KILL "$pid" 2>/dev/null || true
        return 1
    fi
    rm -f "$WORK/$name.pid"
}

# last_assignment NAME: the partitions of NAME's last rebalance message if it is an
# "assigned:" one (space-separated, sorted), else nothing.
last_assignment() {
    grep 'rebalanced' "$WORK/$1.err" 2>/dev/null | tail -n 1 | grep 'assigned:' \
        | grep -o "$TOPIC \[[0-9]*\]" | grep -o '[0-9]*\]' | tr -d ']' | sort -n | tr '\n' ' ' || true
}

show_member_logs() {
    local n
    for n in "$@"; do
        echo "--- $n stderr:"
        sed 's/^/    /' "$WORK/$n.err" 2>/dev/null | tail -n 20
    done
}

# ------------------------------------------------------------------ checks
check_create_topic() {
    # Metadata request with auto-create (num.partitions=4).
    run_logged meta kc -L -t "$TOPIC" >"$WORK/meta.txt" || return 1
    cat "$WORK/meta.txt"
    grep -q "topic \"$TOPIC\" with 4 partitions" "$WORK/meta.txt" || { echo "topic $TOPIC does not have 4 partitions"; return 1; }
}

check_split() {
    start_member a
    start_member b
    local i aa="" ab=""
    for i in $(seq 1 300); do
        aa=$(last_assignment a); ab=$(last_assignment b)
        if [ -n "$aa" ] && [ -n "$ab" ]; then
            if [ "$(printf '%s%s' "$aa" "$ab" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" = "0 1 2 3 " ] \
                && [ "$(echo "$aa" | wc -w)" -eq 2 ] && [ "$(echo "$ab" | wc -w)" -eq 2 ]; then
                echo "a: $aa| b: $ab"
                echo "$aa" >"$WORK/a.assigned"
                echo "$ab" >"$WORK/b.assigned"
                return 0
            fi
        fi
        sleep 0.1
    done
    echo "the two members did not split the 4 partitions 2/2 within 30 s (a: '$aa', b: '$ab')"
    show_member_logs a b
    return 1
}

check_consume_exactly_once() {
    local p i
    : >"$WORK/produced"
    for p in 0 1 2 3; do
        for i in $(seq 1 "$PER_PARTITION"); do printf 'k%d-%03d:v%d-%03d\n' "$p" "$i" "$p" "$i"; done >"$WORK/in-$p"
        run_logged "produce-$p" kc -P -t "$TOPIC" -p "$p" -K: -X acks=all -l "$WORK/in-$p" || return 1
        awk -F: -v p="$p" '{ printf "%d %d %s %s\n", p, NR-1, $1, $2 }' "$WORK/in-$p" >>"$WORK/produced"
    done
    local total=$((4 * PER_PARTITION)) n=0
    for i in $(seq 1 300); do
        n=$(cat "$WORK/a.out" "$WORK/b.out" | wc -l)
        [ "$n" -ge "$total" ] && break
        sleep 0.1
    done
    python3 - "$WORK/produced" "$WORK/a.out" "$WORK/b.out" "$WORK/a.assigned" "$WORK/b.assigned" <<'EOF' || { show_member_logs a b; return 1; }
import sys, collections
produced = [l.split() for l in open(sys.argv[1]) if l.strip()]
want = {(int(p), int(o)): (k, v) for p, o, k, v in produced}
outs = {"a": sys.argv[2], "b": sys.argv[3]}
assigned = {"a": set(map(int, open(sys.argv[4]).read().split())), "b": set(map(int, open(sys.argv[5]).read().split()))}
seen = collections.defaultdict(list)
errs = []
for m, path in outs.items():
    n = 0
    for line in open(path):
        f = line.split()
        if len(f) != 4:
            errs.append(f"{m}: malformed line {line!r}"); continue
        p, o, k, v = int(f[0]), int(f[1]), f[2], f[3]
        n += 1
        seen[(p, o)].append(m)
        if p not in assigned[m]:
            errs.append(f"{m} consumed {p}@{o} but was assigned {sorted(assigned[m])}")
        if want.get((p, o)) != (k, v):
            errs.append(f"{m}: {p}@{o} is {k}:{v}, produced {want.get((p, o))}")
    print(f"member {m}: {n} records from partitions {sorted(assigned[m])}")
for po in sorted(want):
    if po not in seen: errs.append(f"{po[0]}@{po[1]} never consumed")
for po, ms in sorted(seen.items()):
    if len(ms) > 1: errs.append(f"{po[0]}@{po[1]} consumed {len(ms)} times: {ms}")
for e in errs[:40]: print(e)
print(f"{len(want)} produced, {sum(len(v) for v in seen.values())} consumed, {len(errs)} problems")
sys.exit(1 if errs else 0)
EOF
    # No rebalance happened meanwhile: both still hold the partitions they had.
    [ "$(last_assignment a)" = "$(cat "$WORK/a.assigned")" ] || { echo "member a's assignment changed: $(last_assignment a)"; return 1; }
    [ "$(last_assignment b)" = "$(cat "$WORK/b.assigned")" ] || { echo "member b's assignment changed: $(last_assignment b)"; return 1; }
}

check_resume_after_close() {
    # Both members close (kcat commits the consumed offsets on close, then leaves the group).
    stop_member a || return 1
    stop_member b || return 1
    grep -q 'revoked:' "$WORK/a.err" || echo "(note: member a printed no 'revoked:' on close)"
    local p
    : >"$WORK/produced2"
    for p in 0 1 2 3; do
        printf 'after%d:again%d\n' "$p" "$p" >"$WORK/in2-$p"
        run_logged "produce2-$p" kc -P -t "$TOPIC" -p "$p" -K: -X acks=all -l "$WORK/in2-$p" || return 1
        printf '%d %d after%d again%d\n' "$p" "$PER_PARTITION" "$p" "$p" >>"$WORK/produced2"
    done
    # A new member of the group gets all 4 partitions and starts at the committed offsets (25),
    # not at the beginning (auto.offset.reset=earliest would re-read everything).
    start_member c
    local i
    for i in $(seq 1 300); do
        if [ "$(last_assignment c)" = "0 1 2 3 " ] && [ "$(wc -l <"$WORK/c.out")" -ge 4 ]; then break; fi
        sleep 0.1
    done
    local got
    got=$(sort -n "$WORK/c.out")
    expect_eq "records read by a new member after the first two closed (partition offset key value)" \
        "$(sort -n "$WORK/produced2")" "$got" || { show_member_logs c; return 1; }
    stop_member c
}

check create-topic-4-partitions check_create_topic
check two-members-split-partitions check_split
check consume-exactly-once check_consume_exactly_once
check new-member-resumes-at-commits check_resume_after_close

finish
