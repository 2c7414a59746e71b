"""Compat scenarios 1-8 for confluent-kafka-python (librdkafka inside the wheel).

    python scenarios.py SCENARIO        SCENARIO: 1 2 3 4a 4b 5 6 7 8   (4b runs after a broker restart)

Last stdout line: "pass|fail|unsupported<TAB>detail" (see common.py). Client defaults are kept except
short timeouts, so that failures surface quickly.
"""
import random
import sys
import time

from common import BOOTSTRAP, CODEC_IDS, Fail, check, log, main, soft, step, stored_batches, wait_until

from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

TIMEOUT = 15


def conf(**kw):
    c = {"bootstrap.servers": BOOTSTRAP, "socket.timeout.ms": 10000, "topic.metadata.refresh.interval.ms": 5000}
    c.update({k.replace("_", "."): v for k, v in kw.items()})
    return c


def admin():
    return AdminClient(conf())


def producer(**kw):
    return Producer(conf(**{"message.timeout.ms": 20000, **kw}))


def consumer(group="compat-assign", **kw):
    return Consumer(conf(**{"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest",
                            "enable.partition.eof": False, **kw}))


def create_topic(a, topic, partitions, config=None):
    fs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
                         operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
    fs[topic].result(TIMEOUT)


def produce_all(p, records):
    """records: list of dicts (topic, key, value, headers, partition, timestamp); returns delivery reports
    (partition, offset, timestamp) in the same order; raises on any delivery error."""
    reports = [None] * len(records)

    def cb(i):
        def f(err, msg):
            reports[i] = err if err is not None else (msg.partition(), msg.offset(), msg.timestamp())
        return f
    for i, r in enumerate(records):
        kw = {k: v for k, v in r.items() if v is not None and k != "topic"}
        while True:
            try:
                p.produce(r["topic"], on_delivery=cb(i), **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(30)
    check(left == 0, f"flush: {left} records still undelivered after 30 s")
    for i, rep in enumerate(reports):
        if isinstance(rep, KafkaError):
            raise KafkaException(rep)
        check(rep is not None, f"no delivery report for record {i}")
    return reports


def consume_n(c, n, timeout=TIMEOUT, extra_wait=0.5):
    """Polls until n messages (raising on an error event), then for extra_wait more seconds to catch
    extras. Returns the messages."""
    msgs = []
    deadline = time.time() + timeout
    while len(msgs) < n and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        msgs.append(m)
    end = time.time() + extra_wait
    while time.time() < end:
        m = c.poll(0.1)
        if m is not None:
            if m.error():
                raise KafkaException(m.error())
            msgs.append(m)
    check(len(msgs) >= n, f"consumed {len(msgs)} of {n} records within {timeout}s")
    return msgs


# ------------------------------------------------------------------ 1 metadata and topic admin

def s1():
    topic = "ckp-admin"
    a = admin()
    md = a.list_topics(timeout=TIMEOUT)
    check(list(md.brokers) == [0], f"metadata brokers {md.brokers}, want node 0 only")
    b = md.brokers[0]
    check(f"{b.host}:{b.port}" == BOOTSTRAP, f"broker 0 advertised at {b.host}:{b.port}, bootstrap {BOOTSTRAP}")
    check(md.controller_id == 0, f"controller id {md.controller_id}")

    create_topic(a, topic, 3, {"retention.ms": "3600000", "max.message.bytes": "500000"})
    fs = a.create_topics([NewTopic(topic, 3, 1)], request_timeout=TIMEOUT)
    try:
        fs[topic].result(TIMEOUT)
        raise Fail("creating the topic twice succeeded")
    except KafkaException as e:
        check(e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, f"create twice: want TOPIC_ALREADY_EXISTS, got {e}")

    names = set(a.list_topics(timeout=TIMEOUT).topics)
    check(topic in names, f"list_topics: {topic} missing from {sorted(names)}")

    t = a.list_topics(topic, timeout=TIMEOUT).topics[topic]
    check(t.error is None, f"metadata for {topic}: {t.error}")
    check(sorted(t.partitions) == [0, 1, 2], f"partitions {sorted(t.partitions)}")
    for p in t.partitions.values():
        check(p.leader == 0 and p.replicas == [0] and p.isrs == [0] and p.error is None,
              f"partition {p.id}: leader {p.leader} replicas {p.replicas} isrs {p.isrs} error {p.error}")

    def describe_topics():
        from confluent_kafka import TopicCollection
        d = a.describe_topics(TopicCollection([topic]), request_timeout=TIMEOUT)[topic].result(TIMEOUT)
        check(d.name == topic and not d.is_internal, f"describe_topics: {d}")
        check([p.id for p in d.partitions] == [0, 1, 2], f"describe_topics partitions {[p.id for p in d.partitions]}")
        for p in d.partitions:
            check(p.leader.id == 0 and [r.id for r in p.replicas] == [0] and [r.id for r in p.isr] == [0],
                  f"describe_topics partition {p.id}: leader {p.leader} replicas {p.replicas} isr {p.isr}")
        check(d.topic_id is not None and str(d.topic_id) != "AAAAAAAAAAAAAAAAAAAAAA", f"topic id {d.topic_id}")
    soft("describe_topics", describe_topics)

    def describe_configs():
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        cfg = a.describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
        check(cfg["retention.ms"].value == "3600000", f"retention.ms {cfg['retention.ms'].value}, want 3600000")
        check(cfg["max.message.bytes"].value == "500000", f"max.message.bytes {cfg['max.message.bytes'].value}")
        check(cfg["cleanup.policy"].value == "delete" and cfg["cleanup.policy"].is_default,
              f"cleanup.policy {cfg['cleanup.policy']}")
    soft(f"describe_configs(topic {topic})", describe_configs)

    a.delete_topics([topic], operation_timeout=TIMEOUT, request_timeout=TIMEOUT)[topic].result(TIMEOUT)
    wait_until(lambda: topic not in a.list_topics(timeout=TIMEOUT).topics, 10, f"{topic} to disappear from list_topics")
    try:
        a.delete_topics([topic], request_timeout=TIMEOUT)[topic].result(TIMEOUT)
        raise Fail("deleting the deleted topic again succeeded")
    except KafkaException as e:
        check(e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, f"delete twice: want UNKNOWN_TOPIC_OR_PART, got {e}")
    return "metadata (1 broker, controller), create (3 partitions, 2 configs), create twice, list, describe_topics, describe_configs, delete"


# ------------------------------------------------------------------ 2 keyed produce, headers, timestamps

def s2():
    topic = "ckp-keyed"
    create_topic(admin(), topic, 3)
    rnd = random.Random(42)
    base = int(time.time() * 1000) - 3_600_000       # explicit timestamps an hour ago
    records = []
    n = 0
    for seq in range(8):
        for k in range(10):
            key = f"key-{k}".encode()
            if (k, seq) == (3, 2):
                value = None                           # tombstone
            elif (k, seq) == (4, 1):
                value = b""                            # empty, not null
            else:
                value = bytes([seq]) + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))
            headers = [("seq", str(seq).encode()), ("bin", bytes([0, 1, 255, k])), ("empty", b""), ("null", None),
                       ("dup", b"first"), ("dup", b"second"), ("ünï", "ü✓".encode())]
            records.append(dict(topic=topic, key=key, value=value, headers=headers, timestamp=base + n * 7))
            n += 1
    p = producer(linger_ms=20)
    reports = produce_all(p, records)
    by_key = {}
    for r, (part, off, ts) in zip(records, reports):
        by_key.setdefault(r["key"], set()).add(part)
        check(ts == (1, r["timestamp"]), f"delivery report timestamp {ts} for explicit {r['timestamp']}")
    check(all(len(s) == 1 for s in by_key.values()), f"a key went to several partitions: {by_key}")
    check(len({next(iter(s)) for s in by_key.values()}) >= 2, "all 10 keys went to one partition")
    for part in range(3):
        offs = [off for (pp, off, _) in reports if pp == part]
        check(offs == list(range(len(offs))), f"partition {part}: delivery offsets {offs}, want 0..{len(offs) - 1} in produce order")

    c = consumer()
    c.assign([TopicPartition(topic, i, OFFSET_BEGINNING) for i in range(3)])
    msgs = consume_n(c, len(records))
    c.close()
    check(len(msgs) == len(records), f"consumed {len(msgs)} records, produced {len(records)}")
    want = {(part, off): r for r, (part, off, _) in zip(records, reports)}
    last_seq = {}
    for m in msgs:
        r = want.get((m.partition(), m.offset()))
        check(r is not None, f"unexpected record at partition {m.partition()} offset {m.offset()}")
        where = f"partition {m.partition()} offset {m.offset()}"
        check(m.key() == r["key"], f"{where}: key {m.key()!r}, want {r['key']!r}")
        check(m.value() == r["value"], f"{where}: value {m.value()!r:.80}, want {r['value']!r:.80}")
        check(m.headers() == r["headers"], f"{where}: headers {m.headers()}, want {r['headers']}")
        check(m.timestamp() == (1, r["timestamp"]), f"{where}: timestamp {m.timestamp()}, want (CreateTime, {r['timestamp']})")
        seq = int(dict(r["headers"])["seq"])
        check(last_seq.get(m.key(), -1) < seq, f"key {m.key()!r}: seq {seq} consumed after {last_seq.get(m.key())}")
        last_seq[m.key()] = seq
    return f"{len(records)} records, 10 keys over 3 partitions; keys, values, 7 headers, timestamps equal; per-key order kept"


