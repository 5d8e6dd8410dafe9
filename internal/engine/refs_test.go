package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/table"
)

// refsEngine opens an engine over a fresh project holding the (empty) tables sales.orders and
// crm.users (references in queries are found by name, those in other statements only if the table
// exists), and a connection for DuckDB's parser.
func refsEngine(t *testing.T) (*Engine, *conn) {
	t.Helper()
	ctx := context.Background()
	p, err := project.Init(filepath.Join(t.TempDir(), "proj"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range [][2]string{{"sales", "orders"}, {"crm", "users"}} {
		loc, err := p.TableLocation(name[0], name[1])
		if err != nil {
			t.Fatal(err)
		}
		tb, err := table.Open(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		schema, err := delta.ParseDDLSchema("id BIGINT, user_id STRING")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Create(ctx, delta.CreateOptions{Schema: schema}); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Open(ctx, Options{Project: p, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	c, err := e.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return e, c
}

// rewriteForTest finds the references of one statement and rewrites it with views named v1, v2,
// ... in reference order. It also renders each reference as name@version (or @timestamp).
func rewriteForTest(t *testing.T, e *Engine, c *conn, sql string) (string, []string, error) {
	t.Helper()
	stmts, err := splitStatements(sql)
	if err != nil {
		return "", nil, err
	}
	if len(stmts) != 1 {
		t.Fatalf("%q: %d statements", sql, len(stmts))
	}
	st, refs, extra, err := e.findRefs(context.Background(), c, stmts[0])
	if err != nil {
		return "", nil, err
	}
	views := make([]string, len(refs))
	var desc []string
	for i, r := range refs {
		views[i] = fmt.Sprintf("v%d", i+1)
		d := fmt.Sprintf("%s@%d", r.Name, r.Version)
		if r.TimestampSQL != "" {
			d = r.Name + "@ts " + r.TimestampSQL
		}
		desc = append(desc, d)
	}
	return rewriteRefs(st, refs, views, extra), desc, nil
}

// TestRewriteReferences checks, on SQL text, how references are found and replaced: project
// tables and delta_scan calls in every position a query can hold them, with aliases before or
// after time travel, quoted identifiers, comments and string literals that look like references,
// and multi-byte text before a reference (DuckDB's query_location is a byte offset).
func TestRewriteReferences(t *testing.T) {
	e, c := refsEngine(t)
	cases := []struct {
		name, sql, want string
		refs            []string
	}{
		{"plain", `SELECT * FROM sales.orders`,
			`SELECT * FROM "v1" AS "orders"`, []string{"sales.orders@-1"}},
		{"alias", `SELECT o.id FROM sales.orders o`,
			`SELECT o.id FROM "v1" o`, []string{"sales.orders@-1"}},
		{"AS alias", `SELECT o.id FROM sales.orders AS o`,
			`SELECT o.id FROM "v1" AS o`, []string{"sales.orders@-1"}},
		{"version", `SELECT * FROM sales.orders AT (VERSION => 3)`,
			`SELECT * FROM "v1" AS "orders" `, []string{"sales.orders@3"}},
		{"alias before AT", `SELECT o.id FROM sales.orders o AT (VERSION => 3) WHERE o.id > 1`,
			`SELECT o.id FROM "v1" o  WHERE o.id > 1`, []string{"sales.orders@3"}},
		{"alias after AT", `SELECT o.id FROM sales.orders AT (VERSION => 3) AS o WHERE o.id > 1`,
			`SELECT o.id FROM "v1" AS o  WHERE o.id > 1`, []string{"sales.orders@3"}},
		{"timestamp", `SELECT * FROM sales.orders AT (TIMESTAMP => TIMESTAMP '2026-01-01 10:00') o`,
			`SELECT * FROM "v1" o `, []string{"sales.orders@ts TIMESTAMP '2026-01-01 10:00'"}},
		{"timestamp string", `SELECT * FROM sales.orders AT (TIMESTAMP => '2026-01-01')`,
			`SELECT * FROM "v1" AS "orders" `, []string{"sales.orders@ts '2026-01-01'"}},
		{"self-join of two versions",
			`SELECT * FROM sales.orders AT (VERSION => 1) a JOIN sales.orders AT (VERSION => 2) b ON a.id = b.id`,
			`SELECT * FROM "v1" a  JOIN "v2" b  ON a.id = b.id`, []string{"sales.orders@1", "sales.orders@2"}},
		{"cte and join", `WITH x AS (SELECT * FROM sales.orders) SELECT * FROM x JOIN crm.users u ON u.id = x.user_id`,
			`WITH x AS (SELECT * FROM "v1" AS "orders") SELECT * FROM x JOIN "v2" u ON u.id = x.user_id`,
			[]string{"sales.orders@-1", "crm.users@-1"}},
		{"subquery in WHERE", `SELECT * FROM crm.users WHERE id IN (SELECT user_id FROM sales.orders AT (VERSION => 0))`,
			`SELECT * FROM "v1" AS "users" WHERE id IN (SELECT user_id FROM "v2" AS "orders" )`,
			[]string{"crm.users@-1", "sales.orders@0"}},
		{"scalar subquery and lateral", `SELECT (SELECT max(id) FROM sales.orders) m, l.* FROM crm.users u, LATERAL (SELECT * FROM sales.orders o WHERE o.user_id = u.id) l`,
			`SELECT (SELECT max(id) FROM "v1" AS "orders") m, l.* FROM "v2" u, LATERAL (SELECT * FROM "v3" o WHERE o.user_id = u.id) l`,
			[]string{"sales.orders@-1", "crm.users@-1", "sales.orders@-1"}},
		{"union", `SELECT id FROM sales.orders AT (VERSION => 1) UNION ALL SELECT id FROM sales.orders`,
			`SELECT id FROM "v1" AS "orders"  UNION ALL SELECT id FROM "v2" AS "orders"`,
			[]string{"sales.orders@1", "sales.orders@-1"}},
		{"unicode before the reference", `SELECT 'ñandú → 🦤' AS s, "列" FROM sales.orders WHERE x <> 'ü'`,
			`SELECT 'ñandú → 🦤' AS s, "列" FROM "v1" AS "orders" WHERE x <> 'ü'`, []string{"sales.orders@-1"}},
		{"comments and strings that look like references",
			"SELECT 'FROM sales.fake' AS s, $$crm.fake$$ /* sales.nothing */ -- crm.users\nFROM sales.orders",
			"SELECT 'FROM sales.fake' AS s, $$crm.fake$$ /* sales.nothing */ -- crm.users\nFROM \"v1\" AS \"orders\"",
			[]string{"sales.orders@-1"}},
		{"quoted identifiers", `SELECT "o"."id" FROM "sales"."orders" "o"`,
			`SELECT "o"."id" FROM "v1" "o"`, []string{"sales.orders@-1"}},
		{"quoted without alias", `SELECT "orders".id FROM "sales" . "orders"`,
			`SELECT "orders".id FROM "v1" AS "orders"`, []string{"sales.orders@-1"}},
		{"fully qualified columns", `SELECT sales.orders.id, orders.user_id FROM sales.orders WHERE sales.orders.id > 1`,
			`SELECT orders.id, orders.user_id FROM "v1" AS "orders" WHERE orders.id > 1`, []string{"sales.orders@-1"}},
		{"fully qualified struct field", `SELECT sales.orders.address.city FROM sales.orders`,
			`SELECT orders.address.city FROM "v1" AS "orders"`, []string{"sales.orders@-1"}},
		{"multi-line", "SELECT\n  u.name,\n  count(*)\nFROM\n  crm.users u\n  JOIN sales.orders o ON o.user_id = u.id\nGROUP BY 1",
			"SELECT\n  u.name,\n  count(*)\nFROM\n  \"v1\" u\n  JOIN \"v2\" o ON o.user_id = u.id\nGROUP BY 1",
			[]string{"crm.users@-1", "sales.orders@-1"}},
		{"delta_scan", `SELECT * FROM delta_scan('/data/t')`,
			`SELECT * FROM "v1" AS "delta_scan"`, []string{"/data/t@-1"}},
		{"delta_scan version argument", `SELECT * FROM delta_scan('/data/t', version => 2) d`,
			`SELECT * FROM "v1" d`, []string{"/data/t@2"}},
		{"delta_scan AT", `SELECT d.* FROM delta_scan('/data/t') AT (VERSION => 2) d`,
			`SELECT d.* FROM "v1" d`, []string{"/data/t@2"}},
		{"delta_scan alias then AT", `SELECT d.* FROM delta_scan('/data/t') AS d AT (VERSION => 2)`,
			`SELECT d.* FROM "v1" AS d`, []string{"/data/t@2"}},
		{"delta_scan timestamp", `SELECT * FROM delta_scan('s3://b/t', timestamp => '2026-01-01 10:00')`,
			`SELECT * FROM "v1" AS "delta_scan"`, []string{"s3://b/t@ts '2026-01-01 10:00'"}},
		{"delta_scan AT timestamp", `SELECT * FROM delta_scan('s3://b/t') AT (TIMESTAMP => now() - INTERVAL 1 HOUR)`,
			`SELECT * FROM "v1" AS "delta_scan"`, []string{"s3://b/t@ts now() - INTERVAL 1 HOUR"}},
		{"timestamp expression", `SELECT * FROM sales.orders AT (TIMESTAMP => TIMESTAMP '2026-01-01' + INTERVAL (1) DAY)`,
			`SELECT * FROM "v1" AS "orders" `, []string{"sales.orders@ts TIMESTAMP '2026-01-01' + INTERVAL (1) DAY"}},
		{"delta_scan and a project table", `SELECT * FROM delta_scan('/data/t') d JOIN sales.orders USING (id)`,
			`SELECT * FROM "v1" d JOIN "v2" AS "orders" USING (id)`, []string{"/data/t@-1", "sales.orders@-1"}},
		{"FROM first", `FROM sales.orders o SELECT o.id`,
			`FROM "v1" o SELECT o.id`, []string{"sales.orders@-1"}},
		{"parenthesised union", `(SELECT id FROM sales.orders) UNION (SELECT id FROM sales.orders AT (VERSION => 1))`,
			`(SELECT id FROM "v1" AS "orders") UNION (SELECT id FROM "v2" AS "orders" )`, []string{"sales.orders@-1", "sales.orders@1"}},
		{"TABLE", `TABLE sales.orders`, `TABLE "v1"`, []string{"sales.orders@-1"}},
		{"unpivot", `UNPIVOT sales.orders ON user_id INTO NAME k VALUE v`,
			`UNPIVOT "v1" AS "orders" ON user_id INTO NAME k VALUE v`, []string{"sales.orders@-1"}},
		{"pivot", `PIVOT sales.orders ON user_id USING count(*)`,
			`PIVOT "v1" AS "orders" ON user_id USING count(*)`, []string{"sales.orders@-1"}},
		// Statements DuckDB's serializer does not take: references found by tokens.
		{"explain with time travel", `EXPLAIN SELECT o.id FROM sales.orders AT (VERSION => 0) AS o WHERE o.id > 1`,
			`EXPLAIN SELECT o.id FROM "v1" AS o  WHERE o.id > 1`, []string{"sales.orders@0"}},
		{"copy", `COPY (SELECT * FROM crm.users u JOIN sales.orders USING (id)) TO '/tmp/x.csv'`,
			`COPY (SELECT * FROM "v1" u JOIN "v2" AS "orders" USING (id)) TO '/tmp/x.csv'`, []string{"crm.users@-1", "sales.orders@-1"}},
		{"insert into a DuckDB table", `INSERT INTO main.t SELECT o.id FROM sales.orders o, delta_scan('/data/t') AT (VERSION => 1) d`,
			`INSERT INTO main.t SELECT o.id FROM "v1" o, "v2" d`, []string{"sales.orders@-1", "/data/t@1"}},
		{"DuckDB's own tables", `SELECT * FROM t, memory.main.t2, range(3) r`,
			`SELECT * FROM t, memory.main.t2, range(3) r`, nil},
		{"function call with a dot", `SELECT sales.orders(1) FROM (VALUES (1)) v(x)`,
			`SELECT sales.orders(1) FROM (VALUES (1)) v(x)`, nil},
	}
	for _, c2 := range cases {
		t.Run(c2.name, func(t *testing.T) {
			got, refs, err := rewriteForTest(t, e, c, c2.sql)
			if err != nil {
				t.Fatalf("%s: %v", c2.sql, err)
			}
			if got != c2.want {
				t.Errorf("rewrite of\n  %s\ngot\n  %s\nwant\n  %s", c2.sql, got, c2.want)
			}
			if strings.Join(refs, ",") != strings.Join(c2.refs, ",") {
				t.Errorf("references %v, want %v", refs, c2.refs)
			}
		})
	}
}

// TestRewriteErrors checks the errors of statements whose references cannot be resolved, and
// DuckDB's parser errors with their positions, counted in characters.
func TestRewriteErrors(t *testing.T) {
	e, c := refsEngine(t)
	cases := []struct {
		name, sql string
		want      []string // substrings of the error
	}{
		{"end of input", "SELECT id FROM sales.orders WHERE", []string{"syntax error at end of input", "at position 34", "LINE 1: SELECT id FROM sales.orders WHERE\n" + strings.Repeat(" ", 41) + "^"}},
		{"after multi-byte text", "SELECT 'ñññ' FRM sales.orders", []string{`syntax error at or near "sales"`, "at position 18", "LINE 1: SELECT 'ñññ' FRM sales.orders\n" + strings.Repeat(" ", 25) + "^"}},
		{"second line", "SELECT 1,\n  2 FRM sales.orders", []string{"at position 19", "LINE 2:   2 FRM sales.orders\n" + strings.Repeat(" ", 16) + "^"}},
		{"version not a number", "SELECT * FROM sales.orders AT (VERSION => 'x')", []string{"sales.orders", "VERSION must be a non-negative integer"}},
		{"negative version", "SELECT * FROM sales.orders AT (VERSION => -1)", []string{"sales.orders", "VERSION must be a non-negative integer"}},
		{"unknown delta_scan argument", "SELECT * FROM delta_scan('/t', snapshot => 1)", []string{"/t", "unknown time travel unit"}},
		{"delta_scan without location", "SELECT * FROM delta_scan()", []string{"delta_scan needs a location"}},
		{"delta_scan location not constant", "SELECT * FROM delta_scan('/a' || 'b')", []string{"location must be a string constant"}},
	}
	for _, c2 := range cases {
		t.Run(c2.name, func(t *testing.T) {
			_, _, err := rewriteForTest(t, e, c, c2.sql)
			if err == nil {
				t.Fatalf("%s: no error", c2.sql)
			}
			for _, w := range c2.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	var qe *QueryError
	_, _, err := rewriteForTest(t, e, c, "SELECT FROM WHERE")
	if !errors.As(err, &qe) || qe.Type != "Parser" {
		t.Errorf("a syntax error is %T %v, want a *QueryError of type Parser", err, err)
	}
}

// TestCaretLine checks the context line of error messages: line numbers, long lines cut around
// the position, and the caret under the right character of multi-byte text.
func TestCaretLine(t *testing.T) {
	long := strings.Repeat("x", 100)
	cases := []struct {
		src  string
		pos  int
		want string
	}{
		{"SELECT x", 7, "LINE 1: SELECT x\n               ^"},
		{"SELECT\n  x y", 11, "LINE 2:   x y\n            ^"},
		{"SELECT 'é' x", 12, "LINE 1: SELECT 'é' x\n                   ^"},
		{long + " bad " + long, 101, "LINE 1: ..." + strings.Repeat("x", 39) + " bad " + strings.Repeat("x", 36) + "...\n" + strings.Repeat(" ", 51) + "^"},
	}
	for _, c := range cases {
		if got := caretLine(c.src, c.pos); got != c.want {
			t.Errorf("caretLine(%q, %d)\ngot\n%s\nwant\n%s", c.src, c.pos, got, c.want)
		}
	}
}

// TestResolveTimestamp checks that time travel timestamps are evaluated by DuckDB in UTC: literals
// with and without a zone, dates, and expressions.
func TestResolveTimestamp(t *testing.T) {
	e, c := refsEngine(t)
	_ = e
	cases := []struct {
		sql  string
		want string // RFC 3339, or "error"
	}{
		{"TIMESTAMP '2026-01-01 10:00'", "2026-01-01T10:00:00Z"},
		{"'2026-01-01 10:00:00.5'", "2026-01-01T10:00:00.5Z"},
		{"'2026-01-01'", "2026-01-01T00:00:00Z"},
		{"DATE '2026-01-02'", "2026-01-02T00:00:00Z"},
		{"TIMESTAMPTZ '2026-01-01 10:00:00+02'", "2026-01-01T08:00:00Z"},
		{"TIMESTAMP '2026-01-01 10:00' + INTERVAL 90 MINUTE", "2026-01-01T11:30:00Z"},
		{"'yesterday-ish'", "error"},
	}
	for _, c2 := range cases {
		ref := &tableRef{Name: "sales.orders", TimestampSQL: c2.sql}
		err := resolveTimestamp(context.Background(), c, ref)
		if c2.want == "error" {
			if err == nil || !strings.Contains(err.Error(), "sales.orders") {
				t.Errorf("%s: %v, want an error naming the table", c2.sql, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c2.sql, err)
			continue
		}
		if got := ref.Timestamp.Format(time.RFC3339Nano); got != c2.want {
			t.Errorf("%s: %s, want %s", c2.sql, got, c2.want)
		}
	}
}
