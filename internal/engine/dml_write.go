package engine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/table"
)

// This file holds what every write statement shares: turning a DuckDB query's Arrow stream into
// Delta data files, and committing one transaction. A statement writes its data files first
// (invisible until committed), then commits once; any error before or during the commit leaves the
// table at the version it read. Data files written by a statement whose commit failed are
// orphans: never referenced, removed by VACUUM.

// writeQuery runs query on c and writes its rows, which must have the table's logical columns in
// order, as data files of t (in parallel chunks of insertChunkRows rows when the table is not
// partitioned; a partitioned table's rows go through one writer, which keeps one file per
// partition).
func (e *Engine) writeQuery(ctx context.Context, c *conn, t *table.Table, schema *delta.StructType, partCols []string, conf map[string]string, query string) ([]parquetio.DataFile, error) {
	rows := int64(insertChunkRows)
	if len(partCols) > 0 {
		rows = math.MaxInt64
	}
	return e.writeChunks(ctx, c, t, schema, partCols, conf, query, countChunker(rows), false)
}

// conformReader converts DuckDB's Arrow batches to the table's logical Arrow types where their
// layouts differ (string views, unsigned integers, a void column read as INTEGER...), with
// arrow-go's compute casts. Columns whose layout already matches pass through untouched.
type conformReader struct {
	ctx    context.Context
	in     array.RecordReader
	schema *arrow.Schema
	target []arrow.DataType // per column: the type to cast to, nil to pass through
	cur    arrow.RecordBatch
	err    error
	refs   atomic.Int64
}

func newConformReader(ctx context.Context, in array.RecordReader, want *arrow.Schema) (*conformReader, error) {
	got := in.Schema()
	if got.NumFields() != want.NumFields() {
		return nil, fmt.Errorf("%w: the statement produced %d columns, the table has %d", delta.ErrSchemaMismatch, got.NumFields(), want.NumFields())
	}
	r := &conformReader{ctx: ctx, in: in, target: make([]arrow.DataType, want.NumFields())}
	fields := make([]arrow.Field, want.NumFields())
	for i, w := range want.Fields() {
		g := got.Field(i)
		fields[i] = arrow.Field{Name: w.Name, Type: g.Type, Nullable: w.Nullable, Metadata: w.Metadata}
		if !parquetio.SameLayout(g.Type, w.Type) {
			fields[i].Type = w.Type
			r.target[i] = w.Type
		}
	}
	r.schema = arrow.NewSchema(fields, nil)
	r.refs.Store(1)
	return r, nil
}

func (r *conformReader) Schema() *arrow.Schema { return r.schema }

func (r *conformReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || !r.in.Next() {
		return false
	}
	rec := r.in.RecordBatch()
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		col := rec.Column(i)
		switch {
		case r.target[i] == nil:
			col.Retain()
			cols[i] = col
		case r.target[i].ID() == arrow.NULL:
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, r.target[i], col.Len())
		default:
			out, err := compute.CastArray(r.ctx, col, compute.SafeCastOptions(r.target[i]))
			if err != nil {
				r.err = fmt.Errorf("%w: column %q: cannot convert %s to %s: %v", delta.ErrSchemaMismatch, r.schema.Field(i).Name, col.DataType(), r.target[i], err)
				return false
			}
			cols[i] = out
		}
	}
	r.cur = array.NewRecordBatch(r.schema, cols, rec.NumRows())
	return true
}

func (r *conformReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *conformReader) Record() arrow.RecordBatch      { return r.cur }

func (r *conformReader) Err() error {
	if r.err != nil {
		return r.err
	}
	return duckError(r.in.Err())
}

func (r *conformReader) Retain() { r.refs.Add(1) }

func (r *conformReader) Release() {
	if r.refs.Add(-1) > 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

var _ array.RecordReader = (*conformReader)(nil)

// commitSpec is one write statement's transaction.
type commitSpec struct {
	op        delta.Operation
	removes   []*delta.Add
	adds      []parquetio.DataFile
	readWhole bool
	readFiles []*delta.Add
	readPreds []delta.Expr
	rewrites  bool // the commit replaces files by copies with rows changed
	metrics   map[string]any
	protocol  *delta.Protocol
	metadata  *delta.Metadata
}

// commit commits spec on top of snap (nil to create the table). The kernel retries on concurrent
// commits that do not conflict and returns a *delta.ConflictError on those that do.
func (e *Engine) commit(ctx context.Context, t *table.Table, snap *delta.Snapshot, spec commitSpec) (*delta.CommitResult, error) {
	tx := t.Kernel().NewTransaction(snap, spec.op)
	if spec.protocol != nil {
		tx.SetProtocol(spec.protocol)
	}
	if spec.metadata != nil {
		tx.SetMetadata(spec.metadata)
	}
	if snap != nil {
		if spec.readWhole {
			tx.ReadWholeTable()
		}
		tx.ReadFiles(spec.readFiles...)
		for _, p := range spec.readPreds {
			tx.ReadPredicate(p)
		}
	}
	if spec.rewrites {
		tx.SetRewritesRows()
	}
	now := t.Kernel().Now().UnixMilli()
	for _, f := range spec.removes {
		tx.RemoveFiles(f.RemoveAction(now, true))
	}
	for _, f := range spec.adds {
		tx.AddFiles(f.Add(true))
	}
	if len(spec.metrics) > 0 {
		tx.SetMetrics(spec.metrics)
	}
	res, err := tx.Commit(ctx)
	if err != nil {
		var ce *delta.ConflictError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("engine: %s on %s: %w; nothing was committed", spec.op.Name, t.Location(), err)
		}
		return nil, fmt.Errorf("engine: %s on %s: %w", spec.op.Name, t.Location(), err)
	}
	return res, nil
}

