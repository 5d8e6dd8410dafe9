package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Parquet files are read with pqarrow one record batch at a time and each column is brought to
// its target type: nested types by walking them here (struct fields matched by name
// case-insensitively, missing nullable fields filled with nulls, list and map offsets kept),
// leaves with arrow-go's compute cast with safe options (no integer overflow, no float
// truncation to integers, no timestamp truncation). A failed cast or a null in a non-nullable
// target fails a whole batch at once; the reader then bisects the batch to find the rows at
// fault, so a batch with k bad rows costs O(k log n) extra casts, and reports or quarantines
// each of them (its raw text is the row as a JSON object) before emitting the others.

// parquetFile is an open Parquet file, decompressed to a temporary file when it was .gz/.zst.
type parquetFile struct {
	path string
	rdr  *file.Reader
	tmp  string
}

func openParquet(path string) (*parquetFile, error) {
	pf := &parquetFile{path: path}
	name := path
	if _, comp := splitCompression(path); comp != compressNone {
		tmp, err := decompressToTemp(path)
		if err != nil {
			return nil, err
		}
		pf.tmp, name = tmp, tmp
	}
	f, err := os.Open(name)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("ingest: %w", err)
	}
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled = true
	rdr, err := file.NewParquetReader(f, file.WithReadProps(props))
	if err != nil {
		f.Close()
		pf.Close()
		return nil, fmt.Errorf("ingest: %s: not a readable Parquet file: %w", path, err)
	}
	pf.rdr = rdr
	return pf, nil
}

// decompressToTemp streams a compressed file into a temporary file, since Parquet needs
// random access; it returns the temporary file's path.
func decompressToTemp(path string) (string, error) {
	raw, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("ingest: %w", err)
	}
	in := &inputFile{closers: []func() error{raw.Close}}
	defer in.Close()
	r, err := decompress(path, raw, in)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp("", "strata-ingest-*.parquet")
	if err != nil {
		return "", fmt.Errorf("ingest: %w", err)
	}
	_, err = io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("ingest: decompressing %s: %w", path, err)
	}
	return tmp.Name(), nil
}

func (p *parquetFile) arrowReader(o Options) (*pqarrow.FileReader, error) {
	fr, err := pqarrow.NewFileReader(p.rdr, pqarrow.ArrowReadProperties{BatchSize: int64(o.BatchRows)}, o.Allocator)
	if err != nil {
		return nil, fmt.Errorf("ingest: %s: %w", p.path, err)
	}
	return fr, nil
}

func (p *parquetFile) arrowSchema(o Options) (*arrow.Schema, error) {
	fr, err := p.arrowReader(o)
	if err != nil {
		return nil, err
	}
	sc, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("ingest: %s: %w", p.path, err)
	}
	return sc, nil
}

func (p *parquetFile) Close() error {
	var err error
	if p.rdr != nil {
		err = p.rdr.Close()
		p.rdr = nil
	}
	if p.tmp != "" {
		os.Remove(p.tmp)
		p.tmp = ""
	}
	return err
}

// parquetReader reads a Parquet file in a target schema.
type parquetReader struct {
	file   string
	target *arrow.Schema
	opts   Options
	pf     *parquetFile
	rr     pqarrow.RecordReader
	src    *arrow.Schema
	srcCol []int // target column -> file column, -1 when absent
	row    int64
	stats  Stats
	err    error
}

func openParquetReader(ctx context.Context, path string, target *arrow.Schema, o Options) (*parquetReader, error) {
	pf, err := openParquet(path)
	if err != nil {
		return nil, err
	}
	r := &parquetReader{file: path, target: target, opts: o, pf: pf}
	if err := r.plan(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// plan matches file columns to target columns and checks every conversion is possible.
func (r *parquetReader) plan(ctx context.Context) error {
	fr, err := r.pf.arrowReader(r.opts)
	if err != nil {
		return err
	}
	src, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("ingest: %s: %w", r.file, err)
	}
	r.src = src
	r.srcCol = make([]int, r.target.NumFields())
	for i := range r.srcCol {
		r.srcCol[i] = -1
	}
	for i, f := range src.Fields() {
		t, ok := matchColumn(r.target, f.Name)
		if !ok {
			return fmt.Errorf("%w: %s: column %q is not in the target schema", ErrSchemaMismatch, r.file, f.Name)
		}
		if r.srcCol[t] >= 0 {
			return fmt.Errorf("%w: %s: columns %q and %q both match target column %q", ErrSchemaMismatch,
				r.file, src.Field(r.srcCol[t]).Name, f.Name, r.target.Field(t).Name)
		}
		r.srcCol[t] = i
		if err := checkConvertible(f.Type, r.target.Field(t), r.target.Field(t).Name); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrSchemaMismatch, r.file, err)
		}
	}
	for t, f := range r.target.Fields() {
		if r.srcCol[t] < 0 && !f.Nullable {
			return fmt.Errorf("%w: %s: non-nullable column %q is missing", ErrSchemaMismatch, r.file, f.Name)
		}
	}
	rr, err := fr.GetRecordReader(context.WithoutCancel(ctx), nil, nil) // ctx bounds Open only
	if err != nil {
		return fmt.Errorf("ingest: %s: %w", r.file, err)
	}
	r.rr = rr
	return nil
}

