package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/project"
)

// The write statements, run against real DuckDB and real files. Every test that changes a table
// applies the same statements to a plain DuckDB table (the mirror) and checks after each one that
// the Delta table holds the same rows; where python3 with deltalake is available, delta-rs must
// read every version identically.

// dmlEnv is a project with an engine.
type dmlEnv struct {
	t    testing.TB
	ctx  context.Context
	dir  string // project folder
	root string // storage root
	e    *Engine
}

func newDMLEnv(t testing.TB, opts Options) *dmlEnv {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, project.FileName), []byte("storage: ./warehouse\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts.Project = p
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(dir, "cache")
	}
	e, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &dmlEnv{t: t, ctx: context.Background(), dir: dir, root: p.StorageRoot, e: e}
}

func (env *dmlEnv) loc(name string) string {
	d, tbl, _ := strings.Cut(name, ".")
	return filepath.Join(env.root, d, tbl)
}

// run runs a script and returns the result of its last statement (query results are rendered).
func (env *dmlEnv) run(sql string) *Result {
	env.t.Helper()
	res, err := env.try(sql)
	if err != nil {
		env.t.Fatalf("%s: %v", sql, err)
	}
	return res
}

func (env *dmlEnv) try(sql string) (*Result, error) {
	var last *Result
	err := env.e.Run(env.ctx, sql, func(r *Result) error {
		if r.Records != nil {
			r.Records = nil // the caller releases; the rows are not needed
		}
		last = r
		return nil
	})
	return last, err
}

// rows runs a query and renders its rows (each value cast to text by DuckDB), sorted.
func (env *dmlEnv) rows(query string) []string {
	env.t.Helper()
	res, err := env.e.Query(env.ctx, "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM ("+query+")")
	if err != nil {
		env.t.Fatalf("%s: %v", query, err)
	}
	defer res.Records.Release()
	var out []string
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			vals := make([]string, rec.NumCols())
			for j := range vals {
				col := rec.Column(j)
				if col.IsNull(i) {
					vals[j] = "NULL"
				} else {
					vals[j] = strings.Clone(col.(*array.String).Value(i)) // Value aliases DuckDB's buffer
				}
			}
			out = append(out, strings.Join(vals, "|"))
		}
	}
	if err := res.Records.Err(); err != nil {
		env.t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// same runs stmt on the Delta table and, with the table name replaced, on the mirror, then checks
// they hold the same rows.
func (env *dmlEnv) same(table, mirror, stmt string) *Result {
	env.t.Helper()
	res := env.run(stmt)
	env.run(strings.ReplaceAll(stmt, table, mirror))
	env.check(table, mirror)
	return res
}

func (env *dmlEnv) check(table, mirror string) {
	env.t.Helper()
	got, want := env.rows("SELECT * FROM "+table), env.rows("SELECT * FROM "+mirror)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		env.t.Fatalf("%s differs from %s:\n got %v\nwant %v", table, mirror, got, want)
	}
}

func (env *dmlEnv) snapshot(name string) *delta.Snapshot {
	env.t.Helper()
	tb, err := env.e.openTable(env.ctx, env.loc(name))
	if err != nil {
		env.t.Fatal(err)
	}
	snap, err := tb.Snapshot(env.ctx, -1)
	if err != nil {
		env.t.Fatal(err)
	}
	return snap
}

// commit returns the actions of one version of a table.
func (env *dmlEnv) commit(loc string, version int64) (info delta.CommitInfo, adds, removes []string) {
	env.t.Helper()
	tb, err := env.e.openTable(env.ctx, loc)
	if err != nil {
		env.t.Fatal(err)
	}
	actions, err := tb.Kernel().ReadCommit(env.ctx, version)
	if err != nil {
		env.t.Fatal(err)
	}
	for _, a := range actions {
		switch {
		case a.CommitInfo != nil:
			info = a.CommitInfo
		case a.Add != nil:
			adds = append(adds, a.Add.Path)
		case a.Remove != nil:
			removes = append(removes, a.Remove.Path)
		}
	}
	sort.Strings(adds)
	sort.Strings(removes)
	return info, adds, removes
}

func metric(info delta.CommitInfo, name string) string {
	m, _ := info["operationMetrics"].(map[string]any)
	return fmt.Sprint(m[name])
}

func filePaths(snap *delta.Snapshot) []string {
	var out []string
	for _, f := range snap.Files() {
		out = append(out, f.Path)
	}
	sort.Strings(out)
	return out
}

