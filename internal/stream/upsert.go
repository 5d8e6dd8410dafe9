package stream

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/stream/core"
)

// upsert describes one batch's copy-on-write upsert into a sink's table (sink.upsert): every row
// of the table whose key is one of keys goes, and the keys' new rows come in. The sinks that
// replace the rows of some keys (windows, global groups, CDC keys) differ only in what this
// holds.
//
// A row's key is the values of its key columns (keyNames), compared by their group-key encoding
// (appendKeyValue), which makes -0 and +0, and every NaN, one key.
type upsert struct {
	// schema is newRows' schema; the table is created from it when missing, and newRows must fit
	// the table's schema.
	schema *arrow.Schema
	// newRows holds the keys' new rows, key after key in the order of keys. The caller owns it.
	newRows arrow.RecordBatch
	// keyNames are the table columns forming a row's key.
	keyNames []string
	// keys are the keys whose rows are replaced.
	keys []upsertKey
	// pruneCols is how many leading key columns have their statistics decide which files may hold
	// a key (the candidates, the only files read); 0 reads every file.
	pruneCols int
	// perFile selects the layout of the written rows. When set, each rewritten file's remaining
	// rows are written, with the new rows of the keys found first in that file, to files of their
	// own, so that a file keeps its key range; the new rows of keys no file held are written
	// together last. Otherwise the remaining rows of every rewritten file, then the new rows, are
	// written together, split by part.
	perFile bool
	// part, without perFile, splits the written rows into parts written to separate files, in
	// part order: it returns the part (0, 1, ...) of a row from its key's values. nil: one part.
	part func(key []core.Value) int
	// params are the commit's operation parameters besides outputMode, queryId and epochId.
	params map[string]any
	// metrics are the commit's metrics besides the counts of files, rows and bytes.
	metrics map[string]any
	// copiedMetric, when set, names a commit metric counting the rows copied from rewritten files.
	copiedMetric string
}

// upsertKey is one key an upsert replaces.
type upsertKey struct {
	vals []core.Value // the values of the key columns, in upsert.keyNames order
	rows int          // the number of its new rows in upsert.newRows; 0 deletes the key's rows
}

