// Package logtest is the test suite every backend of package log must pass: Run drives a
// backend through subtests of the semantics the log package doc defines, so that code above the
// log never knows which backend it runs on.
//
// A backend's test calls Run with a Harness:
//
//	func TestSuite(t *testing.T) {
//		logtest.Run(t, logtest.Harness{Open: func(t *testing.T) log.Log { ... }})
//	}
//
// The suite never sleeps to make time pass: retention and tombstone expiry are exercised with
// record timestamps hours in the past, against the backend's real clock. It never asserts on
// durations either; the only waits are fetches with MaxWait, which must return as soon as a
// record arrives (a broken backend makes them fail after MaxWait, not hang).
//
// What the suite relies on beyond the log package doc (a Harness must provide it):
//
//   - Open returns an empty log whose partitions roll segments at most every MaxSegmentBytes
//     bytes (size retention removes whole segments, and the subtests produce a few times that).
//   - Clean (followed by Harness.AfterClean) compacts every record of a compacted partition
//     except, at most, the records of the last Produce call to it, whose keys need not
//     supersede older records either: a backend that only compacts sealed segments seals the
//     active one, Kafka's fake cluster keeps its last batch out of compaction. The compaction
//     subtests end each scenario with a "barrier" record of a key used nowhere else.
//   - Timestamps are kept to the millisecond, as Kafka does: a produced Timestamp comes back
//     truncated to the millisecond, from Produce and from Fetch.
package logtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// MaxSegmentBytes is the largest segment size the suite assumes a backend under test uses.
const MaxSegmentBytes = 4 << 10

// Harness describes a backend under test.
type Harness struct {
	// Open returns a new, empty log for one subtest. It should close the log in a t.Cleanup and
	// ignore ErrClosed there (some subtests close it themselves). Required.
	Open func(t *testing.T) log.Log
	// AfterClean, when set, runs right after every Clean the suite calls, with the same t that
	// Open received for that log: a backend-side action that completes cleaning, such as the
	// Kafka fake cluster's own compaction. The suite reads Removal.ByCompaction only after a
	// further Clean, so a backend may count at Clean what its AfterClean removed before. Every
	// other counter is read right after Clean and AfterClean.
	AfterClean func(t *testing.T)
	// SkipHeldBackCompaction, when not empty, skips the subtests of the held-back rule under
	// compaction with this reason: for a backend whose compaction cannot be held back by
	// committed offsets (a Kafka broker's log cleaner).
	SkipHeldBackCompaction string
	// SkipHeldBackRetention, when not empty, skips the subtests of the held-back rule under
	// retention with this reason.
	SkipHeldBackRetention string
}

// Run runs the suite against the backend h describes.
func Run(t *testing.T, h Harness) {
	if h.Open == nil {
		t.Fatal("logtest: Harness.Open is required")
	}
	s := &suite{h: h}
	groups := []struct {
		name  string
		tests []subtest
	}{
		{"Topics", s.topicTests()},
		{"Produce", s.produceTests()},
		{"Records", s.recordTests()},
		{"Fetch", s.fetchTests()},
		{"OffsetForTime", s.offsetForTimeTests()},
		{"Retention", s.retentionTests()},
		{"Compaction", s.compactionTests()},
		{"Groups", s.groupTests()},
		{"HeldBack", s.heldBackTests()},
		{"Close", s.closeTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) {
					if st.skip != "" {
						t.Skip(st.skip)
					}
					st.run(t)
				})
			}
		})
	}
}

type subtest struct {
	name string
	skip string // non-empty: skip with this reason
	run  func(t *testing.T)
}

type suite struct {
	h Harness
}

// testTimeout bounds every subtest's context, so that a hung backend fails instead of blocking.
const testTimeout = 2 * time.Minute

// open returns a fresh log and a context for the subtest.
func (s *suite) open(t *testing.T) (context.Context, log.Log) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	l := s.h.Open(t)
	if l == nil {
		t.Fatal("logtest: Harness.Open returned nil")
	}
	return ctx, l
}

// clean runs Clean and the harness's AfterClean.
func (s *suite) clean(t *testing.T, ctx context.Context, l log.Log) {
	t.Helper()
	if err := l.Clean(ctx); err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if s.h.AfterClean != nil {
		s.h.AfterClean(t)
	}
}

func create(t *testing.T, ctx context.Context, l log.Log, name string, cfg log.TopicConfig) {
	t.Helper()
	if err := l.CreateTopic(ctx, name, cfg); err != nil {
		t.Fatalf("CreateTopic(%q, %+v): %v", name, cfg, err)
	}
}

func produce(t *testing.T, ctx context.Context, l log.Log, topic string, recs ...log.Record) []log.Record {
	t.Helper()
	out, err := l.Produce(ctx, topic, recs)
	if err != nil {
		t.Fatalf("Produce(%q, %d records): %v", topic, len(recs), err)
	}
	if len(out) != len(recs) {
		t.Fatalf("Produce(%q) returned %d records for %d", topic, len(out), len(recs))
	}
	return out
}

// produceEach produces each record in its own call (its own batch) and returns them.
func produceEach(t *testing.T, ctx context.Context, l log.Log, topic string, recs ...log.Record) []log.Record {
	t.Helper()
	var out []log.Record
	for _, r := range recs {
		out = append(out, produce(t, ctx, l, topic, r)...)
	}
	return out
}

