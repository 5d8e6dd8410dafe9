package engine

// OPTIMIZE: rewriting a table's data files without changing its rows, so that readers open fewer
// and better-clustered files.
//
//	OPTIMIZE <target> [WHERE <partition predicate>] [ZORDER BY (c1, c2, ...)]
//
// Bin-packing (no ZORDER BY): in each selected partition, the files smaller than the target size
// (and the files with deletion vectors, whose deleted rows the rewrite drops) are sorted by size
// and packed, in that order, into bins of at most the target size; each bin with two files or
// more (or one file with a deletion vector) is rewritten as one file. Bins of one plain file are
// left alone, so that OPTIMIZE run twice does nothing the second time. This is Spark's and
// delta-rs's algorithm.
//
// Z-order (ZORDER BY): every file of each selected partition that has two files or more (or one
// larger than the target, or with a deletion vector) is rewritten, with the partition's rows sorted by a Z-order (Morton) key and split into files of the
// target size, so that each file covers a narrow range of every Z-ordered column and range
// filters on them skip most files. The key interleaves the bits of each column's rank bucket:
// each column's value is mapped to floor((rank - 1) * 2^k / rows) (its quantile, k bits, ties in
// one bucket, NULLs first), and bit b of column i becomes bit b*n + (n-1-i) of the key. Ranks
// make every orderable type (strings, timestamps, skewed numbers) use the full k bits, as Spark's
// range_partition_id does. The key is computed in SQL (window functions and bit operators) rather
// than by a Go scalar UDF: it stays inside DuckDB's vectorized execution (a UDF calls into Go
// through cgo for every chunk and converts every value), and needs no extra driver API. One
// column needs no key: the rows are sorted by the column.
//
// DuckDB reads the files (the snapshot's relation, deletion vectors applied) and
// internal/parquetio writes the new ones, with Strata's statistics. The commit removes the old
// files and adds the new ones with dataChange=false (readers of the change feed and streaming
// readers ignore it), records the rewritten files as read (a concurrent commit removing one of
// them makes OPTIMIZE fail with a conflict; concurrent blind appends do not), and carries Spark's
// operationParameters (predicate, zOrderBy) and operationMetrics.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/dustin/go-humanize"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/table"
)

func init() { registerHandler(optimizeStatement) }

// OptimizeOptions configure an optimization.
type OptimizeOptions struct {
	// Where limits the rewrite to the partitions matching a predicate over partition columns
	// (delta.ParsePredicate's syntax, e.g. "date >= '2024-01-01'"); empty means every partition.
	Where string
	// ZOrderBy, when not empty, Z-orders every selected partition by these columns (data columns
	// of a primitive type) instead of bin-packing its small files.
	ZOrderBy []string
	// TargetFileSize is the size of the files written, in bytes: 0 means the table's
	// delta.targetFileSize, or parquetio.DefaultTargetFileSize (128 MiB).
	TargetFileSize int64
	// MinFileSize: bin-packing rewrites files smaller than this; 0 means TargetFileSize.
	MinFileSize int64
}

// OptimizeMetrics are the outcome of an optimization, as Spark's operationMetrics name them.
type OptimizeMetrics struct {
	NumRemovedFiles           int   `json:"numRemovedFiles"`
	NumAddedFiles             int   `json:"numAddedFiles"`
	NumRemovedBytes           int64 `json:"numRemovedBytes"`
	NumAddedBytes             int64 `json:"numAddedBytes"`
	MinFileSize               int64 `json:"minFileSize"`
	P25FileSize               int64 `json:"p25FileSize"`
	P50FileSize               int64 `json:"p50FileSize"`
	P75FileSize               int64 `json:"p75FileSize"`
	MaxFileSize               int64 `json:"maxFileSize"`
	NumDeletionVectorsRemoved int   `json:"numDeletionVectorsRemoved"`
	// NumBatches is the number of bins (or Z-ordered partitions) rewritten; NumPartitions the
	// number of partitions they belong to.
	NumBatches    int `json:"numBatches"`
	NumPartitions int `json:"numPartitionsOptimized"`
	// TotalConsideredFiles counts the files of the selected partitions.
	TotalConsideredFiles int `json:"totalConsideredFiles"`
}

