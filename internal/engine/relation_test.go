package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/ingest"
	"github.com/stratalake/strata/internal/table"
	"github.com/stratalake/strata/internal/testutil"
)

// TestRelationJoinMode reads every conformance table with partition columns or deletion vectors,
// at every version, both ways relationSQL can read files: a UNION ALL of one read_parquet per
// group of files with the same partition values (the default for few groups), and one
// read_parquet over all files joined to a table of partition values (beyond maxUnionGroups). The
// rows must be the same (table scan equivalence of the first is TestSQLConformance's job).
func TestRelationJoinMode(t *testing.T) {
	ctx := context.Background()
	root := testutil.ConformanceDir(t)
	var dirs []string
	for _, pattern := range []string{"dat/*/delta", "golden/*/delta", "kernel-data/*", "delta-rs/*"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		dirs = append(dirs, m...)
	}
	e, err := Open(ctx, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer func(old int) { maxUnionGroups = old }(maxUnionGroups)
	tested := 0
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "_delta_log")); err != nil {
			continue
		}
		tb, err := table.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		latest, err := tb.Snapshot(ctx, -1)
		if err != nil {
			continue // refused tables
		}
		for v := int64(0); v <= latest.Version(); v++ {
			snap, err := tb.Snapshot(ctx, v)
			if err != nil {
				continue
			}
			dv := false
			for _, f := range snap.Files() {
				dv = dv || f.DeletionVector != nil
			}
			if len(snap.PartitionColumns()) == 0 && !dv {
				continue
			}
			q := fmt.Sprintf("SELECT * FROM delta_scan(%s) AT (VERSION => %d)", quoteString(dir), v)
			maxUnionGroups = 32
			union, uerr := queryText(ctx, e, q)
			maxUnionGroups = 0
			joined, jerr := queryText(ctx, e, q)
			switch {
			case (uerr == nil) != (jerr == nil):
				t.Errorf("%s: union: %v; join: %v", q, uerr, jerr)
			case uerr == nil && !sameRows(union, joined):
				t.Errorf("%s:\n union %v\n join  %v", q, union, joined)
			case uerr == nil:
				tested++
			}
		}
	}
	t.Logf("%d table versions compared", tested)
	if tested < 20 {
		t.Errorf("only %d versions compared", tested)
	}
}

// TestRelationArrowTypes checks that Go callers get from a query the Arrow types table.Scan gives
// (compared as arrow.TypeEqual, which ignores field nullability where it does not matter), for
// every readable conformance table at its latest version.
func TestRelationArrowTypes(t *testing.T) {
	ctx := context.Background()
	root := testutil.ConformanceDir(t)
	var dirs []string
	for _, pattern := range []string{"dat/*/delta", "golden/*/delta", "kernel-data/*", "delta-rs/*"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		dirs = append(dirs, m...)
	}
	e, err := Open(ctx, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, dir := range dirs {
		tb, err := table.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := tb.Snapshot(ctx, -1)
		if err != nil {
			continue
		}
		sc, err := tb.Scan(ctx, snap, table.ScanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := sc.Schema()
		sc.Release()
		res, err := e.Query(ctx, fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(dir)))
		if err != nil {
			continue // files missing: TestSQLConformance checks the error
		}
		got := res.Records.Schema()
		res.Records.Release()
		if got.NumFields() != want.NumFields() {
			t.Errorf("%s: %d columns, want %d", dir, got.NumFields(), want.NumFields())
			continue
		}
		for i := range want.Fields() {
			g, w := got.Field(i), want.Field(i)
			if g.Name != w.Name || !arrow.TypeEqual(g.Type, w.Type) {
				t.Errorf("%s: column %d is %s %s, table.Scan gives %s %s", dir, i, g.Name, g.Type, w.Name, w.Type)
			}
		}
	}
}

// TestRelationManyPartitions reads a table with more partitions than maxUnionGroups (so the
// partition values are joined by file name) and a data column named filename (DuckDB's default
// name for the file column), and compares it with table.Scan.
func TestRelationManyPartitions(t *testing.T) {
	ctx := context.Background()
	loc := filepath.Join(t.TempDir(), "t")
	var b strings.Builder
	for i := 0; i < 3*maxUnionGroups; i++ {
		fmt.Fprintf(&b, "{\"id\":%d,\"filename\":\"f%d\",\"p\":%d,\"d\":\"2026-01-%02d\"}\n", i, i, i%(maxUnionGroups+8), 1+i%28)
	}
	in := filepath.Join(t.TempDir(), "in.ndjson")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := table.Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := delta.ParseDDLSchema("id BIGINT, filename STRING, p INT, d DATE")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Create(ctx, delta.CreateOptions{Schema: schema, PartitionColumns: []string{"p", "d"}}); err != nil {
		t.Fatal(err)
	}
	src, err := table.NewFileSource(ctx, []string{in}, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Write(ctx, src, table.WriteOptions{Mode: table.Append}); err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := tb.Scan(ctx, snap, table.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := renderRecords(sc)
	sc.Release()
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got, err := queryText(ctx, e, fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(loc)))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Files()) <= maxUnionGroups {
		t.Fatalf("%d files: not enough to join partition values", len(snap.Files()))
	}
	if !sameRows(got, want) {
		t.Errorf("rows differ from table.Scan:\n got  %v\n want %v", got, want)
	}
}
