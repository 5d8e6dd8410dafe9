package kafka

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

func TestPlanRetention(t *testing.T) {
	dense := []batchInfo{
		{first: 0, last: 3, records: 4, bytes: 100},
		{first: 4, last: 7, records: 4, bytes: 100},
		{first: 8, last: 9, records: 2, bytes: 50},
	}
	compacted := []batchInfo{
		{first: 0, last: 3, records: 2, bytes: 60},
		{first: 4, last: 7, records: 4, bytes: 100},
		{first: 8, last: 9, records: 1, bytes: 30},
	}
	base := retentionInput{earliest: 0, latest: 10, timeCutoff: -1, commitLimit: -1, holdBack: true}
	with := func(f func(*retentionInput)) retentionInput { in := base; f(&in); return in }
	for _, tc := range []struct {
		name string
		in   retentionInput
		want retentionPlan
	}{
		{"no limit", base, retentionPlan{deleteTo: 0}},
		{"time", with(func(in *retentionInput) { in.timeCutoff = 6 }), retentionPlan{deleteTo: 6, byTime: 6}},
		{"time, all expired", with(func(in *retentionInput) { in.timeCutoff = 10 }), retentionPlan{deleteTo: 10, byTime: 10}},
		{"time below earliest", with(func(in *retentionInput) { in.earliest, in.timeCutoff = 5, 2 }), retentionPlan{deleteTo: 5}},
		{"time held back", with(func(in *retentionInput) { in.timeCutoff, in.commitLimit = 6, 4 }), retentionPlan{deleteTo: 4, byTime: 4, heldBack: 2}},
		{"time, commit past the cut-off", with(func(in *retentionInput) { in.timeCutoff, in.commitLimit = 6, 8 }), retentionPlan{deleteTo: 6, byTime: 6}},
		{"time, commit below earliest", with(func(in *retentionInput) { in.earliest, in.timeCutoff, in.commitLimit = 3, 6, 1 }), retentionPlan{deleteTo: 3, heldBack: 3}},
		{"time, commit at zero", with(func(in *retentionInput) { in.timeCutoff, in.commitLimit = 6, 0 }), retentionPlan{deleteTo: 0, heldBack: 6}},
		{"time, DeleteUncommitted", with(func(in *retentionInput) { in.timeCutoff, in.commitLimit, in.holdBack = 6, 4, false }), retentionPlan{deleteTo: 6, byTime: 6}},
		{"time, bytes of whole batches", with(func(in *retentionInput) {
			in.timeCutoff, in.batches, in.scannedTo = 6, dense[:2], 6
		}), retentionPlan{deleteTo: 6, byTime: 6, bytes: 100}},
		{"size", with(func(in *retentionInput) {
			in.sizeLimit, in.batches, in.scannedTo = 160, dense, 10
		}), retentionPlan{deleteTo: 4, bySize: 4, bytes: 100}},
		{"size, larger than the partition", with(func(in *retentionInput) {
			in.sizeLimit, in.batches, in.scannedTo = 250, dense, 10
		}), retentionPlan{deleteTo: 0}},
		{"size, down to the last batch", with(func(in *retentionInput) {
			in.sizeLimit, in.batches, in.scannedTo = 60, dense, 10
		}), retentionPlan{deleteTo: 8, bySize: 8, bytes: 200}},
		{"size held back inside a batch", with(func(in *retentionInput) {
			in.sizeLimit, in.batches, in.scannedTo, in.commitLimit = 160, dense, 10, 2
		}), retentionPlan{deleteTo: 2, bySize: 2, heldBack: 2}},
		{"time then size", with(func(in *retentionInput) {
			in.timeCutoff, in.sizeLimit, in.batches, in.scannedTo = 2, 160, dense, 10
		}), retentionPlan{deleteTo: 4, byTime: 2, bySize: 2, bytes: 100}},
		{"size beyond time", with(func(in *retentionInput) {
			in.timeCutoff, in.sizeLimit, in.batches, in.scannedTo = 9, 160, dense, 10
		}), retentionPlan{deleteTo: 9, byTime: 9, bytes: 200}},
		{"after a partial delete", with(func(in *retentionInput) {
			in.earliest, in.timeCutoff, in.batches, in.scannedTo = 2, 5, dense[:2], 5
		}), retentionPlan{deleteTo: 5, byTime: 3, bytes: 100}},
		{"compacted, time", with(func(in *retentionInput) {
			in.compact, in.timeCutoff, in.batches, in.scannedTo = true, 4, compacted, 10
		}), retentionPlan{deleteTo: 4, byTime: 2, bytes: 60, compacted: 2, gap: 1}},
		{"compacted, held back", with(func(in *retentionInput) {
			in.compact, in.timeCutoff, in.commitLimit, in.batches, in.scannedTo = true, 8, 4, compacted, 10
		}), retentionPlan{deleteTo: 4, byTime: 2, bytes: 60, heldBack: 4, compacted: 2, gap: 1}},
		{"compacted, nothing to remove", with(func(in *retentionInput) {
			in.compact, in.batches, in.scannedTo = true, compacted, 10
		}), retentionPlan{deleteTo: 0, gap: 3}},
		{"empty partition", with(func(in *retentionInput) {
			in.earliest, in.latest, in.timeCutoff, in.sizeLimit, in.scannedTo = 10, 10, 10, 1, 10
		}), retentionPlan{deleteTo: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := planRetention(tc.in); got != tc.want {
				t.Fatalf("planRetention = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// retentionTopic creates a two-partition topic and produces, as of clock, ten records two hours
// old then five ten minutes old to partition 0, and three two hours old to partition 1.
func retentionTopic(t *testing.T, l *Log, name string, clock time.Time, cfg log.TopicConfig) {
	t.Helper()
	ctx := testCtx(t)
	cfg.Partitions = 2
	if err := l.CreateTopic(ctx, name, cfg); err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct {
		partition int32
		n         int
		age       time.Duration
	}{{0, 10, 2 * time.Hour}, {0, 5, 10 * time.Minute}, {1, 3, 2 * time.Hour}} {
		recs := make([]log.Record, call.n)
		for i := range recs {
			recs[i] = log.Record{Partition: call.partition, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v"), Timestamp: clock.Add(-call.age)}
		}
		if _, err := l.Produce(ctx, name, recs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCleanHeldBack: time retention never removes what a group has not committed past, unless the
// topic says DeleteUncommitted; and the broker's own retention stays off for such topics.
func TestCleanHeldBack(t *testing.T) {
	clock := time.Now()
	for _, tc := range []struct {
		name              string
		deleteUncommitted bool
		commits           map[string]map[int32]int64 // group -> partition -> offset
		earliest          [2]int64
		removed           log.Removal
		wholeBatch        bool // a batch was removed whole, so bytes were freed
	}{
		{"no group", false, nil, [2]int64{10, 3}, log.Removal{ByTime: 13}, true},
		{"one group", false, map[string]map[int32]int64{"g": {0: 4}}, [2]int64{4, 3}, log.Removal{ByTime: 7, HeldBack: 6}, true},
		{"lowest of two groups", false, map[string]map[int32]int64{"g": {0: 7, 1: 3}, "h": {0: 4}}, [2]int64{4, 3}, log.Removal{ByTime: 7, HeldBack: 6}, true},
		{"group at zero", false, map[string]map[int32]int64{"g": {0: 0, 1: 1}}, [2]int64{0, 1}, log.Removal{ByTime: 1, HeldBack: 12}, false},
		{"commit past the expired records", false, map[string]map[int32]int64{"g": {0: 12}}, [2]int64{10, 3}, log.Removal{ByTime: 13}, true},
		{"DeleteUncommitted", true, map[string]map[int32]int64{"g": {0: 4}}, [2]int64{10, 3}, log.Removal{ByTime: 13}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			l := openLog(t, c, WithClock(func() time.Time { return clock }))
			ctx := testCtx(t)
			retentionTopic(t, l, "t", clock, log.TopicConfig{Retention: log.Retention{Time: time.Hour}, DeleteUncommitted: tc.deleteUncommitted})
			for g, offs := range tc.commits {
				if err := l.CommitOffsets(ctx, g, "t", offs); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.deleteUncommitted {
				c.ApplyRetention() // the broker's retention is off: this removes nothing
			}
			if err := l.Clean(ctx); err != nil {
				t.Fatal(err)
			}
			info, err := l.DescribeTopic(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range tc.earliest {
				if got := info.Partitions[p].Earliest; got != want {
					t.Errorf("partition %d: earliest %d, want %d", p, got, want)
				}
			}
			tc.removed.Bytes = info.Removed.Bytes // checked below
			if info.Removed != tc.removed {
				t.Errorf("removed %+v, want %+v", info.Removed, tc.removed)
			}
			if tc.wholeBatch != (info.Removed.Bytes > 0) {
				t.Errorf("%d bytes freed; want some: %v", info.Removed.Bytes, tc.wholeBatch)
			}
			// Once the groups commit past everything, the rest goes; held-back counts add up.
			for g := range tc.commits {
				if err := l.CommitOffsets(ctx, g, "t", map[int32]int64{0: 15, 1: 3}); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Clean(ctx); err != nil {
				t.Fatal(err)
			}
			info, err = l.DescribeTopic(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			if info.Partitions[0].Earliest != 10 || info.Partitions[1].Earliest != 3 || info.Removed.ByTime != 13 || info.Removed.HeldBack != tc.removed.HeldBack {
				t.Errorf("after commits past the end: %+v, removed %+v", info.Partitions, info.Removed)
			}
		})
	}
}

// TestCleanSize: size retention keeps a partition within its limit, removing whole batches, and
// counts exactly the records and bytes it removed.
func TestCleanSize(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	const limit = 3000
	if err := l.CreateTopic(ctx, "s", log.TopicConfig{Retention: log.Retention{Bytes: limit}}); err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{7})
	for range 10 { // ten batches of ten 100-byte values, about 1.1 KB each
		recs := make([]log.Record, 10)
		for i := range recs {
			v := make([]byte, 100)
			rng.Read(v)
			recs[i] = log.Record{Partition: 0, Value: v}
		}
		if _, err := l.Produce(ctx, "s", recs); err != nil {
			t.Fatal(err)
		}
	}
	m, err := l.topicMeta(ctx, "s", false)
	if err != nil {
		t.Fatal(err)
	}
	before, err := l.scanBatches(ctx, m, 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	// A group holds the partition back at 55: the cut-off stops there.
	if err := l.CommitOffsets(ctx, "g", "s", map[int32]int64{0: 55}); err != nil {
		t.Fatal(err)
	}
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := l.DescribeTopic(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if info.Partitions[0].Earliest != 55 || info.Removed.BySize != 55 || info.Removed.HeldBack == 0 {
		t.Fatalf("held back at 55: %+v, removed %+v", info.Partitions[0], info.Removed)
	}
	if err := l.CommitOffsets(ctx, "g", "s", map[int32]int64{0: 100}); err != nil {
		t.Fatal(err)
	}
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	info, err = l.DescribeTopic(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	e := info.Partitions[0].Earliest
	var kept, freed, lastFreed int64
	for _, b := range before {
		if b.first >= e {
			kept += b.bytes
		} else {
			freed += b.bytes
			lastFreed = b.bytes
		}
	}
	if kept > limit || kept+lastFreed <= limit {
		t.Fatalf("earliest %d keeps %d bytes; limit %d, last removed batch %d bytes", e, kept, limit, lastFreed)
	}
	if e%10 != 0 || info.Removed.BySize != e || info.Removed.Bytes != freed {
		t.Fatalf("earliest %d (want a batch boundary), removed %+v, want %d records and %d bytes", e, info.Removed, e, freed)
	}
	if info.Partitions[0].Bytes != kept {
		t.Errorf("described size %d, want %d", info.Partitions[0].Bytes, kept)
	}
}

// TestCleanCompactionCounts: what the broker's compaction removed is estimated from the offsets
// left without a record; retention on a compacted topic counts records, not offsets.
func TestCleanCompactionCounts(t *testing.T) {
	clock := time.Now()
	c := newCluster(t)
	l := openLog(t, c, WithClock(func() time.Time { return clock }))
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "c", log.TopicConfig{Compact: true}); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateTopic(ctx, "cr", log.TopicConfig{Compact: true, Retention: log.Retention{Time: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"c", "cr"} {
		for _, call := range []struct {
			keys string
			age  time.Duration
		}{{"axb", 2 * time.Hour}, {"aby", 2 * time.Hour}, {"ab", time.Minute}, {"z", time.Minute}} {
			var recs []log.Record
			for _, k := range call.keys {
				recs = append(recs, log.Record{Partition: 0, Key: []byte{byte(k)}, Value: []byte("v"), Timestamp: clock.Add(-call.age)})
			}
			if _, err := l.Produce(ctx, topic, recs); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Offsets: a0 x1 b2 | a3 b4 y5 | a6 b7 | z8. Compaction keeps x1, y5, a6, b7, z8.
	c.Compact()
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topic    string
		earliest int64
		removed  log.Removal
	}{
		{"c", 0, log.Removal{ByCompaction: 4}},
		// Time retention removes the live records below 6 (x1 and y5); the offsets below 6 that
		// compaction had emptied stay counted as compaction.
		{"cr", 6, log.Removal{ByTime: 2, ByCompaction: 4}},
	} {
		info, err := l.DescribeTopic(ctx, tc.topic)
		if err != nil {
			t.Fatal(err)
		}
		if info.Partitions[0].Earliest != tc.earliest {
			t.Errorf("%s: earliest %d, want %d", tc.topic, info.Partitions[0].Earliest, tc.earliest)
		}
		tc.removed.Bytes = info.Removed.Bytes
		if info.Removed != tc.removed {
			t.Errorf("%s: removed %+v, want %+v", tc.topic, info.Removed, tc.removed)
		}
	}
}

// TestCleanBrokerRetention: with DeleteUncommitted the broker applies the retention on its own;
// Clean counts what it removed (an estimate: offsets, no bytes).
func TestCleanBrokerRetention(t *testing.T) {
	clock := time.Now()
	c := newCluster(t)
	l := openLog(t, c, WithClock(func() time.Time { return clock }))
	ctx := testCtx(t)
	retentionTopic(t, l, "t", clock, log.TopicConfig{Retention: log.Retention{Time: time.Hour}, DeleteUncommitted: true})
	c.ApplyRetention()
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := l.DescribeTopic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if info.Partitions[0].Earliest != 10 || info.Partitions[1].Earliest != 3 || info.Removed != (log.Removal{ByTime: 13}) {
		t.Fatalf("partitions %+v, removed %+v", info.Partitions, info.Removed)
	}
}

// TestCleanClock: Clean measures retention time on the Log's clock.
func TestCleanClock(t *testing.T) {
	c := newCluster(t)
	clock := time.Now()
	l := openLog(t, c, WithClock(func() time.Time { return clock }))
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Retention: log.Retention{Time: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	produceN(t, l, "t", 0, 3) // append time: now
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	if e, _, err := l.Offsets(ctx, "t", 0); err != nil || e != 0 {
		t.Fatalf("fresh records removed: earliest %d, %v", e, err)
	}
	clock = clock.Add(2 * time.Hour)
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	if e, _, err := l.Offsets(ctx, "t", 0); err != nil || e != 3 {
		t.Fatalf("two hours later: earliest %d, %v; want 3", e, err)
	}
}

// TestBackgroundClean: the background cleaner applies retention without a call to Clean.
func TestBackgroundClean(t *testing.T) {
	c := newCluster(t)
	errs := make(chan error, 100)
	l := openLog(t, c, WithCleanInterval(10*time.Millisecond), WithCleanErrors(func(err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	ctx := testCtx(t)
	clock := time.Now()
	retentionTopic(t, l, "t", clock, log.TopicConfig{Retention: log.Retention{Time: time.Hour}})
	for {
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("the background cleaner never removed the expired records")
		case <-time.After(10 * time.Millisecond):
		}
		if e, _, err := l.Offsets(ctx, "t", 0); err == nil && e == 10 {
			return
		}
	}
}
