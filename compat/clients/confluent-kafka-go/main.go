// Compat scenarios for confluent-kafka-go, Debian's golang-github-confluentinc-confluent-kafka-go-dev
// 0.11.6 (the Go binding; its API has no transactions), on Debian's librdkafka 2.0.2 (cgo). librdkafka
// negotiates versions with ApiVersions and picks the newest it knows.
package main

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/kafka"
)

func conf(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := kafka.ConfigMap{
		"bootstrap.servers":        bootstrap,
		"client.id":                "odradek-compat-confluent-kafka-go",
		"socket.timeout.ms":        10000,
		"reconnect.backoff.max.ms": 500,
	}
	for k, v := range extra {
		cm[k] = v
	}
	return &cm
}

func producer(extra kafka.ConfigMap) *kafka.Producer {
	cm := conf(kafka.ConfigMap{"acks": "all", "linger.ms": 5, "message.timeout.ms": 30000})
	for k, v := range extra {
		(*cm)[k] = v
	}
	p, err := kafka.NewProducer(cm)
	must(err, "NewProducer")
	go func() {
		for e := range p.Events() {
			logf("producer event: %v", e)
		}
	}()
	return p
}

// produceAll produces msgs and waits for every delivery report; returns them in input order.
func produceAll(p *kafka.Producer, msgs []*kafka.Message) []*kafka.Message {
	dc := make(chan kafka.Event, len(msgs))
	for i, m := range msgs {
		m.Opaque = i
		must(p.Produce(m, dc), "Produce")
	}
	out := make([]*kafka.Message, len(msgs))
	timeout := time.After(40 * time.Second)
	for n := 0; n < len(msgs); n++ {
		select {
		case e := <-dc:
			m, ok := e.(*kafka.Message)
			check(ok, "unexpected delivery event %v", e)
			must(m.TopicPartition.Error, "delivery of record %v", m.Opaque)
			out[m.Opaque.(int)] = m
		case <-timeout:
			check(false, "%d of %d delivery reports within 40 s", n, len(msgs))
		}
	}
	return out
}

func consumer(extra kafka.ConfigMap) *kafka.Consumer {
	cm := conf(kafka.ConfigMap{"group.id": "ckg-assign-only", "enable.auto.commit": false, "auto.offset.reset": "earliest",
		"enable.partition.eof": false, "fetch.wait.max.ms": 100})
	for k, v := range extra {
		(*cm)[k] = v
	}
	c, err := kafka.NewConsumer(cm)
	must(err, "NewConsumer")
	return c
}

// poll collects n messages (then polls `extra` more); consumer errors end the scenario unless onErr is set.
func poll(c *kafka.Consumer, n int, timeout, extra time.Duration) []*kafka.Message {
	var out []*kafka.Message
	deadline := time.Now().Add(timeout)
	var end time.Time
	for time.Now().Before(deadline) && (end.IsZero() || time.Now().Before(end)) {
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			must(e.TopicPartition.Error, "consumer message error")
			out = append(out, e)
			if len(out) == n {
				end = time.Now().Add(extra)
			}
		case kafka.Error:
			logf("consumer error event: %v", e)
			check(false, "consumer error: %v", e)
		case nil:
		default:
			logf("consumer event: %v", e)
		}
	}
	return out
}

func tp(topic string, p int32, off kafka.Offset) kafka.TopicPartition {
	return kafka.TopicPartition{Topic: &topic, Partition: p, Offset: off}
}

func admin() *kafka.AdminClient {
	a, err := kafka.NewAdminClient(conf(nil))
	must(err, "NewAdminClient")
	return a
}

func createTopic(a *kafka.AdminClient, topic string, partitions int) {
	res, err := a.CreateTopics(ctxT(15*time.Second), []kafka.TopicSpecification{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}, kafka.SetAdminOperationTimeout(10*time.Second))
	must(err, "CreateTopics")
	check(res[0].Error.Code() == kafka.ErrNoError, "CreateTopics %s: %v", topic, res[0].Error)
}

