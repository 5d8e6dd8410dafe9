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

// CDC configures AUTO CDC: the transform's output rows are changes (upserts and deletes of keyed
// rows) applied to the output table as a slowly changing dimension of type 1 (the table holds
// each key's latest row) or type 2 (the table holds each key's history, with __START_AT and
// __END_AT). See core.CDCSpec for the exact semantics; in short:
//
//   - A key's changes are ordered by Sequence, not by arrival; a change whose (key, sequence)
//     repeats one already received is ignored (the first received wins). A NULL key column or
//     NULL sequence fails the batch (ErrTransformOutput, core.ErrCDCNull): filter such rows in
//     the SQL.
//   - Type 1: per key, the row of the change with the greatest sequence, or no row if that change
//     is a delete. A late older change never overrides a newer one. Deletes are kept in the
//     state as tombstones, indefinitely for now.
//   - Type 2: per key, one row per version: consecutive upserts (in sequence order) with equal
//     columns (the sequence column excluded) are one version; __START_AT is the version's first
//     sequence and __END_AT the sequence of the change that follows it (NULL while current).
//     Deletes end the current version and yield no row. The state keeps every change of a key.
//
// The output table's columns are the transform's output columns minus Delete and Except, then,
// for type 2, __START_AT and __END_AT with the Sequence column's type. Every column the operator
// keeps (the output table's columns and Sequence) must have a type of the core's value model:
// integers, booleans, floats, decimals, strings, binary, timestamps and dates (not lists,
// structs or maps).
//
// A CDC query has no event time, windows or lateness (EventTime is optional and only feeds the
// watermark shown in metrics; nothing is late), and it cannot be combined with Dedup or
// Aggregate. Its output mode is implied: each batch upserts the keys it changed, in one Delta
// commit with the txn (Name, batch id), rewriting the files that hold rows of those keys
// (copy-on-write); Output.Mode must be left at its zero value. BatchMetrics.ChangedKeys counts the
// keys a batch replaced and OutputRows the rows written for them; DuplicateRows the changes
// ignored as repeats.
//
// The operator's state (per key: type 1 its newest change, type 2 every change) is held in memory
// and in the checkpoint. The CDC definition and the columns it keeps must stay the same for the
// life of a checkpoint: a restart under another one fails (core.ErrIncompatibleState).
type CDC struct {
	// Keys are the output columns forming the key.
	Keys []string
	// Sequence is the output column ordering the changes of a key: any type of the value model
	// whose values compare (integers, timestamps, dates, strings, decimals, floats).
	Sequence string
	// Delete is a BOOLEAN output column: true deletes the key, false and NULL upsert. It is not
	// written to the output table. "" means every change is an upsert.
	Delete string
	// SCDType is 1 (the default, also for 0) or 2.
	SCDType int
	// IgnoreNullUpdates makes a NULL column of an upsert keep the key's previous value (the
	// value as of the preceding change in sequence order; none after a delete).
	IgnoreNullUpdates bool
	// Except are output columns the operator reads but does not write to the output table (the
	// Sequence column may be one of them; the keys may not), as in COLUMNS * EXCEPT (...).
	Except []string
}

// The history columns of an SCD type 2 output table.
const (
	ColumnStartAt = "__START_AT"
	ColumnEndAt   = "__END_AT"
)

func (c *CDC) scdType() int {
	if c.SCDType == 0 {
		return 1
	}
	return c.SCDType
}

// validateCDC checks the CDC part of the query that can be checked without the transform's
// output schema.
func (q *Query) validateCDC() error {
	c := q.CDC
	if c == nil {
		return nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("query %q: CDC: %s: %w", q.Name, fmt.Sprintf(format, args...), ErrInvalidQuery)
	}
	switch {
	case q.Dedup != nil || q.Aggregate != nil:
		return bad("cannot be combined with Dedup or Aggregate")
	case q.Output.Mode != OutputAppend:
		return bad("the output mode is implied (per-key upserts); leave Output.Mode at its zero value")
	case c.SCDType < 0 || c.SCDType > 2:
		return bad("SCDType %d (1 or 2)", c.SCDType)
	case len(c.Keys) == 0:
		return bad("no Keys")
	case c.Sequence == "":
		return bad("no Sequence column")
	}
	keys := map[string]bool{}
	for _, k := range c.Keys {
		if keys[strings.ToLower(k)] {
			return bad("key column %q repeated", k)
		}
		keys[strings.ToLower(k)] = true
	}
	if keys[strings.ToLower(c.Sequence)] {
		return bad("the Sequence column %q is a key column", c.Sequence)
	}
	if d := strings.ToLower(c.Delete); d != "" && (keys[d] || d == strings.ToLower(c.Sequence)) {
		return bad("the Delete column %q is a key or the Sequence column", c.Delete)
	}
	for _, e := range c.Except {
		if keys[strings.ToLower(e)] {
			return bad("key column %q cannot be excluded", e)
		}
	}
	return nil
}

