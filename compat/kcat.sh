#!/usr/bin/env bash
# Drives Debian's kcat (librdkafka 2.0.x, see KAFKA-COMPAT item 17) against a fresh Odradek broker:
# metadata, keyed produce with headers to a 3-partition auto-created topic, consume-back checked
# exactly (plain format and JSON), offsets (-Q, -o absolute/relative/s@/e@), compressed batches
# (gzip, snappy, lz4, zstd) including a fetch starting inside a batch, a ~600 KB record, clean
# SIGTERM shutdown, and the same data read back after a restart.
#
#   bash compat/kcat.sh            # uses target/debug/odradek
#   ODRADEK_BIN=/path/to/odradek bash compat/kcat.sh
#   KEEP_WORK=1 ...                # keep the temp dir (broker log, kcat outputs)
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/broker.sh"

command -v kcat >/dev/null 2>&1 || { say "kcat not installed (apt-get install -y kcat)"; exit 1; }
command -v python3 >/dev/null 2>&1 || { say "python3 not installed"; exit 1; }
say "$(kcat -V 2>&1 | grep -m1 Version || echo 'kcat version unknown')"

odradek_start --override num.partitions=3

# Every kcat call: bounded in time (KCAT_TIMEOUT s), metadata timeout 10 s.
KCAT_TIMEOUT=${KCAT_TIMEOUT:-30}
kc() { timeout --kill-after=5 "$KCAT_TIMEOUT" kcat -b "$BROKER" -m 10 "$@"; }
now_ms() { python3 -c 'import time; print(int(time.time()*1000))'; }
# qry TOPIC:PARTITION:TIMESTAMP -> kcat -Q's stdout line ("topic [p] offset N"); stderr kept apart.
qry() {
    local rc=0
    kc -Q -t "$1" 2>"$WORK/q.err" || rc=$?
    if [ "$rc" -ne 0 ]; then echo "kcat -Q -t $1 failed (exit $rc):"; cat "$WORK/q.err"; fi
    return "$rc"
}

NODE_ID=${ODRADEK_NODE_ID:-0}   # the broker reads ODRADEK_NODE_ID as node.id too
KEYED=kcat-keyed
N_KEYED=30
HEADERS_EXPECTED='source=kcat,trace-id=t-123,eq=a=b'

# ------------------------------------------------------------------ metadata
check_metadata_brokers() {
    run_logged meta-plain kc -L >"$WORK/meta.txt" || return 1
    cat "$WORK/meta.txt"
    grep -q "broker $NODE_ID at $BROKER" "$WORK/meta.txt" || { echo "no 'broker $NODE_ID at $BROKER' line"; return 1; }
    run_logged meta-json kc -L -J >"$WORK/meta.json" || return 1
    python3 - "$WORK/meta.json" "$BROKER" "$NODE_ID" <<'EOF' || return 1
import json, sys
m = json.load(open(sys.argv[1])); want = sys.argv[2]; node = int(sys.argv[3])
print(json.dumps(m))
errs = []
if [b.get("name") for b in m.get("brokers", [])] != [want]:
    errs.append(f"brokers: want exactly [{want}], got {m.get('brokers')}")
if [b.get("id") for b in m.get("brokers", [])] != [node]:
    errs.append(f"broker ids: want [{node}], got {[b.get('id') for b in m.get('brokers', [])]}")
if m.get("controllerid") != node:
    errs.append(f"controllerid: want {node} (the one node), got {m.get('controllerid')}")
for e in errs: print(e)
sys.exit(1 if errs else 0)
EOF
}

# ------------------------------------------------------------------ keyed produce + consume
make_keyed_input() {
    local i
    for i in $(seq 1 "$N_KEYED"); do
        case $i in
            7) printf 'key-%02d:value with spaces and = and , and | (%d)\n' "$i" "$i" ;;
            11) printf 'key-%02d:ünïcødé ✓ %d\n' "$i" "$i" ;;
            13) printf 'key-%02d:\n' "$i" ;;   # empty (not NULL) value
            *) printf 'key-%02d:value-%d\n' "$i" "$i" ;;
        esac
    done
}

