package table_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/ingest"
	"github.com/stratalake/strata/internal/table"
)

// csvSource writes content to a temp CSV file and returns a FileSource over it.
func csvSource(t *testing.T, content string) *table.FileSource {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := table.NewFileSource(context.Background(), []string{p}, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// rows scans a snapshot and renders each row as "col=value ..." sorted.
func rows(t *testing.T, tb *table.Table, version int64) []string {
	t.Helper()
	ctx := context.Background()
	snap, err := tb.Snapshot(ctx, version)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := tb.Scan(ctx, snap, table.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Release()
	var out []string
	for sc.Next() {
		rec := sc.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var parts []string
			for c, f := range rec.Schema().Fields() {
				v := "NULL"
				if rec.Column(c).IsValid(i) {
					v = rec.Column(c).ValueStr(i)
				}
				parts = append(parts, f.Name+"="+v)
			}
			out = append(out, strings.Join(parts, " "))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func newTable(t *testing.T, ddl string, parts ...string) *table.Table {
	t.Helper()
	ctx := context.Background()
	tb, err := table.Open(ctx, filepath.Join(t.TempDir(), "t"))
	if err != nil {
		t.Fatal(err)
	}
	if ddl != "" {
		st, err := delta.ParseDDLSchema(ddl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Create(ctx, delta.CreateOptions{Schema: st, PartitionColumns: parts}); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

func TestWriteModes(t *testing.T) {
	ctx := context.Background()
	tb := newTable(t, "id BIGINT, p STRING", "p")
	mustWrite := func(content string, opts table.WriteOptions) *table.WriteResult {
		t.Helper()
		res, err := tb.Write(ctx, csvSource(t, content), opts)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	mustWrite("id,p\n1,a\n2,b\n3,\n", table.WriteOptions{})
	mustWrite("id,p\n4,a\n", table.WriteOptions{})
	res := mustWrite("id,p\n5,a\n", table.WriteOptions{Mode: table.Overwrite, ReplaceWhere: "p = 'a'"})
	if res.FilesRemoved != 2 || res.Version != 3 {
		t.Fatalf("replaceWhere: %+v", res)
	}
	want := []string{"id=2 p=b", "id=3 p=NULL", "id=5 p=a"}
	if got := rows(t, tb, -1); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("after replaceWhere: %v, want %v", got, want)
	}
	// Rows outside the predicate abort the write without a commit.
	_, err := tb.Write(ctx, csvSource(t, "id,p\n6,b\n"), table.WriteOptions{Mode: table.Overwrite, ReplaceWhere: "p = 'a'"})
	if !errors.Is(err, delta.ErrInvalidArgument) || !strings.Contains(err.Error(), "does not match replaceWhere") {
		t.Fatalf("expected a replaceWhere violation, got %v", err)
	}
	// A data column in replaceWhere is refused.
	if _, err := tb.Write(ctx, csvSource(t, "id,p\n6,a\n"), table.WriteOptions{Mode: table.Overwrite, ReplaceWhere: "id = 6"}); err == nil ||
		!strings.Contains(err.Error(), "not a partition column") {
		t.Fatalf("expected a partition-column error, got %v", err)
	}
	mustWrite("id,p\n7,c\n", table.WriteOptions{Mode: table.Overwrite})
	if got := rows(t, tb, -1); strings.Join(got, "|") != "id=7 p=c" {
		t.Fatalf("after overwrite: %v", got)
	}
	// Time travel still sees every version.
	if got := rows(t, tb, 1); len(got) != 3 {
		t.Fatalf("version 1: %v", got)
	}
}

func TestWriteCreatesTableAndEvolvesSchema(t *testing.T) {
	ctx := context.Background()
	tb := newTable(t, "")
	res, err := tb.Write(ctx, csvSource(t, "id,name\n1,ana\n"), table.WriteOptions{CreatePartitionBy: []string{"name"}})
	if err != nil || !res.Created {
		t.Fatalf("create on write: %+v %v", res, err)
	}
	_, err = tb.Write(ctx, csvSource(t, "id,name,device\n2,bob,mobile\n"), table.WriteOptions{})
	if !errors.Is(err, delta.ErrSchemaMismatch) || !strings.Contains(err.Error(), "device") {
		t.Fatalf("expected a schema mismatch naming device, got %v", err)
	}
	res, err = tb.Write(ctx, csvSource(t, "id,name,device\n2,bob,mobile\n"), table.WriteOptions{MergeSchema: true})
	if err != nil || len(res.SchemaAdded) != 1 {
		t.Fatalf("merge schema: %+v %v", res, err)
	}
	want := []string{"id=1 name=ana device=NULL", "id=2 name=bob device=mobile"}
	if got := rows(t, tb, -1); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestIdempotentWrite(t *testing.T) {
	ctx := context.Background()
	tb := newTable(t, "id BIGINT")
	opts := table.WriteOptions{AppID: "stream-1", AppVersion: 7}
	if res, err := tb.Write(ctx, csvSource(t, "id\n1\n"), opts); err != nil || res.Skipped {
		t.Fatalf("first: %+v %v", res, err)
	}
	if res, err := tb.Write(ctx, csvSource(t, "id\n1\n"), opts); err != nil || !res.Skipped {
		t.Fatalf("replay must be skipped: %+v %v", res, err)
	}
	if got := rows(t, tb, -1); len(got) != 1 {
		t.Fatalf("rows = %v", got)
	}
	snap, _ := tb.Snapshot(ctx, -1)
	if v, ok := snap.TxnVersion("stream-1"); !ok || v != 7 {
		t.Fatalf("txn = %d %v", v, ok)
	}
}

func TestAppendOnlyTable(t *testing.T) {
	ctx := context.Background()
	tb, _ := table.Open(ctx, filepath.Join(t.TempDir(), "t"))
	st, _ := delta.ParseDDLSchema("id BIGINT")
	if _, err := tb.Create(ctx, delta.CreateOptions{Schema: st, Properties: map[string]string{"delta.appendOnly": "true"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Write(ctx, csvSource(t, "id\n1\n"), table.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := tb.Write(ctx, csvSource(t, "id\n2\n"), table.WriteOptions{Mode: table.Overwrite})
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("overwrite of an append-only table: %v", err)
	}
}

func TestVacuumAndRestore(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	dir := filepath.Join(t.TempDir(), "t")
	tb, _ := table.Open(ctx, dir)
	st, _ := delta.ParseDDLSchema("id BIGINT")
	if _, err := tb.Create(ctx, delta.CreateOptions{Schema: st}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"id\n1\n", "id\n2\n"} {
		if _, err := tb.Write(ctx, csvSource(t, c), table.WriteOptions{Mode: table.Overwrite}); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ := tb.Snapshot(ctx, -1)
	// The file of version 1 is a fresh tombstone: the default retention keeps it, a short retention
	// is refused without force.
	if _, err := tb.Kernel().PlanVacuum(ctx, snap, time.Hour, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("short retention without force: %v", err)
	}
	plan, err := tb.Kernel().PlanVacuum(ctx, snap, delta.DeletedFileRetention(snap.Metadata()), false)
	if err != nil || len(plan.Files) != 0 {
		t.Fatalf("default plan: %+v %v", plan, err)
	}
	// An orphan (a data file never committed) older than the retention goes; a recent one stays.
	old := filepath.Join(dir, "orphan-old.parquet")
	fresh := filepath.Join(dir, "orphan-new.parquet")
	for _, p := range []string{old, fresh} {
		os.WriteFile(p, []byte("x"), 0o644)
	}
	os.Chtimes(old, now.Add(-10*24*time.Hour), now.Add(-10*24*time.Hour))
	plan, err = tb.Kernel().PlanVacuum(ctx, snap, delta.DeletedFileRetention(snap.Metadata()), false)
	if err != nil || len(plan.Files) != 1 || plan.Files[0].Key != "orphan-old.parquet" {
		t.Fatalf("plan with orphans: %+v %v", plan, err)
	}
	// Restore to version 1 works while its file exists...
	tx, err := tb.Kernel().Restore(ctx, snap, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, tb, -1); strings.Join(got, "|") != "id=1" {
		t.Fatalf("after restore: %v", got)
	}
	// ...and a forced zero-retention vacuum keeps every file the current version references.
	snap, _ = tb.Snapshot(ctx, -1)
	plan, err = tb.Kernel().PlanVacuum(ctx, snap, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Kernel().Vacuum(ctx, snap, plan); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, tb, -1); strings.Join(got, "|") != "id=1" {
		t.Fatalf("after vacuum: %v", got)
	}
	// Version 2's file is gone now: restoring to it fails naming the file.
	snap, _ = tb.Snapshot(ctx, -1)
	if _, err := tb.Kernel().Restore(ctx, snap, 2); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("restore to a vacuumed version: %v", err)
	}
	h, err := tb.Kernel().History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range h {
		ops = append(ops, e.Operation)
	}
	if got := strings.Join(ops, ","); got != "VACUUM END,VACUUM START,RESTORE,WRITE,WRITE,CREATE TABLE" {
		t.Fatalf("history operations: %s", got)
	}
}

func TestScanColumnsAndPartitionFilter(t *testing.T) {
	ctx := context.Background()
	tb := newTable(t, "id BIGINT, p STRING, v DOUBLE", "p")
	if _, err := tb.Write(ctx, csvSource(t, "id,p,v\n1,a,1.5\n2,b,2.5\n3,a,\n"), table.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	snap, _ := tb.Snapshot(ctx, -1)
	pred, _ := delta.ParsePredicate("p = 'a'")
	sc, err := tb.Scan(ctx, snap, table.ScanOptions{Columns: []string{"v", "p"}, PartitionFilter: pred})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Release()
	var n int64
	for sc.Next() {
		rec := sc.RecordBatch()
		if rec.Schema().Field(0).Name != "v" || rec.Schema().Field(1).Name != "p" {
			t.Fatalf("schema %s", rec.Schema())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			if rec.Column(1).(*array.String).Value(i) != "a" {
				t.Fatal("partition filter let another partition through")
			}
		}
		n += rec.NumRows()
	}
	if n != 2 || sc.Stats.FilesSkipped != 1 {
		t.Fatalf("rows %d, stats %+v", n, sc.Stats)
	}
	if _, err := tb.Scan(ctx, snap, table.ScanOptions{Columns: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `no column "nope"`) {
		t.Fatalf("unknown column: %v", err)
	}
}
