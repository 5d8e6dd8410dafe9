package cli

// Acceptance test of data skipping (issue 3, point 4): on a table partitioned by date and
// Z-ordered by user_id, a query filtering on one date and a narrow user_id range opens at most 10%
// of the files (as `strata sql --stats` and EXPLAIN report) and returns the same rows as a full
// scan; OPTIMIZE keeps the table's content, for Strata and for delta-rs.

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/table"
)

const (
	skipDays    = 30  // dates 2024-01-01 .. 2024-01-30
	skipBatches = 12  // appends, each adding one file per date
	skipRows    = 250 // rows per date and append
)

// mustStrata runs the CLI and fails the test unless it exits 0.
func mustStrata(t *testing.T, args ...string) cliResult {
	t.Helper()
	res := runStrata(t, args...)
	if res.code != 0 {
		t.Fatalf("strata %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}

// buildEventsTable appends skipBatches CSV files of random events (every date in each) with
// `strata table append`, and returns the table's location. The seed is logged.
func buildEventsTable(t *testing.T, seed uint64) string {
	t.Helper()
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	loc := filepath.Join(dir, "events")
	r := rand.New(rand.NewPCG(seed, 0))
	countries := []string{"ES", "FR", "DE", "PT", "IT"}
	for b := 0; b < skipBatches; b++ {
		var sb strings.Builder
		sb.WriteString("event_date,user_id,amount_cents,country\n")
		for d := 0; d < skipDays; d++ {
			day := time.Date(2024, 1, 1+d, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
			for i := 0; i < skipRows; i++ {
				fmt.Fprintf(&sb, "%s,%d,%d,%s\n", day, r.IntN(1_000_000), r.IntN(100_000), countries[r.IntN(len(countries))])
			}
		}
		in := filepath.Join(dir, fmt.Sprintf("batch%02d.csv", b))
		if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		mustStrata(t, "table", "append", loc, in, "--partition-by", "event_date", "--quiet")
	}
	return loc
}

// csvRows parses CSV output (header first) into sorted rows, each joined with "|".
func csvRows(t *testing.T, out string) (header string, rows []string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv output: %v\n%s", err, out)
	}
	if len(recs) == 0 {
		t.Fatalf("no CSV header in %q", out)
	}
	for _, r := range recs[1:] {
		rows = append(rows, strings.Join(r, "|"))
	}
	sort.Strings(rows)
	return strings.Join(recs[0], "|"), rows
}

func filesByDate(t *testing.T, loc string) (map[string]int, int, int64) {
	t.Helper()
	tb, err := table.Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range snap.Files() {
		out[f.PartitionValues["event_date"]]++
	}
	return out, len(snap.Files()), snap.Version()
}

var scanLine = regexp.MustCompile(`version (\d+): (\d+) of (\d+) files read \((\d+) skipped`)

func TestDataSkippingAcceptance(t *testing.T) {
	loc := buildEventsTable(t, uint64(time.Now().UnixNano()%1000))
	perDate, before, _ := filesByDate(t, loc)
	if len(perDate) != skipDays || before != skipDays*skipBatches {
		t.Fatalf("setup: %d files over %d dates", before, len(perDate))
	}
	header, fullBefore := csvRows(t, mustStrata(t, "table", "scan", loc, "--format", "csv").stdout)
	if header != "event_date|user_id|amount_cents|country" {
		t.Fatalf("scan header %q", header)
	}

	// Z-order every date into files of about 2 KiB (the data of a date is about 25 KiB).
	mustStrata(t, "table", "alter", loc, "--set-property", "delta.targetFileSize=2048")
	opt := mustStrata(t, "sql", "-c", "OPTIMIZE delta.`"+loc+"` ZORDER BY (user_id)")
	t.Logf("%s", strings.TrimSpace(opt.stdout))
	perDate, total, version := filesByDate(t, loc)
	for d, n := range perDate {
		if n < 10 {
			t.Errorf("date %s has %d files after OPTIMIZE ZORDER BY, want at least 10", d, n)
		}
	}
	t.Logf("files: %d before OPTIMIZE, %d after (version %d)", before, total, version)
	if _, fullAfter := csvRows(t, mustStrata(t, "table", "scan", loc, "--format", "csv").stdout); strings.Join(fullAfter, "\n") != strings.Join(fullBefore, "\n") {
		t.Fatalf("OPTIMIZE changed the table: %d rows before, %d after", len(fullBefore), len(fullAfter))
	}

	// One date and a narrow user_id range.
	const day, lo, hi = "2024-01-15", 400_000, 405_000
	where := fmt.Sprintf("event_date = '%s' AND user_id BETWEEN %d AND %d", day, lo, hi)
	query := "SELECT event_date, user_id, amount_cents, country FROM delta_scan('" + loc + "') WHERE " + where
	res := mustStrata(t, "sql", "--stats", "--format", "csv", "-c", query)
	m := scanLine.FindStringSubmatch(res.stderr)
	if m == nil {
		t.Fatalf("no scan report in stderr: %q", res.stderr)
	}
	read, of, _ := atoi(m[2]), atoi(m[3]), atoi(m[4])
	t.Logf("query read %d of %d files", read, of)
	if of != total || read < 1 || read*10 > of {
		t.Errorf("the query read %d of %d files, want between 1 and 10%%", read, of)
	}
	_, got := csvRows(t, res.stdout)
	var want []string
	for _, row := range fullBefore {
		f := strings.Split(row, "|")
		if u := atoi(f[1]); f[0] == day && u >= lo && u <= hi {
			want = append(want, row)
		}
	}
	if len(want) == 0 {
		t.Fatalf("the full scan has no row in the range: widen it")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pruned query returned %d rows, the full scan filtered %d:\n got %q\nwant %q", len(got), len(want), got, want)
	}

	// EXPLAIN says the same.
	explain := mustStrata(t, "sql", "--format", "csv", "-c", "EXPLAIN "+query)
	if m := scanLine.FindStringSubmatch(explain.stdout); m == nil || atoi(m[2]) != read || atoi(m[3]) != of {
		t.Errorf("EXPLAIN does not report %d of %d files read:\n%s", read, of, explain.stdout)
	}

	// delta-rs reads the optimized table as Strata does, and sees the same files.
	if err := exec.Command("python3", "-c", "import deltalake").Run(); err != nil {
		t.Fatal("python3 with deltalake is required: pip install -r test/requirements.txt")
	}
	script := `
import sys
from deltalake import DeltaTable
dt = DeltaTable(sys.argv[1])
t = dt.to_pyarrow_table()
print(dt.version(), len(dt.file_uris()))
rows = sorted("%s|%d|%d|%s" % (d.isoformat(), u, a, c) for d, u, a, c in zip(
    t.column("event_date").to_pylist(), t.column("user_id").to_pylist(),
    t.column("amount_cents").to_pylist(), t.column("country").to_pylist()))
print("\n".join(rows))
`
	out, err := exec.Command("python3", "-c", script, loc).CombinedOutput()
	if err != nil {
		t.Fatalf("delta-rs: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[0] != fmt.Sprintf("%d %d", version, total) {
		t.Errorf("delta-rs sees version and files %q, want %d %d", lines[0], version, total)
	}
	if strings.Join(lines[1:], "\n") != strings.Join(fullBefore, "\n") {
		t.Errorf("delta-rs reads %d rows from the optimized table, the table had %d", len(lines)-1, len(fullBefore))
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// TestTableOptimizeCommand: `strata table optimize` bin-packs the selected partitions, reports
// as text and JSON, and the commit is an OPTIMIZE with dataChange=false.
func TestTableOptimizeCommand(t *testing.T) {
	loc := buildEventsTable(t, 42)
	before := scanTable(t, loc, -1)

	res := mustStrata(t, "table", "optimize", loc, "--where", "event_date <= '2024-01-10'")
	if !strings.Contains(res.stdout, "compacted 120 files") || !strings.Contains(res.stdout, "into 10 files") {
		t.Errorf("output %q", res.stdout)
	}
	perDate, total, version := filesByDate(t, loc)
	if total != 10+20*skipBatches {
		t.Errorf("%d files after optimizing 10 dates, want %d (%v)", total, 10+20*skipBatches, perDate)
	}
	res = mustStrata(t, "--json", "table", "optimize", loc)
	for _, want := range []string{`"numRemovedFiles": 240`, `"numAddedFiles": 20`, `"committed": true`, fmt.Sprintf(`"version": %d`, version+1)} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("--json output lacks %s:\n%s", want, res.stdout)
		}
	}
	res = mustStrata(t, "table", "optimize", loc)
	if !strings.Contains(res.stdout, "nothing to rewrite") {
		t.Errorf("third optimize: %q", res.stdout)
	}
	after := scanTable(t, loc, -1)
	if strings.Join(after.rows, "\n") != strings.Join(before.rows, "\n") {
		t.Errorf("OPTIMIZE changed the table's rows")
	}
	hist := mustStrata(t, "--json", "table", "history", loc, "--limit", "1")
	if !strings.Contains(hist.stdout, `"OPTIMIZE"`) {
		t.Errorf("history: %s", hist.stdout)
	}
	tb, _ := table.Open(context.Background(), loc)
	actions, err := tb.Kernel().ReadCommit(context.Background(), version+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		if a.Add != nil && a.Add.DataChange || a.Remove != nil && a.Remove.DataChange {
			t.Errorf("OPTIMIZE commit has a dataChange=true action: %+v %+v", a.Add, a.Remove)
		}
	}

	for _, args := range [][]string{
		{"table", "optimize", loc, "--where", "user_id = 1"},
		{"table", "optimize", loc, "--zorder-by", "event_date"},
		{"table", "optimize", loc, "--target-file-size", "-5"},
	} {
		if res := runStrata(t, args...); res.code == 0 {
			t.Errorf("strata %s succeeded", strings.Join(args, " "))
		}
	}
}
