// Compat scenarios for segmentio/kafka-go, Debian's golang-github-segmentio-kafka-go-dev 0.2.1
// (early 2019). It does no ApiVersions negotiation and always sends: Metadata v1, Produce v2 (message
// format v1: no headers), Fetch v2, ListOffsets v1, CreateTopics v0, DeleteTopics v1,
// FindCoordinator v0, JoinGroup v1, SyncGroup v0, Heartbeat v0, LeaveGroup v0, OffsetCommit v2,
// OffsetFetch v1. Codecs: gzip, snappy, lz4 (no zstd). No idempotent producer, no transactions.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/gzip"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
)

const autoPartitions = 4 // the broker runs with num.partitions=4; topics of scenarios 2-7 are auto-created

func ctxT(d time.Duration) context.Context {
	ctx, _ := context.WithTimeout(context.Background(), d)
	return ctx
}

// dial: a fresh connection for every admin call (a connection the broker closed stays dead).
func dial() *kafka.Conn {
	c, err := kafka.DialContext(ctxT(5*time.Second), "tcp", bootstrap)
	must(err, "Dial")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func leader(topic string, p int) *kafka.Conn {
	c, err := kafka.DialLeader(ctxT(5*time.Second), "tcp", bootstrap, topic, p)
	must(err, "DialLeader(%s, %d)", topic, p)
	c.SetDeadline(time.Now().Add(15 * time.Second))
	return c
}

// ensureTopic: Metadata v1 auto-creates the topic (num.partitions=4).
func ensureTopic(topic string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dial()
		ps, err := c.ReadPartitions(topic)
		c.Close()
		if err == nil && len(ps) == autoPartitions {
			return
		}
		check(time.Now().Before(deadline), "topic %s not auto-created within 10 s: %d partitions, %v", topic, len(ps), err)
		time.Sleep(200 * time.Millisecond)
	}
}

type fixedBalancer func(m kafka.Message) int

func (f fixedBalancer) Balance(m kafka.Message, partitions ...int) int { return f(m) }

func writer(topic string, b kafka.Balancer, codec kafka.CompressionCodec, batch int) *kafka.Writer {
	return kafka.NewWriter(kafka.WriterConfig{
		Brokers: []string{bootstrap}, Topic: topic, Balancer: b, CompressionCodec: codec,
		BatchSize: batch, BatchTimeout: 20 * time.Millisecond, RequiredAcks: -1, MaxAttempts: 3,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		ErrorLogger: log.New(os.Stderr, "[kafka-go writer] ", log.Ltime),
	})
}

func write(w *kafka.Writer, msgs ...kafka.Message) {
	must(w.WriteMessages(ctxT(30*time.Second), msgs...), "WriteMessages")
}

