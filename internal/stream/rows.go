package stream

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/stream/core"
)

// Names of the window bounds in an aggregation's output.
const (
	colWindowStart = "window_start"
	colWindowEnd   = "window_end"
)

var windowBoundType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// mapping turns the transform's output rows into core Rows and the core's Results into output
// rows. It is fixed when the query starts, from the output schema of the transform over empty
// inputs; every batch's output must have the same column types.
//
// A core Row gets: Partition, the source partition the transform ran over; EventTime, the event
// time column in microseconds (NoWatermark when the query has none); Key, the encoded GroupBy
// values; Values, the columns the aggregates and the dedup key read (valueCols, in order), then,
// for stateful queries, the row's index in the batch's output (an Int), which is how the rows a
// deduplicator lets through and late rows are found again in the Arrow output.
//
// The mapping sees the output rows after the quality rules (rowFilter): schema has no control
// columns.
type mapping struct {
	schema    *arrow.Schema
	eventCol  int // -1: none
	groupCols []int
	valueCols []int
	withIndex bool
	// needEventTime: an operator needs the event time (a NULL one fails the batch).
	needEventTime bool
	// global: a global aggregation, whose results have no window columns.
	global bool

	dedup *core.DedupSpec
	agg   *core.AggregateSpec
	cdc   *cdcMapping // nil without CDC

	// resultSchema is the aggregation's output schema (nil without Aggregate).
	resultSchema *arrow.Schema
}

// findColumn returns the index of name in schema: an exact match, else the only case-insensitive one.
func findColumn(schema *arrow.Schema, name string) (int, error) {
	if idx := schema.FieldIndices(name); len(idx) == 1 {
		return idx[0], nil
	}
	found := -1
	for i, f := range schema.Fields() {
		if strings.EqualFold(f.Name, name) {
			if found >= 0 {
				return -1, fmt.Errorf("column %q is ambiguous in the transform's output: %w", name, ErrTransformOutput)
			}
			found = i
		}
	}
	if found < 0 {
		var names []string
		for _, f := range schema.Fields() {
			names = append(names, f.Name)
		}
		return -1, fmt.Errorf("column %q is not in the transform's output (%s): %w", name, strings.Join(names, ", "), ErrTransformOutput)
	}
	return found, nil
}

func newMapping(q *Query, schema *arrow.Schema) (*mapping, error) {
	m := &mapping{schema: schema, eventCol: -1, withIndex: q.stateful(), needEventTime: q.needsEventTime(), global: q.global()}
	if q.EventTime != "" {
		i, err := findColumn(schema, q.EventTime)
		if err != nil {
			return nil, fmt.Errorf("EventTime: %w", err)
		}
		if !eventTimeTypeOK(schema.Field(i).Type) {
			return nil, fmt.Errorf("EventTime column %q has type %s (TIMESTAMP, TIMESTAMPTZ, DATE or an integer of microseconds): %w",
				q.EventTime, schema.Field(i).Type, ErrTransformOutput)
		}
		m.eventCol = i
	}
	valueIndex := func(name string) (int, error) {
		i, err := findColumn(schema, name)
		if err != nil {
			return -1, err
		}
		if !supportedValueType(schema.Field(i).Type) {
			return -1, fmt.Errorf("column %q has type %s, which keys and aggregates do not take: %w", name, schema.Field(i).Type, ErrTransformOutput)
		}
		for k, c := range m.valueCols {
			if c == i {
				return k, nil
			}
		}
		m.valueCols = append(m.valueCols, i)
		return len(m.valueCols) - 1, nil
	}
	if a := q.Aggregate; a != nil {
		spec := &core.AggregateSpec{Window: a.Window.spec(), Mode: q.Output.Mode}
		fields := []arrow.Field{{Name: colWindowStart, Type: windowBoundType, Nullable: true}, {Name: colWindowEnd, Type: windowBoundType, Nullable: true}}
		if m.global {
			fields = nil
		}
		for _, g := range a.GroupBy {
			i, err := findColumn(schema, g)
			if err != nil {
				return nil, fmt.Errorf("GroupBy: %w", err)
			}
			if !supportedValueType(schema.Field(i).Type) {
				return nil, fmt.Errorf("GroupBy column %q has type %s: %w", g, schema.Field(i).Type, ErrTransformOutput)
			}
			m.groupCols = append(m.groupCols, i)
			fields = append(fields, arrow.Field{Name: schema.Field(i).Name, Type: schema.Field(i).Type, Nullable: true})
		}
		for _, ag := range a.Aggs {
			var in arrow.DataType
			col := -1
			if ag.Column != "" && ag.Column != "*" {
				k, err := valueIndex(ag.Column)
				if err != nil {
					return nil, fmt.Errorf("aggregate %s: %w", ag.name(), err)
				}
				col, in = k, schema.Field(m.valueCols[k]).Type
			}
			var out arrow.DataType = arrow.PrimitiveTypes.Int64
			if in != nil {
				t, err := aggOutputType(ag.Func, in)
				if err != nil {
					return nil, fmt.Errorf("aggregate %s: %w", ag.name(), err)
				}
				out = t
			}
			spec.Aggs = append(spec.Aggs, core.AggSpec{Func: ag.Func, Column: col})
			fields = append(fields, arrow.Field{Name: ag.name(), Type: out, Nullable: true})
		}
		m.agg = spec
		m.resultSchema = arrow.NewSchema(fields, nil)
	}
	if d := q.Dedup; d != nil {
		spec := &core.DedupSpec{}
		for _, c := range d.Columns {
			k, err := valueIndex(c)
			if err != nil {
				return nil, fmt.Errorf("Dedup: %w", err)
			}
			spec.KeyColumns = append(spec.KeyColumns, k)
		}
		m.dedup = spec
	}
	if q.CDC != nil {
		cm, cols, err := newCDCMapping(q.CDC, schema)
		if err != nil {
			return nil, err
		}
		m.cdc, m.valueCols = cm, cols
	}
	return m, nil
}