// OptimizeResult describes a finished optimization.
type OptimizeResult struct {
	// Location is the table's location.
	Location string
	// ReadVersion is the version optimized; Version the version committed (ReadVersion when
	// there was nothing to rewrite and nothing was committed).
	ReadVersion, Version int64
	// Committed is false when no file needed rewriting.
	Committed bool
	// TargetFileSize is the target size used.
	TargetFileSize int64
	// ZOrderBy echoes the Z-order columns.
	ZOrderBy []string
	// Metrics are also the commit's operationMetrics.
	Metrics OptimizeMetrics
}

// Optimize compacts (or Z-orders) the Delta table at location and commits the rewrite as one
// transaction. Errors leave the table unchanged (files already written become orphans for
// VACUUM); a concurrent commit that removed a file being rewritten fails it with a
// *delta.ConflictError. Cancelling ctx stops it between and inside DuckDB queries.
func (e *Engine) Optimize(ctx context.Context, location string, opts OptimizeOptions) (*OptimizeResult, error) {
	t, err := e.openTable(ctx, location)
	if err != nil {
		return nil, err
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, err
	}
	return e.optimize(ctx, location, t, snap, opts)
}

// optimizeStatement recognises OPTIMIZE.
func optimizeStatement(e *Engine, st statement) func(context.Context) (*Result, error) {
	if !headIs(st, "OPTIMIZE") {
		return nil
	}
	return func(ctx context.Context) (*Result, error) { return e.optimizeSQL(ctx, st) }
}

const optimizeUsage = "OPTIMIZE <table> [WHERE <partition predicate>] [ZORDER BY (col, ...)]"

func (e *Engine) optimizeSQL(ctx context.Context, st statement) (*Result, error) {
	ref, i, err := e.target(st, 1, "OPTIMIZE")
	if err != nil {
		return nil, err
	}
	toks := st.Tokens
	var opts OptimizeOptions
	if i < len(toks) && toks[i].is("WHERE") {
		end := i + 1
		for end < len(toks) && !(toks[end].is("ZORDER") && end+1 < len(toks) && toks[end+1].is("BY")) {
			end++
		}
		if end == i+1 {
			return nil, syntaxError(st, end, "WHERE needs a predicate over partition columns")
		}
		opts.Where = st.Text[toks[i+1].Start:toks[end-1].End]
		i = end
	}
	if i < len(toks) && toks[i].is("ZORDER") {
		if i+1 >= len(toks) || !toks[i+1].is("BY") {
			return nil, syntaxError(st, i+1, "expected ZORDER BY (col, ...)")
		}
		i += 2
		paren := i < len(toks) && toks[i].punct("(")
		if paren {
			i++
		}
		for {
			if i >= len(toks) || toks[i].name() == "" {
				return nil, syntaxError(st, i, "ZORDER BY takes column names")
			}
			opts.ZOrderBy = append(opts.ZOrderBy, toks[i].name())
			i++
			if i < len(toks) && toks[i].punct(",") {
				i++
				continue
			}
			break
		}
		if paren {
			if i >= len(toks) || !toks[i].punct(")") {
				return nil, syntaxError(st, i, "expected ) after the ZORDER BY columns")
			}
			i++
		}
	}
	if err := expectEnd(st, i, optimizeUsage); err != nil {
		return nil, err
	}
	t, snap, err := e.latest(ctx, ref)
	if err != nil {
		return nil, err
	}
	res, err := e.optimize(ctx, ref.Name, t, snap, opts)
	if err != nil {
		return nil, err
	}
	return &Result{Statement: st.Text, Message: res.message(ref.Name), Fields: res.fields(ref.Name)}, nil
}

// message summarises the result in one line.
func (r *OptimizeResult) message(name string) string {
	m := r.Metrics
	what := "compacted"
	if len(r.ZOrderBy) > 0 {
		what = "Z-ordered by " + strings.Join(r.ZOrderBy, ", ") + ":"
	}
	if !r.Committed {
		return fmt.Sprintf("optimized %s version %d: nothing to rewrite (%d files considered)", name, r.ReadVersion, m.TotalConsideredFiles)
	}
	return fmt.Sprintf("optimized %s: %s %d files (%s) into %d files (%s): version %d", name, what,
		m.NumRemovedFiles, humanize.IBytes(uint64(m.NumRemovedBytes)), m.NumAddedFiles, humanize.IBytes(uint64(m.NumAddedBytes)), r.Version)
}

