package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestRetentionFollowsClock: with an injected clock, records stamped by the log expire when the
// clock moves past the retention, without any waiting.
func TestRetentionFollowsClock(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := openTest(t, t.TempDir(), SegmentBytes(512), CleanInterval(0), WithClock(clock.Now))
	mustCreate(t, l, "t", log.TopicConfig{Retention: log.Retention{Time: time.Hour}})
	ctx := context.Background()
	for i := range 30 {
		out := mustProduce(t, l, "t", log.Record{Partition: 0, Value: bytes.Repeat([]byte("x"), 50)})
		if !out[0].Timestamp.Equal(clock.Now()) {
			t.Fatalf("record stamped %v, clock says %v", out[0].Timestamp, clock.Now())
		}
		if i == 14 {
			clock.Advance(30 * time.Minute)
		}
	}
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := l.Offsets(ctx, "t", 0); e != 0 {
		t.Fatalf("Earliest %d before anything expired", e)
	}
	clock.Advance(45 * time.Minute) // the first 15 records are 75 minutes old, the others 45
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	e, x, _ := l.Offsets(ctx, "t", 0)
	info, _ := l.DescribeTopic(ctx, "t")
	if e == 0 || e > 15 || x != 30 || info.Removed.ByTime != e {
		t.Fatalf("Offsets %d, %d, Removed %+v; want some of the first 15 records removed", e, x, info.Removed)
	}
	clock.Advance(time.Hour)
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	segs, _ := l.Segments(ctx, "t", 0)
	if e, x, _ := l.Offsets(ctx, "t", 0); e != 30 || x != 30 || len(segs) != 1 || segs[0].Base != 30 || !segs[0].Active {
		t.Fatalf("after everything expired: Offsets %d, %d, segments %+v; want one empty active segment at 30", e, x, segs)
	}
}

// TestCompactionExact checks the embedded compaction's exact counters, the merging of small
// segments and the bytes freed.
func TestCompactionExact(t *testing.T) {
	l := openTest(t, t.TempDir(), SegmentBytes(512), IndexIntervalBytes(64), CleanInterval(0))
	mustCreate(t, l, "t", log.TopicConfig{Compact: true})
	ctx := context.Background()
	var last [5]log.Record
	for i := range 100 {
		r := mustProduce(t, l, "t", log.Record{Partition: 0, Key: fmt.Appendf(nil, "key-%d", i%5), Value: fmt.Appendf(nil, "value %03d", i)})
		last[i%5] = r[0]
	}
	before, _ := l.Segments(ctx, "t", 0)
	infoBefore, _ := l.DescribeTopic(ctx, "t")
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := l.Segments(ctx, "t", 0)
	info, _ := l.DescribeTopic(ctx, "t")
	if len(after) != 2 || !after[1].Active || after[1].Records != 0 || after[0].Records != 5 {
		t.Fatalf("segments after compaction = %+v (before: %d); want one segment of 5 records and an empty active one", after, len(before))
	}
	wantFreed := infoBefore.Partitions[0].Bytes - info.Partitions[0].Bytes
	if r := info.Removed; r.ByCompaction != 95 || r.Bytes != wantFreed || r.HeldBack != 0 {
		t.Fatalf("Removed = %+v, want ByCompaction 95 and Bytes %d", r, wantFreed)
	}
	if p := info.Partitions[0]; p.Records != 5 || p.Earliest != 0 || p.Latest != 100 {
		t.Fatalf("partition = %+v", p)
	}
	sameRecs(t, readAll(t, l, "t", 0), last[:])
	// A second Clean with nothing new changes nothing.
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := l.DescribeTopic(ctx, "t"); again.Removed != info.Removed {
		t.Fatalf("idle Clean removed more: %+v", again.Removed)
	}
}

// TestCompactedTopicRefusesKeylessRecords: as Kafka does.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	l := openTest(t, t.TempDir(), CleanInterval(0))
	mustCreate(t, l, "t", log.TopicConfig{Compact: true})
	_, err := l.Produce(context.Background(), "t", []log.Record{{Partition: 0, Key: []byte("k"), Value: []byte("v")}, {Partition: 0, Value: []byte("no key")}})
	if !errors.Is(err, log.ErrInvalidConfig) || !strings.Contains(err.Error(), "record 1") {
		t.Fatalf("Produce of a keyless record to a compacted topic = %v, want ErrInvalidConfig naming record 1", err)
	}
	if _, x, _ := l.Offsets(context.Background(), "t", 0); x != 0 {
		t.Fatalf("the refused call wrote %d records", x)
	}
}