// deltaRS dumps versions 0..last of the table as read by delta-rs (QueryBuilder, which applies
// deletion vectors) into Parquet files and returns their paths; nil when python3 with deltalake
// is missing.
func deltaRS(t testing.TB, loc string, last int64) []string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		return nil
	}
	dir := t.TempDir()
	script := `
import sys
try:
    import pyarrow as pa, pyarrow.parquet as pq
    from deltalake import DeltaTable, QueryBuilder
except ImportError:
    sys.exit(3)
for v in range(int(sys.argv[2]) + 1):
    dt = DeltaTable(sys.argv[1], version=v)
    tbl = pa.table(QueryBuilder().register('t', dt).execute('select * from t').read_all())
    pq.write_table(tbl, "%s/v%d.parquet" % (sys.argv[3], v))
`
	msg, err := exec.Command("python3", "-c", script, loc, fmt.Sprint(last), dir).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		return nil
	}
	if err != nil {
		t.Fatalf("delta-rs read of %s: %v\n%s", loc, err, msg)
	}
	out := make([]string, last+1)
	for v := range out {
		out[v] = filepath.Join(dir, fmt.Sprintf("v%d.parquet", v))
	}
	return out
}

// checkDeltaRS checks that delta-rs reads every version of the table as Strata does.
func (env *dmlEnv) checkDeltaRS(loc string) {
	env.t.Helper()
	tb, err := env.e.openTable(env.ctx, loc)
	if err != nil {
		env.t.Fatal(err)
	}
	snap, err := tb.Snapshot(env.ctx, -1)
	if err != nil {
		env.t.Fatal(err)
	}
	paths := deltaRS(env.t, loc, snap.Version())
	if paths == nil {
		env.t.Log("python3 with deltalake not available: delta-rs check skipped")
		return
	}
	for v, p := range paths {
		vsnap, err := tb.Snapshot(env.ctx, int64(v))
		if err != nil {
			env.t.Fatal(err)
		}
		cols := make([]string, len(vsnap.Schema().Fields))
		for i, f := range vsnap.Schema().Fields {
			cols[i] = quoteIdent(f.Name)
		}
		sel := strings.Join(cols, ", ")
		ours := env.rows(fmt.Sprintf("SELECT %s FROM delta_scan(%s, version => %d)", sel, quoteString(loc), v))
		theirs := env.rows(fmt.Sprintf("SELECT %s FROM read_parquet(%s)", sel, quoteString(p)))
		if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
			env.t.Fatalf("%s version %d: Strata and delta-rs differ:\nstrata   %v\ndelta-rs %v", loc, v, ours, theirs)
		}
	}
}

