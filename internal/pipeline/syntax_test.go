package pipeline

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The golden files of testdata/syntax are rewritten with `go test -run TestParseFileScenarios
// ./internal/pipeline -update`. The flag is defined here only if another test file of the package
// has not defined it already (package variables are initialized before init functions run).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files instead of comparing with them")
	}
}

// synUpdating reports whether -update was given.
func synUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// synDump renders parsed statements and the error for golden files and comparisons. Positions
// are printed as line:col (the file name is the same throughout).
func synDump(stmts []*Statement, err error) string {
	var b strings.Builder
	lc := func(p Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }
	for n, st := range stmts {
		fmt.Fprintf(&b, "statement %d at %s: %s %s (name at %s)\n", n+1, lc(st.Pos), st.Kind, st.Name, lc(st.NamePos))
		if st.OrRefresh {
			fmt.Fprintf(&b, "  or refresh\n")
		}
		for _, c := range st.Columns {
			fmt.Fprintf(&b, "  column %s at %s", c.Name, lc(c.Pos))
			if c.Type != "" {
				fmt.Fprintf(&b, " type %q", c.Type)
			}
			if c.NotNull {
				fmt.Fprintf(&b, " not null")
			}
			if c.Comment != "" {
				fmt.Fprintf(&b, " comment %q", c.Comment)
			}
			b.WriteString("\n")
		}
		for _, e := range st.Expectations {
			fmt.Fprintf(&b, "  expectation %s at %s: expect %q at %s, %s\n", e.Name, lc(e.Pos), e.Expr, lc(e.ExprPos), e.Action)
		}
		if st.PartitionBy != nil {
			fmt.Fprintf(&b, "  partitioned by %q\n", st.PartitionBy)
		}
		for _, kv := range st.Properties {
			fmt.Fprintf(&b, "  property %q = %q\n", kv[0], kv[1])
		}
		if st.Comment != "" {
			fmt.Fprintf(&b, "  comment %q\n", st.Comment)
		}
		if st.Query != "" {
			fmt.Fprintf(&b, "  query at %s:\n", lc(st.QueryPos))
			for _, line := range strings.Split(st.Query, "\n") {
				fmt.Fprintf(&b, "    %q\n", line)
			}
		}
		for _, w := range st.Watermarks {
			fmt.Fprintf(&b, "  watermark %s delay %s at %s (column at %s)\n", w.Column, w.Delay, lc(w.Pos), lc(w.ColumnPos))
		}
		if c := st.CDC; c != nil {
			fmt.Fprintf(&b, "  cdc into %s at %s\n", c.Target, lc(c.TargetPos))
			fmt.Fprintf(&b, "    source %q at %s\n", c.Source, lc(c.SourcePos))
			fmt.Fprintf(&b, "    keys %q at", c.Keys)
			for _, p := range c.KeysPos {
				fmt.Fprintf(&b, " %s", lc(p))
			}
			b.WriteString("\n")
			if c.IgnoreNullUpdates {
				fmt.Fprintf(&b, "    ignore null updates\n")
			}
			if c.DeleteWhen != "" {
				fmt.Fprintf(&b, "    delete when %q at %s\n", c.DeleteWhen, lc(c.DeleteWhenPos))
			}
			if c.TruncateWhen != "" {
				fmt.Fprintf(&b, "    truncate when %q at %s\n", c.TruncateWhen, lc(c.TruncateWhenPos))
			}
			fmt.Fprintf(&b, "    sequence by %q at %s\n", c.SequenceBy, lc(c.SequenceByPos))
			if c.Columns != nil {
				fmt.Fprintf(&b, "    columns %q\n", c.Columns)
			}
			if c.ExceptColumns != nil {
				fmt.Fprintf(&b, "    columns * except %q\n", c.ExceptColumns)
			}
			fmt.Fprintf(&b, "    scd type %d\n", c.SCDType)
			if c.TrackHistory != nil {
				fmt.Fprintf(&b, "    track history on %q\n", c.TrackHistory)
			}
			if c.TrackHistoryExcept != nil {
				fmt.Fprintf(&b, "    track history on * except %q\n", c.TrackHistoryExcept)
			}
		}
	}
	for _, e := range synErrors(err) {
		fmt.Fprintf(&b, "error: %v\n", e)
	}
	return b.String()
}

// synErrors flattens a ParseFile error into its *SyntaxError parts (nil for nil). A part that is
// not a *SyntaxError is returned as is, for the caller to flag.
func synErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, synErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// TestParseFileScenarios parses each testdata/syntax/*.sql file and compares the dump with the
// .txt golden file beside it.
func TestParseFileScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "syntax", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario files in testdata/syntax")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".sql")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			stmts, perr := ParseFile(filepath.Base(path), src)
			synCheckInvariants(t, string(src), stmts, perr)
			got := synDump(stmts, perr)
			golden := strings.TrimSuffix(path, ".sql") + ".txt"
			if synUpdating() {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s: parse differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, golden, got, want)
			}
		})
	}
}

