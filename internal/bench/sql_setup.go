package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"golang.org/x/sync/errgroup"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/gen"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/table"
)

// The benchmark's project: strata.yaml in SQLConfig.Dir, tables under warehouse/bench/, so that
// SQL names them bench.<table>.
const (
	benchDomain   = "bench"
	eventsTable   = "events"
	changesTable  = "changes"
	smallTable    = "small"
	partitionName = gen.ColDate
)

func writeProject(dir string) error {
	content := "# Written by `strata bench sql`.\nname: strata-bench-sql\nstorage: ./warehouse\n"
	if err := os.WriteFile(filepath.Join(dir, "strata.yaml"), []byte(content), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

func tableDir(dir, name string) string { return filepath.Join(dir, "warehouse", benchDomain, name) }

// EventsTable describes the generated events table and the MERGE source built with it.
type EventsTable struct {
	// Name is the table's SQL name (bench.events) and Location its folder.
	Name     string `json:"name"`
	Location string `json:"location"`
	Version  int64  `json:"version"`
	Rows     int64  `json:"rows"`
	// Files are the table's data files, Bytes their total size, Partitions the number of dates.
	Files      []DataFileRef `json:"-"`
	FileCount  int           `json:"files"`
	Bytes      int64         `json:"bytes"`
	Partitions int           `json:"partitions"`
	// Write is the time table.Write took to generate and write the events (generation
	// included: the events are produced as the writer consumes them), WriteCPU its CPU time.
	Write    Millis `json:"writeMs"`
	WriteCPU Millis `json:"writeCpuMs"`
	// Changes is the MERGE source table: ChangedRows events of the table with revenue raised by
	// 1.00, then NewRows events that the table does not hold.
	Changes      string   `json:"changes"`
	ChangesFiles []string `json:"-"`
	ChangedRows  int64    `json:"changedRows"`
	NewRows      int64    `json:"newRows"`
}

// DataFileRef is one data file of a partitioned table: its local path and its partition value.
type DataFileRef struct {
	Path string
	Date string
}

// eventsConfig is the generator configuration of a table of rows events over days days.
func eventsConfig(seed uint64, rows int64, days int) gen.Config {
	return gen.Config{Seed: seed, Rate: gen.RateFor(rows, float64(days)), DailyCycle: gen.DefaultDailyCycle,
		Users: int(max(rows/40, 1000))}
}

// buildEventsTable writes cfg.Rows generated events into bench.events (partitioned by date) with
// one table.Write, picking the MERGE source's changed rows as the events stream by, then writes the
// MERGE source, bench.changes.
func buildEventsTable(ctx context.Context, c SQLConfig) (*EventsTable, error) {
	obs := c.Observer
	loc := tableDir(c.Dir, eventsTable)
	t, err := table.Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	gcfg := eventsConfig(c.Seed, c.Rows, c.Days)
	pick := rand.New(rand.NewPCG(c.Seed, 0xC4A76E5))
	changes := gen.NewBatchBuilder(nil)
	defer changes.Release()
	var recs []arrow.RecordBatch
	defer func() { ReleaseAll(recs) }()
	flush := func(force bool) {
		if changes.Len() >= gen.DefaultBatchRows || force && changes.Len() > 0 {
			recs = append(recs, changes.NewBatch())
		}
	}
	var changed int64
	tr := obs.Start("writing the events table", c.Rows, "rows")
	src := &gen.Source{Config: gcfg, Rows: c.Rows,
		OnEvent: func(ev *gen.Event) {
			if pick.Float64() < c.MergeFraction {
				ch := *ev
				ch.RevenueCents += 100
				changes.Append(&ch)
				changed++
				flush(false)
			}
		},
		OnBatch: func(r arrow.RecordBatch) { tr.Add(r.NumRows()) },
	}
	obs.Logf("events: writing %d generated events (%d days, %d users, seed %d) into %s.%s, partitioned by date",
		c.Rows, c.Days, gcfg.Users, c.Seed, benchDomain, eventsTable)
	c0, t0 := cpuTime(), time.Now()
	res, err := t.Write(ctx, src, table.WriteOptions{CreatePartitionBy: []string{partitionName}})
	el, cpu := time.Since(t0), cpuTime()-c0
	tr.Done()
	if err != nil {
		return nil, fmt.Errorf("bench: write the events table: %w", err)
	}
	et := &EventsTable{Name: benchDomain + "." + eventsTable, Location: loc, Version: res.Version, Rows: res.RowsWritten,
		Write: Millis(el), WriteCPU: Millis(cpu), Changes: benchDomain + "." + changesTable, ChangedRows: changed, NewRows: c.MergeNewRows}
	if et.Files, et.Bytes, err = tableFiles(ctx, t); err != nil {
		return nil, err
	}
	et.FileCount = len(et.Files)
	dates := map[string]bool{}
	for _, f := range et.Files {
		dates[f.Date] = true
	}
	et.Partitions = len(dates)
	obs.Logf("events: %d rows in %d files (%s) over %d dates in %s (CPU %s)", et.Rows, et.FileCount, humanMB(et.Bytes), et.Partitions, et.Write, et.WriteCPU)

	// The MERGE source: the changed events, then events of another seed (new event_ids).
	ng, err := gen.New(func() gen.Config { g := gcfg; g.Seed++; return g }())
	if err != nil {
		return nil, err
	}
	for i := int64(0); i < c.MergeNewRows; i++ {
		ev := ng.Next()
		changes.Append(&ev)
		flush(false)
	}
	flush(true)
	ct, err := table.Open(ctx, tableDir(c.Dir, changesTable))
	if err != nil {
		return nil, err
	}
	if _, err := ct.Write(ctx, &RecordSource{Batches: recs}, table.WriteOptions{}); err != nil {
		return nil, fmt.Errorf("bench: write the MERGE source: %w", err)
	}
	cfiles, _, err := tableFiles(ctx, ct)
	if err != nil {
		return nil, err
	}
	for _, f := range cfiles {
		et.ChangesFiles = append(et.ChangesFiles, f.Path)
	}
	obs.Logf("events: MERGE source %s: %d changed events (%.2f%%) and %d new ones", et.Changes, changed,
		100*float64(changed)/float64(max(et.Rows, 1)), c.MergeNewRows)
	return et, nil
}

// tableFiles lists the data files of t's latest snapshot, sorted by path.
func tableFiles(ctx context.Context, t *table.Table) ([]DataFileRef, int64, error) {
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, 0, err
	}
	var out []DataFileRef
	var size int64
	for _, a := range snap.Files() {
		key, err := delta.FileKeyForPath(t.Location(), a.Path)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, DataFileRef{Path: filepath.Join(t.Location(), filepath.FromSlash(key)), Date: a.PartitionValues[partitionName]})
		size += a.Size
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, size, nil
}

// cloneTable copies the table at src to dst: the log's files are copied, the data files hard
// linked (copied where links fail). Delta never modifies a file, so the clone and the original
// evolve independently.
func cloneTable(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !strings.HasPrefix(rel, "_delta_log") {
			if err := os.Link(path, target); err == nil {
				return nil
			}
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// SmallFilesTable describes the table of many small files the optimize phase compacts.
type SmallFilesTable struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	Version  int64  `json:"version"`
	Files    int    `json:"files"`
	Rows     int64  `json:"rows"`
	Bytes    int64  `json:"bytes"`
	Commits  int    `json:"commits"`
	// Build is the time it took to write the files and commit them.
	Build Millis `json:"buildMs"`
}

// buildSmallFiles creates bench.small, partitioned by date, and fills it with at least
// c.SmallFiles files of c.SmallFileRows generated events each (one parquetio.WriteDataFiles call
// per file: a file whose events span two dates comes out as two files, so the table may hold one
// file more than asked), committed through the Delta kernel c.SmallFilesPerCommit files at a time,
// as a stream of small appends would.
func buildSmallFiles(ctx context.Context, c SQLConfig) (*SmallFilesTable, error) {
	obs := c.Observer
	loc := tableDir(c.Dir, smallTable)
	t, err := table.Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	st, err := delta.FromArrowSchema(gen.Schema())
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if _, err := t.Create(ctx, delta.CreateOptions{Schema: st, PartitionColumns: []string{partitionName}}); err != nil {
		return nil, fmt.Errorf("bench: create %s: %w", loc, err)
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, err
	}
	wopts := parquetio.WriteOptions{Schema: snap.Schema(), PartitionColumns: snap.PartitionColumns()}
	rows := int64(c.SmallFiles) * int64(c.SmallFileRows)
	g, err := gen.New(eventsConfig(c.Seed+2, rows, c.Days))
	if err != nil {
		return nil, err
	}
	reader := gen.NewReader(ctx, g, rows*2, c.SmallFileRows) // more than needed: the loop stops at SmallFiles
	defer reader.Release()
	out := &SmallFilesTable{Name: benchDomain + "." + smallTable, Location: loc}
	tr := obs.Start("writing small files", int64(c.SmallFiles), "files")
	defer tr.Done()

	// The generator feeds batches (one per file, two when it spans two dates) to writers working
	// in parallel (each file is fsynced: one writer would mostly wait); this goroutine commits.
	jobs := make(chan arrow.RecordBatch)
	results := make(chan []parquetio.DataFile)
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error {
		defer close(jobs)
		for planned := 0; planned < c.SmallFiles && reader.Next(); {
			rec := reader.RecordBatch()
			planned += distinctDates(rec)
			rec.Retain()
			select {
			case jobs <- rec:
			case <-gctx.Done():
				rec.Release()
				return gctx.Err()
			}
		}
		return reader.Err()
	})
	var writers errgroup.Group
	for i := 0; i < smallFileWriters; i++ {
		writers.Go(func() error {
			for rec := range jobs {
				one, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
				rec.Release()
				if err != nil {
					return err
				}
				files, err := parquetio.WriteDataFiles(gctx, t.Store(), one, wopts)
				one.Release()
				if err != nil {
					return fmt.Errorf("bench: write small files to %s: %w", loc, err)
				}
				select {
				case results <- files:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	grp.Go(func() error {
		err := writers.Wait()
		close(results)
		return err
	})
	var pending []*delta.Add
	commit := func() error {
		if len(pending) == 0 {
			return nil
		}
		tx := t.Kernel().NewTransaction(snap, delta.Operation{Name: "WRITE", Parameters: map[string]any{"mode": "Append", "partitionBy": snap.PartitionColumns()}})
		tx.AddFiles(pending...)
		tx.SetMetrics(map[string]any{"numFiles": len(pending)})
		res, err := tx.Commit(ctx)
		if err != nil {
			return fmt.Errorf("bench: commit small files to %s: %w", loc, err)
		}
		out.Version = res.Version
		out.Commits++
		pending = pending[:0]
		snap, err = t.Snapshot(ctx, -1)
		return err
	}
	var commitErr error
	for files := range results {
		for _, f := range files {
			pending = append(pending, f.Add(true))
			out.Rows += f.NumRecords
			out.Bytes += f.Size
		}
		out.Files += len(files)
		tr.Add(int64(len(files)))
		if commitErr == nil && len(pending) >= c.SmallFilesPerCommit {
			commitErr = commit()
		}
	}
	if err := grp.Wait(); err != nil {
		return nil, err
	}
	if commitErr != nil {
		return nil, commitErr
	}
	if err := commit(); err != nil {
		return nil, err
	}
	out.Build = Millis(time.Since(t0))
	obs.Logf("optimize: %s holds %d files (%s, %d rows) in %d commits, built in %s", out.Name, out.Files, humanMB(out.Bytes), out.Rows, out.Commits, out.Build)
	return out, nil
}

// smallFileWriters is the number of goroutines writing small files.
const smallFileWriters = 8

// distinctDates counts the date values of a batch of events (in event-time order, so equal dates
// are adjacent): the number of files WriteDataFiles makes of it.
func distinctDates(rec arrow.RecordBatch) int {
	col := rec.Column(int(rec.Schema().FieldIndices(partitionName)[0])).(*array.Date32)
	n := 0
	for i := 0; i < col.Len(); i++ {
		if i == 0 || col.Value(i) != col.Value(i-1) {
			n++
		}
	}
	return n
}

func humanMB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// smallFilesOf lists the data files of the table at loc and their total size.
func smallFilesOf(ctx context.Context, loc string) ([]string, int64, error) {
	t, err := table.Open(ctx, loc)
	if err != nil {
		return nil, 0, err
	}
	files, size, err := tableFiles(ctx, t)
	if err != nil {
		return nil, 0, err
	}
	return filePaths(files), size, nil
}