// alwaysTrue is the read predicate of a statement whose result depends on any row a concurrent
// writer may add (rows matching a filter on data columns can land in any new file).
var alwaysTrue delta.Expr = &delta.Literal{Text: "true", Kind: "bool"}

// partitionReadPredicate returns the conjuncts of filter that reference partition columns only,
// or alwaysTrue when there are none: concurrent files outside these partitions cannot hold rows
// the statement would have read.
func partitionReadPredicate(snap *delta.Snapshot, filter delta.Expr) delta.Expr {
	parts := map[string]bool{}
	for _, p := range snap.PartitionColumns() {
		parts[strings.ToLower(p)] = true
	}
	var keep []delta.Expr
	var walk func(x delta.Expr)
	walk = func(x delta.Expr) {
		if a, ok := x.(*delta.And); ok {
			walk(a.Left)
			walk(a.Right)
			return
		}
		cols := x.Columns()
		if len(cols) == 0 {
			return
		}
		for _, c := range cols {
			if !parts[strings.ToLower(c)] {
				return
			}
		}
		keep = append(keep, x)
	}
	if filter != nil && len(parts) > 0 {
		walk(filter)
	}
	if len(keep) == 0 {
		return alwaysTrue
	}
	out := keep[0]
	for _, k := range keep[1:] {
		out = &delta.And{Left: out, Right: k}
	}
	return out
}

// fileRows returns the number of live rows of f from its statistics (ok false when unknown).
func fileRows(f *delta.Add) (int64, bool) {
	st, err := delta.ParseStats(f.Stats)
	if err != nil || st == nil || st.NumRecords < 0 {
		return 0, false
	}
	n := st.NumRecords
	if f.DeletionVector != nil {
		n -= f.DeletionVector.Cardinality
	}
	return n, true
}

// countRows counts the live rows of files, from statistics where they say and by reading the files
// otherwise.
func (e *Engine) countRows(ctx context.Context, c *conn, t *table.Table, snap *delta.Snapshot, files []*delta.Add) (int64, error) {
	var total int64
	var unknown []*delta.Add
	for _, f := range files {
		if n, ok := fileRows(f); ok {
			total += n
		} else {
			unknown = append(unknown, f)
		}
	}
	if len(unknown) == 0 {
		return total, nil
	}
	rel, err := e.relationFor(ctx, c, t, snap, unknown)
	if err != nil {
		return 0, err
	}
	v, err := c.queryValues(ctx, "SELECT count(*) FROM ("+rel+")")
	if err != nil {
		return 0, duckError(err)
	}
	return total + toInt64(v[0]), nil
}

// partitionEval evaluates a SQL predicate per partition of files, in DuckDB, over a relation that
// holds only the partition columns (named alias when alias is not ""). It returns which files lie
// in a partition where the predicate is true. ok is false when the predicate cannot be evaluated
// that way: it references other columns (DuckDB cannot bind it), or it is not deterministic.
func (e *Engine) partitionEval(ctx context.Context, c *conn, snap *delta.Snapshot, files []*delta.Add, alias, pred string) (match []bool, scans []ScanReport, ok bool, err error) {
	st, err := newStatement(pred)
	if err != nil {
		return nil, nil, false, nil
	}
	for _, t := range st.Tokens {
		for _, w := range []string{"random", "uuid", "gen_random_uuid", "nextval", "setseed", "currval"} {
			if t.is(w) {
				return nil, nil, false, nil
			}
		}
	}
	schema := snap.Schema()
	partCols := snap.PartitionColumns()
	keys := map[string]int{}
	var rows []string
	fileGroup := make([]int, len(files))
	for i, f := range files {
		key := canonicalPartitionKey(f.PartitionValues)
		g, seen := keys[key]
		if !seen {
			g = len(rows)
			keys[key] = g
			vals, err := delta.TypedPartitionValues(schema, partCols, snap.ColumnMappingMode(), f.PartitionValues)
			if err != nil {
				return nil, nil, false, err
			}
			row := []string{fmt.Sprint(g)}
			for _, p := range partCols {
				lit, err := literalSQL(vals[strings.ToLower(p)], schema.Field(p).Type)
				if err != nil {
					return nil, nil, false, err
				}
				row = append(row, lit)
			}
			rows = append(rows, "("+strings.Join(row, ", ")+")")
		}
		fileGroup[i] = g
	}
	if len(rows) == 0 {
		rows = []string{"(0" + strings.Repeat(", NULL", len(partCols)) + ")"}
	}
	colNames := []string{quoteIdent("__strata_partition")}
	for _, p := range partCols {
		colNames = append(colNames, quoteIdent(schema.Field(p).Name))
	}
	if alias == "" {
		alias = "__strata_partitions"
	}
	q := "SELECT " + quoteIdent("__strata_partition") + " FROM (VALUES " + strings.Join(rows, ", ") + ") AS " +
		quoteIdent(alias) + "(" + strings.Join(colNames, ", ") + ") WHERE (" + pred + "\n)"
	qst, err := newStatement(q)
	if err != nil {
		return nil, nil, false, nil
	}
	bound, scans, err := e.bindReferences(ctx, c, qst)
	if err != nil {
		return nil, nil, false, err
	}
	matched := map[int]bool{}
	err = c.queryEach(ctx, bound, func(v []driver.Value) error {
		matched[int(toInt64(v[0]))] = true
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, false, ctx.Err()
		}
		return nil, nil, false, nil // not a partition predicate: the caller reads the rows
	}
	match = make([]bool, len(files))
	for i := range files {
		match[i] = matched[fileGroup[i]]
	}
	return match, scans, true, nil
}