// readAll reads a partition from `from` up to its last offset (as of now) with a Conn (Fetch v2).
func readAll(topic string, p int, from int64) []kafka.Message {
	c := leader(topic, p)
	defer c.Close()
	last, err := c.ReadLastOffset()
	must(err, "ReadLastOffset(%s/%d)", topic, p)
	if from < last {
		_, err = c.Seek(from, kafka.SeekAbsolute)
		must(err, "Seek(%d)", from)
	}
	var out []kafka.Message
	deadline := time.Now().Add(15 * time.Second)
	for from+int64(len(out)) < last {
		b := c.ReadBatch(1, 10<<20)
		for {
			m, err := b.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		if err := b.Close(); err != nil && err != io.EOF {
			must(err, "ReadBatch(%s/%d at %d)", topic, p, from+int64(len(out)))
		}
		check(time.Now().Before(deadline), "%s/%d: read %d of %d records in 15 s", topic, p, len(out), last-from)
	}
	return out
}

func ms(t int64) time.Time { return time.Unix(0, t*int64(time.Millisecond)) }

func toMs(t time.Time) int64 { return t.UnixNano() / int64(time.Millisecond) }

// ------------------------------------------------------------------ 1 admin

func s1() string {
	topic := "kafkago-admin"
	c := dial()
	err := c.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}})
	c.Close()
	must(err, "CreateTopics (v0)")
	c = dial()
	err = c.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1})
	c.Close()
	check(err == kafka.TopicAlreadyExists, "second CreateTopics: want TopicAlreadyExists, got %v", err)

	c = dial()
	ps, err := c.ReadPartitions(topic)
	c.Close()
	must(err, "ReadPartitions(%s)", topic)
	check(len(ps) == 3, "ReadPartitions: %d partitions", len(ps))
	ids := []int{}
	for _, p := range ps {
		ids = append(ids, p.ID)
		check(p.Leader.ID == 0 && fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port) == bootstrap, "partition %d: leader %+v", p.ID, p.Leader)
		check(len(p.Replicas) == 1 && p.Replicas[0].ID == 0 && len(p.Isr) == 1 && p.Isr[0].ID == 0, "partition %d: replicas %v isr %v", p.ID, p.Replicas, p.Isr)
	}
	sort.Ints(ids)
	check(fmt.Sprint(ids) == "[0 1 2]", "partition ids %v", ids)

	c = dial()
	err = c.DeleteTopics(topic)
	c.Close()
	must(err, "DeleteTopics")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c = dial()
		ps, err = c.ReadPartitions(topic)
		c.Close()
		if err == kafka.UnknownTopicOrPartition || (err == nil && len(ps) == 0) {
			break
		}
		check(time.Now().Before(deadline), "ReadPartitions 10 s after DeleteTopics: %d partitions, %v", len(ps), err)
		time.Sleep(200 * time.Millisecond)
	}
	c = dial()
	err = c.DeleteTopics(topic)
	c.Close()
	check(err == kafka.UnknownTopicOrPartition, "second DeleteTopics: want UnknownTopicOrPartition, got %v", err)
	return "CreateTopics (3 partitions + retention.ms), TopicAlreadyExists, ReadPartitions (leader, replicas, isr), DeleteTopics; kafka-go 0.2.1 cannot list all topics nor read configs (no DescribeConfigs)"
}

// ------------------------------------------------------------------ 2 keyed produce (no headers: message format v1)

func s2() string {
	topic := "kafkago-keyed"
	keys, perKey := 10, 8
	ensureTopic(topic)
	base := toMs(time.Now()) - 3600000
	type sent struct {
		key   string
		seq   int
		value []byte
		ts    int64
	}
	var msgs []kafka.Message
	want := map[string]sent{}
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
				value = []byte(fmt.Sprintf("%c\x00\x01\xff value %d/%d ü✓", byte(seq), k, seq))
			}
			ts := base + int64(n)*7
			n++
			msgs = append(msgs, kafka.Message{Key: []byte(key), Value: value, Time: ms(ts)})
			want[fmt.Sprintf("%s#%d", key, seq)] = sent{key, seq, value, ts}
		}
	}
	w := writer(topic, &kafka.Hash{}, nil, 100)
	write(w, msgs...)
	must(w.Close(), "Writer.Close")

	seqs := map[string][]int{}
	parts := map[string]map[int]bool{}
	total, used := 0, 0
	for p := 0; p < autoPartitions; p++ {
		got := readAll(topic, p, 0)
		if len(got) > 0 {
			used++
		}
		for i, m := range got {
			check(m.Offset == int64(i), "partition %d: offset %d at index %d", p, m.Offset, i)
			k := string(m.Key)
			var seq int
			switch {
			case m.Value == nil:
				seq = 2
			case len(m.Value) == 0:
				seq = 1
			default:
				seq = int(m.Value[0])
			}
			x, ok := want[fmt.Sprintf("%s#%d", k, seq)]
			check(ok, "partition %d offset %d: unexpected record key %q value %q", p, m.Offset, m.Key, m.Value)
			where := fmt.Sprintf("record %s#%d at %d/%d", k, seq, p, m.Offset)
			check(string(m.Value) == string(x.value) && (m.Value == nil) == (x.value == nil), "%s: value %q (nil %v), want %q (nil %v)", where, m.Value, m.Value == nil, x.value, x.value == nil)
			check(toMs(m.Time) == x.ts, "%s: timestamp %d, produced with %d", where, toMs(m.Time), x.ts)
			seqs[k] = append(seqs[k], seq)
			if parts[k] == nil {
				parts[k] = map[int]bool{}
			}
			parts[k][p] = true
			total++
		}
	}
	check(total == len(msgs), "consumed %d records, produced %d", total, len(msgs))
	check(used >= 2, "all keys went to one partition")
	for k, s := range seqs {
		check(len(parts[k]) == 1, "key %s spread over partitions %v", k, parts[k])
		check(sort.IntsAreSorted(s) && len(s) == perKey, "key %s consumed in order %v", k, s)
	}
	panic(unsupported{fmt.Sprintf("kafka-go 0.2.1 writes message format v1 (Produce v2): no record headers; the rest passed: %d keyed records with binary, empty and null values and explicit timestamps over %d partitions, byte-exact, per-key order", total, used)})
}

