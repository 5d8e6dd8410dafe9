package logtest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

func (s *suite) retentionTests() []subtest {
	return []subtest{
		{name: "Time", run: s.testRetentionTime},
		{name: "TimeKeepsNewer", run: s.testRetentionTimeKeepsNewer},
		{name: "Size", run: s.testRetentionSize},
		{name: "Unlimited", run: s.testRetentionUnlimited},
	}
}

func (s *suite) compactionTests() []subtest {
	return []subtest{
		{name: "LatestPerKey", run: s.testCompaction},
		{name: "RepeatedCleans", run: s.testCompactionRepeated},
	}
}

// testRetentionTime: records older than the retention go at the next Clean, Earliest moves to
// the first retained offset, fetches below it fail; newer records and late records written
// after them stay.
func (s *suite) testRetentionTime(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Retention: log.Retention{Time: time.Hour}})
	old := time.Now().Add(-3 * time.Hour)
	for i := range 10 {
		produce(t, ctx, l, "t", recAt(0, "", fmt.Sprintf("old %d", i), old.Add(time.Duration(i)*time.Second)))
	}
	s.clean(t, ctx, l)
	if e, x := offsets(t, ctx, l, "t", 0); e != 10 || x != 10 {
		t.Fatalf("after Clean Offsets = %d, %d; want 10, 10 (every record expired)", e, x)
	}
	_, err := l.Fetch(ctx, "t", 0, 3, log.FetchOptions{})
	wantRange(t, "Fetch below Earliest", err, "t", 0, 3, 10, 10)
	info := describe(t, ctx, l, "t")
	if r := info.Removed; r.ByTime != 10 || r.BySize != 0 || r.ByCompaction != 0 || r.HeldBack != 0 || r.Bytes <= 0 {
		t.Fatalf("Removed = %+v, want ByTime 10 and some Bytes", r)
	}
	if p := info.Partitions[0]; p.Earliest != 10 || p.Latest != 10 || p.Records != 0 {
		t.Fatalf("partition = %+v, want an empty partition at 10", p)
	}

	// New records, then late ones with old timestamps: retention removes a prefix of the
	// partition, so nothing goes.
	var want []log.Record
	for i := range 5 {
		want = append(want, produce(t, ctx, l, "t", rec(0, "", fmt.Sprintf("new %d", i)))...)
	}
	for i := range 2 {
		want = append(want, produce(t, ctx, l, "t", recAt(0, "", fmt.Sprintf("late %d", i), old))...)
	}
	s.clean(t, ctx, l)
	if e, _ := offsets(t, ctx, l, "t", 0); e != 10 {
		t.Fatalf("Earliest %d after the second Clean, want 10", e)
	}
	sameRecords(t, fetchAll(t, ctx, l, "t", 0), want)
	if got, err := l.OffsetForTime(ctx, "t", 0, time.Now().Add(-2*time.Hour)); err != nil || got != 10 {
		t.Fatalf("OffsetForTime(now-2h) = %d, %v; want 10", got, err)
	}
	if r := describe(t, ctx, l, "t").Removed; r.ByTime != 10 {
		t.Fatalf("Removed.ByTime = %d after a Clean that removed nothing, want 10", r.ByTime)
	}
}

