package kafka

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stratalake/strata/internal/log"
)

// TestProduceKeyPartitioning checks key placement against the murmur2 vectors of Kafka's own
// test suite (UtilsTest.testMurmur2): partition = (murmur2(key) & 0x7fffffff) % partitions, as the
// Java client's default partitioner computes it.
func TestProduceKeyPartitioning(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	const n = 7
	if err := l.CreateTopic(ctx, "keys", log.TopicConfig{Partitions: n}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		hash int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	} {
		want := int32((uint32(tc.hash) & 0x7fffffff) % n)
		for range 2 { // the same key lands in the same partition every time
			out, err := l.Produce(ctx, "keys", []log.Record{{Partition: -1, Key: []byte(tc.key), Value: []byte("v")}})
			if err != nil {
				t.Fatal(err)
			}
			if out[0].Partition != want {
				t.Errorf("key %q went to partition %d, want %d", tc.key, out[0].Partition, want)
			}
		}
	}
}

func TestProducePlacement(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	// Explicit partitions are honoured; keyless records of one call share a partition.
	out, err := l.Produce(ctx, "t", []log.Record{
		{Partition: 2, Key: []byte("k"), Value: []byte("a")},
		{Partition: -1, Value: []byte("b")},
		{Partition: 0, Value: []byte("c")},
		{Partition: -1, Value: []byte("d")},
		{Partition: 2, Value: []byte("e")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Partition != 2 || out[2].Partition != 0 || out[4].Partition != 2 {
		t.Fatalf("explicit partitions not honoured: %+v", out)
	}
	if out[1].Partition != out[3].Partition {
		t.Fatalf("keyless records of one call split over partitions %d and %d", out[1].Partition, out[3].Partition)
	}
	// Keyless records of successive calls go round the partitions.
	seen := map[int32]bool{}
	for range 3 {
		o, err := l.Produce(ctx, "t", []log.Record{{Partition: -1, Value: []byte("rr")}})
		if err != nil {
			t.Fatal(err)
		}
		seen[o[0].Partition] = true
	}
	if len(seen) != 3 {
		t.Fatalf("three keyless calls used partitions %v", seen)
	}
	// Offsets are consecutive per partition, in the order given.
	if out[0].Offset+1 != out[4].Offset {
		t.Fatalf("partition 2 offsets %d then %d", out[0].Offset, out[4].Offset)
	}
}

func TestProduceRoundTrip(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)
	in := []log.Record{
		{Partition: 0, Key: []byte("k"), Value: []byte("v"), Timestamp: ts,
			Headers: []log.Header{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}, {Key: "empty", Value: nil}}},
		{Partition: 0, Key: nil, Value: nil, Timestamp: ts.Add(-time.Hour)}, // a tombstone, late
		{Partition: 0, Key: []byte{}, Value: []byte{}},                      // zero timestamp: now
	}
	before := time.Now().Truncate(time.Millisecond)
	out, err := l.Produce(ctx, "t", in)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if !out[0].Timestamp.Equal(ts.Truncate(time.Millisecond)) {
		t.Errorf("timestamp %v, want %v truncated to ms", out[0].Timestamp, ts)
	}
	if got := out[2].Timestamp; got.Before(before) || got.After(after) {
		t.Errorf("append-time timestamp %v outside [%v, %v]", got, before, after)
	}
	got, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("fetched %d records, want 3", len(got))
	}
	for i := range got {
		g, w := got[i], out[i]
		if g.Topic != "t" || g.Partition != 0 || g.Offset != int64(i) || g.Offset != w.Offset || !g.Timestamp.Equal(w.Timestamp) {
			t.Errorf("record %d: fetched %+v, produced %+v", i, g, w)
		}
		if !bytes.Equal(g.Key, in[i].Key) || (g.Key == nil) != (in[i].Key == nil) {
			t.Errorf("record %d: key %q (nil %v), want %q (nil %v)", i, g.Key, g.Key == nil, in[i].Key, in[i].Key == nil)
		}
		if !bytes.Equal(g.Value, in[i].Value) || (g.Value == nil) != (in[i].Value == nil) {
			t.Errorf("record %d: value %q (nil %v), want %q (nil %v)", i, g.Value, g.Value == nil, in[i].Value, in[i].Value == nil)
		}
		if len(g.Headers) != len(in[i].Headers) {
			t.Errorf("record %d: headers %+v, want %+v", i, g.Headers, in[i].Headers)
			continue
		}
		for j, h := range g.Headers {
			if h.Key != in[i].Headers[j].Key || !bytes.Equal(h.Value, in[i].Headers[j].Value) {
				t.Errorf("record %d header %d: %+v, want %+v", i, j, h, in[i].Headers[j])
			}
		}
	}
}