// ------------------------------------------------------------------ 3 compression

func s3() string {
	codecs := []struct {
		name  string
		codec kafka.CompressionCodec
		id    int
	}{{"gzip", gzip.NewCompressionCodec(), 1}, {"snappy", snappy.NewCompressionCodec(), 2}, {"lz4", lz4.NewCompressionCodec(), 3}}
	n := 200
	var ok []string
	for _, cd := range codecs {
		cd := cd
		soft(cd.name, func() {
			topic := "kafkago-comp-" + cd.name
			ensureTopic(topic)
			var msgs []kafka.Message
			for i := 0; i < n; i++ {
				msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("%s-%d", cd.name, i)),
					Value: []byte(fmt.Sprintf("%s payload %d %s", cd.name, i, strings.Repeat("abcdefghij", i%13+1)))})
			}
			w := writer(topic, fixedBalancer(func(kafka.Message) int { return 0 }), cd.codec, 50)
			write(w, msgs...)
			must(w.Close(), "Writer.Close")
			got := readAll(topic, 0, 0)
			check(len(got) == n, "consumed %d of %d", len(got), n)
			for i, m := range got {
				check(m.Offset == int64(i) && string(m.Key) == string(msgs[i].Key) && string(m.Value) == string(msgs[i].Value), "record %d differs (offset %d)", i, m.Offset)
			}
			mid := readAll(topic, 0, 137)
			check(len(mid) > 0 && mid[0].Offset == 137, "reading from 137 (inside a compressed batch): %d records", len(mid))
			checkCodec(topic, 0, cd.id, cd.name, n)
			ok = append(ok, cd.name)
		})
	}
	return strings.Join(ok, ", ") + fmt.Sprintf(": %d records each byte-exact, stored compressed, read from inside a compressed batch (kafka-go 0.2.1 has no zstd)", n)
}

// ------------------------------------------------------------------ 4 consumer group

const groupTopic, groupID = "kafkago-group", "kafkago-group-g"

// logHook follows a group Reader's log for its current assignment ("subscribed to partitions: map[p:offset ...]").
type logHook struct {
	name string
	mu   sync.Mutex
	subs map[int]bool
}

func (h *logHook) Write(b []byte) (int, error) {
	line := string(b)
	fmt.Fprintf(os.Stderr, "[kafka-go %s] %s", h.name, line)
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.Contains(line, "rebalancing consumer group") {
		h.subs = map[int]bool{}
	}
	if i := strings.Index(line, "subscribed to partitions: map["); i >= 0 {
		h.subs = map[int]bool{}
		body := line[i+len("subscribed to partitions: map["):]
		body = body[:strings.Index(body, "]")]
		for _, f := range strings.Fields(body) {
			if p, err := strconv.Atoi(strings.SplitN(f, ":", 2)[0]); err == nil {
				h.subs[p] = true
			}
		}
	}
	return len(b), nil
}

