package parquetio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
)

// MatchMode says how ReadDataFile finds the wanted columns in a file.
type MatchMode int

const (
	// MatchByName matches fields by name: exactly first, then ignoring case (column mapping
	// "none" with logical names, or "name" mode with physical names).
	MatchByName MatchMode = iota
	// MatchByID matches fields by Parquet field id, taken from the wanted field's
	// delta.ArrowFieldIDKey metadata (column mapping "id" mode); a wanted field without an id is
	// matched by name. Elements of lists and maps are matched by position.
	MatchByID
)

// String names the mode as the column-mapping property does ("name", "id").
func (m MatchMode) String() string {
	if m == MatchByID {
		return "id"
	}
	return "name"
}

// wholeFileLimit: files up to this size are fetched with one Get; larger ones are read with
// GetRange on demand (the footer, then one range per column chunk).
var wholeFileLimit int64 = 16 << 20

// DataFileReader streams the rows of one data file as record batches that conform exactly to the
// wanted schema (names, order and types). Batches come out in file row order, none dropped, each
// of at most DefaultBatchRows rows, so a caller can number rows (for deletion vectors) by summing
// batch lengths; Offset gives the number directly. Not safe for concurrent use; Close it.
type DataFileReader struct {
	key   string
	want  *arrow.Schema
	match MatchMode
	src   *storeReaderAt // nil when the file was fetched whole
	pf    *file.Reader
	rr    pqarrow.RecordReader // nil when no wanted column is read through pqarrow
	cols  []readPlan
	int96 []*int96Column
	total int64 // rows in the file
	read  int64 // rows returned so far
	last  int64 // offset of the last batch returned
}

// readPlan says where one wanted top-level column comes from.
type readPlan struct {
	want   arrow.Field
	source int // sourceMissing, sourcePQ (rrCol), sourceInt96 (int96 index)
	index  int
}

const (
	sourceMissing = iota
	sourcePQ
	sourceInt96
)

// ReadDataFile opens the data file at key (a store key; size in bytes, or <= 0 to Stat it) for
// reading the columns of want, the physical Arrow schema of the columns the caller needs
// (delta.PhysicalArrowSchema of the table schema, projected; partition columns are not in data
// files). Columns are found by match, recursively into structs; a wanted column or struct field
// absent from the file comes back as nulls. Values are converted to the wanted types from what
// engines write: INT96 and millisecond or nanosecond timestamps to microseconds, 32-bit integers
// to byte and short, integer and fixed-length decimals to Decimal128 of the wanted precision and
// scale (and integers to wider integers, floats, doubles and decimals, dates to timestamp_ntz, as
// type widening allows), unannotated binary to string, legacy 2-level lists and Spark's map
// encodings to lists and maps. A value that does not fit the wanted type is an error wrapping
// delta.ErrSchemaMismatch; undecodable bytes give ErrInvalidParquet.
//
// Files up to 16 MiB are fetched with one store.Get; larger ones are read with store.GetRange on
// demand. ctx governs the opening reads; each Next call takes its own context.
func ReadDataFile(ctx context.Context, store storage.Store, key string, size int64, want *arrow.Schema, match MatchMode) (*DataFileReader, error) {
	if size <= 0 {
		info, err := store.Stat(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("parquetio: open %s: %w", key, err)
		}
		size = info.Size
	}
	r := &DataFileReader{key: key, want: want, match: match}
	var src parquet.ReaderAtSeeker
	if size <= wholeFileLimit {
		data, err := store.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("parquetio: read %s: %w", key, err)
		}
		src = bytes.NewReader(data)
	} else {
		r.src = &storeReaderAt{ctx: ctx, store: store, key: key, size: size}
		src = r.src
	}
	pf, err := file.NewParquetReader(src)
	if err != nil {
		if r.src != nil && r.src.err != nil {
			return nil, fmt.Errorf("parquetio: read %s: %w", key, r.src.err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidParquet, key, err)
	}
	r.pf = pf
	if err := r.plan(ctx); err != nil {
		pf.Close()
		return nil, err
	}
	return r, nil
}

