package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/bench"
)

// benchWorkerEnv makes this test binary act as `strata` for the SQL benchmark's worker processes:
// they run os.Executable() (here the test binary) with "bench sql --worker SPEC".
const benchWorkerEnv = "STRATA_CLI_TEST_BENCH_WORKER"

func init() {
	if os.Getenv(benchWorkerEnv) == "1" && slices.Contains(os.Args, "--worker") {
		os.Exit(Main(os.Args[1:]))
	}
}

// TestBenchSQLTiny runs every phase of `strata bench sql` at a tiny size, once in process and
// once with worker processes: the harness works and its cross-checks pass (MERGE and OPTIMIZE
// through Strata agree with DuckDB doing the same by hand). No figure is judged.
func TestBenchSQLTiny(t *testing.T) {
	for _, processes := range []bool{false, true} {
		name := "in-process"
		if processes {
			name = "processes"
			t.Setenv(benchWorkerEnv, "1")
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			res := runStrata(t, "--json", "--quiet", "bench", "sql", "--rows", "3000", "--days", "3", "--runs", "1",
				"--merge-runs", "1", "--optimize-runs", "1", "--small-files", "40", "--small-file-rows", "20",
				"--small-files-per-commit", "7", "--memory-limit", "256MB", "--dir", dir, "--processes="+boolString(processes))
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			var rep bench.SQLReport
			if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
				t.Fatalf("%v: %s", err, res.stdout)
			}
			if rep.Events == nil || rep.Events.Rows != 3000 || rep.Events.Partitions < 3 {
				t.Errorf("events: %+v", rep.Events)
			}
			a := rep.Aggregate
			if a == nil || a.ResultRows == 0 || a.Strata.N != 1 || a.DuckDB.N != 1 || a.DuckDBHive.N != 1 || a.Check == "" {
				t.Errorf("aggregate: %+v", a)
			}
			m := rep.Merge
			if m == nil || m.Pending || m.Check == "" || m.Strata.Times.N != 1 || m.DuckDB.Times.N != 1 || m.DuckDB.FilesRewritten == 0 {
				t.Errorf("merge: %+v", m)
			}
			o := rep.Optimize
			if o == nil || o.Pending || o.Table.Files < 40 || o.FilesAfter == 0 || o.FilesAfter >= o.Table.Files {
				t.Errorf("optimize: %+v", o)
			}
			measured := m != nil && m.Strata.PeakRSS > 0 && m.DuckDB.PeakRSS > 0 && o != nil && o.Strata.PeakRSS > 0
			if processes && !measured && rep.Machine.GOOS == "linux" {
				t.Errorf("peak RSS not measured with worker processes: merge %+v, optimize %+v", m, o)
			}
			if !processes && measured {
				t.Errorf("peak RSS reported for in-process runs")
			}
			if entries, err := os.ReadDir(dir); !os.IsNotExist(err) {
				t.Errorf("the benchmark left its directory (%d entries, %v)", len(entries), err)
			}
		})
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestGenEvents: `strata gen events` writes the same bytes for the same seed, in every format and
// output shape, and refuses bad flags.
func TestGenEvents(t *testing.T) {
	dir := t.TempDir()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	gen := func(args ...string) cliResult {
		t.Helper()
		res := runStrata(t, append([]string{"gen", "events", "--quiet"}, args...)...)
		if res.code != 0 {
			t.Fatalf("gen %v: exit %d: %s", args, res.code, res.stderr)
		}
		return res
	}
	gen("--rows", "2000", "--seed", "4", "--anomalies", "--out", filepath.Join(dir, "a.ndjson"))
	gen("--rows", "2000", "--seed", "4", "--anomalies", "--out", filepath.Join(dir, "b.ndjson"))
	if read(filepath.Join(dir, "a.ndjson")) != read(filepath.Join(dir, "b.ndjson")) {
		t.Error("two runs with seed 4 differ")
	}
	out := gen("--rows", "2000", "--seed", "4", "--anomalies", "--out", "-", "--format", "ndjson")
	if out.stdout != read(filepath.Join(dir, "a.ndjson")) {
		t.Error("standard output differs from the file")
	}
	if strings.Count(out.stdout, "\n") != 2000 || !strings.Contains(out.stdout, `"schema_version":1`) {
		t.Errorf("output: %d lines, schema v1 present %v", strings.Count(out.stdout, "\n"), strings.Contains(out.stdout, `"schema_version":1`))
	}
	plain := gen("--rows", "2000", "--seed", "4", "--out", "-", "--format", "ndjson")
	if strings.Contains(plain.stdout, `"schema_version":1`) {
		t.Error("schema v1 events without --anomalies")
	}

	gen("--rows", "2500", "--seed", "5", "--out", filepath.Join(dir, "pq"), "--file-rows", "1000")
	entries, err := os.ReadDir(filepath.Join(dir, "pq"))
	if err != nil || len(entries) != 3 || entries[0].Name() != "events-00000.parquet" {
		t.Fatalf("directory output: %v %v", entries, err)
	}
	res := gen("--json", "--rows", "100", "--out", filepath.Join(dir, "c.csv"))
	var js struct {
		Rows   int64    `json:"rows"`
		Format string   `json:"format"`
		Files  []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &js); err != nil || js.Rows != 100 || js.Format != "csv" || len(js.Files) != 1 {
		t.Errorf("--json: %+v %v: %s", js, err, res.stdout)
	}
	if lines := strings.Count(read(filepath.Join(dir, "c.csv")), "\n"); lines != 101 {
		t.Errorf("csv: %d lines, want a header and 100 rows", lines)
	}

	for _, bad := range [][]string{
		{"--rows", "10"}, // no --out
		{"--out", "x.csv", "--format", "parquet"}, // extension and format disagree
		{"--out", "-", "--late", "0.1"},           // a share without --anomalies
		{"--out", "-", "--start", "yesterday"},
		{"--out", "-", "--format", "xml"},
		{"--out", "-", "--daily-cycle", "2"},
	} {
		if res := runStrata(t, append([]string{"gen", "events"}, bad...)...); res.code != 2 {
			t.Errorf("gen events %v: exit %d, want 2 (%s)", bad, res.code, res.stderr)
		}
	}
}