// upsert commits u in one Delta commit carrying txn (appID, batchID), copy-on-write: without MERGE
// (whose commit cannot carry a txn action) and without requiring a layout. The candidate files
// are those whose statistics may hold a key (u.pruneCols); each candidate is read, and one that
// holds a row of a key is removed and its other rows are written again, with the new rows, as
// u.perFile and u.part lay them out. The commit is skipped when the table already has a txn of
// appID at batchID or later.
//
// Replays are exact: if the batch's commit landed before a crash the txn check skips it, and if it
// did not the table is as the batch first found it (a commit is atomic), so the same rows go in.
func (s *sink) upsert(ctx context.Context, batchID int64, u *upsert) (commitResult, error) {
	fail := func(err error) (commitResult, error) { return commitResult{}, s.commitError(batchID, err) }
	snap, landed, err := s.openBatch(ctx, batchID, u.schema)
	if err != nil {
		return fail(err)
	}
	if landed {
		return commitResult{version: snap.Version(), skipped: true}, nil
	}
	target := delta.ToArrowSchema(snap.Schema())
	keyCols := make([]int, len(u.keyNames))
	for k, name := range u.keyNames {
		if keyCols[k], err = findColumn(target, name); err != nil {
			return fail(err)
		}
	}
	// The new rows of each key, by the key's encoding.
	replaced := make(map[string][]int64, len(u.keys))
	var next int64
	for _, k := range u.keys {
		id := string(encodeKeyValues(k.vals))
		for range k.rows {
			replaced[id] = append(replaced[id], next)
			next++
		}
		if _, ok := replaced[id]; !ok {
			replaced[id] = nil
		}
	}
	if next != u.newRows.NumRows() {
		return fail(fmt.Errorf("%d new rows for keys of %d: %w", u.newRows.NumRows(), next, core.ErrProtocol))
	}
	newRows, err := conform(ctx, u.newRows, target)
	if err != nil {
		return fail(err)
	}
	defer newRows.Release()
	wopts, err := writeOptions(snap)
	if err != nil {
		return fail(err)
	}
	var files []parquetio.DataFile
	write := func(batches []arrow.RecordBatch) error {
		if len(batches) == 0 {
			return nil
		}
		rr, err := array.NewRecordReader(target, batches)
		if err != nil {
			return err
		}
		defer rr.Release()
		fs, err := parquetio.WriteDataFiles(ctx, s.t.Store(), rr, wopts)
		files = append(files, fs...)
		return err
	}

	pruneKeys := make([][]core.Value, len(u.keys))
	for i, k := range u.keys {
		pruneKeys[i] = k.vals[:u.pruneCols]
	}
	pruner := newFilePruner(snap, keyCols[:u.pruneCols], pruneKeys)
	var candidates, removed []*delta.Add
	for _, f := range snap.Files() {
		if pruner.mayHold(f) {
			candidates = append(candidates, f)
		}
	}
	var parts [][]arrow.RecordBatch // without perFile: the rows to write, by part
	defer func() {
		for _, p := range parts {
			releaseAll(p)
		}
	}()
	placed := make(map[string]bool) // with perFile: the keys whose new rows went with a file
	var copied int64
	for _, f := range candidates {
		batches, err := scanFile(ctx, s.t, snap, f)
		if err != nil {
			return fail(err)
		}
		var found []int64 // with perFile: the new rows of the keys found first in f
		masks, hit, err := u.keptMasks(batches, keyCols, replaced, func(id string) {
			if u.perFile && !placed[id] {
				placed[id] = true
				found = append(found, replaced[id]...)
			}
		})
		var kept [][]arrow.RecordBatch
		if err == nil && hit {
			kept, err = filterParts(ctx, batches, masks)
		}
		releaseAll(batches)
		if err != nil {
			return fail(err)
		}
		if !hit {
			continue
		}
		removed = append(removed, f)
		rows := slices.Concat(kept...)
		for _, b := range rows {
			copied += b.NumRows()
		}
		if !u.perFile {
			parts = appendParts(parts, kept)
			continue
		}
		slices.Sort(found)
		upd, err := takeRows(ctx, []arrow.RecordBatch{newRows}, found)
		if err == nil {
			rows = append(rows, upd...)
			err = write(rows)
		}
		releaseAll(rows)
		if err != nil {
			return fail(err)
		}
	}
	if u.perFile {
		// The new rows of the keys no file held.
		var fresh []int64
		for _, k := range u.keys {
			if id := string(encodeKeyValues(k.vals)); !placed[id] {
				placed[id] = true
				fresh = append(fresh, replaced[id]...)
			}
		}
		slices.Sort(fresh)
		rows, err := takeRows(ctx, []arrow.RecordBatch{newRows}, fresh)
		if err == nil {
			err = write(rows)
			releaseAll(rows)
		}
		if err != nil {
			return fail(err)
		}
	} else {
		batches := []arrow.RecordBatch{newRows}
		masks, _, err := u.keptMasks(batches, keyCols, nil, nil)
		if err != nil {
			return fail(err)
		}
		kept, err := filterParts(ctx, batches, masks)
		if err != nil {
			return fail(err)
		}
		parts = appendParts(parts, kept)
		for _, p := range parts {
			if err := write(p); err != nil {
				return fail(err)
			}
		}
	}

	if len(files) == 0 && len(removed) == 0 {
		return commitResult{version: snap.Version()}, nil
	}
	params := map[string]any{"outputMode": "Update", "queryId": s.appID, "epochId": batchID}
	for k, v := range u.params {
		params[k] = v
	}
	tx := s.t.Kernel().NewTransaction(snap, delta.Operation{Name: "STREAMING UPDATE", Parameters: params})
	tx.ReadFiles(candidates...)
	rows, bytes := addFiles(tx, files)
	now := s.t.Kernel().Now().UnixMilli()
	for _, f := range removed {
		tx.RemoveFiles(f.RemoveAction(now, true))
	}
	if len(removed) > 0 {
		tx.SetRewritesRows()
	}
	tx.SetAppTransaction(s.appID, batchID)
	metrics := map[string]any{"numAddedFiles": len(files), "numRemovedFiles": len(removed), "numOutputRows": rows, "numOutputBytes": bytes}
	for k, v := range u.metrics {
		metrics[k] = v
	}
	if u.copiedMetric != "" {
		metrics[u.copiedMetric] = copied
	}
	tx.SetMetrics(metrics)
	cr, err := tx.Commit(ctx)
	if err != nil {
		return fail(err)
	}
	return commitResult{version: cr.Version, rows: u.newRows.NumRows()}, nil
}

