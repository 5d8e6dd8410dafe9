package stream

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
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

// upsertGroups commits the changed groups of a global aggregation's batch (results, one per
// group the batch changed) in one Delta commit carrying txn (appID, batchID): every row of the
// table with the group key of a result goes, the results come in.
//
// It is copy-on-write like upsertWindows, with the group key as the row identity. The candidate
// files are those whose statistics of the group columns may hold a changed key (for each group
// column, some changed key's value within the file's min/max); each candidate is read, and one
// that holds a changed key is removed and rewritten on its own into new files, with its other
// rows unchanged and the new rows of the keys it held. A file keeps its key range that way, so a
// batch rewrites only the files holding the groups it changed. Keys found in no file (new groups)
// are written together to new files, in key order.
//
// Replays are exact, as for upsertWindows: a landed commit is skipped by the txn check, and one
// that did not land left the table as the batch first found it.
func (s *sink) upsertGroups(ctx context.Context, batchID int64, m *mapping, results []core.Result) (commitResult, error) {
	fail := func(err error) (commitResult, error) {
		return commitResult{}, fmt.Errorf("stream: commit batch %d to %s: %w", batchID, s.t.Location(), err)
	}
	newRows, _, err := m.resultsBatch(results)
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
	groupCols := make([]int, ng)
	for k := range ng {
		if groupCols[k], err = findColumn(target, m.resultSchema.Field(k).Name); err != nil {
			return fail(err)
		}
	}
	// The new row of each changed key (results are not retractions: a global window never moves).
	rowOf := make(map[string]int64, len(results))
	keys := make([][]core.Value, 0, len(results))
	for i, r := range results {
		rowOf[string(r.Key)] = int64(i)
		vals, err := decodeKey(r.Key, ng)
		if err != nil {
			return fail(err)
		}
		keys = append(keys, vals)
	}
	conformed, err := conform(ctx, newRows, target)
	if err != nil {
		return fail(err)
	}
	defer conformed.Release()
	pruner := newGroupPruner(snap.Schema(), groupCols, keys)

	wopts := parquetio.WriteOptions{Schema: snap.Schema(), PartitionColumns: snap.PartitionColumns()}
	if err := wopts.ApplyTableProperties(snap.Metadata().Configuration); err != nil {
		return fail(err)
	}
	write := func(batches []arrow.RecordBatch) ([]parquetio.DataFile, error) {
		if len(batches) == 0 {
			return nil, nil
		}
		rr, err := array.NewRecordReader(target, batches)
		if err != nil {
			return nil, err
		}
		defer rr.Release()
		return parquetio.WriteDataFiles(ctx, s.t.Store(), rr, wopts)
	}

	var candidates, removed []*delta.Add
	var files []parquetio.DataFile
	placed := make(map[string]bool, len(results))
	for _, f := range snap.Files() {
		if pruner.mayHold(f) {
			candidates = append(candidates, f)
		}
	}
	for _, f := range candidates {
		batches, err := scanFile(ctx, s.t, snap, f)
		if err != nil {
			return fail(err)
		}
		masks := make([][]bool, len(batches)) // the rows that stay
		var found []int64                     // the new rows of the changed keys the file holds
		for bi, b := range batches {
			gs := make([]getter, ng)
			for k, c := range groupCols {
				if gs[k], err = newGetter(b.Column(c)); err != nil {
					releaseAll(batches)
					return fail(err)
				}
			}
			n := int(b.NumRows())
			masks[bi] = make([]bool, n)
			var key []byte
			for i := range n {
				key = key[:0]
				for _, g := range gs {
					key = appendKeyValue(key, g(i))
				}
				j, changed := rowOf[string(key)]
				if !changed {
					masks[bi][i] = true
					continue
				}
				if !placed[string(key)] {
					placed[string(key)] = true
					found = append(found, j)
				}
			}
		}
		hit := slices.ContainsFunc(masks, func(m []bool) bool { return slices.Contains(m, false) })
		if hit {
			slices.Sort(found)
			var fs []parquetio.DataFile
			rows, err := keptRows(ctx, batches, masks, conformed, found)
			if err == nil {
				fs, err = write(rows)
				releaseAll(rows)
			}
			if err != nil {
				releaseAll(batches)
				return fail(err)
			}
			files = append(files, fs...)
			removed = append(removed, f)
		}
		releaseAll(batches)
	}
	// New groups.
	var fresh []int64
	for i, r := range results {
		if !placed[string(r.Key)] {
			fresh = append(fresh, int64(i))
		}
	}
	if len(fresh) > 0 {
		nb, err := takeRows(ctx, []arrow.RecordBatch{conformed}, fresh)
		if err != nil {
			return fail(err)
		}
		fs, err := write(nb)
		releaseAll(nb)
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
		"numOutputBytes": bytes, "numUpdatedGroups": len(results)})
	cr, err := tx.Commit(ctx)
	if err != nil {
		return fail(err)
	}
	return commitResult{version: cr.Version, rows: newRows.NumRows()}, nil
}