// testRetentionTimeKeepsNewer: old records followed by new ones: whatever the backend's
// granularity, every new record stays and Earliest counts what went.
func (s *suite) testRetentionTimeKeepsNewer(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: time.Hour}})
	old := time.Now().Add(-5 * time.Hour)
	var want []log.Record
	for i := range 20 {
		r := rec(1, "", fmt.Sprintf("record %d %s", i, bytes.Repeat([]byte("x"), 300)))
		if i < 12 {
			r.Timestamp = old
		}
		out := produce(t, ctx, l, "t", r)
		if i >= 12 {
			want = append(want, out...)
		}
	}
	s.clean(t, ctx, l)
	earliest, latest := offsets(t, ctx, l, "t", 1)
	if earliest > 12 || latest != 20 {
		t.Fatalf("Offsets = %d, %d; want Earliest <= 12 (the first new record) and Latest 20", earliest, latest)
	}
	got := fetchAll(t, ctx, l, "t", 1)
	if len(got) != 20-int(earliest) {
		t.Fatalf("%d records retained from Earliest %d, want %d", len(got), earliest, 20-earliest)
	}
	sameRecords(t, got[len(got)-8:], want)
	if r := describe(t, ctx, l, "t").Removed; r.ByTime != earliest {
		t.Fatalf("Removed.ByTime = %d, want %d (Earliest)", r.ByTime, earliest)
	}
}

// testRetentionSize: the oldest records go while the partition is larger than the limit.
func (s *suite) testRetentionSize(t *testing.T) {
	ctx, l := s.open(t)
	const limit = MaxSegmentBytes
	create(t, ctx, l, "t", log.TopicConfig{Retention: log.Retention{Bytes: limit}})
	val := bytes.Repeat([]byte("s"), 512)
	var all []log.Record
	for i := range 40 {
		all = append(all, produce(t, ctx, l, "t", log.Record{Partition: 0, Key: fmt.Appendf(nil, "k%02d", i), Value: val})...)
	}
	s.clean(t, ctx, l)
	earliest, latest := offsets(t, ctx, l, "t", 0)
	if earliest <= 0 || latest != 40 {
		t.Fatalf("Offsets = %d, %d; want 0 < Earliest and Latest 40", earliest, latest)
	}
	got := fetchAll(t, ctx, l, "t", 0)
	sameRecords(t, got, all[earliest:])
	kept := 0
	for _, r := range got {
		kept += len(r.Key) + len(r.Value)
	}
	// A backend keeps at most the limit plus one segment (it removes whole segments and may
	// keep its active one).
	if kept > limit+MaxSegmentBytes+len(val) {
		t.Fatalf("%d bytes of records kept, limit %d", kept, limit)
	}
	_, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{})
	wantRange(t, "Fetch below Earliest", err, "t", 0, 0, earliest, 40)
	if r := describe(t, ctx, l, "t").Removed; r.BySize != earliest || r.ByTime != 0 || r.Bytes <= 0 {
		t.Fatalf("Removed = %+v, want BySize %d and some Bytes", r, earliest)
	}
}

// testRetentionUnlimited: without retention, Clean removes nothing, however old.
func (s *suite) testRetentionUnlimited(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	var want []log.Record
	for i := range 10 {
		want = append(want, produce(t, ctx, l, "t", recAt(0, "", fmt.Sprint(i), time.Now().Add(-1000*time.Hour)))...)
	}
	s.clean(t, ctx, l)
	sameRecords(t, fetchAll(t, ctx, l, "t", 0), want)
	if r := describe(t, ctx, l, "t").Removed; r != (log.Removal{}) {
		t.Fatalf("Removed = %+v, want nothing", r)
	}
}

