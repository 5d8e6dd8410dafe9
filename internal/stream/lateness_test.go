package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// lateRowsSQL marks the late rows of a table (partition, "offset", event_time) with the runtime's
// rule, as plain DuckDB SQL: a row is late when its event time is below the largest event time of
// the rows of its partition before it (by offset) minus the watermark delay and the allowed
// lateness. The first row of a partition has no such maximum (NULL): never late. The %s are the
// table, the delay and the lateness (DuckDB INTERVAL literals).
const lateRowsSQL = `
SELECT *
FROM (
	SELECT *, max(event_time) OVER (PARTITION BY "partition" ORDER BY "offset"
		ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_max
	FROM %s
)
WHERE earlier_max - %s - %s > event_time`

// latenessSQL is the transform of TestLatenessMatchesSQL: it keeps each row's partition and
// offset, so that the late table can be compared with lateRowsSQL over all the input.
const latenessSQL = `SELECT "partition", "offset", value->>'event_id' AS event_id,
	(value->>'event_ts')::TIMESTAMPTZ AS event_time, value->>'country' AS country,
	(value->>'revenue')::DECIMAL(18,2) AS revenue
FROM events`

// TestLatenessMatchesSQL runs a dedup and one-minute windowed aggregation over a two-partition
// embedded-log topic whose events are out of order within the delay, beyond it, far late, and
// duplicated across partitions: as one batch, as an available-now run of many small batches, and
// as a stream that is stopped and resumed while the data arrives in chunks. Each run's late table
// must hold exactly the rows lateRowsSQL marks late over the whole input (copied by a stateless
// query into a Delta table), and the runs' output windows must be equal.
func TestLatenessMatchesSQL(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()

	const delay, lateness = 30 * time.Second, 10 * time.Second
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	recs := latenessRecords(seed, 900)
	for _, topic := range []string{"events", "events_chunked"} {
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Produce(ctx, "events", recs); err != nil {
		t.Fatal(err)
	}

	query := func(name, topic string) Query {
		return Query{
			Name:            name,
			Sources:         []Source{{Name: "events", Topic: topic}},
			SQL:             latenessSQL,
			EventTime:       "event_time",
			Watermark:       Watermark{Delay: delay},
			AllowedLateness: lateness,
			Dedup:           &Dedup{Columns: []string{"event_id"}},
			Aggregate: &Aggregate{Window: Tumbling(time.Minute), GroupBy: []string{"country"},
				Aggs: []Agg{{Func: Sum, Column: "revenue", As: "revenue"}, {Func: Count, As: "events"}}},
			Output:     Output{Table: filepath.Join(dir, name, "out")},
			Checkpoint: filepath.Join(dir, name, "ckpt"),
		}
	}

	// All the input, as the transform sees it.
	all := Query{Name: "all", Sources: []Source{{Name: "events", Topic: "events"}}, SQL: latenessSQL,
		Output: Output{Table: filepath.Join(dir, "all")}, Checkpoint: filepath.Join(dir, "all_ckpt"),
		Trigger: Trigger{Kind: TriggerAvailableNow}}
	if _, err := Run(ctx, all, Deps{Engine: e, Log: l}); err != nil {
		t.Fatal(err)
	}
	cols := `event_id, "partition", "offset", event_time::VARCHAR`
	wantLate := queryRows(t, e, "SELECT "+cols+" FROM ("+fmt.Sprintf(lateRowsSQL, "delta_scan("+sqlString(all.Output.Table)+")",
		fmt.Sprintf("INTERVAL '%d seconds'", int(delay.Seconds())), fmt.Sprintf("INTERVAL '%d seconds'", int(lateness.Seconds())))+")")
	if len(wantLate) < 20 {
		t.Fatalf("only %d late rows in the input: the test data does not exercise lateness", len(wantLate))
	}

	type run struct {
		name            string
		q               Query
		batches, totals int64 // batches of the last Run; late rows counted over the query's life
	}
	var runs []run

	// One batch (and the flush).
	one := query("one_batch", "events")
	one.Trigger, one.FlushAtEnd = Trigger{Kind: TriggerAvailableNow}, true
	m, err := Run(ctx, one, Deps{Engine: e, Log: l})
	if err != nil {
		t.Fatal(err)
	}
	if m.Batches != 2 {
		t.Fatalf("one batch: %d batches, want the data and the flush", m.Batches)
	}
	runs = append(runs, run{"one batch", one, m.Batches, m.LateRows})

	// Many small batches, partitions interleaved as the limits cut them.
	small := query("small_batches", "events")
	small.Trigger, small.FlushAtEnd, small.Limits = Trigger{Kind: TriggerAvailableNow}, true, Limits{MaxRecords: 37}
	if m, err = Run(ctx, small, Deps{Engine: e, Log: l}); err != nil {
		t.Fatal(err)
	}
	runs = append(runs, run{"small batches", small, m.Batches, m.LateRows})

	// A stream, stopped each time it has caught up and resumed after more data arrived, then
	// finished by an available-now run with flush.
	stream := query("stream", "events_chunked")
	stream.Limits = Limits{MaxRecords: 50}
	rng := rand.New(rand.NewPCG(seed, 3))
	for rest := recs; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(200))
		if _, err := l.Produce(ctx, "events_chunked", rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
		rctx, cancel := context.WithCancel(ctx)
		_, err := Run(rctx, stream, Deps{Engine: e, Log: l, OnIdle: cancel})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stream run: %v", err)
		}
	}
	stream.Trigger, stream.FlushAtEnd = Trigger{Kind: TriggerAvailableNow}, true
	if m, err = Run(ctx, stream, Deps{Engine: e, Log: l}); err != nil {
		t.Fatal(err)
	}
	runs = append(runs, run{"stream", stream, m.Batches, m.LateRows})

	var firstWindows []string
	for i, r := range runs {
		var gotLate []string // no table: the run had no late rows
		if _, err := os.Stat(filepath.Join(r.q.lateTable(), "_delta_log")); err == nil {
			gotLate = queryRows(t, e, "SELECT "+cols+" FROM delta_scan("+sqlString(r.q.lateTable())+")")
		}
		diffRows(t, r.name+": late rows", gotLate, wantLate)
		windows := windowRows(t, e, r.q.Output.Table)
		if i == 0 {
			firstWindows = windows
		} else {
			diffRows(t, r.name+": output windows", windows, firstWindows)
		}
		if r.totals != int64(len(wantLate)) {
			t.Errorf("%s: %d late rows counted, want %d", r.name, r.totals, len(wantLate))
		}
		t.Logf("%s: %d batches, %d late rows, %d windows", r.name, r.batches, len(gotLate), len(windows))
	}
}

