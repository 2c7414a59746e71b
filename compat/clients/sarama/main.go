// Compat scenarios for Sarama (Debian's golang-github-shopify-sarama-dev, 1.22.1), with
// config.Version = V2_2_0_0, the newest Kafka version this Sarama knows. It sends exactly the API
// versions that Version implies (no ApiVersions negotiation): Metadata v5, Produce v3, Fetch v4,
// ListOffsets v1, CreateTopics v2, DeleteTopics v1, DescribeConfigs v0, FindCoordinator v0,
// JoinGroup v1, SyncGroup v0, Heartbeat v0, LeaveGroup v0, OffsetCommit v2, OffsetFetch v1,
// InitProducerId v0, DescribeGroups v0.
package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_2_0_0
	c.ClientID = "odradek-compat-sarama"
	c.Net.DialTimeout = 5 * time.Second
	c.Net.ReadTimeout = 10 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Metadata.Retry.Max = 3
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Timeout = 10 * time.Second
	c.Producer.Retry.Max = 3
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.MaxWaitTime = 250 * time.Millisecond
	c.Admin.Timeout = 10 * time.Second
	return c
}

func newClient(c *sarama.Config) sarama.Client {
	if c == nil {
		c = config()
	}
	cl, err := sarama.NewClient([]string{bootstrap}, c)
	must(err, "NewClient")
	return cl
}

func newAdmin() sarama.ClusterAdmin {
	a, err := sarama.NewClusterAdmin([]string{bootstrap}, config())
	must(err, "NewClusterAdmin")
	return a
}

func createTopic(a sarama.ClusterAdmin, topic string, partitions int32) {
	must(a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false), "CreateTopic %s", topic)
}

func manualProducer(cl sarama.Client) sarama.SyncProducer {
	p, err := sarama.NewSyncProducerFromClient(cl)
	must(err, "NewSyncProducer")
	return p
}

func manualConfig() *sarama.Config {
	c := config()
	c.Producer.Partitioner = sarama.NewManualPartitioner
	return c
}

func ms(t int64) time.Time { return time.Unix(0, t*int64(time.Millisecond)) }

func toMs(t time.Time) int64 { return t.UnixNano() / int64(time.Millisecond) }

// consumeN reads records of one partition from offset until n arrived (then `extra` more time).
func consumeN(cl sarama.Client, topic string, p int32, offset int64, n int, timeout, extra time.Duration) []*sarama.ConsumerMessage {
	c, err := sarama.NewConsumerFromClient(cl)
	must(err, "NewConsumer")
	defer c.Close()
	pc, err := c.ConsumePartition(topic, p, offset)
	must(err, "ConsumePartition(%s, %d, %d)", topic, p, offset)
	defer pc.Close()
	var got []*sarama.ConsumerMessage
	deadline := time.After(timeout)
	var extraC <-chan time.Time
	if n == 0 {
		extraC = time.After(extra)
	}
	for {
		select {
		case m := <-pc.Messages():
			got = append(got, m)
			if len(got) == n {
				extraC = time.After(extra)
			}
		case e := <-pc.Errors():
			must(e, "consuming %s/%d", topic, p)
		case <-deadline:
			return got
		case <-extraC:
			return got
		}
	}
}

// ------------------------------------------------------------------ 1 admin

