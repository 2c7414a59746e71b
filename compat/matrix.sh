#!/usr/bin/env bash
# The client compatibility matrix: runs every compat/clients/<client>/run.sh (each installs its pinned
# client into ${COMPAT_CACHE:-$HOME/.cache/odradek-compat}, starts its own broker(s) and runs the
# scenarios 1-8), collects their result lines
#     RESULT<TAB><client-id> <version><TAB><scenario 1-8><TAB>pass|fail|unsupported<TAB><detail>
# writes compat/MATRIX.md (client x scenario table, then every cell's detail), and compares the run
# with the checked-in compat/MATRIX.expected (TSV: client-id, scenario, status): it exits non-zero if
# a cell that is `pass` there is not `pass` now. The last line is `N passed, N failed` (cells).
#
#   bash compat/matrix.sh                       # all clients
#   bash compat/matrix.sh kafkajs aiokafka      # only these client directories (for iterating; the
#                                               # report then goes to the log dir, not compat/MATRIX.md)
#   bash compat/matrix.sh --update-expected     # rewrite MATRIX.expected from this run (rows of the
#                                               # clients that did not run are kept)
# Environment: ODRADEK_BIN (default target/debug/odradek), MATRIX_CLIENT_TIMEOUT (s per client,
# default 420), MATRIX_JOBS (clients run at once, default 2), MATRIX_LOG_DIR (default: a new temp
# dir; each client's stdout/stderr is kept there), KEEP_WORK=1 (keep each broker's work dir + log).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ODRADEK_BIN=${ODRADEK_BIN:-$ROOT/target/debug/odradek}
CLIENT_TIMEOUT=${MATRIX_CLIENT_TIMEOUT:-420}
JOBS=${MATRIX_JOBS:-2}
EXPECTED=$ROOT/compat/MATRIX.expected
REPORT=$ROOT/compat/MATRIX.md

UPDATE=0
ONLY=()
for arg in "$@"; do
    case "$arg" in
        --update-expected) UPDATE=1 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "usage: bash compat/matrix.sh [--update-expected] [client-dir ...]" >&2; exit 2 ;;
        *) ONLY+=("$arg") ;;
    esac
done

log() { printf '[matrix] %s\n' "$*"; }

if [ ! -x "$ODRADEK_BIN" ]; then
    log "broker binary not found: $ODRADEK_BIN (cargo build, or set ODRADEK_BIN)"
    echo "0 passed, 0 failed"
    exit 1
fi
command -v python3 >/dev/null 2>&1 || { log "python3 is required"; echo "0 passed, 0 failed"; exit 1; }

clients=()
for d in "$ROOT"/compat/clients/*/; do
    [ -f "$d/run.sh" ] || continue
    id=$(basename "$d")
    if [ "${#ONLY[@]}" -gt 0 ]; then
        keep=0
        for o in "${ONLY[@]}"; do [ "$o" = "$id" ] && keep=1; done
        [ "$keep" -eq 1 ] || continue
    fi
    clients+=("$id")
done
if [ "${#ONLY[@]}" -gt 0 ] && [ "${#clients[@]}" -ne "${#ONLY[@]}" ]; then
    log "unknown client dir among: ${ONLY[*]} (have: $(cd "$ROOT/compat/clients" && ls -d */ 2>/dev/null | tr -d / | tr '\n' ' '))"
    exit 2
fi

