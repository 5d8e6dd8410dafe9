package stream

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/stream/core"
	"github.com/stratalake/strata/internal/table"
)

// sink is one Delta table the query commits to, under one txn app id.
type sink struct {
	t           *table.Table
	appID       string
	partitionBy []string
	properties  map[string]string // table properties when the sink creates the table
}

// commitResult describes one sink commit.
type commitResult struct {
	version int64 // the table version after the commit (or found, when skipped)
	skipped bool  // the batch's txn had landed before (a replay after a crash)
	rows    int64
}

// batchSource is a table.Source over record batches in memory; Open conforms them to the table's
// schema by column name (casting where the types differ, NULL for a column the batches lack).
type batchSource struct {
	schema  *arrow.Schema
	batches []arrow.RecordBatch
}

func (s *batchSource) Schema() *arrow.Schema { return s.schema }

func (s *batchSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	out := make([]arrow.RecordBatch, 0, len(s.batches))
	for _, b := range s.batches {
		c, err := conform(ctx, b, target)
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		out = append(out, c)
	}
	rr, err := array.NewRecordReader(target, out)
	releaseAll(out)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	return rr, nil
}

func releaseAll(bs []arrow.RecordBatch) {
	for _, b := range bs {
		b.Release()
	}
}

// conform returns b with target's columns: matched by name (exactly, else case-insensitively),
// cast when the type differs, NULL when b lacks the column. The caller releases the result.
func conform(ctx context.Context, b arrow.RecordBatch, target *arrow.Schema) (arrow.RecordBatch, error) {
	if b.Schema().Equal(target) {
		b.Retain()
		return b, nil
	}
	n := b.NumRows()
	cols := make([]arrow.Array, target.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, f := range target.Fields() {
		j := -1
		if idx := b.Schema().FieldIndices(f.Name); len(idx) == 1 {
			j = idx[0]
		} else {
			for k, g := range b.Schema().Fields() {
				if strings.EqualFold(g.Name, f.Name) {
					j = k
				}
			}
		}
		if j < 0 {
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, int(n))
			continue
		}
		col := b.Column(j)
		if arrow.TypeEqual(col.DataType(), f.Type) {
			col.Retain()
			cols[i] = col
			continue
		}
		c, err := compute.CastArray(ctx, col, compute.SafeCastOptions(f.Type))
		if err != nil {
			return nil, fmt.Errorf("stream: column %s: %s to the table's %s: %w", f.Name, col.DataType(), f.Type, err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(target, cols, n), nil
}

// appendRows commits batches to the table in one Delta commit carrying txn (appID, batchID); it
// skips the commit when the table already has a txn of appID at batchID or later. The table is
// created (with the batches' schema and partitionBy) when missing.
func (s *sink) appendRows(ctx context.Context, batchID int64, schema *arrow.Schema, batches []arrow.RecordBatch) (commitResult, error) {
	res, err := s.t.Write(ctx, &batchSource{schema: schema, batches: batches}, table.WriteOptions{
		AppID: s.appID, AppVersion: batchID, CreatePartitionBy: s.partitionBy, CreateProperties: s.properties,
	})
	if err != nil {
		return commitResult{}, s.commitError(batchID, err)
	}
	return commitResult{version: res.Version, skipped: res.Skipped, rows: res.RowsWritten}, nil
}

// commitError wraps a failure to commit batch batchID to the sink's table.
func (s *sink) commitError(batchID int64, err error) error {
	return fmt.Errorf("stream: commit batch %d to %s: %w", batchID, s.t.Location(), err)
}

// upsertWindows commits the changed (window, group) rows of an update-mode batch in one Delta
// commit carrying txn (appID, batchID): every row of the table with the identity (window_start,
// window_end, group key) of a result goes, the results that are not retractions come in.
//
// It is a copy-on-write upsert (sink.upsert) whose candidate files are those whose window_start
// statistics may hold a touched window start. Rewritten and new rows are split into two new
// files: rows of windows closed for good (window_end <= closedBefore, the watermark minus the
// allowed lateness after the batch) and rows of windows still open. Files of closed windows then
// never become candidates again (a later batch only touches open windows, which start after them
// for tumbling and hopping windows), so each batch rewrites about the rows of the open windows and
// the table's files end up sorted by window.
func (s *sink) upsertWindows(ctx context.Context, batchID int64, m *mapping, results []core.Result, closedBefore int64) (commitResult, error) {
	u, err := m.resultsUpsert(results)
	if err != nil {
		return commitResult{}, s.commitError(batchID, err)
	}
	defer u.newRows.Release()
	u.pruneCols = 1 // window_start
	u.part = func(key []core.Value) int {
		if key[1].AsInt() <= closedBefore { // window_end
			return 0
		}
		return 1
	}
	u.metrics = map[string]any{"numUpdatedWindows": len(results)}
	return s.upsert(ctx, batchID, u)
}

// upsertGroups commits the changed groups of a global aggregation's batch (results, one per
// group the batch changed) in one Delta commit carrying txn (appID, batchID): every row of the
// table with the group key of a result goes, the results come in.
//
// It is a copy-on-write upsert (sink.upsert) with the group key as the row identity. The candidate
// files are those whose statistics of the group columns may hold a changed key (for each group
// column, some changed key's value within the file's min/max); each candidate is read, and one
// that holds a changed key is removed and rewritten on its own into new files, with its other
// rows unchanged and the new rows of the keys it held. A file keeps its key range that way, so a
// batch rewrites only the files holding the groups it changed. Keys found in no file (new groups)
// are written together to new files, in key order.
func (s *sink) upsertGroups(ctx context.Context, batchID int64, m *mapping, results []core.Result) (commitResult, error) {
	u, err := m.resultsUpsert(results)
	if err != nil {
		return commitResult{}, s.commitError(batchID, err)
	}
	defer u.newRows.Release()
	u.pruneCols, u.perFile = len(m.groupCols), true
	u.metrics = map[string]any{"numUpdatedGroups": len(results)}
	return s.upsert(ctx, batchID, u)
}

// resultsUpsert returns the upsert of an aggregation batch's results (sink.upsert): a row's key
// is its window bounds (window_start, window_end; none for a global aggregation), then its group
// columns; a retraction deletes its key's row. The caller releases u.newRows.
func (m *mapping) resultsUpsert(results []core.Result) (*upsert, error) {
	newRows, _, err := m.resultsBatch(results)
	if err != nil {
		return nil, err
	}
	ng, wc := len(m.groupCols), m.windowCols()
	keys := make([]upsertKey, len(results))
	for i, r := range results {
		vals, err := decodeKey(r.Key, ng)
		if err != nil {
			newRows.Release()
			return nil, err
		}
		if wc > 0 {
			vals = append([]core.Value{core.Int(r.Window.Start), core.Int(r.Window.End)}, vals...)
		}
		keys[i] = upsertKey{vals: vals, rows: 1}
		if r.Retract {
			keys[i].rows = 0
		}
	}
	names := make([]string, wc+ng)
	for k := range names {
		names[k] = m.resultSchema.Field(k).Name
	}
	return &upsert{schema: m.resultSchema, newRows: newRows, keyNames: names, keys: keys}, nil
}

// scanFile reads one data file of snap in the table's logical schema.
func scanFile(ctx context.Context, t *table.Table, snap *delta.Snapshot, f *delta.Add) ([]arrow.RecordBatch, error) {
	sc, err := t.Scan(ctx, snap, table.ScanOptions{Files: []*delta.Add{f}})
	if err != nil {
		return nil, err
	}
	defer sc.Release()
	var out []arrow.RecordBatch
	for sc.Next() {
		b := sc.RecordBatch()
		b.Retain()
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		releaseAll(out)
		return nil, fmt.Errorf("read %s: %w", f.Path, err)
	}
	return out, nil
}

// filterBatch returns the rows of b where mask is set, or nil when there are none.
func filterBatch(ctx context.Context, b arrow.RecordBatch, mask []bool) (arrow.RecordBatch, error) {
	n := 0
	for _, m := range mask {
		if m {
			n++
		}
	}
	switch n {
	case 0:
		return nil, nil
	case len(mask):
		b.Retain()
		return b, nil
	}
	mb := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer mb.Release()
	mb.AppendValues(mask, nil)
	arr := mb.NewArray()
	defer arr.Release()
	out, err := compute.FilterRecordBatch(ctx, b, arr, compute.DefaultFilterOptions())
	if err != nil {
		return nil, fmt.Errorf("stream: filter rows: %w", err)
	}
	return out, nil
}

// takeRows returns the rows at the given indexes (ascending) of the concatenation of batches, as
// batches of the same schema.
func takeRows(ctx context.Context, batches []arrow.RecordBatch, idx []int64) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	var base int64
	k := 0
	for _, b := range batches {
		n := b.NumRows()
		mask := make([]bool, n)
		any := false
		for k < len(idx) && idx[k] < base+n {
			mask[idx[k]-base] = true
			any = true
			k++
		}
		if any {
			fb, err := filterBatch(ctx, b, mask)
			if err != nil {
				releaseAll(out)
				return nil, err
			}
			out = append(out, fb)
		}
		base += n
	}
	return out, nil
}