func s1() string {
	topic := "sarama-admin"
	a := newAdmin()
	defer a.Close()
	// DescribeCluster sends Metadata v0, which has no controller id (Sarama reports -1).
	brokers, _, err := a.DescribeCluster()
	must(err, "DescribeCluster")
	check(len(brokers) == 1 && brokers[0].ID() == 0 && brokers[0].Addr() == bootstrap, "DescribeCluster brokers: %d, first %d %s", len(brokers), brokers[0].ID(), brokers[0].Addr())

	ret := "3600000"
	must(a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &ret}}, false), "CreateTopic")
	err = a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false)
	te, ok := err.(*sarama.TopicError)
	check(ok && te.Err == sarama.ErrTopicAlreadyExists, "second CreateTopic: want TOPIC_ALREADY_EXISTS, got %v", err)

	cl := newClient(nil)
	defer cl.Close()
	ctrl, err := cl.Controller() // Metadata v5
	must(err, "Controller")
	check(ctrl.ID() == 0 && ctrl.Addr() == bootstrap, "controller %d %s", ctrl.ID(), ctrl.Addr())
	must(cl.RefreshMetadata(), "RefreshMetadata")
	topics, err := cl.Topics()
	must(err, "client.Topics")
	check(contains(topics, topic), "client.Topics (Metadata) does not list %s: %v", topic, topics)

	md, err := a.DescribeTopics([]string{topic})
	must(err, "DescribeTopics")
	check(len(md) == 1 && md[0].Err == sarama.ErrNoError, "DescribeTopics: %+v", md)
	check(len(md[0].Partitions) == 3, "DescribeTopics: %d partitions", len(md[0].Partitions))
	for _, p := range md[0].Partitions {
		check(p.Leader == 0 && len(p.Replicas) == 1 && p.Replicas[0] == 0 && len(p.Isr) == 1 && p.Isr[0] == 0 && p.Err == sarama.ErrNoError,
			"DescribeTopics partition %d: leader %d replicas %v isr %v err %v", p.ID, p.Leader, p.Replicas, p.Isr, p.Err)
	}

	// ClusterAdmin.ListTopics = Metadata v0 + DescribeConfigs v0 for every topic; DescribeConfig =
	// DescribeConfigs v0. Each on its own admin: Sarama does not reconnect a broker the server closed.
	soft("ClusterAdmin.ListTopics", func() {
		a2 := newAdmin()
		defer a2.Close()
		list, err := a2.ListTopics()
		must(err, "ListTopics")
		d, ok := list[topic]
		check(ok, "ListTopics does not list %s", topic)
		check(d.NumPartitions == 3 && d.ReplicationFactor == 1, "ListTopics: %d partitions, rf %d", d.NumPartitions, d.ReplicationFactor)
		v := d.ConfigEntries["retention.ms"]
		check(v != nil && *v == ret, "ListTopics: retention.ms %v", v)
	})
	soft("ClusterAdmin.DescribeConfig(topic)", func() {
		a2 := newAdmin()
		defer a2.Close()
		entries, err := a2.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		must(err, "DescribeConfig")
		found := false
		for _, e := range entries {
			if e.Name == "retention.ms" {
				found = true
				check(e.Value == ret && !e.Default, "retention.ms = %q (default %v)", e.Value, e.Default)
			}
		}
		check(found, "retention.ms missing from %d entries", len(entries))
	})

	soft("ClusterAdmin.CreatePartitions(5)", func() {
		a2 := newAdmin()
		defer a2.Close()
		must(a2.CreatePartitions(topic, 5, nil, false), "CreatePartitions")
		md, err := a2.DescribeTopics([]string{topic})
		must(err, "DescribeTopics after CreatePartitions")
		check(len(md) == 1 && len(md[0].Partitions) == 5, "DescribeTopics after CreatePartitions(5): %d partitions", len(md[0].Partitions))
	})

	must(a.DeleteTopic(topic), "DeleteTopic")
	deadline := time.Now().Add(10 * time.Second)
	for {
		md, err = a.DescribeTopics([]string{topic})
		must(err, "DescribeTopics after delete")
		if len(md) == 1 && md[0].Err == sarama.ErrUnknownTopicOrPartition {
			break
		}
		check(time.Now().Before(deadline), "DescribeTopics 10 s after DeleteTopic: %v", md[0].Err)
		time.Sleep(200 * time.Millisecond)
	}
	err = a.DeleteTopic(topic)
	check(err == sarama.ErrUnknownTopicOrPartition, "second DeleteTopic: want UNKNOWN_TOPIC_OR_PARTITION, got %v", err)
	return "DescribeCluster, CreateTopic (3 partitions + retention.ms), list (Metadata and ListTopics), DescribeTopics, DescribeConfig, CreatePartitions(5), DeleteTopic"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// ------------------------------------------------------------------ 2 keyed produce

