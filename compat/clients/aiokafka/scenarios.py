"""Compat scenarios 1-8 for aiokafka (asyncio; snappy, lz4 and zstd through cramjam).

    python scenarios.py SCENARIO        SCENARIO: 1 2 3 4a 4b 5 6 7 8   (4b runs after a broker restart)

Last stdout line: "pass|fail|unsupported<TAB>detail" (see common.py). Client defaults are kept except
short timeouts.
"""
import asyncio
import random
import sys
import time

from common import BOOTSTRAP, CODEC_IDS, Fail, check, describe, log, main, problems, stored_batches

import aiokafka.errors as Errors
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import OffsetAndMetadata

TIMEOUT = 15


async def admin():
    a = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=TIMEOUT * 1000)
    await a.start()
    return a


async def producer(**kw):
    p = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, **{"request_timeout_ms": 10000, **kw})
    await p.start()
    return p


async def consumer(group=None, **kw):
    kw.setdefault("auto_offset_reset", "earliest")
    c = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False,
                         request_timeout_ms=10000, fetch_max_wait_ms=200, **kw)
    await c.start()
    return c


async def create_topic(topic, partitions, configs=None):
    a = await admin()
    try:
        r = (await a.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})])).to_object()
    finally:
        await a.close()
    err = r["topic_errors"][0]
    if err["error_code"]:
        raise Errors.for_code(err["error_code"])(err["error_message"])
    return r


async def produce_all(p, records):
    """records: dicts of send() kwargs; returns the RecordMetadata of each, in order."""
    futs = [await p.send(**r) for r in records]
    await p.flush()
    return [await asyncio.wait_for(f, TIMEOUT) for f in futs]


async def produce_and_close(records, **kw):
    p = await producer(**kw)
    try:
        return await produce_all(p, records)
    finally:
        await p.stop()


async def consume_n(c, n, timeout=TIMEOUT, extra_wait=0.5):
    msgs = []
    deadline = time.time() + timeout
    while len(msgs) < n and time.time() < deadline:
        for recs in (await c.getmany(timeout_ms=200)).values():
            msgs.extend(recs)
    end = time.time() + extra_wait
    while time.time() < end:
        for recs in (await c.getmany(timeout_ms=100)).values():
            msgs.extend(recs)
    check(len(msgs) >= n, f"consumed {len(msgs)} of {n} records within {timeout}s")
    return sorted(msgs, key=lambda m: (m.partition, m.offset))


async def wait_until(cond, timeout, what, step=0.1):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise Fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(step)


# ------------------------------------------------------------------ 1 metadata and topic admin

async def s1():
    topic = "aio-admin"
    a = await admin()
    cl = await a.describe_cluster()
    check([(b["node_id"], f"{b['host']}:{b['port']}") for b in cl["brokers"]] == [(0, BOOTSTRAP)],
          f"describe_cluster brokers {cl['brokers']}, want node 0 at {BOOTSTRAP}")
    check(cl["controller_id"] == 0, f"controller id {cl['controller_id']}")
    await create_topic(topic, 3, {"retention.ms": "3600000", "max.message.bytes": "500000"})
    try:
        await create_topic(topic, 3)
        raise Fail("creating the topic twice succeeded")
    except Errors.TopicAlreadyExistsError:
        pass
    names = await a.list_topics()
    check(topic in names, f"list_topics: {topic} missing from {names}")
    d = await a.describe_topics([topic])
    check(len(d) == 1 and d[0]["topic"] == topic and d[0]["error_code"] == 0 and not d[0]["is_internal"], f"describe_topics {d}")
    parts = sorted(d[0]["partitions"], key=lambda p: p["partition"])
    check([p["partition"] for p in parts] == [0, 1, 2], f"partitions {parts}")
    for p in parts:
        check((p["error_code"], p["leader"], p["replicas"], p["isr"]) == (0, 0, [0], [0]), f"partition {p}")

    async def describe_configs():
        r = await a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        res = r[0].to_object()["resources"][0]
        check(res["error_code"] == 0, f"describe_configs error {res['error_code']} {res.get('error_message')}")
        cfg = {e["config_names"]: e for e in res["config_entries"]}
        check(cfg["retention.ms"]["config_value"] == "3600000", f"retention.ms {cfg.get('retention.ms')}")
        check(cfg["max.message.bytes"]["config_value"] == "500000", f"max.message.bytes {cfg.get('max.message.bytes')}")
        check(cfg["cleanup.policy"]["config_value"] == "delete", f"cleanup.policy {cfg.get('cleanup.policy')}")
    try:
        await describe_configs()
    except Exception as e:  # noqa: BLE001 -- recorded; the scenario goes on and fails at the end
        problems.append(f"describe_configs(topic {topic}): {describe(e)}")

    r = (await a.delete_topics([topic])).to_object()
    check(r["topic_error_codes"] == [{"topic": topic, "error_code": 0}], f"delete_topics: {r}")
    deadline = time.time() + 10
    while topic in await a.list_topics():
        check(time.time() < deadline, f"{topic} still listed 10 s after delete")
        await asyncio.sleep(0.2)
    r = (await a.delete_topics([topic])).to_object()
    check(r["topic_error_codes"] == [{"topic": topic, "error_code": 3}], f"delete twice: want UNKNOWN_TOPIC_OR_PARTITION (3), got {r}")
    await a.close()
    return "describe_cluster, create (3 partitions, 2 configs), create twice, list, describe, describe_configs, delete"