check_produce_keyed() {
    make_keyed_input >"$WORK/keyed.in"
    now_ms >"$WORK/keyed.t0"
    run_logged produce-keyed kc -P -t "$KEYED" -K: -H source=kcat -H trace-id=t-123 -H eq=a=b \
        -X acks=all -l "$WORK/keyed.in" || return 1
    now_ms >"$WORK/keyed.t1"
}

check_metadata_topic() {
    run_logged meta-topic kc -L -J -t "$KEYED" >"$WORK/meta-topic.json" || return 1
    python3 - "$WORK/meta-topic.json" "$KEYED" "$NODE_ID" <<'EOF' || return 1
import json, sys
m = json.load(open(sys.argv[1])); topic = sys.argv[2]; node = int(sys.argv[3])
print(json.dumps(m))
ts = [t for t in m.get("topics", []) if t.get("topic") == topic]
if len(ts) != 1: print(f"topic {topic} not listed once"); sys.exit(1)
t = ts[0]; errs = []
if t.get("error"): errs.append(f"topic error {t['error']}")
parts = sorted(t.get("partitions", []), key=lambda p: p["partition"])
if [p["partition"] for p in parts] != [0, 1, 2]:
    errs.append(f"partitions: want [0,1,2] (num.partitions=3), got {[p['partition'] for p in parts]}")
for p in parts:
    if p.get("leader") != node: errs.append(f"partition {p['partition']}: leader {p.get('leader')}, want {node}")
    if [r.get("id") for r in p.get("replicas", [])] != [node]: errs.append(f"partition {p['partition']}: replicas {p.get('replicas')}")
    if [r.get("id") for r in p.get("isrs", [])] != [node]: errs.append(f"partition {p['partition']}: isrs {p.get('isrs')}")
    if p.get("error"): errs.append(f"partition {p['partition']}: error {p['error']}")
for e in errs: print(e)
sys.exit(1 if errs else 0)
EOF
}

check_consume_keyed_plain() {
    run_logged consume-keyed kc -C -t "$KEYED" -o beginning -e -f '%p|%o|%k=%s|%h\n' >"$WORK/keyed.out" || return 1
    local expected actual
    expected=$(sed "s/^\\([^:]*\\):/\\1=/; s/\$/|$HEADERS_EXPECTED/" "$WORK/keyed.in" | LC_ALL=C sort)
    actual=$(cut -d'|' -f3- "$WORK/keyed.out" | LC_ALL=C sort)
    expect_eq "consumed key=value|headers (sorted)" "$expected" "$actual" || { cat "$WORK/keyed.out"; return 1; }
    # Per partition: offsets 0,1,2,... and records in the order they were produced.
    python3 - "$WORK/keyed.out" <<'EOF' || return 1
import sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1], encoding="utf-8"):
    p, o, rest = line.rstrip("\n").split("|", 2)
    rows[int(p)].append((int(o), rest.split("=", 1)[0]))
errs = []
for p, rs in sorted(rows.items()):
    offs = [o for o, _ in rs]; keys = [k for _, k in rs]
    if offs != list(range(len(rs))): errs.append(f"partition {p}: offsets {offs}, want 0..{len(rs)-1}")
    if keys != sorted(keys): errs.append(f"partition {p}: keys out of produce order: {keys}")
    print(f"partition {p}: {len(rs)} records")
if not set(rows) <= {0, 1, 2}: errs.append(f"partitions outside 0..2: {sorted(rows)}")
if len(rows) < 2: errs.append(f"30 keys all went to one partition: {sorted(rows)} (keyed partitioning ignored 3 partitions?)")
for e in errs: print(e)
sys.exit(1 if errs else 0)
EOF
}

