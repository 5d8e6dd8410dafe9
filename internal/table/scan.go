package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
)

// ScanOptions select what a scan returns.
type ScanOptions struct {
	// Columns are logical column names to return, in order; nil means every column of the schema.
	Columns []string
	// PartitionFilter, if set, skips files whose partition values do not satisfy it.
	PartitionFilter delta.Expr
	// Files, if not nil, are read instead of the snapshot's files: add actions of the snapshot's
	// table whose data follows the snapshot's schema (a streaming read of the files a version
	// added). They are read in the order given.
	Files []*delta.Add
}

// ScanStats counts what a scan read.
type ScanStats struct {
	FilesScanned, FilesSkipped int
	RowsDeleted                int64 // rows hidden by deletion vectors
}

// Scanner reads a snapshot's rows as Arrow record batches in the table's logical schema, with the
// Delta semantics applied: partition values come from the log (not from paths), column mapping
// resolves physical columns, deletion vectors hide deleted rows, and columns missing from older
// files read as null. It implements array.RecordReader. Files are read in path order.
type Scanner struct {
	ctx    context.Context
	t      *Table
	snap   *delta.Snapshot
	schema *arrow.Schema // output (logical)
	cols   []scanColumn
	files  []*delta.Add
	want   *arrow.Schema // physical schema of the data columns read from files
	match  parquetio.MatchMode

	next    int
	cur     *parquetio.DataFileReader
	curFile *delta.Add
	curPart []scalar.Scalar // partition value per output column (nil for data columns)
	curDV   *delta.DeletedRows
	curRow  int64 // row index in the current file of the next batch

	rec   arrow.RecordBatch
	err   error
	refs  int64
	Stats ScanStats
}

type scanColumn struct {
	field     *delta.StructField
	partition bool
	dataIndex int // index in want when !partition
}

// Scan starts reading snap.
func (t *Table) Scan(ctx context.Context, snap *delta.Snapshot, opts ScanOptions) (*Scanner, error) {
	schema := snap.Schema()
	names := opts.Columns
	if names == nil {
		for _, f := range schema.Fields {
			names = append(names, f.Name)
		}
	}
	parts := map[string]bool{}
	for _, p := range snap.PartitionColumns() {
		parts[strings.ToLower(p)] = true
	}
	s := &Scanner{ctx: ctx, t: t, snap: snap, refs: 1}
	var outFields []arrow.Field
	physical := &delta.StructType{}
	for _, n := range names {
		f := schema.Field(n)
		if f == nil {
			return nil, fmt.Errorf("table: scan %s: %w: no column %q (columns: %s)", t.Location(), delta.ErrInvalidArgument, n, columnList(schema))
		}
		c := scanColumn{field: f, partition: parts[strings.ToLower(f.Name)]}
		if !c.partition {
			c.dataIndex = len(physical.Fields)
			physical.Fields = append(physical.Fields, f)
		}
		s.cols = append(s.cols, c)
		outFields = append(outFields, arrow.Field{Name: f.Name, Type: delta.ToArrowType(f.Type), Nullable: f.Nullable})
	}
	s.schema = arrow.NewSchema(outFields, nil)
	switch snap.ColumnMappingMode() {
	case "id":
		s.match = parquetio.MatchByID
		s.want = delta.PhysicalArrowSchema(physical)
	case "name":
		s.want = delta.PhysicalArrowSchema(physical)
	default:
		s.want = delta.ToArrowSchema(physical)
	}
	files := snap.Files()
	if opts.Files != nil {
		files = opts.Files
	}
	for _, f := range files {
		if opts.PartitionFilter != nil {
			vals, err := delta.TypedPartitionValues(schema, snap.PartitionColumns(), snap.ColumnMappingMode(), f.PartitionValues)
			if err != nil {
				return nil, err
			}
			if !opts.PartitionFilter.EvalPartition(vals) {
				s.Stats.FilesSkipped++
				continue
			}
		}
		s.files = append(s.files, f)
	}
	return s, nil
}