// latenessRecords returns n events over two partitions, in production order, whose event times
// drift upwards: most out of order within the delay (30 s), some beyond it (some of those within
// the allowed lateness of 10 s), a few far late, and some duplicates (an earlier event again, with
// its event time, in either partition).
func latenessRecords(seed uint64, n int) []log.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixMicro()
	countries := []string{"FR", "DE", "ES"}
	var evs []testEvent
	recs := make([]log.Record, 0, n)
	base := t0
	for len(recs) < n {
		p := int32(rng.IntN(2))
		var ev testEvent
		if len(evs) > 0 && rng.IntN(12) == 0 {
			ev = evs[rng.IntN(len(evs))]
		} else {
			base += int64(rng.IntN(3000)) * 1000 // up to 3 s
			ts := base
			switch k := rng.IntN(20); {
			case k < 15:
				ts -= int64(rng.IntN(30_000)) * 1000
			case k < 19:
				ts -= 30e6 + int64(rng.IntN(20_000))*1000
			default:
				ts -= 300e6 + int64(rng.IntN(300_000))*1000
			}
			ev = testEvent{ID: fmt.Sprintf("e%d", len(evs)), TS: ts, Country: countries[rng.IntN(3)], Cents: int64(rng.IntN(10_000)), User: int64(rng.IntN(50))}
			evs = append(evs, ev)
		}
		recs = append(recs, log.Record{Partition: p, Value: ev.json()})
	}
	return recs
}