// keptMasks marks the rows of batches whose key is not in replaced (every row when replaced is
// nil) by the part they are written to: masks[bi][p][i] is set when row i of batch bi stays, in
// part p (part 0 with perFile or without u.part). hit reports that some row's key is in replaced;
// onHit, unless nil, is called with the encoding of the key of each such row.
func (u *upsert) keptMasks(batches []arrow.RecordBatch, keyCols []int, replaced map[string][]int64, onHit func(id string)) (masks [][][]bool, hit bool, err error) {
	masks = make([][][]bool, len(batches))
	vals := make([]core.Value, len(keyCols))
	gs := make([]getter, len(keyCols))
	var key []byte
	for bi, b := range batches {
		for k, c := range keyCols {
			if gs[k], err = newGetter(b.Column(c)); err != nil {
				return nil, false, err
			}
		}
		n := int(b.NumRows())
		for i := range n {
			key = key[:0]
			for k, g := range gs {
				vals[k] = g(i)
				key = appendKeyValue(key, vals[k])
			}
			if _, ok := replaced[string(key)]; ok {
				hit = true
				if onHit != nil {
					onHit(string(key))
				}
				continue
			}
			p := 0
			if u.part != nil && !u.perFile {
				p = u.part(vals)
			}
			for len(masks[bi]) <= p {
				masks[bi] = append(masks[bi], make([]bool, n))
			}
			masks[bi][p][i] = true
		}
	}
	return masks, hit, nil
}

// filterParts returns the rows of batches that masks (as from keptMasks) set, by part, in the
// order of batches.
func filterParts(ctx context.Context, batches []arrow.RecordBatch, masks [][][]bool) ([][]arrow.RecordBatch, error) {
	var out [][]arrow.RecordBatch
	for bi, b := range batches {
		for p, mask := range masks[bi] {
			fb, err := filterBatch(ctx, b, mask)
			if err != nil {
				for _, bs := range out {
					releaseAll(bs)
				}
				return nil, err
			}
			for len(out) <= p {
				out = append(out, nil)
			}
			if fb != nil {
				out[p] = append(out[p], fb)
			}
		}
	}
	return out, nil
}

// appendParts appends the batches of each part of add to the same part of parts.
func appendParts(parts, add [][]arrow.RecordBatch) [][]arrow.RecordBatch {
	for p, bs := range add {
		for len(parts) <= p {
			parts = append(parts, nil)
		}
		parts[p] = append(parts[p], bs...)
	}
	return parts
}

// filePruner tells from a data file's statistics whether the file may hold one of a set of keys
// of several columns: it may unless, for some column, the column's keyPruner says it does not.
// A nil element prunes nothing.
type filePruner []*keyPruner

// newFilePruner prepares the pruning of keys (each the values of the columns cols of the table's
// logical schema, in order).
func newFilePruner(snap *delta.Snapshot, cols []int, keys [][]core.Value) filePruner {
	p := make(filePruner, len(cols))
	vals := make([]core.Value, len(keys))
	for k, c := range cols {
		for i, key := range keys {
			vals[i] = key[k]
		}
		p[k] = newKeyPruner(snap, c, vals)
	}
	return p
}

// mayHold reports whether file f may hold one of the keys; every doubt means it may.
func (p filePruner) mayHold(f *delta.Add) bool {
	if !slices.ContainsFunc(p, func(kp *keyPruner) bool { return kp != nil }) {
		return true
	}
	st, err := delta.ParseStats(f.Stats)
	if err != nil || st == nil {
		return true
	}
	for _, kp := range p {
		if !kp.mayHoldStats(st) {
			return false
		}
	}
	return true
}

