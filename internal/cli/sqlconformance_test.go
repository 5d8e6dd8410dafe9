package cli

// The Delta conformance suite through SQL: every table under testdata/conformance/delta, at every
// version, must read the same through `strata sql -c "SELECT * FROM delta_scan('...') AT (VERSION
// => n)"` as through `strata table scan --version n` (which conformance_test.go checks against
// expectations that do not come from Strata), and the tables and versions that scan refuses or
// cannot read must fail in SQL too.
//
// "The same" is what conformance_test.go defines (canonType, canonValue, compareTables): the same
// column names in the same order, the same logical types, the same multiset of rows. Both sides
// are written with --format parquet and read back with parquetio.Decode, so the comparison sees
// the Arrow types DuckDB exports after a round trip through Parquet. Encodings that differ
// without changing the logical type (string vs string_view vs large_string, list vs large_list,
// decimal128 vs decimal256 at the same precision and scale, timestamp units) are already
// normalised by canonType; nothing else is.
//
// TestSQLProject checks the project side: domain.table references in joins, CTEs, subqueries,
// with and without aliases, with time travel, and the errors a user sees.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/testutil"
)

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// runSQL runs `strata sql [extra...] -c query --format parquet --output F` and returns the CLI's
// outcome and, when it succeeded, the rows it wrote.
func runSQL(t *testing.T, query string, extra ...string) (canonTable, cliResult) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sql.parquet")
	args := append(append([]string{"sql"}, extra...), "-c", query, "--format", "parquet", "--output", out)
	res := runStrata(t, args...)
	if res.code != 0 {
		return canonTable{}, res
	}
	return readParquetFiles(t, out), res
}

// mustSQL is runSQL that fails t when the statement fails.
func mustSQL(t *testing.T, query string, extra ...string) canonTable {
	t.Helper()
	ct, res := runSQL(t, query, extra...)
	if res.code != 0 {
		t.Fatalf("strata sql -c %q: exit %d: %s", query, res.code, res.stderr)
	}
	return ct
}

// tryScan runs `strata table scan` like scanTable but returns the failure instead of stopping.
func tryScan(t *testing.T, path string, version int64) (canonTable, cliResult) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "scan.parquet")
	args := []string{"table", "scan", path, "--format", "parquet", "--output", out, "--quiet"}
	if version >= 0 {
		args = append(args, "--version", strconv.FormatInt(version, 10))
	}
	res := runStrata(t, args...)
	if res.code != 0 {
		return canonTable{}, res
	}
	return readParquetFiles(t, out), res
}