func ctxT(d time.Duration) context.Context {
	ctx, _ := context.WithTimeout(context.Background(), d)
	return ctx
}

func ms(t int64) time.Time { return time.Unix(0, t*int64(time.Millisecond)) }

func toMs(t time.Time) int64 { return t.UnixNano() / int64(time.Millisecond) }

func allTopics(a *kafka.AdminClient) map[string]kafka.TopicMetadata {
	md, err := a.GetMetadata(nil, true, 10000)
	must(err, "GetMetadata(all)")
	return md.Topics
}

// ------------------------------------------------------------------ 1 admin

func s1() string {
	topic := "ckg-admin"
	a := admin()
	defer a.Close()
	md, err := a.GetMetadata(nil, true, 10000)
	must(err, "GetMetadata")
	check(len(md.Brokers) == 1 && md.Brokers[0].ID == 0 && fmt.Sprintf("%s:%d", md.Brokers[0].Host, md.Brokers[0].Port) == bootstrap, "brokers %+v", md.Brokers)

	res, err := a.CreateTopics(ctxT(15*time.Second), []kafka.TopicSpecification{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
		Config: map[string]string{"retention.ms": "3600000", "max.message.bytes": "500000"}}}, kafka.SetAdminOperationTimeout(10*time.Second))
	must(err, "CreateTopics")
	check(res[0].Error.Code() == kafka.ErrNoError, "CreateTopics: %v", res[0].Error)
	res, err = a.CreateTopics(ctxT(15*time.Second), []kafka.TopicSpecification{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}})
	must(err, "CreateTopics (again)")
	check(res[0].Error.Code() == kafka.ErrTopicAlreadyExists, "second CreateTopics: want TOPIC_ALREADY_EXISTS, got %v", res[0].Error)

	t, ok := allTopics(a)[topic]
	check(ok, "metadata (all topics) does not list %s", topic)
	check(t.Error.Code() == kafka.ErrNoError && len(t.Partitions) == 3, "topic metadata: %v, %d partitions", t.Error, len(t.Partitions))
	ids := []int{}
	for _, p := range t.Partitions {
		ids = append(ids, int(p.ID))
		check(p.Leader == 0 && fmt.Sprint(p.Replicas) == "[0]" && fmt.Sprint(p.Isrs) == "[0]" && p.Error.Code() == kafka.ErrNoError,
			"partition %d: leader %d replicas %v isrs %v err %v", p.ID, p.Leader, p.Replicas, p.Isrs, p.Error)
	}
	sort.Ints(ids)
	check(fmt.Sprint(ids) == "[0 1 2]", "partition ids %v", ids)

	soft("DescribeConfigs(topic)", func() {
		cr, err := a.DescribeConfigs(ctxT(15*time.Second), []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
		must(err, "DescribeConfigs")
		check(len(cr) == 1 && cr[0].Error.Code() == kafka.ErrNoError, "DescribeConfigs: %v", cr)
		r := cr[0].Config["retention.ms"]
		check(r.Value == "3600000" && r.Source == kafka.ConfigSourceDynamicTopic, "retention.ms %q source %v", r.Value, r.Source)
		m := cr[0].Config["max.message.bytes"]
		check(m.Value == "500000", "max.message.bytes %q", m.Value)
		cp := cr[0].Config["cleanup.policy"]
		check(cp.Value == "delete" && cp.Source == kafka.ConfigSourceDefault, "cleanup.policy %q source %v", cp.Value, cp.Source)
	})

	soft("CreatePartitions(5)", func() {
		pr, err := a.CreatePartitions(ctxT(15*time.Second), []kafka.PartitionsSpecification{{Topic: topic, IncreaseTo: 5}}, kafka.SetAdminOperationTimeout(10*time.Second))
		must(err, "CreatePartitions")
		check(len(pr) == 1 && pr[0].Error.Code() == kafka.ErrNoError, "CreatePartitions: %v", pr)
		deadline := time.Now().Add(10 * time.Second)
		for len(allTopics(a)[topic].Partitions) != 5 {
			check(time.Now().Before(deadline), "metadata shows %d partitions 10 s after CreatePartitions(5)", len(allTopics(a)[topic].Partitions))
			time.Sleep(200 * time.Millisecond)
		}
	})

	res, err = a.DeleteTopics(ctxT(15*time.Second), []string{topic}, kafka.SetAdminOperationTimeout(10*time.Second))
	must(err, "DeleteTopics")
	check(res[0].Error.Code() == kafka.ErrNoError, "DeleteTopics: %v", res[0].Error)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := allTopics(a)[topic]; !ok {
			break
		}
		check(time.Now().Before(deadline), "metadata still lists %s 10 s after DeleteTopics", topic)
		time.Sleep(200 * time.Millisecond)
	}
	res, err = a.DeleteTopics(ctxT(15*time.Second), []string{topic})
	must(err, "DeleteTopics (again)")
	check(res[0].Error.Code() == kafka.ErrUnknownTopicOrPart, "second DeleteTopics: want UNKNOWN_TOPIC_OR_PART, got %v", res[0].Error)
	return "metadata, CreateTopics (3 partitions, 2 configs), TOPIC_ALREADY_EXISTS, list, describe, DescribeConfigs, CreatePartitions(5), DeleteTopics"
}

