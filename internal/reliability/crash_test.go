package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/demo"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

// testEngine opens an engine on a fresh project (one DuckDB database, one thread).
func testEngine(t *testing.T) (*project.Project, *engine.Engine, demo.Querier) {
	t.Helper()
	dir := t.TempDir()
	p, err := project.Init(filepath.Join(dir, "project"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(context.Background(), engine.Options{Project: p, CacheDir: filepath.Join(dir, "cache"), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return p, e, EngineQuerier(e)
}

func mustQuery(t *testing.T, q demo.Querier, sql string) {
	t.Helper()
	if _, err := q(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestCheckTopicInBronze feeds the log-versus-bronze check broken bronze tables (a duplicated
// row, a lost record, rows from nowhere) and a whole one.
func TestCheckTopicInBronze(t *testing.T) {
	_, _, q := testEngine(t)
	cases := []struct {
		name       string
		bronze     string // (partition, offset) rows
		quarantine []string
		ranges     map[int32]offsetRange
		want       string // in the anomaly; "" for none
	}{
		{"every record once, one quarantined", "(0, 0), (0, 1), (0, 3), (1, 0)", []string{"events/0@2"},
			map[int32]offsetRange{0: {0, 4}, 1: {0, 1}}, ""},
		{"retention removed the first offsets", "(0, 5), (0, 6)", nil, map[int32]offsetRange{0: {5, 7}}, ""},
		{"a duplicated bronze row", "(0, 0), (0, 1), (0, 1)", nil, map[int32]offsetRange{0: {0, 2}}, "1 duplicated"},
		{"an acknowledged record missing", "(0, 0), (0, 2)", nil, map[int32]offsetRange{0: {0, 3}}, "1 missing"},
		{"a record lost with its whole partition", "(0, 0)", nil, map[int32]offsetRange{0: {0, 1}, 1: {0, 1}}, "partition 1"},
		{"a row from a partition the topic does not have", "(0, 0), (7, 0)", nil, map[int32]offsetRange{0: {0, 1}}, "partition 7"},
		{"a row beyond the log's end", "(0, 0), (0, 1)", nil, map[int32]offsetRange{0: {0, 1}}, "outside"},
		{"a quarantined record of another topic", "(0, 0)", []string{"orders/0@1"}, map[int32]offsetRange{0: {0, 1}}, "partition -1"},
		{"a record in bronze and in quarantine", "(0, 0), (0, 1)", []string{"events/0@1"}, map[int32]offsetRange{0: {0, 2}}, "1 duplicated"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bronze := fmt.Sprintf("sales.case%d", i)
			mustQuery(t, q, fmt.Sprintf(`CREATE TABLE %s AS SELECT CAST(p AS INTEGER) AS "partition", CAST(o AS BIGINT) AS "offset" FROM (VALUES %s) v(p, o)`, bronze, c.bronze))
			if len(c.quarantine) > 0 {
				vals := make([]string, len(c.quarantine))
				for j, s := range c.quarantine {
					vals[j] = "('" + s + "')"
				}
				mustQuery(t, q, fmt.Sprintf(`CREATE TABLE %s_quarantine AS SELECT s AS _quarantine_source FROM (VALUES %s) v(s)`, bronze, strings.Join(vals, ", ")))
			}
			rep := &Report{}
			if err := checkTopicInBronze(context.Background(), rep, q, "events", bronze, c.ranges); err != nil {
				t.Fatal(err)
			}
			switch {
			case c.want == "" && len(rep.Anomalies) > 0:
				t.Errorf("anomalies on a whole bronze table: %q", rep.Anomalies)
			case c.want != "" && (len(rep.Anomalies) == 0 || !strings.Contains(strings.Join(rep.Anomalies, "\n"), c.want)):
				t.Errorf("want an anomaly with %q, got %q", c.want, rep.Anomalies)
			}
			if rep.OperationsChecked != int64(len(c.ranges)) {
				t.Errorf("%d operations checked, want one per partition (%d)", rep.OperationsChecked, len(c.ranges))
			}
		})
	}
}

// TestCompareStates: a second drain that changes a table (its version, its rows) is an
// anomaly; the pipeline event log may change.
func TestCompareStates(t *testing.T) {
	events := filepath.Join("/w", "_strata", "pipeline_events")
	silver := filepath.Join("/w", "sales", "silver_events")
	gold := filepath.Join("/w", "analytics", "user_stats")
	before := map[string]tableState{
		events: {version: 3, rows: 10, checksum: "1/2"},
		silver: {version: 7, rows: 100, checksum: "5/6"},
		gold:   {version: 2, rows: 20, checksum: "8/9"},
	}
	cases := []struct {
		name  string
		after map[string]tableState
		want  []string
	}{
		{"nothing changed but the event log", map[string]tableState{
			events: {version: 4, rows: 14, checksum: "3/4"}, silver: before[silver], gold: before[gold]}, nil},
		{"a reprocessed batch", map[string]tableState{
			events: before[events], silver: {version: 8, rows: 110, checksum: "7/7"}, gold: before[gold]}, []string{silver}},
		{"same rows, another version", map[string]tableState{
			events: before[events], silver: before[silver], gold: {version: 3, rows: 20, checksum: "8/9"}}, []string{gold}},
		{"same count, other rows", map[string]tableState{
			events: before[events], silver: before[silver], gold: {version: 2, rows: 20, checksum: "8/10"}}, []string{gold}},
		{"a table gone", map[string]tableState{events: before[events], silver: before[silver]}, []string{gold}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := &Report{}
			compareStates(rep, before, c.after)
			if len(rep.Anomalies) != len(c.want) {
				t.Fatalf("anomalies %q, want %d naming %v", rep.Anomalies, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(rep.Anomalies[i], w) {
					t.Errorf("anomaly %q does not name %s", rep.Anomalies[i], w)
				}
			}
		})
	}
}

// TestTableStatesChecksum: the checksum sees a changed row that keeps the row count.
func TestTableStatesChecksum(t *testing.T) {
	p, _, q := testEngine(t)
	mustQuery(t, q, "CREATE TABLE sales.s AS SELECT range AS id, 'a' || range AS name FROM range(5)")
	loc, err := p.TableLocation("sales", "s")
	if err != nil {
		t.Fatal(err)
	}
	before, err := tableStates(context.Background(), q, []string{loc})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, q, "UPDATE sales.s SET name = 'b' WHERE id = 3")
	after, err := tableStates(context.Background(), q, []string{loc})
	if err != nil {
		t.Fatal(err)
	}
	b, a := before[loc], after[loc]
	if b.err != "" || a.err != "" || b.rows != 5 || a.rows != 5 {
		t.Fatalf("states %+v, %+v", b, a)
	}
	if a.checksum == b.checksum || a.version == b.version {
		t.Errorf("an UPDATE left the checksum (%s) or the version (%d) unchanged", a.checksum, a.version)
	}
}

func TestLastActivity(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"", "nothing logged"},
		{`time=2026-11-27T12:34:10Z level=INFO msg=status commits=3 events=100` + "\n", "status"},
		{`time=x level=INFO msg="feed started" component=feed segment=0` + "\n" + `wrote the e-commerce project` + "\n", "feed started"},
		{`time=x level=WARN msg="compaction failed; will retry" table=/a err=boom`, "compaction failed; will retry"},
	} {
		if got := lastActivity(c.out); got != c.want {
			t.Errorf("lastActivity(%q) = %q, want %q", c.out, got, c.want)
		}
	}
}