// TestHeldBackCountedEachClean documents the counter: records held back are counted at every
// Clean that holds them back.
func TestHeldBackCountedEachClean(t *testing.T) {
	l := openTest(t, t.TempDir(), CleanInterval(0))
	mustCreate(t, l, "t", log.TopicConfig{Retention: log.Retention{Time: time.Hour}})
	ctx := context.Background()
	for range 10 {
		mustProduce(t, l, "t", log.Record{Partition: 0, Value: []byte("v"), Timestamp: time.Now().Add(-2 * time.Hour)})
	}
	if err := l.CommitOffsets(ctx, "g", "t", map[int32]int64{0: 7}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := l.Clean(ctx); err != nil {
			t.Fatal(err)
		}
		if info, _ := l.DescribeTopic(ctx, "t"); info.Removed.HeldBack != int64(3*i) {
			t.Fatalf("after Clean %d HeldBack = %d, want %d", i, info.Removed.HeldBack, 3*i)
		}
	}
}

// TestOffsetForTimeRoundsUp: records keep milliseconds, so a time inside a millisecond after a
// record's timestamp does not find that record.
func TestOffsetForTimeRoundsUp(t *testing.T) {
	l := openTest(t, t.TempDir(), CleanInterval(0))
	mustCreate(t, l, "t", log.TopicConfig{})
	t0 := time.UnixMilli(1_700_000_000_000)
	mustProduce(t, l, "t", log.Record{Partition: 0, Timestamp: t0}, log.Record{Partition: 0, Timestamp: t0.Add(time.Millisecond)})
	for _, c := range []struct {
		at   time.Time
		want int64
	}{{t0, 0}, {t0.Add(-time.Nanosecond), 0}, {t0.Add(time.Nanosecond), 1}, {t0.Add(time.Millisecond), 1}, {t0.Add(time.Millisecond + 1), 2}} {
		if got, err := l.OffsetForTime(context.Background(), "t", 0, c.at); err != nil || got != c.want {
			t.Errorf("OffsetForTime(t0%+v) = %d, %v; want %d", c.at.Sub(t0), got, err, c.want)
		}
	}
}

// TestRecordTooLarge: a call's share of a partition above MaxBatchBytes is refused whole.
func TestRecordTooLarge(t *testing.T) {
	l := openTest(t, t.TempDir(), CleanInterval(0), MaxBatchBytes(1024))
	mustCreate(t, l, "t", log.TopicConfig{Partitions: 2})
	_, err := l.Produce(context.Background(), "t", []log.Record{{Partition: 0, Value: []byte("small")}, {Partition: 1, Value: make([]byte, 2000)}})
	if !errors.Is(err, log.ErrRecordTooLarge) || !strings.Contains(err.Error(), "partition 1") {
		t.Fatalf("Produce = %v, want ErrRecordTooLarge naming partition 1", err)
	}
	for p := range int32(2) {
		if _, x, _ := l.Offsets(context.Background(), "t", p); x != 0 {
			t.Fatalf("partition %d got records from a refused call", p)
		}
	}
	// A batch larger than a segment gets a segment of its own.
	l2 := openTest(t, t.TempDir(), CleanInterval(0), SegmentBytes(256))
	mustCreate(t, l2, "t", log.TopicConfig{})
	mustProduce(t, l2, "t", log.Record{Partition: 0, Value: []byte("a")})
	big := mustProduce(t, l2, "t", log.Record{Partition: 0, Value: make([]byte, 1000)})
	mustProduce(t, l2, "t", log.Record{Partition: 0, Value: []byte("b")})
	segs, _ := l2.Segments(context.Background(), "t", 0)
	if len(segs) != 3 || segs[1].Base != big[0].Offset || segs[1].Records != 1 {
		t.Fatalf("segments = %+v, want the big batch alone in the middle one", segs)
	}
}

// TestBackgroundCleaner: the cleaner runs on its own. The test polls for its effect; it asserts
// no duration.
func TestBackgroundCleaner(t *testing.T) {
	l := openTest(t, t.TempDir(), CleanInterval(time.Millisecond), SegmentBytes(256))
	mustCreate(t, l, "t", log.TopicConfig{Retention: log.Retention{Time: time.Hour}})
	for range 5 {
		mustProduce(t, l, "t", log.Record{Partition: 0, Value: []byte("old"), Timestamp: time.Now().Add(-2 * time.Hour)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if e, _, _ := l.Offsets(ctx, "t", 0); e == 5 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the background cleaner never removed the expired records")
		case <-time.After(time.Millisecond):
		}
	}
}

// TestDeleteTopicEndsFetch: a fetch waiting on a topic that is deleted returns ErrUnknownTopic.
func TestDeleteTopicEndsFetch(t *testing.T) {
	l := openTest(t, t.TempDir(), CleanInterval(0))
	mustCreate(t, l, "t", log.TopicConfig{})
	done := make(chan error, 1)
	go func() {
		_, err := l.Fetch(context.Background(), "t", 0, 0, log.FetchOptions{MaxWait: time.Hour})
		done <- err
	}()
	if err := l.DeleteTopic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("Fetch on a deleted topic = %v, want ErrUnknownTopic (or nothing)", err)
	}
}