// rec builds a record for partition p (-1: let the backend choose) with string key and value
// ("" key: nil key).
func rec(p int32, key, value string) log.Record {
	r := log.Record{Partition: p, Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// recAt is rec with a timestamp.
func recAt(p int32, key, value string, ts time.Time) log.Record {
	r := rec(p, key, value)
	r.Timestamp = ts
	return r
}

func offsets(t *testing.T, ctx context.Context, l log.Log, topic string, p int32) (int64, int64) {
	t.Helper()
	e, x, err := l.Offsets(ctx, topic, p)
	if err != nil {
		t.Fatalf("Offsets(%q, %d): %v", topic, p, err)
	}
	return e, x
}

func fetch(t *testing.T, ctx context.Context, l log.Log, topic string, p int32, off int64, opts log.FetchOptions) []log.Record {
	t.Helper()
	recs, err := l.Fetch(ctx, topic, p, off, opts)
	if err != nil {
		t.Fatalf("Fetch(%q, %d, %d, %+v): %v", topic, p, off, opts, err)
	}
	checkOrdered(t, recs, topic, p, off)
	return recs
}

// checkOrdered checks that fetched records belong to the partition, start at or after off and
// have increasing offsets.
func checkOrdered(t *testing.T, recs []log.Record, topic string, p int32, off int64) {
	t.Helper()
	prev := off - 1
	for _, r := range recs {
		if r.Topic != topic || r.Partition != p {
			t.Fatalf("fetched record of %q/%d from %q/%d", r.Topic, r.Partition, topic, p)
		}
		if r.Offset <= prev {
			t.Fatalf("fetched offset %d after %d (fetch from %d)", r.Offset, prev, off)
		}
		prev = r.Offset
	}
}

// fetchAll returns every retained record of a partition, from Earliest to Latest, in small
// fetches (so that reads cross batches, segments and gaps).
func fetchAll(t *testing.T, ctx context.Context, l log.Log, topic string, p int32) []log.Record {
	t.Helper()
	earliest, latest := offsets(t, ctx, l, topic, p)
	var all []log.Record
	for off := earliest; off < latest; {
		recs := fetch(t, ctx, l, topic, p, off, log.FetchOptions{MaxRecords: 7})
		if len(recs) == 0 {
			break // only removed offsets remain
		}
		all = append(all, recs...)
		off = recs[len(recs)-1].Offset + 1
	}
	return all
}

// sameRecord compares a fetched record with the expected one: every field, keys and values
// with their nil-ness (a nil value is a tombstone), header values by content.
func sameRecord(got, want log.Record) error {
	switch {
	case got.Topic != want.Topic || got.Partition != want.Partition || got.Offset != want.Offset:
		return fmt.Errorf("record %s/%d@%d, want %s/%d@%d", got.Topic, got.Partition, got.Offset, want.Topic, want.Partition, want.Offset)
	case (got.Key == nil) != (want.Key == nil) || !bytes.Equal(got.Key, want.Key):
		return fmt.Errorf("offset %d: key %s, want %s", want.Offset, show(got.Key), show(want.Key))
	case (got.Value == nil) != (want.Value == nil) || !bytes.Equal(got.Value, want.Value):
		return fmt.Errorf("offset %d: value %s, want %s", want.Offset, show(got.Value), show(want.Value))
	case !got.Timestamp.Equal(want.Timestamp):
		return fmt.Errorf("offset %d: timestamp %v, want %v", want.Offset, got.Timestamp, want.Timestamp)
	case len(got.Headers) != len(want.Headers):
		return fmt.Errorf("offset %d: %d headers, want %d", want.Offset, len(got.Headers), len(want.Headers))
	}
	for i := range got.Headers {
		if got.Headers[i].Key != want.Headers[i].Key || !bytes.Equal(got.Headers[i].Value, want.Headers[i].Value) {
			return fmt.Errorf("offset %d: header %d is %q=%s, want %q=%s", want.Offset, i, got.Headers[i].Key, show(got.Headers[i].Value), want.Headers[i].Key, show(want.Headers[i].Value))
		}
	}
	return nil
}

func show(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 40 {
		return fmt.Sprintf("%q...(%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// sameRecords compares fetched records with the expected ones.
func sameRecords(t *testing.T, got, want []log.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records %v, want %d %v", len(got), offsetsOf(got), len(want), offsetsOf(want))
	}
	for i := range got {
		if err := sameRecord(got[i], want[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func offsetsOf(recs []log.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Offset
	}
	return out
}

// wantErr fails unless err matches target with errors.Is.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// wantRange fails unless err is an *OffsetRangeError with the fields given.
func wantRange(t *testing.T, what string, err error, topic string, p int32, off, earliest, latest int64) {
	t.Helper()
	wantErr(t, what, err, log.ErrOffsetOutOfRange)
	var re *log.OffsetRangeError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v is not an *OffsetRangeError", what, err)
	}
	want := log.OffsetRangeError{Topic: topic, Partition: p, Offset: off, Earliest: earliest, Latest: latest}
	if *re != want {
		t.Fatalf("%s: got %+v, want %+v", what, *re, want)
	}
}

func describe(t *testing.T, ctx context.Context, l log.Log, topic string) log.TopicInfo {
	t.Helper()
	info, err := l.DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatalf("DescribeTopic(%q): %v", topic, err)
	}
	return info
}

func ms(ts time.Time) time.Time { return time.UnixMilli(ts.UnixMilli()) }

func sortedInt64(xs []int64) []int64 {
	out := append([]int64(nil), xs...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// kafkaPartition is Kafka's default partitioner for a key: murmur2, made positive, modulo n.
// The suite has its own copy so that a backend's partitioner is checked against Kafka's.
func kafkaPartition(key []byte, n int32) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
	)
	h := uint32(seed) ^ uint32(len(key))
	i := 0
	for ; i+4 <= len(key); i += 4 {
		k := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		k *= m
		k ^= k >> 24
		k *= m
		h = h*m ^ k
	}
	switch len(key) - i {
	case 3:
		h ^= uint32(key[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return (int32(h) & 0x7fffffff) % n
}