# ------------------------------------------------------------------ 2 keyed produce, headers, timestamps

async def s2():
    topic = "aio-keyed"
    await create_topic(topic, 3)
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
            headers = [("seq", str(seq).encode()), ("bin", bytes([0, 1, 255, k])), ("empty", b""), ("null", None),
                       ("dup", b"first"), ("dup", b"second"), ("ünï", "ü✓".encode())]
            records.append(dict(topic=topic, key=key, value=value, headers=headers, timestamp_ms=base + n * 7))
            n += 1
    mds = await produce_and_close(records, linger_ms=20)
    by_key = {}
    for r, md in zip(records, mds):
        by_key.setdefault(r["key"], set()).add(md.partition)
        # timestamp_type 0: the broker answered log_append_time -1 (CreateTime). RecordMetadata.timestamp
        # itself is not checked: aiokafka 0.14 gives every record of a batch the first record's timestamp
        # (the loop in MessageBatch.done() overwrites its `timestamp`), whatever the broker.
        check(md.timestamp_type == 0, f"RecordMetadata timestamp_type {md.timestamp_type}: the broker returned a log append time")
    check(all(len(s) == 1 for s in by_key.values()), f"a key went to several partitions: {by_key}")
    check(len({next(iter(s)) for s in by_key.values()}) >= 2, "all 10 keys went to one partition")
    for part in range(3):
        offs = [md.offset for md in mds if md.partition == part]
        check(offs == list(range(len(offs))), f"partition {part}: offsets {offs}, want 0..{len(offs) - 1} in produce order")
    c = await consumer()
    c.assign([TopicPartition(topic, i) for i in range(3)])
    await c.seek_to_beginning()
    msgs = await consume_n(c, len(records))
    await c.stop()
    check(len(msgs) == len(records), f"consumed {len(msgs)} records, produced {len(records)}")
    want = {(md.partition, md.offset): r for r, md in zip(records, mds)}
    last_seq = {}
    for m in msgs:
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
    return f"{len(records)} records, 10 keys over 3 partitions; keys, values, 7 headers, timestamps equal; per-key order kept"


# ------------------------------------------------------------------ 3 compression

async def s3():
    done = []
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        topic = f"aio-{codec}"
        await create_topic(topic, 1)
        records = [dict(topic=topic, key=f"k{i}".encode(), partition=0,
                        value=(f"{codec} record {i} " * (1 + i % 20)).encode() + bytes([i % 256, 0, 255]))
                   for i in range(200)]
        mds = await produce_and_close(records, compression_type=codec, linger_ms=200, max_batch_size=1 << 20)
        check([md.offset for md in mds] == list(range(200)), f"{codec}: offsets not 0..199")
        c = await consumer()
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        await c.seek_to_beginning(tp)
        msgs = await consume_n(c, 200, extra_wait=0.2)
        check([(m.offset, m.key, m.value) for m in msgs] == [(i, r["key"], r["value"]) for i, r in enumerate(records)],
              f"{codec}: consumed records differ from the produced ones")
        c.seek(tp, 150)
        msgs = await consume_n(c, 50, extra_wait=0.2)
        await c.stop()
        check([m.offset for m in msgs] == list(range(150, 200)), f"{codec}: from offset 150 got {[m.offset for m in msgs][:5]}...")
        batches = stored_batches(topic, 0)
        codecs = {b["codec"] for b in batches}
        check(codecs == {CODEC_IDS[codec]}, f"{codec}: stored batches have codec ids {codecs}, want {{{CODEC_IDS[codec]}}} (did the client compress?)")
        check(len(batches) < 200, f"{codec}: 200 records stored as {len(batches)} batches")
        done.append(f"{codec} ({len(batches)} batches)")
    return "produced, stored compressed and consumed back exactly (also from inside a batch): " + ", ".join(done)


