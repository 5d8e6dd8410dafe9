package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMedallionExample runs the README's example pipeline (examples/medallion) over the same
// generated events three ways: one batch run; stream runs fed in chunks; batch and stream runs
// alternating. All give the same tables, and gold equals its query recomputed from silver.
func TestMedallionExample(t *testing.T) {
	root := t.TempDir()
	ok := func(r cliResult) cliResult {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return r
	}
	events := filepath.Join(root, "events.ndjson")
	ok(runStrata(t, "gen", "events", "--out", events, "--format", "ndjson", "--rows", "6000", "--seed", "3",
		"--start", "2026-11-01T00:00:00Z", "--days", "1", "--anomalies", "--malformed", "0"))
	data, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSpace(string(data)), "\n")
	var chunks []string
	for i := 0; i < 3; i++ {
		chunk := filepath.Join(root, "chunk"+itoa(i)+".ndjson")
		if err := os.WriteFile(chunk, []byte(strings.Join(lines[i*len(lines)/3:(i+1)*len(lines)/3], "")), 0o644); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, chunk)
	}
	project := func(name string) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(dir, "pipelines"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"strata.yaml", "pipelines/medallion.sql"} {
			b, err := os.ReadFile(filepath.Join("..", "..", "examples", "medallion", f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ok(runStrata(t, "log", "topic", "create", "events", "--partitions", "2", "--project", dir))
		return dir
	}
	produce := func(dir, file string) {
		ok(runStrata(t, "log", "produce", "events", "--file", file, "--key-field", "user_id", "--timestamp-field", "event_ts", "--project", dir))
	}
	batch := project("batch")
	for _, c := range chunks {
		produce(batch, c)
	}
	var v struct {
		Valid bool `json:"valid"`
	}
	if err := json.Unmarshal([]byte(ok(runStrata(t, "pipeline", "validate", "--json", "--project", batch)).stdout), &v); err != nil || !v.Valid {
		t.Fatalf("validate --json: %v %+v", err, v)
	}
	ok(runStrata(t, "pipeline", "run", "--project", batch))

	streamed := project("stream")
	alternating := project("alternating")
	for i, c := range chunks {
		produce(streamed, c)
		ok(runStrata(t, "pipeline", "run", "--mode", "stream", "--idle-stop", "500ms", "--project", streamed))
		produce(alternating, c)
		if i%2 == 0 {
			ok(runStrata(t, "pipeline", "run", "--project", alternating))
		} else {
			ok(runStrata(t, "pipeline", "run", "--mode", "stream", "--idle-stop", "500ms", "--project", alternating))
		}
	}
	tables := []string{"bronze.events", "silver.events", "silver.events_late", "gold.user_daily_stats", "gold.user_stats", "gold.country_revenue"}
	dump := func(dir, table string) string {
		q := "SELECT * FROM " + table + " ORDER BY ALL"
		if table == "silver.events_late" {
			q = "SELECT * FROM delta_scan('" + filepath.Join(dir, "warehouse", "silver", "events_late") + "') ORDER BY ALL"
			if _, err := os.Stat(filepath.Join(dir, "warehouse", "silver", "events_late")); err != nil {
				return "(none)"
			}
		}
		return ok(runStrata(t, "sql", "--format", "csv", "--project", dir, "-c", q)).stdout
	}
	for _, table := range tables {
		want := dump(batch, table)
		if table != "silver.events_late" && strings.Count(want, "\n") < 10 {
			t.Fatalf("%s: only %d lines in the batch run", table, strings.Count(want, "\n"))
		}
		for _, dir := range []string{streamed, alternating} {
			if got := dump(dir, table); got != want {
				t.Errorf("%s differs between the batch run and %s (%d vs %d lines)", table, filepath.Base(dir), strings.Count(want, "\n"), strings.Count(got, "\n"))
			}
		}
	}
	// Gold is its query over silver.
	diff := ok(runStrata(t, "sql", "--format", "csv", "--project", streamed, "-c", `SELECT count(*) FROM (
		(SELECT * FROM gold.user_stats EXCEPT ALL
		 SELECT user_id, date, count(*), sum(revenue), count(DISTINCT session_id) FROM silver.events GROUP BY ALL)
		UNION ALL
		(SELECT user_id, date, count(*), sum(revenue), count(DISTINCT session_id) FROM silver.events GROUP BY ALL
		 EXCEPT ALL SELECT * FROM gold.user_stats))`)).stdout
	if strings.TrimSpace(diff) != "count_star()\n0" {
		t.Fatalf("gold.user_stats differs from its query over silver: %s", diff)
	}
}
