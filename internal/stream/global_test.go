package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// errInjectedCrash is what a crashingStore returns after the commit it was told to crash on has
// landed: the driver stops there as if the process had died right after that commit.
var errInjectedCrash = errors.New("injected crash after a commit landed")

// crashingStore fails the commitNo-th Delta commit it writes (1-based) after writing it, once.
type crashingStore struct {
	storage.Store
	commits  *atomic.Int64
	commitNo int64
}

func (s *crashingStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	err := s.Store.PutIfAbsent(ctx, key, data)
	if err == nil && strings.HasPrefix(key, "_delta_log/") && strings.HasSuffix(key, ".json") && s.commits.Add(1) == s.commitNo {
		return errInjectedCrash
	}
	return err
}

// crashAfterCommit returns a Deps.WrapStore that injects a crash right after the n-th commit
// (counting from 1) to the table at location lands.
func crashAfterCommit(location string, n int64) func(string, storage.Store) storage.Store {
	var commits atomic.Int64
	return func(loc string, s storage.Store) storage.Store {
		if loc != location {
			return s
		}
		return &crashingStore{Store: s, commits: &commits, commitNo: n}
	}
}

// globalEvent is one input row of the global aggregation tests.
type globalEvent struct {
	User int64
	Day  string
	X    int64
	S    string
}

func (e globalEvent) json() []byte {
	return fmt.Appendf(nil, `{"user_id":%d,"day":%q,"x":%d,"s":%q}`, e.User, e.Day, e.X, e.S)
}

func produceGlobal(t testing.TB, l log.Log, partition int32, evs []globalEvent) {
	t.Helper()
	recs := make([]log.Record, len(evs))
	for i, e := range evs {
		recs[i] = log.Record{Partition: partition, Value: e.json()}
	}
	if _, err := l.Produce(testCtx(t), "events", recs); err != nil {
		t.Fatal(err)
	}
}

const globalSQL = `SELECT (value->>'user_id')::BIGINT AS user_id, (value->>'day')::DATE AS day,
	(value->>'x')::BIGINT AS x, value->>'s' AS s
FROM events`

// globalQuery is `SELECT user_id, day, count(*), sum(x), min(x), max(x), avg(x), count(DISTINCT s),
// approx_count_distinct(s) FROM events GROUP BY ALL` maintained incrementally.
func globalQuery(name, dir string) Query {
	return Query{
		Name:    name,
		Sources: []Source{{Name: "events", Topic: "events"}},
		SQL:     globalSQL,
		Aggregate: &Aggregate{Window: Global(), GroupBy: []string{"user_id", "day"}, Aggs: []Agg{
			{Func: Count, As: "n"}, {Func: Sum, Column: "x"}, {Func: Min, Column: "x"}, {Func: Max, Column: "x"},
			{Func: Avg, Column: "x"}, {Func: CountDistinct, Column: "s", As: "ds"}, {Func: ApproxCountDistinct, Column: "s", As: "ads"},
		}},
		Output:     Output{Table: filepath.Join(dir, "out"), Mode: OutputUpdate},
		Trigger:    Trigger{Kind: TriggerAvailableNow},
		Checkpoint: filepath.Join(dir, "ckpt"),
	}
}

