package logtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

func (s *suite) groupTests() []subtest {
	return []subtest{
		{name: "CommitAndRead", run: s.testGroups},
	}
}

func (s *suite) heldBackTests() []subtest {
	return []subtest{
		{name: "RetentionTime", skip: s.h.SkipHeldBackRetention, run: s.testHeldBackTime},
		{name: "LowestGroupWins", skip: s.h.SkipHeldBackRetention, run: s.testHeldBackLowest},
		{name: "RetentionSize", skip: s.h.SkipHeldBackRetention, run: s.testHeldBackSize},
		{name: "DeleteUncommitted", run: s.testHeldBackDeleteUncommitted},
		{name: "Compaction", skip: s.h.SkipHeldBackCompaction, run: s.testHeldBackCompaction},
		{name: "CompactionDeleteUncommitted", run: s.testHeldBackCompactionDeleteUncommitted},
	}
}

func (s *suite) closeTests() []subtest {
	return []subtest{
		{name: "ThenErrClosed", run: s.testClose},
		{name: "EndsWaitingFetch", run: s.testCloseWakesFetch},
	}
}

func commit(t *testing.T, ctx context.Context, l log.Log, group, topic string, offs map[int32]int64) {
	t.Helper()
	if err := l.CommitOffsets(ctx, group, topic, offs); err != nil {
		t.Fatalf("CommitOffsets(%q, %q, %v): %v", group, topic, offs, err)
	}
}

func committed(t *testing.T, ctx context.Context, l log.Log, group, topic string, want map[int32]int64) {
	t.Helper()
	got, err := l.CommittedOffsets(ctx, group, topic)
	if err != nil {
		t.Fatalf("CommittedOffsets(%q, %q): %v", group, topic, err)
	}
	if len(got) != len(want) || !maps.Equal(got, want) {
		t.Fatalf("CommittedOffsets(%q, %q) = %v, want %v", group, topic, got, want)
	}
}

// testGroups: commits are read back per group and topic, a later commit of a partition replaces
// the earlier one (lower or higher), groups are listed sorted.
func (s *suite) testGroups(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 3})
	create(t, ctx, l, "u", log.TopicConfig{})
	if gs, err := l.ListGroups(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("ListGroups of a new log = %q, %v; want none", gs, err)
	}
	committed(t, ctx, l, "nobody", "t", map[int32]int64{})

	commit(t, ctx, l, "g1", "t", map[int32]int64{0: 5, 1: 7})
	committed(t, ctx, l, "g1", "t", map[int32]int64{0: 5, 1: 7})
	commit(t, ctx, l, "g1", "t", map[int32]int64{1: 3, 2: 1})
	committed(t, ctx, l, "g1", "t", map[int32]int64{0: 5, 1: 3, 2: 1})
	commit(t, ctx, l, "g0", "t", map[int32]int64{2: 0})
	commit(t, ctx, l, "g1", "u", map[int32]int64{0: 9})
	commit(t, ctx, l, "a-group.with:odd/chars", "u", map[int32]int64{0: 1})

	committed(t, ctx, l, "g0", "t", map[int32]int64{2: 0})
	committed(t, ctx, l, "g0", "u", map[int32]int64{})
	committed(t, ctx, l, "g1", "u", map[int32]int64{0: 9})
	committed(t, ctx, l, "g1", "t", map[int32]int64{0: 5, 1: 3, 2: 1})
	committed(t, ctx, l, "a-group.with:odd/chars", "u", map[int32]int64{0: 1})
	gs, err := l.ListGroups(ctx)
	if want := []string{"a-group.with:odd/chars", "g0", "g1"}; err != nil || !slices.Equal(gs, want) {
		t.Fatalf("ListGroups = %q, %v; want %q", gs, err, want)
	}
}

// heldBackTopic creates topic "t" with cfg and produces n records with timestamps three hours
// old to partition p, one call each, with values of size bytes.
func heldBackTopic(t *testing.T, ctx context.Context, l log.Log, cfg log.TopicConfig, p int32, n, size int) []log.Record {
	t.Helper()
	if err := l.CreateTopic(ctx, "t", cfg); err != nil && !errors.Is(err, log.ErrTopicExists) {
		t.Fatalf("CreateTopic: %v", err)
	}
	old := time.Now().Add(-3 * time.Hour)
	var out []log.Record
	for i := range n {
		r := log.Record{Partition: p, Key: fmt.Appendf(nil, "k%02d", i), Value: bytes.Repeat([]byte{'a' + byte(i%26)}, size), Timestamp: old}
		out = append(out, produce(t, ctx, l, "t", r)...)
	}
	return out
}