# ------------------------------------------------------------------ 4 consumer group

GROUP4, TOPIC4 = "aio-group", "aio-group"


async def group_member():
    return await consumer(GROUP4, session_timeout_ms=6000, heartbeat_interval_ms=500)


async def s4a():
    await create_topic(TOPIC4, 4)
    cs = [await group_member(), await group_member()]
    got = [[], []]
    stop = asyncio.Event()

    async def run(i):
        cs[i].subscribe([TOPIC4])
        while not stop.is_set():
            for recs in (await cs[i].getmany(timeout_ms=200)).values():
                got[i].extend(recs)
    tasks = [asyncio.create_task(run(i)) for i in range(2)]

    def assigned(i):
        return {tp.partition for tp in cs[i].assignment()}
    stable = {"since": time.time(), "last": None}

    def split():
        for t in tasks:
            if t.done():
                t.result()
        a1, a2 = assigned(0), assigned(1)
        now = (frozenset(a1), frozenset(a2))
        if now != stable["last"]:
            stable["last"], stable["since"] = now, time.time()
        return a1 and a2 and not (a1 & a2) and (a1 | a2) == {0, 1, 2, 3} and time.time() - stable["since"] > 1.0
    await wait_until(split, 40, "both members to get disjoint partitions covering 0-3", step=0.05)
    a1, a2 = assigned(0), assigned(1)
    log("assignment", a1, a2)
    await produce_and_close([dict(topic=TOPIC4, partition=p, value=f"p{p}-{i}".encode()) for p in range(4) for i in range(10)])
    await wait_until(lambda: len(got[0]) + len(got[1]) >= 40, 20, "40 records between the two members")
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    check(len(got[0]) + len(got[1]) == 40, f"members got {len(got[0])} + {len(got[1])} records, want 40")
    check((assigned(0), assigned(1)) == (a1, a2), f"assignment changed while consuming: {assigned(0)} {assigned(1)}")
    seen = set()
    for i in range(2):
        for m in got[i]:
            check(m.partition in assigned(i), f"member {i + 1} got a record of partition {m.partition}, assigned {assigned(i)}")
            check(m.value == f"p{m.partition}-{m.offset}".encode(), f"partition {m.partition} offset {m.offset}: {m.value!r}")
            check((m.partition, m.offset) not in seen, f"record {m.partition}/{m.offset} delivered twice")
            seen.add((m.partition, m.offset))
    for c in cs:
        await c.commit()
    com = [await cs[0].committed(TopicPartition(TOPIC4, p)) for p in range(4)]
    check(com == [10] * 4, f"committed offsets {com}, want [10]*4")
    for c in cs:
        await c.stop()
    return f"split {sorted(a1)}/{sorted(a2)}; 40 records once each; committed 10 x 4"


async def s4b():
    await produce_and_close([dict(topic=TOPIC4, partition=p, value=f"p{p}-{i}".encode()) for p in range(4) for i in range(10, 15)])
    c = await group_member()
    com = [await c.committed(TopicPartition(TOPIC4, p)) for p in range(4)]
    check(com == [10] * 4, f"after restart: committed offsets {com}, want [10]*4")
    c.subscribe([TOPIC4])
    msgs = await consume_n(c, 20, timeout=30, extra_wait=1.0)
    got = sorted((m.partition, m.offset, m.value) for m in msgs)
    want = sorted((p, i, f"p{p}-{i}".encode()) for p in range(4) for i in range(10, 15))
    check(got == want, f"after restart the group resumed with {[(p, o) for p, o, _ in got][:8]}..., want offsets 10-14 of each partition")
    await c.commit()
    await c.stop()
    return "split 2+2 partitions, every record once, commit, broker restart, resumed at the committed offsets"


# ------------------------------------------------------------------ 5 seek, offsets for times, lag

