package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalake/strata/internal/log"
)

// produceN produces n records with values "v0".."v<n-1>" to one partition, one call.
func produceN(t testing.TB, l *Log, topic string, partition int32, n int) []log.Record {
	t.Helper()
	recs := make([]log.Record, n)
	for i := range recs {
		recs[i] = log.Record{Partition: partition, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
	}
	out, err := l.Produce(testCtx(t), topic, recs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func offsetsOf(rs []log.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Offset
	}
	return out
}

func TestFetchBounds(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	adm := adminFor(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	produceN(t, l, "t", 0, 10) // offsets 0..9, values of 2 bytes, keys of 2 bytes
	produceN(t, l, "t", 0, 5)  // offsets 10..14
	for _, tc := range []struct {
		name   string
		offset int64
		opts   log.FetchOptions
		want   []int64
	}{
		{"all", 0, log.FetchOptions{}, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}},
		{"from the middle of a batch", 7, log.FetchOptions{}, []int64{7, 8, 9, 10, 11, 12, 13, 14}},
		{"max records", 3, log.FetchOptions{MaxRecords: 2}, []int64{3, 4}},
		{"max bytes", 0, log.FetchOptions{MaxBytes: 12}, []int64{0, 1, 2}},
		{"max bytes below one record", 5, log.FetchOptions{MaxBytes: 1}, []int64{5}},
		{"at latest", 15, log.FetchOptions{}, []int64{}},
		{"at latest with a wait", 15, log.FetchOptions{MaxWait: 10 * time.Millisecond}, []int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Fetch(ctx, "t", 0, tc.offset, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(offsetsOf(got)) != fmt.Sprint(tc.want) {
				t.Fatalf("offsets %v, want %v", offsetsOf(got), tc.want)
			}
			for _, r := range got {
				if string(r.Value) != fmt.Sprintf("v%d", r.Offset%10) && r.Offset < 10 {
					t.Fatalf("offset %d holds %q", r.Offset, r.Value)
				}
			}
		})
	}

	// Below the earliest (after DeleteRecords) or above the latest: *OffsetRangeError.
	if _, err := adm.DeleteRecords(ctx, kadm.Offsets{"t": {0: {Topic: "t", Partition: 0, At: 4}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		offset int64
	}{{-1}, {0}, {3}, {16}, {1 << 40}} {
		_, err := l.Fetch(ctx, "t", 0, tc.offset, log.FetchOptions{})
		var re *log.OffsetRangeError
		if !errors.As(err, &re) || !errors.Is(err, log.ErrOffsetOutOfRange) {
			t.Fatalf("Fetch at %d = %v, want an *OffsetRangeError", tc.offset, err)
		}
		if *re != (log.OffsetRangeError{Topic: "t", Partition: 0, Offset: tc.offset, Earliest: 4, Latest: 15}) {
			t.Fatalf("Fetch at %d: %+v", tc.offset, *re)
		}
	}
	for _, tc := range []struct {
		topic     string
		partition int32
		want      error
	}{{"nope", 0, log.ErrUnknownTopic}, {"t", 2, log.ErrUnknownPartition}, {"t", -1, log.ErrUnknownPartition}} {
		if _, err := l.Fetch(ctx, tc.topic, tc.partition, 0, log.FetchOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("Fetch(%s, %d) = %v, want %v", tc.topic, tc.partition, err, tc.want)
		}
	}
}

// TestFetchSkipsCompactionGaps: compaction removes records; a fetch skips the gaps, even when it
// starts inside one.
func TestFetchSkipsCompactionGaps(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "c", log.TopicConfig{Compact: true}); err != nil {
		t.Fatal(err)
	}
	// Offsets 0..6 in three calls (three batches): keys a e b | b a c | d.
	for _, keys := range []string{"aeb", "bac", "d"} {
		var recs []log.Record
		for _, k := range keys {
			recs = append(recs, log.Record{Partition: 0, Key: []byte{byte(k)}, Value: []byte("v")})
		}
		if _, err := l.Produce(ctx, "c", recs); err != nil {
			t.Fatal(err)
		}
	}
	c.Compact() // keeps the latest of each key: e@1, b@3, a@4, c@5, d@6 (the last batch is never compacted)
	if e, lt, err := l.Offsets(ctx, "c", 0); err != nil || e != 0 || lt != 7 {
		t.Fatalf("Offsets after compaction = %d, %d, %v; want 0, 7", e, lt, err)
	}
	for _, tc := range []struct {
		offset int64
		want   []int64
	}{
		{0, []int64{1, 3, 4, 5, 6}},
		{2, []int64{3, 4, 5, 6}}, // inside a gap at the end of a batch
		{4, []int64{4, 5, 6}},
		{6, []int64{6}},
		{7, []int64{}},
	} {
		got, err := l.Fetch(ctx, "c", 0, tc.offset, log.FetchOptions{MaxRecords: 10})
		if err != nil {
			t.Fatalf("Fetch at %d: %v", tc.offset, err)
		}
		if fmt.Sprint(offsetsOf(got)) != fmt.Sprint(tc.want) {
			t.Errorf("Fetch at %d: offsets %v, want %v", tc.offset, offsetsOf(got), tc.want)
		}
	}
}

// TestFetchWait: a fetch at the latest offset waits for the next record, and its context ends
// the wait.
func TestFetchWait(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	got := make(chan []log.Record, 1)
	go func() {
		rs, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{MaxWait: time.Minute})
		if err != nil {
			t.Error(err)
		}
		got <- rs
	}()
	produceN(t, l, "t", 0, 1)
	if rs := <-got; len(rs) != 1 || rs[0].Offset != 0 {
		t.Fatalf("waiting fetch returned %+v", rs)
	}

	// A long wait on partition 0 does not hold up a fetch of partition 1.
	waitCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := l.Fetch(waitCtx, "t", 0, 1, log.FetchOptions{MaxWait: time.Minute})
		done <- err
	}()
	produceN(t, l, "t", 1, 1)
	quick, cancelQuick := context.WithTimeout(ctx, 20*time.Second) // far below the other's minute
	rs, err := l.Fetch(quick, "t", 1, 0, log.FetchOptions{})
	cancelQuick()
	if err != nil || len(rs) != 1 {
		t.Fatalf("fetch beside a waiting one: %v, %+v", err, rs)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait = %v, want context.Canceled", err)
	}

	// Close ends a wait with ErrClosed.
	go func() {
		_, err := l.Fetch(ctx, "t", 0, 1, log.FetchOptions{MaxWait: time.Minute})
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // let it start waiting (either way it must end with ErrClosed)
	l.Close()
	if err := <-done; !errors.Is(err, log.ErrClosed) {
		t.Fatalf("wait ended by Close = %v, want ErrClosed", err)
	}
}