// readsLocation reports whether scans read the table at location, and checks they read version
// version (a statement must see one version of its target).
func readsLocation(scans []ScanReport, location string, version int64) (bool, error) {
	found := false
	for _, s := range scans {
		if s.Location != location {
			continue
		}
		found = true
		if s.Version != version {
			return true, fmt.Errorf("engine: %s: the statement read versions %d and %d of the table (a concurrent commit landed while it was planned); run it again",
				location, version, s.Version)
		}
	}
	return found, nil
}

// --- results ---

// writeOutcome is what a write statement reports.
type writeOutcome struct {
	target    *targetRef
	operation string
	version   int64
	committed bool
	metrics   map[string]any
	message   string
	scans     []ScanReport
}

func (o *writeOutcome) result(st statement) *Result {
	fields := map[string]any{
		"table":     o.target.Name,
		"location":  o.target.Location,
		"operation": o.operation,
		"version":   o.version,
		"committed": o.committed,
	}
	keys := make([]string, 0, len(o.metrics))
	for k := range o.metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	metrics := map[string]any{}
	for _, k := range keys {
		metrics[k] = o.metrics[k]
	}
	fields["metrics"] = metrics
	return &Result{Statement: st.Text, Message: o.message, Fields: fields, Scans: o.scans}
}

func versionNote(committed bool, version int64) string {
	if committed {
		return fmt.Sprintf("version %d", version)
	}
	return fmt.Sprintf("table unchanged at version %d", version)
}

func sinceMillis(t0 time.Time) int64 { return time.Since(t0).Milliseconds() }

func sumSizes(files []*delta.Add) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}

func sumWritten(files []parquetio.DataFile) (rows, bytes int64) {
	for _, f := range files {
		rows += f.NumRecords
		bytes += f.Size
	}
	return rows, bytes
}

// checkRemovals refuses, before any work, a statement that removes rows (removes, such as DELETE
// or OVERWRITE) or rewrites them (rewrites: copy-on-write) where the table does not allow it:
// append-only tables, and tables with change data feed (whose rewrites need change data files,
// which Strata does not write yet).
func checkRemovals(ref *targetRef, snap *delta.Snapshot, op string, removes, rewrites bool) error {
	if removes && snap.Protocol().AppendOnly(snap.Metadata()) {
		return fmt.Errorf("engine: %s on %s: %w: the table is append-only (delta.appendOnly=true)", op, ref.Name, delta.ErrInvalidArgument)
	}
	if rewrites && snap.Protocol().ChangeDataFeedEnabled(snap.Metadata()) {
		return fmt.Errorf("engine: %s on %s: %w: the table has change data feed enabled (delta.enableChangeDataFeed=true), and Strata does not write change data files yet",
			op, ref.Name, delta.ErrUnsupportedFeature)
	}
	return nil
}

// renameInError replaces, in a DuckDB error about a statement Strata rewrote, the name of the
// temporary table that stood for the target by the target's name as written, keeping the caret
// under the position DuckDB reported.
func renameInError(err error, temp, name string) error {
	var qe *QueryError
	if !errors.As(err, &qe) {
		return err
	}
	lines := strings.Split(qe.Msg, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		caret := -1
		if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "^" {
			caret = strings.Index(lines[i+1], "^")
		}
		for _, old := range []string{quoteIdent(temp), temp} {
			for {
				k := strings.Index(line, old)
				if k < 0 {
					break
				}
				line = line[:k] + name + line[k+len(old):]
				if caret > k {
					caret += len(name) - len(old)
				}
			}
		}
		lines[i] = line
		if caret >= 0 {
			lines[i+1] = strings.Repeat(" ", max(caret, 0)) + "^"
			i++
		}
	}
	return &QueryError{Type: qe.Type, Msg: strings.Join(lines, "\n")}
}
