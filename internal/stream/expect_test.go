package stream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/stream/core"
)

func TestQualityValidation(t *testing.T) {
	base := func() Query {
		q := revenueQuery("q", "/tmp/x", OutputUpdate)
		q.Expectations = []Expectation{{Name: "positive", Column: "ok_pos"}, {Name: "known", Column: "ok_country", Action: ExpectDrop}}
		q.Quarantine = &Quarantine{Reason: "_reason", Columns: []string{"_raw"}}
		return q
	}
	good := base()
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mut  func(q *Query)
		want string
	}{
		{"no name", func(q *Query) { q.Expectations[0].Name = "" }, "without a Name"},
		{"repeated name", func(q *Query) { q.Expectations[1].Name = "POSITIVE" }, "repeated"},
		{"no column", func(q *Query) { q.Expectations[0].Column = "" }, "without a Column"},
		{"bad action", func(q *Query) { q.Expectations[0].Action = 7 }, "unknown action"},
		{"no reason", func(q *Query) { q.Quarantine.Reason = "" }, "without a Reason"},
		{"reason is an expectation", func(q *Query) { q.Quarantine.Reason = "ok_pos" }, "also an expectation"},
		{"quarantine column is an expectation", func(q *Query) { q.Quarantine.Columns = []string{"ok_country"} }, "also an expectation"},
		{"quarantine column repeated", func(q *Query) { q.Quarantine.Columns = []string{"_raw", "_RAW"} }, "repeated"},
		{"group by a control column", func(q *Query) { q.Aggregate.GroupBy = []string{"_raw"} }, "control column"},
		{"aggregate a control column", func(q *Query) { q.Aggregate.Aggs[0].Column = "ok_pos" }, "control column"},
		{"dedup on a control column", func(q *Query) { q.Dedup.Columns = []string{"_reason"} }, "control column"},
		{"event time a control column", func(q *Query) { q.EventTime = "_raw" }, "control column"},
		{"partition by a control column", func(q *Query) { q.Output.PartitionBy = []string{"ok_country"} }, "control column"},
	} {
		q := base()
		tc.mut(&q)
		err := q.validate()
		if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if q := base(); q.quarantineTable() != "/tmp/x/out_quarantine" {
		t.Errorf("default quarantine table %s", q.quarantineTable())
	}
}

// qualityBatchOf builds a transform output: id, country, ok_pos (bool), ok_country (bool),
// _reason, _raw.
func qualityBatchOf(t *testing.T, rows [][]any) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ok_pos", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "ok_country", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "_reason", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "_raw", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, r := range rows {
		for c, v := range r {
			switch x := v.(type) {
			case nil:
				b.Field(c).AppendNull()
			case int:
				b.Field(c).(*array.Int64Builder).Append(int64(x))
			case string:
				b.Field(c).(*array.StringBuilder).Append(x)
			case bool:
				b.Field(c).(*array.BooleanBuilder).Append(x)
			}
		}
	}
	return b.NewRecordBatch()
}

func batchText(rb arrow.RecordBatch) string {
	if rb == nil {
		return "(none)"
	}
	var rows []string
	for i := range int(rb.NumRows()) {
		var cells []string
		for _, c := range rb.Columns() {
			if c.IsNull(i) {
				cells = append(cells, "NULL")
			} else {
				cells = append(cells, c.ValueStr(i))
			}
		}
		rows = append(rows, strings.Join(cells, ","))
	}
	return strings.Join(rows, " | ")
}