func (r *DataFileReader) plan(ctx context.Context) error {
	fr, err := pqarrow.NewFileReader(r.pf, pqarrow.ArrowReadProperties{BatchSize: DefaultBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidParquet, r.key, err)
	}
	r.total = r.pf.NumRows()
	top := make([]*pqarrow.SchemaField, len(fr.Manifest.Fields))
	for i := range fr.Manifest.Fields {
		top[i] = &fr.Manifest.Fields[i]
	}
	descr := r.pf.MetaData().Schema
	leafSet := map[int]bool{}
	rootOf := map[int]int{} // manifest top-level index -> used
	r.cols = make([]readPlan, r.want.NumFields())
	for i, wf := range r.want.Fields() {
		r.cols[i] = readPlan{want: wf, source: sourceMissing}
		j := matchField(wf, top, r.match)
		if j < 0 || wf.Type.ID() == arrow.NULL {
			continue
		}
		sf := top[j]
		if sf.IsLeaf() && descr.Column(sf.ColIndex).PhysicalType() == parquet.Types.Int96 {
			if _, ok := wf.Type.(*arrow.TimestampType); ok {
				c, err := newInt96Column(r.pf, sf.ColIndex)
				if err != nil {
					return fmt.Errorf("%w: %s column %s: %v", ErrInvalidParquet, r.key, sf.Field.Name, err)
				}
				r.cols[i].source, r.cols[i].index = sourceInt96, len(r.int96)
				r.int96 = append(r.int96, c)
				continue
			}
		}
		for _, l := range neededLeaves(sf, wf.Type, r.match) {
			leafSet[l] = true
		}
		r.cols[i].source, r.cols[i].index = sourcePQ, j
		rootOf[j] = 0
	}
	if len(leafSet) == 0 {
		return nil
	}
	leaves := make([]int, 0, len(leafSet))
	for l := range leafSet {
		leaves = append(leaves, l)
	}
	sort.Ints(leaves)
	roots := make([]int, 0, len(rootOf))
	for j := range rootOf {
		roots = append(roots, j)
	}
	sort.Ints(roots)
	for k, j := range roots {
		rootOf[j] = k
	}
	for i := range r.cols {
		if r.cols[i].source == sourcePQ {
			r.cols[i].index = rootOf[r.cols[i].index]
		}
	}
	rr, err := fr.GetRecordReader(ctx, leaves, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidParquet, r.key, err)
	}
	if rr.Schema().NumFields() != len(roots) {
		rr.Release()
		return fmt.Errorf("%w: %s: reader returned %d columns for %d requested", ErrInvalidParquet, r.key, rr.Schema().NumFields(), len(roots))
	}
	r.rr = rr
	return nil
}

// fieldID returns the Parquet field id in an Arrow field's metadata, if any (pqarrow marks fields
// without one as -1).
func fieldID(f arrow.Field) (int64, bool) {
	i := f.Metadata.FindKey(delta.ArrowFieldIDKey)
	if i < 0 {
		return 0, false
	}
	id, err := strconv.ParseInt(f.Metadata.Values()[i], 10, 64)
	if err != nil || id < 0 {
		return 0, false
	}
	return id, true
}

// matchField returns the index of the candidate that matches want, or -1.
func matchField(want arrow.Field, cands []*pqarrow.SchemaField, mode MatchMode) int {
	fields := make([]arrow.Field, len(cands))
	for i, c := range cands {
		fields[i] = *c.Field
	}
	return matchArrowField(want, fields, mode)
}

func matchArrowField(want arrow.Field, cands []arrow.Field, mode MatchMode) int {
	if mode == MatchByID {
		if id, ok := fieldID(want); ok {
			for i, c := range cands {
				if cid, ok := fieldID(c); ok && cid == id {
					return i
				}
			}
			return -1
		}
	}
	for i, c := range cands {
		if c.Name == want.Name {
			return i
		}
	}
	for i, c := range cands {
		if strings.EqualFold(c.Name, want.Name) {
			return i
		}
	}
	return -1
}

// neededLeaves returns the leaf columns of sf to read for the wanted type: only the matched
// children of a wanted struct (at least one leaf, to learn which structs are null), every leaf of
// anything else.
func neededLeaves(sf *pqarrow.SchemaField, want arrow.DataType, mode MatchMode) []int {
	wst, ok := want.(*arrow.StructType)
	if !ok || sf.IsLeaf() || sf.Field.Type.ID() != arrow.STRUCT {
		return appendLeaves(nil, sf)
	}
	kids := make([]*pqarrow.SchemaField, len(sf.Children))
	for i := range sf.Children {
		kids[i] = &sf.Children[i]
	}
	var out []int
	for _, wf := range wst.Fields() {
		if j := matchField(wf, kids, mode); j >= 0 {
			out = append(out, neededLeaves(kids[j], wf.Type, mode)...)
		}
	}
	if len(out) == 0 {
		out = appendLeaves(nil, firstLeafField(sf))
	}
	return out
}