// fields is the result as data (the JSON of a command result).
func (r *OptimizeResult) fields(name string) map[string]any {
	m := r.Metrics
	return map[string]any{
		"table": name, "location": r.Location, "readVersion": r.ReadVersion, "version": r.Version,
		"committed": r.Committed, "targetFileSize": r.TargetFileSize, "zOrderBy": r.ZOrderBy,
		"numRemovedFiles": m.NumRemovedFiles, "numAddedFiles": m.NumAddedFiles,
		"numRemovedBytes": m.NumRemovedBytes, "numAddedBytes": m.NumAddedBytes,
		"minFileSize": m.MinFileSize, "p25FileSize": m.P25FileSize, "p50FileSize": m.P50FileSize,
		"p75FileSize": m.P75FileSize, "maxFileSize": m.MaxFileSize,
		"numDeletionVectorsRemoved": m.NumDeletionVectorsRemoved, "numBatches": m.NumBatches,
		"numPartitionsOptimized": m.NumPartitions, "totalConsideredFiles": m.TotalConsideredFiles,
	}
}

// Fields returns the result as data, as the OPTIMIZE statement reports it.
func (r *OptimizeResult) Fields() map[string]any { return r.fields(r.Location) }

// Message returns the one-line summary the OPTIMIZE statement prints.
func (r *OptimizeResult) Message() string { return r.message(r.Location) }

// optimizeBatch is one unit of rewrite: files of one partition, written together.
type optimizeBatch struct {
	files []*delta.Add
	bytes int64
}

// optimize plans and performs the rewrite of snap; name identifies the table in errors.
func (e *Engine) optimize(ctx context.Context, name string, t *table.Table, snap *delta.Snapshot, opts OptimizeOptions) (*OptimizeResult, error) {
	fail := func(err error) (*OptimizeResult, error) {
		return nil, fmt.Errorf("OPTIMIZE %s version %d: %w", name, snap.Version(), err)
	}
	if err := snap.Protocol().CheckWritable(snap.Metadata()); err != nil {
		return fail(err)
	}
	conf := snap.Metadata().Configuration
	target := opts.TargetFileSize
	if target <= 0 {
		target = parquetio.DefaultTargetFileSize
		if v, ok := conf["delta.targetFileSize"]; ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n <= 0 {
				return fail(fmt.Errorf("%w: delta.targetFileSize=%q", delta.ErrInvalidArgument, v))
			}
			target = n
		}
	}
	minSize := opts.MinFileSize
	if minSize <= 0 {
		minSize = target
	}
	res := &OptimizeResult{Location: t.Location(), ReadVersion: snap.Version(), Version: snap.Version(), TargetFileSize: target}

	// The partitions to optimize.
	var pred delta.Expr
	files := snap.Files()
	if strings.TrimSpace(opts.Where) != "" {
		var err error
		if pred, err = optimizePredicate(snap, opts.Where); err != nil {
			return fail(err)
		}
		if files, err = table.FilesMatching(snap, pred); err != nil {
			return fail(err)
		}
	}
	zcols, err := zorderColumns(snap, opts.ZOrderBy)
	if err != nil {
		return fail(err)
	}
	res.ZOrderBy = zcols
	res.Metrics.TotalConsideredFiles = len(files)
	byPartition := map[string][]*delta.Add{}
	var keys []string
	for _, f := range files {
		k := canonicalPartitionKey(f.PartitionValues)
		if _, ok := byPartition[k]; !ok {
			keys = append(keys, k)
		}
		byPartition[k] = append(byPartition[k], f)
	}
	sort.Strings(keys)
	var batches []optimizeBatch
	partitions := 0
	for _, k := range keys {
		var bs []optimizeBatch
		if len(zcols) > 0 {
			bs = zorderBatches(byPartition[k], target)
		} else {
			bs = binPack(byPartition[k], target, minSize)
		}
		if len(bs) > 0 {
			partitions++
		}
		batches = append(batches, bs...)
	}
	res.Metrics.NumBatches, res.Metrics.NumPartitions = len(batches), partitions
	if len(batches) == 0 {
		return res, nil
	}

	// Rewrite.
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var removed []*delta.Add
	var added []parquetio.DataFile
	for _, b := range batches {
		query, err := e.relationFor(ctx, c, t, snap, b.files)
		if err != nil {
			return fail(err)
		}
		var out []parquetio.DataFile
		if len(zcols) > 0 {
			out, err = e.writeOptimized(ctx, c, t, snap, zorderQuery(query, snap.Schema(), zcols), target)
		} else {
			// One file per bin: a bin holds at most the target size, and splitting it would
			// leave a small file behind for the next OPTIMIZE.
			out, err = e.writeOptimized(ctx, c, t, snap, query, min(max(b.bytes, target), math.MaxInt64/2)*2)
		}
		if err != nil {
			return fail(err)
		}
		if err := checkRowCount(b.files, out); err != nil {
			return fail(err)
		}
		removed = append(removed, b.files...)
		added = append(added, out...)
	}

	// Commit.
	var predicates []string
	if pred != nil {
		predicates = []string{pred.String()}
	}
	params := map[string]any{"predicate": jsonStrings(predicates), "zOrderBy": jsonStrings(zcols), "auto": false}
	tx := t.Kernel().NewTransaction(snap, delta.Operation{Name: "OPTIMIZE", Parameters: params})
	tx.ReadFiles(removed...)
	now := t.Kernel().Now().UnixMilli()
	m := &res.Metrics
	for _, f := range removed {
		tx.RemoveFiles(f.RemoveAction(now, false))
		m.NumRemovedFiles++
		m.NumRemovedBytes += f.Size
		if f.DeletionVector != nil {
			m.NumDeletionVectorsRemoved++
		}
	}
	sizes := make([]int64, 0, len(added))
	for _, f := range added {
		tx.AddFiles(f.Add(false))
		m.NumAddedFiles++
		m.NumAddedBytes += f.Size
		sizes = append(sizes, f.Size)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	if len(sizes) > 0 {
		pct := func(p int) int64 { return sizes[(len(sizes)-1)*p/100] }
		m.MinFileSize, m.P25FileSize, m.P50FileSize, m.P75FileSize, m.MaxFileSize = sizes[0], pct(25), pct(50), pct(75), sizes[len(sizes)-1]
	}
	tx.SetMetrics(map[string]any{
		"numRemovedFiles": m.NumRemovedFiles, "numAddedFiles": m.NumAddedFiles,
		"numRemovedBytes": m.NumRemovedBytes, "numAddedBytes": m.NumAddedBytes,
		"minFileSize": m.MinFileSize, "p25FileSize": m.P25FileSize, "p50FileSize": m.P50FileSize,
		"p75FileSize": m.P75FileSize, "maxFileSize": m.MaxFileSize,
		"numDeletionVectorsRemoved": m.NumDeletionVectorsRemoved,
	})
	cr, err := tx.Commit(ctx)
	if err != nil {
		var ce *delta.ConflictError
		if errors.As(err, &ce) {
			return fail(fmt.Errorf("%w; nothing was committed", err))
		}
		return fail(err)
	}
	res.Version, res.Committed = cr.Version, true
	return res, nil
}

