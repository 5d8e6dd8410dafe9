package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/table"
)

// ordersSchema is the test tables' schema: (id BIGINT, country STRING).
var ordersSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// rowsSource is a table.Source over rows (id, country) held in memory.
type rowsSource struct {
	ids       []int64
	countries []string
}

func (s rowsSource) Schema() *arrow.Schema { return ordersSchema }

func (s rowsSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, target)
	defer b.Release()
	for i, id := range s.ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.StringBuilder).Append(s.countries[i])
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return array.NewRecordReader(target, []arrow.RecordBatch{rec})
}

func rows(countries ...string) rowsSource {
	s := rowsSource{countries: countries}
	for i := range countries {
		s.ids = append(s.ids, int64(i+1))
	}
	return s
}

// writeTable writes src into the table at loc (creating it partitioned by country) and returns the
// version committed.
func writeTable(t *testing.T, loc string, src rowsSource, mode table.Mode, opts ...table.Option) int64 {
	t.Helper()
	tbl, err := table.Open(context.Background(), loc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tbl.Write(context.Background(), src, table.WriteOptions{Mode: mode, CreatePartitionBy: []string{"country"}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Version
}

// newProject makes a project in a temporary folder and returns it.
func newProject(t *testing.T) *project.Project {
	t.Helper()
	p, err := project.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func openEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	e, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// queryRows runs one statement and returns its rows as JSON objects (values as Go's json decodes
// them), with the result's Message.
func queryRows(t *testing.T, e *Engine, sql string) ([]map[string]any, *Result) {
	t.Helper()
	res, err := e.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return readRows(t, res), res
}

func readRows(t *testing.T, res *Result) []map[string]any {
	t.Helper()
	if res.Records == nil {
		return nil
	}
	defer res.Records.Release()
	var out []map[string]any
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		b, err := rec.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var rs []map[string]any
		if err := json.Unmarshal(b, &rs); err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	if err := res.Records.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// columnNames returns a result's column names.
func columnNames(res *Result) []string {
	var names []string
	for _, f := range res.Records.Schema().Fields() {
		names = append(names, f.Name)
	}
	return names
}

func TestDescribeHistory(t *testing.T) {
	p := newProject(t)
	loc, _ := p.TableLocation("sales", "orders")
	writeTable(t, loc, rows("ES", "FR"), table.Append)
	writeTable(t, loc, rows("DE"), table.Append)
	writeTable(t, loc, rows("ES"), table.Overwrite)
	e := openEngine(t, Options{Project: p})

	for _, tc := range []struct {
		sql      string
		versions []float64
	}{
		{"DESCRIBE HISTORY sales.orders", []float64{3, 2, 1, 0}},
		{"describe history sales.orders limit 2", []float64{3, 2}},
		{"DESC HISTORY delta.`" + loc + "` LIMIT 1", []float64{3}},
		{"DESCRIBE HISTORY delta_scan('" + loc + "')", []float64{3, 2, 1, 0}},
	} {
		got, res := queryRows(t, e, tc.sql)
		want := []string{"version", "timestamp", "operation", "operationParameters", "readVersion", "isBlindAppend", "operationMetrics", "userMetadata", "engineInfo"}
		if names := columnNames(res); strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: columns %v, want %v", tc.sql, names, want)
		}
		if len(got) != len(tc.versions) {
			t.Fatalf("%s: %d rows, want %d: %v", tc.sql, len(got), len(tc.versions), got)
		}
		for i, v := range tc.versions {
			if got[i]["version"] != v {
				t.Errorf("%s: row %d version %v, want %v", tc.sql, i, got[i]["version"], v)
			}
		}
	}
	got, res := queryRows(t, e, "DESCRIBE HISTORY sales.orders")
	res.Records = nil
	if got[0]["operation"] != "WRITE" || got[3]["operation"] != "CREATE TABLE" || got[3]["readVersion"] != nil || got[0]["readVersion"] != float64(2) {
		t.Errorf("history rows: %v", got)
	}
	params, _ := got[0]["operationParameters"].([]any)
	if !strings.Contains(fmt.Sprint(params), "Overwrite") {
		t.Errorf("version 3 operationParameters %v lack mode Overwrite", got[0]["operationParameters"])
	}
	if !strings.Contains(fmt.Sprint(got[1]["operationMetrics"]), "numOutputRows") {
		t.Errorf("version 2 operationMetrics: %v", got[1]["operationMetrics"])
	}
}

func TestDescribeDetail(t *testing.T) {
	p := newProject(t)
	loc, _ := p.TableLocation("sales", "orders")
	writeTable(t, loc, rows("ES", "FR", "ES"), table.Append)
	e := openEngine(t, Options{Project: p})
	tbl, _ := table.Open(context.Background(), loc)
	snap, err := tbl.Snapshot(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sql, name string }{
		{"DESCRIBE DETAIL sales.orders", "sales.orders"},
		{"DESCRIBE DETAIL delta.`" + loc + "`", ""},
	} {
		got, res := queryRows(t, e, tc.sql)
		want := "format,id,name,description,location,createdAt,lastModified,partitionColumns,numFiles,sizeInBytes,properties,minReaderVersion,minWriterVersion,tableFeatures"
		if names := strings.Join(columnNames(res), ","); names != want {
			t.Fatalf("columns %s", names)
		}
		if len(got) != 1 {
			t.Fatalf("%d rows", len(got))
		}
		r := got[0]
		checks := map[string]any{
			"format": "delta", "id": snap.Metadata().ID, "location": loc, "numFiles": float64(len(snap.Files())),
			"sizeInBytes": float64(snap.SizeInBytes()), "minReaderVersion": float64(1), "minWriterVersion": float64(2),
		}
		for k, v := range checks {
			if r[k] != v {
				t.Errorf("%s: %s = %v, want %v", tc.sql, k, r[k], v)
			}
		}
		if tc.name == "" && r["name"] != nil || tc.name != "" && r["name"] != tc.name {
			t.Errorf("%s: name %v, want %q", tc.sql, r["name"], tc.name)
		}
		if fmt.Sprint(r["partitionColumns"]) != "[country]" || fmt.Sprint(r["tableFeatures"]) != "[appendOnly invariants]" {
			t.Errorf("%s: partitionColumns %v tableFeatures %v", tc.sql, r["partitionColumns"], r["tableFeatures"])
		}
	}
}

func TestTableFeatures(t *testing.T) {
	for _, tc := range []struct {
		p    delta.Protocol
		want string
	}{
		{delta.Protocol{MinReaderVersion: 1, MinWriterVersion: 1}, ""},
		{delta.Protocol{MinReaderVersion: 1, MinWriterVersion: 4}, "appendOnly,changeDataFeed,checkConstraints,generatedColumns,invariants"},
		{delta.Protocol{MinReaderVersion: 2, MinWriterVersion: 5}, "appendOnly,changeDataFeed,checkConstraints,columnMapping,generatedColumns,invariants"},
		{delta.Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"deletionVectors"},
			WriterFeatures: []string{"deletionVectors", "appendOnly"}}, "appendOnly,deletionVectors"},
	} {
		if got := strings.Join(TableFeatures(&tc.p), ","); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.p, got, tc.want)
		}
	}
}

func TestMatchTablePattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"orders", "orders", true},
		{"ORD*", "orders", true},
		{"ord", "orders", false},
		{"*ers", "orders", true},
		{"cust*|ord*", "orders", true},
		{"cust*|ret*", "orders", false},
		{"o.ders", "orders", false}, // '.' is literal
	} {
		if got := matchTablePattern(tc.pattern, tc.name); got != tc.want {
			t.Errorf("%q ~ %q = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestShowTables(t *testing.T) {
	p := newProject(t)
	for _, name := range []string{"sales.orders", "sales.customers", "logistics.shipments"} {
		d, tb, _ := strings.Cut(name, ".")
		loc, _ := p.TableLocation(d, tb)
		writeTable(t, loc, rows("ES"), table.Append)
	}
	// A folder without a log and a stray file are not tables.
	if err := os.MkdirAll(filepath.Join(p.StorageRoot, "sales", "scratch"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.StorageRoot, "README"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, Options{Project: p})
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{"SHOW TABLES", []string{"logistics.shipments", "sales.customers", "sales.orders"}},
		{"SHOW TABLES IN sales", []string{"sales.customers", "sales.orders"}},
		{"show tables from logistics", []string{"logistics.shipments"}},
		{"SHOW TABLES LIKE 'ord*|ship*'", []string{"logistics.shipments", "sales.orders"}},
		{"SHOW TABLES IN sales 'cust*'", []string{"sales.customers"}},
		{"SHOW TABLES IN nowhere", nil},
	} {
		got, res := queryRows(t, e, tc.sql)
		if names := strings.Join(columnNames(res), ","); names != "domain,table,location,version,numFiles,sizeInBytes" {
			t.Fatalf("columns %s", names)
		}
		var names []string
		for _, r := range got {
			names = append(names, fmt.Sprint(r["domain"], ".", r["table"]))
			if r["version"] != float64(1) || r["numFiles"] != float64(1) {
				t.Errorf("%s: %v", tc.sql, r)
			}
		}
		if strings.Join(names, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: %v, want %v", tc.sql, names, tc.want)
		}
	}
	// Without a project SHOW TABLES says there is none.
	bare := openEngine(t, Options{})
	if _, err := bare.Query(context.Background(), "SHOW TABLES"); !errors.Is(err, ErrNoProject) {
		t.Errorf("SHOW TABLES without a project: %v", err)
	}
}

// TestShowTablesS3 lists a project whose storage is an s3:// URL, through the storage layer.
func TestShowTablesS3(t *testing.T) {
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	root := srv.Location("warehouse")
	p := &project.Project{Dir: t.TempDir(), StorageRoot: root, Config: project.Config{Storage: root}}
	for _, name := range []string{"sales.orders", "web.events"} {
		d, tb, _ := strings.Cut(name, ".")
		loc, _ := p.TableLocation(d, tb)
		writeTable(t, loc, rows("ES", "FR"), table.Append)
	}
	e := openEngine(t, Options{Project: p, CacheDir: t.TempDir()})
	got, _ := queryRows(t, e, "SHOW TABLES")
	if len(got) != 2 || got[0]["table"] != "orders" || got[1]["location"] != root+"/web/events" || got[1]["numFiles"] != float64(2) {
		t.Fatalf("SHOW TABLES on S3: %v", got)
	}
	got, _ = queryRows(t, e, "DESCRIBE DETAIL web.events")
	if got[0]["location"] != root+"/web/events" {
		t.Fatalf("DESCRIBE DETAIL on S3: %v", got)
	}
}

// tableFiles lists the data files (not the log) under a local table.
func tableFiles(t *testing.T, loc string) []string {
	t.Helper()
	st, err := storage.NewLocal(loc)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		if !strings.HasPrefix(o.Key, "_delta_log/") {
			out = append(out, o.Key)
		}
	}
	return out
}

func TestVacuum(t *testing.T) {
	p := newProject(t)
	loc, _ := p.TableLocation("sales", "orders")
	writeTable(t, loc, rows("ES", "FR"), table.Append)
	writeTable(t, loc, rows("DE"), table.Overwrite) // the two first files become tombstones
	orphan := filepath.Join(loc, "country=ES", "orphan.parquet")
	if err := os.WriteFile(orphan, []byte("not referenced"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := tableFiles(t, loc)
	if len(before) != 4 {
		t.Fatalf("files before: %v", before)
	}
	e := openEngine(t, Options{Project: p})
	ctx := context.Background()

	// The default retention (7 days) keeps everything: the files are new.
	res, err := e.Query(ctx, "VACUUM sales.orders DRY RUN")
	if err != nil {
		t.Fatal(err)
	}
	if got := readRows(t, res); len(got) != 0 {
		t.Fatalf("dry run with the default retention: %v", got)
	}
	// A short retention is refused, naming the table, its version and the way out.
	_, err = e.Query(ctx, "VACUUM sales.orders RETAIN 0 HOURS")
	if !errors.Is(err, delta.ErrInvalidArgument) || !strings.Contains(err.Error(), "sales.orders version 2") || !strings.Contains(err.Error(), "FORCE") {
		t.Fatalf("short retention: %v", err)
	}
	// DRY RUN lists the tombstoned and orphan files and deletes nothing.
	got, res := queryRows(t, e, "VACUUM sales.orders RETAIN 0 HOURS DRY RUN FORCE")
	if names := strings.Join(columnNames(res), ","); names != "path,sizeInBytes,modificationTime" {
		t.Fatalf("dry run columns %s", names)
	}
	var paths []string
	for _, r := range got {
		paths = append(paths, strings.TrimPrefix(r["path"].(string), loc+"/"))
	}
	sort.Strings(paths)
	live := tableFiles(t, loc)
	if len(paths) != 3 || !contains(paths, "country=ES/orphan.parquet") || len(live) != 4 {
		t.Fatalf("dry run listed %v (files now %v)", paths, live)
	}
	// FORCE vacuums: only the live file remains, history records the vacuum, the rows are intact.
	res, err = e.Query(ctx, "vacuum sales.orders retain 0 hours force")
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != nil || res.Fields["numDeletedFiles"] != 3 || !strings.Contains(res.Message, "deleted 3 files") {
		t.Fatalf("vacuum result: %q %v", res.Message, res.Fields)
	}
	if after := tableFiles(t, loc); len(after) != 1 || !strings.HasPrefix(after[0], "country=DE/") {
		t.Fatalf("files after vacuum: %v", after)
	}
	hist, _ := queryRows(t, e, "DESCRIBE HISTORY sales.orders LIMIT 2")
	if hist[0]["operation"] != "VACUUM END" || hist[1]["operation"] != "VACUUM START" {
		t.Fatalf("history after vacuum: %v", hist)
	}
	count, _ := queryRows(t, e, "SELECT count(*) AS n FROM sales.orders")
	if count[0]["n"] != float64(1) {
		t.Fatalf("rows after vacuum: %v", count)
	}
}

// TestVacuumClock vacuums with the default retention once the engine's clock has moved past it.
func TestVacuumClock(t *testing.T) {
	p := newProject(t)
	loc, _ := p.TableLocation("sales", "orders")
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	writeTable(t, loc, rows("ES", "FR"), table.Append, table.WithClock(clock))
	writeTable(t, loc, rows("DE"), table.Overwrite, table.WithClock(clock))
	e := openEngine(t, Options{Project: p, Clock: clock})
	got, _ := queryRows(t, e, "VACUUM sales.orders DRY RUN")
	if len(got) != 0 {
		t.Fatalf("fresh tombstones listed: %v", got)
	}
	offset.Store(int64(8 * 24 * time.Hour))
	got, _ = queryRows(t, e, "VACUUM sales.orders DRY RUN")
	if len(got) != 2 {
		t.Fatalf("tombstones older than 7 days: %v", got)
	}
	// A retention longer than their age keeps them.
	got, _ = queryRows(t, e, "VACUUM sales.orders RETAIN 240 HOURS DRY RUN")
	if len(got) != 0 {
		t.Fatalf("RETAIN 240 HOURS: %v", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// setCommitTimes gives the commit files well-separated modification times, one hour apart from
// base, so that TIMESTAMP AS OF is deterministic.
func setCommitTimes(t *testing.T, loc string, base time.Time, versions int) {
	t.Helper()
	for v := 0; v < versions; v++ {
		f := filepath.Join(loc, "_delta_log", fmt.Sprintf("%020d.json", v))
		ts := base.Add(time.Duration(v) * time.Hour)
		if err := os.Chtimes(f, ts, ts); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestore(t *testing.T) {
	p := newProject(t)
	loc, _ := p.TableLocation("sales", "orders")
	writeTable(t, loc, rows("ES", "FR"), table.Append)       // 0: create, 1: 2 files
	writeTable(t, loc, rows("DE", "IT", "PT"), table.Append) // 2: 5 files
	writeTable(t, loc, rows("NL"), table.Overwrite)          // 3: 1 file
	base := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)      // versions at 9:00, 10:00, 11:00, 12:00
	setCommitTimes(t, loc, base, 4)
	e := openEngine(t, Options{Project: p})
	ctx := context.Background()

	got, res := queryRows(t, e, "RESTORE TABLE sales.orders TO VERSION AS OF 1")
	want := "table_size_after_restore,num_of_files_after_restore,num_removed_files,num_restored_files,removed_files_size,restored_files_size"
	if names := strings.Join(columnNames(res), ","); names != want {
		t.Fatalf("columns %s", names)
	}
	r := got[0]
	if r["num_of_files_after_restore"] != float64(2) || r["num_removed_files"] != float64(1) || r["num_restored_files"] != float64(2) ||
		r["table_size_after_restore"] != r["restored_files_size"] {
		t.Fatalf("restore metrics: %v", r)
	}
	if res.Fields["version"] != int64(4) || !strings.Contains(res.Message, "restored sales.orders to version 1: version 4") {
		t.Fatalf("restore result: %q %v", res.Message, res.Fields)
	}
	count, _ := queryRows(t, e, "SELECT count(*) AS n FROM sales.orders")
	if count[0]["n"] != float64(2) {
		t.Fatalf("rows after restore to 1: %v", count)
	}

	// TIMESTAMP AS OF: 11:30 falls between version 2 (11:00) and version 3 (12:00).
	got, _ = queryRows(t, e, "RESTORE delta.`"+loc+"` TO TIMESTAMP AS OF '2026-01-01 11:30:00'")
	if got[0]["num_of_files_after_restore"] != float64(5) {
		t.Fatalf("restore to 11:30: %v", got)
	}
	count, _ = queryRows(t, e, "SELECT count(*) AS n FROM sales.orders")
	if count[0]["n"] != float64(5) {
		t.Fatalf("rows after restore to 11:30: %v", count)
	}
	// A constant expression works too (version 1 at 10:00).
	got, _ = queryRows(t, e, "RESTORE sales.orders TIMESTAMP AS OF TIMESTAMP '2026-01-01 09:00' + INTERVAL 90 MINUTES")
	if got[0]["num_of_files_after_restore"] != float64(2) {
		t.Fatalf("restore to 10:30: %v", got)
	}

	for _, tc := range []struct {
		sql, want string
		is        error
	}{
		{"RESTORE sales.orders TO VERSION AS OF 9", "sales.orders: version not found: version 9 does not exist; the latest version is 6", delta.ErrVersionNotFound},
		{"RESTORE sales.orders TO VERSION AS OF 6", "sales.orders: invalid argument: the table is already at version 6", delta.ErrInvalidArgument},
		{"RESTORE sales.orders TO TIMESTAMP AS OF '2020-01-01'", "before the earliest available commit", delta.ErrVersionNotFound},
		{"RESTORE sales.nothing TO VERSION AS OF 0", "unknown table: sales.nothing", ErrUnknownTable},
	} {
		_, err := e.Query(ctx, tc.sql)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want %q", tc.sql, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(p.StorageRoot, "sales", "nothing")); !os.IsNotExist(err) {
		t.Errorf("an unknown table's folder was created: %v", err)
	}
}

// TestUpkeepSyntaxErrors checks that malformed statements fail DuckDB-style, with the position.
func TestUpkeepSyntaxErrors(t *testing.T) {
	p := newProject(t)
	loc, _ := p.TableLocation("sales", "orders")
	writeTable(t, loc, rows("ES"), table.Append)
	e := openEngine(t, Options{Project: p})
	for _, tc := range []struct{ sql, want string }{
		{"VACUUM sales.orders RETAIN 5", "LINE 1: VACUUM sales.orders RETAIN 5\n                                   ^"},
		{"VACUUM sales.orders\n  DRY RUN RUN", "LINE 2:   DRY RUN RUN\n                  ^"},
		{"RESTORE sales.orders TO VERSION AS OF x", "VERSION AS OF takes a non-negative integer (at or near \"x\")"},
		{"RESTORE sales.orders", "expected VERSION AS OF n or TIMESTAMP AS OF"},
		{"DESCRIBE HISTORY sales.orders LIMIT 0", "LIMIT takes a positive integer"},
		{"DESCRIBE DETAIL sales.orders extra", "unexpected extra"},
		{"DESCRIBE HISTORY 'x'", "DESCRIBE HISTORY needs a table"},
		{"SHOW TABLES IN", "needs a domain name"},
		{"RESTORE sales.orders TO TIMESTAMP AS OF now()) AS TIMESTAMPTZ)) AS VARCHAR) FROM range(3) --", "one constant expression"},
	} {
		_, err := e.Query(context.Background(), tc.sql)
		var qe *QueryError
		if !errors.As(err, &qe) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "Parser Error: ") {
			t.Errorf("%q: got %v, want a parser error containing %q", tc.sql, err, tc.want)
		}
	}
}

func TestUpkeepWithoutProject(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orders")
	writeTable(t, dir, rows("ES", "FR"), table.Append)
	e := openEngine(t, Options{})
	if _, err := e.Query(context.Background(), "DESCRIBE HISTORY sales.orders"); !errors.Is(err, ErrNoProject) || !strings.Contains(err.Error(), "sales.orders") {
		t.Fatalf("domain.table without a project: %v", err)
	}
	got, _ := queryRows(t, e, "DESCRIBE DETAIL delta.`"+dir+"`")
	if got[0]["numFiles"] != float64(2) {
		t.Fatalf("detail by location: %v", got)
	}
	// A location that holds no table says so, naming it.
	empty := t.TempDir()
	if _, err := e.Query(context.Background(), "DESCRIBE HISTORY delta.`"+empty+"`"); !errors.Is(err, delta.ErrNotATable) || !strings.Contains(err.Error(), empty) {
		t.Fatalf("not a table: %v", err)
	}
	// DuckDB's own VACUUM is left to DuckDB.
	if _, err := e.Query(context.Background(), "VACUUM"); err != nil {
		t.Fatalf("plain VACUUM: %v", err)
	}
}

func TestCompleteStatements(t *testing.T) {
	for _, tc := range []struct {
		text     string
		complete []string
		lines    []int
		rest     string
	}{
		{"SELECT 1", nil, nil, "SELECT 1"},
		{"SELECT 1;", []string{"SELECT 1"}, []int{1}, ""},
		{"SELECT 1;\nSELECT\n 2; SELECT", []string{"SELECT 1", "SELECT\n 2"}, []int{1, 2}, " SELECT"},
		{"SELECT ';'", nil, nil, "SELECT ';'"},
		{"SELECT 'it''s;\n", nil, nil, "SELECT 'it''s;\n"}, // the string is still open
		{"SELECT 1; SELECT 'a;\n", []string{"SELECT 1"}, []int{1}, " SELECT 'a;\n"},
		{"SELECT 1 /* ; \n", nil, nil, "SELECT 1 /* ; \n"}, // open comment
		{"SELECT 1 -- ;\n", nil, nil, "SELECT 1 -- ;\n"},   // line comment
		{"SELECT \"a;b\" FROM t;", []string{"SELECT \"a;b\" FROM t"}, []int{1}, ""},
		{"SELECT (1;\n", nil, nil, "SELECT (1;\n"}, // inside parentheses
		{"SELECT $$a;b$$;", []string{"SELECT $$a;b$$"}, []int{1}, ""},
		{";;", nil, nil, ""},
	} {
		got, rest := CompleteStatements(tc.text)
		var texts []string
		var lines []int
		for _, s := range got {
			texts = append(texts, s.Text)
			lines = append(lines, s.Line)
		}
		if fmt.Sprint(texts) != fmt.Sprint(tc.complete) || fmt.Sprint(lines) != fmt.Sprint(tc.lines) || rest != tc.rest {
			t.Errorf("%q: %q lines %v rest %q, want %q lines %v rest %q", tc.text, texts, lines, rest, tc.complete, tc.lines, tc.rest)
		}
	}
}

func TestSplitScript(t *testing.T) {
	got, err := SplitScript("-- load\nSELECT 1;\n\nINSERT INTO t\nVALUES (1);\nSELECT 'no semicolon'")
	if err != nil {
		t.Fatal(err)
	}
	want := []ScriptStatement{{"SELECT 1", 2}, {"INSERT INTO t\nVALUES (1)", 4}, {"SELECT 'no semicolon'", 6}}
	if fmt.Sprint(got) != fmt.Sprint(want) || got[1].FirstLine() != "INSERT INTO t" {
		t.Fatalf("%v, want %v", got, want)
	}
	var se *SyntaxError
	if _, err := SplitScript("SELECT 1;\nSELECT 'open"); !errors.As(err, &se) || se.Pos != 17 {
		t.Fatalf("unterminated string: %v", err)
	}
}

// racingStore runs race once, just before the first commit it is asked to write: a concurrent
// writer's commit lands between the statement's read and its commit.
type racingStore struct {
	storage.Store
	race func()
	once sync.Once
}

func (s *racingStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, "_delta_log/") && strings.HasSuffix(key, ".json") {
		s.once.Do(s.race)
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

// TestRestoreConflict: a concurrent overwrite between RESTORE's read and its commit is a conflict
// that names the table, the version restored and the version read. (A concurrent blind append
// would not be: under WriteSerializable it is kept beside the restored files.)
func TestRestoreConflict(t *testing.T) {
	p := newProject(t)
	loc, _ := p.TableLocation("sales", "orders")
	writeTable(t, loc, rows("ES"), table.Append) // 0, 1
	writeTable(t, loc, rows("FR"), table.Append) // 2
	e := openEngine(t, Options{Project: p, WrapStore: func(location string, s storage.Store) storage.Store {
		return &racingStore{Store: s, race: func() { writeTable(t, loc, rows("DE"), table.Overwrite) }}
	}})
	_, err := e.Query(context.Background(), "RESTORE sales.orders TO VERSION AS OF 1")
	var ce *delta.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, delta.ErrConflict) ||
		!strings.HasPrefix(err.Error(), "sales.orders: restore to version 1 (read version 2): ") || ce.WinningVersion != 3 {
		t.Fatalf("restore racing an overwrite: %v", err)
	}
	// The table holds the concurrent overwrite and no restore.
	hist, _ := queryRows(t, openEngine(t, Options{Project: p}), "DESCRIBE HISTORY sales.orders LIMIT 1")
	if hist[0]["version"] != float64(3) || hist[0]["operation"] != "WRITE" {
		t.Fatalf("latest commit: %v", hist)
	}
}