# ------------------------------------------------------------------ 3 compression

def s3():
    a = admin()
    done = []
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        topic = f"ckp-{codec}"
        create_topic(a, topic, 1)
        records = [dict(topic=topic, key=f"k{i}".encode(), partition=0,
                        value=(f"{codec} record {i} " * (1 + i % 20)).encode() + bytes([i % 256, 0, 255]))
                   for i in range(200)]
        p = producer(compression_type=codec, linger_ms=5000, batch_num_messages=1000)  # one batch: flush() sends it
        reports = produce_all(p, records)
        check([off for (_, off, _) in reports] == list(range(200)), f"{codec}: delivery offsets not 0..199")
        c = consumer()
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        msgs = consume_n(c, 200, extra_wait=0.2)
        check([(m.offset(), m.key(), m.value()) for m in msgs] == [(i, r["key"], r["value"]) for i, r in enumerate(records)],
              f"{codec}: consumed records differ from the produced ones")
        # Start inside a compressed batch: the records before offset 150 must be skipped.
        c.assign([TopicPartition(topic, 0, 150)])
        msgs = consume_n(c, 50, extra_wait=0.2)
        c.close()
        check([m.offset() for m in msgs] == list(range(150, 200)), f"{codec}: from offset 150 got offsets {[m.offset() for m in msgs][:5]}...")
        batches = stored_batches(topic, 0)
        codecs = {b["codec"] for b in batches}
        # librdkafka sends a batch uncompressed when compressing would not shrink it (a small
        # tail batch): allow that for batches of fewer than 5 records, require the codec elsewhere.
        odd = [b for b in batches if b["codec"] != CODEC_IDS[codec] and not (b["codec"] == 0 and b["last_offset_delta"] < 4)]
        check(CODEC_IDS[codec] in codecs and not odd, f"{codec}: stored batches have codec ids {codecs}, want {{{CODEC_IDS[codec]}}} (did the client compress?)")
        check(len(batches) < 200, f"{codec}: 200 records stored as {len(batches)} batches")
        done.append(f"{codec} ({len(batches)} batches)")
    return "produced, stored compressed and consumed back exactly (also from inside a batch): " + ", ".join(done)


