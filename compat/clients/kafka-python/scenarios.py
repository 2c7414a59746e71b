"""Compat scenarios 1-8 for kafka-python (pure Python; codecs: python-snappy/cramjam, lz4, zstandard).

    python scenarios.py SCENARIO        SCENARIO: 1 2 3 4a 4b 5 6 7 8   (4b runs after a broker restart)

Last stdout line: "pass|fail|unsupported<TAB>detail" (see common.py). Client defaults are kept (the
producer is idempotent by default in kafka-python 3) except short timeouts.
"""
import random
import sys
import threading
import time

from common import BOOTSTRAP, CODEC_IDS, Fail, check, log, main, soft, step, stored_batches, wait_until

import kafka.errors as Errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

TIMEOUT = 15


def admin():
    return KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=TIMEOUT * 1000)


def producer(**kw):
    kw = {"request_timeout_ms": 10000, "max_block_ms": TIMEOUT * 1000, "delivery_timeout_ms": 20000, **kw}
    return KafkaProducer(bootstrap_servers=BOOTSTRAP, **kw)


def consumer(group=None, **kw):
    kw.setdefault("auto_offset_reset", "earliest")
    return KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False,
                         request_timeout_ms=10000, fetch_max_wait_ms=200, **kw)


def create_topic(a, topic, partitions, configs=None):
    a.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1, "configs": configs or {}}},
                    wait_for_metadata=True)


def produce_all(p, records):
    """records: dicts of send() kwargs; returns the RecordMetadata of each, in order."""
    futs = [p.send(**r) for r in records]
    p.flush(30)
    return [f.get(timeout=TIMEOUT) for f in futs]


def consume_n(c, n, timeout=TIMEOUT, extra_wait=0.5):
    msgs = []
    deadline = time.time() + timeout
    while len(msgs) < n and time.time() < deadline:
        for recs in c.poll(timeout_ms=200).values():
            msgs.extend(recs)
    end = time.time() + extra_wait
    while time.time() < end:
        for recs in c.poll(timeout_ms=100).values():
            msgs.extend(recs)
    check(len(msgs) >= n, f"consumed {len(msgs)} of {n} records within {timeout}s")
    return sorted(msgs, key=lambda m: (m.partition, m.offset))


# ------------------------------------------------------------------ 1 metadata and topic admin