// cdcMapping maps the transform's output onto the CDC operator and its output back to rows.
//
// The core Row of a change holds, in Row.Values: the target columns (the output columns minus
// Delete and Except, in output order), then the Sequence column when it is excluded from the
// target, then the Delete flag (BOOLEAN, as Int 0/1).
type cdcMapping struct {
	spec core.CDCSpec
	// schema is the schema of the target rows the operator emits: the target columns with the
	// transform's types, then, for type 2, __START_AT and __END_AT with the Sequence column's type.
	schema *arrow.Schema
	// keyNames are the key columns' names in schema.
	keyNames []string
	// names are the output names of the Row.Values columns (for errors).
	names []string
	// notNull are the Row.Values columns that must not be NULL: the keys, then the sequence.
	notNull []int
}

// newCDCMapping builds the mapping of a CDC query over the transform's output schema, and returns
// the output columns read into Row.Values.
func newCDCMapping(c *CDC, out *arrow.Schema) (*cdcMapping, []int, error) {
	find := func(what, name string) (int, error) {
		i, err := findColumn(out, name)
		if err != nil {
			return -1, fmt.Errorf("CDC %s: %w", what, err)
		}
		return i, nil
	}
	seq, err := find("Sequence", c.Sequence)
	if err != nil {
		return nil, nil, err
	}
	del := -1
	if c.Delete != "" {
		if del, err = find("Delete", c.Delete); err != nil {
			return nil, nil, err
		}
		if out.Field(del).Type.ID() != arrow.BOOL {
			return nil, nil, fmt.Errorf("CDC Delete column %q has type %s, not BOOLEAN: %w", c.Delete, out.Field(del).Type, ErrTransformOutput)
		}
	}
	excluded := map[int]bool{}
	for _, e := range c.Except {
		i, err := find("Except", e)
		if err != nil {
			return nil, nil, err
		}
		excluded[i] = true
	}
	m := &cdcMapping{spec: core.CDCSpec{Delete: -1, SCDType: c.scdType(), IgnoreNullUpdates: c.IgnoreNullUpdates}}
	var cols []int
	var fields []arrow.Field
	for i, f := range out.Fields() {
		if i == del || excluded[i] {
			continue
		}
		if c.scdType() == 2 && (strings.EqualFold(f.Name, ColumnStartAt) || strings.EqualFold(f.Name, ColumnEndAt)) {
			return nil, nil, fmt.Errorf("CDC: output column %q is reserved for the SCD type 2 history: %w", f.Name, ErrTransformOutput)
		}
		m.spec.Columns = append(m.spec.Columns, len(cols))
		cols = append(cols, i)
		fields = append(fields, arrow.Field{Name: f.Name, Type: f.Type, Nullable: true})
	}
	if k := slices.Index(cols, seq); k >= 0 {
		m.spec.Sequence = k
	} else {
		m.spec.Sequence = len(cols)
		cols = append(cols, seq)
	}
	if del >= 0 {
		m.spec.Delete = len(cols)
		cols = append(cols, del)
	}
	for _, k := range c.Keys {
		i, err := find("key", k)
		if err != nil {
			return nil, nil, err
		}
		if excluded[i] || i == del || i == seq {
			return nil, nil, fmt.Errorf("CDC key column %q is excluded, the Delete or the Sequence column: %w", k, ErrInvalidQuery)
		}
		m.spec.KeyColumns = append(m.spec.KeyColumns, slices.Index(cols, i))
		m.keyNames = append(m.keyNames, out.Field(i).Name)
	}
	m.notNull = append(slices.Clone(m.spec.KeyColumns), m.spec.Sequence)
	for _, i := range cols {
		if f := out.Field(i); !supportedValueType(f.Type) {
			return nil, nil, fmt.Errorf("CDC: output column %q has type %s, which the CDC state cannot hold (exclude it or cast it, e.g. to VARCHAR): %w",
				f.Name, f.Type, ErrTransformOutput)
		}
		m.names = append(m.names, out.Field(i).Name)
	}
	if m.spec.SCDType == 2 {
		st := out.Field(seq).Type
		fields = append(fields, arrow.Field{Name: ColumnStartAt, Type: st, Nullable: true}, arrow.Field{Name: ColumnEndAt, Type: st, Nullable: true})
	}
	m.schema = arrow.NewSchema(fields, nil)
	return m, cols, nil
}