# ------------------------------------------------------------------ 4 consumer group

GROUP4, TOPIC4 = "ckp-group", "ckp-group"


def s4a():
    create_topic(admin(), TOPIC4, 4)
    assigned = {}
    events = []

    def member(name):
        def on_assign(c, parts):
            assigned[name] = {p.partition for p in parts}
            events.append(time.time())

        def on_revoke(c, parts):
            assigned[name] = set()
            events.append(time.time())
        c = consumer(GROUP4, session_timeout_ms=6000, heartbeat_interval_ms=500)
        c.subscribe([TOPIC4], on_assign=on_assign, on_revoke=on_revoke)
        return c
    c1, c2 = member("c1"), member("c2")
    cs = {"c1": c1, "c2": c2}
    got = {"c1": [], "c2": []}

    def poll_all():
        for name, c in cs.items():
            m = c.poll(0.1)
            if m is not None:
                if m.error():
                    raise KafkaException(m.error())
                got[name].append(m)

    def split():
        poll_all()
        a1, a2 = assigned.get("c1", set()), assigned.get("c2", set())
        return a1 and a2 and not (a1 & a2) and (a1 | a2) == {0, 1, 2, 3} and time.time() - events[-1] > 1.0
    wait_until(split, 40, "both members to get disjoint partitions covering 0-3", step=0)
    log("assignment", assigned)
    records = [dict(topic=TOPIC4, partition=p, value=f"p{p}-{i}".encode()) for p in range(4) for i in range(10)]
    produce_all(producer(), records)

    wait_until(lambda: poll_all() or len(got["c1"]) + len(got["c2"]) >= 40, 20, "40 records between the two members", step=0)
    for _ in range(5):
        poll_all()
    check(len(got["c1"]) + len(got["c2"]) == 40, f"members got {len(got['c1'])} + {len(got['c2'])} records, want 40")
    seen = set()
    for name, ms in got.items():
        for m in ms:
            check(m.partition() in assigned[name], f"{name} got a record of partition {m.partition()}, assigned {assigned[name]}")
            check(m.value() == f"p{m.partition()}-{m.offset()}".encode(), f"partition {m.partition()} offset {m.offset()}: {m.value()!r}")
            check((m.partition(), m.offset()) not in seen, f"record {m.partition()}/{m.offset()} delivered twice")
            seen.add((m.partition(), m.offset()))
    for c in cs.values():
        c.commit(asynchronous=False)
    com = c1.committed([TopicPartition(TOPIC4, p) for p in range(4)], timeout=TIMEOUT)
    check([tp.offset for tp in com] == [10] * 4, f"committed offsets {[tp.offset for tp in com]}, want [10]*4")
    for c in cs.values():
        c.close()
    return f"split {sorted(assigned['c1'])}/{sorted(assigned['c2'])}; 40 records once each; committed 10 x 4"