// checkSchema verifies that a batch's output has the column types the query was started with
// (want).
func checkSchema(want, s *arrow.Schema) error {
	if s.Equal(want) {
		return nil
	}
	if s.NumFields() != want.NumFields() {
		return fmt.Errorf("the transform's output changed from %s to %s: %w", want, s, ErrTransformOutput)
	}
	for i, f := range s.Fields() {
		g := want.Field(i)
		if f.Name != g.Name || !arrow.TypeEqual(f.Type, g.Type) {
			return fmt.Errorf("the transform's output column %d changed from %s %s to %s %s: %w", i, g.Name, g.Type, f.Name, f.Type, ErrTransformOutput)
		}
	}
	return nil
}

// timeBounds tracks the smallest and largest times (microseconds) seen.
type timeBounds struct {
	min, max int64
	ok       bool
}

func (b *timeBounds) add(t int64) {
	if !b.ok {
		b.min, b.max, b.ok = t, t, true
		return
	}
	b.min, b.max = min(b.min, t), max(b.max, t)
}

func (b *timeBounds) merge(o timeBounds) {
	if o.ok {
		b.add(o.min)
		b.add(o.max)
	}
}

// appendRows appends the core Rows of one output batch read from partition p; base is the index
// of the batch's first row in the whole micro-batch's output.
func (m *mapping) appendRows(out []core.Row, p core.PartitionID, rb arrow.RecordBatch, base int64, et *timeBounds) ([]core.Row, error) {
	n := int(rb.NumRows())
	var evt func(int) (int64, bool)
	if m.eventCol >= 0 {
		var err error
		if evt, err = eventTimeGetter(rb.Column(m.eventCol)); err != nil {
			return nil, err
		}
	}
	groups := make([]getter, len(m.groupCols))
	for k, c := range m.groupCols {
		g, err := newGetter(rb.Column(c))
		if err != nil {
			return nil, err
		}
		groups[k] = g
	}
	vals := make([]getter, len(m.valueCols))
	for k, c := range m.valueCols {
		g, err := newGetter(rb.Column(c))
		if err != nil {
			return nil, err
		}
		vals[k] = g
	}
	nv := len(vals)
	if m.withIndex {
		nv++
	}
	var valueBuf []core.Value
	if nv > 0 {
		valueBuf = make([]core.Value, n*nv)
	}
	var keyBuf []byte
	for i := range n {
		row := core.Row{Partition: p, EventTime: core.NoWatermark}
		if evt != nil {
			t, ok := evt(i)
			switch {
			case ok:
				row.EventTime = t
				et.add(t)
			case m.needEventTime:
				return nil, fmt.Errorf("%s: output row %d: the event-time column %q is NULL (filter or coalesce such rows in the SQL): %w",
					p, base+int64(i), m.schema.Field(m.eventCol).Name, ErrTransformOutput)
			}
		}
		if len(groups) > 0 {
			start := len(keyBuf)
			for _, g := range groups {
				keyBuf = appendKeyValue(keyBuf, g(i))
			}
			row.Key = keyBuf[start:len(keyBuf):len(keyBuf)]
		}
		if nv > 0 {
			v := valueBuf[i*nv : (i+1)*nv : (i+1)*nv]
			for k, g := range vals {
				v[k] = g(i)
			}
			if m.withIndex {
				v[nv-1] = core.Int(base + int64(i))
			}
			row.Values = v
		}
		if m.cdc != nil {
			if err := m.cdc.checkRow(p, base+int64(i), row.Values); err != nil {
				return nil, err
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// rowIndex returns the batch output index carried by a row of a stateful query.
func rowIndex(r core.Row) int64 { return r.Values[len(r.Values)-1].AsInt() }

// resultsBatch builds the output rows of aggregation results (retractions skipped), in the order
// given, with their window bounds (none for a global aggregation).
func (m *mapping) resultsBatch(rs []core.Result) (arrow.RecordBatch, []core.Window, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, m.resultSchema)
	defer b.Release()
	var wins []core.Window
	ng, wc := len(m.groupCols), m.windowCols()
	for _, r := range rs {
		if r.Retract {
			continue
		}
		if wc > 0 {
			b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(r.Window.Start))
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(r.Window.End))
		}
		keys, err := decodeKey(r.Key, ng)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range keys {
			if err := appendValue(b.Field(wc+k), v); err != nil {
				return nil, nil, fmt.Errorf("group column %s: %w", m.resultSchema.Field(wc+k).Name, err)
			}
		}
		for k, v := range r.Values {
			if err := appendValue(b.Field(wc+ng+k), v); err != nil {
				return nil, nil, fmt.Errorf("aggregate column %s: %w", m.resultSchema.Field(wc+ng+k).Name, err)
			}
		}
		wins = append(wins, r.Window)
	}
	return b.NewRecordBatch(), wins, nil
}

// windowCols is the number of window columns leading an aggregation's output: window_start and
// window_end, or none for a global aggregation.
func (m *mapping) windowCols() int {
	if m.global {
		return 0
	}
	return 2
}