// ------------------------------------------------------------------ 2 keyed produce

func s2() string {
	topic := "ckg-keyed"
	keys, perKey := 10, 8
	a := admin()
	createTopic(a, topic, 3)
	a.Close()
	rnd := rand.New(rand.NewSource(42))
	base := toMs(time.Now()) - 3600000
	type meta struct {
		key string
		seq int
	}
	var msgs []*kafka.Message
	var metas []meta
	n := 0
	for seq := 0; seq < perKey; seq++ {
		for k := 0; k < keys; k++ {
			key := fmt.Sprintf("key-%d", k)
			var value []byte
			switch {
			case k == 3 && seq == 2:
				value = nil
			case k == 4 && seq == 1:
				value = []byte{}
			default:
				value = make([]byte, 1+rnd.Intn(300))
				rnd.Read(value)
				value[0] = byte(seq)
			}
			// No empty header value: this binding turns an empty value into a null one when producing.
			hdrs := []kafka.Header{
				{Key: "seq", Value: []byte(fmt.Sprint(seq))},
				{Key: "bin", Value: []byte{0, 1, 0xff, byte(k)}},
				{Key: "null", Value: nil},
				{Key: "dup", Value: []byte("first")},
				{Key: "dup", Value: []byte("second")},
				{Key: "ünï", Value: []byte("ü✓")},
			}
			ts := base + int64(n)*7
			n++
			msgs = append(msgs, &kafka.Message{TopicPartition: tp(topic, kafka.PartitionAny, 0), Key: []byte(key), Value: value, Headers: hdrs, Timestamp: ms(ts)})
			metas = append(metas, meta{key, seq})
		}
	}
	p := producer(nil)
	dr := produceAll(p, msgs)
	p.Close()
	byPos := map[string]int{}
	perPart := map[int32]int{}
	for i, m := range dr {
		byPos[fmt.Sprintf("%d/%d", m.TopicPartition.Partition, m.TopicPartition.Offset)] = i
		perPart[m.TopicPartition.Partition]++
	}
	check(len(byPos) == len(msgs), "two records acknowledged at the same partition/offset")
	check(len(perPart) >= 2, "all keys went to partitions %v", perPart)

	c := consumer(nil)
	defer c.Close()
	must(c.Assign([]kafka.TopicPartition{tp(topic, 0, kafka.OffsetBeginning), tp(topic, 1, kafka.OffsetBeginning), tp(topic, 2, kafka.OffsetBeginning)}), "Assign")
	got := poll(c, len(msgs), 20*time.Second, 500*time.Millisecond)
	check(len(got) == len(msgs), "consumed %d records, produced %d", len(got), len(msgs))
	seqs := map[string][]int{}
	parts := map[string]map[int32]bool{}
	sort.SliceStable(got, func(i, j int) bool { return got[i].TopicPartition.Offset < got[j].TopicPartition.Offset })
	for _, r := range got {
		i, ok := byPos[fmt.Sprintf("%d/%d", r.TopicPartition.Partition, r.TopicPartition.Offset)]
		check(ok, "consumed a record at %v that was not produced there", r.TopicPartition)
		x, w := metas[i], msgs[i]
		where := fmt.Sprintf("record %s#%d at %d/%d", x.key, x.seq, r.TopicPartition.Partition, r.TopicPartition.Offset)
		check(string(r.Key) == x.key, "%s: key %q", where, r.Key)
		check(string(r.Value) == string(w.Value) && (r.Value == nil) == (w.Value == nil), "%s: value differs (%d bytes, nil %v; want %d, nil %v)", where, len(r.Value), r.Value == nil, len(w.Value), w.Value == nil)
		check(toMs(r.Timestamp) == toMs(w.Timestamp) && r.TimestampType == kafka.TimestampCreateTime, "%s: timestamp %d (%v), produced with %d", where, toMs(r.Timestamp), r.TimestampType, toMs(w.Timestamp))
		check(len(r.Headers) == len(w.Headers), "%s: %d headers, want %d", where, len(r.Headers), len(w.Headers))
		for j, h := range w.Headers {
			g := r.Headers[j]
			check(g.Key == h.Key && string(g.Value) == string(h.Value) && (g.Value == nil) == (h.Value == nil), "%s: header %d %q=%v, want %q=%v", where, j, g.Key, g.Value, h.Key, h.Value)
		}
		seqs[x.key] = append(seqs[x.key], x.seq)
		if parts[x.key] == nil {
			parts[x.key] = map[int32]bool{}
		}
		parts[x.key][r.TopicPartition.Partition] = true
	}
	for k, s := range seqs {
		check(len(parts[k]) == 1, "key %s spread over partitions %v", k, parts[k])
		check(sort.IntsAreSorted(s) && len(s) == perKey, "key %s consumed in order %v", k, s)
	}
	return fmt.Sprintf("%d keyed records (binary, empty and null values; 6 headers incl. null, duplicate, unicode; explicit timestamps) over %d partitions, byte-exact, per-key order", len(got), len(perPart))
}