func TestCreateTable(t *testing.T) {
	env := newDMLEnv(t, Options{})
	res := env.run(`CREATE TABLE sales.orders PARTITIONED BY (country) COMMENT 'the orders'
		TBLPROPERTIES ('delta.appendOnly' = 'false', delta.dataSkippingNumIndexedCols = 3, 'owner' = 'ann')
		AS SELECT range AS id, CASE WHEN range % 2 = 0 THEN 'ES' ELSE 'FR' END AS country, range * 1.5 AS amount,
		   DATE '2024-01-01' + CAST(range AS INTEGER) AS day, 'x' || range AS note
		   FROM range(10)`)
	if res.Fields["version"] != int64(0) || !strings.Contains(res.Message, "created sales.orders with 10 rows") {
		t.Fatalf("CTAS result: %s %v", res.Message, res.Fields)
	}
	snap := env.snapshot("sales.orders")
	md := snap.Metadata()
	if got := strings.Join(md.PartitionColumns, ","); got != "country" {
		t.Errorf("partition columns %q", got)
	}
	if md.Configuration["owner"] != "ann" || md.Configuration["delta.dataSkippingNumIndexedCols"] != "3" || md.Description == nil || *md.Description != "the orders" {
		t.Errorf("metadata: %+v", md)
	}
	if got := snap.Schema().String(); !strings.Contains(got, "id") || len(snap.Schema().Fields) != 5 {
		t.Errorf("schema %s", got)
	}
	if len(snap.Files()) != 2 {
		t.Errorf("want one file per partition, got %d", len(snap.Files()))
	}
	info, adds, _ := env.commit(env.loc("sales.orders"), 0)
	if info["operation"] != "CREATE TABLE AS SELECT" || metric(info, "numOutputRows") != "10" || len(adds) != 2 {
		t.Errorf("commit 0: %v adds %v", info, adds)
	}
	if got := env.rows("SELECT id, country, amount, day FROM sales.orders WHERE id IN (0, 3)"); strings.Join(got, ";") != "0|ES|0.0|2024-01-01;3|FR|4.5|2024-01-04" {
		t.Errorf("rows %v", got)
	}

	// An existing table: an error, nothing with IF NOT EXISTS, replaced with OR REPLACE.
	_, err := env.try("CREATE TABLE sales.orders AS SELECT 1 AS x")
	if !errors.Is(err, delta.ErrTableExists) {
		t.Errorf("CREATE over an existing table: %v", err)
	}
	res = env.run("CREATE TABLE IF NOT EXISTS sales.orders AS SELECT 1 AS x")
	if res.Fields["committed"] != false || env.snapshot("sales.orders").Version() != 0 {
		t.Errorf("IF NOT EXISTS: %v", res.Fields)
	}
	res = env.run("CREATE OR REPLACE TABLE sales.orders AS SELECT 'a' AS name, 42::INTEGER AS n")
	snap = env.snapshot("sales.orders")
	if snap.Version() != 1 || len(snap.Schema().Fields) != 2 || len(snap.PartitionColumns()) != 0 || md.ID != snap.Metadata().ID {
		t.Errorf("OR REPLACE: version %d schema %s parts %v", snap.Version(), snap.Schema(), snap.PartitionColumns())
	}
	info, adds, removes := env.commit(env.loc("sales.orders"), 1)
	if info["operation"] != "CREATE OR REPLACE TABLE AS SELECT" || len(adds) != 1 || len(removes) != 2 {
		t.Errorf("OR REPLACE commit: %v adds %v removes %v", info, adds, removes)
	}
	if got := env.rows("SELECT * FROM sales.orders"); strings.Join(got, ";") != "a|42" {
		t.Errorf("after OR REPLACE: %v", got)
	}

	// Column definitions: an empty table.
	env.run("CREATE TABLE sales.customers (id BIGINT NOT NULL, name STRING, signup DATE, tags ARRAY<STRING>) PARTITIONED BY (signup)")
	snap = env.snapshot("sales.customers")
	if snap.Version() != 0 || len(snap.Files()) != 0 || snap.Schema().Field("id").Nullable || snap.Schema().Field("tags") == nil {
		t.Errorf("CREATE TABLE (cols): %s", snap.Schema())
	}
	_, err = env.try("REPLACE TABLE sales.nothing (a INT)")
	if !errors.Is(err, ErrUnknownTable) {
		t.Errorf("REPLACE TABLE of a missing table: %v", err)
	}

	// By location, and timestamp_ntz / timestamptz columns.
	loc := filepath.Join(env.dir, "bypath")
	env.run(fmt.Sprintf("CREATE TABLE delta.`%s` AS SELECT TIMESTAMP '2024-01-02 03:04:05' AS ntz, TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz, 1::UTINYINT AS small, 7::UBIGINT AS big", loc))
	if got := env.rows(fmt.Sprintf("SELECT * FROM delta_scan('%s')", loc)); strings.Join(got, ";") != "2024-01-02 03:04:05|2024-01-02 03:04:05+00|1|7" {
		t.Errorf("by path: %v", got)
	}
	env.checkDeltaRS(env.loc("sales.orders"))
	env.checkDeltaRS(loc)

	// DuckDB's own tables stay DuckDB's.
	env.run("CREATE TABLE main.plain AS SELECT 1 AS x")
	env.run("CREATE TABLE plain2 AS SELECT 1 AS x")
	if got := env.rows("SELECT * FROM plain"); len(got) != 1 {
		t.Errorf("DuckDB table: %v", got)
	}
	if _, err := os.Stat(filepath.Join(env.loc("main.plain"), "_delta_log")); !os.IsNotExist(err) {
		t.Errorf("main.plain became a Delta table")
	}
}