def s4b():
    records = [dict(topic=TOPIC4, partition=p, value=f"p{p}-{i}".encode()) for p in range(4) for i in range(10, 15)]
    produce_all(producer(), records)
    c = consumer(GROUP4, session_timeout_ms=6000, heartbeat_interval_ms=500)
    com = c.committed([TopicPartition(TOPIC4, p) for p in range(4)], timeout=TIMEOUT)
    check([tp.offset for tp in com] == [10] * 4, f"after restart: committed offsets {[tp.offset for tp in com]}, want [10]*4")
    c.subscribe([TOPIC4])
    msgs = consume_n(c, 20, timeout=30, extra_wait=1.0)
    got = sorted((m.partition(), m.offset(), m.value()) for m in msgs)
    want = sorted((p, i, f"p{p}-{i}".encode()) for p in range(4) for i in range(10, 15))
    check(got == want, f"after restart the group resumed with {[(p, o) for p, o, _ in got][:8]}..., want offsets 10-14 of each partition")
    c.commit(asynchronous=False)
    c.close()
    return "split 2+2 partitions, every record once, commit, broker restart, resumed at the committed offsets"


# ------------------------------------------------------------------ 5 seek, offsets for times, lag

def s5():
    topic, group = "ckp-offsets", "ckp-lag"
    create_topic(admin(), topic, 1)
    t0 = int(time.time() * 1000) - 600_000
    records = [dict(topic=topic, partition=0, value=f"v{i}".encode(), timestamp=t0 + i * 1000) for i in range(10)]
    produce_all(producer(), records)
    c = consumer(group)
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
    check((lo, hi) == (0, 10), f"watermarks ({lo}, {hi}), want (0, 10)")

    def for_time(ts):
        return c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=TIMEOUT)[0].offset
    for ts, want in ((t0, 0), (t0 + 3500, 4), (t0 + 9000, 9), (t0 - 100_000, 0), (t0 + 3_600_000, OFFSET_END)):
        got = for_time(ts)
        check(got == want, f"offsets_for_times({ts - t0:+d} ms from the first record) = {got}, want {want}")

    c.assign([TopicPartition(topic, 0, 2)])
    m = consume_n(c, 1, extra_wait=0)[0]
    check((m.offset(), m.value()) == (2, b"v2"), f"assign at 2: first record {m.offset()} {m.value()!r}")
    c.seek(TopicPartition(topic, 0, 7))
    msgs = consume_n(c, 3, extra_wait=0.3)
    check([(m.offset(), m.value()) for m in msgs] == [(7, b"v7"), (8, b"v8"), (9, b"v9")],
          f"after seek(7): {[(m.offset(), m.value()) for m in msgs]}")
    pos = c.position([TopicPartition(topic, 0)])[0].offset
    check(pos == 10, f"position after the last record: {pos}")
    c.commit(offsets=[TopicPartition(topic, 0, 6)], asynchronous=False)
    com = c.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)[0].offset
    check(com == 6, f"committed {com}, want 6")
    lag = hi - com
    check(lag == 4, f"lag {lag}")
    c.seek(TopicPartition(topic, 0, OFFSET_BEGINNING))
    m = consume_n(c, 1, extra_wait=0)[0]
    check(m.offset() == 0, f"seek to beginning: offset {m.offset()}")
    c.close()
    return "watermarks (0,10); offsets_for_times exact (incl. before first / after last); seek; position; committed 6 -> lag 4"


