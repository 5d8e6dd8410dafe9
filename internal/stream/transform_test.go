package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/stream/source"
)

// TestTransformKeepsOrder runs one transform over three large partitions (many DuckDB chunks,
// both threads busy) and checks what the driver relies on: the output comes partition by
// partition, each partition's rows in input order, attributed to the right partition.
func TestTransformKeepsOrder(t *testing.T) {
	ctx := testCtx(t)
	e := openEngine(t)
	const per = 60_000
	var parts []partInput
	for p := range 3 {
		var recs []log.Record
		for i := range per {
			recs = append(recs, log.Record{Topic: "t", Partition: int32(p), Offset: int64(i), Timestamp: time.Unix(0, 0),
				Value: fmt.Appendf(nil, `{"n":%d,"pad":"%064d"}`, i, i)})
		}
		parts = append(parts, partInput{source: "events", data: []arrow.RecordBatch{source.RecordsToArrow(recs)}})
	}
	defer func() {
		for _, p := range parts {
			releaseAll(p.data)
		}
	}()
	tf := newTransform(e, `SELECT "partition" AS p, (value->>'n')::BIGINT AS n, md5(value) AS h FROM events WHERE "offset" % 7 <> 3`,
		[]input{fixedInput{n: "events", s: source.RawSchema}})
	lastPart, lastN, rows := 0, int64(-1), 0
	_, err := tf.run(ctx, "order", parts, func(k int, rb arrow.RecordBatch) error {
		defer rb.Release()
		ps, ns := rb.Column(0).(*array.Int32), rb.Column(1).(*array.Int64)
		for i := 0; i < int(rb.NumRows()); i++ {
			if k != lastPart {
				if k < lastPart {
					return fmt.Errorf("partition %d after %d", k, lastPart)
				}
				lastPart, lastN = k, -1
			}
			if int(ps.Value(i)) != k || ns.Value(i) <= lastN || ns.Value(i)%7 == 3 {
				return fmt.Errorf("row of partition %d (attributed to %d) n=%d after n=%d", ps.Value(i), k, ns.Value(i), lastN)
			}
			lastN = ns.Value(i)
			rows++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * (per - per/7); rows < want-3 || rows > want+3 {
		t.Errorf("%d rows, want about %d", rows, want)
	}
}
