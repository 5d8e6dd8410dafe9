package logtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

func (s *suite) recordTests() []subtest {
	return []subtest{
		{name: "Fields", run: s.testRecordFields},
		{name: "Timestamps", run: s.testTimestamps},
	}
}

func (s *suite) fetchTests() []subtest {
	return []subtest{
		{name: "Bounds", run: s.testFetchBounds},
		{name: "FromMiddleOfBatch", run: s.testFetchMiddle},
		{name: "AtLatest", run: s.testFetchAtLatest},
		{name: "OutOfRange", run: s.testFetchOutOfRange},
		{name: "MaxWaitGetsProduced", run: s.testMaxWaitGetsProduced},
		{name: "MaxWaitExpires", run: s.testMaxWaitExpires},
		{name: "MaxWaitCancelled", run: s.testMaxWaitCancelled},
	}
}

func (s *suite) offsetForTimeTests() []subtest {
	return []subtest{
		{name: "OutOfOrderTimestamps", run: s.testOffsetForTime},
		{name: "Empty", run: s.testOffsetForTimeEmpty},
	}
}

// testRecordFields: keys, values and headers come back as produced, nil and empty kept apart
// for keys and values (a nil value is a tombstone); headers keep their order and repeats.
func (s *suite) testRecordFields(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	in := []log.Record{
		{Partition: 0, Key: []byte("k"), Value: []byte("v"), Headers: []log.Header{{Key: "h1", Value: []byte("a")}, {Key: "h1", Value: []byte("b")}, {Key: "", Value: []byte("c")}, {Key: "h2", Value: []byte{}}}},
		{Partition: 0, Key: nil, Value: []byte("no key")},
		{Partition: 0, Key: []byte("tombstone"), Value: nil},
		{Partition: 0, Key: []byte("empty value"), Value: []byte{}},
		{Partition: 0, Key: []byte{}, Value: []byte("empty key")},
		{Partition: 0, Key: []byte{0, 1, 2, 255}, Value: []byte{0, 0xff, '\n', 0}},
		{Partition: 0, Key: []byte("big"), Value: big},
	}
	out := produce(t, ctx, l, "t", in...)
	produce(t, ctx, l, "t", log.Record{Partition: 0, Key: []byte("alone"), Value: nil})
	got := fetchAll(t, ctx, l, "t", 0)
	if len(got) != len(in)+1 {
		t.Fatalf("fetched %d records, want %d", len(got), len(in)+1)
	}
	sameRecords(t, got[:len(in)], out)
	if got[len(in)].Value != nil {
		t.Fatalf("a tombstone produced alone came back with value %q", got[len(in)].Value)
	}
}

// testTimestamps: a given timestamp is kept to the millisecond (truncated), timestamps need not
// grow with offsets, a zero timestamp is the time of the Produce.
func (s *suite) testTimestamps(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 123_456_789, time.UTC)
	given := []time.Time{t0, t0.Add(-time.Hour), t0.Add(time.Millisecond + 999_999), time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}
	var in []log.Record
	for i, ts := range given {
		in = append(in, recAt(0, "", fmt.Sprint(i), ts))
	}
	out := produce(t, ctx, l, "t", in...)
	for i, r := range out {
		if want := ms(given[i]); !r.Timestamp.Equal(want) {
			t.Fatalf("Produce returned timestamp %v for %v, want %v (milliseconds)", r.Timestamp, given[i], want)
		}
	}
	sameRecords(t, fetchAll(t, ctx, l, "t", 0), out)

	// A zero timestamp is now. The bounds are generous: a backend may take the time on its
	// side; this only checks that "now" was meant.
	before := time.Now()
	zero := produce(t, ctx, l, "t", rec(0, "", "now"))[0]
	after := time.Now()
	if zero.Timestamp.Before(before.Add(-time.Minute)) || zero.Timestamp.After(after.Add(time.Minute)) {
		t.Fatalf("zero timestamp became %v, produced between %v and %v", zero.Timestamp, before, after)
	}
	got := fetch(t, ctx, l, "t", 0, zero.Offset, log.FetchOptions{})
	if len(got) != 1 || !got[0].Timestamp.Equal(zero.Timestamp) {
		t.Fatalf("fetched %v, want the record stamped %v", got, zero.Timestamp)
	}
}