LOGDIR=${MATRIX_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/odradek-matrix.XXXXXX")}
mkdir -p "$LOGDIR"
log "broker: $ODRADEK_BIN"
log "clients: ${clients[*]:-(none)}; per-client limit ${CLIENT_TIMEOUT}s; $JOBS at a time; logs in $LOGDIR"

run_client() {  # run_client ID: runs its run.sh, writes ID.out, ID.err, ID.rc, ID.secs
    local id=$1 start rc=0
    start=$(date +%s)
    COMPAT_NAME="$id" timeout --kill-after=20 "$CLIENT_TIMEOUT" \
        bash "$ROOT/compat/clients/$id/run.sh" </dev/null >"$LOGDIR/$id.out" 2>"$LOGDIR/$id.err" || rc=$?
    echo $(( $(date +%s) - start )) >"$LOGDIR/$id.secs"
    echo "$rc" >"$LOGDIR/$id.rc"
}

summarize_client() {
    local id=$1 rc secs
    rc=$(cat "$LOGDIR/$id.rc" 2>/dev/null || echo '?')
    secs=$(cat "$LOGDIR/$id.secs" 2>/dev/null || echo '?')
    local counts
    counts=$(awk -F'\t' '$1 == "RESULT" { n[$4]++ } END { printf "%d pass, %d fail, %d unsupported", n["pass"], n["fail"], n["unsupported"] }' "$LOGDIR/$id.out")
    case "$rc" in
        0) log "$id: $counts in ${secs}s" ;;
        124|137) log "$id: TIMED OUT after ${CLIENT_TIMEOUT}s ($counts reported) in ${secs}s" ;;
        *) log "$id: run.sh exited $rc ($counts reported) in ${secs}s" ;;
    esac
}

