// Compat scenarios 1-8 (see compat/clients/java-kafka-clients/run.sh) for Apache Kafka's Java client,
// the reference client. One scenario (or scenario phase) per JVM run:
//
//   java -cp ... Scenarios SCENARIO BOOTSTRAP        SCENARIO: 1 2 3 4a 4b 5 6 7 8
//
// The last stdout line is "pass|fail|unsupported<TAB>one-line detail"; everything else goes to stderr.
// DATA_DIR (env, optional): the broker's log.dirs, used to check what was written on disk (compression
// codec and producer ids of the stored batches; Kafka's on-disk format).
// Client defaults are kept (idempotent producer, newest API versions, classic group protocol) except
// short timeouts so failures surface quickly.

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.*;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.*;

import java.io.*;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.function.*;
import java.util.stream.*;

public class Scenarios {
    static String bootstrap;
    static final List<String> problems = new ArrayList<>();

    /** A failed assertion: ends the scenario with this message. */
    static class Fail extends RuntimeException {
        Fail(String m) { super(m); }
    }

    static class Unsupported extends RuntimeException {
        Unsupported(String m) { super(m); }
    }

    static void check(boolean ok, String what) { if (!ok) throw new Fail(what); }

    /** Records a problem and goes on (the scenario fails at the end with every problem). */
    static void soft(String what, Runnable r) {
        try {
            r.run();
        } catch (Throwable t) {
            problems.add(what + ": " + describe(t));
            log("PROBLEM " + what + ": " + describe(t));
            t.printStackTrace();
        }
    }

    static void log(String s) { System.err.println("[java] " + s); }