// keptFrom checks that every record from offset n on is still there and Earliest <= n.
func keptFrom(t *testing.T, ctx context.Context, l log.Log, p int32, all []log.Record, n int64) int64 {
	t.Helper()
	earliest, _ := offsets(t, ctx, l, "t", p)
	if earliest > n {
		t.Fatalf("partition %d: Earliest %d, past the committed offset %d", p, earliest, n)
	}
	got := fetchAll(t, ctx, l, "t", p)
	if len(got) < len(all)-int(n) {
		t.Fatalf("partition %d: %d records retained, want at least %d (from the committed offset %d)", p, len(got), len(all)-int(n), n)
	}
	sameRecords(t, got[len(got)-(len(all)-int(n)):], all[n:])
	return earliest
}

// testHeldBackTime: a group committed at 4 holds retention back at 4 in that partition only;
// committing further releases the records.
func (s *suite) testHeldBackTime(t *testing.T) {
	ctx, l := s.open(t)
	cfg := log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: time.Hour}}
	all := heldBackTopic(t, ctx, l, cfg, 0, 10, 10)
	heldBackTopic(t, ctx, l, cfg, 1, 5, 10)
	commit(t, ctx, l, "g", "t", map[int32]int64{0: 4})
	s.clean(t, ctx, l)
	e0 := keptFrom(t, ctx, l, 0, all, 4)
	if e1, x1 := offsets(t, ctx, l, "t", 1); e1 != 5 || x1 != 5 {
		t.Fatalf("partition 1 (no commit) Offsets = %d, %d; want 5, 5", e1, x1)
	}
	if r := describe(t, ctx, l, "t").Removed; r.ByTime != e0+5 || r.HeldBack != 6 {
		t.Fatalf("Removed = %+v, want ByTime %d and HeldBack 6 (offsets 4..9)", r, e0+5)
	}
	commit(t, ctx, l, "g", "t", map[int32]int64{0: 10})
	s.clean(t, ctx, l)
	if e, x := offsets(t, ctx, l, "t", 0); e != 10 || x != 10 {
		t.Fatalf("after committing everything Offsets = %d, %d; want 10, 10", e, x)
	}
	if r := describe(t, ctx, l, "t").Removed; r.ByTime != 15 || r.HeldBack < 6 {
		t.Fatalf("Removed = %+v, want ByTime 15", r)
	}
}

// testHeldBackLowest: the lowest commit of any group holds; a group without a commit for the
// partition holds nothing.
func (s *suite) testHeldBackLowest(t *testing.T) {
	ctx, l := s.open(t)
	all := heldBackTopic(t, ctx, l, log.TopicConfig{Retention: log.Retention{Time: time.Hour}}, 0, 10, 10)
	create(t, ctx, l, "other", log.TopicConfig{})
	commit(t, ctx, l, "g1", "t", map[int32]int64{0: 8})
	commit(t, ctx, l, "g2", "t", map[int32]int64{0: 3})
	commit(t, ctx, l, "g3", "other", map[int32]int64{0: 0})
	s.clean(t, ctx, l)
	keptFrom(t, ctx, l, 0, all, 3)
	if r := describe(t, ctx, l, "t").Removed; r.HeldBack != 7 {
		t.Fatalf("Removed = %+v, want HeldBack 7 (offsets 3..9)", r)
	}
	commit(t, ctx, l, "g2", "t", map[int32]int64{0: 9})
	s.clean(t, ctx, l)
	keptFrom(t, ctx, l, 0, all, 8)
}

// testHeldBackSize: size retention is held back too.
func (s *suite) testHeldBackSize(t *testing.T) {
	ctx, l := s.open(t)
	all := heldBackTopic(t, ctx, l, log.TopicConfig{Retention: log.Retention{Bytes: MaxSegmentBytes}}, 0, 40, 512)
	commit(t, ctx, l, "g", "t", map[int32]int64{0: 5})
	s.clean(t, ctx, l)
	e := keptFrom(t, ctx, l, 0, all, 5)
	if r := describe(t, ctx, l, "t").Removed; r.BySize != e || r.HeldBack <= 0 {
		t.Fatalf("Removed = %+v, want BySize %d and HeldBack > 0", r, e)
	}
	commit(t, ctx, l, "g", "t", map[int32]int64{0: 40})
	s.clean(t, ctx, l)
	if e, _ := offsets(t, ctx, l, "t", 0); e <= 5 {
		t.Fatalf("Earliest %d after committing everything, want > 5", e)
	}
}

// testHeldBackDeleteUncommitted: with DeleteUncommitted, commits hold nothing back.
func (s *suite) testHeldBackDeleteUncommitted(t *testing.T) {
	ctx, l := s.open(t)
	heldBackTopic(t, ctx, l, log.TopicConfig{Retention: log.Retention{Time: time.Hour}, DeleteUncommitted: true}, 0, 10, 10)
	commit(t, ctx, l, "g", "t", map[int32]int64{0: 2})
	s.clean(t, ctx, l)
	if e, x := offsets(t, ctx, l, "t", 0); e != 10 || x != 10 {
		t.Fatalf("Offsets = %d, %d; want 10, 10", e, x)
	}
	if r := describe(t, ctx, l, "t").Removed; r.ByTime != 10 || r.HeldBack != 0 {
		t.Fatalf("Removed = %+v, want ByTime 10, HeldBack 0", r)
	}
}