async def s5():
    topic, group = "aio-offsets", "aio-lag"
    await create_topic(topic, 1)
    t0 = int(time.time() * 1000) - 600_000
    await produce_and_close([dict(topic=topic, partition=0, value=f"v{i}".encode(), timestamp_ms=t0 + i * 1000) for i in range(10)])
    tp = TopicPartition(topic, 0)
    c = await consumer(group)
    lo, hi = (await c.beginning_offsets([tp]))[tp], (await c.end_offsets([tp]))[tp]
    check((lo, hi) == (0, 10), f"beginning/end offsets ({lo}, {hi}), want (0, 10)")
    for ts, want in ((t0, 0), (t0 + 3500, 4), (t0 + 9000, 9), (t0 - 100_000, 0), (t0 + 3_600_000, None)):
        got = (await c.offsets_for_times({tp: ts}))[tp]
        got = got and got.offset
        check(got == want, f"offsets_for_times({ts - t0:+d} ms from the first record) = {got}, want {want}")
    c.assign([tp])
    c.seek(tp, 2)
    m = (await consume_n(c, 1, extra_wait=0))[0]
    check((m.offset, m.value) == (2, b"v2"), f"seek(2): first record {m.offset} {m.value!r}")
    c.seek(tp, 7)
    msgs = [m for m in await consume_n(c, 3, extra_wait=0.3) if m.offset >= 7]
    check([(m.offset, m.value) for m in msgs] == [(7, b"v7"), (8, b"v8"), (9, b"v9")], f"after seek(7): {[(m.offset, m.value) for m in msgs]}")
    pos = await c.position(tp)
    check(pos == 10, f"position after the last record: {pos}")
    await c.commit({tp: OffsetAndMetadata(6, "lag-test")})
    com = await c.committed(tp)
    check(com == 6, f"committed {com}, want 6")
    lag = (await c.end_offsets([tp]))[tp] - com
    check(lag == 4, f"lag {lag}")
    a = await admin()
    offs = await a.list_consumer_group_offsets(group)
    await a.close()
    check(offs.get(tp) is not None and (offs[tp].offset, offs[tp].metadata) == (6, "lag-test"),
          f"list_consumer_group_offsets: {offs}, want offset 6 with metadata 'lag-test'")
    await c.seek_to_beginning(tp)
    m = (await consume_n(c, 1, extra_wait=0))[0]
    check(m.offset == 0, f"seek_to_beginning: offset {m.offset}")
    await c.stop()
    return "beginning/end offsets (0,10); offsets_for_times exact (incl. before first / after last); seek; position; committed 6 (+metadata) -> lag 4"


# ------------------------------------------------------------------ 6 idempotent producer

async def s6():
    topic = "aio-idempotent"
    await create_topic(topic, 2)
    records = [dict(topic=topic, partition=i % 2, value=f"idem-{i}".encode()) for i in range(400)]
    mds = await produce_and_close(records, enable_idempotence=True, linger_ms=5, max_batch_size=400)
    c = await consumer()
    c.assign([TopicPartition(topic, i) for i in range(2)])
    await c.seek_to_beginning()
    msgs = await consume_n(c, 400)
    await c.stop()
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

async def step(what, aw):
    """Awaits one transactional step with a time limit, naming the step in the error."""
    try:
        return await asyncio.wait_for(aw, TIMEOUT)
    except asyncio.TimeoutError:
        raise Fail(f"{what}: no answer within {TIMEOUT}s") from None
    except Exception as e:  # noqa: BLE001
        raise Fail(f"{what}: {describe(e)}") from e