func (h *logHook) current() map[int]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := map[int]bool{}
	for k := range h.subs {
		c[k] = true
	}
	return c
}

type recv struct {
	member string
	m      kafka.Message
}

type groupMember struct {
	hook   *logHook
	r      *kafka.Reader
	cancel context.CancelFunc
	done   chan struct{}
}

func startMember(name, group, topic string, out chan recv) *groupMember {
	h := &logHook{name: name, subs: map[int]bool{}}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{bootstrap}, GroupID: group, Topic: topic, MinBytes: 1, MaxBytes: 1 << 20,
		MaxWait: 250 * time.Millisecond, HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
		RebalanceTimeout: 10 * time.Second, CommitInterval: 0,
		Logger: log.New(h, "", 0), ErrorLogger: log.New(h, "ERROR ", 0),
	})
	ctx, cancel := context.WithCancel(context.Background())
	g := &groupMember{hook: h, r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for ctx.Err() == nil {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					logf("%s: FetchMessage: %v", name, err)
					time.Sleep(100 * time.Millisecond)
				}
				continue
			}
			out <- recv{name, m}
			if err := r.CommitMessages(ctx, m); err != nil {
				logf("%s: CommitMessages: %v", name, err)
			}
		}
	}()
	return g
}

func (g *groupMember) stop() {
	g.cancel()
	<-g.done
	must(g.r.Close(), "Reader.Close")
}

func byKeyIndex(parts int) kafka.Balancer {
	return fixedBalancer(func(m kafka.Message) int {
		i, _ := strconv.Atoi(strings.TrimPrefix(string(m.Key), "k"))
		return i % parts
	})
}

func produceSpread(topic string, n int, prefix string) {
	var msgs []kafka.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint(prefix, i))})
	}
	w := writer(topic, byKeyIndex(autoPartitions), nil, 100)
	write(w, msgs...)
	must(w.Close(), "Writer.Close")
}

func collect(out chan recv, n int, timeout time.Duration, f func(recv)) int {
	got := 0
	to := time.After(timeout)
	var extra <-chan time.Time
	for {
		select {
		case r := <-out:
			f(r)
			got++
			if got == n {
				extra = time.After(time.Second)
			}
		case <-to:
			return got
		case <-extra:
			return got
		}
	}
}

func s4a() string {
	ensureTopic(groupTopic)
	out := make(chan recv, 1000)
	m1 := startMember("m1", groupID, groupTopic, out)
	m2 := startMember("m2", groupID, groupTopic, out)
	deadline := time.Now().Add(30 * time.Second)
	var a1, a2 map[int]bool
	for {
		a1, a2 = m1.hook.current(), m2.hook.current()
		if len(a1) > 0 && len(a2) > 0 && len(a1)+len(a2) == autoPartitions {
			break
		}
		check(time.Now().Before(deadline), "no 2-way split within 30 s: m1 %v, m2 %v", a1, a2)
		time.Sleep(100 * time.Millisecond)
	}
	for p := range a1 {
		check(!a2[p], "partition %d assigned to both members", p)
	}
	produceSpread(groupTopic, 40, "a-")
	seen := map[string]bool{}
	var dups []string
	collect(out, 40, 30*time.Second, func(r recv) {
		a := a1
		if r.member == "m2" {
			a = a2
		}
		check(a[r.m.Partition], "%s got a record of partition %d it is not assigned", r.member, r.m.Partition)
		k := fmt.Sprintf("%d/%d", r.m.Partition, r.m.Offset)
		if seen[k] {
			dups = append(dups, k)
		}
		seen[k] = true
	})
	m1.stop()
	m2.stop()
	check(len(seen) == 40, "group consumed %d distinct records of 40", len(seen))
	check(len(dups) == 0, "records delivered twice: %v", dups)
	return fmt.Sprintf("2 members got %d+%d of 4 partitions, 40 records once each, committed", len(a1), len(a2))
}