// testFetchBounds: MaxRecords and MaxBytes bound a fetch, which still returns one record when
// the first is larger than MaxBytes; fetching on from the last offset returned visits every
// record once.
func (s *suite) testFetchBounds(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	val := bytes.Repeat([]byte("v"), 100)
	var want []log.Record
	for i := range 10 { // ten batches of one record
		want = append(want, produce(t, ctx, l, "t", log.Record{Partition: 0, Key: fmt.Appendf(nil, "k%d", i), Value: val})...)
	}
	var many []log.Record // and one batch of ten
	for i := range 10 {
		many = append(many, log.Record{Partition: 0, Key: fmt.Appendf(nil, "m%d", i), Value: val})
	}
	want = append(want, produce(t, ctx, l, "t", many...)...)

	for _, c := range []struct {
		opts log.FetchOptions
		from int64
	}{
		{log.FetchOptions{MaxRecords: 3}, 0},
		{log.FetchOptions{MaxRecords: 3}, 12},
		{log.FetchOptions{MaxRecords: 1}, 5},
		{log.FetchOptions{MaxBytes: 250}, 0},
		{log.FetchOptions{MaxBytes: 250}, 11},
		{log.FetchOptions{MaxBytes: 1}, 3},
		{log.FetchOptions{MaxBytes: 1}, 15},
		{log.FetchOptions{MaxBytes: 350, MaxRecords: 2}, 8},
	} {
		got := fetch(t, ctx, l, "t", 0, c.from, c.opts)
		if len(got) == 0 {
			t.Fatalf("Fetch(%d, %+v) returned nothing", c.from, c.opts)
		}
		if c.opts.MaxRecords > 0 && len(got) > c.opts.MaxRecords {
			t.Fatalf("Fetch(%d, %+v) returned %d records", c.from, c.opts, len(got))
		}
		size := 0
		for _, r := range got {
			size += len(r.Key) + len(r.Value)
		}
		if c.opts.MaxBytes > 0 && len(got) > 1 && size > c.opts.MaxBytes {
			t.Fatalf("Fetch(%d, %+v) returned %d records of %d key and value bytes", c.from, c.opts, len(got), size)
		}
		sameRecords(t, got, want[c.from:c.from+int64(len(got))])
	}
	// Default options return everything here (well under 1 MiB).
	sameRecords(t, fetch(t, ctx, l, "t", 0, 0, log.FetchOptions{}), want)
	// One record at a time.
	var all []log.Record
	for off := int64(0); off < int64(len(want)); off++ {
		all = append(all, fetch(t, ctx, l, "t", 0, off, log.FetchOptions{MaxBytes: 1})...)
	}
	sameRecords(t, all, want)
}

// testFetchMiddle: a fetch may start at any offset, inside a batch too.
func (s *suite) testFetchMiddle(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	out := produce(t, ctx, l, "t", rec(0, "", "a"), rec(0, "", "b"), rec(0, "", "c"), rec(0, "", "d"), rec(0, "", "e"))
	for from := range int64(5) {
		sameRecords(t, fetch(t, ctx, l, "t", 0, from, log.FetchOptions{}), out[from:])
	}
}

// testFetchAtLatest: a fetch at Latest returns no records and no error, empty partitions too.
func (s *suite) testFetchAtLatest(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 2})
	if got := fetch(t, ctx, l, "t", 1, 0, log.FetchOptions{}); len(got) != 0 {
		t.Fatalf("fetch of an empty partition returned %d records", len(got))
	}
	produce(t, ctx, l, "t", rec(0, "", "a"), rec(0, "", "b"))
	if got := fetch(t, ctx, l, "t", 0, 2, log.FetchOptions{}); len(got) != 0 {
		t.Fatalf("fetch at Latest returned %d records", len(got))
	}
}