func TestProduceErrors(t *testing.T) {
	// The broker refuses batches over 4 KiB, as a topic with a small max.message.bytes would.
	c := newCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4096"}))
	l := openLog(t, c, WithMaxBatchBytes(64<<10))
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateTopic(ctx, "compacted", log.TopicConfig{Compact: true}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 40<<10) // incompressible, or the producer's compression would shrink it
	rand.NewChaCha8([32]byte{1}).Read(big)
	for _, tc := range []struct {
		name    string
		topic   string
		records []log.Record
		want    error
	}{
		{"unknown topic", "nope", []log.Record{{Partition: -1}}, log.ErrUnknownTopic},
		{"unknown partition", "t", []log.Record{{Partition: 0, Value: []byte("ok")}, {Partition: 2}}, log.ErrUnknownPartition},
		{"record over the batch limit", "t", []log.Record{{Partition: 0, Value: bytes.Repeat(big, 2)}}, log.ErrRecordTooLarge},
		{"call over the batch limit", "t", []log.Record{{Partition: 1, Value: []byte("ok")}, {Partition: 0, Value: big}, {Partition: 0, Value: big}}, log.ErrRecordTooLarge},
		{"batch the broker refuses", "t", []log.Record{{Partition: 0, Value: []byte("ok")}, {Partition: 0, Value: big}}, log.ErrRecordTooLarge},
		{"keyless record to a compacted topic", "compacted", []log.Record{{Partition: -1, Key: []byte("k")}, {Partition: -1}}, log.ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Produce(ctx, tc.topic, tc.records)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Produce = %v, want %v", err, tc.want)
			}
		})
	}
	// None of the failed calls left a record behind: each partition's batch was refused whole.
	for p := range int32(2) {
		if _, latest, err := l.Offsets(ctx, "t", p); err != nil || latest != 0 {
			t.Errorf("partition %d: latest %d, err %v; want 0", p, latest, err)
		}
	}
	if out, err := l.Produce(ctx, "t", nil); err != nil || len(out) != 0 {
		t.Fatalf("empty Produce = %v, %v", out, err)
	}
	// The idempotent producer goes on after a refused batch.
	if out, err := l.Produce(ctx, "t", []log.Record{{Partition: 0, Value: []byte("after")}}); err != nil || out[0].Offset != 0 {
		t.Fatalf("Produce after the errors = %+v, %v", out, err)
	}
}

// TestProduceOneBatchPerCall: each call's records for a partition form one Kafka record batch,
// which is what makes them atomic.
func TestProduceOneBatchPerCall(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	sizes := []int{1000, 1, 100, 7} // the first call also waits for the client to load the topic
	for _, n := range sizes {
		recs := make([]log.Record, 0, 2*n)
		for i := range n {
			recs = append(recs, log.Record{Partition: 0, Value: []byte(fmt.Sprint(i))}, log.Record{Partition: 1, Value: []byte("x")})
		}
		if _, err := l.Produce(ctx, "t", recs); err != nil {
			t.Fatal(err)
		}
	}
	m, err := l.topicMeta(ctx, "t", false)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		batches, err := l.scanBatches(ctx, m, p, 0, 1108)
		if err != nil {
			t.Fatal(err)
		}
		if len(batches) != len(sizes) {
			t.Fatalf("partition %d: %d batches for %d calls: %+v", p, len(batches), len(sizes), batches)
		}
		for i, b := range batches {
			if b.records != int64(sizes[i]) {
				t.Errorf("partition %d batch %d: %d records, want %d", p, i, b.records, sizes[i])
			}
		}
	}
}

// TestProduceConcurrentCalls: concurrent calls share rounds, yet each call's records for a
// partition keep consecutive offsets.
func TestProduceConcurrentCalls(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	const callers, calls, per = 8, 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, callers*calls)
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				recs := make([]log.Record, per)
				for j := range recs {
					recs[j] = log.Record{Partition: int32(j % 2), Value: fmt.Appendf(nil, "%d/%d/%d", g, i, j)}
				}
				out, err := l.Produce(ctx, "t", recs)
				if err != nil {
					errs <- err
					return
				}
				for j := 2; j < per; j++ {
					if out[j].Offset != out[j-2].Offset+1 {
						errs <- fmt.Errorf("call %d/%d: partition %d offsets %d then %d", g, i, out[j].Partition, out[j-2].Offset, out[j].Offset)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := int64(0)
	for p := range int32(2) {
		_, latest, err := l.Offsets(ctx, "t", p)
		if err != nil {
			t.Fatal(err)
		}
		total += latest
	}
	if total != callers*calls*per {
		t.Fatalf("%d records written, want %d", total, callers*calls*per)
	}
}
