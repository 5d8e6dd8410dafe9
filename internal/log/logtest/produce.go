package logtest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stratalake/strata/internal/log"
)

func (s *suite) produceTests() []subtest {
	return []subtest{
		{name: "OffsetsFromZero", run: s.testOffsetsFromZero},
		{name: "OrderPerPartition", run: s.testOrderPerPartition},
		{name: "KeyedPartitioning", run: s.testKeyedPartitioning},
		{name: "KeylessOnePartitionPerCall", run: s.testKeylessPerCall},
		{name: "ExplicitPartition", run: s.testExplicitPartition},
		{name: "Concurrent", run: s.testConcurrentProduce},
		{name: "Empty", run: s.testProduceEmpty},
	}
}

// testOffsetsFromZero: offsets start at 0 and grow by one per record, across calls; Produce
// returns the records in the order given with Topic, Partition, Offset and Timestamp set.
func (s *suite) testOffsetsFromZero(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	next := int64(0)
	for call, n := range []int{1, 2, 3, 1} {
		var recs []log.Record
		for i := range n {
			recs = append(recs, rec(-1, fmt.Sprintf("k%d", i), fmt.Sprintf("call %d record %d", call, i)))
		}
		out := produce(t, ctx, l, "t", recs...)
		for i, r := range out {
			if r.Topic != "t" || r.Partition != 0 || r.Offset != next || r.Timestamp.IsZero() ||
				string(r.Key) != string(recs[i].Key) || string(r.Value) != string(recs[i].Value) {
				t.Fatalf("call %d: returned record %d = %+v, want t/0@%d with the key and value given and a timestamp", call, i, r, next)
			}
			next++
		}
	}
	if e, x := offsets(t, ctx, l, "t", 0); e != 0 || x != next {
		t.Fatalf("Offsets = %d, %d; want 0, %d", e, x, next)
	}
}

// testOrderPerPartition: each partition returns its records in the order produced, whatever
// the interleaving of partitions within and across calls.
func (s *suite) testOrderPerPartition(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 3})
	want := make([][]log.Record, 3)
	for call := range 5 {
		var recs []log.Record
		for i := range 9 {
			recs = append(recs, rec(int32((i+call)%3), "", fmt.Sprintf("c%d-i%d", call, i)))
		}
		for _, r := range produce(t, ctx, l, "t", recs...) {
			want[r.Partition] = append(want[r.Partition], r)
		}
	}
	for p := range int32(3) {
		for i, r := range want[p] {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d got offset %d", p, i, r.Offset)
			}
		}
		sameRecords(t, fetchAll(t, ctx, l, "t", p), want[p])
	}
}

// testKeyedPartitioning: Partition < 0 with a key picks the partition of Kafka's default
// partitioner (murmur2), so a key always lands in the same partition, on every backend.
func (s *suite) testKeyedPartitioning(t *testing.T) {
	ctx, l := s.open(t)
	const n = 5
	create(t, ctx, l, "t", log.TopicConfig{Partitions: n})
	got := map[string]int32{}
	for round := range 2 {
		var recs []log.Record
		for k := range 60 {
			recs = append(recs, rec(-1, fmt.Sprintf("key-%d", k), fmt.Sprintf("round %d", round)))
		}
		for _, r := range produce(t, ctx, l, "t", recs...) {
			key := string(r.Key)
			if want := kafkaPartition(r.Key, n); r.Partition != want {
				t.Fatalf("key %q went to partition %d, Kafka's partitioner gives %d", key, r.Partition, want)
			}
			if p, ok := got[key]; ok && p != r.Partition {
				t.Fatalf("key %q went to partition %d, then %d", key, p, r.Partition)
			}
			got[key] = r.Partition
		}
	}
	used := map[int32]bool{}
	for p := range int32(n) {
		for _, r := range fetchAll(t, ctx, l, "t", p) {
			if got[string(r.Key)] != p {
				t.Fatalf("key %q fetched from partition %d, produced to %d", r.Key, p, got[string(r.Key)])
			}
			used[p] = true
		}
	}
	if len(used) < 2 {
		t.Fatalf("60 keys all went to one partition")
	}
}

