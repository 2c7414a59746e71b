"""Shared by the scenario programs of this client (compat/clients/<client>/run.sh runs them).

A scenario program's last stdout line is "pass|fail|unsupported<TAB>one-line detail"; everything
else goes to stderr. Environment: BOOTSTRAP (host:port of the broker), DATA_DIR (the broker's
log.dirs, to check what was stored on disk: codec, producer id and sequence of each batch).
"""
import os
import struct
import sys
import time
import traceback

BOOTSTRAP = os.environ.get("BOOTSTRAP", "")
DATA_DIR = os.environ.get("DATA_DIR", "")

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


class Fail(Exception):
    """A failed assertion: ends the scenario with this message."""


class Unsupported(Exception):
    """The client cannot do what the scenario needs."""


problems = []


def log(*a):
    print("[scenario]", *a, file=sys.stderr, flush=True)


def check(ok, what):
    if not ok:
        raise Fail(what)


def describe(e):
    if isinstance(e, Fail):
        return str(e)
    msg = str(e) or repr(e)
    return f"{type(e).__name__}: {msg}".replace("\n", " ")


def soft(what, fn, *args):
    """Runs fn; a failure is recorded (the scenario fails at the end listing every problem)."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001
        problems.append(f"{what}: {describe(e)}")
        log("PROBLEM", what)
        traceback.print_exc()
        return None


def step(what, fn, *args, timeout=15):
    """Runs one blocking client call in a daemon thread with a time limit; failures name the step."""
    import threading
    out = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise Fail(f"{what}: no answer within {timeout}s")
    if "error" in out:
        raise Fail(f"{what}: {describe(out['error'])}") from out["error"]
    return out.get("value")


def wait_until(cond, timeout, what, step=0.1):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise Fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def stored_batches(topic, partition):
    """The record batches of a partition as the broker stored them (Kafka's segment format):
    dicts with base_offset, last_offset_delta, codec, producer_id, producer_epoch, base_sequence,
    transactional, control."""
    d = os.path.join(DATA_DIR, f"{topic}-{partition}")
    out = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".log"):
            continue
        buf = open(os.path.join(d, name), "rb").read()
        pos = 0
        while pos + 61 <= len(buf):
            base, length = struct.unpack_from(">qi", buf, pos)
            if length <= 0 or pos + 12 + length > len(buf):
                break
            magic = buf[pos + 16]
            check(magic == 2, f"stored batch at offset {base} of {topic}-{partition} has magic {magic}")
            attrs, last_delta = struct.unpack_from(">hi", buf, pos + 21)
            pid, epoch, seq = struct.unpack_from(">qhi", buf, pos + 43)
            out.append(dict(base_offset=base, last_offset_delta=last_delta, codec=attrs & 7,
                            producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                            transactional=bool(attrs & 16), control=bool(attrs & 32)))
            pos += 12 + length
    return out


def main(fn):
    """Runs one scenario function: it returns a detail string (pass), or raises."""
    try:
        detail = fn()
        if problems:
            status, detail = "fail", "; ".join(problems)
        else:
            status = "pass"
    except Unsupported as e:
        status, detail = "unsupported", str(e)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        status, detail = "fail", "; ".join(problems + [describe(e)])
    sys.stderr.flush()
    line = f"{status}\t{detail}".replace("\n", " ")
    print(line, flush=True)
    # Some clients leave non-daemon threads behind after a failure: do not hang on them.
    os._exit(0)