// cdcSpec returns the core spec of a CDC query (nil otherwise).
func (m *mapping) cdcSpec() *core.CDCSpec {
	if m.cdc == nil {
		return nil
	}
	return &m.cdc.spec
}

// checkRow fails a change whose key or sequence is NULL, naming the partition it was read from
// and its row in the batch's transform output.
func (m *cdcMapping) checkRow(p core.PartitionID, row int64, vals []core.Value) error {
	for _, k := range m.notNull {
		if vals[k].IsNull() {
			what := "key"
			if k == m.spec.Sequence {
				what = "sequence"
			}
			return fmt.Errorf("%s: output row %d: the CDC %s column %q is NULL (filter such rows in the SQL): %w (%w)",
				p, row, what, m.names[k], ErrTransformOutput, core.ErrCDCNull)
		}
	}
	return nil
}

// rowsBatch builds the target rows of the changed keys, in the order given.
func (m *cdcMapping) rowsBatch(keys []core.CDCKeyRows) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, m.schema)
	defer b.Release()
	for _, k := range keys {
		for _, r := range k.Rows {
			if len(r) != m.schema.NumFields() {
				return nil, fmt.Errorf("CDC row of %d values for %d columns: %w", len(r), m.schema.NumFields(), core.ErrProtocol)
			}
			for i, v := range r {
				if err := appendValue(b.Field(i), v); err != nil {
					return nil, fmt.Errorf("column %s: %w", m.schema.Field(i).Name, err)
				}
			}
		}
	}
	return b.NewRecordBatch(), nil
}

// encodeKeyValues is the identity of a key in the output table (the group-key encoding, which
// makes -0 and +0, and every NaN, one key).
func encodeKeyValues(vals []core.Value) []byte {
	var b []byte
	for _, v := range vals {
		b = appendKeyValue(b, v)
	}
	return b
}