func s4b() string {
	produceSpread(groupTopic, 20, "b-")
	out := make(chan recv, 1000)
	m := startMember("m3", groupID, groupTopic, out)
	var vals []string
	collect(out, 20, 30*time.Second, func(r recv) {
		check(r.m.Offset >= 10 && r.m.Offset < 15, "resumed record at offset %d (partition %d), want 10..14", r.m.Offset, r.m.Partition)
		vals = append(vals, string(r.m.Value))
	})
	m.stop()
	sort.Strings(vals)
	check(len(vals) == 20 && strings.HasPrefix(vals[0], "b-") && strings.HasPrefix(vals[19], "b-"), "after restart the group resumed with %v, want exactly b-0..b-19", vals)
	return "after broker restart: the group resumed at the committed offsets with exactly the 20 new records"
}

// ------------------------------------------------------------------ 5 offsets

func s5() string {
	topic, group := "kafkago-seek", "kafkago-seek-g"
	ensureTopic(topic)
	t0 := (toMs(time.Now())/1000)*1000 - 600000
	var msgs []kafka.Message
	for i := 0; i < 10; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)), Time: ms(t0 + int64(i)*1000)})
	}
	w := writer(topic, fixedBalancer(func(kafka.Message) int { return 0 }), nil, 100)
	write(w, msgs...)
	must(w.Close(), "Writer.Close")

	c := leader(topic, 0)
	first, last, err := c.ReadOffsets()
	must(err, "ReadOffsets")
	check(first == 0 && last == 10, "ReadOffsets: %d..%d, want 0..10", first, last)
	at := func(t int64) int64 {
		o, err := c.ReadOffset(ms(t))
		must(err, "ReadOffset(%d)", t)
		return o
	}
	check(at(t0+3500) == 4, "ReadOffset(t0+3500): %d, want 4", at(t0+3500))
	check(at(t0+4000) == 4, "ReadOffset(t0+4000): %d, want 4", at(t0+4000))
	check(at(0) == 0, "ReadOffset(0): %d, want 0", at(0))
	o, err := c.Seek(5, kafka.SeekAbsolute)
	must(err, "Seek(5)")
	check(o == 5, "Seek(5) -> %d", o)
	m, err := c.ReadMessage(1 << 20)
	must(err, "ReadMessage after Seek(5)")
	check(m.Offset == 5 && string(m.Value) == "v5" && toMs(m.Time) == t0+5000, "after Seek(5): offset %d %q ts %d", m.Offset, m.Value, toMs(m.Time))
	o, err = c.Seek(3, kafka.SeekEnd)
	must(err, "Seek(3, SeekEnd)")
	check(o == 7, "Seek(3, SeekEnd) -> %d, want 7", o)
	c.Close()

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootstrap}, Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 250 * time.Millisecond})
	must(r.SetOffset(7), "Reader.SetOffset(7)")
	m, err = r.ReadMessage(ctxT(10 * time.Second))
	must(err, "Reader.ReadMessage from 7")
	check(m.Offset == 7, "Reader from 7: offset %d", m.Offset)
	check(r.Lag() == 2, "Reader.Lag after reading offset 7: %d, want 2", r.Lag())
	lag, err := r.ReadLag(ctxT(10 * time.Second))
	must(err, "ReadLag")
	check(lag == 2, "ReadLag after reading offset 7: %d, want 2", lag)
	r.Close()

	// Committed offsets: a group member reads and commits all 10; a new member resumes at the end.
	out := make(chan recv, 100)
	g := startMember("seek1", group, topic, out)
	n := collect(out, 10, 15*time.Second, func(recv) {})
	g.stop()
	check(n == 10, "group member read %d of 10 records", n)
	out = make(chan recv, 100)
	g = startMember("seek2", group, topic, out)
	n = collect(out, 1, 3*time.Second, func(r recv) { logf("unexpected record %d", r.m.Offset) })
	g.stop()
	check(n == 0, "a new group member re-read %d records although all were committed", n)
	return "ReadOffsets, ReadOffset by time (exact, between, before), Seek absolute/end, Reader.SetOffset, Lag and ReadLag, group resume at the committed offset"
}

