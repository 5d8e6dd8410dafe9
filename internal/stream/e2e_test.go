package stream

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/stream/source"
)

// expectedWindows recomputes the windowed revenue query with plain DuckDB over the NDJSON input:
// an event counts once if at least one of its deliveries was not late (the late table holds the
// late deliveries).
func expectedWindows(t *testing.T, e *engine.Engine, input, late string) []string {
	return queryRows(t, e, `
WITH input AS (
	SELECT event_id, event_ts::TIMESTAMPTZ AS ts, country, revenue::DECIMAL(18,2) AS revenue
	FROM read_json(`+sqlString(input)+`, format = 'newline_delimited',
		columns = {event_id: 'VARCHAR', event_ts: 'VARCHAR', country: 'VARCHAR', user_id: 'BIGINT', revenue: 'VARCHAR'})),
deliveries AS (SELECT event_id, any_value(ts) AS ts, any_value(country) AS country, any_value(revenue) AS revenue, count(*) AS n FROM input GROUP BY event_id),
late AS (SELECT event_id, count(*) AS n FROM delta_scan(`+sqlString(late)+`) GROUP BY event_id)
SELECT time_bucket(INTERVAL '1 minute', ts)::VARCHAR AS window_start, (time_bucket(INTERVAL '1 minute', ts) + INTERVAL '1 minute')::VARCHAR AS window_end,
	country, sum(revenue)::DECIMAL(38,2)::VARCHAR AS revenue, count(*)::BIGINT AS events
FROM deliveries LEFT JOIN late USING (event_id)
WHERE deliveries.n > coalesce(late.n, 0)
GROUP BY ALL`)
}