def s1():
    topic = "kpy-admin"
    a = admin()
    cl = a.describe_cluster()
    check([(b["broker_id"], f"{b['host']}:{b['port']}") for b in cl["brokers"]] == [(0, BOOTSTRAP)],
          f"describe_cluster brokers {cl['brokers']}, want node 0 at {BOOTSTRAP}")
    check(cl["controller_id"] == 0, f"controller id {cl['controller_id']}")

    r = a.create_topics({topic: {"num_partitions": 3, "replication_factor": 1,
                                 "configs": {"retention.ms": "3600000", "max.message.bytes": "500000"}}},
                        wait_for_metadata=True)
    t = r["topics"][0]
    check((t["name"], t["error_code"], t["num_partitions"], t["replication_factor"]) == (topic, 0, 3, 1),
          f"create_topics result {t}")
    created_id = t.get("topic_id")
    try:
        create_topic(a, topic, 3)
        raise Fail("creating the topic twice succeeded")
    except Errors.TopicAlreadyExistsError:
        pass

    names = a.list_topics()
    check(topic in names, f"list_topics: {topic} missing from {names}")
    check(not any(n.startswith("__") for n in names), f"list_topics lists internal topics: {names}")

    d = a.describe_topics([topic])
    check(len(d) == 1 and d[0]["name"] == topic and d[0]["error_code"] == 0 and not d[0]["is_internal"], f"describe_topics {d}")
    check(str(d[0]["topic_id"]) == str(created_id) and created_id, f"topic id {d[0]['topic_id']}, created as {created_id}")
    parts = sorted(d[0]["partitions"], key=lambda p: p["partition_index"])
    check([p["partition_index"] for p in parts] == [0, 1, 2], f"partitions {parts}")
    for p in parts:
        check((p["error_code"], p["leader_id"], p["replica_nodes"], p["isr_nodes"]) == (0, 0, [0], [0]),
              f"partition {p}")

    def describe_configs():
        res = ConfigResource(ConfigResourceType.TOPIC, topic)
        cfg = a.describe_configs([res], config_filter="all")["topic"][topic]
        check(cfg["retention.ms"]["value"] == "3600000" and cfg["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG",
              f"retention.ms {cfg.get('retention.ms')}")
        check(cfg["max.message.bytes"]["value"] == "500000", f"max.message.bytes {cfg.get('max.message.bytes')}")
        check(cfg["cleanup.policy"]["value"] == "delete" and cfg["cleanup.policy"]["config_source"] == "DEFAULT_CONFIG",
              f"cleanup.policy {cfg.get('cleanup.policy')}")
    soft(f"describe_configs(topic {topic})", describe_configs)

    a.delete_topics([topic])
    wait_until(lambda: topic not in a.list_topics(), 10, f"{topic} to disappear from list_topics")
    try:
        a.delete_topics([topic])
        raise Fail("deleting the deleted topic again succeeded")
    except Errors.UnknownTopicOrPartitionError:
        pass
    return "describe_cluster, create (3 partitions, 2 configs), create twice, list, describe, describe_configs, delete"


# ------------------------------------------------------------------ 2 keyed produce, headers, timestamps

def s2():
    topic = "kpy-keyed"
    create_topic(admin(), topic, 3)
    rnd = random.Random(42)
    base = int(time.time() * 1000) - 3_600_000
    records = []
    n = 0
    for seq in range(8):
        for k in range(10):
            key = f"key-{k}".encode()
            if (k, seq) == (3, 2):
                value = None
            elif (k, seq) == (4, 1):
                value = b""
            else:
                value = bytes([seq]) + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))
            # kafka-python's send() takes (str, bytes) headers only: no null header value
            headers = [("seq", str(seq).encode()), ("bin", bytes([0, 1, 255, k])), ("empty", b""),
                       ("dup", b"first"), ("dup", b"second"), ("ünï", "ü✓".encode())]
            records.append(dict(topic=topic, key=key, value=value, headers=headers, timestamp_ms=base + n * 7))
            n += 1
    mds = produce_all(producer(linger_ms=20), records)
    by_key = {}
    for r, md in zip(records, mds):
        by_key.setdefault(r["key"], set()).add(md.partition)
        check(md.timestamp == r["timestamp_ms"], f"RecordMetadata timestamp {md.timestamp} for explicit {r['timestamp_ms']}")
    check(all(len(s) == 1 for s in by_key.values()), f"a key went to several partitions: {by_key}")
    check(len({next(iter(s)) for s in by_key.values()}) >= 2, "all 10 keys went to one partition")
    for part in range(3):
        offs = [md.offset for md in mds if md.partition == part]
        check(offs == list(range(len(offs))), f"partition {part}: offsets {offs}, want 0..{len(offs) - 1} in produce order")

    c = consumer()
    c.assign([TopicPartition(topic, i) for i in range(3)])
    c.seek_to_beginning()
    msgs = consume_n(c, len(records))
    c.close()
    check(len(msgs) == len(records), f"consumed {len(msgs)} records, produced {len(records)}")
    want = {(md.partition, md.offset): r for r, md in zip(records, mds)}
    last_seq = {}
    for m in sorted(msgs, key=lambda m: (m.partition, m.offset)):
        r = want.get((m.partition, m.offset))
        where = f"partition {m.partition} offset {m.offset}"
        check(r is not None, f"unexpected record at {where}")
        check(m.key == r["key"], f"{where}: key {m.key!r}, want {r['key']!r}")
        check(m.value == r["value"], f"{where}: value {m.value!r:.80}, want {r['value']!r:.80}")
        check(list(m.headers) == r["headers"], f"{where}: headers {m.headers}, want {r['headers']}")
        check((m.timestamp_type, m.timestamp) == (0, r["timestamp_ms"]), f"{where}: timestamp type {m.timestamp_type} {m.timestamp}, want CreateTime {r['timestamp_ms']}")
        seq = int(dict(r["headers"])["seq"])
        check(last_seq.get(m.key, -1) < seq, f"key {m.key!r}: seq {seq} consumed after {last_seq.get(m.key)}")
        last_seq[m.key] = seq
    return f"{len(records)} records, 10 keys over 3 partitions; keys, values, 6 headers (the client takes no null header value), timestamps equal; per-key order kept"


# ------------------------------------------------------------------ 3 compression

