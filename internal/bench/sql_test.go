package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// The SQL phases need DuckDB and are tested through `strata bench sql` in internal/cli; here the
// DuckDB-free parts: the tables they run on.

func tinySQLConfig(t *testing.T) SQLConfig {
	return SQLConfig{Dir: t.TempDir(), Rows: 5000, Seed: 3, Days: 4, MergeFraction: 0.02, MergeNewRows: 7,
		SmallFiles: 60, SmallFileRows: 25, SmallFilesPerCommit: 11, Observer: nopObserver{}}
}

func TestBuildEventsTable(t *testing.T) {
	ctx := context.Background()
	c := tinySQLConfig(t)
	et, err := buildEventsTable(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if et.Rows != c.Rows || et.Partitions < c.Days || et.Partitions > c.Days+1 || et.FileCount != len(et.Files) {
		t.Fatalf("events table %+v", et)
	}
	for _, f := range et.Files {
		if _, err := os.Stat(f.Path); err != nil || f.Date == "" || !strings.Contains(f.Path, "date="+f.Date) {
			t.Fatalf("file %+v: %v", f, err)
		}
	}
	// About MergeFraction of the events changed, plus the new ones, in the source table.
	if et.ChangedRows < 50 || et.ChangedRows > 150 || et.NewRows != 7 {
		t.Errorf("changed %d, new %d", et.ChangedRows, et.NewRows)
	}
	ct, err := table.Open(ctx, tableDir(c.Dir, changesTable))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ct.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, a := range snap.Files() {
		st, err := delta.ParseStats(a.Stats)
		if err != nil || st == nil {
			t.Fatalf("stats of %s: %v", a.Path, err)
		}
		rows += st.NumRecords
	}
	if rows != et.ChangedRows+et.NewRows || len(et.ChangesFiles) != len(snap.Files()) {
		t.Errorf("the source holds %d rows in %d files, want %d", rows, len(et.ChangesFiles), et.ChangedRows+et.NewRows)
	}

	// A clone is a table of its own: same files, linked, and a log of its own.
	clone := filepath.Join(c.Dir, "clone")
	if err := cloneTable(et.Location, clone); err != nil {
		t.Fatal(err)
	}
	ctab, err := table.Open(ctx, clone)
	if err != nil {
		t.Fatal(err)
	}
	files, size, err := tableFiles(ctx, ctab)
	if err != nil || len(files) != et.FileCount || size != et.Bytes {
		t.Fatalf("clone: %d files, %d bytes (%v), want %d, %d", len(files), size, err, et.FileCount, et.Bytes)
	}
	a, _ := os.Stat(et.Files[0].Path)
	b, _ := os.Stat(files[0].Path)
	if !os.SameFile(a, b) {
		t.Error("the clone's data file is not a link to the original")
	}
	if _, err := os.Stat(filepath.Join(clone, "_delta_log", "00000000000000000000.json")); err != nil {
		t.Error(err)
	}

	rel := literalRelation(et.Files)
	if n := strings.Count(rel, "read_parquet("); n != et.Partitions {
		t.Errorf("the literal relation has %d arms, want one per date (%d)", n, et.Partitions)
	}
}

func TestBuildSmallFiles(t *testing.T) {
	ctx := context.Background()
	c := tinySQLConfig(t)
	st, err := buildSmallFiles(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files < c.SmallFiles || st.Files > c.SmallFiles+1 {
		t.Errorf("%d files, want %d (or one more)", st.Files, c.SmallFiles)
	}
	if want := (st.Files + c.SmallFilesPerCommit - 1) / c.SmallFilesPerCommit; st.Commits < want-1 || st.Commits > want+1 {
		t.Errorf("%d commits for %d files at %d per commit", st.Commits, st.Files, c.SmallFilesPerCommit)
	}
	files, size, err := smallFiles(ctx, c)
	if err != nil || len(files) != st.Files || size != st.Bytes {
		t.Fatalf("the table holds %d files, %d bytes (%v); the build reported %d, %d", len(files), size, err, st.Files, st.Bytes)
	}
	if st.Rows <= int64(c.SmallFiles*c.SmallFileRows)/2 || st.Rows > int64(c.SmallFiles*c.SmallFileRows) {
		t.Errorf("%d rows in %d files of up to %d rows", st.Rows, st.Files, c.SmallFileRows)
	}
}

func TestSQLConfigDefaults(t *testing.T) {
	if _, err := (&SQLConfig{Dir: t.TempDir()}).withDefaults(); err == nil {
		t.Error("a config without a driver was accepted")
	}
	if _, err := (&SQLConfig{Driver: nilDriver{}}).withDefaults(); err == nil {
		t.Error("a config without a directory was accepted")
	}
	c, err := (&SQLConfig{Dir: "d", Driver: nilDriver{}, Only: SQLPhaseMerge}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != DefaultSQLRows || c.MergeNewRows != DefaultSQLRows/10_000 || c.Limits.MemoryLimit != DefaultSQLMemoryLimit ||
		c.Limits.TempDir != filepath.Join("d", "duckdb-tmp") {
		t.Errorf("defaults: %+v", c)
	}
	if _, err := (&SQLConfig{Dir: "d", Driver: nilDriver{}, Only: "nope"}).withDefaults(); err == nil {
		t.Error("an unknown phase was accepted")
	}
}

// nilDriver satisfies SQLDriver for configuration tests; it opens nothing.
type nilDriver struct{}

func (nilDriver) OpenStrata(context.Context, string, SQLLimits) (SQLSession, error) {
	return nil, os.ErrInvalid
}
func (nilDriver) OpenDuckDB(context.Context, SQLLimits) (SQLSession, error) {
	return nil, os.ErrInvalid
}