// checkConvertible says whether values of src can become values of dst.
func checkConvertible(src arrow.DataType, dst arrow.Field, path string) error {
	if textToOther(src, dst.Type) {
		if _, err := newConverter(dst.Type); err != nil {
			return fmt.Errorf("column %q: %w", path, err)
		}
		return nil
	}
	switch dt := dst.Type.(type) {
	case *arrow.StructType:
		st, ok := src.(*arrow.StructType)
		if !ok {
			return fmt.Errorf("column %q is %s in the file but %s in the target", path, typeName(src), typeName(dst.Type))
		}
		seen := make([]bool, dt.NumFields())
		for _, sf := range st.Fields() {
			i := structFieldIndex(dt, sf.Name)
			if i < 0 {
				return fmt.Errorf("column %q is not in the target schema", path+"."+sf.Name)
			}
			seen[i] = true
			if err := checkConvertible(sf.Type, dt.Field(i), path+"."+dt.Field(i).Name); err != nil {
				return err
			}
		}
		for i, f := range dt.Fields() {
			if !seen[i] && !f.Nullable {
				return fmt.Errorf("non-nullable column %q is missing", path+"."+f.Name)
			}
		}
		return nil
	case *arrow.MapType:
		sm, ok := src.(*arrow.MapType)
		if !ok {
			return fmt.Errorf("column %q is %s in the file but %s in the target", path, typeName(src), typeName(dst.Type))
		}
		if err := checkConvertible(sm.KeyType(), dt.KeyField(), path+".key"); err != nil {
			return err
		}
		return checkConvertible(sm.ItemType(), dt.ItemField(), path+".value")
	case *arrow.ListType, *arrow.LargeListType:
		if !isList(src) {
			return fmt.Errorf("column %q is %s in the file but %s in the target", path, typeName(src), typeName(dst.Type))
		}
		return checkConvertible(listElem(src).Type, listElem(dst.Type), path+"[]")
	}
	if isNested(src) {
		return fmt.Errorf("column %q is %s in the file but %s in the target", path, typeName(src), typeName(dst.Type))
	}
	if !arrow.TypeEqual(src, dst.Type) && !compute.CanCast(src, dst.Type) {
		return fmt.Errorf("column %q: cannot convert %s to %s", path, typeName(src), typeName(dst.Type))
	}
	return nil
}

// structFieldIndex finds a struct field by name, exactly or else case-insensitively.
func structFieldIndex(st *arrow.StructType, name string) int {
	if i, ok := st.FieldIdx(name); ok {
		return i
	}
	for i, f := range st.Fields() {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}

func (r *parquetReader) Schema() *arrow.Schema { return r.target }
func (r *parquetReader) Stats() Stats          { return r.stats }

func (r *parquetReader) Close() error {
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

func (r *parquetReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.rr == nil {
		return nil, fmt.Errorf("ingest: %s: read after close", r.file)
	}
	ctx = compute.WithAllocator(ctx, r.opts.Allocator)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !r.rr.Next() {
			if err := r.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
				r.err = fmt.Errorf("ingest: %s: %w", r.file, err)
				return nil, r.err
			}
			r.err = io.EOF
			return nil, io.EOF
		}
		in := r.rr.RecordBatch()
		out, err := r.convertBatch(ctx, in)
		if err != nil {
			r.err = err
			return nil, err
		}
		if out != nil {
			return out, nil
		}
	}
}