def s3():
    a = admin()
    done = []
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        topic = f"kpy-{codec}"
        create_topic(a, topic, 1)
        records = [dict(topic=topic, key=f"k{i}".encode(), partition=0,
                        value=(f"{codec} record {i} " * (1 + i % 20)).encode() + bytes([i % 256, 0, 255]))
                   for i in range(200)]
        # linger 5 s: all 200 records in one batch, sent by flush()
        mds = produce_all(producer(compression_type=codec, linger_ms=5000, batch_size=1 << 20), records)
        check([md.offset for md in mds] == list(range(200)), f"{codec}: offsets not 0..199")
        c = consumer()
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        msgs = consume_n(c, 200, extra_wait=0.2)
        check([(m.offset, m.key, m.value) for m in msgs] == [(i, r["key"], r["value"]) for i, r in enumerate(records)],
              f"{codec}: consumed records differ from the produced ones")
        c.seek(tp, 150)
        msgs = consume_n(c, 50, extra_wait=0.2)
        c.close()
        check([m.offset for m in msgs] == list(range(150, 200)), f"{codec}: from offset 150 got {[m.offset for m in msgs][:5]}...")
        batches = stored_batches(topic, 0)
        codecs = {b["codec"] for b in batches}
        check(codecs == {CODEC_IDS[codec]}, f"{codec}: stored batches have codec ids {codecs}, want {{{CODEC_IDS[codec]}}} (did the client compress?)")
        check(len(batches) < 200, f"{codec}: 200 records stored as {len(batches)} batches")
        done.append(f"{codec} ({len(batches)} batches)")
    return "produced, stored compressed and consumed back exactly (also from inside a batch): " + ", ".join(done)


# ------------------------------------------------------------------ 4 consumer group

GROUP4, TOPIC4 = "kpy-group", "kpy-group"


def group_member():
    return consumer(GROUP4, session_timeout_ms=6000, heartbeat_interval_ms=500)


class Member(threading.Thread):
    """One group member polling in its own thread (KafkaConsumer is not thread-safe: only this thread
    touches it). Records what it got and its current assignment; commits and closes when stopped."""

    def __init__(self, name):
        super().__init__(name=name, daemon=True)
        self.c = group_member()
        self.got, self.assigned, self.stop, self.error = [], set(), False, None

    def run(self):
        try:
            self.c.subscribe([TOPIC4])
            while not self.stop:
                for recs in self.c.poll(timeout_ms=200).values():
                    self.got.extend(recs)
                self.assigned = {tp.partition for tp in self.c.assignment()}
            self.c.commit()
            self.c.close()
        except Exception as e:  # noqa: BLE001
            self.error = e


def s4a():
    create_topic(admin(), TOPIC4, 4)
    ms = [Member("c1"), Member("c2")]
    for m in ms:
        m.start()
    stable = {"since": time.time(), "last": None}

    def split():
        for m in ms:
            if m.error:
                raise m.error
        a1, a2 = ms[0].assigned, ms[1].assigned
        now = (frozenset(a1), frozenset(a2))
        if now != stable["last"]:
            stable["last"], stable["since"] = now, time.time()
        return a1 and a2 and not (a1 & a2) and (a1 | a2) == {0, 1, 2, 3} and time.time() - stable["since"] > 1.0
    wait_until(split, 40, "both members to get disjoint partitions covering 0-3", step=0.05)
    a1, a2 = set(ms[0].assigned), set(ms[1].assigned)
    log("assignment", a1, a2)
    produce_all(producer(), [dict(topic=TOPIC4, partition=p, value=f"p{p}-{i}".encode()) for p in range(4) for i in range(10)])
    wait_until(lambda: len(ms[0].got) + len(ms[1].got) >= 40, 20, "40 records between the two members")
    time.sleep(0.5)
    check(len(ms[0].got) + len(ms[1].got) == 40, f"members got {len(ms[0].got)} + {len(ms[1].got)} records, want 40")
    check((ms[0].assigned, ms[1].assigned) == (a1, a2), f"assignment changed while consuming: {ms[0].assigned} {ms[1].assigned}")
    seen = set()
    for m in ms:
        for r in m.got:
            check(r.partition in m.assigned, f"{m.name} got a record of partition {r.partition}, assigned {m.assigned}")
            check(r.value == f"p{r.partition}-{r.offset}".encode(), f"partition {r.partition} offset {r.offset}: {r.value!r}")
            check((r.partition, r.offset) not in seen, f"record {r.partition}/{r.offset} delivered twice")
            seen.add((r.partition, r.offset))
    for m in ms:
        m.stop = True
    for m in ms:
        m.join(20)
        check(not m.is_alive(), f"{m.name} did not commit and close within 20 s")
        if m.error:
            raise m.error
    c = group_member()
    com = [c.committed(TopicPartition(TOPIC4, p)) for p in range(4)]
    c.close()
    check(com == [10] * 4, f"committed offsets {com}, want [10]*4")
    return f"split {sorted(a1)}/{sorted(a2)}; 40 records once each; committed 10 x 4"