func s2() string {
	topic := "sarama-keyed"
	keys, perKey := 10, 8
	a := newAdmin()
	createTopic(a, topic, 3)
	a.Close()
	cl := newClient(nil) // hash partitioner (Sarama's default)
	defer cl.Close()
	p := manualProducer(cl)
	rnd := rand.New(rand.NewSource(42))
	base := toMs(time.Now()) - 3600000
	var msgs []*sarama.ProducerMessage
	type meta struct {
		key   string
		seq   int
		value []byte
		hdrs  []sarama.RecordHeader
		ts    int64
	}
	var metas []meta
	n := 0
	for seq := 0; seq < perKey; seq++ {
		for k := 0; k < keys; k++ {
			key := fmt.Sprintf("key-%d", k)
			var value []byte
			switch {
			case k == 3 && seq == 2:
				value = nil // tombstone
			case k == 4 && seq == 1:
				value = []byte{}
			default:
				value = make([]byte, 1+rnd.Intn(300))
				rnd.Read(value)
				value[0] = byte(seq)
			}
			hdrs := []sarama.RecordHeader{
				{Key: []byte("seq"), Value: []byte(fmt.Sprint(seq))},
				{Key: []byte("bin"), Value: []byte{0, 1, 0xff, byte(k)}},
				{Key: []byte("empty"), Value: []byte{}},
				{Key: []byte("null"), Value: nil},
				{Key: []byte("dup"), Value: []byte("first")},
				{Key: []byte("dup"), Value: []byte("second")},
				{Key: []byte("ünï"), Value: []byte("ü✓")},
			}
			ts := base + int64(n)*7
			n++
			m := &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Headers: hdrs, Timestamp: ms(ts)}
			if value != nil {
				m.Value = sarama.ByteEncoder(value)
			}
			msgs = append(msgs, m)
			metas = append(metas, meta{key, seq, value, hdrs, ts})
		}
	}
	must(p.SendMessages(msgs), "SendMessages")
	must(p.Close(), "producer Close")
	byPos := map[string]int{}
	perPart := map[int32]int{}
	for i, m := range msgs {
		byPos[fmt.Sprintf("%d/%d", m.Partition, m.Offset)] = i
		perPart[m.Partition]++
	}
	check(len(byPos) == len(msgs), "two records acknowledged at the same partition/offset")
	check(len(perPart) >= 2, "all keys went to partitions %v", perPart)

	seqs := map[string][]int{}
	parts := map[string]map[int32]bool{}
	total := 0
	for part := int32(0); part < 3; part++ {
		got := consumeN(cl, topic, part, sarama.OffsetOldest, perPart[part], 20*time.Second, 300*time.Millisecond)
		check(len(got) == perPart[part], "partition %d: consumed %d records, produced %d", part, len(got), perPart[part])
		for _, r := range got {
			i, ok := byPos[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]
			check(ok, "consumed a record at %d/%d that was not produced there", r.Partition, r.Offset)
			x := metas[i]
			where := fmt.Sprintf("record %s#%d at %d/%d", x.key, x.seq, r.Partition, r.Offset)
			check(string(r.Key) == x.key, "%s: key %q", where, r.Key)
			check(bytes.Equal(r.Value, x.value) && (r.Value == nil) == (x.value == nil), "%s: value differs (%d bytes, nil %v; want %d, nil %v)", where, len(r.Value), r.Value == nil, len(x.value), x.value == nil)
			check(toMs(r.Timestamp) == x.ts, "%s: timestamp %d, produced with %d", where, toMs(r.Timestamp), x.ts)
			check(len(r.Headers) == len(x.hdrs), "%s: %d headers, want %d", where, len(r.Headers), len(x.hdrs))
			for j, h := range x.hdrs {
				g := r.Headers[j]
				check(bytes.Equal(g.Key, h.Key) && bytes.Equal(g.Value, h.Value) && (g.Value == nil) == (h.Value == nil),
					"%s: header %d %q=%v, want %q=%v", where, j, g.Key, g.Value, h.Key, h.Value)
			}
			seqs[x.key] = append(seqs[x.key], x.seq)
			if parts[x.key] == nil {
				parts[x.key] = map[int32]bool{}
			}
			parts[x.key][r.Partition] = true
			total++
		}
	}
	for k, s := range seqs {
		check(len(parts[k]) == 1, "key %s spread over partitions %v", k, parts[k])
		check(sort.IntsAreSorted(s) && len(s) == perKey, "key %s consumed in order %v", k, s)
	}
	return fmt.Sprintf("%d keyed records (binary, empty and null values; 7 headers incl. null, empty, duplicate, unicode; explicit timestamps) over %d partitions, byte-exact, per-key order", total, len(perPart))
}