func TestInsert(t *testing.T) {
	env := newDMLEnv(t, Options{})
	env.run("CREATE TABLE sales.orders (id BIGINT NOT NULL, country STRING, amount DOUBLE, note STRING) PARTITIONED BY (country)")
	env.run("CREATE TABLE mirror (id BIGINT NOT NULL, country VARCHAR, amount DOUBLE, note VARCHAR)")
	const tbl, mir = "sales.orders", "mirror"

	res := env.same(tbl, mir, "INSERT INTO sales.orders VALUES (1, 'ES', 10.5, 'a'), (2, 'FR', 20, NULL), (3, 'ES', NULL, 'c')")
	if res.Fields["version"] != int64(1) || !strings.Contains(res.Message, "inserted 3 rows") {
		t.Fatalf("insert: %s", res.Message)
	}
	info, adds, _ := env.commit(env.loc(tbl), 1)
	if info["operation"] != "WRITE" || info["isBlindAppend"] != true || metric(info, "numOutputRows") != "3" || len(adds) != 2 {
		t.Errorf("insert commit: %v %v", info, adds)
	}
	env.same(tbl, mir, "INSERT INTO sales.orders (id, country) VALUES (4, 'DE')")
	env.same(tbl, mir, "INSERT INTO sales.orders BY NAME SELECT 'IT' AS country, 5 AS id, 'by name' AS note")
	env.run("INSERT INTO TABLE sales.orders SELECT id + 10, country, amount * 2, note FROM sales.orders WHERE country = 'ES'")
	env.run("INSERT INTO mirror SELECT id + 10, country, amount * 2, note FROM mirror WHERE country = 'ES'")
	env.check(tbl, mir)
	info, _, _ = env.commit(env.loc(tbl), 4)
	if info["isBlindAppend"] != false {
		t.Errorf("an INSERT reading its target is not a blind append: %v", info)
	}
	// Nothing to insert: no commit.
	res = env.same(tbl, mir, "INSERT INTO sales.orders SELECT * FROM sales.orders WHERE false")
	if res.Fields["committed"] != false {
		t.Errorf("empty insert committed: %v", res.Fields)
	}
	// NOT NULL is enforced, and nothing is committed.
	if _, err := env.try("INSERT INTO sales.orders VALUES (NULL, 'ES', 1, 'x')"); err == nil || !strings.Contains(err.Error(), "NOT NULL") {
		t.Errorf("NULL into NOT NULL: %v", err)
	}
	// Static partition.
	env.run("INSERT INTO sales.orders PARTITION (country = 'PT') SELECT 30, 3.0, 'pt'")
	env.run("INSERT INTO mirror VALUES (30, 'PT', 3.0, 'pt')")
	env.check(tbl, mir)

	// REPLACE WHERE over a partition column: whole files.
	v := env.snapshot(tbl).Version()
	env.run("INSERT INTO sales.orders REPLACE WHERE country = 'ES' SELECT 100, 'ES', 1.0, 'new es'")
	env.run("DELETE FROM mirror WHERE country = 'ES'; INSERT INTO mirror VALUES (100, 'ES', 1.0, 'new es')")
	env.check(tbl, mir)
	info, adds, removes := env.commit(env.loc(tbl), v+1)
	if info["operation"] != "WRITE" || len(adds) != 1 || len(removes) != 2 || !strings.Contains(fmt.Sprint(info["operationParameters"]), "Overwrite") {
		t.Errorf("replace where commit: %v adds %v removes %v", info, adds, removes)
	}
	// A row outside the predicate fails the statement.
	if _, err := env.try("INSERT INTO sales.orders REPLACE WHERE country = 'ES' SELECT 101, 'FR', 1.0, 'wrong'"); err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Errorf("row outside REPLACE WHERE: %v", err)
	}
	// INSERT OVERWRITE ... REPLACE WHERE over a data column: rows are replaced copy-on-write.
	env.run("INSERT OVERWRITE sales.orders REPLACE WHERE amount > 15 SELECT 200, 'FR', 99.0, 'big'")
	env.run("DELETE FROM mirror WHERE amount > 15; INSERT INTO mirror VALUES (200, 'FR', 99.0, 'big')")
	env.check(tbl, mir)
	// Static partition overwrite replaces that partition.
	env.run("INSERT OVERWRITE sales.orders PARTITION (country = 'FR') SELECT 300, 0.5, 'fr only'")
	env.run("DELETE FROM mirror WHERE country = 'FR'; INSERT INTO mirror VALUES (300, 'FR', 0.5, 'fr only')")
	env.check(tbl, mir)
	// Whole-table overwrite.
	env.run("INSERT OVERWRITE TABLE sales.orders SELECT * FROM (VALUES (7, 'NL', 7.0, 'seven')) v(a, b, c, d)")
	env.run("DELETE FROM mirror; INSERT INTO mirror VALUES (7, 'NL', 7.0, 'seven')")
	env.check(tbl, mir)
	if got := len(env.snapshot(tbl).Files()); got != 1 {
		t.Errorf("after overwrite: %d files", got)
	}
	env.checkDeltaRS(env.loc(tbl))
}

