package source

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
)

func TestLogSourceReadsRanges(t *testing.T) {
	ctx := context.Background()
	l, err := embedded.Open(ctx, t.TempDir(), embedded.CleanInterval(0), embedded.SegmentBytes(128))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	var recs []log.Record
	for i := 0; i < 10; i++ {
		// Values of about 100 bytes: with 128-byte segments, each batch is a segment of its own.
		r := log.Record{Partition: int32(i % 2), Value: []byte(fmt.Sprintf(`{"i":%d,"pad":"%0100d"}`, i, 0))}
		if i < 2 {
			r.Timestamp = old // removed by retention below
		}
		if i == 3 {
			r.Value = []byte{0xff, 0xfe} // not UTF-8
		}
		recs = append(recs, r)
	}
	for _, r := range recs { // one call per record: one batch each, so retention can cut between them
		if _, err := l.Produce(ctx, "events", []log.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	src, err := OpenLog(ctx, l, "events", LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	avail, err := src.Available(ctx)
	if err != nil || avail[0] != (Range{0, 5}) || avail[1] != (Range{0, 5}) {
		t.Fatalf("available %v, %v", avail, err)
	}
	var got []log.Record
	if err := src.Read(ctx, 1, Range{1, 4}, func(rs []log.Record) error { got = append(got, rs...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Offset != 1 || got[2].Offset != 3 {
		t.Fatalf("read %+v", got)
	}
	batch := RecordsToArrow(got)
	defer batch.Release()
	if batch.NumRows() != 3 {
		t.Fatalf("batch of %d rows", batch.NumRows())
	}
	// Partition 1 holds i = 1, 3, 5, ...: offset 1 is i = 3, whose value is not UTF-8.
	if !batch.Column(5).IsNull(0) || batch.Column(6).IsNull(0) {
		t.Errorf("a non-UTF-8 value must land in value_bytes: %v", batch)
	}
	if batch.Column(5).(*array.String).Value(1) != fmt.Sprintf(`{"i":5,"pad":"%0100d"}`, 0) {
		t.Errorf("value %q", batch.Column(5).(*array.String).Value(1))
	}

	// Retention removes the first record of each partition: a planned range that starts there is
	// data loss, unless allowed.
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	err = src.Read(ctx, 0, Range{0, 3}, func([]log.Record) error { return nil })
	if !errors.Is(err, ErrDataLoss) {
		t.Fatalf("read after retention: %v, want ErrDataLoss", err)
	}
	lossy, err := OpenLog(ctx, l, "events", LogOptions{AllowDataLoss: true, Partitions: []int32{0}})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := lossy.Read(ctx, 0, Range{0, 3}, func(rs []log.Record) error { got = append(got, rs...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Offset != 1 || lossy.Lost != 1 {
		t.Fatalf("lossy read %+v, lost %d", got, lossy.Lost)
	}
	if _, err := OpenLog(ctx, l, "events", LogOptions{Partitions: []int32{7}}); !errors.Is(err, log.ErrUnknownPartition) {
		t.Errorf("unknown partition: %v", err)
	}
}

// TestRecordsToArrowBinaryKey: a key that is not valid UTF-8 becomes NULL (DuckDB rejected the
// whole batch when it was loaded as text, and a pipeline stopped at the first such record; found
// by the reliability harness's badinput section); a value that is not valid UTF-8 goes to
// value_bytes.
func TestRecordsToArrowBinaryKey(t *testing.T) {
	batch := RecordsToArrow([]log.Record{
		{Topic: "t", Key: []byte("\xff\xfe"), Value: []byte(`{"a":1}`)},
		{Topic: "t", Key: []byte("k"), Value: []byte("\xff")},
		{Topic: "t"},
	})
	defer batch.Release()
	key := batch.Column(4).(*array.String)
	val := batch.Column(5).(*array.String)
	raw := batch.Column(6).(*array.Binary)
	if !key.IsNull(0) || val.Value(0) != `{"a":1}` || !raw.IsNull(0) {
		t.Errorf("binary key: key null %v, value %q", key.IsNull(0), val.Value(0))
	}
	if key.Value(1) != "k" || !val.IsNull(1) || string(raw.Value(1)) != "\xff" {
		t.Errorf("binary value: key %q, value null %v, value_bytes %q", key.Value(1), val.IsNull(1), raw.Value(1))
	}
	if !key.IsNull(2) || !val.IsNull(2) || !raw.IsNull(2) {
		t.Errorf("empty record: want all NULL")
	}
}