// TestGlobalAggregationEndToEnd maintains a GROUP BY without windows over a log topic across
// several batches, two runs, and a crash right after an output commit, and compares the output
// table with DuckDB's GROUP BY over all the input.
func TestGlobalAggregationEndToEnd(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 8))
	var all []globalEvent
	gen := func(n int) {
		for p := range int32(3) {
			var evs []globalEvent
			for range n / 3 {
				evs = append(evs, globalEvent{User: 1 + rng.Int64N(40), Day: fmt.Sprintf("2024-03-0%d", 1+rng.IntN(3)),
					X: rng.Int64N(201) - 100, S: string(rune('a' + rng.IntN(6)))})
			}
			produceGlobal(t, l, p, evs)
			all = append(all, evs...)
		}
	}
	q := globalQuery("global", dir)
	q.Limits = Limits{MaxRecords: 150}
	var batches []BatchMetrics
	deps := Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) { batches = append(batches, b) }}

	gen(900)
	if _, err := Run(ctx, q, deps); err != nil {
		t.Fatal(err)
	}
	first := len(batches)
	gen(900)
	crashing := deps
	crashing.WrapStore = crashAfterCommit(q.Output.Table, 2)
	if _, err := Run(ctx, q, crashing); !errors.Is(err, errInjectedCrash) {
		t.Fatalf("run with a crash: %v", err)
	}
	q.FlushAtEnd = true // changes nothing for a global aggregation
	m, err := Run(ctx, q, deps)
	if err != nil {
		t.Fatal(err)
	}
	if first < 6 || len(batches) < first+6 || !batches[first+1].Replayed || !batches[first+1].SinkSkipped {
		t.Errorf("%d batches before the crash, %d in all; the batch after the crash: %+v", first, len(batches), batches[min(first+1, len(batches)-1)])
	}
	var outRows int64
	for _, b := range batches {
		outRows += b.OutputRows
		if b.LateRows != 0 {
			t.Errorf("batch %d: %d late rows", b.BatchID, b.LateRows)
		}
	}
	if m.InputRows != int64(len(all)) || m.LateRows != 0 {
		t.Errorf("metrics %+v", m)
	}

	input := filepath.Join(dir, "input.ndjson")
	var buf []byte
	for _, ev := range all {
		buf = append(append(buf, ev.json()...), '\n')
	}
	if err := os.WriteFile(input, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	got := queryRows(t, e, `SELECT user_id, day::VARCHAR, n, sum_x, min_x, max_x, round(avg_x, 6)::VARCHAR, ds
FROM delta_scan(`+sqlString(q.Output.Table)+`)`)
	want := queryRows(t, e, `SELECT user_id, day::VARCHAR, count(*), sum(x), min(x), max(x), round(avg(x), 6)::VARCHAR, count(DISTINCT s)
FROM read_json(`+sqlString(input)+`, format = 'newline_delimited', columns = {user_id: 'BIGINT', day: 'DATE', x: 'BIGINT', s: 'VARCHAR'})
GROUP BY ALL`)
	if len(want) != 120 {
		t.Fatalf("reference has %d groups", len(want))
	}
	diffRows(t, "global aggregation vs DuckDB", got, want)
	if n := queryRows(t, e, `SELECT count(*) FROM delta_scan(`+sqlString(q.Output.Table)+`) WHERE ads <> ds`); n[0] != "0" {
		t.Errorf("%s groups with approx_count_distinct <> count(DISTINCT) over at most 6 values", n[0])
	}
	desc := queryRows(t, e, `SELECT column_name FROM (DESCRIBE SELECT * FROM delta_scan(`+sqlString(q.Output.Table)+`))`)
	if strings.Join(desc, ",") != strings.Join(slices.Sorted(slices.Values([]string{"user_id", "day", "n", "sum_x", "min_x", "max_x", "avg_x", "ds", "ads"})), ",") {
		t.Errorf("output columns %v", desc)
	}
}