// writeOptimized runs query (the table's logical columns) on c and writes its rows as data files
// of about target bytes, with the table's write properties (codec, statistics columns).
func (e *Engine) writeOptimized(ctx context.Context, c *conn, t *table.Table, snap *delta.Snapshot, query string, target int64) ([]parquetio.DataFile, error) {
	rr, err := c.query(ctx, query)
	if err != nil {
		return nil, duckError(err)
	}
	defer rr.Release()
	in, err := newConformReader(ctx, rr, delta.ToArrowSchema(snap.Schema()))
	if err != nil {
		return nil, err
	}
	defer in.Release()
	wopts := parquetio.WriteOptions{Schema: snap.Schema(), PartitionColumns: snap.PartitionColumns()}
	if err := wopts.ApplyTableProperties(snap.Metadata().Configuration); err != nil {
		return nil, err
	}
	wopts.TargetFileSize = target
	sliced := &slicingReader{in: in, target: target}
	defer sliced.Release()
	files, err := parquetio.WriteDataFiles(ctx, t.Store(), sliced, wopts)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w; nothing was committed", t.Location(), duckError(err))
	}
	return files, nil
}

// slicingReader cuts batches into slices of about an eighth of the target file size (in Arrow
// bytes), so that the Parquet writer learns the compression ratio early and can close files near
// the target even when DuckDB returns one large batch.
type slicingReader struct {
	in      array.RecordReader
	target  int64
	maxRows int64
	src     arrow.RecordBatch // the batch being sliced (a reference owned by this reader)
	off     int64
	cur     arrow.RecordBatch
	refs    atomic.Int64
}