// synCheckInvariants checks what must hold of every ParseFile result: errors are *SyntaxError
// with a valid position; each statement's Text is the file text at Pos; Query is the file text
// at QueryPos with only WATERMARK clauses blanked (newlines kept); PosAt agrees with the line
// table; positions are consistent.
func synCheckInvariants(t testing.TB, src string, stmts []*Statement, err error) {
	t.Helper()
	for _, e := range synErrors(err) {
		var se *SyntaxError
		if !errors.As(e, &se) || e != error(se) {
			t.Fatalf("error %v (%T) is not a *SyntaxError", e, e)
		}
		if se.Pos.Line < 1 || se.Pos.Col < 1 || se.Pos.Offset < 0 || se.Pos.Offset > len(src) {
			t.Fatalf("error %q has a bad position %+v", se.Msg, se.Pos)
		}
		if want := synPosOf(src, se.Pos.Offset); want.Line != se.Pos.Line || want.Col != se.Pos.Col {
			t.Fatalf("error %q at %+v, line table says %d:%d", se.Msg, se.Pos, want.Line, want.Col)
		}
	}
	for _, st := range stmts {
		if st.Kind < StreamingTable || st.Kind > Flow {
			t.Fatalf("statement %q has kind %d", st.Text, st.Kind)
		}
		if st.Pos.Offset+len(st.Text) > len(src) || src[st.Pos.Offset:st.Pos.Offset+len(st.Text)] != st.Text {
			t.Fatalf("statement text %q is not the file text at %+v", st.Text, st.Pos)
		}
		if st.Name == "" || st.NamePos.Offset < st.Pos.Offset {
			t.Fatalf("statement %q: name %q at %+v", st.Text, st.Name, st.NamePos)
		}
		if (st.Kind == Flow) != (st.CDC != nil) {
			t.Fatalf("statement %q: kind %s with CDC %v", st.Text, st.Kind, st.CDC)
		}
		if st.Query == "" {
			if st.QueryPos != (Pos{}) || len(st.Watermarks) > 0 {
				t.Fatalf("statement %q: empty query at %+v with %d watermarks", st.Text, st.QueryPos, len(st.Watermarks))
			}
			continue
		}
		if st.Kind == Flow {
			t.Fatalf("flow %q has a query", st.Text)
		}
		off := st.QueryPos.Offset
		if off < st.Pos.Offset || off+len(st.Query) != st.Pos.Offset+len(st.Text) {
			t.Fatalf("statement %q: query at %d..%d is not the end of the statement", st.Text, off, off+len(st.Query))
		}
		orig := src[off : off+len(st.Query)]
		for k := 0; k < len(st.Query); k++ {
			if st.Query[k] != orig[k] && (st.Query[k] != ' ' || orig[k] == '\n' || orig[k] == '\r') {
				t.Fatalf("statement %q: query byte %d is %q, file has %q", st.Text, k, st.Query[k], orig[k])
			}
		}
		for _, k := range []int{0, len(st.Query) / 2, len(st.Query)} {
			if got, want := st.PosAt(k), synPosOf(src, off+k); got.Line != want.Line || got.Col != want.Col || got.Offset != off+k {
				t.Fatalf("statement %q: PosAt(%d) = %+v, want %d:%d", st.Text, k, got, want.Line, want.Col)
			}
		}
		for _, w := range st.Watermarks {
			if w.Delay < 0 || w.Column == "" || w.Pos.Offset < off || w.ColumnPos.Offset <= w.Pos.Offset {
				t.Fatalf("statement %q: bad watermark %+v", st.Text, w)
			}
			if strings.TrimSpace(st.Query[w.Pos.Offset-off:w.ColumnPos.Offset-off]) != "" {
				t.Fatalf("statement %q: watermark at %+v not blanked", st.Text, w.Pos)
			}
		}
	}
}