// TestGlobalAggregationRewritesOnlyChangedGroups builds 1,000 groups over ten batches (one new
// file each, 100 consecutive keys per file), then runs a batch that touches two groups: it must
// emit two rows and replace exactly the two files holding those groups.
func TestGlobalAggregationRewritesOnlyChangedGroups(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var evs []globalEvent
	for g := range int64(1000) {
		evs = append(evs, globalEvent{User: g, Day: "2024-03-01", X: g, S: "a"})
	}
	produceGlobal(t, l, 0, evs)
	q := globalQuery("groups", dir)
	q.Limits = Limits{MaxRecords: 100}
	var batches []BatchMetrics
	deps := Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) { batches = append(batches, b) }}
	if _, err := Run(ctx, q, deps); err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Open(ctx, q.Output.Table)
	if err != nil {
		t.Fatal(err)
	}
	before, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 10 || len(before.Files()) != 10 {
		t.Fatalf("%d batches wrote %d files, want 10 and 10", len(batches), len(before.Files()))
	}
	produceGlobal(t, l, 0, []globalEvent{{User: 517, Day: "2024-03-01", X: 1, S: "b"}, {User: 5, Day: "2024-03-01", X: 1, S: "b"}})
	batches = nil
	if _, err := Run(ctx, q, deps); err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 || batches[0].OutputRows != 2 {
		t.Fatalf("batches %+v, want one emitting 2 rows", batches)
	}
	after, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version() != before.Version()+1 {
		t.Fatalf("versions %d -> %d", before.Version(), after.Version())
	}
	paths := func(s *delta.Snapshot) map[string]*delta.Add {
		m := map[string]*delta.Add{}
		for _, f := range s.Files() {
			m[f.Path] = f
		}
		return m
	}
	bf, af := paths(before), paths(after)
	var removed, added []string
	var addedRows int64
	for p, f := range bf {
		if af[p] == nil {
			removed = append(removed, userRange(t, f))
		}
	}
	for p, f := range af {
		if bf[p] == nil {
			added = append(added, userRange(t, f))
			st, err := delta.ParseStats(f.Stats)
			if err != nil {
				t.Fatal(err)
			}
			addedRows += st.NumRecords
		}
	}
	slices.Sort(removed)
	slices.Sort(added)
	if strings.Join(removed, " ") != "0-99 500-599" || strings.Join(added, " ") != "0-99 500-599" || addedRows != 200 {
		t.Errorf("the batch removed files of users %v and added files of users %v with %d rows; want the two files of 0-99 and 500-599 rewritten (200 rows)",
			removed, added, addedRows)
	}
	got := queryRows(t, e, `SELECT count(*), sum(n), sum(sum_x), string_agg(user_id::VARCHAR, ',' ORDER BY user_id) FILTER (WHERE n = 2),
	max(ds) FROM delta_scan(`+sqlString(q.Output.Table)+`)`)
	if want := fmt.Sprintf("1000\t1002\t%d\t5,517\t2", 999*1000/2+2); got[0] != want {
		t.Errorf("table %v, want %s", got, want)
	}
}

// userRange returns the min and max user_id of a data file, from its statistics.
func userRange(t *testing.T, f *delta.Add) string {
	t.Helper()
	st, err := delta.ParseStats(f.Stats)
	if err != nil || st == nil {
		t.Fatalf("stats of %s: %v", f.Path, err)
	}
	lo, ok1 := st.MinValue([]string{"user_id"}, delta.TypeLong)
	hi, ok2 := st.MaxValue([]string{"user_id"}, delta.TypeLong)
	if !ok1 || !ok2 {
		t.Fatalf("no user_id statistics in %s", f.Path)
	}
	return lo.String() + "-" + hi.String()
}

// TestGlobalAggregationValidation: a global aggregation needs the update output mode, and an
// event time only with Dedup.
func TestGlobalAggregationValidation(t *testing.T) {
	q := globalQuery("g", "/tmp/x")
	if err := q.validate(); err != nil {
		t.Fatalf("a global aggregation without EventTime: %v", err)
	}
	q.Output.Mode = OutputAppend
	if err := q.validate(); !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "OutputUpdate") {
		t.Errorf("append mode: %v", err)
	}
	q = globalQuery("g", "/tmp/x")
	q.Dedup = &Dedup{Columns: []string{"s"}}
	if err := q.validate(); !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "EventTime") {
		t.Errorf("dedup without EventTime: %v", err)
	}
	q.EventTime = "day"
	if err := q.validate(); err != nil {
		t.Errorf("dedup with EventTime: %v", err)
	}
	q = globalQuery("g", "/tmp/x")
	q.Aggregate.GroupBy = []string{"window_start"} // reserved for windows only
	if err := q.validate(); err != nil {
		t.Errorf("group by a column named window_start: %v", err)
	}
}