// keptRows returns the rows of batches where masks are set, then the rows at found (ascending) of
// extra.
func keptRows(ctx context.Context, batches []arrow.RecordBatch, masks [][]bool, extra arrow.RecordBatch, found []int64) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	for bi, b := range batches {
		fb, err := filterBatch(ctx, b, masks[bi])
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		if fb != nil {
			out = append(out, fb)
		}
	}
	upd, err := takeRows(ctx, []arrow.RecordBatch{extra}, found)
	if err != nil {
		releaseAll(out)
		return nil, err
	}
	return append(out, upd...), nil
}

// groupPruner tells from a data file's statistics whether the file may hold one of a set of group
// keys: it may unless, for some group column, no key's value falls within the file's min/max
// (NULLs: unless the file has no NULL there). Statistics that are missing or do not compare make
// a file a candidate.
type groupPruner struct {
	cols []groupBounds
}

type groupBounds struct {
	path []string // physical name
	typ  delta.DataType
	vals []core.Value // the keys' non-NULL values, sorted
	null bool         // some key is NULL in the column
	off  bool         // the values do not compare: no pruning on this column
}

// newGroupPruner prepares the pruning of the keys (each the values of the group columns cols of
// schema, in order).
func newGroupPruner(schema *delta.StructType, cols []int, keys [][]core.Value) *groupPruner {
	p := &groupPruner{}
	for k, c := range cols {
		f := schema.Fields[c]
		pc := groupBounds{path: []string{f.PhysicalName()}, typ: f.Type}
		for _, key := range keys {
			if key[k].IsNull() {
				pc.null = true
				continue
			}
			pc.vals = append(pc.vals, key[k])
		}
		slices.SortFunc(pc.vals, func(a, b core.Value) int {
			c, err := core.Compare(a, b)
			if err != nil {
				pc.off = true
			}
			return c
		})
		p.cols = append(p.cols, pc)
	}
	return p
}

// mayHold reports whether file f may hold one of the keys.
func (p *groupPruner) mayHold(f *delta.Add) bool {
	st, err := delta.ParseStats(f.Stats)
	if err != nil || st == nil {
		return true
	}
	for _, pc := range p.cols {
		if pc.off {
			continue
		}
		if pc.null {
			if n, ok := st.NullCountOf(pc.path); !ok || n > 0 {
				continue
			}
		}
		if !pc.mayHoldValue(st) {
			return false
		}
	}
	return true
}

// mayHoldValue reports whether one of the column's non-NULL key values may be within the file's
// min/max.
func (pc *groupBounds) mayHoldValue(st *delta.Stats) bool {
	if len(pc.vals) == 0 {
		return false
	}
	lo, ok1 := st.MinValue(pc.path, pc.typ)
	hi, ok2 := st.MaxValue(pc.path, pc.typ)
	if !ok1 || !ok2 {
		return true
	}
	l, ok1 := statsValue(lo)
	h, ok2 := statsValue(hi)
	if !ok1 || !ok2 {
		return true
	}
	bad := false
	i := sort.Search(len(pc.vals), func(i int) bool {
		c, err := core.Compare(pc.vals[i], l)
		bad = bad || err != nil
		return c >= 0
	})
	if bad {
		return true
	}
	if i == len(pc.vals) {
		return false
	}
	c, err := core.Compare(pc.vals[i], h)
	return err != nil || c <= 0
}

// statsValue converts a statistics value to the core's value model (false: it cannot).
func statsValue(sc scalar.Scalar) (core.Value, bool) {
	if sc == nil || !sc.IsValid() {
		return core.Value{}, false
	}
	arr, err := scalar.MakeArrayFromScalar(sc, 1, memory.DefaultAllocator)
	if err != nil {
		return core.Value{}, false
	}
	defer arr.Release()
	g, err := newGetter(arr)
	if err != nil {
		return core.Value{}, false
	}
	v := g(0)
	return v, !v.IsNull()
}