// convertBatch converts one file batch, diverting its bad rows; it returns nil when every row
// was bad.
func (r *parquetReader) convertBatch(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(in.NumRows())
	first := r.row
	r.row += int64(n)
	r.stats.RowsRead += int64(n)
	if out, _, _ := r.convertRows(ctx, in, 0, n); out != nil {
		r.stats.RowsEmitted += int64(n)
		return out, nil
	}
	// Bisect to find the bad rows, in order.
	var bad []int
	var find func(lo, hi int) error
	find = func(lo, hi int) error {
		if hi-lo > 1 {
			if out, _, _ := r.convertRows(ctx, in, lo, hi); out != nil {
				out.Release()
				return nil
			}
			mid := (lo + hi) / 2
			if err := find(lo, mid); err != nil {
				return err
			}
			return find(mid, hi)
		}
		out, col, ce := r.convertRows(ctx, in, lo, hi)
		if out != nil {
			out.Release()
			return nil
		}
		bad = append(bad, lo)
		e := r.rowError(in, lo, first+int64(lo), col, ce)
		if r.opts.Quarantine == nil {
			return e
		}
		if err := r.opts.Quarantine.Write(ctx, rejectedFrom(e, rowJSON(in, lo))); err != nil {
			return fmt.Errorf("ingest: %s: quarantining row %d: %w", r.file, e.Row, err)
		}
		r.stats.RowsQuarantined++
		return nil
	}
	if err := find(0, n); err != nil {
		return nil, err
	}
	if len(bad) == n {
		return nil, nil
	}
	mb := array.NewBooleanBuilder(r.opts.Allocator)
	defer mb.Release()
	next := 0
	for i := 0; i < n; i++ {
		isBad := next < len(bad) && bad[next] == i
		if isBad {
			next++
		}
		mb.Append(!isBad)
	}
	mask := mb.NewArray()
	defer mask.Release()
	good, err := compute.FilterRecordBatch(ctx, in, mask, compute.DefaultFilterOptions())
	if err != nil {
		return nil, fmt.Errorf("ingest: %s: %w", r.file, err)
	}
	defer good.Release()
	out, col, ce := r.convertRows(ctx, good, 0, int(good.NumRows()))
	if out == nil {
		return nil, fmt.Errorf("ingest: %s: converting column %d after removing bad rows: %v", r.file, col+1, ce)
	}
	r.stats.RowsEmitted += good.NumRows()
	return out, nil
}

// rowError describes bad row i of batch in.
func (r *parquetReader) rowError(in arrow.RecordBatch, i int, row int64, col int, ce *convError) *RecordError {
	name := r.target.Field(col).Name
	e := recordError(r.file, 0, row, col+1, name, ce)
	if e.Value == "" && ce.kind != KindNull {
		if s := r.srcCol[col]; s >= 0 {
			e.Value = truncate(in.Column(s).ValueStr(i))
		}
	}
	return e
}

// convertRows converts rows [lo, hi) of a file batch to the target schema. On failure it
// returns a nil batch, the target column at fault and why.
func (r *parquetReader) convertRows(ctx context.Context, in arrow.RecordBatch, lo, hi int) (arrow.RecordBatch, int, *convError) {
	cols := make([]arrow.Array, r.target.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for t, f := range r.target.Fields() {
		s := r.srcCol[t]
		if s < 0 {
			cols[t] = array.MakeArrayOfNull(r.opts.Allocator, f.Type, hi-lo)
			continue
		}
		sl := array.NewSlice(in.Column(s), int64(lo), int64(hi))
		out, ce := convertArray(ctx, r.opts.Allocator, sl, f)
		sl.Release()
		if ce == nil && !f.Nullable && out.NullN() > 0 {
			out.Release()
			ce = errNull(typeName(f.Type))
		}
		if ce != nil {
			return nil, t, ce
		}
		cols[t] = out
	}
	return array.NewRecordBatch(r.target, cols, int64(hi-lo)), -1, nil
}

// convertArray converts an array to a target field's type (its own nullability is the
// caller's to check; that of nested fields is checked here).
func convertArray(ctx context.Context, mem memory.Allocator, arr arrow.Array, dst arrow.Field) (arrow.Array, *convError) {
	switch dt := dst.Type.(type) {
	case *arrow.StructType:
		if textToOther(arr.DataType(), dt) {
			return parseTextArray(mem, arr, dst)
		}
		src := arr.(*array.Struct)
		st := src.DataType().(*arrow.StructType)
		children := make([]arrow.ArrayData, dt.NumFields())
		defer func() {
			for _, c := range children {
				if c != nil {
					c.Release()
				}
			}
		}()
		for i, df := range dt.Fields() {
			var child arrow.Array
			if si := structFieldIndex(st, df.Name); si < 0 {
				child = array.MakeArrayOfNull(mem, df.Type, arr.Len())
			} else {
				c, ce := convertArray(ctx, mem, src.Field(si), df)
				if ce != nil {
					return nil, ce.within(df.Name)
				}
				child = c
			}
			if !df.Nullable && nullUnderValid(child, arr) {
				child.Release()
				return nil, errNull(typeName(df.Type)).within(df.Name)
			}
			children[i] = child.Data()
			children[i].Retain()
			child.Release()
		}
		data := array.NewData(dt, arr.Len(), []*memory.Buffer{copyValidity(arr)}, children, arr.NullN(), 0)
		defer data.Release()
		return array.MakeFromData(data), nil
	case *arrow.ListType, *arrow.LargeListType, *arrow.MapType:
		if textToOther(arr.DataType(), dt) {
			return parseTextArray(mem, arr, dst)
		}
		ll := arr.(array.ListLike)
		n := arr.Len()
		var lo, hi int64
		if n > 0 {
			lo, _ = ll.ValueOffsets(0)
			_, hi = ll.ValueOffsets(n - 1)
		}
		var elem arrow.Field
		if mt, ok := dt.(*arrow.MapType); ok {
			elem = mt.ElemField()
		} else {
			elem = listElem(dt)
		}
		values := array.NewSlice(ll.ListValues(), lo, hi)
		conv, ce := convertArray(ctx, mem, values, elem)
		values.Release()
		if ce != nil {
			return nil, ce.within("[]")
		}
		defer conv.Release()
		if !elem.Nullable && conv.NullN() > 0 {
			for j := 0; j < conv.Len(); j++ {
				if conv.IsNull(j) {
					return nil, errNull(typeName(elem.Type)).within("[" + strconv.Itoa(j) + "]")
				}
			}
		}
		var offsets *memory.Buffer
		if dt.ID() == arrow.LARGE_LIST {
			o := make([]int64, n+1)
			for i := 0; i < n; i++ {
				s, _ := ll.ValueOffsets(i)
				o[i] = s - lo
			}
			o[n] = hi - lo
			offsets = memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(o))
		} else {
			o := make([]int32, n+1)
			for i := 0; i < n; i++ {
				s, _ := ll.ValueOffsets(i)
				o[i] = int32(s - lo)
			}
			o[n] = int32(hi - lo)
			offsets = memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(o))
		}
		data := array.NewData(dt, n, []*memory.Buffer{copyValidity(arr), offsets}, []arrow.ArrayData{conv.Data()}, arr.NullN(), 0)
		defer data.Release()
		return array.MakeFromData(data), nil
	}
	if arrow.TypeEqual(arr.DataType(), dst.Type) {
		arr.Retain()
		return arr, nil
	}
	if textToOther(arr.DataType(), dst.Type) {
		return parseTextArray(mem, arr, dst)
	}
	out, err := compute.CastArray(ctx, arr, compute.SafeCastOptions(dst.Type))
	if err != nil {
		ce := &convError{kind: KindCast, expected: typeName(dst.Type),
			reason: fmt.Sprintf("cannot convert %s to %s: %v", typeName(arr.DataType()), typeName(dst.Type), err)}
		if arr.Len() == 1 {
			ce.value = arr.ValueStr(0)
			ce.reason = fmt.Sprintf("cannot convert %s %s to %s: %v", typeName(arr.DataType()),
				quoteIfNeeded(truncate(ce.value)), typeName(dst.Type), err)
		}
		return nil, ce
	}
	return out, nil
}

