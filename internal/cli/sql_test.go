package cli

// Tests of `strata sql`: -c and -f, every output format for every result kind, --project and the
// nearest strata.yaml, error messages, and the shell reading a non-terminal standard input. The
// interactive shell on a pseudo-terminal is tested in repl_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/ingest"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/table"
)

// sqlProject makes a project with the table sales.orders (id, country, amount): version 0 creates
// it, version 1 appends 3 rows and version 2 appends 2 more.
func sqlProject(t *testing.T) *project.Project {
	t.Helper()
	p, err := project.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := p.TableLocation("sales", "orders")
	ctx := context.Background()
	tbl, err := table.Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	for i, csv := range []string{"id,country,amount\n1,ES,10\n2,FR,20\n3,ES,30\n", "id,country,amount\n4,DE,40\n5,ES,50\n"} {
		f := filepath.Join(t.TempDir(), fmt.Sprintf("orders-%d.csv", i))
		if err := os.WriteFile(f, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := table.NewFileSource(ctx, []string{f}, ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tbl.Write(ctx, src, table.WriteOptions{CreatePartitionBy: []string{"country"}}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// runStrataStdin runs the CLI in process with standard input read from a file holding input (a
// regular file, so not a terminal).
func runStrataStdin(t *testing.T, input string, args ...string) cliResult {
	t.Helper()
	f := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(f, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	old := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = old }()
	return runStrata(t, args...)
}

func TestSQLFormats(t *testing.T) {
	p := sqlProject(t)
	q := "SELECT id, country FROM sales.orders WHERE id <= 2 ORDER BY id"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", q}, "id  country\n1   ES\n2   FR\n(2 rows)\n"},
		{[]string{"-c", q, "--format", "csv"}, "id,country\n1,ES\n2,FR\n"},
		{[]string{"-c", q, "--format", "ndjson"}, "{\"id\":1,\"country\":\"ES\"}\n{\"id\":2,\"country\":\"FR\"}\n"},
		{[]string{"-c", q, "--json"}, "{\"id\":1,\"country\":\"ES\"}\n{\"id\":2,\"country\":\"FR\"}\n"},
		// Tabular upkeep results in every format.
		{[]string{"-c", "SHOW TABLES", "--format", "csv"}, "domain,table,location,version,numFiles,sizeInBytes\nsales,orders,"},
		{[]string{"-c", "DESCRIBE HISTORY sales.orders LIMIT 1", "--json"}, "{\"version\":2,"},
		// DESCRIBE, SHOW and SUMMARIZE of a project table (its view takes no alias there).
		{[]string{"-c", "DESCRIBE sales.orders", "--format", "csv"}, "column_name,column_type,null,key,default,extra\nid,"},
		{[]string{"-c", "SHOW sales.orders", "--format", "csv"}, "column_name,column_type,null,key,default,extra\nid,"},
		{[]string{"-c", "SUMMARIZE sales.orders", "--format", "csv"}, "column_name,column_type,min,max,"},
		// Commands: a summary line in table format, their fields as one row otherwise.
		{[]string{"-c", "VACUUM sales.orders"}, "vacuumed sales.orders: deleted 0 files (0 B) unreferenced for more than 168 hours\n"},
		{[]string{"-c", "VACUUM sales.orders", "--json"}, "{\"dryRun\":false,\"location\":"},
		{[]string{"-c", "VACUUM sales.orders", "--format", "csv"}, "dryRun,location,numDeletedFiles,numFiles,retentionHours,sizeInBytes,table,version\nfalse,"},
	} {
		res := runStrata(t, append([]string{"sql", "--project", p.Dir}, tc.args...)...)
		if res.code != 0 || !strings.HasPrefix(res.stdout, tc.want) {
			t.Errorf("strata sql %q: exit %d\nstdout %q\nwant prefix %q\nstderr %s", tc.args, res.code, res.stdout, tc.want, res.stderr)
		}
	}
}

func TestSQLOutputFile(t *testing.T) {
	p := sqlProject(t)
	dir := t.TempDir()
	// Parquet: the query's rows; the command before it reports on standard error.
	out := filepath.Join(dir, "out.parquet")
	res := runStrata(t, "sql", "--project", p.Dir, "--format", "parquet", "--output", out, "-c",
		"VACUUM sales.orders; SELECT id, amount FROM sales.orders ORDER BY id")
	if res.code != 0 {
		t.Fatalf("parquet: %d %s", res.code, res.stderr)
	}
	got := readParquetFiles(t, out)
	if strings.Join(got.names, ",") != "id,amount" || len(got.rows) != 5 {
		t.Fatalf("parquet output: %v %v", got.names, got.rows)
	}
	// DESCRIBE HISTORY as Parquet (maps and timestamps included).
	res = runStrata(t, "sql", "--project", p.Dir, "--format", "parquet", "--output", out, "-c", "DESCRIBE HISTORY sales.orders")
	if res.code != 0 {
		t.Fatalf("history as parquet: %d %s", res.code, res.stderr)
	}
	if got := readParquetFiles(t, out); len(got.rows) != 3 || got.names[3] != "operationParameters" {
		t.Fatalf("history parquet: %v %v", got.names, got.rows)
	}
	// A command alone: its fields are the one row.
	res = runStrata(t, "sql", "--project", p.Dir, "--format", "parquet", "--output", out, "-c", "VACUUM sales.orders")
	if got := readParquetFiles(t, out); res.code != 0 || len(got.rows) != 1 || !strings.Contains(strings.Join(got.names, ","), "numDeletedFiles") {
		t.Fatalf("vacuum as parquet: %d %s %v", res.code, res.stderr, got.names)
	}
	// Two results with rows do not fit one Parquet file.
	res = runStrata(t, "sql", "--project", p.Dir, "--format", "parquet", "--output", out, "-c", "SELECT 1; SELECT 2")
	if res.code != 1 || !strings.Contains(res.stderr, "statement 2") || !strings.Contains(res.stderr, "one result") {
		t.Fatalf("two results as parquet: %d %s", res.code, res.stderr)
	}
	// Parquet needs a file.
	if res := runStrata(t, "sql", "--format", "parquet", "-c", "SELECT 1"); res.code != 2 {
		t.Fatalf("parquet to stdout: %d %s", res.code, res.stderr)
	}
	// CSV to a file, several results one after the other.
	csvOut := filepath.Join(dir, "out.csv")
	res = runStrata(t, "sql", "--project", p.Dir, "--format", "csv", "--output", csvOut, "-c", "SELECT 1 AS a; SELECT 2 AS b")
	data, _ := os.ReadFile(csvOut)
	if res.code != 0 || string(data) != "a\n1\nb\n2\n" || res.stdout != "" {
		t.Fatalf("csv file: %d %q %q", res.code, data, res.stdout)
	}
}

func TestSQLProjectDiscovery(t *testing.T) {
	p := sqlProject(t)
	sub := filepath.Join(p.Dir, "notebooks", "daily")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// The nearest strata.yaml, from a folder below the project.
	t.Run("nearest strata.yaml", func(t *testing.T) {
		t.Chdir(sub)
		res := runStrata(t, "sql", "-c", "SELECT count(*) AS n FROM sales.orders", "--format", "csv")
		if res.code != 0 || res.stdout != "n\n5\n" {
			t.Errorf("from a subfolder: %d %q %s", res.code, res.stdout, res.stderr)
		}
	})
	// No project: domain.table names say so; locations still work.
	bare := t.TempDir()
	t.Run("no project", func(t *testing.T) {
		t.Chdir(bare)
		res := runStrata(t, "sql", "-c", "DESCRIBE DETAIL sales.orders")
		if res.code != 1 || !strings.Contains(res.stderr, "sales.orders: no project") {
			t.Errorf("no project: %d %s", res.code, res.stderr)
		}
		loc, _ := p.TableLocation("sales", "orders")
		res = runStrata(t, "sql", "-c", "SELECT count(*) AS n FROM delta_scan('"+loc+"')", "--format", "csv")
		if res.code != 0 || res.stdout != "n\n5\n" {
			t.Errorf("delta_scan without a project: %d %q %s", res.code, res.stdout, res.stderr)
		}
	})
	// A strata.yaml that cannot be read is an error, not silently no project.
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "strata.yaml"), []byte("storage: ./w\nstorgae: typo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("broken strata.yaml", func(t *testing.T) {
		t.Chdir(broken)
		if res := runStrata(t, "sql", "-c", "SELECT 1"); res.code != 1 || !strings.Contains(res.stderr, "storgae") {
			t.Errorf("broken strata.yaml: %d %s", res.code, res.stderr)
		}
	})
	if res := runStrata(t, "sql", "--project", bare, "-c", "SELECT 1"); res.code != 1 || !strings.Contains(res.stderr, "no strata.yaml") {
		t.Errorf("--project without strata.yaml: %d %s", res.code, res.stderr)
	}
}

func TestSQLErrors(t *testing.T) {
	p := sqlProject(t)
	script := filepath.Join(t.TempDir(), "load.sql")
	body := "-- a script\nSELECT 1 AS one;\n\nSELECT amount\n  FROM sales.orders\n  WHERE nope = 1;\nSELECT 3;\n"
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"script: the statement's number, line and first line; DuckDB's message and caret",
			[]string{"-f", script}, []string{"statement 2 (line 4: SELECT amount):", "Binder Error: Referenced column \"nope\" not found", "LINE 3:   WHERE nope = 1\n", "^"}},
		{"a DuckDB parse error keeps its position",
			[]string{"-c", "SELECT * FROM sales.orders WHER id = 1"}, []string{"Parser Error: syntax error at or near \"id\"", "LINE 1: SELECT * FROM sales.orders WHER id = 1\n", "^"}},
		{"Strata's errors name the table and the version",
			[]string{"-c", "RESTORE TABLE sales.orders TO VERSION AS OF 9"}, []string{"sales.orders: version not found: version 9 does not exist; the latest version is 2"}},
		{"an unknown table",
			[]string{"-c", "DESCRIBE HISTORY sales.returns"}, []string{"unknown table: sales.returns"}},
		{"a Strata statement's syntax error has a caret",
			[]string{"-c", "VACUUM sales.orders RETAIN 24"}, []string{"RETAIN takes a number of hours", "LINE 1: VACUUM sales.orders RETAIN 24\n", "^"}},
	} {
		res := runStrata(t, append([]string{"sql", "--project", p.Dir}, tc.args...)...)
		if res.code != 1 {
			t.Errorf("%s: exit %d, want 1 (stderr %s)", tc.name, res.code, res.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, res.stderr)
			}
		}
	}
	// The script stopped at its error: statement 1 ran, statement 3 did not.
	res := runStrata(t, "sql", "--project", p.Dir, "-f", script, "--format", "csv")
	if res.stdout != "one\n1\n" {
		t.Errorf("script output before the error: %q", res.stdout)
	}
}

