package stream

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
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
		return commitResult{}, fmt.Errorf("stream: commit batch %d to %s: %w", batchID, s.t.Location(), err)
	}
	return commitResult{version: res.Version, skipped: res.Skipped, rows: res.RowsWritten}, nil
}

// upsertWindows commits the changed (window, group) rows of an update-mode batch in one Delta
// commit carrying txn (appID, batchID): every row of the table with the identity (window_start,
// window_end, group key) of a result goes, the results that are not retractions come in.
//
// It is copy-on-write, without MERGE (whose commit cannot carry a txn action) and without
// requiring a layout: the candidate files are those whose window_start statistics may hold a
// touched window start; each candidate is read, and one that holds a touched row is removed and
// its other rows rewritten. Rewritten and new rows are split into two new files: rows of windows
// closed for good (window_end <= closedBefore, the watermark minus the allowed lateness after the
// batch) and rows of windows still open. Files of closed windows then never become candidates
// again (a later batch only touches open windows, which start after them for tumbling and hopping
// windows), so each batch rewrites about the rows of the open windows and the table's files end up
// sorted by window.
//
// Replays are exact: if the batch's commit landed before a crash the txn check skips it, and if it
// did not the table is as the batch first found it (a commit is atomic), so the same rows go in.
func (s *sink) upsertWindows(ctx context.Context, batchID int64, m *mapping, results []core.Result, closedBefore int64) (commitResult, error) {
	fail := func(err error) (commitResult, error) {
		return commitResult{}, fmt.Errorf("stream: commit batch %d to %s: %w", batchID, s.t.Location(), err)
	}
	newRows, wins, err := m.resultsBatch(results)
	if err != nil {
		return fail(err)
	}
	defer newRows.Release()
	snap, err := s.snapshotOrCreate(ctx, m.resultSchema)
	if err != nil {
		return fail(err)
	}
	incoming, err := delta.FromArrowSchema(m.resultSchema)
	if err != nil {
		return fail(err)
	}
	if err := delta.CheckSchemaCompatible(snap.Schema(), incoming, false); err != nil {
		return fail(err)
	}
	if v, ok := snap.TxnVersion(s.appID); ok && v >= batchID {
		return commitResult{version: snap.Version(), skipped: true}, nil
	}
	target := delta.ToArrowSchema(snap.Schema())
	ng := len(m.groupCols)

	touched := make(map[string]bool, len(results))
	var starts []int64
	for _, r := range results {
		touched[identity(r.Window.Start, r.Window.End, r.Key)] = true
		starts = append(starts, r.Window.Start)
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)

	idx := func(name string) (int, error) { return findColumn(target, name) }
	startCol, err := idx(colWindowStart)
	if err != nil {
		return fail(err)
	}
	endCol, err := idx(colWindowEnd)
	if err != nil {
		return fail(err)
	}
	groupCols := make([]int, ng)
	for k := range ng {
		if groupCols[k], err = idx(m.resultSchema.Field(2 + k).Name); err != nil {
			return fail(err)
		}
	}

	var candidates, removed []*delta.Add
	for _, f := range snap.Files() {
		if mayHoldStart(f, starts) {
			candidates = append(candidates, f)
		}
	}
	var closed, open []arrow.RecordBatch
	defer func() { releaseAll(closed); releaseAll(open) }()
	for _, f := range candidates {
		batches, err := scanFile(ctx, s.t, snap, f)
		if err != nil {
			return fail(err)
		}
		hit := false
		type masks struct{ closed, open []bool }
		ms := make([]masks, len(batches))
		for bi, b := range batches {
			starts, ends := b.Column(startCol).(*array.Timestamp), b.Column(endCol).(*array.Timestamp)
			if starts == nil || ends == nil {
				releaseAll(batches)
				return fail(fmt.Errorf("window bounds are not timestamps in %s: %w", f.Path, ErrTransformOutput))
			}
			gs := make([]getter, ng)
			for k, c := range groupCols {
				if gs[k], err = newGetter(b.Column(c)); err != nil {
					releaseAll(batches)
					return fail(err)
				}
			}
			n := int(b.NumRows())
			ms[bi] = masks{make([]bool, n), make([]bool, n)}
			var key []byte
			for i := range n {
				key = key[:0]
				for _, g := range gs {
					key = appendKeyValue(key, g(i))
				}
				st, en := int64(starts.Value(i)), int64(ends.Value(i))
				switch {
				case touched[identity(st, en, key)]:
					hit = true
				case en <= closedBefore:
					ms[bi].closed[i] = true
				default:
					ms[bi].open[i] = true
				}
			}
		}
		if hit {
			removed = append(removed, f)
			for bi, b := range batches {
				for _, part := range []struct {
					mask []bool
					dst  *[]arrow.RecordBatch
				}{{ms[bi].closed, &closed}, {ms[bi].open, &open}} {
					fb, err := filterBatch(ctx, b, part.mask)
					if err != nil {
						releaseAll(batches)
						return fail(err)
					}
					if fb != nil {
						*part.dst = append(*part.dst, fb)
					}
				}
			}
		}
		releaseAll(batches)
	}
	// The batch's new rows, conformed to the table's schema and split the same way.
	if newRows.NumRows() > 0 {
		c, err := conform(ctx, newRows, target)
		if err != nil {
			return fail(err)
		}
		cm, om := make([]bool, len(wins)), make([]bool, len(wins))
		for i, w := range wins {
			cm[i] = w.End <= closedBefore
			om[i] = !cm[i]
		}
		for _, part := range []struct {
			mask []bool
			dst  *[]arrow.RecordBatch
		}{{cm, &closed}, {om, &open}} {
			fb, err := filterBatch(ctx, c, part.mask)
			if err != nil {
				c.Release()
				return fail(err)
			}
			if fb != nil {
				*part.dst = append(*part.dst, fb)
			}
		}
		c.Release()
	}

	wopts := parquetio.WriteOptions{Schema: snap.Schema(), PartitionColumns: snap.PartitionColumns()}
	if err := wopts.ApplyTableProperties(snap.Metadata().Configuration); err != nil {
		return fail(err)
	}
	var files []parquetio.DataFile
	for _, part := range [][]arrow.RecordBatch{closed, open} {
		if len(part) == 0 {
			continue
		}
		rr, err := array.NewRecordReader(target, part)
		if err != nil {
			return fail(err)
		}
		fs, err := parquetio.WriteDataFiles(ctx, s.t.Store(), rr, wopts)
		rr.Release()
		if err != nil {
			return fail(err)
		}
		files = append(files, fs...)
	}
	if len(files) == 0 && len(removed) == 0 {
		return commitResult{version: snap.Version()}, nil
	}
	tx := s.t.Kernel().NewTransaction(snap, delta.Operation{Name: "STREAMING UPDATE", Parameters: map[string]any{
		"outputMode": "Update", "queryId": s.appID, "epochId": batchID,
	}})
	tx.ReadFiles(candidates...)
	var rows, bytes int64
	for _, f := range files {
		tx.AddFiles(f.Add(true))
		rows += f.NumRecords
		bytes += f.Size
	}
	now := s.t.Kernel().Now().UnixMilli()
	for _, f := range removed {
		tx.RemoveFiles(f.RemoveAction(now, true))
	}
	if len(removed) > 0 {
		tx.SetRewritesRows()
	}
	tx.SetAppTransaction(s.appID, batchID)
	tx.SetMetrics(map[string]any{"numAddedFiles": len(files), "numRemovedFiles": len(removed), "numOutputRows": rows,
		"numOutputBytes": bytes, "numUpdatedWindows": len(results)})
	cr, err := tx.Commit(ctx)
	if err != nil {
		return fail(err)
	}
	return commitResult{version: cr.Version, rows: newRows.NumRows()}, nil
}

// identity is the key of one output row of an aggregation: its window and encoded group key.
func identity(start, end int64, key []byte) string {
	b := make([]byte, 0, 16+len(key))
	b = binary.BigEndian.AppendUint64(b, uint64(start))
	b = binary.BigEndian.AppendUint64(b, uint64(end))
	return string(append(b, key...))
}

// mayHoldStart reports whether file f may hold a row whose window_start is one of starts (sorted),
// judging by its statistics; a file without usable statistics may.
func mayHoldStart(f *delta.Add, starts []int64) bool {
	st, err := delta.ParseStats(f.Stats)
	if err != nil || st == nil {
		return true
	}
	lo, ok1 := st.MinValue([]string{colWindowStart}, delta.TypeTimestamp)
	hi, ok2 := st.MaxValue([]string{colWindowStart}, delta.TypeTimestamp)
	if !ok1 || !ok2 {
		return true
	}
	l, okl := lo.(*scalar.Timestamp)
	h, okh := hi.(*scalar.Timestamp)
	if !okl || !okh || !l.IsValid() || !h.IsValid() {
		return true
	}
	lv, hv := int64(l.Value), int64(h.Value)
	i, _ := slices.BinarySearch(starts, lv)
	return i < len(starts) && starts[i] <= hv
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