// testCompaction: the latest record of every key survives at its offset, superseded records and
// expired tombstones go, young tombstones stay, reads cross the gaps, and producing goes on at
// the next offset.
func (s *suite) testCompaction(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Compact: true, TombstoneRetention: time.Hour})
	now := time.Now()
	var out []log.Record
	out = append(out, produceEach(t, ctx, l, "t",
		rec(0, "k1", "a"), rec(0, "k2", "a"), rec(0, "k1", "b"),
		recAt(0, "k3", "a", now.Add(-3*time.Hour)),
		log.Record{Partition: 0, Key: []byte("k2"), Value: nil},
		log.Record{Partition: 0, Key: []byte("k3"), Value: nil, Timestamp: now.Add(-2 * time.Hour)},
	)...)
	out = append(out, produce(t, ctx, l, "t", rec(0, "k4", "a"), rec(0, "k4", "b"), rec(0, "k4", "c"))...)
	out = append(out, produceEach(t, ctx, l, "t", rec(0, "k1", "c"), rec(0, "barrier", "x"))...)
	for i, r := range out {
		if r.Offset != int64(i) {
			t.Fatalf("record %d produced at offset %d", i, r.Offset)
		}
	}
	s.clean(t, ctx, l)

	want := []log.Record{out[4], out[8], out[9], out[10]}
	sameRecords(t, fetchAll(t, ctx, l, "t", 0), want)
	earliest, latest := offsets(t, ctx, l, "t", 0)
	if earliest > 4 || latest != 11 {
		t.Fatalf("Offsets = %d, %d; want Earliest <= 4, Latest 11", earliest, latest)
	}
	// Reads starting in a gap return the next survivor.
	for _, c := range []struct{ from, first int64 }{{earliest, 4}, {5, 8}, {6, 8}, {7, 8}, {8, 8}, {10, 10}} {
		got := fetch(t, ctx, l, "t", 0, c.from, log.FetchOptions{MaxRecords: 1})
		if len(got) != 1 || got[0].Offset != c.first {
			t.Fatalf("Fetch(%d) = %v, want the record at %d", c.from, offsetsOf(got), c.first)
		}
	}
	// The counters are read after one more Clean: a backend whose compaction runs on its own
	// side (AfterClean) may count it only then. Nothing is left to remove.
	s.clean(t, ctx, l)
	sameRecords(t, fetchAll(t, ctx, l, "t", 0), want)
	info := describe(t, ctx, l, "t")
	if r := info.Removed; r.ByCompaction <= 0 || r.ByTime != 0 || r.BySize != 0 || r.HeldBack != 0 {
		t.Fatalf("Removed = %+v, want ByCompaction > 0 only", r)
	}
	if p := info.Partitions[0]; p.Records < 4 || p.Records > 11 || p.Latest != 11 {
		t.Fatalf("partition = %+v, want 4 <= Records <= 11, Latest 11", p)
	}
	// Producing goes on after the gaps.
	next := produce(t, ctx, l, "t", rec(0, "k5", "a"))
	if next[0].Offset != 11 {
		t.Fatalf("record after compaction at offset %d, want 11", next[0].Offset)
	}
}

// testCompactionRepeated: a later Clean removes what became superseded since the previous one,
// and keeps what was compacted before.
func (s *suite) testCompactionRepeated(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 2, Compact: true})
	latest := map[string]log.Record{}
	var last log.Record
	for round := range 3 {
		for i := range 6 {
			for _, r := range produce(t, ctx, l, "t", rec(1, fmt.Sprintf("k%d", (i+round)%4), fmt.Sprintf("r%d-%d", round, i))) {
				latest[string(r.Key)] = r
			}
		}
		// A new barrier key each round: the last call's keys need not supersede older records.
		last = produce(t, ctx, l, "t", rec(1, fmt.Sprintf("barrier-%d", round), "x"))[0]
		latest[string(last.Key)] = last
		s.clean(t, ctx, l)
		got := fetchAll(t, ctx, l, "t", 1)
		byKey := map[string]log.Record{}
		for _, r := range got {
			if _, dup := byKey[string(r.Key)]; dup {
				t.Fatalf("round %d: key %q survives twice: offsets %v", round, r.Key, offsetsOf(got))
			}
			byKey[string(r.Key)] = r
		}
		if len(byKey) != len(latest) {
			t.Fatalf("round %d: %d keys survive, want %d", round, len(byKey), len(latest))
		}
		for k, want := range latest {
			if err := sameRecord(byKey[k], want); err != nil {
				t.Fatalf("round %d: key %q: %v", round, k, err)
			}
		}
	}
	if _, x := offsets(t, ctx, l, "t", 1); x != last.Offset+1 {
		t.Fatalf("Latest = %d, want %d", x, last.Offset+1)
	}
}