# ------------------------------------------------------------------ 6 idempotent producer

def s6():
    topic = "ckp-idempotent"
    create_topic(admin(), topic, 2)
    p = producer(enable_idempotence=True, linger_ms=5, batch_num_messages=20)
    records = [dict(topic=topic, partition=i % 2, value=f"idem-{i}".encode()) for i in range(400)]
    reports = produce_all(p, records)
    c = consumer()
    c.assign([TopicPartition(topic, i, OFFSET_BEGINNING) for i in range(2)])
    msgs = consume_n(c, 400)
    c.close()
    for part in range(2):
        vals = [m.value() for m in msgs if m.partition() == part]
        want = [r["value"] for r in records if r["partition"] == part]
        check(vals == want, f"partition {part}: {len(vals)} records consumed (want {len(want)} in order, no duplicate)")
        offs = [o for (pp, o, _) in reports if pp == part]
        check(offs == list(range(200)), f"partition {part}: delivery offsets not 0..199")
        batches = stored_batches(topic, part)
        pids = {(b["producer_id"], b["producer_epoch"]) for b in batches}
        check(len(pids) == 1 and next(iter(pids))[0] >= 0, f"partition {part}: stored producer ids/epochs {pids}")
        expect = 0
        for b in batches:
            check(b["base_sequence"] == expect, f"partition {part}: batch at offset {b['base_offset']} has sequence {b['base_sequence']}, want {expect}")
            expect += b["last_offset_delta"] + 1
    return f"400 records in {sum(len(stored_batches(topic, i)) for i in range(2))} batches, one producer id, sequences contiguous, no duplicates"


# ------------------------------------------------------------------ 7 transactions

