package stream

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/engine"
)

// transform runs a query's SQL over a batch's rows through the SQL engine: once per batch, as a
// UNION ALL of one branch per source partition (see run). The rows reach DuckDB as the engine's
// Arrow inputs (engine.QueryWith), which it loads whole before the query runs.
type transform struct {
	eng    *engine.Engine
	sql    string
	inputs []input
	// ordered is set (by outputSchema) when the output carries PositionColumn: runs then order
	// each partition's rows by it.
	ordered bool
}

func newTransform(eng *engine.Engine, sql string, inputs []input) *transform {
	return &transform{eng: eng, sql: sql, inputs: inputs}
}

// partInput is one source partition's rows for a transform run.
type partInput struct {
	source string
	data   []arrow.RecordBatch
}

// PositionColumn is a column every source view presents besides the source's own: the row's
// position among the rows of its partition in the batch (BIGINT, from 0, in source order: log
// offsets, a table version's files and rows). DuckDB does not keep row order through every query
// shape, and the stateful operators depend on it (lateness and dedup are decided in arrival
// order): when the transform's output carries this column (SELECT * does, an explicit select
// list can), the driver orders each partition's output rows by it. It is a control column: never
// written to a table, not visible to the operators.
const PositionColumn = "__strata_pos"

// WithPosition returns a source's schema with PositionColumn added.
func WithPosition(s *arrow.Schema) *arrow.Schema {
	return arrow.NewSchema(append(slices.Clone(s.Fields()), arrow.Field{Name: PositionColumn, Type: arrow.PrimitiveTypes.Int64}), nil)
}

// addPositions returns copies of batches with PositionColumn counting rows from 0.
func addPositions(batches []arrow.RecordBatch, schema *arrow.Schema) []arrow.RecordBatch {
	out := make([]arrow.RecordBatch, 0, len(batches))
	var n int64
	for _, b := range batches {
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		bld.Reserve(int(b.NumRows()))
		for i := int64(0); i < b.NumRows(); i++ {
			bld.UnsafeAppend(n)
			n++
		}
		pos := bld.NewArray()
		bld.Release()
		cols := append(slices.Clone(b.Columns()), pos)
		out = append(out, array.NewRecordBatch(schema, cols, b.NumRows()))
		pos.Release()
	}
	return out
}

// partColumn is the column the driver adds to the transform's output to tell the partitions
// apart; output columns must not use the name.
const partColumn = "__strata_part"

// outputSchema runs the SQL over empty inputs and returns its output schema.
func (t *transform) outputSchema(ctx context.Context) (*arrow.Schema, error) {
	var src string
	if len(t.inputs) > 0 {
		src = t.inputs[0].name()
	}
	s, err := t.run(ctx, "schema", []partInput{{source: src}}, func(int, arrow.RecordBatch) error { return nil })
	if err == nil {
		t.ordered = s.FieldIndices(PositionColumn) != nil
	}
	return s, err
}

