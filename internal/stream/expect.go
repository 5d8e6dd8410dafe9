package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/stream/core"
)

// This file holds the data-quality rules the driver applies to the transform's output before the
// operators see it: quarantine (malformed records set aside in their own table) and expectations
// (boolean columns counted per batch, that keep, drop or fail rows).

// ErrExpectationFailed: a row of a batch failed an expectation whose action is ExpectFail. The
// batch fails before anything of it is committed; the error names the expectation, the source
// partition and positions the row was read from, and the row's values. Nothing was committed, so
// running the query again replays the same batch and fails the same way until the data or the
// query changes.
var ErrExpectationFailed = errors.New("expectation failed")

// ExpectationAction says what a failed expectation does to its row.
type ExpectationAction int

const (
	// ExpectKeep keeps the row and counts it as failed.
	ExpectKeep ExpectationAction = iota
	// ExpectDrop drops the row before the operators and the output (it is counted in
	// BatchMetrics.DroppedRows, once however many expectations drop it).
	ExpectDrop
	// ExpectFail fails the batch (ErrExpectationFailed).
	ExpectFail
)

// String returns "keep", "drop" or "fail".
func (a ExpectationAction) String() string {
	switch a {
	case ExpectKeep:
		return "keep"
	case ExpectDrop:
		return "drop"
	case ExpectFail:
		return "fail"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Expectation is a data-quality rule evaluated on every row of the transform's output that is not
// quarantined, in every batch: Column is a BOOLEAN output column computed by the transform (e.g.
// `amount >= 0 AS positive_amount`); true passes, false and NULL fail.
//
// Expectation columns are control columns: they are not written to the output, late or quarantine
// tables, and the operators do not see them (Dedup, Aggregate and EventTime cannot name them).
type Expectation struct {
	// Name is the expectation's name in metrics and errors (unique within the query).
	Name string
	// Column is the BOOLEAN output column holding the expectation's result.
	Column string
	// Action is what a failing row causes.
	Action ExpectationAction
}

// Quarantine sets malformed records aside: the rows of the transform's output whose Reason column
// is not NULL are removed before the expectations and the operators, counted
// (BatchMetrics.QuarantinedRows), and appended to the quarantine table, exactly once: the commit
// carries the txn (Query.Name+".quarantine", batch id) and is skipped when it has landed, like the
// late table's. The quarantine table's columns are the output columns (the transform's output
// minus every control column), then Reason, then Columns.
type Quarantine struct {
	// Reason is a VARCHAR output column: a row where it is not NULL is quarantined, and the value
	// says why (e.g. `CASE WHEN try_cast(...) IS NULL THEN 'bad amount' END AS _reason`).
	Reason string
	// Columns are more control columns, written only to the quarantine table (e.g. the raw
	// payload and its offset).
	Columns []string
	// Table is the quarantine table: a location or a project table domain.table (default: the
	// output table's location with "_quarantine" appended). It is created by its first commit.
	Table string
}

// ExpectationMetrics count the rows that passed and failed one expectation: all the rows of the
// transform's output that were not quarantined, including those another expectation dropped and
// those the operators later found late or duplicate.
type ExpectationMetrics struct {
	Name           string
	Action         ExpectationAction
	Passed, Failed int64
}

func (q Query) quarantineTable() string {
	if q.Quarantine != nil && q.Quarantine.Table != "" {
		return q.Quarantine.Table
	}
	return strings.TrimRight(q.Output.Table, "/") + "_quarantine"
}

// controlColumns returns the control columns of the query (expectation, quarantine reason and
// quarantine columns), lower-cased, mapped to what they are.
func (q *Query) controlColumns() map[string]string {
	cc := map[string]string{}
	for _, e := range q.Expectations {
		cc[strings.ToLower(e.Column)] = fmt.Sprintf("expectation %q", e.Name)
	}
	if qr := q.Quarantine; qr != nil {
		cc[strings.ToLower(qr.Reason)] = "Quarantine.Reason"
		for _, c := range qr.Columns {
			cc[strings.ToLower(c)] = "Quarantine.Columns"
		}
	}
	return cc
}

// validateQuality checks Expectations and Quarantine without the transform's output schema.
func (q *Query) validateQuality(bad func(format string, args ...any) error) error {
	names := map[string]bool{}
	expCols := map[string]bool{}
	for _, e := range q.Expectations {
		switch {
		case e.Name == "":
			return bad("an expectation without a Name")
		case names[strings.ToLower(e.Name)]:
			return bad("expectation %q repeated", e.Name)
		case e.Column == "":
			return bad("expectation %q without a Column", e.Name)
		case e.Action < ExpectKeep || e.Action > ExpectFail:
			return bad("expectation %q: unknown action %d", e.Name, int(e.Action))
		}
		names[strings.ToLower(e.Name)] = true
		expCols[strings.ToLower(e.Column)] = true
	}
	if qr := q.Quarantine; qr != nil {
		if qr.Reason == "" {
			return bad("Quarantine without a Reason column")
		}
		seen := map[string]bool{strings.ToLower(qr.Reason): true}
		if expCols[strings.ToLower(qr.Reason)] {
			return bad("Quarantine.Reason %q is also an expectation's column", qr.Reason)
		}
		for _, c := range qr.Columns {
			switch {
			case c == "":
				return bad("an empty name in Quarantine.Columns")
			case seen[strings.ToLower(c)]:
				return bad("Quarantine column %q repeated (or the Reason column)", c)
			case expCols[strings.ToLower(c)]:
				return bad("Quarantine column %q is also an expectation's column (expectation columns are not written to the quarantine table)", c)
			}
			seen[strings.ToLower(c)] = true
		}
	}
	cc := q.controlColumns()
	if len(cc) == 0 {
		return nil
	}
	used := func(what, col string) error {
		if kind, ok := cc[strings.ToLower(col)]; ok && col != "" && col != "*" {
			return bad("%s names %q, a control column (%s) that only the quality rules see", what, col, kind)
		}
		return nil
	}
	var errs []error
	errs = append(errs, used("EventTime", q.EventTime))
	if q.Dedup != nil {
		for _, c := range q.Dedup.Columns {
			errs = append(errs, used("Dedup.Columns", c))
		}
	}
	if a := q.Aggregate; a != nil {
		for _, c := range a.GroupBy {
			errs = append(errs, used("Aggregate.GroupBy", c))
		}
		for _, ag := range a.Aggs {
			errs = append(errs, used("aggregate "+ag.name(), ag.Column))
		}
	}
	for _, c := range q.Output.PartitionBy {
		errs = append(errs, used("Output.PartitionBy", c))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// rowFilter applies the quality rules to the transform's output, batch by batch: it checks the
// output's schema, sets quarantined rows aside, evaluates the expectations, drops the rows an
// ExpectDrop expectation fails, and removes the control columns. What remains is what the
// operators (through the mapping) and the output see. It is fixed when the query starts.
type rowFilter struct {
	full  *arrow.Schema // the transform's output
	clean *arrow.Schema // full minus the control columns: the output rows' schema
	keep  []int         // index in full of each column of clean

	exps   []Expectation
	expCol []int // index in full of each expectation's column
	reason int   // index in full of Quarantine.Reason; -1 without quarantine

	quarantine *arrow.Schema // clean, then Reason, then Quarantine.Columns
	quarCols   []int         // index in full of each column of quarantine
}

// newRowFilter binds the query's quality rules to the transform's output schema.
func newRowFilter(q *Query, full *arrow.Schema) (*rowFilter, error) {
	f := &rowFilter{full: full, reason: -1, exps: slices.Clone(q.Expectations)}
	control := make([]bool, full.NumFields())
	for _, e := range q.Expectations {
		i, err := findColumn(full, e.Column)
		if err != nil {
			return nil, fmt.Errorf("expectation %q: %w", e.Name, err)
		}
		if full.Field(i).Type.ID() != arrow.BOOL {
			return nil, fmt.Errorf("expectation %q: column %q has type %s, want BOOLEAN: %w", e.Name, full.Field(i).Name, full.Field(i).Type, ErrTransformOutput)
		}
		f.expCol = append(f.expCol, i)
		control[i] = true
	}
	var extra []int
	if qr := q.Quarantine; qr != nil {
		i, err := findColumn(full, qr.Reason)
		if err != nil {
			return nil, fmt.Errorf("Quarantine.Reason: %w", err)
		}
		switch full.Field(i).Type.ID() {
		case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		default:
			return nil, fmt.Errorf("Quarantine.Reason column %q has type %s, want VARCHAR: %w", full.Field(i).Name, full.Field(i).Type, ErrTransformOutput)
		}
		f.reason = i
		control[i] = true
		for _, c := range qr.Columns {
			j, err := findColumn(full, c)
			if err != nil {
				return nil, fmt.Errorf("Quarantine.Columns: %w", err)
			}
			extra = append(extra, j)
			control[j] = true
		}
	}
	if i := full.FieldIndices(PositionColumn); i != nil { // ordered by the transform; dropped here
		control[i[0]] = true
	}
	var fields []arrow.Field
	for i, fd := range full.Fields() {
		if !control[i] {
			f.keep = append(f.keep, i)
			fields = append(fields, fd)
		}
	}
	if len(f.keep) == 0 {
		return nil, fmt.Errorf("every column of the transform's output is a control column: %w", ErrTransformOutput)
	}
	f.clean = arrow.NewSchema(fields, nil)
	if f.reason >= 0 {
		f.quarCols = append(append(slices.Clone(f.keep), f.reason), extra...)
		qf := make([]arrow.Field, len(f.quarCols))
		for k, i := range f.quarCols {
			qf[k] = full.Field(i)
			qf[k].Nullable = true
		}
		f.quarantine = arrow.NewSchema(qf, nil)
	}
	return f, nil
}

// passthrough reports whether the filter changes nothing (no quality rules).
func (f *rowFilter) passthrough() bool { return len(f.keep) == f.full.NumFields() && len(f.exps) == 0 }

// qualityBatch is what the quality rules saw in one batch: the counts, and the quarantined rows
// waiting for the quarantine commit.
type qualityBatch struct {
	expectations []ExpectationMetrics // in Query.Expectations order
	dropped      int64
	quarantined  int64
	rows         []arrow.RecordBatch // quarantined rows, in the quarantine table's schema

	// seen counts the transform's output rows per partition so far (for error positions).
	seen map[core.PartitionID]int64
}

// newBatch returns the empty counts of a new batch.
func (f *rowFilter) newBatch() qualityBatch {
	qb := qualityBatch{seen: map[core.PartitionID]int64{}}
	if len(f.exps) > 0 {
		qb.expectations = make([]ExpectationMetrics, len(f.exps))
		for k, e := range f.exps {
			qb.expectations[k] = ExpectationMetrics{Name: e.Name, Action: e.Action}
		}
	}
	return qb
}

// release drops the quarantined rows (committed or abandoned); the counts stay.
func (qb *qualityBatch) release() {
	releaseAll(qb.rows)
	qb.rows = nil
}

// apply runs the quality rules over one output batch of the transform, read from range r. It
// returns the rows that go on (clean schema), or nil when none does; the caller releases it. A row
// failing an ExpectFail expectation returns an error wrapping ErrExpectationFailed.
func (f *rowFilter) apply(ctx context.Context, rb arrow.RecordBatch, r core.Range, qb *qualityBatch) (arrow.RecordBatch, error) {
	if err := checkSchema(f.full, rb.Schema()); err != nil {
		return nil, err
	}
	n := int(rb.NumRows())
	base := qb.seen[r.Partition]
	qb.seen[r.Partition] = base + int64(n)
	if f.passthrough() {
		rb.Retain()
		return rb, nil
	}
	pass := make([]bool, n) // the rows that go on
	var quar []bool
	var nquar int
	if f.reason >= 0 {
		reason := rb.Column(f.reason)
		quar = make([]bool, n)
		for i := range n {
			if reason.IsValid(i) {
				quar[i] = true
				nquar++
			}
		}
	}
	cols := make([]*array.Boolean, len(f.exps))
	for k, c := range f.expCol {
		b, ok := rb.Column(c).(*array.Boolean)
		if !ok {
			return nil, fmt.Errorf("expectation %q: column %q is a %s: %w", f.exps[k].Name, f.full.Field(c).Name, rb.Column(c).DataType(), ErrTransformOutput)
		}
		cols[k] = b
	}
	var dropped int64
	for i := range n {
		if quar != nil && quar[i] {
			continue
		}
		drop := false
		for k, b := range cols {
			m := &qb.expectations[k]
			if b.IsValid(i) && b.Value(i) {
				m.Passed++
				continue
			}
			m.Failed++
			switch f.exps[k].Action {
			case ExpectDrop:
				drop = true
			case ExpectFail:
				return nil, fmt.Errorf("expectation %q (on violation: fail) failed on %s, row %d (counting from 0) of the transform's output over positions [%d, %d): %s: %w",
					f.exps[k].Name, r.Partition, base+int64(i), r.From, r.To, formatRow(rb, i), ErrExpectationFailed)
			}
		}
		if drop {
			dropped++
			continue
		}
		pass[i] = true
	}
	qb.dropped += dropped
	qb.quarantined += int64(nquar)
	if nquar > 0 {
		all := selectColumns(rb, f.quarantine, f.quarCols)
		qr, err := filterBatch(ctx, all, quar)
		all.Release()
		if err != nil {
			return nil, err
		}
		qb.rows = append(qb.rows, qr)
	}
	clean := selectColumns(rb, f.clean, f.keep)
	defer clean.Release()
	return filterBatch(ctx, clean, pass)
}

// selectColumns returns the columns cols of rb under schema (no copy); the caller releases it.
func selectColumns(rb arrow.RecordBatch, schema *arrow.Schema, cols []int) arrow.RecordBatch {
	arrs := make([]arrow.Array, len(cols))
	for k, i := range cols {
		arrs[k] = rb.Column(i)
	}
	return array.NewRecordBatch(schema, arrs, rb.NumRows())
}

// formatRow renders row i of rb for an error message: name=value pairs, each value cut at 64
// bytes and the whole at 1,024.
func formatRow(rb arrow.RecordBatch, i int) string {
	const maxValue, maxRow = 64, 1024
	var b strings.Builder
	for c, col := range rb.Columns() {
		if c > 0 {
			b.WriteString(", ")
		}
		if b.Len() >= maxRow {
			b.WriteString("…")
			break
		}
		v := "NULL"
		if col.IsValid(i) {
			v = col.ValueStr(i)
			if len(v) > maxValue {
				cut := maxValue
				for cut > 0 && !utf8.RuneStart(v[cut]) {
					cut--
				}
				v = v[:cut] + "…"
			}
			switch col.DataType().ID() {
			case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
				v = fmt.Sprintf("%q", v)
			}
		}
		b.WriteString(rb.Schema().Field(c).Name)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}

// commitQuarantine appends a processed batch's quarantined rows to the quarantine table with txn
// (Name+".quarantine", batch id), skipped when it has landed before.
func (d *driver) commitQuarantine(ctx context.Context, batchID int64, bm *BatchMetrics) error {
	qb := &d.cur.quality
	if d.quar == nil || len(qb.rows) == 0 {
		return nil
	}
	res, err := d.quar.appendRows(ctx, batchID, d.rules.quarantine, qb.rows)
	if err != nil {
		return fmt.Errorf("query %q: quarantined rows: %w", d.q.Name, err)
	}
	bm.QuarantineVersion = res.version
	bm.SinkSkipped = bm.SinkSkipped || res.skipped
	return nil
}

// addQuality copies a batch's quality counts into its metrics and adds them to the run's.
func (d *driver) addQuality(qb *qualityBatch, bm *BatchMetrics) {
	bm.Expectations = slices.Clone(qb.expectations)
	bm.DroppedRows, bm.QuarantinedRows = qb.dropped, qb.quarantined
	m := &d.metrics
	if m.Expectations == nil && len(qb.expectations) > 0 {
		m.Expectations = make([]ExpectationMetrics, len(qb.expectations))
		for k, e := range qb.expectations {
			m.Expectations[k] = ExpectationMetrics{Name: e.Name, Action: e.Action}
		}
	}
	for k, e := range qb.expectations {
		m.Expectations[k].Passed += e.Passed
		m.Expectations[k].Failed += e.Failed
	}
	m.DroppedRows += qb.dropped
	m.QuarantinedRows += qb.quarantined
}