check_consume_keyed_json() {
    run_logged consume-keyed-json kc -C -t "$KEYED" -o beginning -e -J >"$WORK/keyed.jsonl" || return 1
    python3 - "$WORK/keyed.jsonl" "$WORK/keyed.in" "$(cat "$WORK/keyed.t0")" "$(cat "$WORK/keyed.t1")" "$KEYED" "$NODE_ID" <<'EOF' || return 1
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
want = {}
for l in open(sys.argv[2], encoding="utf-8"):
    k, v = l.rstrip("\n").split(":", 1); want[k] = v
t0, t1, topic, node = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
errs = []
got = {}
for m in msgs:
    got[m["key"]] = m["payload"]
    if m.get("topic") != topic: errs.append(f"topic {m.get('topic')}")
    if m.get("headers") != ["source", "kcat", "trace-id", "t-123", "eq", "a=b"]:
        errs.append(f"{m['key']}: headers {m.get('headers')}")
    if m.get("tstype") != "create": errs.append(f"{m['key']}: tstype {m.get('tstype')}, want create")
    if not (t0 - 5000 <= m.get("ts", 0) <= t1 + 5000):
        errs.append(f"{m['key']}: timestamp {m.get('ts')} outside the produce window [{t0}, {t1}]")
    if m.get("broker") != node: errs.append(f"{m['key']}: broker {m.get('broker')}")
if len(msgs) != len(want): errs.append(f"{len(msgs)} messages, want {len(want)}")
if got != want:
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k): errs.append(f"key {k}: want {want.get(k)!r}, got {got.get(k)!r}")
for e in errs[:40]: print(e)
sys.exit(1 if errs else 0)
EOF
}

check_query_watermarks() {
    # -Q with timestamp -1 (latest) / -2 (earliest): ListOffsets. Latest must equal the number of
    # records consumed from that partition; earliest must be 0.
    local p n out
    for p in 0 1 2; do
        n=$(awk -F'|' -v p="$p" '$1 == p' "$WORK/keyed.out" | wc -l)
        out=$(qry "$KEYED:$p:-1") || { echo "$out"; return 1; }
        expect_eq "latest offset of partition $p" "$KEYED [$p] offset $n" "$out" || return 1
        out=$(qry "$KEYED:$p:-2") || { echo "$out"; return 1; }
        expect_eq "earliest offset of partition $p" "$KEYED [$p] offset 0" "$out" || return 1
        echo "partition $p: earliest 0, latest $n"
    done
}

# ------------------------------------------------------------------ timestamps and -o offsets
TIMES=kcat-times
check_produce_times() {
    seq 0 4 | sed 's/^/a-/' >"$WORK/times-a.in"
    seq 5 9 | sed 's/^/b-/' >"$WORK/times-b.in"
    run_logged produce-times-a kc -P -t "$TIMES" -p 0 -l "$WORK/times-a.in" || return 1
    sleep 1.2
    now_ms >"$WORK/times.mid"
    sleep 0.3
    run_logged produce-times-b kc -P -t "$TIMES" -p 0 -l "$WORK/times-b.in" || return 1
}

check_query_by_time() {
    local mid out
    mid=$(cat "$WORK/times.mid")
    out=$(qry "$TIMES:0:$mid") || { echo "$out"; return 1; }
    expect_eq "offset for time $mid (between the batches)" "$TIMES [0] offset 5" "$out" || return 1
    out=$(qry "$TIMES:0:0") || { echo "$out"; return 1; }
    expect_eq "offset for time 0" "$TIMES [0] offset 0" "$out" || return 1
    # A time after every record: Kafka answers offset -1 (no such record).
    out=$(qry "$TIMES:0:$(( $(now_ms) + 3600000 ))") || { echo "$out"; return 1; }
    expect_eq "offset for a future time" "$TIMES [0] offset -1" "$out" || return 1
}

consume_times() {  # consume_times ARGS... -> "offset:value" lines
    kc -C -t "$TIMES" -p 0 -e -f '%o:%s\n' "$@"
}