// ------------------------------------------------------------------ 3 compression

func s3() string {
	codecs := []struct {
		name string
		id   int
	}{{"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}}
	n := 200
	var ok []string
	for _, cd := range codecs {
		cd := cd
		soft(cd.name, func() {
			topic := "ckg-comp-" + cd.name
			var msgs []*kafka.Message
			for i := 0; i < n; i++ {
				msgs = append(msgs, &kafka.Message{TopicPartition: tp(topic, 0, 0), Key: []byte(fmt.Sprintf("%s-%d", cd.name, i)),
					Value: []byte(fmt.Sprintf("%s payload %d %s", cd.name, i, strings.Repeat("abcdefghij", i%13+1))), Headers: []kafka.Header{{Key: "codec", Value: []byte(cd.name)}}})
			}
			p := producer(kafka.ConfigMap{"compression.codec": cd.name, "linger.ms": 50})
			dr := produceAll(p, msgs)
			p.Close()
			for i, m := range dr {
				check(int64(m.TopicPartition.Offset) == int64(i), "record %d acknowledged at offset %v", i, m.TopicPartition.Offset)
			}
			c := consumer(nil)
			defer c.Close()
			must(c.Assign([]kafka.TopicPartition{tp(topic, 0, 0)}), "Assign")
			got := poll(c, n, 20*time.Second, 0)
			check(len(got) == n, "consumed %d of %d", len(got), n)
			for i, r := range got {
				check(int64(r.TopicPartition.Offset) == int64(i) && string(r.Value) == string(msgs[i].Value) && string(r.Key) == string(msgs[i].Key) &&
					len(r.Headers) == 1 && string(r.Headers[0].Value) == cd.name, "record %d differs (offset %v)", i, r.TopicPartition.Offset)
			}
			must(c.Seek(tp(topic, 0, 137), 5000), "Seek(137)")
			mid := poll(c, 1, 10*time.Second, 0)
			check(len(mid) > 0 && mid[0].TopicPartition.Offset == 137, "Seek(137) inside a compressed batch: %v", mid)
			checkCodec(topic, 0, cd.id, cd.name, n)
			ok = append(ok, cd.name)
		})
	}
	return strings.Join(ok, ", ") + fmt.Sprintf(": %d records each byte-exact, stored compressed, seek inside a compressed batch", n)
}

// ------------------------------------------------------------------ 4 consumer group

const groupTopic, groupID = "ckg-group", "ckg-group-g"

func groupConsumer(name string) *kafka.Consumer {
	return consumer(kafka.ConfigMap{"group.id": groupID, "client.id": "ckg-" + name, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
}

func tps(topic string, n int) []kafka.TopicPartition {
	var out []kafka.TopicPartition
	for i := 0; i < n; i++ {
		out = append(out, tp(topic, int32(i), kafka.OffsetInvalid))
	}
	return out
}

func committedOffsets(c *kafka.Consumer, topic string, n int) []int64 {
	cs, err := c.Committed(tps(topic, n), 10000)
	must(err, "Committed")
	out := make([]int64, n)
	for _, x := range cs {
		must(x.Error, "Committed %v", x)
		out[x.Partition] = int64(x.Offset)
	}
	return out
}

func produceSpread(topic string, n, parts int, prefix string) {
	var msgs []*kafka.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, &kafka.Message{TopicPartition: tp(topic, int32(i%parts), 0), Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint(prefix, i))})
	}
	p := producer(nil)
	produceAll(p, msgs)
	p.Close()
}

func assignment(c *kafka.Consumer) map[int32]bool {
	a, err := c.Assignment()
	must(err, "Assignment")
	out := map[int32]bool{}
	for _, x := range a {
		out[x.Partition] = true
	}
	return out
}

func s4a() string {
	a := admin()
	createTopic(a, groupTopic, 4)
	a.Close()
	c1, c2 := groupConsumer("c1"), groupConsumer("c2")
	must(c1.Subscribe(groupTopic, nil), "Subscribe")
	must(c2.Subscribe(groupTopic, nil), "Subscribe")
	deadline := time.Now().Add(30 * time.Second)
	var a1, a2 map[int32]bool
	for {
		poll(c1, 0, 100*time.Millisecond, 0)
		poll(c2, 0, 100*time.Millisecond, 0)
		a1, a2 = assignment(c1), assignment(c2)
		if len(a1) > 0 && len(a2) > 0 && len(a1)+len(a2) == 4 {
			break
		}
		check(time.Now().Before(deadline), "no 2-way split within 30 s: c1 %v, c2 %v", a1, a2)
	}
	for p := range a1 {
		check(!a2[p], "partition %d assigned to both", p)
	}
	check(len(a1) == 2 && len(a2) == 2, "assignment c1 %v, c2 %v", a1, a2)
	produceSpread(groupTopic, 40, 4, "a-")
	seen := map[string]bool{}
	var dups []string
	deadline = time.Now().Add(30 * time.Second)
	var extraEnd time.Time
	for time.Now().Before(deadline) && (extraEnd.IsZero() || time.Now().Before(extraEnd)) {
		for _, x := range []struct {
			c *kafka.Consumer
			a map[int32]bool
		}{{c1, a1}, {c2, a2}} {
			for _, m := range poll(x.c, 0, 100*time.Millisecond, 0) {
				check(x.a[m.TopicPartition.Partition], "a consumer got a record of partition %d it is not assigned", m.TopicPartition.Partition)
				k := fmt.Sprintf("%d/%d", m.TopicPartition.Partition, m.TopicPartition.Offset)
				if seen[k] {
					dups = append(dups, k)
				}
				seen[k] = true
			}
		}
		if len(seen) >= 40 && extraEnd.IsZero() {
			extraEnd = time.Now().Add(time.Second)
		}
	}
	check(len(seen) == 40, "group consumed %d distinct records of 40", len(seen))
	check(len(dups) == 0, "records delivered twice: %v", dups)
	_, err := c1.Commit()
	must(err, "c1 Commit")
	_, err = c2.Commit()
	must(err, "c2 Commit")
	got := committedOffsets(c1, groupTopic, 4)
	check(fmt.Sprint(got) == "[10 10 10 10]", "committed offsets %v, want 10 each", got)
	must(c1.Close(), "Close")
	must(c2.Close(), "Close")
	return "2 members got 2+2 of 4 partitions, 40 records once each, committed 10 per partition"
}

func s4b() string {
	c := groupConsumer("c3")
	defer c.Close()
	got := committedOffsets(c, groupTopic, 4)
	check(fmt.Sprint(got) == "[10 10 10 10]", "after restart: committed offsets %v, want 10 each", got)
	produceSpread(groupTopic, 20, 4, "b-")
	must(c.Subscribe(groupTopic, nil), "Subscribe")
	ms := poll(c, 20, 30*time.Second, time.Second)
	var vals []string
	for _, m := range ms {
		check(m.TopicPartition.Offset >= 10 && m.TopicPartition.Offset < 15, "resumed record at offset %v", m.TopicPartition)
		vals = append(vals, string(m.Value))
	}
	sort.Strings(vals)
	check(len(vals) == 20 && strings.HasPrefix(vals[0], "b-") && strings.HasPrefix(vals[19], "b-"), "after restart the group resumed with %v, want exactly b-0..b-19", vals)
	_, err := c.Commit()
	must(err, "Commit")
	got = committedOffsets(c, groupTopic, 4)
	check(fmt.Sprint(got) == "[15 15 15 15]", "committed after resume %v, want 15 each", got)
	return "after broker restart: committed offsets kept, resumed with exactly the 20 new records, committed 15"
}

// ------------------------------------------------------------------ 5 offsets

func s5() string {
	topic, group := "ckg-seek", "ckg-seek-g"
	a := admin()
	createTopic(a, topic, 1)
	a.Close()
	t0 := (toMs(time.Now())/1000)*1000 - 600000
	var msgs []*kafka.Message
	for i := 0; i < 10; i++ {
		msgs = append(msgs, &kafka.Message{TopicPartition: tp(topic, 0, 0), Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)), Timestamp: ms(t0 + int64(i)*1000)})
	}
	p := producer(nil)
	produceAll(p, msgs)
	p.Close()

	c := consumer(kafka.ConfigMap{"group.id": group})
	defer c.Close()
	lo, hi, err := c.QueryWatermarkOffsets(topic, 0, 10000)
	must(err, "QueryWatermarkOffsets")
	check(lo == 0 && hi == 10, "watermarks %d..%d, want 0..10", lo, hi)
	forTime := func(t int64) int64 {
		r, err := c.OffsetsForTimes([]kafka.TopicPartition{tp(topic, 0, kafka.Offset(t))}, 10000)
		must(err, "OffsetsForTimes(%d)", t)
		must(r[0].Error, "OffsetsForTimes(%d)", t)
		return int64(r[0].Offset)
	}
	check(forTime(t0+3500) == 4, "OffsetsForTimes(t0+3500): %d, want 4", forTime(t0+3500))
	check(forTime(t0+4000) == 4, "OffsetsForTimes(t0+4000): %d, want 4", forTime(t0+4000))
	check(forTime(0) == 0, "OffsetsForTimes(0): %d, want 0", forTime(0))
	check(forTime(t0+3600000) == -1, "OffsetsForTimes(after the last record): %d, want -1 (end)", forTime(t0+3600000))

	must(c.Assign([]kafka.TopicPartition{tp(topic, 0, 5)}), "Assign at 5")
	r := poll(c, 1, 10*time.Second, 0)
	check(len(r) > 0 && r[0].TopicPartition.Offset == 5 && string(r[0].Value) == "v5" && toMs(r[0].Timestamp) == t0+5000, "first record from offset 5: %v", r)
	must(c.Seek(tp(topic, 0, 2), 5000), "Seek(2)")
	r = poll(c, 1, 10*time.Second, 0)
	check(len(r) > 0 && r[0].TopicPartition.Offset == 2, "after Seek(2): %v", r)
	must(c.Seek(tp(topic, 0, kafka.OffsetEnd), 5000), "Seek(end)")
	r = poll(c, 1, 1500*time.Millisecond, 0)
	check(len(r) == 0, "after Seek(end): %d records", len(r))

	_, err = c.CommitOffsets([]kafka.TopicPartition{tp(topic, 0, 6)})
	must(err, "CommitOffsets(6)")
	cs, err := c.Committed([]kafka.TopicPartition{tp(topic, 0, kafka.OffsetInvalid)}, 10000)
	must(err, "Committed")
	check(int64(cs[0].Offset) == 6, "committed %v, want 6", cs[0].Offset)
	_, hi, err = c.QueryWatermarkOffsets(topic, 0, 10000)
	must(err, "QueryWatermarkOffsets")
	check(hi-int64(cs[0].Offset) == 4, "group lag %d, want 4", hi-int64(cs[0].Offset))
	return "watermarks, OffsetsForTimes (exact, between, before, after), assign at an offset, Seek, Seek(end), committed offset and lag"
}