// ------------------------------------------------------------------ 3 compression

func s3() string {
	codecs := []struct {
		name string
		c    sarama.CompressionCodec
		id   int
	}{{"gzip", sarama.CompressionGZIP, 1}, {"snappy", sarama.CompressionSnappy, 2}, {"lz4", sarama.CompressionLZ4, 3}, {"zstd", sarama.CompressionZSTD, 4}}
	n := 200
	var ok []string
	for _, cd := range codecs {
		cd := cd
		soft(cd.name, func() {
			topic := "sarama-comp-" + cd.name
			c := manualConfig()
			c.Producer.Compression = cd.c
			c.Producer.Flush.Messages = 50
			c.Producer.Flush.Frequency = 50 * time.Millisecond
			cl := newClient(c)
			defer cl.Close()
			p := manualProducer(cl)
			var msgs []*sarama.ProducerMessage
			for i := 0; i < n; i++ {
				v := fmt.Sprintf("%s payload %d %s", cd.name, i, strings.Repeat("abcdefghij", i%13+1))
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(fmt.Sprintf("%s-%d", cd.name, i)),
					Value: sarama.StringEncoder(v), Headers: []sarama.RecordHeader{{Key: []byte("codec"), Value: []byte(cd.name)}}})
			}
			must(p.SendMessages(msgs), "SendMessages")
			p.Close()
			got := consumeN(cl, topic, 0, 0, n, 20*time.Second, 0)
			check(len(got) == n, "consumed %d of %d", len(got), n)
			for i, r := range got {
				want := msgs[i]
				wv, _ := want.Value.Encode()
				check(r.Offset == int64(i) && bytes.Equal(r.Value, wv) && len(r.Headers) == 1 && string(r.Headers[0].Value) == cd.name, "record %d differs (offset %d)", i, r.Offset)
			}
			mid := consumeN(cl, topic, 0, 137, 1, 10*time.Second, 0)
			check(len(mid) > 0 && mid[0].Offset == 137, "consume from 137 (inside a compressed batch): first %v", offsets(mid))
			checkCodec(topic, 0, cd.id, cd.name, n)
			ok = append(ok, cd.name)
		})
	}
	return strings.Join(ok, ", ") + fmt.Sprintf(": %d records each byte-exact, stored compressed, fetch inside a compressed batch", n)
}

func offsets(ms []*sarama.ConsumerMessage) []int64 {
	var o []int64
	for _, m := range ms {
		o = append(o, m.Offset)
	}
	return o
}

// ------------------------------------------------------------------ 4 consumer group

const groupTopic, groupID = "sarama-group", "sarama-group-g"

type received struct {
	member string
	msg    *sarama.ConsumerMessage
}

type handler struct {
	name   string
	mu     sync.Mutex
	claims map[int32]bool
	out    chan received
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claims = map[int32]bool{}
	for _, p := range s.Claims()[groupTopic] {
		h.claims[p] = true
	}
	logf("%s: generation %d claims %v", h.name, s.GenerationID(), s.Claims())
	return nil
}

func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claims = map[int32]bool{}
	return nil
}

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.out <- received{h.name, m}
		s.MarkMessage(m, "")
	}
	return nil
}

func (h *handler) current() map[int32]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := map[int32]bool{}
	for k, v := range h.claims {
		c[k] = v
	}
	return c
}

type member struct {
	h      *handler
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
}