// keyPruner tells, from a file's statistics, that the file holds no row whose value in one column
// is one of a set of key values. A nil keyPruner prunes nothing.
type keyPruner struct {
	path []string       // the column's statistics path (its physical name)
	typ  delta.DataType // the column's type
	kind core.Kind      // the kind of every non-NULL key value
	keys []core.Value   // the non-NULL key values, sorted by core.Compare
	null bool           // some key value is NULL
}

// newKeyPruner returns the pruner of the values vals of column col of the table's logical schema,
// or nil when statistics cannot decide: no values, a partition column, a type without min/max
// statistics, values of mixed kinds, or a NaN (maxima do not bound NaN).
func newKeyPruner(snap *delta.Snapshot, col int, vals []core.Value) *keyPruner {
	fields := snap.Schema().Fields
	if len(vals) == 0 || col < 0 || col >= len(fields) {
		return nil
	}
	f := fields[col]
	if slices.ContainsFunc(snap.PartitionColumns(), func(p string) bool { return strings.EqualFold(p, f.Name) }) {
		return nil
	}
	switch f.Type.(type) {
	case *delta.PrimitiveType, *delta.DecimalType:
	default:
		return nil
	}
	p := &keyPruner{path: []string{f.Name}, typ: f.Type, kind: core.KindNull}
	if mode := snap.ColumnMappingMode(); mode != "" && mode != "none" {
		p.path = []string{f.PhysicalName()}
	}
	for _, v := range vals {
		switch {
		case v.IsNull():
			p.null = true
			continue
		case p.kind == core.KindNull:
			p.kind = v.Kind()
		case v.Kind() != p.kind:
			return nil
		}
		if v.Kind() == core.KindFloat && math.IsNaN(v.AsFloat()) {
			return nil
		}
		p.keys = append(p.keys, v)
	}
	slices.SortFunc(p.keys, func(a, b core.Value) int { c, _ := core.Compare(a, b); return c })
	return p
}

// mayHold reports whether file f may hold a row of one of the keys; every doubt (no statistics,
// bounds of another kind) means it may.
func (p *keyPruner) mayHold(f *delta.Add) bool {
	if p == nil {
		return true
	}
	st, err := delta.ParseStats(f.Stats)
	if err != nil || st == nil {
		return true
	}
	return p.mayHoldStats(st)
}

// mayHoldStats is mayHold on a file's parsed statistics.
func (p *keyPruner) mayHoldStats(st *delta.Stats) bool {
	if p == nil {
		return true
	}
	if st.NumRecords == 0 {
		return false
	}
	if p.null {
		// The file may hold a NULL unless it counts none.
		if n, ok := st.NullCountOf(p.path); !ok || n > 0 {
			return true
		}
	}
	if len(p.keys) == 0 {
		return false
	}
	lo, ok1 := st.MinValue(p.path, p.typ)
	hi, ok2 := st.MaxValue(p.path, p.typ)
	if !ok1 || !ok2 {
		return true
	}
	lv, ok1 := statsValue(lo)
	hv, ok2 := statsValue(hi)
	if !ok1 || !ok2 || lv.Kind() != p.kind || hv.Kind() != p.kind {
		return true
	}
	// The first key >= the minimum; the file may hold it if it is <= the maximum, or, for
	// strings, if the maximum is a truncated prefix of it.
	i, _ := slices.BinarySearchFunc(p.keys, lv, func(k, t core.Value) int { c, _ := core.Compare(k, t); return c })
	if i == len(p.keys) {
		return false
	}
	k := p.keys[i]
	if c, _ := core.Compare(k, hv); c <= 0 {
		return true
	}
	return p.kind == core.KindString && strings.HasPrefix(k.AsString(), hv.AsString())
}

// statsValue converts a statistics scalar to the value model; ok is false for NULL or a type the
// model does not take.
func statsValue(s scalar.Scalar) (core.Value, bool) {
	if s == nil || !s.IsValid() {
		return core.Value{}, false
	}
	arr, err := scalar.MakeArrayFromScalar(s, 1, memory.DefaultAllocator)
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
