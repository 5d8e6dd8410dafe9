package cli

// `strata sql` with the write statements: a script that creates, fills and changes a project
// table; the messages and --json fields of each statement; the table read back with `strata sql`
// and `strata table scan`; the history; and the error of a MERGE with duplicate matches.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSQLWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shop")
	if res := runStrata(t, "init", dir); res.code != 0 {
		t.Fatalf("init: %s", res.stderr)
	}
	proj := []string{"--project", dir}
	script := `
CREATE TABLE sales.orders PARTITIONED BY (country) AS
  SELECT range AS id, CASE WHEN range % 3 = 0 THEN 'ES' ELSE 'FR' END AS country, range * 10.0 AS amount FROM range(6);
INSERT INTO sales.orders VALUES (6, 'DE', 60.0), (7, 'ES', 70.0);
UPDATE sales.orders SET amount = amount + 1 WHERE country = 'FR';
DELETE FROM sales.orders WHERE id = 0;
MERGE INTO sales.orders t USING (SELECT 7 AS id, 'ES' AS country, 700.0 AS amount UNION ALL SELECT 8, 'IT', 80.0) s ON t.id = s.id
  WHEN MATCHED THEN UPDATE SET amount = s.amount WHEN NOT MATCHED THEN INSERT *;
`
	file := filepath.Join(t.TempDir(), "writes.sql")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runStrata(t, append([]string{"sql", "-f", file}, proj...)...)
	if res.code != 0 {
		t.Fatalf("strata sql -f: exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{
		"created sales.orders with 6 rows: version 0",
		"inserted 2 rows into sales.orders: version 1",
		"updated 4 rows of sales.orders: version 2",
		"deleted 1 rows from sales.orders: version 3",
		"merged into sales.orders: 1 rows inserted, 1 updated, 0 deleted: version 4",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	got := mustSQL(t, "SELECT id, country, amount FROM sales.orders ORDER BY id", proj...).rows
	want := []string{`["1","\"FR\"","11.0"]`, `["2","\"FR\"","21.0"]`, `["3","\"ES\"","30.0"]`, `["4","\"FR\"","41.0"]`,
		`["5","\"FR\"","51.0"]`, `["6","\"DE\"","60.0"]`, `["7","\"ES\"","700.0"]`, `["8","\"IT\"","80.0"]`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rows after the script:\n got %v\nwant %v", got, want)
	}
	scan := scanTable(t, filepath.Join(dir, "warehouse", "sales", "orders"), -1)
	if len(scan.rows) != 8 {
		t.Errorf("strata table scan: %d rows, want 8", len(scan.rows))
	}

	// --json gives each statement's outcome as data, metrics included.
	res = runStrata(t, append([]string{"--json", "sql", "-c", "DELETE FROM sales.orders WHERE amount > 100"}, proj...)...)
	if res.code != 0 {
		t.Fatalf("--json delete: %s", res.stderr)
	}
	var fields struct {
		Table     string         `json:"table"`
		Operation string         `json:"operation"`
		Version   int64          `json:"version"`
		Committed bool           `json:"committed"`
		Metrics   map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &fields); err != nil {
		t.Fatalf("--json output %q: %v", res.stdout, err)
	}
	if fields.Table != "sales.orders" || fields.Operation != "DELETE" || fields.Version != 5 || !fields.Committed || fields.Metrics["numDeletedRows"] != float64(1) {
		t.Errorf("--json fields: %+v", fields)
	}

	// A MERGE in which one target row matches two source rows fails and commits nothing.
	res = runStrata(t, append([]string{"sql", "-c", "MERGE INTO sales.orders t USING (SELECT 1 AS id UNION ALL SELECT 1) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET amount = 0"}, proj...)...)
	if res.code == 0 || !strings.Contains(res.stderr, "same target row") {
		t.Errorf("duplicate MERGE: exit %d, stderr %q", res.code, res.stderr)
	}
	// The history shows Spark's operation names and metrics.
	res = runStrata(t, "--json", "table", "history", filepath.Join(dir, "warehouse", "sales", "orders"))
	if res.code != 0 {
		t.Fatalf("history: %s", res.stderr)
	}
	for _, op := range []string{"CREATE TABLE AS SELECT", "WRITE", "UPDATE", "DELETE", "MERGE", "numTargetRowsInserted", "numUpdatedRows"} {
		if !strings.Contains(res.stdout, op) {
			t.Errorf("history lacks %q:\n%s", op, res.stdout)
		}
	}
	if strings.Contains(res.stdout, `"version":6`) || strings.Contains(res.stdout, `"version": 6`) {
		t.Errorf("the failed MERGE left version 6:\n%s", res.stdout)
	}
}