// ------------------------------------------------------------------ 6, 7

func s6() string {
	panic(unsupported{"kafka-go 0.2.1 has no idempotent producer (no InitProducerId; Produce v2, message format v1)"})
}

func s7() string {
	panic(unsupported{"kafka-go 0.2.1 has no transactions"})
}

// ------------------------------------------------------------------ 8 error paths (auto-create off)

func s8() string {
	missing, topic := "kafkago-missing", "kafkago-oor"
	// ReadPartitions on a connection not bound to the topic drops topic errors: no partitions.
	c := dial()
	ps, err := c.ReadPartitions(missing)
	c.Close()
	check((err == nil && len(ps) == 0) || err == kafka.UnknownTopicOrPartition, "ReadPartitions(missing): %d partitions, %v", len(ps), err)
	_, err = kafka.DialLeader(ctxT(5*time.Second), "tcp", bootstrap, missing, 0)
	check(err != nil, "DialLeader(missing) succeeded")
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: []string{bootstrap}, Topic: missing, MaxAttempts: 2, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	err = w.WriteMessages(ctxT(20*time.Second), kafka.Message{Value: []byte("v")})
	w.Close()
	check(err != nil, "WriteMessages to the missing topic succeeded")
	logf("write to missing topic failed as expected: %v", err)
	c = dial()
	ps, err = c.ReadPartitions(missing)
	c.Close()
	check((err == nil && len(ps) == 0) || err == kafka.UnknownTopicOrPartition, "%s was auto-created although auto.create.topics.enable=false (%d partitions, %v)", missing, len(ps), err)

	c = dial()
	err = c.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1})
	c.Close()
	must(err, "CreateTopics (v0)")
	var msgs []kafka.Message
	for i := 0; i < 5; i++ {
		msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprint("v", i))})
	}
	w = writer(topic, fixedBalancer(func(kafka.Message) int { return 0 }), nil, 100)
	write(w, msgs...)
	w.Close()

	// none/error: kafka-go checks an absolute offset against ListOffsets and fails.
	c = leader(topic, 0)
	_, err = c.Seek(100, kafka.SeekAbsolute)
	check(err == kafka.OffsetOutOfRange, "Conn.Seek(100) of 5 records: want OffsetOutOfRange, got %v", err)
	c.Close()
	// kafka-go 0.2.1 has no auto.offset.reset: FirstOffset / LastOffset are its earliest / latest.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootstrap}, Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 250 * time.Millisecond})
	must(r.SetOffset(kafka.FirstOffset), "SetOffset(FirstOffset)")
	m, err := r.ReadMessage(ctxT(10 * time.Second))
	must(err, "ReadMessage from FirstOffset")
	check(m.Offset == 0, "FirstOffset: first record at %d", m.Offset)
	r.Close()
	r = kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootstrap}, Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 250 * time.Millisecond})
	must(r.SetOffset(kafka.LastOffset), "SetOffset(LastOffset)")
	_, err = r.ReadMessage(ctxT(1500 * time.Millisecond))
	check(err != nil, "LastOffset returned a record before anything new was produced")
	w = writer(topic, fixedBalancer(func(kafka.Message) int { return 0 }), nil, 100)
	write(w, kafka.Message{Value: []byte("v5")})
	w.Close()
	m, err = r.ReadMessage(ctxT(10 * time.Second))
	must(err, "ReadMessage from LastOffset after a new record")
	check(m.Offset == 5 && string(m.Value) == "v5", "LastOffset then one new record: offset %d %q", m.Offset, m.Value)
	r.Close()
	return "unknown topic (ReadPartitions, DialLeader, Writer; not auto-created); out of range: Seek error; FirstOffset / LastOffset (kafka-go 0.2.1 has no auto.offset.reset)"
}

func main() {
	runMain(map[string]func() string{"1": s1, "2": s2, "3": s3, "4a": s4a, "4b": s4b, "5": s5, "6": s6, "7": s7, "8": s8})
}