// ------------------------------------------------------------------ 6 idempotent producer

func s6() string {
	topic := "ckg-idem"
	a := admin()
	createTopic(a, topic, 2)
	a.Close()
	want := [2][]string{}
	for round, n := range []int{600, 100} {
		var msgs []*kafka.Message
		for i := 0; i < n; i++ {
			v := fmt.Sprintf("idem-%d-%d-%s", round, i, strings.Repeat("x", 40))
			want[i%2] = append(want[i%2], v)
			msgs = append(msgs, &kafka.Message{TopicPartition: tp(topic, int32(i%2), 0), Key: []byte(fmt.Sprint("k", i)), Value: []byte(v)})
		}
		p := producer(kafka.ConfigMap{"enable.idempotence": true, "max.in.flight.requests.per.connection": 5, "batch.num.messages": 20, "linger.ms": 0})
		produceAll(p, msgs)
		p.Close()
	}
	for part := 0; part < 2; part++ {
		c := consumer(nil)
		must(c.Assign([]kafka.TopicPartition{tp(topic, int32(part), 0)}), "Assign")
		got := poll(c, len(want[part]), 20*time.Second, 300*time.Millisecond)
		c.Close()
		check(len(got) == len(want[part]), "partition %d: consumed %d records, want exactly %d", part, len(got), len(want[part]))
		for i, r := range got {
			check(int64(r.TopicPartition.Offset) == int64(i) && string(r.Value) == want[part][i], "partition %d: record %d is %q at %v", part, i, r.Value, r.TopicPartition.Offset)
		}
		if pids := checkProducerSequences(topic, part); pids >= 0 {
			check(pids == 2, "partition %d: %d producer ids, want 2 (one per producer)", part, pids)
		}
	}
	return "700 records from 2 idempotent producers (5 in flight, small batches), exactly once in order; stored with producer ids and contiguous sequences"
}

