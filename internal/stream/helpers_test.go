package stream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/gen"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
)

// All of package stream's tests live in one test binary (linking DuckDB costs about a minute per
// binary). TestMain also serves as the child process of the crash tests (see crash_test.go).
func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(childMain(cfg))
	}
	os.Exit(m.Run())
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func openEngine(t testing.TB) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), engine.Options{CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func openEmbedded(t testing.TB, dir string) *embedded.Log {
	t.Helper()
	l, err := embedded.Open(context.Background(), dir, embedded.CleanInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testEvent is one NDJSON event of the tests: the generator's e-commerce events reduced to what
// the queries read.
type testEvent struct {
	ID      string
	TS      int64 // microseconds
	Country string
	Cents   int64
	User    int64
}

func (e testEvent) json() []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"event_ts":%q,"country":%q,"user_id":%d,"revenue":%s}`,
		e.ID, time.UnixMicro(e.TS).UTC().Format("2006-01-02T15:04:05.000000Z"), e.Country, e.User, centsString(e.Cents))
}

func centsString(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// genEvents returns n deliveries from the deterministic generator (out-of-order anomalies only,
// at most 90 s) plus, with dupShare, exact copies of events re-delivered 1 to 20 deliveries later
// (so a copy is never late under a watermark delay above two minutes).
func genEvents(t testing.TB, seed uint64, n int, rate, dupShare float64) []testEvent {
	t.Helper()
	g, err := gen.New(gen.Config{Seed: seed, Rate: rate, Users: 500, Products: 100, Anomalies: gen.Anomalies{OutOfOrder: 0.05}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	type pending struct {
		at int
		ev testEvent
	}
	var later []pending
	out := make([]testEvent, 0, n)
	for len(out) < n {
		for i := 0; i < len(later); i++ {
			if later[i].at <= len(out) {
				out = append(out, later[i].ev)
				later = append(later[:i], later[i+1:]...)
				i--
			}
		}
		ev := g.Next()
		te := testEvent{ID: ev.EventID(), TS: ev.TS, Country: ev.Country, Cents: ev.RevenueCents, User: ev.UserID}
		out = append(out, te)
		if rng.Float64() < dupShare {
			later = append(later, pending{at: len(out) + 1 + rng.IntN(20), ev: te})
		}
	}
	return out[:n]
}

// produce appends events to topic, keyed by user (so an event and its copies share a partition).
func produce(t testing.TB, l log.Log, topic string, evs []testEvent) {
	t.Helper()
	ctx := testCtx(t)
	for len(evs) > 0 {
		n := min(len(evs), 500)
		recs := make([]log.Record, n)
		for i, e := range evs[:n] {
			recs[i] = log.Record{Partition: -1, Key: []byte(strconv.FormatInt(e.User, 10)), Value: e.json()}
		}
		if _, err := l.Produce(ctx, topic, recs); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
}

// writeNDJSON writes events to a file, one per line.
func writeNDJSON(t testing.TB, path string, evs []testEvent) {
	t.Helper()
	var b []byte
	for _, e := range evs {
		b = append(append(b, e.json()...), '\n')
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// queryRows runs SQL through the engine and returns its rows as tab-separated text, sorted.
func queryRows(t testing.TB, e *engine.Engine, sql string) []string {
	t.Helper()
	res, err := e.Query(testCtx(t), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer res.Records.Release()
	var out []string
	for res.Records.Next() {
		rb := res.Records.RecordBatch()
		for i := 0; i < int(rb.NumRows()); i++ {
			var cells []string
			for c := 0; c < int(rb.NumCols()); c++ {
				// ValueStr may alias the batch's buffers, which go with the reader.
				cells = append(cells, strings.Clone(rb.Column(c).ValueStr(i)))
			}
			out = append(out, strings.Join(cells, "\t"))
		}
	}
	if err := res.Records.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// diffRows reports the first differences between two sorted row lists.
func diffRows(t testing.TB, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") == strings.Join(want, "\n") {
		return
	}
	gs, ws := map[string]int{}, map[string]int{}
	for _, r := range got {
		gs[r]++
	}
	for _, r := range want {
		ws[r]++
	}
	var extra, missing []string
	for r, n := range gs {
		if ws[r] < n {
			extra = append(extra, r)
		}
	}
	for r, n := range ws {
		if gs[r] < n {
			missing = append(missing, r)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	t.Errorf("%s: %d rows, want %d; unexpected %d (first %v), missing %d (first %v)", what, len(got), len(want),
		len(extra), first(extra, 5), len(missing), first(missing, 5))
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// revenueSQL is the transform of the tests' queries over log topic "events".
const revenueSQL = `SELECT value->>'event_id' AS event_id, (value->>'event_ts')::TIMESTAMPTZ AS ts,
	value->>'country' AS country, (value->>'revenue')::DECIMAL(18,2) AS revenue
FROM events`

// revenueQuery is the windowed revenue query of the tests: dedup by event id, then the revenue
// and event count per country per minute.
func revenueQuery(name, dir string, mode OutputMode) Query {
	return Query{
		Name:      name,
		Sources:   []Source{{Name: "events", Topic: "events"}},
		SQL:       revenueSQL,
		EventTime: "ts",
		Watermark: Watermark{Delay: 2 * time.Minute},
		Dedup:     &Dedup{Columns: []string{"event_id"}},
		Aggregate: &Aggregate{Window: Tumbling(time.Minute), GroupBy: []string{"country"},
			Aggs: []Agg{{Func: Sum, Column: "revenue", As: "revenue"}, {Func: Count, As: "events"}}},
		Output:     Output{Table: filepath.Join(dir, "out"), Mode: mode},
		Checkpoint: filepath.Join(dir, "ckpt"),
	}
}

// windowRows returns an aggregation output table's rows (window start, country, revenue, events).
func windowRows(t testing.TB, e *engine.Engine, location string) []string {
	return queryRows(t, e, "SELECT window_start::VARCHAR, window_end::VARCHAR, country, revenue::VARCHAR, events FROM delta_scan("+sqlString(location)+")")
}