// TestRowFilter applies the quality rules to one output batch: quarantine first, then every
// expectation over every remaining row (NULL fails), then the drops; the control columns go.
func TestRowFilter(t *testing.T) {
	ctx := testCtx(t)
	q := Query{
		Expectations: []Expectation{{Name: "positive", Column: "ok_pos"}, {Name: "known", Column: "ok_country", Action: ExpectDrop}},
		Quarantine:   &Quarantine{Reason: "_reason", Columns: []string{"_raw"}},
	}
	rb := qualityBatchOf(t, [][]any{
		{1, "ES", true, true, nil, "r1"},
		{2, "XX", true, false, nil, "r2"},   // dropped
		{3, "FR", false, true, nil, "r3"},   // kept, fails positive
		{4, "??", nil, nil, "bad id", "r4"}, // quarantined: not evaluated
		{5, nil, nil, nil, nil, "r5"},       // fails both (NULL): dropped
	})
	defer rb.Release()
	f, err := newRowFilter(&q, rb.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.clean.Fields()[0].Name, f.clean.Fields()[1].Name, f.clean.NumFields()); got != "idcountry2" {
		t.Errorf("clean schema %s", f.clean)
	}
	var qnames []string
	for _, fd := range f.quarantine.Fields() {
		qnames = append(qnames, fd.Name)
	}
	if strings.Join(qnames, ",") != "id,country,_reason,_raw" {
		t.Errorf("quarantine schema %v", qnames)
	}
	qb := f.newBatch()
	defer qb.release()
	r := core.Range{Partition: core.PartitionID{Source: "events", Partition: 2}, From: 10, To: 15}
	out, err := f.apply(ctx, rb, r, &qb)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := batchText(out); got != "1,ES | 3,FR" {
		t.Errorf("rows that go on: %s", got)
	}
	if got := batchText(qb.rows[0]); got != "4,??,bad id,r4" {
		t.Errorf("quarantined: %s", got)
	}
	want := []ExpectationMetrics{{"positive", ExpectKeep, 2, 2}, {"known", ExpectDrop, 2, 2}}
	if !slices.Equal(qb.expectations, want) || qb.dropped != 2 || qb.quarantined != 1 {
		t.Errorf("counts %+v dropped %d quarantined %d", qb.expectations, qb.dropped, qb.quarantined)
	}

	// ExpectFail: the first failing row (in output order) fails the batch, named with its
	// partition, its row number in the partition's output so far, the positions read and its values.
	q.Expectations[1].Action = ExpectFail
	f, err = newRowFilter(&q, rb.Schema())
	if err != nil {
		t.Fatal(err)
	}
	qb2 := f.newBatch()
	qb2.seen[r.Partition] = 100
	_, err = f.apply(ctx, rb, r, &qb2)
	if !errors.Is(err, ErrExpectationFailed) {
		t.Fatalf("fail expectation: %v", err)
	}
	for _, s := range []string{`"known"`, "events/2", "row 101", "[10, 15)", `country="XX"`, "ok_country=false", `_raw="r2"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}

	// Schema errors.
	for _, tc := range []struct {
		q    Query
		want string
	}{
		{Query{Expectations: []Expectation{{Name: "e", Column: "id"}}}, "want BOOLEAN"},
		{Query{Quarantine: &Quarantine{Reason: "ok_pos"}}, "want VARCHAR"},
		{Query{Quarantine: &Quarantine{Reason: "_reason", Columns: []string{"nope"}}}, "not in the transform's output"},
	} {
		if _, err := newRowFilter(&tc.q, rb.Schema()); !errors.Is(err, ErrTransformOutput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.q, err)
		}
	}
}

// qualityEvent is one input record of the quality tests; Revenue is the JSON text as sent ("oops"
// cannot be parsed and is quarantined).
type qualityEvent struct {
	ID      string
	TS      int64
	Country string // "" is absent
	Revenue string
}

func (e qualityEvent) json() []byte {
	country := "null"
	if e.Country != "" {
		country = strconv.Quote(e.Country)
	}
	return fmt.Appendf(nil, `{"event_id":%q,"ts":%q,"country":%s,"revenue":%q}`,
		e.ID, time.UnixMicro(e.TS).UTC().Format("2006-01-02T15:04:05.000000Z"), country, e.Revenue)
}

// quality classifies an event as the rules of qualityQuery do.
func (e qualityEvent) quality() (quarantined, positive, known bool) {
	v, err := strconv.ParseFloat(e.Revenue, 64)
	if err != nil {
		return true, false, false
	}
	return false, v >= 0, slices.Contains([]string{"ES", "FR", "DE", "IT"}, e.Country)
}

// genQualityEvents returns n events in roughly increasing time (never late under a 10-minute
// delay): about 5% unparseable revenues, 10% negative ones, 8% unknown or missing countries,
// and (with dups) 5% exact repeats of a recent event.
func genQualityEvents(seed uint64, n int, dups bool) []qualityEvent {
	rng := rand.New(rand.NewPCG(seed, 11))
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixMicro()
	countries := []string{"ES", "FR", "DE", "IT"}
	var out []qualityEvent
	for i := 0; len(out) < n; i++ {
		if dups && len(out) > 10 && rng.IntN(20) == 0 {
			out = append(out, out[len(out)-1-rng.IntN(10)])
			continue
		}
		e := qualityEvent{ID: fmt.Sprintf("e%05d", i), TS: t0 + int64(i)*200_000 + rng.Int64N(30_000_000), Country: countries[rng.IntN(4)],
			Revenue: fmt.Sprintf("%d.%02d", rng.IntN(500), rng.IntN(100))}
		switch x := rng.IntN(100); {
		case x < 5:
			e.Revenue = "oops"
		case x < 15:
			e.Revenue = "-" + e.Revenue
		}
		switch x := rng.IntN(100); {
		case x < 4:
			e.Country = "XX"
		case x < 8:
			e.Country = ""
		}
		out = append(out, e)
	}
	return out
}

const qualitySQL = `SELECT event_id, ts, country, revenue,
	revenue >= 0 AS positive_revenue,
	country IN ('ES', 'FR', 'DE', 'IT') AS known_country,
	CASE WHEN revenue IS NULL THEN 'revenue is not a number: ' || raw_revenue END AS _reason,
	value AS _raw, "offset" AS _offset
FROM (SELECT value->>'event_id' AS event_id, (value->>'ts')::TIMESTAMPTZ AS ts, value->>'country' AS country,
	try_cast(value->>'revenue' AS DECIMAL(18,2)) AS revenue, value->>'revenue' AS raw_revenue, value, "offset"
	FROM events)`

// qualityQuery is a query over topic "events" with a keep expectation (positive_revenue), a drop
// expectation (known_country) and a quarantine of unparseable revenues; stateless, or with a
// dedup by event id and a per-minute revenue per country in update mode.
func qualityQuery(name, dir string, stateful bool) Query {
	q := Query{
		Name:    name,
		Sources: []Source{{Name: "events", Topic: "events"}},
		SQL:     qualitySQL,
		Expectations: []Expectation{
			{Name: "positive_revenue", Column: "positive_revenue", Action: ExpectKeep},
			{Name: "known_country", Column: "known_country", Action: ExpectDrop},
		},
		Quarantine: &Quarantine{Reason: "_reason", Columns: []string{"_raw", "_offset"}},
		Output:     Output{Table: filepath.Join(dir, "out")},
		Trigger:    Trigger{Kind: TriggerAvailableNow},
		Limits:     Limits{MaxRecords: 120},
		Checkpoint: filepath.Join(dir, "ckpt"),
	}
	if stateful {
		q.EventTime = "ts"
		q.Watermark = Watermark{Delay: 10 * time.Minute}
		q.Dedup = &Dedup{Columns: []string{"event_id"}}
		q.Aggregate = &Aggregate{Window: Tumbling(time.Minute), GroupBy: []string{"country"},
			Aggs: []Agg{{Func: Sum, Column: "revenue", As: "revenue"}, {Func: Count, As: "events"}}}
		q.Output.Mode = OutputUpdate
	}
	return q
}

// qualityTotals sums the quality counts of batches.
type qualityTotals struct {
	exps                 []ExpectationMetrics
	dropped, quarantined int64
	batches              int
	skipped              int
}

func (qt *qualityTotals) add(b BatchMetrics) {
	if qt.exps == nil {
		qt.exps = make([]ExpectationMetrics, len(b.Expectations))
	}
	for k, e := range b.Expectations {
		qt.exps[k].Name, qt.exps[k].Action = e.Name, e.Action
		qt.exps[k].Passed += e.Passed
		qt.exps[k].Failed += e.Failed
	}
	qt.dropped += b.DroppedRows
	qt.quarantined += b.QuarantinedRows
	qt.batches++
	if b.SinkSkipped {
		qt.skipped++
	}
}

// TestExpectationsAndQuarantine runs the quality query, stateless (the prewrite path) and
// stateful (dedup and windowed aggregation), with a crash injected right after a commit to the
// output table and, separately, to the quarantine table, then a rerun that replays the batch. The
// summed per-batch counts, the output and the quarantine table must equal those of an
// uninterrupted run and of a plain recomputation of the rules: every quarantined record exactly
// once, no control column in the output, dropped rows absent.
func TestExpectationsAndQuarantine(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	evs := genQualityEvents(23, 1500, true)
	recs := make([]log.Record, len(evs))
	for i, ev := range evs {
		recs[i] = log.Record{Partition: int32(i % 3), Value: ev.json()}
	}
	if _, err := l.Produce(ctx, "events", recs); err != nil {
		t.Fatal(err)
	}
	// What the rules should count, over every delivery.
	want := qualityTotals{exps: []ExpectationMetrics{{"positive_revenue", ExpectKeep, 0, 0}, {"known_country", ExpectDrop, 0, 0}}}
	var wantOut, wantQuarantine []string
	for _, ev := range evs {
		quar, pos, known := ev.quality()
		if quar {
			want.quarantined++
			wantQuarantine = append(wantQuarantine, ev.ID+"\trevenue is not a number: oops")
			continue
		}
		for k, ok := range []bool{pos, known} {
			if ok {
				want.exps[k].Passed++
			} else {
				want.exps[k].Failed++
			}
		}
		if !known {
			want.dropped++
			continue
		}
		wantOut = append(wantOut, ev.ID)
	}
	slices.Sort(wantOut)
	slices.Sort(wantQuarantine)
	if want.quarantined == 0 || want.dropped == 0 || want.exps[0].Failed == 0 {
		t.Fatalf("the generated events exercise too little: %+v", want)
	}

	for _, stateful := range []bool{false, true} {
		kind := map[bool]string{false: "stateless", true: "stateful"}[stateful]
		ref := qualityQuery("ref_"+kind, filepath.Join(dir, "ref_"+kind), stateful)
		var refTotals qualityTotals
		refRun, err := Run(ctx, ref, Deps{Engine: e, Log: l, OnBatch: refTotals.add})
		if err != nil {
			t.Fatal(err)
		}
		checkTotals := func(what string, got qualityTotals) {
			t.Helper()
			if !slices.Equal(got.exps, want.exps) || got.dropped != want.dropped || got.quarantined != want.quarantined {
				t.Errorf("%s: expectations %+v dropped %d quarantined %d; want %+v %d %d", what, got.exps, got.dropped, got.quarantined,
					want.exps, want.dropped, want.quarantined)
			}
		}
		checkTotals(kind+" reference batches", refTotals)
		checkTotals(kind+" reference run metrics", qualityTotals{exps: refRun.Expectations, dropped: refRun.DroppedRows, quarantined: refRun.QuarantinedRows})
		if refTotals.batches < 10 {
			t.Errorf("%s: only %d batches", kind, refTotals.batches)
		}

		output := func(q Query) []string {
			if stateful {
				return windowRows(t, e, q.Output.Table)
			}
			return queryRows(t, e, "SELECT event_id FROM delta_scan("+sqlString(q.Output.Table)+")")
		}
		quarantine := func(q Query) []string {
			return queryRows(t, e, "SELECT _raw->>'event_id', _reason FROM delta_scan("+sqlString(q.quarantineTable())+")")
		}
		if !stateful {
			diffRows(t, "stateless output", output(ref), wantOut)
			cols := queryRows(t, e, "SELECT column_name FROM (DESCRIBE SELECT * FROM delta_scan("+sqlString(ref.Output.Table)+"))")
			if strings.Join(cols, ",") != "country,event_id,revenue,ts" {
				t.Errorf("output columns %v", cols)
			}
		} else if got := queryRows(t, e, "SELECT sum(events) FROM delta_scan("+sqlString(ref.Output.Table)+")"); got[0] != strconv.Itoa(countDistinct(wantOut)) {
			t.Errorf("stateful output counts %s events, want %d distinct kept ids", got[0], countDistinct(wantOut))
		}
		diffRows(t, kind+" quarantine", quarantine(ref), wantQuarantine)
		qcols := queryRows(t, e, "SELECT column_name FROM (DESCRIBE SELECT * FROM delta_scan("+sqlString(ref.quarantineTable())+"))")
		if strings.Join(qcols, ",") != "_offset,_raw,_reason,country,event_id,revenue,ts" {
			t.Errorf("quarantine columns %v", qcols)
		}

		for _, crashIn := range []string{"output", "quarantine"} {
			t.Run(kind+"/crash after "+crashIn+" commit", func(t *testing.T) {
				q := qualityQuery(kind+"_"+crashIn, filepath.Join(dir, kind+"_"+crashIn), stateful)
				table := q.Output.Table
				if crashIn == "quarantine" {
					table = q.quarantineTable()
				}
				var got qualityTotals
				_, err := Run(ctx, q, Deps{Engine: e, Log: l, OnBatch: got.add, WrapStore: crashAfterCommit(table, 3)})
				if !errors.Is(err, errInjectedCrash) {
					t.Fatalf("run with a crash: %v", err)
				}
				if _, err := Run(ctx, q, Deps{Engine: e, Log: l, OnBatch: got.add}); err != nil {
					t.Fatal(err)
				}
				checkTotals("after a crash", got)
				if got.batches != refTotals.batches || got.skipped == 0 {
					t.Errorf("%d batches (%d with a landed commit skipped), the reference %d", got.batches, got.skipped, refTotals.batches)
				}
				diffRows(t, "output after a crash vs the reference", output(q), output(ref))
				diffRows(t, "quarantine after a crash", quarantine(q), wantQuarantine)
			})
		}
	}
}

func countDistinct(sorted []string) int { return len(slices.Compact(slices.Clone(sorted))) }

// TestExpectationFail: a row failing an ExpectFail expectation stops the query before its batch
// commits anything; a rerun replays the batch and fails the same way.
func TestExpectationFail(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	evs := genQualityEvents(5, 300, false)
	for i := range evs {
		evs[i].Revenue, evs[i].Country = "1.00", "ES"
	}
	evs[250].Revenue = "-7.50"
	recs := make([]log.Record, len(evs))
	for i, ev := range evs {
		recs[i] = log.Record{Partition: 0, Value: ev.json()}
	}
	if _, err := l.Produce(ctx, "events", recs); err != nil {
		t.Fatal(err)
	}
	q := qualityQuery("fail", dir, false)
	q.Expectations[0].Action = ExpectFail
	q.Limits.MaxRecords = 100
	var committed int64
	_, err := Run(ctx, q, Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) { committed += b.OutputRows }})
	if !errors.Is(err, ErrExpectationFailed) {
		t.Fatalf("run: %v, want ErrExpectationFailed", err)
	}
	for _, s := range []string{`"positive_revenue"`, "batch 2", "events/0", "row 50", "[200, 300)", `event_id="` + evs[250].ID + `"`, "revenue=-7.5", "_offset=250"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if got := queryRows(t, e, "SELECT count(*) FROM delta_scan("+sqlString(q.Output.Table)+")"); committed != 200 || got[0] != "200" {
		t.Errorf("committed %d rows, table has %s; want the two batches before the failing one", committed, got[0])
	}
	_, err2 := Run(ctx, q, Deps{Engine: e, Log: l})
	if err2 == nil || err2.Error() != err.Error() {
		t.Errorf("rerun: %v, want the same error %v", err2, err)
	}
}