func TestDeleteUpdate(t *testing.T) {
	env := newDMLEnv(t, Options{})
	const tbl, mir = "sales.orders", "mirror"
	// Four files in two partitions: every statement below touches some of them only.
	env.run("CREATE TABLE sales.orders (id BIGINT, country STRING, amount DOUBLE, note STRING) PARTITIONED BY (country)")
	env.run("CREATE TABLE mirror (id BIGINT, country VARCHAR, amount DOUBLE, note VARCHAR)")
	for b := 0; b < 2; b++ {
		env.same(tbl, mir, fmt.Sprintf("INSERT INTO sales.orders SELECT range + %d, CASE WHEN range %% 2 = 0 THEN 'ES' ELSE 'FR' END, range * 1.0, 'n' || range FROM range(50)", b*100))
	}
	env.run("CREATE TABLE sales.vip AS SELECT * FROM (VALUES (3), (104), (7)) v(id)")

	// A data predicate: only the files holding matching rows are rewritten.
	before := filePaths(env.snapshot(tbl))
	res := env.same(tbl, mir, "DELETE FROM sales.orders WHERE id = 3")
	if !strings.Contains(res.Message, "deleted 1 rows") {
		t.Errorf("delete: %s", res.Message)
	}
	v := env.snapshot(tbl).Version()
	info, adds, removes := env.commit(env.loc(tbl), v)
	if info["operation"] != "DELETE" || metric(info, "numDeletedRows") != "1" || metric(info, "numRemovedFiles") != "1" ||
		metric(info, "numAddedFiles") != "1" || metric(info, "numCopiedRows") != "24" || len(removes) != 1 || len(adds) != 1 {
		t.Errorf("delete commit: %v adds %v removes %v", info, adds, removes)
	}
	after := filePaths(env.snapshot(tbl))
	kept := 0
	for _, p := range before {
		for _, q := range after {
			if p == q {
				kept++
			}
		}
	}
	if kept != 3 {
		t.Errorf("copy-on-write kept %d of 4 files (want 3): before %v after %v", kept, before, after)
	}
	// Partition predicate: whole files removed, nothing written.
	res = env.same(tbl, mir, "DELETE FROM sales.orders WHERE country = 'FR' AND country IS NOT NULL")
	info, adds, removes = env.commit(env.loc(tbl), env.snapshot(tbl).Version())
	if len(adds) != 0 || len(removes) != 2 || metric(info, "numDeletedRows") != "49" {
		t.Errorf("partition delete: %s %v adds %v removes %v", res.Message, info, adds, removes)
	}
	// Subqueries over another Delta table and over the target itself; aliases; USING.
	env.run("CREATE TABLE mvip AS SELECT * FROM (VALUES (3), (104), (7)) v(id)")
	env.run("DELETE FROM sales.orders o WHERE o.id IN (SELECT id FROM sales.vip)")
	env.run("DELETE FROM mirror o WHERE o.id IN (SELECT id FROM mvip)")
	env.check(tbl, mir)
	env.same(tbl, mir, "DELETE FROM sales.orders AS x WHERE x.amount > (SELECT avg(amount) + 10 FROM sales.orders)")
	env.run("DELETE FROM sales.orders USING sales.vip v WHERE sales.orders.id = v.id + 1")
	env.run("DELETE FROM mirror USING mvip v WHERE mirror.id = v.id + 1")
	env.check(tbl, mir)
	// A statement that matches nothing commits nothing.
	res = env.same(tbl, mir, "DELETE FROM sales.orders WHERE id < 0")
	if res.Fields["committed"] != false {
		t.Errorf("empty delete committed")
	}

	// UPDATE: expressions, partition column changes (rows move between partitions), FROM joins.
	want := env.rows("SELECT count(*) FROM mirror WHERE id % 10 = 2")[0]
	env.same(tbl, mir, "UPDATE sales.orders SET amount = amount * 2, note = upper(note) WHERE id % 10 = 2")
	v = env.snapshot(tbl).Version()
	info, _, _ = env.commit(env.loc(tbl), v)
	if info["operation"] != "UPDATE" || metric(info, "numUpdatedRows") != want {
		t.Errorf("update commit: want %s updated rows: %v", want, info)
	}
	env.same(tbl, mir, "UPDATE sales.orders SET country = 'PT' WHERE id BETWEEN 100 AND 110")
	env.run("UPDATE sales.orders AS o SET note = 'vip ' || v.id FROM sales.vip v WHERE o.id = v.id + 4")
	env.run("UPDATE mirror AS o SET note = 'vip ' || v.id FROM mvip v WHERE o.id = v.id + 4")
	env.check(tbl, mir)
	env.same(tbl, mir, "UPDATE sales.orders SET note = NULL WHERE country = 'PT'")
	env.same(tbl, mir, "UPDATE sales.orders SET amount = -1")
	// An update that changes no value commits nothing.
	res = env.same(tbl, mir, "UPDATE sales.orders SET amount = amount WHERE id = 0")
	if res.Fields["committed"] != false {
		t.Errorf("no-op update committed: %v", res.Fields)
	}
	env.same(tbl, mir, "DELETE FROM sales.orders")
	if n := len(env.snapshot(tbl).Files()); n != 0 {
		t.Errorf("DELETE without WHERE left %d files", n)
	}
	env.checkDeltaRS(env.loc(tbl))
}