func startMember(name, group, topic string, initial int64, out chan received) *member {
	c := config()
	c.Consumer.Offsets.Initial = initial
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 1 * time.Second
	c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	c.ClientID = "sarama-" + name
	g, err := sarama.NewConsumerGroup([]string{bootstrap}, group, c)
	must(err, "NewConsumerGroup")
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{h: &handler{name: name, claims: map[int32]bool{}, out: out}, group: g, cancel: cancel, done: make(chan struct{})}
	go func() {
		for e := range g.Errors() {
			logf("%s: group error: %v", name, e)
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, m.h); err != nil {
				logf("%s: Consume: %v", name, err)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	return m
}

func (m *member) stop() {
	m.cancel()
	within(20*time.Second, "ConsumerGroup.Consume (after cancel)", func() { <-m.done })
	within(20*time.Second, "ConsumerGroup.Close", func() { must(m.group.Close(), "ConsumerGroup.Close") })
}

// closeOffsets closes a partition offset manager and its offset manager; both wait until the
// marked offset is committed, so a commit the broker refuses would hang them: bounded here.
func closeOffsets(pom sarama.PartitionOffsetManager, om sarama.OffsetManager) {
	go func() {
		for e := range pom.Errors() {
			logf("offset manager error: %v", e)
		}
	}()
	within(15*time.Second, "PartitionOffsetManager.Close (commit of the marked offset)", func() { pom.AsyncClose(); om.Close() })
}

// within runs f, failing the scenario if it has not returned after d.
func within(d time.Duration, what string, f func()) {
	done := make(chan interface{}, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	select {
	case r := <-done:
		if r != nil {
			panic(r)
		}
	case <-time.After(d):
		check(false, "%s did not return within %v", what, d)
	}
}

func committed(a sarama.ClusterAdmin, group, topic string, parts int) map[int32]*sarama.OffsetFetchResponseBlock {
	ps := []int32{}
	for i := 0; i < parts; i++ {
		ps = append(ps, int32(i))
	}
	r, err := a.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	must(err, "ListConsumerGroupOffsets")
	out := map[int32]*sarama.OffsetFetchResponseBlock{}
	for _, p := range ps {
		b := r.GetBlock(topic, p)
		check(b != nil && b.Err == sarama.ErrNoError, "OffsetFetch %s/%d: %+v", topic, p, b)
		out[p] = b
	}
	return out
}

func produceSpread(topic string, n, parts int, prefix string) {
	cl := newClient(manualConfig())
	defer cl.Close()
	p := manualProducer(cl)
	var msgs []*sarama.ProducerMessage
	for i := 0; i < n; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % parts), Key: sarama.StringEncoder(fmt.Sprint("k", i)), Value: sarama.StringEncoder(fmt.Sprint(prefix, i))})
	}
	must(p.SendMessages(msgs), "SendMessages")
	p.Close()
}

func s4a() string {
	a := newAdmin()
	defer a.Close()
	createTopic(a, groupTopic, 4)
	out := make(chan received, 1000)
	m1 := startMember("m1", groupID, groupTopic, sarama.OffsetOldest, out)
	m2 := startMember("m2", groupID, groupTopic, sarama.OffsetOldest, out)
	deadline := time.Now().Add(30 * time.Second)
	var c1, c2 map[int32]bool
	for {
		c1, c2 = m1.h.current(), m2.h.current()
		if len(c1) > 0 && len(c2) > 0 && len(c1)+len(c2) == 4 {
			break
		}
		check(time.Now().Before(deadline), "no 2-way split within 30 s: m1 %v, m2 %v", c1, c2)
		time.Sleep(100 * time.Millisecond)
	}
	for p := range c1 {
		check(!c2[p], "partition %d assigned to both members", p)
	}
	check(len(c1) == 2 && len(c2) == 2, "assignment m1 %v, m2 %v", c1, c2)
	produceSpread(groupTopic, 40, 4, "a-")
	seen := map[string]string{}
	var dups []string
	timeout := time.After(30 * time.Second)
	var extra <-chan time.Time
loop:
	for {
		select {
		case r := <-out:
			claims := c1
			if r.member == "m2" {
				claims = c2
			}
			check(claims[r.msg.Partition], "%s got a record of partition %d it is not assigned", r.member, r.msg.Partition)
			k := fmt.Sprintf("%d/%d", r.msg.Partition, r.msg.Offset)
			if _, dup := seen[k]; dup {
				dups = append(dups, k)
			}
			seen[k] = string(r.msg.Value)
			if len(seen) == 40 && extra == nil {
				extra = time.After(time.Second)
			}
		case <-timeout:
			break loop
		case <-extra:
			break loop
		}
	}
	check(len(seen) == 40, "group consumed %d distinct records of 40", len(seen))
	check(len(dups) == 0, "records delivered twice: %v", dups)
	m1.stop()
	m2.stop()
	for p, b := range committed(a, groupID, groupTopic, 4) {
		check(b.Offset == 10, "committed offset of partition %d: %d, want 10", p, b.Offset)
	}
	return "2 members got 2+2 of 4 partitions, 40 records once each, committed 10 per partition"
}