// synPosOf computes line and column of a byte offset the slow way.
func synPosOf(src string, off int) Pos {
	line, col := 1, 1
	for k := 0; k < off; k++ {
		if src[k] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return Pos{Line: line, Col: col, Offset: off}
}

// synExamples is the brief's example file: every statement must parse.
const synExamples = `-- bronze
CREATE OR REFRESH STREAMING TABLE bronze_events
COMMENT 'raw events as they arrived'
AS SELECT * FROM STREAM(read_topic('events', format => 'json'));

CREATE OR REFRESH STREAMING TABLE silver_events (
  CONSTRAINT valid_id EXPECT (event_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT positive_amount EXPECT (amount >= 0),
  CONSTRAINT known_type EXPECT (event_type IN ('view', 'cart', 'purchase')) ON VIOLATION FAIL UPDATE
)
PARTITIONED BY (event_date)
TBLPROPERTIES ('delta.appendOnly' = 'true')
AS SELECT DISTINCT ON (event_id) event_id, user_id, ts, CAST(ts AS DATE) AS event_date, amount
FROM STREAM(bronze_events) WATERMARK ts DELAY OF INTERVAL 10 MINUTES;

CREATE MATERIALIZED VIEW gold.user_daily_stats AS
SELECT user_id, event_date, count(*) AS events, sum(amount) AS revenue FROM silver_events GROUP BY ALL;

CREATE TEMPORARY VIEW purchases AS SELECT * FROM silver_events WHERE event_type = 'purchase';

CREATE OR REFRESH STREAMING TABLE customers;
CREATE FLOW customers_cdc AS AUTO CDC INTO customers
FROM STREAM(read_topic('customers_cdc', format => 'json'))
KEYS (customer_id)
APPLY AS DELETE WHEN op = 'd'
SEQUENCE BY ts_ms
COLUMNS * EXCEPT (op, ts_ms)
STORED AS SCD TYPE 2;
`

// TestParseFileExamples checks the brief's examples field by field (positions aside, which the
// scenario files cover).
func TestParseFileExamples(t *testing.T) {
	stmts, err := ParseFile("medallion.sql", []byte(synExamples))
	if err != nil {
		t.Fatal(err)
	}
	synCheckInvariants(t, synExamples, stmts, err)
	if len(stmts) != 6 {
		t.Fatalf("got %d statements, want 6", len(stmts))
	}
	type summary struct {
		Kind         StatementKind
		OrRefresh    bool
		Name         string
		Expectations []string
		PartitionBy  []string
		Properties   [][2]string
		Comment      string
		Query        string
		Watermarks   []string
		CDC          *CDCSpec
	}
	sum := func(st *Statement) summary {
		s := summary{Kind: st.Kind, OrRefresh: st.OrRefresh, Name: st.Name, PartitionBy: st.PartitionBy,
			Properties: st.Properties, Comment: st.Comment, Query: st.Query, CDC: st.CDC}
		for _, e := range st.Expectations {
			s.Expectations = append(s.Expectations, fmt.Sprintf("%s|%s|%s", e.Name, e.Expr, e.Action))
		}
		for _, w := range st.Watermarks {
			s.Watermarks = append(s.Watermarks, fmt.Sprintf("%s|%s", w.Column, w.Delay))
		}
		if s.CDC != nil {
			c := *s.CDC
			c.TargetPos, c.SourcePos, c.KeysPos, c.DeleteWhenPos, c.SequenceByPos = Pos{}, Pos{}, nil, Pos{}, Pos{}
			s.CDC = &c
		}
		return s
	}
	want := []summary{
		{Kind: StreamingTable, OrRefresh: true, Name: "bronze_events", Comment: "raw events as they arrived",
			Query: "SELECT * FROM STREAM(read_topic('events', format => 'json'))"},
		{Kind: StreamingTable, OrRefresh: true, Name: "silver_events",
			Expectations: []string{
				"valid_id|event_id IS NOT NULL|drop",
				"positive_amount|amount >= 0|keep",
				"known_type|event_type IN ('view', 'cart', 'purchase')|fail",
			},
			PartitionBy: []string{"event_date"},
			Properties:  [][2]string{{"delta.appendOnly", "true"}},
			Query: "SELECT DISTINCT ON (event_id) event_id, user_id, ts, CAST(ts AS DATE) AS event_date, amount\n" +
				"FROM STREAM(bronze_events) " + strings.Repeat(" ", len("WATERMARK ts DELAY OF INTERVAL 10 MINUTES")),
			Watermarks: []string{"ts|10m0s"}},
		{Kind: MaterializedView, Name: "gold.user_daily_stats",
			Query: "SELECT user_id, event_date, count(*) AS events, sum(amount) AS revenue FROM silver_events GROUP BY ALL"},
		{Kind: TemporaryView, Name: "purchases", Query: "SELECT * FROM silver_events WHERE event_type = 'purchase'"},
		{Kind: StreamingTable, OrRefresh: true, Name: "customers"},
		{Kind: Flow, Name: "customers_cdc", CDC: &CDCSpec{
			Target: "customers", Source: "read_topic('customers_cdc', format => 'json')", Keys: []string{"customer_id"},
			DeleteWhen: "op = 'd'", SequenceBy: "ts_ms", ExceptColumns: []string{"op", "ts_ms"}, SCDType: 2}},
	}
	for k := range want {
		if got := sum(stmts[k]); !reflect.DeepEqual(got, want[k]) {
			t.Errorf("statement %d:\n got %+v\nwant %+v", k+1, got, want[k])
		}
	}
	// The flow's positions point at the right words.
	cdc := stmts[5].CDC
	for _, c := range []struct {
		pos  Pos
		word string
	}{
		{cdc.TargetPos, "customers"}, {cdc.SourcePos, "read_topic("}, {cdc.KeysPos[0], "customer_id)"},
		{cdc.DeleteWhenPos, "op = 'd'"}, {cdc.SequenceByPos, "ts_ms\n"}, {stmts[5].Pos, "CREATE FLOW"},
	} {
		if !strings.HasPrefix(synExamples[c.pos.Offset:], c.word) {
			t.Errorf("position %v points at %q, want %q", c.pos, synExamples[c.pos.Offset:min(len(synExamples), c.pos.Offset+15)], c.word)
		}
	}
}

// TestParseFilePositions checks statement, name, expectation and error positions, with a
// statement that starts on line 10 after comments, tabs and a multi-byte character.
func TestParseFilePositions(t *testing.T) {
	src := "-- line 1\n" +
		"/* line 2\n" +
		"   line 3; not a statement end */\n" +
		"\n" +
		"-- line 5 'é';\n" +
		";;\n" + // line 6: empty statements are skipped
		"\n\n\n" +
		"  CREATE MATERIALIZED VIEW \"Sales\".orders (\n" + // line 10
		"\tCONSTRAINT \"valid id\" EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW,\n" + // line 11
		"  é_col INT COMMENT 'é'\n" + // line 12
		") AS SELECT 1 AS id;\n" + // line 13
		"INSERT INTO x VALUES (1);\n" // line 14
	stmts, err := ParseFile("p.sql", []byte(src))
	synCheckInvariants(t, src, stmts, err)
	if len(stmts) != 1 {
		t.Fatalf("got %d statements, want 1 (err %v)", len(stmts), err)
	}
	st := stmts[0]
	check := func(what string, got Pos, line, col int) {
		t.Helper()
		if got.Line != line || got.Col != col || got.File != "p.sql" {
			t.Errorf("%s at %v, want p.sql:%d:%d", what, got, line, col)
		}
	}
	check("statement", st.Pos, 10, 3)
	check("name", st.NamePos, 10, 28)
	if st.Name != "Sales.orders" {
		t.Errorf("name %q, want Sales.orders", st.Name)
	}
	check("expectation", st.Expectations[0].Pos, 11, 2)
	check("expectation expr", st.Expectations[0].ExprPos, 11, 32)
	if st.Expectations[0].Name != "valid id" {
		t.Errorf("expectation name %q", st.Expectations[0].Name)
	}
	check("column", st.Columns[0].Pos, 12, 3)
	check("query", st.QueryPos, 13, 6)
	check("query offset 7", st.PosAt(7), 13, 13)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SyntaxError", err)
	}
	check("error", se.Pos, 14, 1)
	want := `p.sql:14:1: unsupported statement "INSERT": ` + synSupported
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
}