func TestMerge(t *testing.T) {
	env := newDMLEnv(t, Options{})
	const tbl, mir = "sales.customers", "mcustomers"
	env.run("CREATE TABLE sales.customers (id BIGINT, name STRING, tier STRING, visits INTEGER) PARTITIONED BY (tier)")
	env.run("CREATE TABLE mcustomers (id BIGINT, name VARCHAR, tier VARCHAR, visits INTEGER)")
	env.same(tbl, mir, "INSERT INTO sales.customers SELECT range, 'c' || range, CASE WHEN range < 10 THEN 'gold' ELSE 'basic' END, range::INTEGER FROM range(40)")
	env.run("CREATE TABLE sales.updates AS SELECT * FROM (VALUES (5, 'five', 'gold', 50), (15, 'fifteen', 'gold', 150), (45, 'new45', 'basic', 1), (46, 'new46', 'gold', 2)) v(id, name, tier, visits)")
	env.run("CREATE TABLE mupdates AS SELECT * FROM (VALUES (5, 'five', 'gold', 50), (15, 'fifteen', 'gold', 150), (45, 'new45', 'basic', 1), (46, 'new46', 'gold', 2)) v(id, name, tier, visits)")
	merge := func(stmt string) *Result {
		t.Helper()
		res := env.run(stmt)
		m := strings.NewReplacer("sales.customers USING", "mcustomers AS customers USING", tbl, mir, "sales.updates", "mupdates").Replace(stmt)
		env.run(m)
		env.check(tbl, mir)
		return res
	}
	res := merge(`MERGE INTO sales.customers t USING sales.updates s ON t.id = s.id
		WHEN MATCHED AND s.visits > 100 THEN DELETE
		WHEN MATCHED THEN UPDATE SET name = s.name, visits = t.visits + s.visits
		WHEN NOT MATCHED AND s.tier = 'basic' THEN INSERT (id, name, tier, visits) VALUES (s.id, s.name, s.tier, s.visits)`)
	info, _, _ := env.commit(env.loc(tbl), env.snapshot(tbl).Version())
	if info["operation"] != "MERGE" || metric(info, "numTargetRowsInserted") != "1" || metric(info, "numTargetRowsUpdated") != "1" ||
		metric(info, "numTargetRowsDeleted") != "1" || metric(info, "numSourceRows") != "4" {
		t.Errorf("merge commit: %s %v", res.Message, info)
	}
	// Spark's * forms, NOT MATCHED BY SOURCE with a condition, BY TARGET.
	merge(`MERGE INTO sales.customers USING sales.updates AS u ON customers.id = u.id
		WHEN MATCHED THEN UPDATE SET *
		WHEN NOT MATCHED BY TARGET THEN INSERT *
		WHEN NOT MATCHED BY SOURCE AND customers.visits < 3 THEN DELETE
		WHEN NOT MATCHED BY SOURCE AND customers.tier = 'gold' THEN UPDATE SET visits = visits + 1000`)
	// A subquery source, insert-only.
	merge(`MERGE INTO sales.customers AS t USING (SELECT id + 100 AS id, name FROM sales.updates) AS s ON t.id = s.id
		WHEN NOT MATCHED THEN INSERT (id, name, tier) VALUES (s.id, s.name, 'new')`)
	v := env.snapshot(tbl).Version()
	_, adds, removes := env.commit(env.loc(tbl), v)
	if len(removes) != 0 || len(adds) != 1 {
		t.Errorf("insert-only merge rewrote files: adds %v removes %v", adds, removes)
	}

	// Duplicate matches: an error, nothing committed...
	env.run("CREATE TABLE sales.dups AS SELECT * FROM (VALUES (20, 'a'), (20, 'b'), (21, 'c')) v(id, name)")
	_, err := env.try("MERGE INTO sales.customers t USING sales.dups s ON t.id = s.id WHEN MATCHED THEN UPDATE SET name = s.name")
	if !errors.Is(err, ErrMergeDuplicateMatch) {
		t.Fatalf("duplicate match: %v", err)
	}
	if env.snapshot(tbl).Version() != v {
		t.Fatalf("a failed MERGE committed")
	}
	// ... unless the match condition excludes the duplicates, or the only action deletes.
	env.run("MERGE INTO sales.customers t USING sales.dups s ON t.id = s.id WHEN MATCHED AND s.name <> 'a' AND s.name <> 'b' THEN UPDATE SET name = s.name")
	env.run("UPDATE mcustomers SET name = 'c' WHERE id = 21")
	env.check(tbl, mir)
	env.run("MERGE INTO sales.customers t USING sales.dups s ON t.id = s.id WHEN MATCHED THEN DELETE")
	env.run("DELETE FROM mcustomers WHERE id IN (20, 21)")
	env.check(tbl, mir)
	env.checkDeltaRS(env.loc(tbl))
}