T0=$(date +%s)
declare -A SUMMARIZED=()
summarize_finished() {  # reports each client whose run has ended, once
    local id
    for id in "${clients[@]}"; do
        if [ -f "$LOGDIR/$id.rc" ] && [ -z "${SUMMARIZED[$id]:-}" ]; then
            SUMMARIZED[$id]=1
            summarize_client "$id"
        fi
    done
}
rm -f "$LOGDIR"/*.rc
running=0
for id in "${clients[@]}"; do
    if [ "$JOBS" -le 1 ]; then
        log "running $id"
        run_client "$id"
    else
        while [ "$running" -ge "$JOBS" ]; do
            wait -n 2>/dev/null || true
            running=$((running - 1))
            summarize_finished
        done
        log "starting $id"
        run_client "$id" &
        running=$((running + 1))
    fi
    summarize_finished
done
wait
summarize_finished
ELAPSED=$(( $(date +%s) - T0 ))

# ------------------------------------------------------------------------------------------ report
python3 - "$LOGDIR" "$EXPECTED" "$REPORT" "$UPDATE" "$CLIENT_TIMEOUT" "$ELAPSED" "${clients[@]}" <<'PYEOF'
import os, re, sys

logdir, expected_path, report_path, update, limit, elapsed = sys.argv[1:7]
update = update == "1"
ran_dirs = sys.argv[7:]
SCEN = {
    1: "metadata + topic admin",
    2: "keyed produce, headers, timestamps",
    3: "compression codecs",
    4: "consumer group, commit, restart",
    5: "seek, offsets for times, lag",
    6: "idempotent producer",
    7: "transactions (read_committed)",
    8: "error paths",
}
RANK = {"pass": 0, "unsupported": 1, "fail": 2}

def clean(s, n=600):
    s = re.sub(r"[\t\r\n]+", " ", s).strip()
    # broker log excerpts: drop the client's ephemeral port, then repeated identical phrases
    s = re.sub(r" ?peer=[0-9a-fA-F.:\[\]]+", "", s)
    s = re.sub(r"((?:\d+ )?closing connection: [^\]]*?)(?: (?:\d+ )?closing connection: [^\]]*?)*(?= ?\])",
               lambda m: " ".join(dict.fromkeys(re.findall(r"closing connection: .*?(?= (?:\d+ )?closing connection: |$)", m.group(0)))), s)
    return s if len(s) <= n else s[: n - 3] + "..."

cells = {}      # (client, scenario) -> (status, detail)
versions = {}   # client -> version
order = []      # clients in run order
ran = set()
dir_of = {}     # client -> its compat/clients/ directory
for d in ran_dirs:
    out = os.path.join(logdir, d + ".out")
    err = os.path.join(logdir, d + ".err")
    try:
        rc = open(os.path.join(logdir, d + ".rc")).read().strip()
    except OSError:
        rc = "?"
    ids_here = []
    for line in open(out, encoding="utf-8", errors="replace") if os.path.exists(out) else []:
        f = line.rstrip("\n").split("\t")
        if len(f) < 4 or f[0] != "RESULT":
            continue
        cv = f[1].strip().split(" ", 1)
        cid, ver = cv[0], (cv[1].strip() if len(cv) > 1 else "?")
        try:
            sc = int(f[2])
        except ValueError:
            continue
        st = f[3].strip()
        if sc not in SCEN or st not in RANK:
            continue
        det = clean(" ".join(f[4:]))
        if cid not in versions:
            versions[cid] = ver
            order.append(cid)
        if cid not in ids_here:
            ids_here.append(cid)
        old = cells.get((cid, sc))
        if old is None or RANK[st] > RANK[old[0]]:
            cells[(cid, sc)] = (st, det)
    if not ids_here:
        ids_here = [d]
        versions.setdefault(d, "?")
        if d not in order:
            order.append(d)
    ran.update(ids_here)
    for cid in ids_here:
        dir_of[cid] = d
    if rc != "0":
        last = ""
        if os.path.exists(err):
            lines = [l.strip() for l in open(err, encoding="utf-8", errors="replace") if l.strip()]
            last = lines[-1] if lines else ""
        if rc in ("124", "137"):
            why = f"run.sh timed out after {limit}s before reporting this scenario"
        else:
            why = f"run.sh exited {rc} before reporting this scenario"
        if last:
            why += f": {last}"
        for cid in ids_here:
            for sc in SCEN:
                cells.setdefault((cid, sc), ("fail", clean(why)))
    else:
        for cid in ids_here:
            for sc in SCEN:
                cells.setdefault((cid, sc), ("fail", "run.sh reported no result for this scenario"))

# expected
expected = {}
exp_rows = []
if os.path.exists(expected_path):
    for line in open(expected_path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        if len(f) >= 3 and f[1].strip().isdigit():
            expected[(f[0].strip(), int(f[1]))] = f[2].strip()
            exp_rows.append((f[0].strip(), int(f[1]), f[2].strip()))

def client_ran(cid):
    return cid in ran

clients_dir = os.path.join(os.path.dirname(report_path), "clients")
all_dirs = sorted(d for d in os.listdir(clients_dir) if os.path.exists(os.path.join(clients_dir, d, "run.sh")))
full_run = set(ran_dirs) == set(all_dirs)

regressions, improvements, changes, unexpected_new = [], [], [], []
for (cid, sc), est in sorted(expected.items()):
    if not client_ran(cid):
        if full_run and est == "pass":
            # a full run: a client listed in MATRIX.expected whose run.sh is gone
            regressions.append(f"{cid} scenario {sc}: expected pass, but no such client ran (run.sh missing?)")
        continue
    st = cells.get((cid, sc), ("fail", "no result"))[0]
    if est == "pass" and st != "pass":
        regressions.append(f"{cid} scenario {sc} ({SCEN[sc]}): expected pass, got {st}: {cells[(cid, sc)][1]}")
    elif est != "pass" and st == "pass":
        improvements.append(f"{cid} scenario {sc}: expected {est}, now pass")
    elif est != st:
        changes.append(f"{cid} scenario {sc}: expected {est}, now {st}")
for cid in sorted(set(c for c, _ in cells)):
    new = [f"{sc}={cells[(cid, sc)][0]}" for sc in SCEN if (cid, sc) in cells and (cid, sc) not in expected]
    if new:
        unexpected_new.append(f"{cid}: not in MATRIX.expected: {' '.join(new)}")

# MATRIX.md
clients_sorted = sorted(order, key=str.lower)
mark = {"pass": "pass", "fail": "**FAIL**", "unsupported": "unsupported"}
out = []
out.append("# Client compatibility matrix")
out.append("")
out.append("Generated by `bash compat/matrix.sh` (do not edit by hand): each client's `compat/clients/<client>/run.sh`")
out.append("installs the pinned client version, starts its own Odradek broker and runs the scenarios below, asserting")
out.append("real results (payloads byte for byte, exact offsets, partition ownership). `compat/MATRIX.expected` holds the")
out.append("statuses the test run requires: a cell expected `pass` that does not pass fails `compat/matrix.sh`.")
out.append("")
out.append("Scenarios:")
out.append("")
for sc, name in SCEN.items():
    out.append(f"{sc}. {name}")
out.append("")
hdr = "| client | version | " + " | ".join(str(s) for s in SCEN) + " |"
out.append(hdr)
out.append("|" + "---|" * (2 + len(SCEN)))
for cid in clients_sorted:
    row = [cid, versions.get(cid, "?")] + [mark[cells[(cid, sc)][0]] for sc in SCEN]
    out.append("| " + " | ".join(row) + " |")
npass = sum(1 for v in cells.values() if v[0] == "pass")
nfail = sum(1 for v in cells.values() if v[0] == "fail")
nuns = sum(1 for v in cells.values() if v[0] == "unsupported")
out.append("")
out.append(f"{npass} cells pass, {nfail} fail, {nuns} unsupported.")
for title, want in (("Failures", "fail"), ("Unsupported", "unsupported"), ("Passing cells: what was checked", "pass")):
    rows = [(cid, sc) for cid in clients_sorted for sc in SCEN if cells[(cid, sc)][0] == want]
    if not rows:
        continue
    out.append("")
    out.append(f"## {title}")
    out.append("")
    for cid, sc in rows:
        det = cells[(cid, sc)][1] or "(no detail)"
        out.append(f"- {cid} {versions.get(cid, '?')}, scenario {sc} ({SCEN[sc]}): {det}")
if not full_run:
    out.append("")
    out.append(f"(Partial run: only {', '.join(ran_dirs)}.)")
if not full_run:
    # a partial run does not overwrite the checked-in report of the whole matrix
    report_path = os.path.join(logdir, "MATRIX.md")
open(report_path, "w", encoding="utf-8").write("\n".join(out) + "\n")

if update:
    rows = {(c, s): st for c, s, st in exp_rows if not client_ran(c)}
    for (cid, sc), (st, _) in cells.items():
        rows[(cid, sc)] = st
    with open(expected_path, "w", encoding="utf-8") as f:
        f.write("# client-id\tscenario\tstatus -- written by `bash compat/matrix.sh --update-expected`;\n")
        f.write("# a `pass` here is required: compat/matrix.sh fails when such a cell does not pass.\n")
        for (cid, sc) in sorted(rows, key=lambda k: (k[0].lower(), k[1])):
            f.write(f"{cid}\t{sc}\t{rows[(cid, sc)]}\n")

print()
print(open(report_path, encoding="utf-8").read().split("\n\n## ")[0].split("Scenarios:")[1].strip())
print()
for cid, sc in [(c, s) for c in clients_sorted for s in SCEN if cells[(c, s)][0] == "fail"]:
    print(f"[matrix] FAIL {cid} scenario {sc}: {cells[(cid, sc)][1][:300]}")
for r in improvements:
    print(f"[matrix] improved: {r}" + ("" if update else " (run --update-expected)"))
for r in changes:
    print(f"[matrix] changed: {r}")
if not update:
    for r in unexpected_new:
        print(f"[matrix] new: {r} (run --update-expected)")
for r in regressions:
    print(f"[matrix] REGRESSION: {r}")
print(f"[matrix] wrote {report_path}" + (f" and {expected_path}" if update else "") + f"; {len(ran_dirs)} client(s) in {elapsed}s")
bad_dirs = sorted(set(dir_of[r.split(" ")[0]] for r in regressions if r.split(" ")[0] in dir_of))
for d in bad_dirs:
    print(f"[matrix] ---- last 60 stderr lines of {d} (full logs in {logdir})")
    try:
        for l in open(os.path.join(logdir, d + ".err"), encoding="utf-8", errors="replace").readlines()[-60:]:
            print("    " + l.rstrip("\n"))
    except OSError:
        pass
print(f"{npass} passed, {nfail} failed")
sys.exit(1 if regressions and not update else 0)
PYEOF
exit $?