// TestSQLConformance compares `strata sql` with `strata table scan` on every conformance table at
// every version: `delta_scan('p') AT (VERSION => n)` at each version, `delta_scan('p')` (the
// latest) and `delta_scan('p', version => n)` once per table. Refused versions must be refused
// with an error naming the version or feature; versions whose data files are gone must fail
// naming a missing file.
func TestSQLConformance(t *testing.T) {
	root := testutil.ConformanceDir(t)
	specs, err := filepath.Glob(filepath.Join("testdata", "conformance", "*", "*", "expected.json"))
	if err != nil || len(specs) == 0 {
		t.Fatalf("no expectations under testdata/conformance (%v)", err)
	}
	compared := 0
	for _, spec := range specs {
		raw, err := os.ReadFile(spec)
		if err != nil {
			t.Fatal(err)
		}
		var dt derivedTable
		if err := json.Unmarshal(raw, &dt); err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		t.Run(dt.Table, func(t *testing.T) {
			path := conformanceTablePath(root, dt.Table)
			from := "delta_scan(" + sqlString(path) + ")"
			readable := int64(-1) // a version both read, for the version => n form
			for _, v := range dt.Versions {
				query := fmt.Sprintf("SELECT * FROM %s AT (VERSION => %d)", from, v.Version)
				t.Run(fmt.Sprintf("v%d", v.Version), func(t *testing.T) {
					got, res := runSQL(t, query)
					if v.Refuse != nil {
						checkRefused(t, res, v.Refuse)
						return
					}
					want, scan := tryScan(t, path, v.Version)
					if scan.code != 0 {
						if res.code == 0 {
							t.Fatalf("table scan fails (%s) but strata sql read %d rows", strings.TrimSpace(scan.stderr), len(got.rows))
						}
						if len(v.MissingFiles) > 0 && !namesAnyPath(res.stderr, v.MissingFiles) {
							t.Errorf("sql error %q names none of the missing files %v", strings.TrimSpace(res.stderr), v.MissingFiles)
						}
						return
					}
					if res.code != 0 {
						t.Fatalf("strata sql -c %q: exit %d: %s", query, res.code, res.stderr)
					}
					compareTables(t, query, got, want)
					compared++
					if readable < 0 {
						readable = v.Version
					}
				})
			}
			last := dt.Versions[len(dt.Versions)-1]
			if last.Refuse != nil {
				checkRefused(t, runStrataSQLCSV(t, "SELECT * FROM "+from), last.Refuse)
				return
			}
			if want, scan := tryScan(t, path, -1); scan.code == 0 {
				compareTables(t, "latest", mustSQL(t, "SELECT * FROM "+from), want)
			}
			if readable >= 0 {
				q := fmt.Sprintf("SELECT * FROM delta_scan(%s, version => %d)", sqlString(path), readable)
				want, _ := tryScan(t, path, readable)
				compareTables(t, q, mustSQL(t, q), want)
			}
		})
	}
	t.Logf("%d table versions compared", compared)
	if compared < 160 {
		t.Errorf("only %d table versions compared; the suite has 166 readable ones", compared)
	}
}

// runStrataSQLCSV runs a query with CSV output to a file (for refusal checks).
func runStrataSQLCSV(t *testing.T, query string) cliResult {
	t.Helper()
	return runStrata(t, "sql", "-c", query, "--format", "csv", "--output", filepath.Join(t.TempDir(), "out.csv"))
}