func (r *slicingReader) Schema() *arrow.Schema { return r.in.Schema() }

func (r *slicingReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for r.src == nil || r.off >= r.src.NumRows() {
		if r.src != nil {
			r.src.Release()
			r.src = nil
		}
		if !r.in.Next() {
			return false
		}
		r.src, r.off = r.in.RecordBatch(), 0
		r.src.Retain()
		if r.maxRows == 0 && r.src.NumRows() > 0 {
			perRow := max(batchBytes(r.src)/r.src.NumRows(), 1)
			r.maxRows = min(max(r.target/8/perRow, 64), 1<<20)
		}
	}
	end := min(r.off+max(r.maxRows, 1), r.src.NumRows())
	r.cur = r.src.NewSlice(r.off, end)
	r.off = end
	return true
}

func (r *slicingReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *slicingReader) Record() arrow.RecordBatch      { return r.cur }
func (r *slicingReader) Err() error                     { return r.in.Err() }
func (r *slicingReader) Retain()                        { r.refs.Add(1) }

func (r *slicingReader) Release() {
	if r.refs.Add(-1) >= 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.src != nil {
		r.src.Release()
		r.src = nil
	}
}

// batchBytes is the size of a batch's Arrow buffers.
func batchBytes(rec arrow.RecordBatch) int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return n
}

// jsonStrings renders a list as a JSON array, as Spark stores list parameters (without escaping
// <, > and & as json.Marshal does).
func jsonStrings(items []string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if items == nil {
		items = []string{}
	}
	_ = enc.Encode(items) // a []string always encodes
	return strings.TrimSpace(b.String())
}