check_offsets_o() {
    local out mid
    mid=$(cat "$WORK/times.mid")
    out=$(consume_times -o beginning 2>"$WORK/o.err") || { cat "$WORK/o.err"; return 1; }
    expect_eq "-o beginning" "$(printf '0:a-0\n1:a-1\n2:a-2\n3:a-3\n4:a-4\n5:b-5\n6:b-6\n7:b-7\n8:b-8\n9:b-9')" "$out" || return 1
    out=$(consume_times -o 7 2>"$WORK/o.err") || { cat "$WORK/o.err"; return 1; }
    expect_eq "-o 7 (absolute)" "$(printf '7:b-7\n8:b-8\n9:b-9')" "$out" || return 1
    out=$(consume_times -o -3 2>"$WORK/o.err") || { cat "$WORK/o.err"; return 1; }
    expect_eq "-o -3 (relative to end)" "$(printf '7:b-7\n8:b-8\n9:b-9')" "$out" || return 1
    out=$(consume_times -o 2 -c 2 2>"$WORK/o.err") || { cat "$WORK/o.err"; return 1; }
    expect_eq "-o 2 -c 2" "$(printf '2:a-2\n3:a-3')" "$out" || return 1
    out=$(consume_times -o "s@$mid" 2>"$WORK/o.err") || { cat "$WORK/o.err"; return 1; }
    expect_eq "-o s@$mid (start at time)" "$(printf '5:b-5\n6:b-6\n7:b-7\n8:b-8\n9:b-9')" "$out" || return 1
    out=$(consume_times -o beginning -o "e@$mid" 2>"$WORK/o.err") || { cat "$WORK/o.err"; return 1; }
    expect_eq "-o e@$mid (stop at time)" "$(printf '0:a-0\n1:a-1\n2:a-2\n3:a-3\n4:a-4')" "$out" || return 1
}

check_offset_out_of_range() {
    # Beyond the end with auto.offset.reset=error: kcat must report an error, not hang or crash
    # the broker. (Kafka: OFFSET_OUT_OF_RANGE.)
    local rc=0
    kc -C -t "$TIMES" -p 0 -o 100 -e -X auto.offset.reset=error -f '%o\n' >"$WORK/oor.out" 2>"$WORK/oor.err" || rc=$?
    cat "$WORK/oor.out" "$WORK/oor.err"
    if [ "$rc" -eq 0 ]; then echo "kcat exited 0 for offset 100 of a 10-record partition with auto.offset.reset=error"; return 1; fi
    if [ "$rc" -ge 124 ]; then echo "kcat timed out (exit $rc) instead of reporting offset out of range"; return 1; fi
    grep -qi 'out of range' "$WORK/oor.err" || { echo "no 'out of range' error from kcat"; return 1; }
}

# ------------------------------------------------------------------ compression
COMP=kcat-compressed
check_produce_compressed() {
    local codec i
    : >"$WORK/comp.expected"
    for codec in gzip snappy lz4 zstd; do
        for i in $(seq 1 50); do printf '%s-%03d:%s payload %d %s\n' "$codec" "$i" "$codec" "$i" "$(printf 'x%.0s' $(seq 1 $((i % 7 * 10))))"; done >"$WORK/comp-$codec.in"
        cat "$WORK/comp-$codec.in" >>"$WORK/comp.expected"
        # linger so that each codec's 50 records go as one (or few) compressed batches
        run_logged "produce-$codec" kc -P -t "$COMP" -p 0 -K: -X compression.codec="$codec" \
            -X linger.ms=200 -l "$WORK/comp-$codec.in" || return 1
    done
}