// TestSQLProject builds a project with `strata init` and `strata table create/append`, and queries
// its tables as domain.table: joins, aliases, CTEs, subqueries, UNION, time travel by version and
// by timestamp, qualified column references, and the errors for an unknown table and a syntax
// error.
func TestSQLProject(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shop")
	if res := runStrata(t, "init", dir); res.code != 0 {
		t.Fatalf("init: %s", res.stderr)
	}
	warehouse := filepath.Join(dir, "warehouse")
	orders := filepath.Join(warehouse, "sales", "orders")
	users := filepath.Join(warehouse, "crm", "users")
	write := func(name, content string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	steps := [][]string{
		// orders: version 0 empty, 1 with three orders, 2 with two more.
		{"table", "create", orders, "--partition-by", "country", "--schema",
			"id BIGINT NOT NULL, user_id STRING, country STRING, amount DECIMAL(10,2), ts TIMESTAMP"},
		{"table", "append", orders, write("o1.csv", "id,user_id,country,amount,ts\n"+
			"1,u1,ES,10.50,2026-03-01 09:00:00\n2,u2,FR,20.00,2026-03-01 10:00:00\n3,u1,ES,5.25,2026-03-02 11:00:00\n"), "--quiet"},
		{"table", "append", orders, write("o2.csv", "id,user_id,country,amount,ts\n"+
			"4,u3,DE,7.00,2026-03-03 12:00:00\n5,u2,FR,1.00,2026-03-03 13:00:00\n"), "--quiet"},
		{"table", "create", users, "--schema", "id STRING NOT NULL, name STRING"},
		{"table", "append", users, write("u.csv", "id,name\nu1,Ana\nu2,Bea\nu3,Ciro\n"), "--quiet"},
	}
	for _, args := range steps {
		if res := runStrata(t, args...); res.code != 0 {
			t.Fatalf("strata %s: exit %d: %s", strings.Join(args, " "), res.code, res.stderr)
		}
	}
	// Commit times one hour apart, so that AT (TIMESTAMP => ...) has known answers.
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for v := int64(0); v <= 2; v++ {
		ts := base.Add(time.Duration(v) * time.Hour)
		if err := os.Chtimes(filepath.Join(orders, delta.CommitKey(v)), ts, ts); err != nil {
			t.Fatal(err)
		}
	}
	proj := []string{"--project", dir}
	rows := func(t *testing.T, query string) []string {
		t.Helper()
		return mustSQL(t, query, proj...).rows
	}
	cases := []struct {
		name, query string
		want        []string // canonical rows, sorted
	}{
		{"plain", "SELECT id FROM sales.orders ORDER BY id", []string{`["1"]`, `["2"]`, `["3"]`, `["4"]`, `["5"]`}},
		{"alias and qualified columns", "SELECT o.id, sales.orders.id AS same FROM sales.orders, sales.orders o WHERE o.id = orders.id AND o.id < 3",
			[]string{`["1","1"]`, `["2","2"]`}},
		{"qualified by table name", "SELECT orders.id FROM sales.orders WHERE orders.country = 'DE'", []string{`["4"]`}},
		{"quoted identifiers", `SELECT "o"."id" FROM "sales"."orders" AS "o" WHERE "o".country = 'DE'`, []string{`["4"]`}},
		{"join", "SELECT u.name, sum(o.amount) AS total FROM sales.orders o JOIN crm.users u ON u.id = o.user_id GROUP BY u.name",
			[]string{`["\"Ana\"","15.75"]`, `["\"Bea\"","21.00"]`, `["\"Ciro\"","7.00"]`}},
		{"cte", "WITH big AS (SELECT * FROM sales.orders WHERE amount >= 10) SELECT count(*) AS n FROM big", []string{`["2"]`}},
		{"subquery", "SELECT name FROM crm.users WHERE id IN (SELECT user_id FROM sales.orders WHERE country = 'FR')", []string{`["\"Bea\""]`}},
		{"scalar subquery", "SELECT (SELECT max(id) FROM sales.orders) AS m", []string{`["5"]`}},
		{"version", "SELECT count(*) AS n FROM sales.orders AT (VERSION => 1)", []string{`["3"]`}},
		{"version with alias", "SELECT count(o.id) AS n FROM sales.orders o AT (VERSION => 0)", []string{`["0"]`}},
		{"two versions of one table", "SELECT n.id FROM sales.orders AT (VERSION => 2) n ANTI JOIN sales.orders AT (VERSION => 1) o ON o.id = n.id",
			[]string{`["4"]`, `["5"]`}},
		{"union of versions", "SELECT id FROM sales.orders AT (VERSION => 1) UNION ALL SELECT id FROM sales.orders AT (VERSION => 2) WHERE country = 'DE'",
			[]string{`["1"]`, `["2"]`, `["3"]`, `["4"]`}},
		{"timestamp", "SELECT count(*) AS n FROM sales.orders AT (TIMESTAMP => TIMESTAMP '2026-01-01 11:30:00')", []string{`["3"]`}},
		{"timestamp exact", "SELECT count(*) AS n FROM sales.orders AT (TIMESTAMP => TIMESTAMP '2026-01-01 12:00:00')", []string{`["5"]`}},
		{"unicode before the reference", "SELECT 'ñandú → 🦤' AS s, count(*) AS n FROM sales.orders WHERE country <> 'ü'", []string{`["\"ñandú → 🦤\"","5"]`}},
		{"comments", "SELECT /* sales.nothing */ count(*) AS n -- crm.users\nFROM sales.orders", []string{`["5"]`}},
		{"delta_scan beside a project table", "SELECT count(*) AS n FROM delta_scan(" + sqlString(users) + ") d JOIN crm.users u USING (id)", []string{`["3"]`}},
		{"TABLE statement", "TABLE crm.users", []string{`["\"u1\"","\"Ana\""]`, `["\"u2\"","\"Bea\""]`, `["\"u3\"","\"Ciro\""]`}},
		{"pivot", "PIVOT (SELECT country, amount FROM sales.orders AT (VERSION => 1)) ON country USING sum(amount)", []string{`["15.75","20.00"]`}},
		{"alias after time travel", "SELECT o.id FROM sales.orders AT (VERSION => 1) AS o WHERE o.country = 'FR'", []string{`["2"]`}},
		{"delta_scan time travel by timestamp", "SELECT count(*) AS n FROM delta_scan(" + sqlString(orders) + ") AT (TIMESTAMP => TIMESTAMP '2026-01-01 10:59:59')", []string{`["0"]`}},
		{"partition and types", "SELECT country, ts, amount FROM sales.orders WHERE id = 1", []string{`["\"ES\"","2026-03-01T09:00:00.000000Z","10.50"]`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rows(t, c.query)
			if extra, missing := testutil.MultisetDiff(got, c.want); len(extra)+len(missing) > 0 {
				t.Errorf("%s\n got  %v\n want %v", c.query, got, c.want)
			}
		})
	}
	t.Run("unknown table", func(t *testing.T) {
		_, res := runSQL(t, "SELECT * FROM sales.nope", proj...)
		if res.code == 0 || !strings.Contains(res.stderr, "sales.nope") {
			t.Errorf("exit %d, stderr %q: want an error naming sales.nope", res.code, res.stderr)
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		_, res := runSQL(t, "SELECT id FROM sales.orders WHERE", proj...)
		if res.code == 0 || !strings.Contains(res.stderr, "syntax error") || !strings.Contains(res.stderr, "position") {
			t.Errorf("exit %d, stderr %q: want DuckDB's syntax error with its position", res.code, res.stderr)
		}
	})
	t.Run("version past the latest", func(t *testing.T) {
		_, res := runSQL(t, "SELECT * FROM sales.orders AT (VERSION => 9)", proj...)
		if res.code == 0 || !strings.Contains(res.stderr, "sales.orders") || !strings.Contains(res.stderr, "version") {
			t.Errorf("exit %d, stderr %q: want an error naming the table", res.code, res.stderr)
		}
	})
}

// TestSQLStrataTables builds tables with `strata table create/append` that exercise what the
// conformance tables cover little or not at all (column mapping in id mode, nested structs, maps
// and arrays under column mapping, partition values of every type with nulls and characters that
// need escaping, columns missing from older files, an empty table) and compares `strata sql`
// with `strata table scan` at every version.
func TestSQLStrataTables(t *testing.T) {
	nested := "id BIGINT, s STRUCT<a: INT, b: STRING, inner: STRUCT<x: DOUBLE>>, m MAP<STRING, STRUCT<v: INT>>, " +
		"arr ARRAY<STRUCT<k: STRING>>, bin BINARY, ts TIMESTAMP, ntz TIMESTAMP_NTZ, d DATE, dec DECIMAL(10,2), p STRING"
	nestedRows := `{"id":1,"s":{"a":1,"b":"x","inner":{"x":1.5}},"m":{"k1":{"v":1},"k2":null},"arr":[{"k":"a"},{"k":null}],"bin":"AAE=","ts":"2026-01-01T10:00:00.123456Z","ntz":"2026-01-01 10:00:00","d":"2026-01-02","dec":"-1.25","p":"a/b=c%"}
{"id":2,"p":null}
{"id":3,"s":{"a":null,"b":null,"inner":null},"m":{},"arr":[],"p":"ü é"}
`
	evolved := `{"id":4,"s":{"a":4,"b":"y","inner":{"x":-0.0},"c":"new"},"extra":"e","p":"a/b=c%"}
`
	partitioned := "s STRING, i INT, l BIGINT, d DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, b BOOLEAN, dec DECIMAL(12,3), f DOUBLE, bin BINARY, v STRING"
	partRows := `{"s":"plain","i":1,"l":-9000000000,"d":"2026-03-01","ts":"2026-03-01T09:12:44.5Z","ntz":"2026-03-01 09:12:44","b":true,"dec":"123456789.125","f":1.5,"bin":"AAE=","v":"x"}
{"s":"a b/c=d%e#f'g\"h","i":-1,"l":0,"d":"1970-01-01","ts":"1970-01-01T00:00:00Z","ntz":"1970-01-01 00:00:00","b":false,"dec":"-0.001","f":-0.5,"bin":"","v":"y"}
{"s":null,"i":null,"l":null,"d":null,"ts":null,"ntz":null,"b":null,"dec":null,"f":null,"bin":null,"v":"z"}
{"s":"","i":2,"l":1,"d":"2026-12-31","ts":"2026-12-31T23:59:59.999999Z","ntz":"2026-12-31 23:59:59.999999","b":true,"dec":"0","f":0,"v":"w"}
{"s":"日本","i":3,"l":2,"d":"2000-02-29","ts":"2000-02-29T12:00:00+02:00","ntz":"2000-02-29 12:00:00","b":false,"dec":"1","f":1e300,"v":"u"}
`
	type step struct {
		args []string
		data string // written to a file appended to the args
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"column mapping name, nested", []step{
			{args: []string{"table", "create", "T", "--schema", nested, "--partition-by", "p", "--property", "delta.columnMapping.mode=name"}},
			{args: []string{"table", "append", "T"}, data: nestedRows},
			{args: []string{"table", "append", "T", "--merge-schema"}, data: evolved},
		}},
		{"column mapping id, nested", []step{
			{args: []string{"table", "create", "T", "--schema", nested, "--partition-by", "p", "--property", "delta.columnMapping.mode=id"}},
			{args: []string{"table", "append", "T"}, data: nestedRows},
			{args: []string{"table", "append", "T", "--merge-schema"}, data: evolved},
		}},
		{"no column mapping, nested", []step{
			{args: []string{"table", "create", "T", "--schema", nested}},
			{args: []string{"table", "append", "T"}, data: nestedRows},
			{args: []string{"table", "append", "T", "--merge-schema"}, data: evolved},
		}},
		{"partition values of every type", []step{
			{args: []string{"table", "create", "T", "--schema", partitioned, "--partition-by", "s,i,l,d,ts,ntz,b,dec,f,bin"}},
			{args: []string{"table", "append", "T"}, data: partRows},
		}},
		{"partition values under column mapping", []step{
			{args: []string{"table", "create", "T", "--schema", partitioned, "--partition-by", "s,i,d,ts,ntz,dec", "--property", "delta.columnMapping.mode=id"}},
			{args: []string{"table", "append", "T"}, data: partRows},
		}},
		{"empty", []step{
			{args: []string{"table", "create", "T", "--schema", nested, "--partition-by", "p"}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc := filepath.Join(t.TempDir(), "t")
			for i, s := range c.steps {
				args := append([]string{}, s.args...)
				for k, a := range args {
					if a == "T" {
						args[k] = loc
					}
				}
				if s.data != "" {
					f := filepath.Join(t.TempDir(), fmt.Sprintf("step%d.ndjson", i))
					if err := os.WriteFile(f, []byte(s.data), 0o644); err != nil {
						t.Fatal(err)
					}
					args = append(args, f, "--quiet")
				}
				if res := runStrata(t, args...); res.code != 0 {
					t.Fatalf("strata %s: exit %d: %s", strings.Join(args, " "), res.code, res.stderr)
				}
			}
			d := describeJSON(t, loc, -1)
			for v := int64(0); v <= d.Version; v++ {
				q := fmt.Sprintf("SELECT * FROM delta_scan(%s) AT (VERSION => %d)", sqlString(loc), v)
				want, scan := tryScan(t, loc, v)
				if scan.code != 0 {
					t.Fatalf("table scan --version %d: %s", v, scan.stderr)
				}
				compareTables(t, q, mustSQL(t, q), want)
				if v == d.Version && c.name != "empty" && len(want.rows) == 0 {
					t.Errorf("%s: no rows to compare", q)
				}
			}
		})
	}
}