func s4b() string {
	a := newAdmin()
	defer a.Close()
	for p, b := range committed(a, groupID, groupTopic, 4) {
		check(b.Offset == 10, "after restart: committed offset of partition %d: %d, want 10", p, b.Offset)
	}
	produceSpread(groupTopic, 20, 4, "b-")
	out := make(chan received, 1000)
	m := startMember("m3", groupID, groupTopic, sarama.OffsetOldest, out)
	var vals []string
	timeout := time.After(30 * time.Second)
	var extra <-chan time.Time
loop:
	for {
		select {
		case r := <-out:
			vals = append(vals, string(r.msg.Value))
			check(r.msg.Offset >= 10 && r.msg.Offset < 15, "resumed record at offset %d", r.msg.Offset)
			if len(vals) == 20 && extra == nil {
				extra = time.After(time.Second)
			}
		case <-timeout:
			break loop
		case <-extra:
			break loop
		}
	}
	m.stop()
	sort.Strings(vals)
	var want []string
	for i := 0; i < 20; i++ {
		want = append(want, fmt.Sprint("b-", i))
	}
	sort.Strings(want)
	check(strings.Join(vals, ",") == strings.Join(want, ","), "after restart the group resumed with %v, want exactly b-0..b-19", vals)
	for p, b := range committed(a, groupID, groupTopic, 4) {
		check(b.Offset == 15, "committed after resume, partition %d: %d, want 15", p, b.Offset)
	}
	return "after broker restart: committed offsets kept, resumed with exactly the 20 new records, committed 15"
}

// ------------------------------------------------------------------ 5 offsets

func s5() string {
	topic, group := "sarama-seek", "sarama-seek-g"
	a := newAdmin()
	defer a.Close()
	createTopic(a, topic, 1)
	t0 := (toMs(time.Now())/1000)*1000 - 600000
	cl := newClient(manualConfig())
	defer cl.Close()
	p := manualProducer(cl)
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 10; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(fmt.Sprint("k", i)), Value: sarama.StringEncoder(fmt.Sprint("v", i)), Timestamp: ms(t0 + int64(i)*1000)})
	}
	must(p.SendMessages(msgs), "SendMessages")
	p.Close()

	off := func(t int64) int64 {
		o, err := cl.GetOffset(topic, 0, t)
		must(err, "GetOffset(%d)", t)
		return o
	}
	check(off(sarama.OffsetOldest) == 0, "oldest offset %d", off(sarama.OffsetOldest))
	check(off(sarama.OffsetNewest) == 10, "newest offset %d", off(sarama.OffsetNewest))
	soft("ListOffsets v1 by timestamp", func() {
		check(off(t0+3500) == 4, "offset for t0+3500: %d, want 4", off(t0+3500))
		check(off(t0+4000) == 4, "offset for t0+4000: %d, want 4", off(t0+4000))
		check(off(0) == 0, "offset for time 0: %d, want 0", off(0))
		check(off(t0+3600000) == -1, "offset for a time after the last record: %d, want -1", off(t0+3600000))
	})

	// Seek = start a partition consumer at an offset; lag from its high watermark.
	c, err := sarama.NewConsumerFromClient(cl)
	must(err, "NewConsumer")
	pc, err := c.ConsumePartition(topic, 0, 5)
	must(err, "ConsumePartition at 5")
	select {
	case m := <-pc.Messages():
		check(m.Offset == 5 && string(m.Value) == "v5" && toMs(m.Timestamp) == t0+5000, "first record from offset 5: %d %q ts %d", m.Offset, m.Value, toMs(m.Timestamp))
		lag := pc.HighWaterMarkOffset() - (m.Offset + 1)
		check(lag == 4, "lag after reading offset 5: high watermark %d, lag %d, want 4", pc.HighWaterMarkOffset(), lag)
	case e := <-pc.Errors():
		must(e, "consuming from 5")
	case <-time.After(10 * time.Second):
		check(false, "no record from offset 5 within 10 s")
	}
	pc.Close()
	c.Close()

	// Committed offset + metadata, and the group's lag = newest - committed.
	om, err := sarama.NewOffsetManagerFromClient(group, cl)
	must(err, "NewOffsetManager")
	pom, err := om.ManagePartition(topic, 0)
	must(err, "ManagePartition")
	pom.MarkOffset(6, "meta-data")
	closeOffsets(pom, om)
	b := committed(a, group, topic, 1)[0]
	check(b.Offset == 6 && b.Metadata == "meta-data", "committed %d %q, want 6 \"meta-data\"", b.Offset, b.Metadata)
	check(off(sarama.OffsetNewest)-b.Offset == 4, "group lag %d, want 4", off(sarama.OffsetNewest)-b.Offset)
	om2, err := sarama.NewOffsetManagerFromClient(group, cl)
	must(err, "NewOffsetManager")
	pom2, err := om2.ManagePartition(topic, 0)
	must(err, "ManagePartition")
	next, meta := pom2.NextOffset()
	check(next == 6 && meta == "meta-data", "NextOffset of a new offset manager: %d %q", next, meta)
	closeOffsets(pom2, om2)
	return "GetOffset oldest/newest/by time (exact, between, before, after), consume from an offset, lag from the high watermark, committed offset+metadata and group lag"
}

