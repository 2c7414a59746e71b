#!/usr/bin/env python3
"""Helper of compat/librdkafka/run.sh: plans which librdkafka tests to run and classifies the results.

  suite.py plan   --test-c tests/test.c --skip skip.txt --scenario default [--only 0001,0002] [--no-sockem]
      prints the test numbers to run against the broker in this scenario, one per line
  suite.py report --test-c tests/test.c --skip skip.txt --work DIR --out RESULTS.md --mode quick ...
      reads DIR/<scenario>/<number>/{report.json,log,rc}, writes RESULTS.md, prints a summary,
      exits 1 if a test that is not in the skip list failed (or did not finish).

The test table comes from librdkafka's tests/test.c (the `tests[]` array: name, flags, scenario).
"""
import argparse
import json
import os
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\(B")


def parse_tests(test_c):
    """[(name, flags-set, scenario)] in the order of tests[] in test.c."""
    src = open(test_c, encoding="utf-8", errors="replace").read()
    start = src.index("struct test tests[] = {")
    end = src.index("{NULL}};", start)
    body = src[start:end]
    # Drop comments so "/* ... */" inside an entry doesn't confuse the split.
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out = []
    for chunk in body.split("_TEST(")[1:]:
        m = re.match(r"\s*(\w+)\s*,\s*([^,)]*)", chunk)
        if not m:
            continue
        name, flags = m.group(1), m.group(2)
        flagset = set(re.findall(r"TEST_F_\w+", flags))
        sc = re.search(r'\.scenario\s*=\s*"([^"]*)"', chunk)
        out.append((name, flagset, sc.group(1) if sc else "default"))
    return out


def parse_skip(path):
    """skip.txt: `<test name> <reason...>` per line, '#' comments. -> {name: reason}"""
    skips = {}
    if not os.path.exists(path):
        return skips
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        skips[parts[0]] = parts[1].strip() if len(parts) > 1 else "(no reason given)"
    return skips


def number(name):
    return name.split("_", 1)[0]


def is_broker_test(flags):
    return "TEST_F_LOCAL" not in flags and "TEST_F_MANUAL" not in flags


def runnable(flags, no_sockem):
    if not is_broker_test(flags) or "TEST_F_KNOWN_ISSUE" in flags:
        return False
    if no_sockem and "TEST_F_SOCKEM" in flags:
        return False
    return True


def scenario_matches(test_scenario, scenario):
    # test.c: `if (!strstr(test->scenario, test_scenario))` -> skipped
    return scenario in test_scenario


def cmd_plan(a):
    tests = parse_tests(a.test_c)
    skips = parse_skip(a.skip)
    only = set(x.strip()[:4] for x in a.only.split(",") if x.strip()) if a.only else None
    nums = []
    for name, flags, sc in tests:
        if not runnable(flags, a.no_sockem) or not scenario_matches(sc, a.scenario):
            continue
        if name in skips:
            continue
        n = number(name)
        if only is not None and n not in only:
            continue
        if n not in nums:
            nums.append(n)
    first = [x for x in a.first.split() if x in nums]
    nums = first + [x for x in nums if x not in first]
    print("\n".join(nums))


SUMMARY_LINE = re.compile(r"^\|\s*(\S+)\s*\|\s*([A-Z_]+)\s*\|\s*([0-9.]+)s\s*\|\s?(.*)$")


def read_run(d):
    """One test-runner process: (report dict or None, {name: reason} from its summary, log text, rc)."""
    report = None
    rp = os.path.join(d, "report.json")
    if os.path.exists(rp):
        try:
            report = json.load(open(rp, encoding="utf-8", errors="replace"))
        except ValueError:
            report = None
    log = ""
    lp = os.path.join(d, "log")
    if os.path.exists(lp):
        log = ANSI.sub("", open(lp, encoding="utf-8", errors="replace").read())
    reasons = {}
    for line in log.splitlines():
        m = SUMMARY_LINE.match(line.strip())
        if m:
            reasons[m.group(1)] = m.group(4).strip()
    rc = None
    rcp = os.path.join(d, "rc")
    if os.path.exists(rcp):
        try:
            rc = int(open(rcp).read().strip() or "0")
        except ValueError:
            rc = None
    return report, reasons, log, rc


def first_failure(log, name):
    """The first failure lines of test `name` in a log (for when the summary line is missing)."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith('### Test "%s' % name) and "failed at" in line:
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            return (line.strip("# ") + (" " + nxt if nxt else "")).strip()
    return ""


def failure_excerpt(log, name, before=25):
    """The lines of test `name` leading up to its first failure (or the end of its output)."""
    lines = [l for l in log.splitlines() if l.startswith("[%s" % name) or l.startswith("###")
             or l.startswith("Test assertion") or l.startswith("%")]
    for i, line in enumerate(lines):
        if line.startswith('### Test "%s' % name):
            return "\n".join(lines[max(0, i - before):i + 2])
    return "\n".join(lines[-before:])


def skip_reason_from_log(log, name):
    for line in log.splitlines():
        if line.startswith("[%s" % name) and "SKIPPING TEST:" in line:
            return line.split("SKIPPING TEST:", 1)[1].strip()
    return ""


# Caveats of tests that pass, shown in RESULTS.md.
NOTES = {
    "0016_client_swname": "its JMX check of client.software.name needs a Kafka distribution (BROKER_ADDRESS_2, KAFKA_PATH); "
                          "the test leaves that part out by itself",
    "0139_offset_validation_mock": "runs against librdkafka's built-in mock cluster, not the broker",
    "0150_telemetry_mock": "runs against librdkafka's built-in mock cluster, not the broker",
    "0052_msg_timestamps": "creates its topics through kafka-topics.c (the KAFKA_PATH stand-in)",
    "0045_subscribe_update": "(full mode) grows a topic through kafka-topics.c (the KAFKA_PATH stand-in)",
    "0045_subscribe_update_topic_remove": "(full mode) deletes topics through kafka-topics.c (the KAFKA_PATH stand-in)",
}


def md(s):
    return s.replace("|", "\\|").replace("\n", " ").strip()


def shutdown_outcome(work, pass_name):
    """What run.sh recorded of the broker's SIGTERM after a pass, or None."""
    p = os.path.join(work, pass_name + ".shutdown")
    return open(p).read().strip() if os.path.exists(p) else None


def table(lines, rows, notes_header):
    """Appends a markdown table of (test, result, notes) rows, failures in bold."""
    lines.append("| test | result | %s |" % notes_header)
    lines.append("|---|---|---|")
    for name, result, why in rows:
        r = "**FAILED**" if result == "FAILED" else result
        lines.append("| %s | %s | %s |" % (name, r, md(why)))
    lines.append("")


def cmd_report(a):
    tests = parse_tests(a.test_c)
    skips = parse_skip(a.skip)
    scenarios = a.scenarios.split(",")
    rows = []  # (name, result, why)
    counts = {"passed": 0, "failed": 0, "skip-list": 0, "broker-bug": 0, "skipped-by-suite": 0, "not-run": 0,
              "local": 0}
    failed = []
    durations = []
    excerpts = []
    only = set(x.strip()[:4] for x in a.only.split(",") if x.strip()) if a.only else None
    for name, flags, sc in tests:
        n = number(name)
        if not is_broker_test(flags):
            counts["local"] += 1
            continue
        if only is not None and n not in only:
            continue  # a partial run (LIBRDKAFKA_TESTS): the table lists only the tests asked for
        # Where did it (or should it) run?
        ran = None
        for s in scenarios:
            if not scenario_matches(sc, s):
                continue
            d = os.path.join(a.work, s, n)
            if os.path.isdir(d):
                ran = (s, d)
                break
        result, why = None, ""
        if name in skips:
            result, why = "skipped (skip list)", skips[name]
            if why.startswith("BROKER BUG"):
                result = "skipped: **broker bug**"
                counts["broker-bug"] += 1
            if ran:
                rep, reasons, log, rc = read_run(ran[1])
                st = (rep or {}).get("tests", {}).get(name, {}).get("state")
                if st and st not in ("SKIPPED", "DNS"):
                    why += " (ran anyway, as it shares test number %s: %s)" % (n, st)
            counts["skip-list"] += 1
        elif "TEST_F_KNOWN_ISSUE" in flags:
            result, why = "skipped (suite)", "flagged TEST_F_KNOWN_ISSUE by librdkafka (not run by default)"
            counts["skipped-by-suite"] += 1
        elif "TEST_F_SOCKEM" in flags and a.no_sockem:
            result, why = "skipped (suite)", "socket-emulation test, left out with -E"
            counts["skipped-by-suite"] += 1
        elif not any(scenario_matches(sc, s) for s in scenarios):
            result, why = "skipped (suite)", "needs test scenario %s, not run here" % sc
            counts["skipped-by-suite"] += 1
        elif not ran:
            result, why = "FAILED", "did not run (no output directory: the run was interrupted?)"
            counts["not-run"] += 1
            failed.append((name, why))
        else:
            rep, reasons, log, rc = read_run(ran[1])
            entry = (rep or {}).get("tests", {}).get(name)
            st = entry.get("state") if entry else None
            dur = entry.get("duration", 0.0) if entry else 0.0
            where = "" if ran[0] == "default" else " [scenario %s]" % ran[0]
            if st == "PASSED":
                result = "passed"
                notes = [where.strip()] if where else []
                if dur < 0.0005 and a.mode == "quick":
                    notes.append("none of its sub-tests is marked quick, so nothing ran in quick mode")
                if name in NOTES:
                    notes.append(NOTES[name])
                why = "; ".join(notes)
                durations.append((dur, name))
                counts["passed"] += 1
            elif st == "SKIPPED":
                result = "skipped (suite)"
                why = reasons.get(name) or skip_reason_from_log(log, name) or "skipped by the test itself"
                why += where
                counts["skipped-by-suite"] += 1
            else:
                if st is None:
                    what = "no report: test-runner exit status %s%s" % (
                        rc, " (killed by the per-test time limit)" if rc in (124, 137) else "")
                elif st == "RUNNING":
                    what = "still running when test-runner stopped"
                else:
                    what = reasons.get(name) or first_failure(log, name) or "failed (see log)"
                result, why = "FAILED", what + where
                counts["failed"] += 1
                failed.append((name, why))
                excerpts.append((name, ran[1], failure_excerpt(log, name)))
        rows.append((name, result, why))

    # Security passes: the listed tests again over a secured listener. Each must pass: a test the
    # suite skips there (e.g. 0135 without sasl.username) is a failure of the pass's set-up.
    passes = []  # (pass name, [(name, result, why)])
    for spec in a.security_pass:
        pname, _, items = spec.partition("=")
        prow = []
        for item in [x.strip() for x in items.split(",") if x.strip()]:
            n, _, sub = item.partition("~")
            n = n[:4]
            d = os.path.join(a.work, pname, re.sub(r"[^A-Za-z0-9]", "_", item))
            for name, flags, sc in tests:
                if number(name) != n or not runnable(flags, a.no_sockem) or not scenario_matches(sc, "default"):
                    continue
                label = name + (" [sub-tests: %s]" % sub if sub else "")
                if name in skips:
                    prow.append((label, "skipped (skip list)", skips[name]))
                    continue
                if not os.path.isdir(d):
                    why = "did not run (no output directory)"
                    prow.append((label, "FAILED", why))
                    failed.append((label + " [" + pname + "]", why))
                    continue
                rep, reasons, log, rc = read_run(d)
                entry = (rep or {}).get("tests", {}).get(name)
                st = entry.get("state") if entry else None
                # A sub-test filter that matches nothing would pass vacuously: count the sub-tests
                # that passed ("[ do_test_x:79: <name>: PASS (1.2s) ]").
                subs = [l for l in log.splitlines() if re.search(r"\[ \w+:\d+: .*: PASS \(", l) and sub in l] if sub else []
                if st == "PASSED" and (not sub or subs):
                    note = "%.1f s" % entry.get("duration", 0.0)
                    if sub:
                        note += "; %d sub-test(s) passed" % len(subs)
                    prow.append((label, "passed", note))
                    continue
                if st == "PASSED":
                    why = "no sub-test containing %r passed" % sub
                elif st == "SKIPPED":
                    why = "skipped by the suite, but this pass exists to run it: " + (
                        reasons.get(name) or skip_reason_from_log(log, name) or "skipped by the test itself")
                elif st is None:
                    why = "no report: test-runner exit status %s" % rc
                else:
                    why = reasons.get(name) or first_failure(log, name) or "failed (see log)"
                    excerpts.append((label, d, failure_excerpt(log, name)))
                prow.append((label, "FAILED", why))
                failed.append((label + " [" + pname + "]", why))
        passes.append((pname, prow))

    total_broker = sum(1 for _, f, _ in tests if is_broker_test(f))
    lines = []
    lines.append("# librdkafka's test suite against Odradek")
    lines.append("")
    lines.append("Written by `compat/librdkafka/run.sh` (see its header for how to run it). "
                 "librdkafka %s (the source that the `rdkafka-sys` crate ships), "
                 "`TEST_KAFKA_VERSION=%s`, %s mode%s, scenarios: %s."
                 % (a.librdkafka_version, a.kafka_version, a.mode,
                    "" if a.no_sockem else " (socket-emulation tests included)",
                    ", ".join(scenarios)))
    lines.append("")
    lines.append("Broker: one Odradek process per scenario, started with %s." % a.broker_settings)
    lines.append("")
    for sc in scenarios:
        outcome = shutdown_outcome(a.work, sc)
        if outcome:
            lines.append("Clean shutdown of the broker after scenario %s (SIGTERM): %s." % (sc, outcome))
            lines.append("")
    lines.append("| | tests |")
    lines.append("|---|---|")
    lines.append("| broker tests in the suite | %d |" % total_broker)
    lines.append("| passed | %d |" % counts["passed"])
    lines.append("| failed | %d |" % (counts["failed"] + counts["not-run"]))
    lines.append("| skipped: checked-in skip list (`skip.txt`) | %d |" % counts["skip-list"])
    lines.append("| ... of which known broker bugs, to be fixed (`BROKER BUG` in skip.txt) | %d |" % counts["broker-bug"])
    lines.append("| skipped by the suite itself (needs SSL/SASL/JMX, quick mode, broker version, known issue, scenario) | %d |"
                 % counts["skipped-by-suite"])
    lines.append("| local tests (no broker: `-L` leaves them out; not listed below) | %d |" % counts["local"])
    lines.append("")
    if a.mode == "quick":
        lines.append("Quick mode (`-Q`) is what CI runs: every test below runs, but with fewer messages and "
                     "iterations, and sub-tests not marked quick are left out (0082 entirely; a few tests "
                     "then run nothing: they are marked below). `LIBRDKAFKA_MODE=full bash "
                     "compat/librdkafka/run.sh` runs the whole suite (see README.md here for its last "
                     "result and time).")
        lines.append("")
    table(lines, rows, "why / notes")
    for pname, prow in passes:
        lines.append("## Security pass `%s`" % pname)
        lines.append("")
        lines.append("The same suite again, its test.conf pointing at a SASL_SSL listener (SCRAM-SHA-512, a user "
                     "seeded at start, a CA made by the run; `connections.max.reauth.ms=10000` for 0142), in full mode: "
                     "%d passed of %d (shutdown: %s)."
                     % (sum(1 for _, r, _ in prow if r == "passed"), len(prow),
                        shutdown_outcome(a.work, pname) or "not recorded"))
        lines.append("")
        table(lines, prow, "notes")
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))

    print("librdkafka suite: %d passed, %d failed, %d skipped (skip list, %d of them known broker bugs), "
          "%d skipped by the suite"
          % (counts["passed"], counts["failed"] + counts["not-run"], counts["skip-list"],
             counts["broker-bug"], counts["skipped-by-suite"]))
    for pname, prow in passes:
        print("security pass %s: %d passed, %d failed (%s)" % (
            pname, sum(1 for _, r, _ in prow if r == "passed"), sum(1 for _, r, _ in prow if r == "FAILED"),
            ", ".join("%s %s" % (n, r) for n, r, _ in prow)))
    if durations:
        print("slowest: " + ", ".join("%s %.0fs" % (n, d) for d, n in sorted(durations, reverse=True)[:8]))
    for name, d, text in excerpts:
        print("---- %s: the test's output before its failure (%s/log) ----" % (name, d))
        print(text)
    for name, why in failed:
        print("FAILED %s: %s" % (name, why))
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("plan")
    pp.add_argument("--test-c", required=True)
    pp.add_argument("--skip", required=True)
    pp.add_argument("--scenario", default="default")
    pp.add_argument("--only", default="")
    pp.add_argument("--no-sockem", action="store_true")
    pp.add_argument("--first", default="", help="test numbers to put first (slowest first)")
    pr = sub.add_parser("report")
    pr.add_argument("--test-c", required=True)
    pr.add_argument("--skip", required=True)
    pr.add_argument("--work", required=True)
    pr.add_argument("--out", required=True)
    pr.add_argument("--mode", default="quick")
    pr.add_argument("--scenarios", default="default,noautocreate")
    pr.add_argument("--only", default="")
    pr.add_argument("--no-sockem", action="store_true")
    pr.add_argument("--kafka-version", default="")
    pr.add_argument("--librdkafka-version", default="")
    pr.add_argument("--broker-settings", default="")
    pr.add_argument("--security-pass", action="append", default=[], help="NAME=0001,0135,...: a pass's dir and tests")
    a = p.parse_args()
    if a.cmd == "plan":
        cmd_plan(a)
        return 0
    return cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