// run executes the SQL once over every partition of parts, as one statement: a UNION ALL with one
// branch per partition, in which the partition's source name denotes its rows and every other
// source is empty. Each branch is tagged with its index in a leading column, so every output row
// is attributed to the partition it came from. DuckDB keeps the branches' order and each branch's
// row order (insertion order is preserved, and UNION ALL branches run in order when it is), so
// emit receives the output partition by partition in input order, as copies it owns. tag names
// the run in errors. It returns the output schema (without the partition column).
func (t *transform) run(ctx context.Context, tag string, parts []partInput, emit func(part int, rb arrow.RecordBatch) error) (*arrow.Schema, error) {
	user := strings.TrimRight(strings.TrimSpace(t.sql), ";")
	inputs := map[string]array.RecordReader{}
	var branches []string
	defer func() {
		for _, rr := range inputs {
			rr.Release()
		}
	}()
	for k, p := range parts {
		var ctes []string
		for _, in := range t.inputs {
			var view string
			schema := WithPosition(in.schema())
			if in.name() == p.source {
				view = fmt.Sprintf("strata_in_%d", k)
				data := addPositions(p.data, schema)
				rr, err := array.NewRecordReader(schema, data)
				releaseAll(data)
				if err != nil {
					return nil, fmt.Errorf("stream: source %s: %w", p.source, err)
				}
				inputs[view] = rr
			} else {
				view = "strata_empty_" + in.name()
				if _, ok := inputs[view]; !ok {
					inputs[view] = emptyReader(schema)
				}
			}
			ctes = append(ctes, `"`+in.name()+`" AS (SELECT * FROM "`+view+`")`)
		}
		branches = append(branches, fmt.Sprintf("SELECT %d AS %s, * FROM (%s\n)", k, partColumn, withCTEs(user, strings.Join(ctes, ", "))))
	}
	query := strings.Join(branches, "\nUNION ALL\n")
	if t.ordered {
		query = "SELECT * FROM (" + query + "\n) ORDER BY 1, " + PositionColumn
	}
	res, err := t.eng.QueryWith(ctx, query, inputs)
	if err != nil {
		return nil, fmt.Errorf("stream: transform (%s): %w", tag, err)
	}
	defer res.Records.Release()
	full := res.Records.Schema()
	if full.NumFields() == 0 || full.Field(0).Name != partColumn {
		return nil, fmt.Errorf("stream: transform: unexpected output schema %s", full)
	}
	schema := arrow.NewSchema(full.Fields()[1:], nil)
	for res.Records.Next() {
		rb := res.Records.RecordBatch()
		if rb.NumRows() == 0 {
			continue
		}
		// The batch's buffers belong to DuckDB's result chunk, which is gone once the reader
		// moves on: emit copies.
		if err := splitParts(rb, schema, len(parts), emit); err != nil {
			return nil, err
		}
	}
	if err := res.Records.Err(); err != nil {
		return nil, fmt.Errorf("stream: transform (%s): %w", tag, err)
	}
	return schema, nil
}

// splitParts emits the rows of rb (partition column first) per partition, in row order, as
// copies without the partition column.
func splitParts(rb arrow.RecordBatch, schema *arrow.Schema, nparts int, emit func(int, arrow.RecordBatch) error) error {
	pc, ok := rb.Column(0).(*array.Int32)
	if !ok {
		return fmt.Errorf("stream: transform: partition column of type %s", rb.Column(0).DataType())
	}
	n := int(rb.NumRows())
	for start := 0; start < n; {
		p := pc.Value(start)
		end := start + 1
		for end < n && pc.Value(end) == p {
			end++
		}
		if p < 0 || int(p) >= nparts {
			return fmt.Errorf("stream: transform: partition index %d out of range", p)
		}
		cols := make([]arrow.Array, 0, rb.NumCols()-1)
		for _, c := range rb.Columns()[1:] {
			s := array.NewSlice(c, int64(start), int64(end))
			cp, err := array.Concatenate([]arrow.Array{s}, memory.DefaultAllocator)
			s.Release()
			if err != nil {
				releaseArrays(cols)
				return err
			}
			cols = append(cols, cp)
		}
		out := array.NewRecordBatch(schema, cols, int64(end-start))
		releaseArrays(cols)
		if err := emit(int(p), out); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func releaseArrays(as []arrow.Array) {
	for _, a := range as {
		a.Release()
	}
}

// withCTEs puts common table expressions in front of a statement: into its own WITH clause if it
// starts with one (after comments), else as a new WITH clause.
func withCTEs(sql, ctes string) string {
	i := skipSpaceAndComments(sql, 0)
	word, end := leadingWord(sql, i)
	if !strings.EqualFold(word, "WITH") {
		return "WITH " + ctes + "\n" + sql
	}
	j := skipSpaceAndComments(sql, end)
	if w2, end2 := leadingWord(sql, j); strings.EqualFold(w2, "RECURSIVE") {
		end = end2
	}
	return sql[:end] + " " + ctes + ", " + sql[end:]
}

func skipSpaceAndComments(s string, i int) int {
	for i < len(s) {
		switch {
		case unicode.IsSpace(rune(s[i])):
			i++
		case strings.HasPrefix(s[i:], "--"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			k := strings.Index(s[i+2:], "*/")
			if k < 0 {
				return len(s)
			}
			i += k + 4
		default:
			return i
		}
	}
	return i
}

func leadingWord(s string, i int) (string, int) {
	j := i
	for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j]))) {
		j++
	}
	return s[i:j], j
}