// upsertKeys commits a CDC batch in one Delta commit carrying txn (appID, batchID): every row of
// the table whose key is one of keys goes, and the keys' new rows come in.
//
// It is copy-on-write, as upsertWindows: the candidate files are all files, or, with a single key
// column that is not a partition column, those whose min/max statistics of the key column may
// hold one of the keys; a candidate holding a row of a key is removed, and its other rows are
// written again, into the same new files as the keys' new rows.
//
// Replays are exact: if the batch's commit landed before a crash the txn check skips it, and if it
// did not the table is as the batch first found it (a commit is atomic), so the same rows go in.
func (s *sink) upsertKeys(ctx context.Context, batchID int64, m *cdcMapping, keys []core.CDCKeyRows) (commitResult, error) {
	fail := func(err error) (commitResult, error) {
		return commitResult{}, fmt.Errorf("stream: commit batch %d to %s: %w", batchID, s.t.Location(), err)
	}
	newRows, err := m.rowsBatch(keys)
	if err != nil {
		return fail(err)
	}
	defer newRows.Release()
	snap, err := s.snapshotOrCreate(ctx, m.schema)
	if err != nil {
		return fail(err)
	}
	incoming, err := delta.FromArrowSchema(m.schema)
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
	keyCols := make([]int, len(m.keyNames))
	for k, name := range m.keyNames {
		if keyCols[k], err = findColumn(target, name); err != nil {
			return fail(err)
		}
	}
	touched := make(map[string]bool, len(keys))
	for _, k := range keys {
		touched[string(encodeKeyValues(k.Key))] = true
	}
	pruner := newKeyPruner(snap, m.keyNames, keys)
	var candidates, removed []*delta.Add
	for _, f := range snap.Files() {
		if pruner.mayHold(f) {
			candidates = append(candidates, f)
		}
	}
	var rows []arrow.RecordBatch
	defer func() { releaseAll(rows) }()
	for _, f := range candidates {
		batches, err := scanFile(ctx, s.t, snap, f)
		if err != nil {
			return fail(err)
		}
		hit := false
		keep := make([][]bool, len(batches))
		for bi, b := range batches {
			gs := make([]getter, len(keyCols))
			for k, c := range keyCols {
				if gs[k], err = newGetter(b.Column(c)); err != nil {
					releaseAll(batches)
					return fail(err)
				}
			}
			keep[bi] = make([]bool, b.NumRows())
			var key []byte
			for i := range keep[bi] {
				key = key[:0]
				for _, g := range gs {
					key = appendKeyValue(key, g(i))
				}
				if touched[string(key)] {
					hit = true
				} else {
					keep[bi][i] = true
				}
			}
		}
		if hit {
			removed = append(removed, f)
			for bi, b := range batches {
				fb, err := filterBatch(ctx, b, keep[bi])
				if err != nil {
					releaseAll(batches)
					return fail(err)
				}
				if fb != nil {
					rows = append(rows, fb)
				}
			}
		}
		releaseAll(batches)
	}
	var rewritten int64
	for _, b := range rows {
		rewritten += b.NumRows()
	}
	if newRows.NumRows() > 0 {
		c, err := conform(ctx, newRows, target)
		if err != nil {
			return fail(err)
		}
		rows = append(rows, c)
	}
	if len(rows) == 0 && len(removed) == 0 {
		return commitResult{version: snap.Version()}, nil
	}
	var files []parquetio.DataFile
	if len(rows) > 0 {
		wopts := parquetio.WriteOptions{Schema: snap.Schema(), PartitionColumns: snap.PartitionColumns()}
		if err := wopts.ApplyTableProperties(snap.Metadata().Configuration); err != nil {
			return fail(err)
		}
		rr, err := array.NewRecordReader(target, rows)
		if err != nil {
			return fail(err)
		}
		files, err = parquetio.WriteDataFiles(ctx, s.t.Store(), rr, wopts)
		rr.Release()
		if err != nil {
			return fail(err)
		}
	}
	tx := s.t.Kernel().NewTransaction(snap, delta.Operation{Name: "STREAMING UPDATE", Parameters: map[string]any{
		"outputMode": "Update", "queryId": s.appID, "epochId": batchID, "cdc": fmt.Sprintf("SCD TYPE %d", m.spec.SCDType),
	}})
	tx.ReadFiles(candidates...)
	var nrows, bytes int64
	for _, f := range files {
		tx.AddFiles(f.Add(true))
		nrows += f.NumRecords
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
	tx.SetMetrics(map[string]any{"numAddedFiles": len(files), "numRemovedFiles": len(removed), "numOutputRows": nrows,
		"numOutputBytes": bytes, "numChangedKeys": len(keys), "numCopiedRows": rewritten})
	cr, err := tx.Commit(ctx)
	if err != nil {
		return fail(err)
	}
	return commitResult{version: cr.Version, rows: newRows.NumRows()}, nil
}

// keyPruner tells, from a file's statistics, that the file holds no row of a set of keys of one
// column. A nil keyPruner prunes nothing.
type keyPruner struct {
	path []string       // the key column's statistics path (its physical name)
	typ  delta.DataType // the key column's type
	kind core.Kind      // the kind of every key
	keys []core.Value   // sorted by core.Compare
}

// newKeyPruner returns the pruner of keys, or nil when statistics cannot decide: several key
// columns, a partition key column, or keys of mixed kinds.
func newKeyPruner(snap *delta.Snapshot, keyNames []string, keys []core.CDCKeyRows) *keyPruner {
	if len(keyNames) != 1 || len(keys) == 0 {
		return nil
	}
	f := snap.Schema().Field(keyNames[0])
	if f == nil || slices.ContainsFunc(snap.PartitionColumns(), func(p string) bool { return strings.EqualFold(p, f.Name) }) {
		return nil
	}
	switch f.Type.(type) {
	case *delta.PrimitiveType, *delta.DecimalType:
	default:
		return nil
	}
	p := &keyPruner{path: []string{f.Name}, typ: f.Type, kind: keys[0].Key[0].Kind()}
	if mode := snap.ColumnMappingMode(); mode != "" && mode != "none" {
		p.path = []string{f.PhysicalName()}
	}
	for _, k := range keys {
		v := k.Key[0]
		if v.Kind() != p.kind {
			return nil
		}
		if v.Kind() == core.KindFloat && math.IsNaN(v.AsFloat()) {
			return nil // maxima do not bound NaN
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
	if st.NumRecords == 0 {
		return false
	}
	lo, ok1 := st.MinValue(p.path, p.typ)
	hi, ok2 := st.MaxValue(p.path, p.typ)
	if !ok1 || !ok2 {
		return true
	}
	lv, ok1 := scalarValue(lo)
	hv, ok2 := scalarValue(hi)
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

// scalarValue converts a statistics scalar to the value model; ok is false for NULL or a type
// the model does not take.
func scalarValue(s scalar.Scalar) (core.Value, bool) {
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