async def s7():
    topic = "aio-txn"
    await create_topic(topic, 1)
    p = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, request_timeout_ms=10000, transactional_id="aio-txn-1",
                         transaction_timeout_ms=30000)
    await step("start (InitProducerId)", p.start())
    try:
        await step("begin_transaction", p.begin_transaction())
        for i in range(5):
            await step("send", p.send_and_wait(topic, value=f"commit-{i}".encode(), partition=0))
        await step("commit_transaction", p.commit_transaction())
        await step("begin_transaction", p.begin_transaction())
        for i in range(5):
            await step("send", p.send_and_wait(topic, value=f"abort-{i}".encode(), partition=0))
        await step("abort_transaction", p.abort_transaction())
        await step("begin_transaction", p.begin_transaction())
        await step("send", p.send_and_wait(topic, value=b"after", partition=0))
        await step("commit_transaction", p.commit_transaction())
    finally:
        await asyncio.wait_for(p.stop(), 5)

    async def read(isolation, n):
        c = await consumer(isolation_level=isolation)
        c.assign([TopicPartition(topic, 0)])
        await c.seek_to_beginning()
        msgs = await consume_n(c, n, extra_wait=1.0)
        await c.stop()
        return [(m.offset, m.value.decode()) for m in msgs]
    rc = await read("read_committed", 6)
    want = [(i, f"commit-{i}") for i in range(5)] + [(12, "after")]
    check(rc == want, f"read_committed got {rc}, want {want}")
    ru = await read("read_uncommitted", 11)
    check([v for _, v in ru] == [f"commit-{i}" for i in range(5)] + [f"abort-{i}" for i in range(5)] + ["after"], f"read_uncommitted got {ru}")
    c = await consumer()
    hi = (await c.end_offsets([TopicPartition(topic, 0)]))[TopicPartition(topic, 0)]
    await c.stop()
    check(hi == 14, f"end offset {hi}, want 14 (11 records + 3 control markers)")
    return "commit + abort; read_committed sees only committed records; control markers at the expected offsets"


# ------------------------------------------------------------------ 8 error paths

async def s8():
    missing = "aio-missing"
    a = await admin()
    d = await a.describe_topics([missing])
    check(len(d) == 1 and d[0]["error_code"] == Errors.UnknownTopicOrPartitionError.errno,
          f"metadata for a missing topic with auto-create off: {d}")
    p = await producer(request_timeout_ms=3000)
    try:
        await asyncio.wait_for(p.send_and_wait(missing, value=b"x"), TIMEOUT)
        raise Fail("producing to a missing topic succeeded with auto.create.topics.enable=false")
    except (Errors.KafkaTimeoutError, Errors.UnknownTopicOrPartitionError) as e:
        log("produce to missing topic:", repr(e))
    finally:
        await p.stop()
    check(missing not in await a.list_topics(), "the missing topic was created anyway")
    await a.close()

    topic = "aio-range"
    await create_topic(topic, 1)
    await produce_and_close([dict(topic=topic, partition=0, value=f"r{i}".encode()) for i in range(5)])
    tp = TopicPartition(topic, 0)

    c = await consumer(auto_offset_reset="earliest")
    c.assign([tp])
    c.seek(tp, 100)
    msgs = await consume_n(c, 5, extra_wait=0.2)
    await c.stop()
    check([m.offset for m in msgs] == [0, 1, 2, 3, 4], f"earliest: offsets {[m.offset for m in msgs]}")

    c = await consumer(auto_offset_reset="latest")
    c.assign([tp])
    c.seek(tp, 100)
    t_end = time.time() + 2
    while time.time() < t_end:
        got = await c.getmany(timeout_ms=200)
        check(not got, f"latest: got {got} before producing")
    await produce_and_close([dict(topic=topic, partition=0, value=b"after-reset")])
    msgs = await consume_n(c, 1, extra_wait=0.2)
    await c.stop()
    check([(m.offset, m.value) for m in msgs] == [(5, b"after-reset")], f"latest: got {[(m.offset, m.value) for m in msgs]}")

    c = await consumer(auto_offset_reset="none")
    c.assign([tp])
    c.seek(tp, 100)
    err = None
    t_end = time.time() + TIMEOUT
    while err is None and time.time() < t_end:
        try:
            got = await c.getmany(timeout_ms=200)
            check(not got, f"none: got records {got}")
        except Errors.OffsetOutOfRangeError as e:
            err = e
    await c.stop()
    check(err is not None, "auto_offset_reset=none: no OffsetOutOfRangeError within 15 s")
    return f"missing topic: UNKNOWN_TOPIC_OR_PARTITION in metadata, produce fails, not created; offset 100 of 5: earliest, latest, none ({type(err).__name__}) all right"


SCENARIOS = {"1": s1, "2": s2, "3": s3, "4a": s4a, "4b": s4b, "5": s5, "6": s6, "7": s7, "8": s8}

if __name__ == "__main__":
    async def run():
        try:
            return await asyncio.wait_for(SCENARIOS[sys.argv[1]](), 80)
        except asyncio.TimeoutError:
            raise Fail("the scenario did not finish within 80 s") from None
    main(lambda: asyncio.run(run()))