def s4b():
    produce_all(producer(), [dict(topic=TOPIC4, partition=p, value=f"p{p}-{i}".encode()) for p in range(4) for i in range(10, 15)])
    c = group_member()
    com = [c.committed(TopicPartition(TOPIC4, p)) for p in range(4)]
    check(com == [10] * 4, f"after restart: committed offsets {com}, want [10]*4")
    c.subscribe([TOPIC4])
    msgs = consume_n(c, 20, timeout=30, extra_wait=1.0)
    got = sorted((m.partition, m.offset, m.value) for m in msgs)
    want = sorted((p, i, f"p{p}-{i}".encode()) for p in range(4) for i in range(10, 15))
    check(got == want, f"after restart the group resumed with {[(p, o) for p, o, _ in got][:8]}..., want offsets 10-14 of each partition")
    c.commit()
    c.close()
    return "split 2+2 partitions, every record once, commit, broker restart, resumed at the committed offsets"


# ------------------------------------------------------------------ 5 seek, offsets for times, lag

def s5():
    topic, group = "kpy-offsets", "kpy-lag"
    create_topic(admin(), topic, 1)
    t0 = int(time.time() * 1000) - 600_000
    produce_all(producer(), [dict(topic=topic, partition=0, value=f"v{i}".encode(), timestamp_ms=t0 + i * 1000) for i in range(10)])
    tp = TopicPartition(topic, 0)
    c = consumer(group)
    lo, hi = c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp]
    check((lo, hi) == (0, 10), f"beginning/end offsets ({lo}, {hi}), want (0, 10)")
    for ts, want in ((t0, 0), (t0 + 3500, 4), (t0 + 9000, 9), (t0 - 100_000, 0), (t0 + 3_600_000, None)):
        got = c.offsets_for_times({tp: ts})[tp]
        got = got and got.offset
        check(got == want, f"offsets_for_times({ts - t0:+d} ms from the first record) = {got}, want {want}")
    c.assign([tp])
    c.seek(tp, 2)
    m = consume_n(c, 1, extra_wait=0)[0]
    check((m.offset, m.value) == (2, b"v2"), f"seek(2): first record {m.offset} {m.value!r}")
    c.seek(tp, 7)
    msgs = [m for m in consume_n(c, 3, extra_wait=0.3) if m.offset >= 7]
    check([(m.offset, m.value) for m in msgs] == [(7, b"v7"), (8, b"v8"), (9, b"v9")], f"after seek(7): {[(m.offset, m.value) for m in msgs]}")
    check(c.position(tp) == 10, f"position after the last record: {c.position(tp)}")
    from kafka.structs import OffsetAndMetadata
    c.commit({tp: OffsetAndMetadata(6, "lag-test", -1)})
    com = c.committed(tp, metadata=True)
    check((com.offset, com.metadata) == (6, "lag-test"), f"committed {com}, want 6 with metadata 'lag-test'")
    lag = hi - com.offset
    check(lag == 4, f"lag {lag}")
    a = admin()
    listed = a.list_group_offsets({group: None})[group]
    a.close()
    check({tp: (o.offset, o.metadata) for tp, o in listed.items()} == {tp: (6, "lag-test")},
          f"admin list_group_offsets {listed}, want {tp}: 6 'lag-test'")
    c.seek_to_beginning(tp)
    m = consume_n(c, 1, extra_wait=0)[0]
    check(m.offset == 0, f"seek_to_beginning: offset {m.offset}")
    c.close()
    return "beginning/end offsets (0,10); offsets_for_times exact (incl. before first / after last); seek; position; committed 6 (+metadata, also via admin) -> lag 4"


# ------------------------------------------------------------------ 6 idempotent producer

