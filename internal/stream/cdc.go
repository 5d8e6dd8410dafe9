package stream

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

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
// It is a copy-on-write upsert (sink.upsert): the candidate files are all files, or, with a single
// key column that is not a partition column, those whose min/max statistics of the key column may
// hold one of the keys; a candidate holding a row of a key is removed, and its other rows are
// written again, into the same new files as the keys' new rows.
func (s *sink) upsertKeys(ctx context.Context, batchID int64, m *cdcMapping, keys []core.CDCKeyRows) (commitResult, error) {
	newRows, err := m.rowsBatch(keys)
	if err != nil {
		return commitResult{}, s.commitError(batchID, err)
	}
	defer newRows.Release()
	uk := make([]upsertKey, len(keys))
	for i, k := range keys {
		uk[i] = upsertKey{vals: k.Key, rows: len(k.Rows)}
	}
	pruneCols := 0
	if len(m.keyNames) == 1 {
		pruneCols = 1
	}
	return s.upsert(ctx, batchID, &upsert{
		schema: m.schema, newRows: newRows, keyNames: m.keyNames, keys: uk, pruneCols: pruneCols,
		params:       map[string]any{"cdc": fmt.Sprintf("SCD TYPE %d", m.spec.SCDType)},
		metrics:      map[string]any{"numChangedKeys": len(keys)},
		copiedMetric: "numCopiedRows",
	})
}