// ------------------------------------------------------------------ 7 transactions

func s7() string {
	panic(unsupported{"confluent-kafka-go 0.11.6 has no transactional API (InitTransactions etc. came in v1.4.0), although its librdkafka 2.0.2 supports transactions"})
}

// ------------------------------------------------------------------ 8 error paths (auto-create off)

func s8() string {
	missing, topic := "ckg-missing", "ckg-oor"
	p := producer(kafka.ConfigMap{"message.timeout.ms": 5000, "topic.metadata.propagation.max.ms": 1000})
	dc := make(chan kafka.Event, 1)
	must(p.Produce(&kafka.Message{TopicPartition: tp(missing, kafka.PartitionAny, 0), Value: []byte("v")}, dc), "Produce")
	select {
	case e := <-dc:
		m := e.(*kafka.Message)
		err, _ := m.TopicPartition.Error.(kafka.Error)
		check(m.TopicPartition.Error != nil && (err.Code() == kafka.ErrUnknownTopic || err.Code() == kafka.ErrUnknownTopicOrPart),
			"produce to the missing topic: want unknown topic, got %v", m.TopicPartition.Error)
	case <-time.After(20 * time.Second):
		check(false, "no delivery report for the missing topic within 20 s")
	}
	p.Close()
	a := admin()
	defer a.Close()
	md, err := a.GetMetadata(&missing, false, 10000)
	must(err, "GetMetadata(missing)")
	check(md.Topics[missing].Error.Code() == kafka.ErrUnknownTopicOrPart, "metadata of the missing topic: %v", md.Topics[missing].Error)
	_, listed := allTopics(a)[missing]
	check(!listed, "%s was auto-created although auto.create.topics.enable=false", missing)

	createTopic(a, topic, 1)
	produceSpread(topic, 5, 1, "v")
	c := consumer(kafka.ConfigMap{"auto.offset.reset": "earliest"})
	must(c.Assign([]kafka.TopicPartition{tp(topic, 0, 100)}), "Assign at 100")
	r := poll(c, 5, 10*time.Second, 0)
	c.Close()
	check(len(r) == 5 && r[0].TopicPartition.Offset == 0, "reset=earliest from 100: %d records from %v", len(r), r)

	c = consumer(kafka.ConfigMap{"auto.offset.reset": "latest"})
	must(c.Assign([]kafka.TopicPartition{tp(topic, 0, 100)}), "Assign at 100")
	r = poll(c, 1, 2*time.Second, 0)
	check(len(r) == 0, "reset=latest from 100 returned %d records", len(r))
	produceSpread(topic, 1, 1, "new")
	r = poll(c, 1, 10*time.Second, 0)
	c.Close()
	check(len(r) == 1 && r[0].TopicPartition.Offset == 5, "reset=latest then a new record: %v", r)

	c = consumer(kafka.ConfigMap{"auto.offset.reset": "error"})
	must(c.Assign([]kafka.TopicPartition{tp(topic, 0, 100)}), "Assign at 100")
	var got error
	deadline := time.Now().Add(10 * time.Second)
	for got == nil && time.Now().Before(deadline) {
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			check(e.TopicPartition.Error != nil, "reset=error returned a record at %v", e.TopicPartition)
			got = e.TopicPartition.Error
		case kafka.Error:
			got = e
		}
	}
	c.Close()
	check(got != nil, "reset=error from 100: no error within 10 s")
	ke, _ := got.(kafka.Error)
	check(strings.Contains(strings.ToLower(got.Error()), "out of range") || ke.Code() == kafka.ErrOffsetOutOfRange, "reset=error: %v", got)
	return "unknown topic (produce, metadata; not auto-created); offset out of range with auto.offset.reset earliest, latest, error"
}

func main() {
	runMain(map[string]func() string{"1": s1, "2": s2, "3": s3, "4a": s4a, "4b": s4b, "5": s5, "6": s6, "7": s7, "8": s8})
}