// TestDMLTableFeatures: column mapping (physical names in the files), nested types (DuckDB updates
// a LIST column as delete + insert), timestamps of both kinds, and a table whose touched files are
// selected with the range join (many non-adjacent touched files).
func TestDMLTableFeatures(t *testing.T) {
	env := newDMLEnv(t, Options{})
	const tbl, mir = "sales.events", "mirror"
	env.run(`CREATE TABLE sales.events PARTITIONED BY (day) TBLPROPERTIES ('delta.columnMapping.mode' = 'name') AS
		SELECT range AS id, DATE '2024-03-01' + CAST(range % 3 AS INTEGER) AS day, [range, range + 1] AS tags,
		       {'city': 'c' || range, 'zip': range::INTEGER} AS address, MAP {'k': range} AS attrs,
		       TIMESTAMPTZ '2024-03-01 10:00:00+00' + INTERVAL (range) MINUTE AS seen_at, TIMESTAMP '2024-03-01 10:00:00' AS local_at,
		       range::DECIMAL(10, 2) / 4 AS price
		FROM range(30)`)
	env.run("CREATE TABLE mirror AS SELECT * FROM sales.events")
	if env.snapshot(tbl).ColumnMappingMode() != "name" {
		t.Fatal("column mapping not enabled")
	}
	for _, stmt := range []string{
		"UPDATE sales.events SET tags = list_append(tags, 99) WHERE id % 4 = 0",
		"UPDATE sales.events SET address = {'city': 'moved', 'zip': 0}, price = price * 2 WHERE id BETWEEN 5 AND 9",
		"DELETE FROM sales.events WHERE address.zip > 25 OR attrs['k'] = 3",
		"INSERT INTO sales.events BY NAME SELECT 100 AS id, DATE '2024-03-02' AS day, [1] AS tags",
		"UPDATE sales.events SET day = day + 1, seen_at = seen_at + INTERVAL 1 HOUR WHERE id = 1",
	} {
		env.same(tbl, mir, stmt)
	}
	matched := env.rows("SELECT count(*) FROM mirror WHERE id IN (SELECT range FROM range(0, 40, 7))")[0]
	env.run(`MERGE INTO sales.events t USING (SELECT range AS id, [0] AS tags FROM range(0, 40, 7)) s ON t.id = s.id
		WHEN MATCHED THEN UPDATE SET tags = s.tags WHEN NOT MATCHED THEN INSERT (id, tags, day) VALUES (s.id, s.tags, DATE '2024-04-01')`)
	info, _, _ := env.commit(env.loc(tbl), env.snapshot(tbl).Version())
	if metric(info, "numTargetRowsUpdated") != matched || metric(info, "numTargetRowsDeleted") != "0" {
		t.Errorf("MERGE updating a LIST column: want %s updated, 0 deleted: %v", matched, info["operationMetrics"])
	}
	env.run(`MERGE INTO mirror t USING (SELECT range AS id, [0] AS tags FROM range(0, 40, 7)) s ON t.id = s.id
		WHEN MATCHED THEN UPDATE SET tags = s.tags WHEN NOT MATCHED THEN INSERT (id, tags, day) VALUES (s.id, s.tags, DATE '2024-04-01')`)
	env.check(tbl, mir)
	env.checkDeltaRS(env.loc(tbl))

	// Many touched files that are not adjacent in the shadow table: the range-join path.
	defer func(n int) { maxSpanPredicates = n }(maxSpanPredicates)
	maxSpanPredicates = 1
	env.run("CREATE TABLE sales.many (id BIGINT, v STRING)")
	env.run("CREATE TABLE mmany (id BIGINT, v VARCHAR)")
	for i := 0; i < 8; i++ {
		env.same("sales.many", "mmany", fmt.Sprintf("INSERT INTO sales.many SELECT range + %d, 'v' FROM range(10)", i*10))
	}
	res := env.same("sales.many", "mmany", "UPDATE sales.many SET v = 'even' WHERE (id // 10) % 2 = 0 AND id % 10 = 5")
	info, adds, removes := env.commit(env.loc("sales.many"), env.snapshot("sales.many").Version())
	if len(removes) != 4 || metric(info, "numUpdatedRows") != "4" || metric(info, "numCopiedRows") != "36" {
		t.Errorf("update of every other file: %s %v adds %v removes %v", res.Message, info, adds, removes)
	}
	env.same("sales.many", "mmany", "MERGE INTO sales.many t USING (SELECT range * 20 AS id FROM range(4)) s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED BY SOURCE AND t.id % 20 = 1 THEN UPDATE SET v = 'by source'")
	// UPDATE clauses both for matched rows and by source (DuckDB crashes on RETURNING there).
	res = env.same("sales.many", "mmany", "MERGE INTO sales.many t USING (SELECT range * 20 + 2 AS id, 'm' AS v FROM range(5)) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED BY SOURCE AND t.id % 20 = 3 THEN UPDATE SET v = 'by source' WHEN NOT MATCHED THEN INSERT *")
	info, _, _ = env.commit(env.loc("sales.many"), env.snapshot("sales.many").Version())
	if metric(info, "numTargetRowsUpdated") != "8" || metric(info, "numTargetRowsInserted") != "1" {
		t.Errorf("%s: %v", res.Message, info["operationMetrics"])
	}
}

// TestDMLPruning: the files a DELETE, UPDATE or MERGE loads are those whose statistics may hold
// matching rows; the others are neither read nor rewritten.
func TestDMLPruning(t *testing.T) {
	env := newDMLEnv(t, Options{})
	env.run("CREATE TABLE sales.t (id BIGINT, v STRING)")
	env.run("CREATE TABLE mirror (id BIGINT, v VARCHAR)")
	for i := 0; i < 5; i++ {
		env.same("sales.t", "mirror", fmt.Sprintf("INSERT INTO sales.t SELECT range + %d, 'v' || range FROM range(100)", i*100))
	}
	for _, tc := range []struct {
		stmt    string
		scanned int
	}{
		{"DELETE FROM sales.t WHERE id = 150", 1},
		{"UPDATE sales.t SET v = 'x' WHERE id BETWEEN 310 AND 320", 1},
		{"DELETE FROM sales.t AS t WHERE t.id >= 395 AND t.id < 405 AND t.v LIKE 'v%'", 2},
		{"MERGE INTO sales.t t USING (SELECT range + 420 AS id FROM range(5)) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 'm' WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, 'new')", 1},
		{"MERGE INTO sales.t t USING (SELECT 1000 AS id) s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, 'new')", 0},
	} {
		res := env.same("sales.t", "mirror", tc.stmt)
		if len(res.Scans) == 0 || res.Scans[0].FilesScanned != tc.scanned {
			t.Errorf("%s: scanned %+v, want %d files", tc.stmt, res.Scans, tc.scanned)
		}
	}
	env.checkDeltaRS(env.loc("sales.t"))
}