// heldBackCompaction produces, to a compacted topic with a one-hour tombstone retention:
// 0..4 k=v0..v4, 5 d=tombstone three hours old, 6 barrier.
func heldBackCompaction(t *testing.T, ctx context.Context, l log.Log, deleteUncommitted bool) []log.Record {
	t.Helper()
	create(t, ctx, l, "t", log.TopicConfig{Compact: true, TombstoneRetention: time.Hour, DeleteUncommitted: deleteUncommitted})
	var out []log.Record
	for i := range 5 {
		out = append(out, produce(t, ctx, l, "t", rec(0, "k", fmt.Sprintf("v%d", i)))...)
	}
	out = append(out, produce(t, ctx, l, "t", log.Record{Partition: 0, Key: []byte("d"), Timestamp: time.Now().Add(-3 * time.Hour)})...)
	out = append(out, produce(t, ctx, l, "t", rec(0, "barrier", "x"))...)
	return out
}

func pick(recs []log.Record, offs ...int64) []log.Record {
	var out []log.Record
	for _, o := range offs {
		out = append(out, recs[o])
	}
	return out
}

// testHeldBackCompaction: compaction removes no record at or after the lowest commit.
func (s *suite) testHeldBackCompaction(t *testing.T) {
	ctx, l := s.open(t)
	out := heldBackCompaction(t, ctx, l, false)
	commit(t, ctx, l, "g", "t", map[int32]int64{0: 2})
	s.clean(t, ctx, l)
	// 0 and 1 are superseded and below the commit; 2 and 3 are superseded, 5 is an expired
	// tombstone, but they are at or after it.
	sameRecords(t, fetchAll(t, ctx, l, "t", 0), pick(out, 2, 3, 4, 5, 6))
	if r := describe(t, ctx, l, "t").Removed; r.HeldBack != 3 {
		t.Fatalf("Removed = %+v, want HeldBack 3", r)
	}
	commit(t, ctx, l, "g", "t", map[int32]int64{0: 7})
	s.clean(t, ctx, l)
	sameRecords(t, fetchAll(t, ctx, l, "t", 0), pick(out, 4, 6))
}

func (s *suite) testHeldBackCompactionDeleteUncommitted(t *testing.T) {
	ctx, l := s.open(t)
	out := heldBackCompaction(t, ctx, l, true)
	commit(t, ctx, l, "g", "t", map[int32]int64{0: 2})
	s.clean(t, ctx, l)
	sameRecords(t, fetchAll(t, ctx, l, "t", 0), pick(out, 4, 6))
	if r := describe(t, ctx, l, "t").Removed; r.HeldBack != 0 {
		t.Fatalf("Removed = %+v, want HeldBack 0", r)
	}
}

// testClose: every call after Close fails with ErrClosed.
func (s *suite) testClose(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	produce(t, ctx, l, "t", rec(0, "k", "v"))
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	calls := map[string]func() error{
		"CreateTopic": func() error { return l.CreateTopic(ctx, "u", log.TopicConfig{}) },
		"DeleteTopic": func() error { return l.DeleteTopic(ctx, "t") },
		"ListTopics":  func() error { _, err := l.ListTopics(ctx); return err },
		"DescribeTopic": func() error {
			_, err := l.DescribeTopic(ctx, "t")
			return err
		},
		"Produce": func() error { _, err := l.Produce(ctx, "t", []log.Record{rec(0, "k", "v")}); return err },
		"Fetch":   func() error { _, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{}); return err },
		"Offsets": func() error { _, _, err := l.Offsets(ctx, "t", 0); return err },
		"OffsetForTime": func() error {
			_, err := l.OffsetForTime(ctx, "t", 0, time.Now())
			return err
		},
		"CommitOffsets": func() error { return l.CommitOffsets(ctx, "g", "t", map[int32]int64{0: 1}) },
		"CommittedOffsets": func() error {
			_, err := l.CommittedOffsets(ctx, "g", "t")
			return err
		},
		"ListGroups": func() error { _, err := l.ListGroups(ctx); return err },
		"Clean":      func() error { return l.Clean(ctx) },
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		wantErr(t, name+" after Close", calls[name](), log.ErrClosed)
	}
	if err := l.Close(); err != nil && !errors.Is(err, log.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// testCloseWakesFetch: Close ends a fetch waiting for records (it does not wait for MaxWait).
func (s *suite) testCloseWakesFetch(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	done := make(chan error, 1)
	go func() {
		_, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{MaxWait: time.Hour})
		done <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting Fetch outlived Close until the test's deadline: %v", err)
	}
}