// ------------------------------------------------------------------ 6 idempotent producer

func s6() string {
	topic := "sarama-idem"
	a := newAdmin()
	createTopic(a, topic, 2)
	a.Close()
	want := [2][]string{}
	for round, n := range []int{600, 100} {
		c := manualConfig()
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
		c.Producer.Flush.Messages = 20
		c.Producer.Flush.Frequency = 5 * time.Millisecond
		cl := newClient(c)
		p := manualProducer(cl)
		var msgs []*sarama.ProducerMessage
		for i := 0; i < n; i++ {
			v := fmt.Sprintf("idem-%d-%d-%s", round, i, strings.Repeat("x", 40))
			want[i%2] = append(want[i%2], v)
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Key: sarama.StringEncoder(fmt.Sprint("k", i)), Value: sarama.StringEncoder(v)})
		}
		// In chunks, so that several produce requests (and sequence numbers) follow each other.
		for i := 0; i < n; i += 100 {
			j := i + 100
			if j > n {
				j = n
			}
			must(p.SendMessages(msgs[i:j]), "SendMessages (idempotent producer %d)", round)
		}
		p.Close()
		cl.Close()
	}
	cl := newClient(nil)
	defer cl.Close()
	for part := 0; part < 2; part++ {
		got := consumeN(cl, topic, int32(part), 0, len(want[part]), 20*time.Second, 300*time.Millisecond)
		check(len(got) == len(want[part]), "partition %d: consumed %d records, want exactly %d", part, len(got), len(want[part]))
		for i, r := range got {
			check(r.Offset == int64(i) && string(r.Value) == want[part][i], "partition %d: record %d is %q at offset %d", part, i, r.Value, r.Offset)
		}
		if pids := checkProducerSequences(topic, part); pids >= 0 {
			check(pids == 2, "partition %d: %d producer ids, want 2 (one per producer)", part, pids)
		}
	}
	return "700 records from 2 idempotent producers (InitProducerId v0, Produce v3), exactly once in order; stored with producer ids and contiguous sequences"
}

// ------------------------------------------------------------------ 7 transactions

func s7() string {
	panic(unsupported{"Sarama 1.22.1 has no transactional producer (added in Sarama 1.37.0); it can only read with Consumer.IsolationLevel=ReadCommitted"})
}

// ------------------------------------------------------------------ 8 error paths (auto-create off)