// nullUnderValid reports a null child value whose parent struct value is not null.
func nullUnderValid(child, parent arrow.Array) bool {
	if child.NullN() == 0 {
		return false
	}
	for i := 0; i < child.Len(); i++ {
		if child.IsNull(i) && parent.IsValid(i) {
			return true
		}
	}
	return false
}

// copyValidity returns arr's validity bitmap realigned to offset 0, or nil without nulls.
func copyValidity(arr arrow.Array) *memory.Buffer {
	if arr.NullN() == 0 {
		return nil
	}
	n := arr.Len()
	out := make([]byte, bitutil.BytesForBits(int64(n)))
	bitutil.CopyBitmap(arr.NullBitmapBytes(), arr.Data().Offset(), n, out, 0)
	return memory.NewBufferBytes(out)
}

// rowJSON renders row i of a file batch as a JSON object, for the quarantine.
func rowJSON(in arrow.RecordBatch, i int) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for c := 0; c < int(in.NumCols()); c++ {
		if c > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(in.ColumnName(c))
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(in.Column(c).GetOneForMarshal(i))
		if err != nil {
			v, _ = json.Marshal(in.Column(c).ValueStr(i))
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// textToOther reports a string column going into a non-string type. Such values are parsed with
// the CSV rules (convert.go) rather than Arrow's string casts, so that a text value means the
// same whichever format carried it (and string to decimal, which Arrow cannot cast, works).
func textToOther(src, dst arrow.DataType) bool {
	return (src.ID() == arrow.STRING || src.ID() == arrow.LARGE_STRING) && !isString(dst)
}

// parseTextArray converts a string array with the text converters.
func parseTextArray(mem memory.Allocator, arr arrow.Array, dst arrow.Field) (arrow.Array, *convError) {
	conv, err := newConverter(dst.Type)
	if err != nil {
		return nil, &convError{kind: KindCast, expected: typeName(dst.Type), reason: err.Error()}
	}
	text := arr.(interface{ Value(int) string })
	b := array.NewBuilder(mem, dst.Type)
	defer b.Release()
	var c cell
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		s := text.Value(i)
		if ce := conv.text(s, &c); ce != nil {
			if ce.value == "" {
				ce.value = s
			}
			return nil, ce
		}
		conv.put(b, &c)
	}
	return b.NewArray(), nil
}