// optimizePredicate parses OPTIMIZE's WHERE predicate, which may reference partition columns
// only.
func optimizePredicate(snap *delta.Snapshot, where string) (delta.Expr, error) {
	pred, err := delta.ParsePredicate(where)
	if err != nil {
		return nil, fmt.Errorf("%w: WHERE: %v", delta.ErrInvalidArgument, err)
	}
	parts := map[string]bool{}
	for _, p := range snap.PartitionColumns() {
		parts[strings.ToLower(p)] = true
	}
	for _, c := range pred.Columns() {
		if parts[strings.ToLower(c)] {
			continue
		}
		if snap.Schema().Field(c) == nil {
			return nil, fmt.Errorf("%w: WHERE: column %q is not in the table", delta.ErrInvalidArgument, c)
		}
		if len(parts) == 0 {
			return nil, fmt.Errorf("%w: WHERE: the table is not partitioned; OPTIMIZE's WHERE selects partitions", delta.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("%w: WHERE: column %q is not a partition column (partition columns: %s); OPTIMIZE's WHERE selects partitions",
			delta.ErrInvalidArgument, c, strings.Join(snap.PartitionColumns(), ", "))
	}
	return pred, nil
}

// zorderColumns checks the Z-order columns: data columns of the table with an orderable
// (primitive) type, each named once. It returns their schema names.
func zorderColumns(snap *delta.Snapshot, cols []string) ([]string, error) {
	parts := map[string]bool{}
	for _, p := range snap.PartitionColumns() {
		parts[strings.ToLower(p)] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range cols {
		f := snap.Schema().Field(c)
		switch {
		case f == nil:
			return nil, fmt.Errorf("%w: ZORDER BY: column %q is not in the table", delta.ErrInvalidArgument, c)
		case parts[strings.ToLower(f.Name)]:
			return nil, fmt.Errorf("%w: ZORDER BY: %q is a partition column; Z-order clusters rows within partitions, by data columns", delta.ErrInvalidArgument, f.Name)
		case seen[strings.ToLower(f.Name)]:
			return nil, fmt.Errorf("%w: ZORDER BY: column %q is named twice", delta.ErrInvalidArgument, f.Name)
		}
		switch f.Type.(type) {
		case *delta.PrimitiveType, *delta.DecimalType:
		default:
			return nil, fmt.Errorf("%w: ZORDER BY: column %q has type %s; Z-order needs orderable (primitive) columns", delta.ErrInvalidArgument, f.Name, f.Type)
		}
		seen[strings.ToLower(f.Name)] = true
		out = append(out, f.Name)
	}
	if len(out) > 32 {
		return nil, fmt.Errorf("%w: ZORDER BY: at most 32 columns", delta.ErrInvalidArgument)
	}
	return out, nil
}

// binPack groups one partition's files for compaction: the files smaller than minSize, or with
// a deletion vector, sorted by size, packed into bins of at most target bytes; bins of a single
// file without a deletion vector are dropped.
func binPack(files []*delta.Add, target, minSize int64) []optimizeBatch {
	var cands []*delta.Add
	for _, f := range files {
		if f.Size < minSize || f.DeletionVector != nil {
			cands = append(cands, f)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].Size != cands[j].Size {
			return cands[i].Size < cands[j].Size
		}
		return cands[i].Path < cands[j].Path
	})
	var out []optimizeBatch
	var cur optimizeBatch
	flush := func() {
		if len(cur.files) > 1 || len(cur.files) == 1 && cur.files[0].DeletionVector != nil {
			out = append(out, cur)
		}
		cur = optimizeBatch{}
	}
	for _, f := range cands {
		if len(cur.files) > 0 && cur.bytes+f.Size > target {
			flush()
		}
		cur.files = append(cur.files, f)
		cur.bytes += f.Size
	}
	flush()
	return out
}

// zorderBatches returns one partition's files as one batch when Z-ordering them can change the
// layout: when there are several, or one with a deletion vector, or one larger than the target
// (which the rewrite splits into files of narrower ranges).
func zorderBatches(files []*delta.Add, target int64) []optimizeBatch {
	if len(files) == 0 || len(files) == 1 && files[0].DeletionVector == nil && files[0].Size <= target {
		return nil
	}
	b := optimizeBatch{files: append([]*delta.Add(nil), files...)}
	sort.Slice(b.files, func(i, j int) bool { return b.files[i].Path < b.files[j].Path })
	for _, f := range files {
		b.bytes += f.Size
	}
	return []optimizeBatch{b}
}

// zorderQuery sorts a relation (SQL with the table's logical columns) along the Z-order curve of
// cols and returns the table's columns.
func zorderQuery(relation string, schema *delta.StructType, cols []string) string {
	names := make([]string, len(schema.Fields))
	for i, f := range schema.Fields {
		names[i] = quoteIdent(f.Name)
	}
	list := strings.Join(names, ", ")
	if len(cols) == 1 {
		return "SELECT " + list + " FROM (" + relation + ") ORDER BY " + quoteIdent(cols[0]) + " NULLS FIRST"
	}
	n := len(cols)
	k := min(20, 64/n) // bits per column
	buckets := fmt.Sprintf("%d", uint64(1)<<k)
	ranks := make([]string, n)
	for i, c := range cols {
		// The column's quantile bucket in [0, 2^k): ties share a bucket, NULLs come first.
		ranks[i] = fmt.Sprintf("CAST((rank() OVER (ORDER BY %s NULLS FIRST) - 1) * %s // count(*) OVER () AS UBIGINT) AS \"__strata_z%d\"",
			quoteIdent(c), buckets, i)
	}
	var terms []string
	for b := 0; b < k; b++ {
		for i := 0; i < n; i++ {
			// DuckDB's bit operators share one precedence: parenthesise every step.
			terms = append(terms, fmt.Sprintf("(CAST((\"__strata_z%d\" >> %d) & 1 AS UBIGINT) << %d)", i, b, b*n+(n-1-i)))
		}
	}
	return "SELECT " + list + " FROM (SELECT *, " + strings.Join(ranks, ", ") + " FROM (" + relation + ")) ORDER BY " +
		strings.Join(terms, " | ")
}

// checkRowCount verifies that the files written hold as many rows as the files they replace
// (their numRecords less their deletion vectors' cardinality), when the statistics say.
func checkRowCount(in []*delta.Add, out []parquetio.DataFile) error {
	var want, got int64
	for _, f := range in {
		st, err := delta.ParseStats(f.Stats)
		if err != nil || st == nil || st.NumRecords < 0 {
			return nil // unknown: nothing to check
		}
		want += st.NumRecords
		if f.DeletionVector != nil {
			want -= f.DeletionVector.Cardinality
		}
	}
	for _, f := range out {
		got += f.NumRecords
	}
	if got != want {
		return fmt.Errorf("rewrote %d files holding %d rows into files holding %d rows; nothing was committed", len(in), want, got)
	}
	return nil
}