// testFetchOutOfRange: past Latest or below Earliest is an *OffsetRangeError carrying the range.
func (s *suite) testFetchOutOfRange(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 2})
	produce(t, ctx, l, "t", rec(1, "", "a"), rec(1, "", "b"), rec(1, "", "c"))
	for _, off := range []int64{4, 1000} {
		_, err := l.Fetch(ctx, "t", 1, off, log.FetchOptions{})
		wantRange(t, fmt.Sprintf("Fetch(%d)", off), err, "t", 1, off, 0, 3)
	}
	_, err := l.Fetch(ctx, "t", 1, -1, log.FetchOptions{})
	wantRange(t, "Fetch(-1)", err, "t", 1, -1, 0, 3)
	_, err = l.Fetch(ctx, "t", 0, 1, log.FetchOptions{})
	wantRange(t, "Fetch(1) of an empty partition", err, "t", 0, 1, 0, 0)
}

// testMaxWaitGetsProduced: a fetch waiting at Latest returns the record produced meanwhile.
// (Whether the fetch started waiting before the Produce or not, it must return the record.)
func (s *suite) testMaxWaitGetsProduced(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 2})
	produce(t, ctx, l, "t", rec(1, "", "before"))
	type result struct {
		recs []log.Record
		err  error
	}
	done := make(chan result, 1)
	go func() {
		recs, err := l.Fetch(ctx, "t", 1, 1, log.FetchOptions{MaxWait: time.Minute})
		done <- result{recs, err}
	}()
	produce(t, ctx, l, "t", rec(0, "", "other partition"))
	want := produce(t, ctx, l, "t", rec(1, "", "awaited"))
	res := <-done
	if res.err != nil {
		t.Fatalf("waiting Fetch: %v", res.err)
	}
	if len(res.recs) == 0 {
		t.Fatalf("waiting Fetch returned no record although one was produced")
	}
	sameRecords(t, res.recs[:1], want)
}

// testMaxWaitExpires: with nothing produced, a waiting fetch returns no records and no error.
func (s *suite) testMaxWaitExpires(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	got, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{MaxWait: 20 * time.Millisecond})
	if err != nil || len(got) != 0 {
		t.Fatalf("Fetch with MaxWait on an idle partition = %v, %v; want nothing", got, err)
	}
}

// testMaxWaitCancelled: cancelling the context ends a wait with the context's error.
func (s *suite) testMaxWaitCancelled(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := l.Fetch(cctx, "t", 0, 0, log.FetchOptions{MaxWait: time.Hour})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiting Fetch returned %v, want context.Canceled", err)
	}
}

// testOffsetForTime: the first offset whose timestamp is at or after the time, with timestamps
// out of order; past the newest timestamp it is Latest.
func (s *suite) testOffsetForTime(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	// Offsets 0..4 with timestamps 10, 30, 20, 40, 25 (seconds after t0), in separate calls and
	// then the same again in one call (offsets 5..9).
	stamps := []int{10, 30, 20, 40, 25}
	for i, s := range stamps {
		produce(t, ctx, l, "t", recAt(0, "", fmt.Sprint(i), sec(s)))
	}
	var batch []log.Record
	for i, s := range stamps {
		batch = append(batch, recAt(0, "", fmt.Sprint(i), sec(100+s)))
	}
	produce(t, ctx, l, "t", batch...)
	for _, c := range []struct {
		at   time.Time
		want int64
	}{
		{t0.Add(-24 * time.Hour), 0},
		{sec(0), 0}, {sec(10), 0}, {sec(11), 1}, {sec(25), 1}, {sec(30), 1},
		{sec(31), 3}, {sec(40), 3}, {sec(41), 5},
		{sec(110), 5}, {sec(115), 6}, {sec(131), 8}, {sec(140), 8},
		{sec(141), 10}, {time.Now().Add(time.Hour), 10},
	} {
		got, err := l.OffsetForTime(ctx, "t", 0, c.at)
		if err != nil {
			t.Fatalf("OffsetForTime(t0+%v): %v", c.at.Sub(t0), err)
		}
		if got != c.want {
			t.Errorf("OffsetForTime(t0+%v) = %d, want %d", c.at.Sub(t0), got, c.want)
		}
	}
}

func (s *suite) testOffsetForTimeEmpty(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{})
	if got, err := l.OffsetForTime(ctx, "t", 0, time.Now().Add(-time.Hour)); err != nil || got != 0 {
		t.Fatalf("OffsetForTime on an empty partition = %d, %v; want 0", got, err)
	}
}