func firstLeafField(sf *pqarrow.SchemaField) *pqarrow.SchemaField {
	for !sf.IsLeaf() && len(sf.Children) > 0 {
		sf = &sf.Children[0]
	}
	return sf
}

// Schema returns the wanted schema, which every batch has.
func (r *DataFileReader) Schema() *arrow.Schema { return r.want }

// NumRows returns the number of rows in the file (from its footer).
func (r *DataFileReader) NumRows() int64 { return r.total }

// Offset returns the file row number of the first row of the batch Next last returned.
func (r *DataFileReader) Offset() int64 { return r.last }

// Next returns the next batch of at most DefaultBatchRows rows, or io.EOF after the last. The
// caller owns the batch and must Release it. ctx governs the reads Next makes; after an error the
// reader is unusable.
func (r *DataFileReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.read >= r.total {
		return nil, io.EOF
	}
	if r.src != nil {
		r.src.ctx = ctx
	}
	n := min(int64(DefaultBatchRows), r.total-r.read)
	var pq arrow.RecordBatch
	if r.rr != nil {
		rec, err := r.rr.Read()
		if err != nil && !(errors.Is(err, io.EOF) && rec != nil) {
			return nil, r.readErr(err)
		}
		if rec == nil || rec.NumRows() != n {
			got := int64(0)
			if rec != nil {
				got = rec.NumRows()
			}
			return nil, fmt.Errorf("%w: %s: expected %d rows at row %d, read %d", ErrInvalidParquet, r.key, n, r.read, got)
		}
		pq = rec
	}
	cols := make([]arrow.Array, len(r.cols))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, p := range r.cols {
		var err error
		switch p.source {
		case sourceMissing:
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, p.want.Type, int(n))
		case sourceInt96:
			cols[i], err = r.int96[p.index].next(n, p.want.Type.(*arrow.TimestampType))
			if err != nil {
				return nil, r.readErr(err)
			}
		case sourcePQ:
			src := pq.Column(p.index)
			cols[i], err = conform(src, pq.Schema().Field(p.index), p.want, r.match)
			if err != nil {
				return nil, fmt.Errorf("%s column %s: %w", r.key, p.want.Name, err)
			}
		}
	}
	out := array.NewRecordBatch(r.want, cols, n)
	r.last = r.read
	r.read += n
	return out, nil
}

func (r *DataFileReader) readErr(err error) error {
	if r.src != nil && r.src.err != nil {
		return fmt.Errorf("parquetio: read %s: %w", r.key, r.src.err)
	}
	return fmt.Errorf("%w: %s: %v", ErrInvalidParquet, r.key, err)
}

// Close releases the reader's resources. It is safe to call more than once.
func (r *DataFileReader) Close() error {
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
	if r.pf != nil {
		err := r.pf.Close()
		r.pf = nil
		return err
	}
	return nil
}

// storeReaderAt adapts storage.Store.GetRange to the io.ReaderAt and io.Seeker the Parquet reader
// needs. ctx is the context of the current DataFileReader call; err keeps the last storage error so
// that it is reported unchanged (with its sentinel) instead of as a Parquet decoding error.
type storeReaderAt struct {
	ctx   context.Context
	store storage.Store
	key   string
	size  int64
	pos   int64
	err   error
}

func (s *storeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), s.size-off)
	b, err := s.store.GetRange(s.ctx, s.key, off, want)
	if err != nil {
		s.err = err
		return 0, err
	}
	n := copy(p, b)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *storeReaderAt) Read(p []byte) (int, error) {
	n, err := s.ReadAt(p, s.pos)
	s.pos += int64(n)
	return n, err
}

func (s *storeReaderAt) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		s.pos = offset
	case io.SeekCurrent:
		s.pos += offset
	case io.SeekEnd:
		s.pos = s.size + offset
	}
	if s.pos < 0 {
		return 0, fmt.Errorf("parquetio: seek %s before start", s.key)
	}
	return s.pos, nil
}