// TestParseFileErrors checks the message and position of each malformed case. Each source is
// one statement; the error must be the only one.
func TestParseFileErrors(t *testing.T) {
	for _, c := range []struct {
		name, src, want string
	}{
		{"unsupported insert", "INSERT INTO t SELECT 1", `1:1: unsupported statement "INSERT": ` + synSupported},
		{"unsupported select", "\n\nselect 1", `3:1: unsupported statement "select": ` + synSupported},
		{"unsupported create table", "CREATE TABLE t AS SELECT 1", `1:1: unsupported statement "CREATE TABLE": ` + synSupported},
		{"unsupported streaming view", "CREATE OR REFRESH STREAMING VIEW v AS SELECT 1", `1:1: unsupported statement "CREATE OR REFRESH STREAMING VIEW": ` + synSupported},
		{"unsupported private", "CREATE PRIVATE MATERIALIZED VIEW v AS SELECT 1", `1:1: unsupported statement "CREATE PRIVATE MATERIALIZED VIEW": ` + synSupported},
		{"unsupported set", "SET x = 1", `1:1: unsupported statement "SET": ` + synSupported},
		{"unsupported punct", "(SELECT 1)", `1:1: unsupported statement "(": ` + synSupported},
		{"standalone apply changes", "APPLY CHANGES INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY x",
			`1:1: unsupported statement "APPLY": ` + synSupported + ` (write CREATE FLOW name AS AUTO CDC INTO ...)`},
		{"create or what", "CREATE OR KEEP STREAMING TABLE t", `1:11: expected REFRESH or REPLACE after CREATE OR, found "KEEP"`},
		{"if not exists", "CREATE STREAMING TABLE IF NOT EXISTS t", `1:24: IF NOT EXISTS is not supported: a pipeline creates its streaming tables or refreshes them`},
		{"no name", "CREATE MATERIALIZED VIEW AS SELECT 1", `1:26: expected a name after CREATE MATERIALIZED VIEW, found "AS"`},
		{"no name at end", "CREATE STREAMING TABLE", `1:23: expected a name after CREATE STREAMING TABLE, found end of statement`},
		{"empty quoted name", `CREATE TEMP VIEW "" AS SELECT 1`, `1:18: expected a name after CREATE TEMPORARY VIEW, found "\"\""`},
		{"bad qualified name", "CREATE STREAMING TABLE a. AS SELECT 1", `1:27: expected a name after '.', found "AS"`},
		{"unterminated string", "CREATE MATERIALIZED VIEW v AS\nSELECT 'abc;\n", "2:8: unterminated string"},
		{"unterminated quoted identifier", `CREATE MATERIALIZED VIEW "v AS SELECT 1`, "1:26: unterminated quoted identifier"},
		{"unterminated comment", "CREATE MATERIALIZED VIEW v AS SELECT 1 /* /* */", "1:40: unterminated /* comment"},
		{"unterminated dollar", "CREATE MATERIALIZED VIEW v AS SELECT $x$abc$y$", "1:38: unterminated dollar-quoted string"},
		{"unclosed paren", "CREATE MATERIALIZED VIEW v AS SELECT count(* FROM t", `1:43: unclosed "("`},
		{"unclosed paren with semicolon", "CREATE MATERIALIZED VIEW v AS SELECT (1;\nCREATE TEMP VIEW w AS SELECT 2",
			`1:38: unclosed "(" (the ";" at 1:40 is inside it: a ";" inside parentheses does not end a statement)`},
		{"stray paren", "CREATE MATERIALIZED VIEW v AS SELECT 1)", `1:39: unexpected ")" without a matching "("`},
		{"mv without as", "CREATE MATERIALIZED VIEW v COMMENT 'x'", "1:39: expected AS followed by the query: a materialized view is defined by its query"},
		{"temp view without as", "CREATE TEMP VIEW v", "1:19: expected AS followed by the query: a temporary view is defined by its query"},
		{"as without query", "CREATE STREAMING TABLE t AS", "1:28: expected a query after AS"},
		{"cluster by", "CREATE MATERIALIZED VIEW v CLUSTER BY (a) AS SELECT 1", "1:28: CLUSTER BY is not supported, use PARTITIONED BY"},
		{"unknown clause", "CREATE MATERIALIZED VIEW v LOCATION '/x' AS SELECT 1", `1:28: expected PARTITIONED BY, TBLPROPERTIES, COMMENT or AS, found "LOCATION"`},
		{"temp view clause", "CREATE TEMPORARY VIEW v PARTITIONED BY (a) AS SELECT 1", "1:25: PARTITIONED BY is not allowed on a temporary view: it is not stored"},
		{"temp view properties", "CREATE TEMPORARY VIEW v TBLPROPERTIES ('a'='b') AS SELECT 1", "1:25: TBLPROPERTIES is not allowed on a temporary view: it is not stored"},
		{"temp view unknown clause", "CREATE TEMPORARY VIEW v LOCATION 'x' AS SELECT 1", `1:25: expected COMMENT or AS followed by the query, found "LOCATION"`},
		{"duplicate comment", "CREATE MATERIALIZED VIEW v COMMENT 'a' COMMENT 'b' AS SELECT 1", "1:40: duplicate COMMENT clause"},
		{"comment not string", "CREATE MATERIALIZED VIEW v COMMENT x AS SELECT 1", `1:36: expected a string after COMMENT (COMMENT 'text'), found "x"`},
		{"late column list", "CREATE MATERIALIZED VIEW v COMMENT 'x' (a INT) AS SELECT 1", "1:40: a column list must come right after the name"},
		{"partitioned by no parens", "CREATE MATERIALIZED VIEW v PARTITIONED BY a AS SELECT 1", `1:43: PARTITIONED BY needs a parenthesized list of column names, found "a"`},
		{"partitioned by empty", "CREATE MATERIALIZED VIEW v PARTITIONED BY () AS SELECT 1", "1:44: PARTITIONED BY needs at least one column name"},
		{"partitioned by expression", "CREATE MATERIALIZED VIEW v PARTITIONED BY (year(ts)) AS SELECT 1", `1:48: expected "," or ")" in PARTITIONED BY, found "("`},
		{"partitioned by duplicate", "CREATE MATERIALIZED VIEW v PARTITIONED BY (a, A) AS SELECT 1", `1:47: duplicate column "A" in PARTITIONED BY`},
		{"tblproperties no parens", "CREATE MATERIALIZED VIEW v TBLPROPERTIES 'a' AS SELECT 1", `1:42: TBLPROPERTIES needs a parenthesized list of 'key' = 'value' pairs, found "'a'"`},
		{"tblproperties no value", "CREATE MATERIALIZED VIEW v TBLPROPERTIES ('a' = ) AS SELECT 1", `1:49: expected a value for property "a", found ")"`},
		{"tblproperties duplicate", "CREATE MATERIALIZED VIEW v TBLPROPERTIES ('a' = 1, a = 2) AS SELECT 1", `1:52: duplicate table property "a"`},
		{"empty column list", "CREATE STREAMING TABLE t ()", "1:26: empty column list: list columns and constraints, or remove the parentheses"},
		{"trailing comma", "CREATE STREAMING TABLE t (a INT,)", `1:33: expected a column definition or CONSTRAINT name EXPECT (...), found ")"`},
		{"missing comma", "CREATE STREAMING TABLE t (a INT NOT NULL b INT)", `1:42: unsupported column option "b": a column definition is name [type] [NOT NULL] [COMMENT 'text']`},
		{"column default", "CREATE STREAMING TABLE t (a INT DEFAULT 1)", `1:33: unsupported column option "DEFAULT": a column definition is name [type] [NOT NULL] [COMMENT 'text']`},
		{"column primary key", "CREATE STREAMING TABLE t (a INT PRIMARY KEY)", `1:33: only EXPECT constraints are supported (CONSTRAINT name EXPECT (condition) as an item of the column list), found "PRIMARY"`},
		{"not without null", "CREATE STREAMING TABLE t (a INT NOT)", `1:36: expected NULL after NOT, found ")"`},
		{"unclosed type", "CREATE STREAMING TABLE t (a STRUCT<b INT)", "1:41: unclosed brackets in the type of column a"},
		{"duplicate column", "CREATE STREAMING TABLE t (a INT, b INT, A TEXT)", `1:41: duplicate column "A"`},
		{"table primary key", "CREATE STREAMING TABLE t (a INT, PRIMARY KEY (a))", `1:34: only EXPECT constraints are supported (CONSTRAINT name EXPECT (condition)), found "PRIMARY"`},
		{"constraint primary key", "CREATE STREAMING TABLE t (a INT, CONSTRAINT pk PRIMARY KEY (a))", `1:48: only EXPECT constraints are supported (CONSTRAINT pk EXPECT (condition)), found "PRIMARY"`},
		{"constraint check", "CREATE STREAMING TABLE t (CONSTRAINT c CHECK (a > 0))", `1:40: only EXPECT constraints are supported (CONSTRAINT c EXPECT (condition)), found "CHECK"`},
		{"constraint without name", "CREATE STREAMING TABLE t (CONSTRAINT EXPECT (a > 0))", `1:45: expected EXPECT (condition) after CONSTRAINT EXPECT, found "("`},
		{"constraint unknown", "CREATE STREAMING TABLE t (CONSTRAINT c ENSURE (a > 0))", `1:40: expected EXPECT (condition) after CONSTRAINT c, found "ENSURE"`},
		{"expect without parens", "CREATE STREAMING TABLE t (CONSTRAINT c EXPECT a > 0)", `1:47: EXPECT needs a parenthesized boolean expression, found "a"`},
		{"expect empty", "CREATE STREAMING TABLE t (CONSTRAINT c EXPECT ())", "1:47: EXPECT needs a parenthesized boolean expression, found an empty ()"},
		{"expect trailing", "CREATE STREAMING TABLE t (CONSTRAINT c EXPECT (a) AND (b))", `1:51: expected "," or ")" in the column list, found "AND"`},
		{"violation unknown", "CREATE STREAMING TABLE t (CONSTRAINT c EXPECT (a) ON VIOLATION IGNORE)", `1:64: unknown ON VIOLATION action "IGNORE": use DROP ROW or FAIL UPDATE`},
		{"violation drop what", "CREATE STREAMING TABLE t (CONSTRAINT c EXPECT (a) ON VIOLATION DROP TABLE)", `1:64: unknown ON VIOLATION action "DROP TABLE": use DROP ROW or FAIL UPDATE`},
		{"violation missing", "CREATE STREAMING TABLE t (CONSTRAINT c EXPECT (a) ON VIOLATION)", `1:63: expected DROP ROW or FAIL UPDATE after ON VIOLATION, found ")"`},
		{"on without violation", "CREATE STREAMING TABLE t (CONSTRAINT c EXPECT (a) ON ERROR DROP ROW)", `1:54: expected VIOLATION after ON, found "ERROR"`},
		{"duplicate expectation", "CREATE STREAMING TABLE t (\n  CONSTRAINT valid_id EXPECT (a),\n  CONSTRAINT Valid_Id EXPECT (b)\n)",
			`3:3: duplicate expectation name "Valid_Id"`},

		// WATERMARK clauses.
		{"watermark negative", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF INTERVAL -5 MINUTES",
			"1:84: a watermark delay must not be negative"},
		{"watermark negative string", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF INTERVAL '-5 minutes'",
			"1:84: a watermark delay must not be negative"},
		{"watermark unknown unit", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF INTERVAL 1 MONTH",
			`1:86: unknown interval unit "MONTH": use microseconds, milliseconds, seconds, minutes, hours, days or weeks (months and years have no fixed length)`},
		{"watermark unknown unit in string", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF INTERVAL '10 fortnights'",
			`1:84: unknown interval unit "fortnights": use microseconds, milliseconds, seconds, minutes, hours, days or weeks`},
		{"watermark bad string", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF INTERVAL '00:10:00'",
			`1:84: cannot read interval "00:10:00": a unit must follow 00 (use microseconds, milliseconds, seconds, minutes, hours, days or weeks)`},
		{"watermark no unit", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF INTERVAL 10",
			"1:86: expected a unit after INTERVAL 10 (e.g. MINUTES), found end of statement"},
		{"watermark no number", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF INTERVAL MINUTES",
			`1:84: expected a number and a unit after INTERVAL (e.g. INTERVAL 10 MINUTES), found "MINUTES"`},
		{"watermark no interval keyword", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF 10 MINUTES",
			`1:75: expected INTERVAL after DELAY OF (e.g. DELAY OF INTERVAL 10 MINUTES), found "10"`},
		{"watermark no delay after stream", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) AS x WATERMARK ts",
			"1:70: expected DELAY OF INTERVAL ... after WATERMARK ts, found end of statement"},
		{"watermark no column after stream", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK DELAY OF INTERVAL 1 SECOND",
			`1:63: expected an event-time column after WATERMARK, found "DELAY"`},
		{"watermark too large", "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) WATERMARK ts DELAY OF INTERVAL 100000000 WEEKS",
			"1:84: interval 100000000 WEEKS is too large or malformed"},

		// Flows.
		{"flow no as", "CREATE FLOW f AUTO CDC INTO t", `1:15: expected AS AUTO CDC INTO ... after CREATE FLOW f, found "AUTO"`},
		{"flow append", "CREATE FLOW f AS INSERT INTO t BY NAME SELECT * FROM STREAM(s)",
			"1:18: only AUTO CDC flows are supported: expected AUTO CDC INTO or APPLY CHANGES INTO after AS, found an append flow (INSERT INTO)"},
		{"flow other", "CREATE FLOW f AS SELECT 1", `1:18: expected AUTO CDC INTO or APPLY CHANGES INTO after AS (only AUTO CDC flows are supported), found "SELECT"`},
		{"flow no target", "CREATE FLOW f AS AUTO CDC INTO FROM STREAM(s)", `1:37: expected FROM STREAM(source) after AUTO CDC INTO FROM, found "STREAM"`},
		{"flow no from", "CREATE FLOW f AS AUTO CDC INTO t KEYS (k)", `1:34: expected FROM STREAM(source) after AUTO CDC INTO t, found "KEYS"`},
		{"flow no stream", "CREATE FLOW f AS AUTO CDC INTO t FROM s KEYS (k)", `1:39: expected STREAM(source) after FROM: an AUTO CDC flow reads a stream, found "s"`},
		{"flow stream without parens", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM s KEYS (k)", `1:39: expected STREAM(source) after FROM: an AUTO CDC flow reads a stream, found "STREAM"`},
		{"flow empty stream", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM() KEYS (k)", "1:46: STREAM() needs a source: a table name or read_topic(...)/read_files(...)"},
		{"flow no keys", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) SEQUENCE BY x", `1:49: expected KEYS (...) after FROM STREAM(...), found "SEQUENCE"`},
		{"flow keys no parens", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS k SEQUENCE BY x", `1:54: KEYS needs a parenthesized list of column names, found "k"`},
		{"flow keys empty", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS () SEQUENCE BY x", "1:55: KEYS needs at least one column name"},
		{"flow keys duplicate", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (a, a) SEQUENCE BY x", `1:58: duplicate column "a" in KEYS`},
		{"flow no sequence", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k)\nAPPLY AS DELETE WHEN op = 'd'",
			"2:30: expected SEQUENCE BY <column or expression>: an AUTO CDC flow orders the changes of a key by it"},
		{"flow empty sequence", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY STORED AS SCD TYPE 1",
			`1:70: expected an expression after SEQUENCE BY, found "STORED"`},
		{"flow empty delete when", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) APPLY AS DELETE WHEN SEQUENCE BY x",
			`1:79: expected an expression after APPLY AS DELETE WHEN, found "SEQUENCE"`},
		{"flow apply as what", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) APPLY AS UPDATE WHEN x SEQUENCE BY x",
			`1:67: expected DELETE WHEN or TRUNCATE WHEN after APPLY AS, found "UPDATE"`},
		{"flow duplicate sequence", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY x SEQUENCE BY y",
			"1:72: duplicate SEQUENCE BY clause"},
		{"flow keys twice", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY x KEYS (j)",
			"1:72: KEYS must come right after FROM STREAM(...), once"},
		{"flow unknown clause", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) WHERE x > 0 SEQUENCE BY x",
			`1:58: expected IGNORE NULL UPDATES, APPLY AS DELETE WHEN, APPLY AS TRUNCATE WHEN, SEQUENCE BY, COLUMNS, STORED AS SCD TYPE or TRACK HISTORY ON, found "WHERE"`},
		{"flow scd 3", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY x STORED AS SCD TYPE 3",
			"1:91: unknown SCD type 3: use 1 or 2"},
		{"flow scd missing", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY x STORED AS DELTA",
			`1:82: expected SCD TYPE 1 or SCD TYPE 2 after STORED AS, found "DELTA"`},
		{"flow columns except no parens", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY x COLUMNS * EXCEPT op",
			`1:89: COLUMNS * EXCEPT needs a parenthesized list of column names, found "op"`},
		{"flow truncate scd2", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) APPLY AS TRUNCATE WHEN op = 't' SEQUENCE BY x STORED AS SCD TYPE 2",
			"1:58: APPLY AS TRUNCATE WHEN is supported only with SCD type 1"},
		{"flow track history scd1", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY x TRACK HISTORY ON (a)",
			"1:72: TRACK HISTORY needs STORED AS SCD TYPE 2"},
		{"flow track history no on", "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(s) KEYS (k) SEQUENCE BY x STORED AS SCD TYPE 2 TRACK HISTORY (a)",
			`1:107: expected ON after TRACK HISTORY, found "("`},
	} {
		t.Run(c.name, func(t *testing.T) {
			stmts, err := ParseFile("e.sql", []byte(c.src))
			synCheckInvariants(t, c.src, stmts, err)
			if err == nil {
				t.Fatalf("no error; parsed %s", synDump(stmts, nil))
			}
			if errs := synErrors(err); len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), err)
			}
			if got, want := err.Error(), "e.sql:"+c.want; got != want {
				t.Errorf("error\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestParseFileKeepsGoing checks that two bad statements both report, in file order, and that the
// good statements around them are still returned.
func TestParseFileKeepsGoing(t *testing.T) {
	src := "CREATE MATERIALIZED VIEW a AS SELECT 1;\n" +
		"CREATE STREAMING TABLE b (CONSTRAINT c EXPECT a > 0) AS SELECT 1;\n" +
		"CREATE TEMPORARY VIEW c AS SELECT 3;\n" +
		"UPDATE t SET x = 1;\n" +
		"CREATE MATERIALIZED VIEW d AS SELECT 4;\n"
	stmts, err := ParseFile("k.sql", []byte(src))
	synCheckInvariants(t, src, stmts, err)
	var names []string
	for _, st := range stmts {
		names = append(names, st.Name)
	}
	if !reflect.DeepEqual(names, []string{"a", "c", "d"}) {
		t.Errorf("parsed %q, want a, c, d", names)
	}
	errs := synErrors(err)
	if len(errs) != 2 {
		t.Fatalf("got %d errors, want 2: %v", len(errs), err)
	}
	want := []string{
		`k.sql:2:47: EXPECT needs a parenthesized boolean expression, found "a"`,
		`k.sql:4:1: unsupported statement "UPDATE": ` + synSupported,
	}
	for k := range want {
		if errs[k].Error() != want[k] {
			t.Errorf("error %d: %q, want %q", k, errs[k], want[k])
		}
	}
	var se *SyntaxError
	if !errors.As(err, &se) || se.Pos.Line != 2 {
		t.Errorf("errors.As finds %v, want the line 2 error", se)
	}
}

// TestParseFileLexing checks the lexical rules: ';' and WATERMARK inside strings, quoted
// identifiers, comments and dollar quotes neither split nor count; E” strings with backslashes.
func TestParseFileLexing(t *testing.T) {
	src := `CREATE MATERIALIZED VIEW "we;ird"""(
  "col;1" INT COMMENT 'it''s; fine',
  CONSTRAINT c1 EXPECT (s <> 'a;b' AND s <> $$x;y$$ AND s <> $t$WATERMARK ts DELAY OF INTERVAL 1 MONTH$t$)
) COMMENT E'line\'s; end' AS SELECT 'WATERMARK x DELAY OF INTERVAL -1 DAY;' AS s, "WATERMARK" -- WATERMARK ; x
/* ; WATERMARK x DELAY OF INTERVAL 1 MONTH */ FROM t;
CREATE TEMP VIEW "select" AS SELECT watermark FROM t WHERE watermark > 0 ORDER BY watermark;
`
	stmts, err := ParseFile("l.sql", []byte(src))
	synCheckInvariants(t, src, stmts, err)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 {
		t.Fatalf("got %d statements, want 2", len(stmts))
	}
	st := stmts[0]
	if st.Name != `we;ird"` || st.Columns[0].Name != "col;1" || st.Columns[0].Comment != "it's; fine" || st.Comment != "line's; end" {
		t.Errorf("names/comments: %q %q %q %q", st.Name, st.Columns[0].Name, st.Columns[0].Comment, st.Comment)
	}
	if want := "s <> 'a;b' AND s <> $$x;y$$ AND s <> $t$WATERMARK ts DELAY OF INTERVAL 1 MONTH$t$"; st.Expectations[0].Expr != want {
		t.Errorf("expr %q, want %q", st.Expectations[0].Expr, want)
	}
	if len(st.Watermarks) != 0 || !strings.Contains(st.Query, "/* ; WATERMARK x DELAY OF INTERVAL 1 MONTH */") {
		t.Errorf("watermarks %v in query %q", st.Watermarks, st.Query)
	}
	if len(stmts[1].Watermarks) != 0 || stmts[1].Name != "select" {
		t.Errorf("a column named watermark was taken for a clause: %+v", stmts[1])
	}
}

// TestSyntaxWatermarkIntervals checks the interval forms and units of a WATERMARK clause.
func TestSyntaxWatermarkIntervals(t *testing.T) {
	for _, c := range []struct {
		interval string
		want     time.Duration
	}{
		{"10 MINUTES", 10 * time.Minute},
		{"10 minute", 10 * time.Minute},
		{"'10' MINUTE", 10 * time.Minute},
		{"'10 minutes'", 10 * time.Minute},
		{"'1 hour 30 minutes'", 90 * time.Minute},
		{"'1 hour, 30 minutes'", 90 * time.Minute},
		{"'1hour'", time.Hour},
		{"1 HOUR 30 MINUTES", 90 * time.Minute},
		{"1.5 hours", 90 * time.Minute},
		{"0 SECONDS", 0},
		{"250 milliseconds", 250 * time.Millisecond},
		{"250 ms", 250 * time.Millisecond},
		{"7 microseconds", 7 * time.Microsecond},
		{"1 microsecond", time.Microsecond},
		{"1 millisecond", time.Millisecond},
		{"30 seconds", 30 * time.Second},
		{"1 second", time.Second},
		{"2 days", 48 * time.Hour},
		{"1 DAY", 24 * time.Hour},
		{"1 week", 7 * 24 * time.Hour},
		{"2 weeks", 14 * 24 * time.Hour},
		{"3 hrs", 3 * time.Hour},
	} {
		src := "CREATE STREAMING TABLE t AS SELECT * FROM STREAM(s) AS x\n  WATERMARK x.ts DELAY OF INTERVAL " + c.interval + " JOIN y USING (k)"
		stmts, err := ParseFile("w.sql", []byte(src))
		synCheckInvariants(t, src, stmts, err)
		if err != nil {
			t.Errorf("%s: %v", c.interval, err)
			continue
		}
		w := stmts[0].Watermarks
		if len(w) != 1 || w[0].Delay != c.want || w[0].Column != "x.ts" {
			t.Errorf("%s: watermarks %+v, want x.ts delay %s", c.interval, w, c.want)
			continue
		}
		if want := "SELECT * FROM STREAM(s) AS x\n" + strings.Repeat(" ", 2+len("WATERMARK x.ts DELAY OF INTERVAL "+c.interval)) + " JOIN y USING (k)"; stmts[0].Query != want {
			t.Errorf("%s: query\n%q, want\n%q", c.interval, stmts[0].Query, want)
		}
	}
}

// TestSyntaxPosAt maps offsets of a multi-line query with a blanked watermark back to the file.
func TestSyntaxPosAt(t *testing.T) {
	src := "CREATE STREAMING TABLE t AS\n" +
		"SELECT *\n" +
		"FROM STREAM(s) WATERMARK ts\n" +
		"  DELAY OF INTERVAL 1 MINUTE\n" +
		"WHERE x > 1"
	stmts, err := ParseFile("q.sql", []byte(src))
	synCheckInvariants(t, src, stmts, err)
	if err != nil {
		t.Fatal(err)
	}
	st := stmts[0]
	if want := "SELECT *\nFROM STREAM(s)             \n                            \nWHERE x > 1"; st.Query != want {
		t.Fatalf("query %q, want %q", st.Query, want)
	}
	k := strings.Index(st.Query, "WHERE")
	if got := st.PosAt(k); got.String() != "q.sql:5:1" {
		t.Errorf("PosAt(WHERE) = %v, want q.sql:5:1", got)
	}
	if got := st.PosAt(-5); got != st.QueryPos || got.String() != "q.sql:2:1" {
		t.Errorf("PosAt(-5) = %v, want the query position q.sql:2:1", got)
	}
	if got := st.PosAt(1 << 30); got.String() != "q.sql:5:12" {
		t.Errorf("PosAt(huge) = %v, want the end q.sql:5:12", got)
	}
	if w := st.Watermarks[0]; w.Pos.String() != "q.sql:3:16" || w.ColumnPos.String() != "q.sql:3:26" || w.Delay != time.Minute {
		t.Errorf("watermark %+v", w)
	}
	var empty Statement
	if empty.PosAt(3) != (Pos{}) {
		t.Errorf("PosAt on a statement without a query = %v", empty.PosAt(3))
	}
}

// TestSyntaxStrings checks the String methods.
func TestSyntaxStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{StreamingTable.String(), "streaming table"},
		{MaterializedView.String(), "materialized view"},
		{TemporaryView.String(), "temporary view"},
		{Flow.String(), "flow"},
		{StatementKind(0).String(), "StatementKind(0)"},
		{ActionKeep.String(), "keep"},
		{ActionDrop.String(), "drop"},
		{ActionFail.String(), "fail"},
		{Pos{File: "a.sql", Line: 3, Col: 4}.String(), "a.sql:3:4"},
		{Pos{Line: 3, Col: 4}.String(), "3:4"},
		{Pos{}.String(), "-"},
		{Pos{File: "a.sql"}.String(), "a.sql"},
		{(&SyntaxError{Pos: Pos{File: "orders.sql", Line: 12, Col: 5}, Msg: "expected AS"}).Error(), "orders.sql:12:5: expected AS"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