// testKeylessPerCall: keyless records of one call go to one partition; successive calls move
// on to other partitions.
func (s *suite) testKeylessPerCall(t *testing.T) {
	ctx, l := s.open(t)
	const n = 4
	create(t, ctx, l, "t", log.TopicConfig{Partitions: n})
	used := map[int32]bool{}
	for call := range 2 * n {
		out := produce(t, ctx, l, "t", rec(-1, "", "a"), rec(-1, "", "b"), rec(-1, "", "c"))
		for _, r := range out[1:] {
			if r.Partition != out[0].Partition {
				t.Fatalf("call %d: keyless records went to partitions %d and %d", call, out[0].Partition, r.Partition)
			}
		}
		for i, r := range out {
			if r.Offset != out[0].Offset+int64(i) {
				t.Fatalf("call %d: offsets %v are not consecutive", call, offsetsOf(out))
			}
		}
		used[out[0].Partition] = true
	}
	if len(used) < 2 {
		t.Fatalf("%d keyless calls all went to one partition", 2*n)
	}
}

// testExplicitPartition: Partition >= 0 is obeyed whatever the key.
func (s *suite) testExplicitPartition(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 3})
	for p := range int32(3) {
		out := produce(t, ctx, l, "t", rec(p, "same-key", "v"), rec(p, "", "w"))
		for _, r := range out {
			if r.Partition != p {
				t.Fatalf("record for partition %d went to %d", p, r.Partition)
			}
		}
		if got := fetchAll(t, ctx, l, "t", p); len(got) != 2 {
			t.Fatalf("partition %d holds %d records, want 2", p, len(got))
		}
	}
}

// testConcurrentProduce: many goroutines produce to the same partitions at once; every record
// gets a distinct offset, each call's records for a partition are consecutive, and the offsets
// of a partition are exactly 0..n-1, each holding the record Produce said.
func (s *suite) testConcurrentProduce(t *testing.T) {
	ctx, l := s.open(t)
	const (
		producers = 16
		calls     = 25
		parts     = 2
	)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: parts})
	var mu sync.Mutex
	byPart := make([]map[int64]log.Record, parts)
	for i := range byPart {
		byPart[i] = map[int64]log.Record{}
	}
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				var recs []log.Record
				for i := range 1 + (g+c)%4 {
					recs = append(recs, rec(int32((g+i)%parts), "", fmt.Sprintf("g%d-c%d-i%d", g, c, i)))
				}
				out, err := l.Produce(ctx, "t", recs)
				if err != nil {
					errs <- fmt.Errorf("producer %d call %d: %w", g, c, err)
					return
				}
				last := map[int32]int64{}
				mu.Lock()
				for _, r := range out {
					if prev, ok := last[r.Partition]; ok && r.Offset != prev+1 {
						mu.Unlock()
						errs <- fmt.Errorf("producer %d call %d: partition %d offsets not consecutive: %v", g, c, r.Partition, offsetsOf(out))
						return
					}
					last[r.Partition] = r.Offset
					if dup, ok := byPart[r.Partition][r.Offset]; ok {
						mu.Unlock()
						errs <- fmt.Errorf("partition %d offset %d given to %q and %q", r.Partition, r.Offset, dup.Value, r.Value)
						return
					}
					byPart[r.Partition][r.Offset] = r
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		var want []log.Record
		for off := range int64(len(byPart[p])) {
			r, ok := byPart[p][off]
			if !ok {
				t.Fatalf("partition %d: %d records, but offset %d was never returned (a gap)", p, len(byPart[p]), off)
			}
			want = append(want, r)
		}
		if _, latest := offsets(t, ctx, l, "t", p); latest != int64(len(want)) {
			t.Fatalf("partition %d: Latest %d, want %d", p, latest, len(want))
		}
		sameRecords(t, fetchAll(t, ctx, l, "t", p), want)
	}
}

func (s *suite) testProduceEmpty(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	out, err := l.Produce(ctx, "t", nil)
	if err != nil || len(out) != 0 {
		t.Fatalf("Produce of no records = %v, %v; want nothing", out, err)
	}
	if _, latest := offsets(t, ctx, l, "t", 0); latest != 0 {
		t.Fatalf("Latest %d after producing nothing", latest)
	}
}