    /** One line: the exception chain, class names and messages. */
    static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        Set<Throwable> seen = new HashSet<>();
        while (t != null && seen.add(t)) {
            Throwable c = t.getCause();
            if (c != null && (t instanceof ExecutionException || String.valueOf(t.getMessage()).equals(c.toString()))) { t = c; continue; }
            if (sb.length() > 0) sb.append(" <- caused by ");
            if (t instanceof Fail) sb.append(t.getMessage());
            else sb.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
            t = t.getCause();
        }
        return sb.toString().replaceAll("[\\t\\r\\n]+", " ");
    }

    // ------------------------------------------------------------------ clients

    static Properties common() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "10000");
        p.put("default.api.timeout.ms", "15000");
        p.put("reconnect.backoff.max.ms", "500");
        return p;
    }

    static KafkaProducer<byte[], byte[]> producer(Object... kv) {
        Properties p = common();
        p.put("client.id", "odradek-compat-java-producer");
        p.put("max.block.ms", "10000");
        p.put("delivery.timeout.ms", "30000");
        p.put("linger.ms", "5");
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    static KafkaConsumer<byte[], byte[]> consumer(Object... kv) {
        Properties p = common();
        p.put("client.id", "odradek-compat-java-consumer");
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    static Admin admin() {
        Properties p = common();
        p.put("client.id", "odradek-compat-java-admin");
        return Admin.create(p);
    }

    static byte[] b(String s) { return s == null ? null : s.getBytes(StandardCharsets.UTF_8); }

    static String s(byte[] b) { return b == null ? null : new String(b, StandardCharsets.UTF_8); }

    static void createTopic(Admin admin, String topic, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
    }

    static List<TopicPartition> tps(String topic, int n) {
        return IntStream.range(0, n).mapToObj(i -> new TopicPartition(topic, i)).collect(Collectors.toList());
    }

    /** Polls until `want` records arrived (or the deadline), then polls `extraMs` more to catch extras. */
    static List<ConsumerRecord<byte[], byte[]>> pollN(org.apache.kafka.clients.consumer.Consumer<byte[], byte[]> c, int want, long timeoutMs, long extraMs) {
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (got.size() < want && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) got.add(r);
        }
        long end = System.currentTimeMillis() + extraMs;
        while (System.currentTimeMillis() < end) {
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) got.add(r);
        }
        return got;
    }

    // ------------------------------------------------------------------ on-disk batches

    record Batch(long baseOffset, int lastOffsetDelta, int attributes, long producerId, short producerEpoch, int baseSequence) {
        int codec() { return attributes & 7; }
    }

    /** The record batches stored for a partition, from Kafka's segment files (null if DATA_DIR unset). */
    static List<Batch> diskBatches(String topic, int partition) throws IOException {
        String dataDir = System.getenv("DATA_DIR");
        if (dataDir == null || dataDir.isEmpty()) return null;
        Path dir = Paths.get(dataDir, topic + "-" + partition);
        List<Path> segs;
        try (Stream<Path> st = Files.list(dir)) {
            segs = st.filter(p -> p.toString().endsWith(".log")).sorted().collect(Collectors.toList());
        }
        List<Batch> out = new ArrayList<>();
        for (Path seg : segs) {
            ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(seg));
            while (buf.remaining() >= 61) {
                int pos = buf.position();
                long base = buf.getLong(pos);
                int len = buf.getInt(pos + 8);
                if (len <= 0 || pos + 12 + len > buf.limit()) break;
                byte magic = buf.get(pos + 16);
                check(magic == 2, "on-disk batch at offset " + base + " in " + seg + " has magic " + magic);
                short attrs = buf.getShort(pos + 21);
                int lastDelta = buf.getInt(pos + 23);
                long pid = buf.getLong(pos + 43);
                short epoch = buf.getShort(pos + 51);
                int seq = buf.getInt(pos + 53);
                out.add(new Batch(base, lastDelta, attrs, pid, epoch, seq));
                buf.position(pos + 12 + len);
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ 1 metadata and topic admin

    static String s1() throws Exception {
        String topic = "java-admin";
        try (Admin admin = admin()) {
            Collection<Node> nodes = admin.describeCluster().nodes().get();
            check(nodes.size() == 1, "describeCluster: want 1 node, got " + nodes);
            Node node = nodes.iterator().next();
            check(node.id() == 0, "describeCluster: node id " + node.id() + ", want 0");
            check((node.host() + ":" + node.port()).equals(bootstrap), "describeCluster: node " + node.host() + ":" + node.port() + ", want " + bootstrap);
            Node controller = admin.describeCluster().controller().get();
            check(controller != null && controller.id() == 0, "describeCluster: controller " + controller);

            CreateTopicsResult cr = admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
                    .configs(Map.of("retention.ms", "3600000", "max.message.bytes", "500000"))));
            cr.all().get();
            check(cr.numPartitions(topic).get() == 3, "createTopics: numPartitions " + cr.numPartitions(topic).get());
            check(cr.replicationFactor(topic).get() == 1, "createTopics: replicationFactor " + cr.replicationFactor(topic).get());
            Uuid createdId = cr.topicId(topic).get();
            check(createdId != null && !createdId.equals(Uuid.ZERO_UUID), "createTopics: topic id " + createdId);

            try {
                admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
                throw new Fail("creating " + topic + " twice succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof TopicExistsException, "create twice: want TopicExistsException, got " + describe(e));
            }

            Set<String> names = admin.listTopics().names().get();
            check(names.contains(topic), "listTopics: " + topic + " missing from " + names);
            check(names.stream().noneMatch(n -> n.startsWith("__")), "listTopics (internal excluded) lists " + names);

            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            check(d.partitions().size() == 3, "describeTopics: " + d.partitions().size() + " partitions");
            check(d.topicId().equals(createdId), "describeTopics: topic id " + d.topicId() + ", created as " + createdId);
            check(!d.isInternal(), "describeTopics: internal");
            for (TopicPartitionInfo pi : d.partitions()) {
                check(pi.leader() != null && pi.leader().id() == 0, "describeTopics: partition " + pi.partition() + " leader " + pi.leader());
                check(pi.replicas().size() == 1 && pi.replicas().get(0).id() == 0, "describeTopics: partition " + pi.partition() + " replicas " + pi.replicas());
                check(pi.isr().size() == 1 && pi.isr().get(0).id() == 0, "describeTopics: partition " + pi.partition() + " isr " + pi.isr());
            }
            check(d.partitions().stream().map(TopicPartitionInfo::partition).collect(Collectors.toList()).equals(List.of(0, 1, 2)),
                    "describeTopics: partitions " + d.partitions());

            // The topic config given at creation, read back with DescribeConfigs.
            soft("describeConfigs(topic " + topic + ")", () -> {
                try {
                    ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                    Config cfg = admin.describeConfigs(List.of(res)).all().get().get(res);
                    ConfigEntry ret = cfg.get("retention.ms");
                    check(ret != null && "3600000".equals(ret.value()), "retention.ms " + ret + ", want 3600000");
                    check(ret.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms source " + ret.source());
                    ConfigEntry mmb = cfg.get("max.message.bytes");
                    check(mmb != null && "500000".equals(mmb.value()), "max.message.bytes " + mmb + ", want 500000");
                    ConfigEntry cp = cfg.get("cleanup.policy");
                    check(cp != null && "delete".equals(cp.value()) && cp.isDefault(), "cleanup.policy " + cp + ", want the default delete");
                } catch (InterruptedException | ExecutionException e) {
                    throw new RuntimeException(e);
                }
            });

            soft("createPartitions(" + topic + " -> 5)", () -> {
                try {
                    admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get();
                    long until = System.currentTimeMillis() + 10000;
                    int n;
                    while ((n = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size()) != 5) {
                        check(System.currentTimeMillis() < until, "describeTopics shows " + n + " partitions 10 s after createPartitions(5)");
                        Thread.sleep(200);
                    }
                } catch (InterruptedException | ExecutionException e) {
                    throw new RuntimeException(e);
                }
            });

            admin.deleteTopics(List.of(topic)).all().get();
            long deadline = System.currentTimeMillis() + 10000;
            while (admin.listTopics().names().get().contains(topic)) {
                check(System.currentTimeMillis() < deadline, "listTopics still lists " + topic + " 10 s after deleteTopics");
                Thread.sleep(200);
            }
            try {
                admin.describeTopics(List.of(topic)).allTopicNames().get();
                throw new Fail("describeTopics of the deleted topic succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof UnknownTopicOrPartitionException, "describe deleted topic: want UnknownTopicOrPartitionException, got " + describe(e));
            }
            try {
                admin.deleteTopics(List.of(topic)).all().get();
                throw new Fail("deleting the deleted topic again succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof UnknownTopicOrPartitionException, "delete twice: want UnknownTopicOrPartitionException, got " + describe(e));
            }
        }
        return "describeCluster, createTopics(3 partitions, 2 configs), list, describe, describeConfigs, createPartitions(5), delete";
    }

    // ------------------------------------------------------------------ 2 keyed produce, headers, timestamps

    static String s2() throws Exception {
        String topic = "java-keyed";
        int keys = 10, perKey = 8;
        try (Admin admin = admin()) { createTopic(admin, topic, 3); }
        long base = System.currentTimeMillis() - 3_600_000L;  // an hour ago: explicit, not "now"
        Random rnd = new Random(42);
        record Sent(String key, int seq, ProducerRecord<byte[], byte[]> rec, RecordMetadata md) {}
        List<Sent> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            List<Object[]> pending = new ArrayList<>();
            int n = 0;
            for (int seq = 0; seq < perKey; seq++) {
                for (int k = 0; k < keys; k++) {
                    String key = "key-" + k;
                    byte[] value;
                    if (k == 3 && seq == 2) value = null;                    // tombstone
                    else if (k == 4 && seq == 1) value = new byte[0];         // empty, not null
                    else {
                        value = new byte[1 + rnd.nextInt(300)];
                        rnd.nextBytes(value);                                 // arbitrary bytes incl. 0x00
                        value[0] = (byte) seq;
                    }
                    List<Header> hs = new ArrayList<>();
                    hs.add(new RecordHeader("seq", b(Integer.toString(seq))));
                    hs.add(new RecordHeader("bin", new byte[]{0, 1, (byte) 0xff, (byte) k}));
                    hs.add(new RecordHeader("empty", new byte[0]));
                    hs.add(new RecordHeader("null", null));
                    hs.add(new RecordHeader("dup", b("first")));
                    hs.add(new RecordHeader("dup", b("second")));
                    hs.add(new RecordHeader("ünï", b("ü✓")));
                    long ts = base + (n++) * 7L;
                    ProducerRecord<byte[], byte[]> rec = new ProducerRecord<>(topic, null, ts, b(key), value, hs);
                    pending.add(new Object[]{key, seq, rec, p.send(rec)});
                }
            }
            p.flush();
            for (Object[] o : pending) {
                @SuppressWarnings("unchecked") Future<RecordMetadata> f = (Future<RecordMetadata>) o[3];
                @SuppressWarnings("unchecked") ProducerRecord<byte[], byte[]> rec = (ProducerRecord<byte[], byte[]>) o[2];
                RecordMetadata md = f.get();
                check(md.timestamp() == rec.timestamp(), "RecordMetadata timestamp " + md.timestamp() + " for explicit " + rec.timestamp());
                sent.add(new Sent((String) o[0], (Integer) o[1], rec, md));
            }
        }
        Map<String, Sent> byPos = new HashMap<>();
        for (Sent x : sent) byPos.put(x.md.partition() + "/" + x.md.offset(), x);
        check(byPos.size() == sent.size(), "two records acknowledged at the same partition/offset");
        Set<Integer> usedParts = sent.stream().map(x -> x.md.partition()).collect(Collectors.toSet());
        check(usedParts.size() >= 2, "all keys went to partitions " + usedParts);

        List<ConsumerRecord<byte[], byte[]>> got;
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            c.assign(tps(topic, 3));
            c.seekToBeginning(tps(topic, 3));
            got = pollN(c, sent.size(), 20000, 500);
        }
        check(got.size() == sent.size(), "consumed " + got.size() + " records, produced " + sent.size());
        Map<String, List<Integer>> seqsByKey = new TreeMap<>();
        Map<String, Set<Integer>> partsByKey = new TreeMap<>();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            Sent x = byPos.get(r.partition() + "/" + r.offset());
            check(x != null, "consumed a record at " + r.partition() + "/" + r.offset() + " that was not produced there");
            String where = "record " + x.key + "#" + x.seq + " at " + r.partition() + "/" + r.offset();
            check(Arrays.equals(r.key(), x.rec.key()), where + ": key " + s(r.key()));
            check(Objects.deepEquals(r.value(), x.rec.value()),
                    where + ": value differs (" + (r.value() == null ? "null" : r.value().length + " bytes") + " vs " + (x.rec.value() == null ? "null" : x.rec.value().length + " bytes") + ")");
            check(r.timestamp() == x.rec.timestamp(), where + ": timestamp " + r.timestamp() + ", produced with " + x.rec.timestamp());
            check(r.timestampType() == org.apache.kafka.common.record.TimestampType.CREATE_TIME, where + ": timestamp type " + r.timestampType());
            Header[] hg = r.headers().toArray(), hw = x.rec.headers().toArray();
            check(hg.length == hw.length, where + ": " + hg.length + " headers, want " + hw.length);
            for (int i = 0; i < hw.length; i++) {
                check(hg[i].key().equals(hw[i].key()) && Objects.deepEquals(hg[i].value(), hw[i].value()),
                        where + ": header " + i + " " + hg[i].key() + "=" + Arrays.toString(hg[i].value()) + ", want " + hw[i].key() + "=" + Arrays.toString(hw[i].value()));
            }
            seqsByKey.computeIfAbsent(x.key, k -> new ArrayList<>()).add(x.seq);
            partsByKey.computeIfAbsent(x.key, k -> new TreeSet<>()).add(r.partition());
        }
        for (var e : seqsByKey.entrySet()) {
            check(partsByKey.get(e.getKey()).size() == 1, "key " + e.getKey() + " spread over partitions " + partsByKey.get(e.getKey()));
            check(e.getValue().equals(IntStream.range(0, perKey).boxed().collect(Collectors.toList())), "key " + e.getKey() + " consumed in order " + e.getValue());
        }
        return sent.size() + " keyed records (binary, empty and null values; 7 headers incl. null, empty, duplicate, unicode; explicit timestamps) over " + usedParts.size() + " partitions, byte-exact, per-key order";
    }

    // ------------------------------------------------------------------ 3 compression

    static String s3() throws Exception {
        String[] codecs = {"gzip", "snappy", "lz4", "zstd"};
        int[] ids = {1, 2, 3, 4};
        int n = 200;
        List<String> ok = new ArrayList<>();
        for (int ci = 0; ci < codecs.length; ci++) {
            String codec = codecs[ci];
            int id = ids[ci];
            soft(codec, () -> {
                try {
                    String topic = "java-comp-" + codec;
                    List<ProducerRecord<byte[], byte[]>> recs = new ArrayList<>();
                    try (KafkaProducer<byte[], byte[]> p = producer("compression.type", codec, "linger.ms", "50", "batch.size", "65536")) {
                        List<Future<RecordMetadata>> fs = new ArrayList<>();
                        for (int i = 0; i < n; i++) {
                            String v = codec + " payload " + i + " " + "abcdefghij".repeat(i % 13 + 1);
                            ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, 0, b(codec + "-" + i), b(v),
                                    List.of(new RecordHeader("codec", b(codec))));
                            recs.add(r);
                            fs.add(p.send(r));
                        }
                        p.flush();
                        for (int i = 0; i < n; i++) check(fs.get(i).get().offset() == i, "record " + i + " acknowledged at offset " + fs.get(i).get().offset());
                    }
                    List<ConsumerRecord<byte[], byte[]>> got;
                    try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                        TopicPartition tp = new TopicPartition(topic, 0);
                        c.assign(List.of(tp));
                        c.seek(tp, 0);
                        got = pollN(c, n, 20000, 0);
                        check(got.size() == n, "consumed " + got.size() + " of " + n);
                        for (int i = 0; i < n; i++) {
                            ConsumerRecord<byte[], byte[]> r = got.get(i);
                            check(r.offset() == i && Arrays.equals(r.key(), recs.get(i).key()) && Arrays.equals(r.value(), recs.get(i).value())
                                    && Arrays.equals(r.headers().lastHeader("codec").value(), b(codec)), "record " + i + " differs (offset " + r.offset() + ")");
                        }
                        // Fetch starting inside a compressed batch: the client skips the records before it.
                        c.seek(tp, 137);
                        List<ConsumerRecord<byte[], byte[]>> mid = pollN(c, 3, 10000, 0);
                        check(!mid.isEmpty() && mid.get(0).offset() == 137 && Arrays.equals(mid.get(0).value(), recs.get(137).value()),
                                "seek(137) inside a batch: first record " + (mid.isEmpty() ? "none" : "offset " + mid.get(0).offset()));
                    }
                    List<Batch> batches = diskBatches(topic, 0);
                    if (batches != null) {
                        check(!batches.isEmpty(), "no batches on disk");
                        for (Batch bt : batches) check(bt.codec() == id, "stored batch at offset " + bt.baseOffset + " has codec " + bt.codec() + ", want " + id + " (" + codec + ")");
                        check(batches.size() < n, "each record in its own batch (" + batches.size() + " batches)");
                    }
                    ok.add(codec);
                } catch (InterruptedException | ExecutionException | IOException e) {
                    throw new RuntimeException(e);
                }
            });
        }
        return String.join(", ", ok) + ": " + n + " records each byte-exact, stored compressed, fetch inside a compressed batch";
    }

    // ------------------------------------------------------------------ 4 consumer group, commit, restart, resume

    static final String GROUP_TOPIC = "java-group", GROUP = "java-group-g";

    static KafkaConsumer<byte[], byte[]> groupConsumer(String instance) {
        return consumer("group.id", GROUP, "client.id", "java-" + instance, "session.timeout.ms", "10000",
                "heartbeat.interval.ms", "1000", "max.poll.interval.ms", "30000");
    }

    static String s4a() throws Exception {
        try (Admin admin = admin()) { createTopic(admin, GROUP_TOPIC, 4); }
        try (KafkaConsumer<byte[], byte[]> c1 = groupConsumer("c1"); KafkaConsumer<byte[], byte[]> c2 = groupConsumer("c2")) {
            c1.subscribe(List.of(GROUP_TOPIC));
            c2.subscribe(List.of(GROUP_TOPIC));
            // Both members join before anything is produced, so no record is read before the split.
            long deadline = System.currentTimeMillis() + 30000;
            while (true) {
                c1.poll(Duration.ofMillis(100));
                c2.poll(Duration.ofMillis(100));
                if (!c1.assignment().isEmpty() && !c2.assignment().isEmpty() && c1.assignment().size() + c2.assignment().size() == 4) break;
                check(System.currentTimeMillis() < deadline, "no 2-way split within 30 s: c1 " + c1.assignment() + ", c2 " + c2.assignment());
            }
            Set<TopicPartition> a1 = new HashSet<>(c1.assignment()), a2 = new HashSet<>(c2.assignment());
            check(a1.size() == 2 && a2.size() == 2 && Collections.disjoint(a1, a2), "assignment c1 " + a1 + ", c2 " + a2);
            Map<String, Integer> sentAt = new HashMap<>();
            try (KafkaProducer<byte[], byte[]> p = producer()) {
                for (int i = 0; i < 40; i++) p.send(new ProducerRecord<>(GROUP_TOPIC, i % 4, b("k" + i), b("a-" + i)));
                p.flush();
            }
            Map<String, String> seen = new HashMap<>();  // partition/offset -> value
            List<String> dups = new ArrayList<>();
            deadline = System.currentTimeMillis() + 30000;
            long extraUntil = Long.MAX_VALUE;
            while (System.currentTimeMillis() < Math.min(deadline, extraUntil)) {
                for (var pair : List.of(Map.entry(c1, a1), Map.entry(c2, a2))) {
                    for (ConsumerRecord<byte[], byte[]> r : pair.getKey().poll(Duration.ofMillis(100))) {
                        check(pair.getValue().contains(new TopicPartition(r.topic(), r.partition())),
                                "a consumer got a record of partition " + r.partition() + " it is not assigned");
                        if (seen.put(r.partition() + "/" + r.offset(), s(r.value())) != null) dups.add(r.partition() + "/" + r.offset());
                    }
                }
                if (seen.size() >= 40 && extraUntil == Long.MAX_VALUE) extraUntil = System.currentTimeMillis() + 1000;
            }
            check(seen.size() == 40, "group consumed " + seen.size() + " distinct records of 40");
            check(dups.isEmpty(), "records delivered twice: " + dups);
            Set<String> values = new HashSet<>(seen.values());
            for (int i = 0; i < 40; i++) check(values.contains("a-" + i), "a-" + i + " not consumed");
            check(c1.assignment().equals(a1) && c2.assignment().equals(a2), "assignment changed while consuming");
            c1.commitSync();
            c2.commitSync();
            Map<TopicPartition, OffsetAndMetadata> committed = c1.committed(new HashSet<>(tps(GROUP_TOPIC, 4)));
            for (TopicPartition tp : tps(GROUP_TOPIC, 4)) {
                OffsetAndMetadata om = committed.get(tp);
                check(om != null && om.offset() == 10, "committed offset of " + tp + ": " + om + ", want 10");
            }
        }
        try (Admin admin = admin()) {
            ConsumerGroupDescription g = admin.describeConsumerGroups(List.of(GROUP)).all().get().get(GROUP);
            check(g.members().isEmpty(), "group still has members after both closed: " + g.members());
        }
        return "2 members got 2+2 of 4 partitions, 40 records once each, committed 10 per partition";
    }

    static String s4b() throws Exception {
        try (KafkaConsumer<byte[], byte[]> c = groupConsumer("c3")) {
            Map<TopicPartition, OffsetAndMetadata> committed = c.committed(new HashSet<>(tps(GROUP_TOPIC, 4)));
            for (TopicPartition tp : tps(GROUP_TOPIC, 4)) {
                OffsetAndMetadata om = committed.get(tp);
                check(om != null && om.offset() == 10, "after restart: committed offset of " + tp + ": " + om + ", want 10");
            }
            try (KafkaProducer<byte[], byte[]> p = producer()) {
                for (int i = 0; i < 20; i++) p.send(new ProducerRecord<>(GROUP_TOPIC, i % 4, b("k" + i), b("b-" + i)));
                p.flush();
            }
            c.subscribe(List.of(GROUP_TOPIC));
            List<ConsumerRecord<byte[], byte[]>> got = pollN(c, 20, 30000, 1000);
            List<String> vals = got.stream().map(r -> s(r.value())).sorted().collect(Collectors.toList());
            List<String> want = IntStream.range(0, 20).mapToObj(i -> "b-" + i).sorted().collect(Collectors.toList());
            check(vals.equals(want), "after restart the group resumed with " + vals + ", want exactly b-0..b-19");
            for (ConsumerRecord<byte[], byte[]> r : got) check(r.offset() >= 10 && r.offset() < 15, "resumed record at offset " + r.offset());
            check(c.assignment().size() == 4, "single member assigned " + c.assignment());
            c.commitSync();
            committed = c.committed(new HashSet<>(tps(GROUP_TOPIC, 4)));
            for (TopicPartition tp : tps(GROUP_TOPIC, 4)) check(committed.get(tp).offset() == 15, "committed after resume " + committed);
        }
        return "after broker restart: committed offsets kept, resumed with exactly the 20 new records, committed 15";
    }

    // ------------------------------------------------------------------ 5 seek, offsets for times, lag

    static String s5() throws Exception {
        String topic = "java-seek", group = "java-seek-g";
        TopicPartition tp = new TopicPartition(topic, 0);
        long t0 = (System.currentTimeMillis() / 1000) * 1000 - 600_000;
        try (Admin admin = admin()) {
            createTopic(admin, topic, 1);
            try (KafkaProducer<byte[], byte[]> p = producer()) {
                for (int i = 0; i < 10; i++) p.send(new ProducerRecord<>(topic, 0, t0 + i * 1000L, b("k" + i), b("v" + i)));
                p.flush();
            }
            try (KafkaConsumer<byte[], byte[]> c = consumer("group.id", group, "max.poll.records", "3")) {
                c.assign(List.of(tp));
                check(c.beginningOffsets(List.of(tp)).get(tp) == 0, "beginningOffsets " + c.beginningOffsets(List.of(tp)));
                check(c.endOffsets(List.of(tp)).get(tp) == 10, "endOffsets " + c.endOffsets(List.of(tp)));
                c.seek(tp, 5);
                List<ConsumerRecord<byte[], byte[]>> r = pollN(c, 1, 10000, 0);
                check(!r.isEmpty() && r.get(0).offset() == 5 && "v5".equals(s(r.get(0).value())), "seek(5): first record " + (r.isEmpty() ? "none" : r.get(0).offset()));
                c.seekToBeginning(List.of(tp));
                check(c.position(tp) == 0, "seekToBeginning: position " + c.position(tp));
                c.seekToEnd(List.of(tp));
                check(c.position(tp) == 10, "seekToEnd: position " + c.position(tp));

                Map<TopicPartition, OffsetAndTimestamp> ft = c.offsetsForTimes(Map.of(tp, t0 + 3500));
                check(ft.get(tp) != null && ft.get(tp).offset() == 4 && ft.get(tp).timestamp() == t0 + 4000, "offsetsForTimes(t0+3500): " + ft.get(tp) + ", want offset 4 at t0+4000");
                ft = c.offsetsForTimes(Map.of(tp, t0 + 4000));
                check(ft.get(tp) != null && ft.get(tp).offset() == 4, "offsetsForTimes(t0+4000): " + ft.get(tp));
                ft = c.offsetsForTimes(Map.of(tp, 0L));
                check(ft.get(tp) != null && ft.get(tp).offset() == 0 && ft.get(tp).timestamp() == t0, "offsetsForTimes(0): " + ft.get(tp));
                ft = c.offsetsForTimes(Map.of(tp, t0 + 3_600_000));
                check(ft.get(tp) == null, "offsetsForTimes(after the last record): " + ft.get(tp) + ", want null");

                // Lag from the fetch position: read 2..4 (max.poll.records 3), then lag = 10 - 5.
                c.seek(tp, 2);
                r = pollN(c, 1, 10000, 0);
                check(r.size() == 3 && r.get(0).offset() == 2, "seek(2) then poll: " + r.size() + " records from " + (r.isEmpty() ? "-" : r.get(0).offset()));
                OptionalLong lag = c.currentLag(tp);
                check(lag.isPresent() && lag.getAsLong() == 5, "currentLag after reading 2..4: " + lag + ", want 5");
                c.commitSync(Map.of(tp, new OffsetAndMetadata(6, "meta-data")));
                OffsetAndMetadata om = c.committed(Set.of(tp)).get(tp);
                check(om != null && om.offset() == 6 && "meta-data".equals(om.metadata()), "committed: " + om);
            }
            // Consumer-group lag the way tools compute it: end offset - committed offset.
            Map<TopicPartition, OffsetAndMetadata> gofs = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            long end = admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get().offset();
            check(gofs.get(tp) != null && end - gofs.get(tp).offset() == 4, "group lag: end " + end + " - committed " + gofs.get(tp) + ", want 4");
            long earliest = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get().offset();
            check(earliest == 0, "admin listOffsets earliest " + earliest);
            ListOffsetsResult.ListOffsetsResultInfo at = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(t0 + 6500))).partitionResult(tp).get();
            check(at.offset() == 7 && at.timestamp() == t0 + 7000, "admin listOffsets forTimestamp(t0+6500): " + at);
            soft("admin listOffsets maxTimestamp (ListOffsets v7)", () -> {
                try {
                    ListOffsetsResult.ListOffsetsResultInfo mx = admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp).get();
                    check(mx.offset() == 9 && mx.timestamp() == t0 + 9000, "maxTimestamp: " + mx + ", want offset 9 at t0+9000");
                } catch (InterruptedException | ExecutionException e) {
                    throw new RuntimeException(e);
                }
            });
        }
        return "seek, seekToBeginning/End, begin/endOffsets, offsetsForTimes (exact, between, before, after), currentLag, committed lag via Admin, listOffsets";
    }

    // ------------------------------------------------------------------ 6 idempotent producer

    static String s6() throws Exception {
        String topic = "java-idem";
        try (Admin admin = admin()) { createTopic(admin, topic, 2); }
        int n1 = 600, n2 = 100;
        List<List<String>> want = List.of(new ArrayList<>(), new ArrayList<>());
        // Many small batches with 5 in flight: sequence numbers must line up on the broker.
        for (int round = 0; round < 2; round++) {
            int n = round == 0 ? n1 : n2;
            try (KafkaProducer<byte[], byte[]> p = producer("enable.idempotence", "true", "acks", "all",
                    "max.in.flight.requests.per.connection", "5", "batch.size", "1024", "linger.ms", "0")) {
                List<Future<RecordMetadata>> fs = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    String v = "idem-" + round + "-" + i + "-" + "x".repeat(40);
                    want.get(i % 2).add(v);
                    fs.add(p.send(new ProducerRecord<>(topic, i % 2, b("k" + i), b(v))));
                }
                p.flush();
                for (Future<RecordMetadata> f : fs) f.get();
            }
        }
        for (int part = 0; part < 2; part++) {
            TopicPartition tp = new TopicPartition(topic, part);
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                c.assign(List.of(tp));
                c.seek(tp, 0);
                List<ConsumerRecord<byte[], byte[]>> got = pollN(c, want.get(part).size(), 20000, 300);
                List<String> vals = got.stream().map(r -> s(r.value())).collect(Collectors.toList());
                check(vals.equals(want.get(part)), "partition " + part + ": consumed " + vals.size() + " records, want exactly " + want.get(part).size() + " in send order");
                for (int i = 0; i < got.size(); i++) check(got.get(i).offset() == i, "partition " + part + ": offset gap at " + i);
            }
            List<Batch> batches = diskBatches(topic, part);
            if (batches != null) {
                // Two producers: two producer ids, each with sequences 0.. contiguous over its batches.
                Map<Long, Integer> nextSeq = new LinkedHashMap<>();
                for (Batch bt : batches) {
                    check(bt.producerId >= 0, "partition " + part + ": stored batch at " + bt.baseOffset + " has producer id " + bt.producerId + " (not idempotent)");
                    int expect = nextSeq.getOrDefault(bt.producerId, 0);
                    check(bt.baseSequence == expect, "partition " + part + ": batch at " + bt.baseOffset + " of producer " + bt.producerId + " has sequence " + bt.baseSequence + ", want " + expect);
                    nextSeq.put(bt.producerId, expect + bt.lastOffsetDelta + 1);
                }
                check(nextSeq.size() == 2, "partition " + part + ": producer ids " + nextSeq.keySet() + ", want 2 (one per producer)");
            }
        }
        return (n1 + n2) + " records from 2 idempotent producers (5 in flight, small batches), exactly once in order; stored with producer ids and contiguous sequences";
    }

    // ------------------------------------------------------------------ 7 transactions

    static String s7() throws Exception {
        String topic = "java-txn";
        try (Admin admin = admin()) { createTopic(admin, topic, 1); }
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<byte[], byte[]> p = producer("transactional.id", "java-txn-1", "transaction.timeout.ms", "10000")) {
            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < 5; i++) p.send(new ProducerRecord<>(topic, 0, b("c" + i), b("committed-" + i)));
            p.commitTransaction();
            p.beginTransaction();
            for (int i = 0; i < 5; i++) p.send(new ProducerRecord<>(topic, 0, b("a" + i), b("aborted-" + i)));
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, b("c5"), b("committed-5")));
            p.commitTransaction();
        }
        List<String> wantCommitted = IntStream.range(0, 6).mapToObj(i -> "committed-" + i).collect(Collectors.toList());
        try (KafkaConsumer<byte[], byte[]> c = consumer("isolation.level", "read_committed")) {
            c.assign(List.of(tp));
            c.seek(tp, 0);
            List<String> vals = pollN(c, 6, 20000, 500).stream().map(r -> s(r.value())).collect(Collectors.toList());
            check(vals.equals(wantCommitted), "read_committed got " + vals);
            check(c.position(tp) == c.endOffsets(List.of(tp)).get(tp), "read_committed position " + c.position(tp) + " != end offset (LSO)");
        }
        try (KafkaConsumer<byte[], byte[]> c = consumer("isolation.level", "read_uncommitted")) {
            c.assign(List.of(tp));
            c.seek(tp, 0);
            List<String> vals = pollN(c, 11, 20000, 500).stream().map(r -> s(r.value())).collect(Collectors.toList());
            check(vals.size() == 11, "read_uncommitted got " + vals.size() + " records, want 11 (6 committed + 5 aborted)");
        }
        // An open transaction holds read_committed consumers at the LSO; offsets sent to the
        // transaction become the group's committed offsets when it commits.
        soft("open transaction + sendOffsetsToTransaction", () -> {
            try (KafkaProducer<byte[], byte[]> p = producer("transactional.id", "java-txn-2", "transaction.timeout.ms", "10000")) {
                p.initTransactions();
                p.beginTransaction();
                Future<RecordMetadata> first = p.send(new ProducerRecord<>(topic, 0, b("o0"), b("open-0")));
                p.send(new ProducerRecord<>(topic, 0, b("o1"), b("open-1")));
                p.flush();
                long firstOpen = first.get().offset();
                try (KafkaConsumer<byte[], byte[]> c = consumer("isolation.level", "read_committed")) {
                    c.assign(List.of(tp));
                    long lso = c.endOffsets(List.of(tp)).get(tp);
                    check(lso == firstOpen, "read_committed end offset (LSO) " + lso + " with a transaction open from offset " + firstOpen);
                    c.seek(tp, 0);
                    List<String> vals = pollN(c, 7, 1500, 0).stream().map(r -> s(r.value())).collect(Collectors.toList());
                    check(vals.equals(wantCommitted), "read_committed with a transaction open got " + vals);
                }
                p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(3)), new ConsumerGroupMetadata("java-txn-g"));
                p.commitTransaction();
                try (KafkaConsumer<byte[], byte[]> c = consumer("isolation.level", "read_committed")) {
                    c.assign(List.of(tp));
                    c.seek(tp, firstOpen);
                    List<String> vals = pollN(c, 2, 10000, 300).stream().map(r -> s(r.value())).collect(Collectors.toList());
                    check(vals.equals(List.of("open-0", "open-1")), "read_committed after the commit got " + vals);
                }
                try (Admin admin = admin()) {
                    OffsetAndMetadata om = admin.listConsumerGroupOffsets("java-txn-g").partitionsToOffsetAndMetadata().get().get(tp);
                    check(om != null && om.offset() == 3, "group offset committed by the transaction: " + om + ", want 3");
                }
            } catch (InterruptedException | ExecutionException e) {
                throw new RuntimeException(e);
            }
        });
        // A second producer with the same transactional.id fences the first.
        soft("fencing", () -> {
            try (KafkaProducer<byte[], byte[]> p1 = producer("transactional.id", "java-txn-3");
                 KafkaProducer<byte[], byte[]> p2 = producer("transactional.id", "java-txn-3")) {
                p1.initTransactions();
                p2.initTransactions();
                try {
                    p1.beginTransaction();
                    p1.send(new ProducerRecord<>(topic, 0, b("z"), b("zombie"))).get();
                    p1.commitTransaction();
                    throw new Fail("the fenced producer committed a transaction");
                } catch (ExecutionException | KafkaException e) {
                    String d = describe(e);
                    check(d.contains("Fenced") || d.contains("InvalidProducerEpoch"), "fenced producer: " + d);
                }
            } catch (InterruptedException e) {
                throw new RuntimeException(e);
            }
        });
        return "commit, abort, commit; read_committed sees only the committed records, read_uncommitted all; LSO under an open transaction; sendOffsetsToTransaction; fencing";
    }

    // ------------------------------------------------------------------ 8 error paths (auto-create off)

    static String s8() throws Exception {
        String missing = "java-missing", topic = "java-oor";
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = admin()) {
            try {
                admin.describeTopics(List.of(missing)).allTopicNames().get();
                throw new Fail("describeTopics(" + missing + ") succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof UnknownTopicOrPartitionException, "describeTopics(missing): " + describe(e));
            }
            try (KafkaProducer<byte[], byte[]> p = producer("max.block.ms", "3000")) {
                try {
                    p.send(new ProducerRecord<>(missing, b("k"), b("v"))).get();
                    throw new Fail("producing to " + missing + " with auto-create off succeeded");
                } catch (ExecutionException | KafkaException e) {
                    Throwable c = e instanceof ExecutionException ? e.getCause() : e;
                    check(c instanceof org.apache.kafka.common.errors.TimeoutException || c instanceof UnknownTopicOrPartitionException,
                            "produce to missing topic: " + describe(e));
                    log("produce to missing topic failed as expected: " + describe(e));
                }
            }
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                List<PartitionInfo> pi = c.partitionsFor(missing);
                check(pi == null || pi.isEmpty(), "partitionsFor(missing): " + pi);
            }
            check(!admin.listTopics().names().get().contains(missing), missing + " was auto-created although auto.create.topics.enable=false");

            createTopic(admin, topic, 1);
            try (KafkaProducer<byte[], byte[]> p = producer()) {
                for (int i = 0; i < 5; i++) p.send(new ProducerRecord<>(topic, 0, b("k" + i), b("v" + i)));
                p.flush();
            }
        }
        // earliest: offset 100 of a 5-record partition -> back to 0.
        try (KafkaConsumer<byte[], byte[]> c = consumer("auto.offset.reset", "earliest")) {
            c.assign(List.of(tp));
            c.seek(tp, 100);
            List<ConsumerRecord<byte[], byte[]>> r = pollN(c, 5, 10000, 0);
            check(r.size() == 5 && r.get(0).offset() == 0, "reset=earliest after seek(100): " + r.size() + " records from " + (r.isEmpty() ? "-" : r.get(0).offset()));
        }
        // latest: -> 5, nothing read until a new record arrives.
        try (KafkaConsumer<byte[], byte[]> c = consumer("auto.offset.reset", "latest")) {
            c.assign(List.of(tp));
            c.seek(tp, 100);
            List<ConsumerRecord<byte[], byte[]>> r = pollN(c, 1, 1500, 0);
            check(r.isEmpty(), "reset=latest after seek(100) returned " + r.size() + " records");
            check(c.position(tp) == 5, "reset=latest: position " + c.position(tp) + ", want 5");
            try (KafkaProducer<byte[], byte[]> p = producer()) {
                p.send(new ProducerRecord<>(topic, 0, b("k5"), b("v5"))).get();
            }
            r = pollN(c, 1, 10000, 0);
            check(r.size() == 1 && r.get(0).offset() == 5 && "v5".equals(s(r.get(0).value())), "reset=latest then a new record: " + r.size() + " records");
        }
        // none: the consumer raises OffsetOutOfRangeException.
        try (KafkaConsumer<byte[], byte[]> c = consumer("auto.offset.reset", "none")) {
            c.assign(List.of(tp));
            c.seek(tp, 100);
            try {
                pollN(c, 1, 5000, 0);
                throw new Fail("reset=none after seek(100): no OffsetOutOfRangeException within 5 s");
            } catch (org.apache.kafka.clients.consumer.OffsetOutOfRangeException e) {
                check(Long.valueOf(100).equals(e.offsetOutOfRangePartitions().get(tp)), "OffsetOutOfRangeException partitions " + e.offsetOutOfRangePartitions());
            }
        }
        return "unknown topic (describe, produce, partitionsFor; not auto-created); offset out of range with reset earliest, latest, none";
    }

    // ------------------------------------------------------------------ main

    public static void main(String[] args) {
        String scenario = args[0];
        bootstrap = args[1];
        String status = "pass", detail;
        try {
            detail = switch (scenario) {
                case "1" -> s1();
                case "2" -> s2();
                case "3" -> s3();
                case "4a" -> s4a();
                case "4b" -> s4b();
                case "5" -> s5();
                case "6" -> s6();
                case "7" -> s7();
                case "8" -> s8();
                default -> throw new IllegalArgumentException("unknown scenario " + scenario);
            };
            if (!problems.isEmpty()) {
                status = "fail";
                detail = String.join("; ", problems);
            }
        } catch (Unsupported u) {
            status = "unsupported";
            detail = u.getMessage();
        } catch (Throwable t) {
            t.printStackTrace();
            status = "fail";
            List<String> all = new ArrayList<>(problems);
            all.add(describe(t));
            detail = String.join("; ", all);
        }
        System.out.println(status + "\t" + detail.replaceAll("[\\t\\r\\n]+", " "));
        System.out.flush();
        // Client threads (e.g. a producer stuck in close) must not keep the JVM alive.
        Runtime.getRuntime().halt(0);
    }
}