check_consume_compressed() {
    run_logged consume-comp kc -C -t "$COMP" -p 0 -o beginning -e -f '%o|%k:%s\n' >"$WORK/comp.out" || return 1
    local expected actual
    expected=$(awk '{ printf "%d|%s\n", NR-1, $0 }' "$WORK/comp.expected")
    actual=$(cat "$WORK/comp.out")
    expect_eq "compressed records (offset|key:value)" "$expected" "$actual" || return 1
    # Start inside a compressed batch: the broker returns the whole containing batch, the client
    # skips the records before the requested offset (KAFKA-COMPAT item 9).
    run_logged consume-comp-mid kc -C -t "$COMP" -p 0 -o 75 -c 5 -e -f '%o|%k:%s\n' >"$WORK/comp-mid.out" || return 1
    expected=$(awk 'NR > 75 && NR <= 80 { printf "%d|%s\n", NR-1, $0 }' "$WORK/comp.expected")
    actual=$(cat "$WORK/comp-mid.out")
    expect_eq "-o 75 -c 5 inside a compressed batch" "$expected" "$actual" || return 1
}

# ------------------------------------------------------------------ a large record
BIG=kcat-big
check_big_record() {
    head -c 450000 /dev/urandom | base64 -w0 >"$WORK/big.val"   # ~600 KB, one line
    printf '\n' >>"$WORK/big.val"
    run_logged produce-big kc -P -t "$BIG" -p 0 -l "$WORK/big.val" || return 1
    echo after-big >"$WORK/big2.in"
    run_logged produce-small-after-big kc -P -t "$BIG" -p 0 -l "$WORK/big2.in" || return 1
    run_logged consume-big kc -C -t "$BIG" -p 0 -o beginning -e -f '%o %S %s\n' >"$WORK/big.out" || return 1
    local want got
    want="0 $(($(wc -c <"$WORK/big.val") - 1)) $(head -c -1 "$WORK/big.val" | sha256sum | cut -c1-16)
1 9 after-big"
    got=$(python3 - "$WORK/big.out" <<'EOF'
import sys, hashlib
for line in open(sys.argv[1]):
    o, n, v = line.rstrip("\n").split(" ", 2)
    print(o, n, hashlib.sha256(v.encode()).hexdigest()[:16] if int(n) > 100 else v)
EOF
)
    expect_eq "big record (offset size sha256|value)" "$want" "$got"
}

# ------------------------------------------------------------------ restart on the same data
check_after_restart() {
    # Same records, offsets and headers as before the restart; topics keep 3 partitions.
    run_logged consume-keyed-restart kc -C -t "$KEYED" -o beginning -e -f '%p|%o|%k=%s|%h\n' >"$WORK/keyed-restart.out" || return 1
    expect_eq "keyed records after restart (sorted)" "$(LC_ALL=C sort "$WORK/keyed.out")" "$(LC_ALL=C sort "$WORK/keyed-restart.out")" || return 1
    run_logged consume-comp-restart kc -C -t "$COMP" -p 0 -o beginning -e -f '%o|%k:%s\n' >"$WORK/comp-restart.out" || return 1
    expect_eq "compressed records after restart" "$(cat "$WORK/comp.out")" "$(cat "$WORK/comp-restart.out")" || return 1
    local out
    out=$(qry "$TIMES:0:$(cat "$WORK/times.mid")") || { echo "$out"; return 1; }
    expect_eq "offset for time after restart" "$TIMES [0] offset 5" "$out" || return 1
    check_metadata_topic
}

check metadata-brokers check_metadata_brokers
check produce-keyed-with-headers check_produce_keyed
check metadata-topic-3-partitions check_metadata_topic
check consume-keyed-plain check_consume_keyed_plain
check consume-keyed-json check_consume_keyed_json
check query-watermarks check_query_watermarks
check produce-times check_produce_times
check query-offsets-by-time check_query_by_time
check consume-offsets-o check_offsets_o
check offset-out-of-range check_offset_out_of_range
check produce-compressed check_produce_compressed
check consume-compressed check_consume_compressed
check big-record check_big_record

say "restarting the broker on the same data dir"
odradek_stop_checked
if odradek_start --override num.partitions=3; then
    check after-restart check_after_restart
else
    CHECKS_FAILED=$((CHECKS_FAILED + 1))
    FAILED_CHECKS+=("restart")
fi

finish