func s8() string {
	missing, topic := "sarama-missing", "sarama-oor"
	c := config()
	c.Metadata.Retry.Max = 1
	c.Producer.Retry.Max = 1
	cl := newClient(c)
	defer cl.Close()
	_, err := cl.Partitions(missing)
	check(err == sarama.ErrUnknownTopicOrPartition, "Partitions(missing): want UNKNOWN_TOPIC_OR_PARTITION, got %v", err)
	p := manualProducer(cl)
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: missing, Value: sarama.StringEncoder("v")})
	check(err == sarama.ErrUnknownTopicOrPartition, "SendMessage(missing): want UNKNOWN_TOPIC_OR_PARTITION, got %v", err)
	p.Close()
	a := newAdmin()
	defer a.Close()
	md, err := a.DescribeTopics([]string{missing})
	must(err, "DescribeTopics(missing)")
	check(len(md) == 1 && md[0].Err == sarama.ErrUnknownTopicOrPartition, "DescribeTopics(missing): %v", md[0].Err)
	must(cl.RefreshMetadata(), "RefreshMetadata")
	topics, _ := cl.Topics()
	check(!contains(topics, missing), "%s was auto-created although auto.create.topics.enable=false", missing)

	createTopic(a, topic, 1)
	produceSpread(topic, 5, 1, "v")
	// none/error: Sarama checks the offset against the partition's range (ListOffsets) first.
	cons, err := sarama.NewConsumerFromClient(cl)
	must(err, "NewConsumer")
	_, err = cons.ConsumePartition(topic, 0, 100)
	check(err == sarama.ErrOffsetOutOfRange, "ConsumePartition at 100 of 5: want OFFSET_OUT_OF_RANGE, got %v", err)
	cons.Close()

	// earliest / latest: a group whose committed offset (100) is out of range falls back to
	// Consumer.Offsets.Initial (OffsetOldest / OffsetNewest).
	commit := func(group string) {
		om, err := sarama.NewOffsetManagerFromClient(group, cl)
		must(err, "NewOffsetManager")
		pom, err := om.ManagePartition(topic, 0)
		must(err, "ManagePartition")
		pom.MarkOffset(100, "")
		closeOffsets(pom, om)
		b := committed(a, group, topic, 1)[0]
		check(b.Offset == 100, "committed %d, want 100", b.Offset)
	}
	read := func(m *member, out chan received, n int, wait time.Duration) []int64 {
		var offs []int64
		timeout := time.After(wait)
		for len(offs) < n {
			select {
			case r := <-out:
				offs = append(offs, r.msg.Offset)
			case <-timeout:
				return offs
			}
		}
		return offs
	}
	commit("sarama-oor-earliest")
	out := make(chan received, 100)
	m := startMember("earliest", "sarama-oor-earliest", topic, sarama.OffsetOldest, out)
	offs := read(m, out, 5, 15*time.Second)
	m.stop()
	check(len(offs) == 5 && offs[0] == 0, "committed 100 + Initial=OffsetOldest: got offsets %v, want 0..4", offs)

	commit("sarama-oor-latest")
	out = make(chan received, 100)
	m = startMember("latest", "sarama-oor-latest", topic, sarama.OffsetNewest, out)
	deadline := time.Now().Add(15 * time.Second)
	for len(m.h.current()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	offs = read(m, out, 1, 1500*time.Millisecond)
	check(len(offs) == 0, "committed 100 + Initial=OffsetNewest returned %v before anything new was produced", offs)
	produceSpread(topic, 1, 1, "new")
	offs = read(m, out, 1, 10*time.Second)
	m.stop()
	check(len(offs) == 1 && offs[0] == 5, "committed 100 + Initial=OffsetNewest, then one new record: got offsets %v, want [5]", offs)
	return "unknown topic (Partitions, SendMessage, DescribeTopics; not auto-created); out of range: ConsumePartition error, group fallback to oldest / newest"
}

func main() {
	sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Ltime|log.Lmicroseconds)
	runMain(map[string]func() string{"1": s1, "2": s2, "3": s3, "4a": s4a, "4b": s4b, "5": s5, "6": s6, "7": s7, "8": s8})
}