// TestEndToEndWindowedRevenue streams NDJSON events from an embedded-log topic through a dedup by
// event id and a one-minute tumbling revenue-per-country aggregation into Delta tables, in append
// mode and in update mode, and checks both outputs against a plain DuckDB recomputation over the
// same input minus the late rows, which must be in the late table.
func TestEndToEndWindowedRevenue(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	evs := genEvents(t, 11, 6000, 20, 0.03)
	// Late deliveries at the end: copies of early events, and new events with early times.
	var late []testEvent
	for i := range 4 {
		late = append(late, evs[i*11])
	}
	for i := range 3 {
		late = append(late, testEvent{ID: fmt.Sprintf("late-%d", i), TS: evs[0].TS + int64(i)*1e6, Country: "ES", Cents: 1000 + int64(i), User: int64(i + 1)})
	}
	evs = append(evs, late...)
	produce(t, l, "events", evs)
	input := filepath.Join(dir, "input.ndjson")
	writeNDJSON(t, input, evs)

	for _, mode := range []OutputMode{OutputAppend, OutputUpdate} {
		t.Run(mode.String(), func(t *testing.T) {
			qdir := filepath.Join(dir, mode.String())
			q := revenueQuery("revenue_"+mode.String(), qdir, mode)
			q.Trigger = Trigger{Kind: TriggerAvailableNow}
			q.Limits = Limits{MaxRecords: 700}
			q.FlushAtEnd = true
			var batches []BatchMetrics
			m, err := Run(ctx, q, Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) { batches = append(batches, b) }})
			if err != nil {
				t.Fatal(err)
			}
			got := windowRows(t, e, q.Output.Table)
			want := expectedWindows(t, e, input, q.lateTable())
			diffRows(t, "output windows", got, want)
			lateIDs := queryRows(t, e, "SELECT event_id FROM delta_scan("+sqlString(q.lateTable())+")")
			var wantLate []string
			for _, ev := range late {
				wantLate = append(wantLate, ev.ID)
			}
			diffRows(t, "late rows", lateIDs, sortedCopy(wantLate))
			if m.LateRows != int64(len(late)) || m.InputRows != int64(len(evs)) || m.Batches != int64(len(batches)) {
				t.Errorf("metrics %+v", m)
			}
			var records int64
			for _, b := range batches {
				records += b.InputRecords
			}
			if records != int64(len(evs)) || len(batches) < len(evs)/700 {
				t.Errorf("%d batches read %d records, want %d", len(batches), records, len(evs))
			}
			if last := batches[len(batches)-1]; last.InputRecords != 0 || last.Watermark.Year() < 3000 {
				t.Errorf("last batch (the flush) %+v", last)
			}
			// A second available-now run finds nothing new and changes nothing.
			m2, err := Run(ctx, q, Deps{Engine: e, Log: l})
			if err != nil || m2.RunBatches != 0 {
				t.Errorf("second run: %d batches, %v", m2.RunBatches, err)
			}
			diffRows(t, "output after a second run", windowRows(t, e, q.Output.Table), want)
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestWatermarkIdlePartitionAndLateRows runs the watermark scenario through the driver: one of two
// partitions goes silent after a few events, events arrive out of order within the delay, and two
// arrive later than the delay. With an idle timeout the silent partition stops holding the
// watermark back, so windows close (and are appended) while data flows; without one, nothing
// closes before the final flush. The late events are counted and land in the late table.
func TestWatermarkIdlePartitionAndLateRows(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixMicro()
	rec := func(p int32, id string, sec int64, cents int64) log.Record {
		ev := testEvent{ID: id, TS: t0 + sec*1e6, Country: "FR", Cents: cents}
		return log.Record{Partition: p, Value: ev.json()}
	}
	var p0, p1 []log.Record
	for i := range 5 {
		p1 = append(p1, rec(1, fmt.Sprintf("q%d", i), int64(i*4), 100))
	}
	for s := int64(0); s <= 600; s += 5 {
		p0 = append(p0, rec(0, fmt.Sprintf("p%d", s), s, 10))
		if s == 300 {
			p0 = append(p0, rec(0, "ooo", 280, 7)) // 20 s out of order: on time
		}
	}
	p0 = append(p0, rec(0, "late1", 30, 1), rec(0, "late2", 31, 1)) // far behind: late
	for _, recs := range [][]log.Record{p1, p0} {
		if _, err := l.Produce(ctx, "events", recs); err != nil {
			t.Fatal(err)
		}
	}

	run := func(name string, idle time.Duration) ([]BatchMetrics, Query) {
		q := revenueQuery(name, filepath.Join(dir, name), OutputAppend)
		q.Watermark = Watermark{Delay: 30 * time.Second, IdleTimeout: idle}
		q.Trigger = Trigger{Kind: TriggerAvailableNow}
		q.Limits = Limits{MaxRecords: 20}
		q.FlushAtEnd = true
		clock := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
		var batches []BatchMetrics
		_, err := Run(ctx, q, Deps{Engine: e, Log: l,
			Clock:   func() time.Time { clock = clock.Add(5 * time.Second); return clock },
			OnBatch: func(b BatchMetrics) { batches = append(batches, b) }})
		if err != nil {
			t.Fatal(err)
		}
		return batches, q
	}

	withIdle, q := run("idle", 20*time.Second)
	var early int64
	for _, b := range withIdle[:len(withIdle)-1] {
		early += b.OutputRows
	}
	if early == 0 {
		t.Errorf("with an idle timeout no window closed before the flush")
	}
	// The last batch that read data leaves the watermark at partition 0's max event minus the delay.
	var lastData BatchMetrics
	for _, b := range withIdle {
		if b.InputRecords > 0 {
			lastData = b
		}
	}
	if want := time.UnixMicro(t0 + 570*1e6).UTC(); !lastData.Watermark.Equal(want) {
		t.Errorf("watermark after the last data batch %v, want %v", lastData.Watermark, want)
	}
	var lateRows int64
	for _, b := range withIdle {
		lateRows += b.LateRows
	}
	if lateRows != 2 {
		t.Errorf("late rows %d, want 2", lateRows)
	}
	if got := queryRows(t, e, "SELECT event_id FROM delta_scan("+sqlString(q.lateTable())+")"); strings.Join(got, ",") != "late1,late2" {
		t.Errorf("late table %v", got)
	}
	// Every window: 12 events of partition 0 per minute (10 cents), plus partition 1's five events in
	// the first minute and the out-of-order one in minute 4; minute 10 holds the event at 600 s.
	got := windowRows(t, e, q.Output.Table)
	var want []string
	for minute := int64(0); minute <= 10; minute++ {
		n, cents := int64(12), int64(120)
		switch minute {
		case 0:
			n, cents = 17, 620
		case 4:
			n, cents = 13, 127
		case 10:
			n, cents = 1, 10
		}
		start := time.UnixMicro(t0 + minute*60e6).UTC()
		want = append(want, fmt.Sprintf("%s\t%s\tFR\t%s\t%d", start.Format("2006-01-02 15:04:05+00"), start.Add(time.Minute).Format("2006-01-02 15:04:05+00"), centsString(cents), n))
	}
	diffRows(t, "windows", got, sortedCopy(want))

	noIdle, _ := run("noidle", 0)
	for _, b := range noIdle[:len(noIdle)-1] {
		if b.OutputRows != 0 {
			t.Errorf("without an idle timeout batch %d emitted %d rows before the flush", b.BatchID, b.OutputRows)
		}
	}
}

// TestDeltaSourceStateless streams a Delta table version by version through a stateless
// transform into another table, across runs, and checks that a version that deletes rows stops
// the stream with source.ErrChangeCommit unless the source skips such versions.
func TestDeltaSourceStateless(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	p, err := project.Init(filepath.Join(dir, "proj"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(ctx, engine.Options{Project: p, CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	exec := func(sql string) {
		t.Helper()
		if err := e.Run(ctx, sql, func(*engine.Result) error { return nil }); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE TABLE raw.orders AS SELECT * FROM (VALUES (1, 'ES', 10.5), (2, 'FR', 3.25)) v(id, country, amount)")
	exec("INSERT INTO raw.orders VALUES (3, 'ES', 1.0), (4, 'DE', 2.0)")
	q := Query{
		Name:       "orders_copy",
		Sources:    []Source{{Name: "orders", Table: "raw.orders"}},
		SQL:        "SELECT id, upper(country) AS country, amount * 2 AS doubled FROM orders WHERE id <> 2",
		Output:     Output{Table: "silver.orders"},
		Trigger:    Trigger{Kind: TriggerAvailableNow},
		Checkpoint: filepath.Join(dir, "ckpt"),
	}
	if _, err := Run(ctx, q, Deps{Engine: e}); err != nil {
		t.Fatal(err)
	}
	exec("INSERT INTO raw.orders VALUES (5, 'it', 7.0)")
	if _, err := Run(ctx, q, Deps{Engine: e}); err != nil {
		t.Fatal(err)
	}
	got := queryRows(t, e, "SELECT id, country, doubled::VARCHAR FROM silver.orders")
	if want := "1 ES 21.00|3 ES 2.00|4 DE 4.00|5 IT 14.00"; strings.ReplaceAll(strings.Join(got, "|"), "\t", " ") != want {
		t.Errorf("output %v, want %s", got, want)
	}
	exec("DELETE FROM raw.orders WHERE id = 1")
	exec("INSERT INTO raw.orders VALUES (6, 'pt', 1.5)")
	if _, err := Run(ctx, q, Deps{Engine: e}); !errors.Is(err, source.ErrChangeCommit) {
		t.Errorf("stream over a delete: %v, want ErrChangeCommit", err)
	}
	q.Sources[0].SkipChangeCommits = true
	if _, err := Run(ctx, q, Deps{Engine: e}); err != nil {
		t.Fatal(err)
	}
	got = queryRows(t, e, "SELECT id FROM silver.orders")
	if strings.Join(got, ",") != "1,3,4,5,6" {
		t.Errorf("after skipping the delete: %v", got)
	}
}

// TestUpdateModeSessions checks the update-mode sink with session windows, whose results retract
// the bounds they were emitted under when a session grows or two sessions merge: after every
// batch the table holds exactly the current sessions.
func TestUpdateModeSessions(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixMicro()
	var recs []log.Record
	// ES: sessions at 0 s and 50 s, bridged by 25 s into one; FR: one session growing.
	for _, ev := range []struct {
		country string
		sec     int64
	}{{"ES", 0}, {"FR", 0}, {"ES", 50}, {"FR", 20}, {"ES", 25}, {"FR", 40}} {
		te := testEvent{ID: fmt.Sprint(ev.country, ev.sec), TS: t0 + ev.sec*1e6, Country: ev.country, Cents: 100}
		recs = append(recs, log.Record{Partition: 0, Value: te.json()})
	}
	if _, err := l.Produce(ctx, "events", recs); err != nil {
		t.Fatal(err)
	}
	q := revenueQuery("sessions", dir, OutputUpdate)
	q.Aggregate.Window = Session(30 * time.Second)
	q.Watermark.Delay = time.Hour
	q.Trigger = Trigger{Kind: TriggerAvailableNow}
	q.Limits = Limits{MaxRecords: 1}
	var after []string
	_, err := Run(ctx, q, Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) {
		rows := queryRows(t, e, "SELECT country, strftime(window_start, '%H:%M:%S') || '-' || strftime(window_end, '%H:%M:%S'), events FROM delta_scan("+sqlString(q.Output.Table)+")")
		after = append(after, strings.ReplaceAll(strings.Join(rows, " "), "\t", ","))
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ES,12:00:00-12:00:30,1",
		"ES,12:00:00-12:00:30,1 FR,12:00:00-12:00:30,1",
		"ES,12:00:00-12:00:30,1 ES,12:00:50-12:01:20,1 FR,12:00:00-12:00:30,1",
		"ES,12:00:00-12:00:30,1 ES,12:00:50-12:01:20,1 FR,12:00:00-12:00:50,2",
		"ES,12:00:00-12:01:20,3 FR,12:00:00-12:00:50,2",
		"ES,12:00:00-12:01:20,3 FR,12:00:00-12:01:10,3",
	}
	if strings.Join(after, "\n") != strings.Join(want, "\n") {
		t.Errorf("table after each batch:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(want, "\n"))
	}
}

// TestLogSourcePartitionSubset reads some partitions of a topic only, with a stateless transform
// and an interval trigger stopped by its context once everything is in.
func TestLogSourcePartitionSubset(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		var recs []log.Record
		for i := range 10 {
			recs = append(recs, log.Record{Partition: p, Value: fmt.Appendf(nil, `{"n":%d}`, i)})
		}
		if _, err := l.Produce(ctx, "events", recs); err != nil {
			t.Fatal(err)
		}
	}
	q := Query{
		Name:       "subset",
		Sources:    []Source{{Name: "events", Topic: "events", Partitions: []int32{2, 0}}},
		SQL:        `SELECT "partition" AS p, (value->>'n')::INT AS n FROM events WHERE (value->>'n')::INT % 2 = 0`,
		Output:     Output{Table: filepath.Join(dir, "out")},
		Checkpoint: filepath.Join(dir, "ckpt"),
	}
	runCtx, stop := context.WithCancel(ctx)
	var records int64
	_, err := Run(runCtx, q, Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) {
		if records += b.InputRecords; records == 20 {
			stop()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	got := queryRows(t, e, "SELECT p, count(*), sum(n) FROM delta_scan("+sqlString(q.Output.Table)+") GROUP BY p")
	if strings.Join(got, "|") != "0\t5\t20|2\t5\t20" {
		t.Errorf("output %v", got)
	}
	q.Sources[0].Partitions = []int32{3}
	q.Checkpoint = filepath.Join(dir, "ckpt2")
	if _, err := Run(ctx, q, Deps{Engine: e, Log: l}); !errors.Is(err, log.ErrUnknownPartition) {
		t.Errorf("unknown partition: %v", err)
	}
}