func TestSQLStdin(t *testing.T) {
	p := sqlProject(t)
	input := strings.Join([]string{
		"SELECT count(*) AS n",
		"  FROM sales.orders; SELECT 'a;b' AS s;",
		".format ndjson",
		"-- a comment",
		"DESCRIBE HISTORY sales.orders LIMIT 1;",
		".tables",
		"SELECT 42 AS last", // no semicolon at the end of input: it runs all the same
	}, "\n")
	res := runStrataStdin(t, input, "sql", "--project", p.Dir)
	want := []string{"n\n5\n(1 rows)\n", "s\na;b\n(1 rows)\n", "{\"version\":2,", "{\"domain\":\"sales\",\"table\":\"orders\"", "{\"last\":42}\n"}
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	pos := 0
	for _, w := range want {
		i := strings.Index(res.stdout[pos:], w)
		if i < 0 {
			t.Fatalf("stdout lacks %q after offset %d:\n%s", w, pos, res.stdout)
		}
		pos += i
	}
	if strings.Contains(res.stdout, "strata:") || strings.Contains(res.stdout, "...>") {
		t.Errorf("prompts printed without a terminal:\n%s", res.stdout)
	}

	// An error stops the input, names the statement and its line, and exits 1.
	res = runStrataStdin(t, "SELECT 1 AS a;\n.format csv\nSELECT\n  nope;\nSELECT 2 AS b;\n", "sql", "--project", p.Dir)
	if res.code != 1 || !strings.Contains(res.stderr, "statement 2 (line 3: SELECT):") || !strings.Contains(res.stderr, "nope") || strings.Contains(res.stdout, "b\n2") {
		t.Fatalf("error on stdin: %d\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	// .quit stops reading; an unknown dot-command is an error.
	res = runStrataStdin(t, "SELECT 1 AS a;\n.quit\nSELECT 2 AS b;\n", "sql", "--format", "csv")
	if res.code != 0 || res.stdout != "a\n1\n" {
		t.Fatalf(".quit: %d %q %s", res.code, res.stdout, res.stderr)
	}
	res = runStrataStdin(t, ".frobnicate\n", "sql")
	if res.code != 1 || !strings.Contains(res.stderr, "unknown command .frobnicate") {
		t.Fatalf("unknown dot-command: %d %s", res.code, res.stderr)
	}
	// An unterminated string at the end of input is an error with its position.
	res = runStrataStdin(t, "SELECT 1;\nSELECT 'open\n", "sql")
	if res.code != 1 || !strings.Contains(res.stderr, "unterminated string") {
		t.Fatalf("unterminated string: %d %s", res.code, res.stderr)
	}
}

// TestFieldsRecord checks the one-row rendering of a command's fields.
func TestFieldsRecord(t *testing.T) {
	rr := fieldsRecord(map[string]any{"n": 3, "f": 1.5, "ok": true, "s": "x", "list": []string{"a"}, "nil": nil})
	defer rr.Release()
	var buf bytes.Buffer
	if _, err := writeRows(&buf, rr, "ndjson", 0); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": float64(3), "f": 1.5, "ok": true, "s": "x", "list": `["a"]`, "nil": nil}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%v, want %v", got, want)
	}
}