def s6():
    topic = "kpy-idempotent"
    create_topic(admin(), topic, 2)
    records = [dict(topic=topic, partition=i % 2, value=f"idem-{i}".encode()) for i in range(400)]
    mds = produce_all(producer(enable_idempotence=True, linger_ms=5, batch_size=400), records)
    c = consumer()
    c.assign([TopicPartition(topic, i) for i in range(2)])
    c.seek_to_beginning()
    msgs = consume_n(c, 400)
    c.close()
    for part in range(2):
        vals = [m.value for m in msgs if m.partition == part]
        want = [r["value"] for r in records if r["partition"] == part]
        check(vals == want, f"partition {part}: {len(vals)} records consumed (want {len(want)} in order, no duplicate)")
        check([md.offset for md in mds if md.partition == part] == list(range(200)), f"partition {part}: offsets not 0..199")
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
    topic = "kpy-txn"
    create_topic(admin(), topic, 1)
    p = producer(transactional_id="kpy-txn-1", transaction_timeout_ms=30000)
    step("init_transactions", p.init_transactions)
    step("begin_transaction", p.begin_transaction)
    for i in range(5):
        step("send", p.send(topic, value=f"commit-{i}".encode(), partition=0).get, TIMEOUT)
    step("commit_transaction", p.commit_transaction)
    step("begin_transaction", p.begin_transaction)
    for i in range(5):
        step("send", p.send(topic, value=f"abort-{i}".encode(), partition=0).get, TIMEOUT)
    step("abort_transaction", p.abort_transaction)
    step("begin_transaction", p.begin_transaction)
    step("send", p.send(topic, value=b"after", partition=0).get, TIMEOUT)
    step("commit_transaction", p.commit_transaction)
    p.close(timeout=5)

    def read(isolation, n):
        c = consumer(isolation_level=isolation)
        c.assign([TopicPartition(topic, 0)])
        c.seek_to_beginning()
        msgs = consume_n(c, n, extra_wait=1.0)
        c.close()
        return [(m.offset, m.value.decode()) for m in msgs]
    rc = read("read_committed", 6)
    want = [(i, f"commit-{i}") for i in range(5)] + [(12, "after")]
    check(rc == want, f"read_committed got {rc}, want {want}")
    ru = read("read_uncommitted", 11)
    check([v for _, v in ru] == [f"commit-{i}" for i in range(5)] + [f"abort-{i}" for i in range(5)] + ["after"], f"read_uncommitted got {ru}")
    hi = consumer().end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
    check(hi == 14, f"end offset {hi}, want 14 (11 records + 3 control markers)")
    return "commit + abort; read_committed sees only committed records; control markers at the expected offsets"


# ------------------------------------------------------------------ 8 error paths

def s8():
    a = admin()
    missing = "kpy-missing"
    d = a.describe_topics([missing])
    check(len(d) == 1 and d[0]["error_code"] == Errors.UnknownTopicOrPartitionError.errno,
          f"metadata for a missing topic with auto-create off: {d}")
    p = producer(max_block_ms=3000)
    try:
        p.send(missing, value=b"x").get(timeout=TIMEOUT)
        raise Fail("producing to a missing topic succeeded with auto.create.topics.enable=false")
    except (Errors.KafkaTimeoutError, Errors.UnknownTopicOrPartitionError) as e:
        log("produce to missing topic:", repr(e))
    check(missing not in a.list_topics(), "the missing topic was created anyway")

    topic = "kpy-range"
    create_topic(a, topic, 1)
    produce_all(producer(), [dict(topic=topic, partition=0, value=f"r{i}".encode()) for i in range(5)])
    tp = TopicPartition(topic, 0)

    c = consumer(auto_offset_reset="earliest")
    c.assign([tp])
    c.seek(tp, 100)
    msgs = consume_n(c, 5, extra_wait=0.2)
    c.close()
    check([m.offset for m in msgs] == [0, 1, 2, 3, 4], f"earliest: offsets {[m.offset for m in msgs]}")

    c = consumer(auto_offset_reset="latest")
    c.assign([tp])
    c.seek(tp, 100)
    t_end = time.time() + 2
    while time.time() < t_end:
        got = c.poll(timeout_ms=200)
        check(not got, f"latest: got {got} before producing")
    produce_all(producer(), [dict(topic=topic, partition=0, value=b"after-reset")])
    msgs = consume_n(c, 1, extra_wait=0.2)
    c.close()
    check([(m.offset, m.value) for m in msgs] == [(5, b"after-reset")], f"latest: got {[(m.offset, m.value) for m in msgs]}")

    c = consumer(auto_offset_reset="none")
    c.assign([tp])
    c.seek(tp, 100)
    err = None
    t_end = time.time() + TIMEOUT
    while err is None and time.time() < t_end:
        try:
            got = c.poll(timeout_ms=200)
            check(not got, f"none: got records {got}")
        except Errors.OffsetOutOfRangeError as e:
            err = e
    c.close()
    check(err is not None, "auto_offset_reset=none: no OffsetOutOfRangeError within 15 s")
    return f"missing topic: UNKNOWN_TOPIC_OR_PARTITION in metadata, produce fails, not created; offset 100 of 5: earliest, latest, none ({type(err).__name__}) all right"


SCENARIOS = {"1": s1, "2": s2, "3": s3, "4a": s4a, "4b": s4b, "5": s5, "6": s6, "7": s7, "8": s8}

if __name__ == "__main__":
    main(SCENARIOS[sys.argv[1]])