// TestDMLErrors: what a write statement refuses, and how it says so.
func TestDMLErrors(t *testing.T) {
	env := newDMLEnv(t, Options{})
	env.run("CREATE TABLE sales.t AS SELECT range AS id, 'v' || range AS v FROM range(5)")
	env.run("CREATE TABLE sales.log TBLPROPERTIES ('delta.appendOnly' = 'true') AS SELECT 1 AS id")
	env.run("CREATE TABLE sales.feed TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true') AS SELECT range AS id FROM range(3)")
	cases := []struct {
		sql  string
		is   error  // errors.Is target, or nil
		text string // substring of the message
	}{
		{"DELETE FROM sales.nothing WHERE id = 1", ErrUnknownTable, "sales.nothing"},
		{"INSERT INTO sales.nothing VALUES (1)", ErrUnknownTable, "sales.nothing"},
		{"DELETE FROM sales.log WHERE id = 1", delta.ErrInvalidArgument, "append-only"},
		{"UPDATE sales.log SET id = 2", delta.ErrInvalidArgument, "append-only"},
		{"INSERT OVERWRITE sales.log SELECT 2", delta.ErrInvalidArgument, "append-only"},
		{"UPDATE sales.feed SET id = 5 WHERE id = 1", delta.ErrUnsupportedFeature, "change data feed"},
		{"UPDATE sales.t SET nope = 1", nil, "nope not found"},
		{"UPDATE sales.t SET v = 1 WHERE nope = 2", nil, "sales.t"},
		{"DELETE FROM sales.t WHER id = 1", nil, "WHER"},
		{"INSERT INTO sales.t VALUES (1, 'a', 'extra')", nil, "sales.t"},
		{"INSERT OR REPLACE INTO sales.t VALUES (1, 'a')", nil, "MERGE"},
		{"MERGE INTO sales.t t USING (SELECT 1 AS id) s ON t.id = s.id WHEN NOT MATCHED THEN INSERT *", nil, "v"},
		{"MERGE INTO sales.t t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 'x' RETURNING *", nil, "RETURNING"},
		{"CREATE TABLE sales.bad (a INT) AS SELECT 1", nil, "not both"},
		{"CREATE TABLE sales.bad PARTITIONED BY (nope) AS SELECT 1 AS a, 2 AS b", delta.ErrInvalidArgument, "nope"},
		{"INSERT INTO sales.t REPLACE WHERE id = 1", nil, "query"},
	}
	for _, c := range cases {
		v := env.snapshot("sales.t").Version()
		_, err := env.try(c.sql)
		if err == nil {
			t.Errorf("%s: no error", c.sql)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.sql, err, c.is)
		}
		if !strings.Contains(err.Error(), c.text) || strings.Contains(err.Error(), "strata_target") || strings.Contains(err.Error(), "strata_insert") {
			t.Errorf("%s: message %q should name %q and not Strata's temporary tables", c.sql, err, c.text)
		}
		if env.snapshot("sales.t").Version() != v {
			t.Errorf("%s: a failed statement committed", c.sql)
		}
	}
	// What the flags still allow: appends, and whole-file deletes on a change-data-feed table.
	env.run("INSERT INTO sales.log VALUES (2)")
	env.run("DELETE FROM sales.feed")
	// Without a project, tables by location.
	bare, err := Open(context.Background(), Options{CacheDir: filepath.Join(env.dir, "cache3")})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	loc := env.loc("sales.t")
	for _, sql := range []string{
		"INSERT INTO delta.`" + loc + "` VALUES (10, 'ten')",
		"DELETE FROM delta_scan('" + loc + "') WHERE id = 0",
		"UPDATE delta.`" + loc + "` SET v = upper(v) WHERE id = 10",
		"MERGE INTO delta.`" + loc + "` USING (SELECT 1 AS id) s ON target.id = s.id WHEN MATCHED THEN DELETE",
	} {
		if err := bare.Run(env.ctx, sql, func(*Result) error { return nil }); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if got := strings.Join(env.rows("SELECT * FROM sales.t"), ";"); got != "10|TEN;2|v2;3|v3;4|v4" {
		t.Errorf("after statements by location: %s", got)
	}
}