def s7():
    topic = "ckp-txn"
    create_topic(admin(), topic, 1)
    p = producer(transactional_id="ckp-txn-1", transaction_timeout_ms=30000)
    step("init_transactions", p.init_transactions, TIMEOUT, timeout=TIMEOUT + 2)
    step("begin_transaction", p.begin_transaction)
    for i in range(5):
        p.produce(topic, value=f"commit-{i}".encode(), partition=0)
    step("commit_transaction", p.commit_transaction, TIMEOUT, timeout=TIMEOUT + 2)
    step("begin_transaction", p.begin_transaction)
    for i in range(5):
        p.produce(topic, value=f"abort-{i}".encode(), partition=0)
    check(p.flush(TIMEOUT) == 0, "flush of the records to abort timed out")
    step("abort_transaction", p.abort_transaction, TIMEOUT, timeout=TIMEOUT + 2)
    step("begin_transaction", p.begin_transaction)
    p.produce(topic, value=b"after", partition=0)
    step("commit_transaction", p.commit_transaction, TIMEOUT, timeout=TIMEOUT + 2)

    def read(isolation, n):
        c = consumer(isolation_level=isolation)
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        msgs = consume_n(c, n, extra_wait=1.0)
        c.close()
        return [(m.offset(), m.value().decode()) for m in msgs]
    rc = read("read_committed", 6)
    want = [(i, f"commit-{i}") for i in range(5)] + [(12, "after")]
    check(rc == want, f"read_committed got {rc}, want {want}")
    ru = read("read_uncommitted", 11)
    check([v for _, v in ru] == [f"commit-{i}" for i in range(5)] + [f"abort-{i}" for i in range(5)] + ["after"],
          f"read_uncommitted got {ru}")
    lo, hi = consumer().get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
    check(hi == 14, f"high watermark {hi}, want 14 (11 records + 3 control markers)")
    return "commit + abort; read_committed sees only committed records; control markers at the expected offsets"


# ------------------------------------------------------------------ 8 error paths

def s8():
    a = admin()
    missing = "ckp-missing"
    t = a.list_topics(missing, timeout=TIMEOUT).topics.get(missing)
    check(t is not None and t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
          f"metadata for a missing topic with auto-create off: {t and t.error}")
    p = producer(message_timeout_ms=5000, topic_metadata_propagation_max_ms=1000)
    try:
        produce_all(p, [dict(topic=missing, value=b"x")])
        raise Fail("producing to a missing topic succeeded with auto.create.topics.enable=false")
    except KafkaException as e:
        code = e.args[0].code()
        check(code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC),
              f"produce to a missing topic: want UNKNOWN_TOPIC_OR_PART, got {e}")
    check(missing not in a.list_topics(timeout=TIMEOUT).topics, "the missing topic was created anyway")

    topic = "ckp-range"
    create_topic(a, topic, 1)
    produce_all(producer(), [dict(topic=topic, partition=0, value=f"r{i}".encode()) for i in range(5)])

    c = consumer(auto_offset_reset="earliest")
    c.assign([TopicPartition(topic, 0, 100)])
    msgs = consume_n(c, 5, extra_wait=0.2)
    c.close()
    check([m.offset() for m in msgs] == [0, 1, 2, 3, 4], f"earliest: offsets {[m.offset() for m in msgs]}")

    c = consumer(auto_offset_reset="latest")
    c.assign([TopicPartition(topic, 0, 100)])
    t_end = time.time() + 2
    while time.time() < t_end:
        m = c.poll(0.2)
        check(m is None, f"latest: got {m and (m.offset(), m.error())} before producing")
    produce_all(producer(), [dict(topic=topic, partition=0, value=b"after-reset")])
    msgs = consume_n(c, 1, extra_wait=0.2)
    c.close()
    check([(m.offset(), m.value()) for m in msgs] == [(5, b"after-reset")], f"latest: got {[(m.offset(), m.value()) for m in msgs]}")

    c = consumer(auto_offset_reset="error")
    c.assign([TopicPartition(topic, 0, 100)])
    err = None
    t_end = time.time() + TIMEOUT
    while err is None and time.time() < t_end:
        m = c.poll(0.2)
        if m is not None:
            check(m.error() is not None, f"error: got record {m.offset()} instead of an error")
            err = m.error()
    c.close()
    check(err is not None, "auto.offset.reset=error: no error within 15 s")
    check(err.code() == KafkaError._AUTO_OFFSET_RESET and "out of range" in err.str().lower(),
          f"auto.offset.reset=error: {err}")
    return "missing topic: metadata + produce UNKNOWN_TOPIC_OR_PART, not created; offset 100 of 5: earliest, latest, error all right"


SCENARIOS = {"1": s1, "2": s2, "3": s3, "4a": s4a, "4b": s4b, "5": s5, "6": s6, "7": s7, "8": s8}

if __name__ == "__main__":
    main(SCENARIOS[sys.argv[1]])
