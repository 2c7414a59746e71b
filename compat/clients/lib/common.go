// Shared scaffolding of the Go compat programs: one scenario (or phase) per run,
//
//	scenarios SCENARIO BOOTSTRAP
//
// printing "pass|fail|unsupported<TAB>one-line detail" as the last stdout line; logs go to stderr.
// DATA_DIR (env, optional) is the broker's log.dirs, for checks on the stored batches.
package main

import (
	"encoding/binary"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
)

var bootstrap string

type failure struct{ msg string }
type unsupported struct{ msg string }

// check ends the scenario with a failure unless ok.
func check(ok bool, format string, a ...interface{}) {
	if !ok {
		panic(failure{fmt.Sprintf(format, a...)})
	}
}

// must ends the scenario with the client's error.
func must(err error, what string, a ...interface{}) {
	if err != nil {
		panic(failure{fmt.Sprintf(what, a...) + ": " + err.Error()})
	}
}

var problems []string

// soft runs f; a failure in it is recorded and the scenario goes on (it fails at the end).
func soft(what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			problems = append(problems, what+": "+describe(r))
			logf("PROBLEM %s: %s", what, describe(r))
		}
	}()
	f()
}

func describe(r interface{}) string {
	switch v := r.(type) {
	case failure:
		return v.msg
	case error:
		return v.Error()
	default:
		return fmt.Sprint(v)
	}
}

func logf(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "[go] "+format+"\n", a...)
}

type batch struct {
	BaseOffset      int64
	LastOffsetDelta int32
	Attributes      int16
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
}

func (b batch) codec() int { return int(b.Attributes & 7) }

// diskBatches reads the record batches of a partition from Kafka's segment files (nil if DATA_DIR is unset).
func diskBatches(topic string, partition int) []batch {
	dir := os.Getenv("DATA_DIR")
	if dir == "" {
		return nil
	}
	segs, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("%s-%d", topic, partition), "*.log"))
	must(err, "listing segments")
	sort.Strings(segs)
	out := []batch{}
	for _, seg := range segs {
		buf, err := ioutil.ReadFile(seg)
		must(err, "reading %s", seg)
		for pos := 0; pos+61 <= len(buf); {
			l := int(int32(binary.BigEndian.Uint32(buf[pos+8:])))
			if l <= 0 || pos+12+l > len(buf) {
				break
			}
			check(buf[pos+16] == 2, "on-disk batch in %s has magic %d", seg, buf[pos+16])
			out = append(out, batch{
				BaseOffset:      int64(binary.BigEndian.Uint64(buf[pos:])),
				Attributes:      int16(binary.BigEndian.Uint16(buf[pos+21:])),
				LastOffsetDelta: int32(binary.BigEndian.Uint32(buf[pos+23:])),
				ProducerID:      int64(binary.BigEndian.Uint64(buf[pos+43:])),
				ProducerEpoch:   int16(binary.BigEndian.Uint16(buf[pos+51:])),
				BaseSequence:    int32(binary.BigEndian.Uint32(buf[pos+53:])),
			})
			pos += 12 + l
		}
	}
	return out
}

// checkCodec: every stored batch of the partition has the codec id (1 gzip, 2 snappy, 3 lz4, 4 zstd).
func checkCodec(topic string, partition int, id int, name string, records int) {
	bs := diskBatches(topic, partition)
	if bs == nil {
		return
	}
	check(len(bs) > 0, "no batches on disk for %s-%d", topic, partition)
	for _, b := range bs {
		check(b.codec() == id, "stored batch at offset %d has codec %d, want %d (%s)", b.BaseOffset, b.codec(), id, name)
	}
	check(len(bs) < records, "each record in its own batch (%d batches)", len(bs))
}

// checkProducerSequences: batches carry producer ids (>= 0) with contiguous sequences per producer;
// returns the number of distinct producer ids.
func checkProducerSequences(topic string, partition int) int {
	bs := diskBatches(topic, partition)
	if bs == nil {
		return -1
	}
	next := map[int64]int32{}
	for _, b := range bs {
		check(b.ProducerID >= 0, "partition %d: stored batch at %d has producer id %d (not idempotent)", partition, b.BaseOffset, b.ProducerID)
		want := next[b.ProducerID]
		check(b.BaseSequence == want, "partition %d: batch at %d of producer %d has sequence %d, want %d", partition, b.BaseOffset, b.ProducerID, b.BaseSequence, want)
		next[b.ProducerID] = want + b.LastOffsetDelta + 1
	}
	return len(next)
}

func runMain(scenarios map[string]func() string) {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: scenarios SCENARIO BOOTSTRAP")
		os.Exit(2)
	}
	bootstrap = os.Args[2]
	f, ok := scenarios[os.Args[1]]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown scenario", os.Args[1])
		os.Exit(2)
	}
	status, detail := "pass", ""
	func() {
		defer func() {
			if r := recover(); r != nil {
				if u, ok := r.(unsupported); ok {
					status, detail = "unsupported", u.msg
					return
				}
				logf("scenario failed: %s\n%s", describe(r), debug.Stack())
				status = "fail"
				detail = strings.Join(append(problems, describe(r)), "; ")
			}
		}()
		detail = f()
		if len(problems) > 0 {
			status, detail = "fail", strings.Join(problems, "; ")
		}
	}()
	detail = strings.Join(strings.Fields(detail), " ")
	fmt.Printf("%s\t%s\n", status, detail)
	os.Exit(0)
}