func columnList(st *delta.StructType) string {
	names := make([]string, len(st.Fields))
	for i, f := range st.Fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// Schema is the output schema (logical names and types).
func (s *Scanner) Schema() *arrow.Schema { return s.schema }

// Files returns the files the scan reads (after partition pruning).
func (s *Scanner) Files() []*delta.Add { return s.files }

// Next advances to the next non-empty batch.
func (s *Scanner) Next() bool {
	if s.rec != nil {
		s.rec.Release()
		s.rec = nil
	}
	for s.err == nil {
		if s.cur == nil {
			if s.next >= len(s.files) {
				return false
			}
			s.err = s.openFile(s.files[s.next])
			s.next++
			continue
		}
		rec, err := s.cur.Next(s.ctx)
		if errors.Is(err, io.EOF) {
			s.err = s.cur.Close()
			s.cur = nil
			continue
		}
		if err != nil {
			s.err = fmt.Errorf("table: scan %s: file %s: %w", s.t.Location(), s.curFile.Path, err)
			return false
		}
		out, err := s.assemble(rec)
		rec.Release()
		if err != nil {
			s.err = fmt.Errorf("table: scan %s: file %s: %w", s.t.Location(), s.curFile.Path, err)
			return false
		}
		if out.NumRows() == 0 {
			out.Release()
			continue
		}
		s.rec = out
		return true
	}
	return false
}

func (s *Scanner) openFile(f *delta.Add) error {
	key, err := delta.FileKeyForPath(s.t.store.URL(), f.Path)
	if err != nil {
		return err
	}
	r, err := parquetio.ReadDataFile(s.ctx, s.t.store, key, f.Size, s.want, s.match)
	if err != nil {
		return fmt.Errorf("table: scan %s: %w", s.t.Location(), err)
	}
	s.cur, s.curFile, s.curRow, s.curDV = r, f, 0, nil
	s.Stats.FilesScanned++
	if f.DeletionVector != nil {
		dv, err := delta.ReadDeletionVector(s.ctx, s.t.store, f.DeletionVector)
		if err != nil {
			r.Close()
			s.cur = nil
			return fmt.Errorf("table: scan %s: deletion vector of %s: %w", s.t.Location(), f.Path, err)
		}
		s.curDV = dv
	}
	s.curPart = make([]scalar.Scalar, len(s.cols))
	if len(s.snap.PartitionColumns()) > 0 {
		vals, err := delta.TypedPartitionValues(s.snap.Schema(), s.snap.PartitionColumns(), s.snap.ColumnMappingMode(), f.PartitionValues)
		if err != nil {
			r.Close()
			s.cur = nil
			return err
		}
		for i, c := range s.cols {
			if c.partition {
				s.curPart[i] = vals[strings.ToLower(c.field.Name)]
			}
		}
	}
	return nil
}

// assemble builds an output batch from a file batch: data columns relabelled to logical names,
// partition columns as constants, deleted rows filtered out.
func (s *Scanner) assemble(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := rec.NumRows()
	first := s.curRow
	s.curRow += n
	cols := make([]arrow.Array, len(s.cols))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range s.cols {
		outType := s.schema.Field(i).Type
		if c.partition {
			sc := s.curPart[i]
			var arr arrow.Array
			var err error
			if sc == nil || !sc.IsValid() {
				arr = array.MakeArrayOfNull(memory.DefaultAllocator, outType, int(n))
			} else if arr, err = scalar.MakeArrayFromScalar(sc, int(n), memory.DefaultAllocator); err != nil {
				return nil, err
			}
			cols[i] = arr
			continue
		}
		cols[i] = relabel(rec.Column(c.dataIndex), outType)
	}
	out := array.NewRecordBatch(s.schema, cols, n)
	if s.curDV == nil || s.curDV.IsEmpty() {
		return out, nil
	}
	mb := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer mb.Release()
	deleted := int64(0)
	for r := int64(0); r < n; r++ {
		del := s.curDV.Contains(uint64(first + r))
		if del {
			deleted++
		}
		mb.Append(!del)
	}
	if deleted == 0 {
		return out, nil
	}
	s.Stats.RowsDeleted += deleted
	mask := mb.NewBooleanArray()
	defer mask.Release()
	defer out.Release()
	filtered, err := compute.FilterRecordBatch(s.ctx, out, mask, compute.DefaultFilterOptions())
	if err != nil {
		return nil, err
	}
	return filtered, nil
}

// relabel returns arr viewed with type dt, which has the same layout but possibly other field
// names (physical column-mapping names become logical ones). The result is a new reference.
func relabel(arr arrow.Array, dt arrow.DataType) arrow.Array {
	if arrow.TypeEqual(arr.DataType(), dt) {
		arr.Retain()
		return arr
	}
	data := relabelData(arr.Data(), dt)
	defer data.Release()
	return array.MakeFromData(data)
}

func relabelData(d arrow.ArrayData, dt arrow.DataType) arrow.ArrayData {
	children := d.Children()
	var newChildren []arrow.ArrayData
	switch t := dt.(type) {
	case *arrow.StructType:
		for i, c := range children {
			newChildren = append(newChildren, relabelData(c, t.Field(i).Type))
		}
	case *arrow.ListType:
		newChildren = []arrow.ArrayData{relabelData(children[0], t.Elem())}
	case *arrow.MapType:
		newChildren = []arrow.ArrayData{relabelData(children[0], t.Elem())}
	default:
		for _, c := range children {
			c.Retain()
			newChildren = append(newChildren, c)
		}
	}
	out := array.NewData(dt, d.Len(), d.Buffers(), newChildren, d.NullN(), d.Offset())
	for _, c := range newChildren {
		c.Release()
	}
	return out
}

// RecordBatch returns the current batch (valid until the next call to Next).
func (s *Scanner) RecordBatch() arrow.RecordBatch { return s.rec }

// Record is RecordBatch (array.RecordReader's deprecated name).
func (s *Scanner) Record() arrow.RecordBatch { return s.rec }

// Err returns the error that stopped the scan, if any.
func (s *Scanner) Err() error { return s.err }

// Retain adds a reference.
func (s *Scanner) Retain() { atomic.AddInt64(&s.refs, 1) }

// Release drops a reference, closing the scan at zero.
func (s *Scanner) Release() {
	if atomic.AddInt64(&s.refs, -1) > 0 {
		return
	}
	if s.rec != nil {
		s.rec.Release()
		s.rec = nil
	}
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
}

var _ array.RecordReader = (*Scanner)(nil)
