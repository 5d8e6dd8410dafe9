package parquetio

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
)

// Defaults of WriteOptions.
const (
	// DefaultTargetFileSize is the size at which a data file is closed and a new one started.
	DefaultTargetFileSize = 128 << 20
	// DefaultNumIndexedCols is delta.dataSkippingNumIndexedCols' default.
	DefaultNumIndexedCols = 32
	// NoIndexedCols in WriteOptions.NumIndexedCols collects no per-column statistics (the table
	// property value "0"; the zero value of the field means the default).
	NoIndexedCols = -2
	// rowGroupBytes and rowGroupRows bound a row group, so that readers can stream a large file.
	rowGroupBytes = 64 << 20
	rowGroupRows  = 1 << 20
)

// WriteOptions says how WriteDataFiles lays out and describes the files of one write.
type WriteOptions struct {
	// Schema is the table's logical schema; it may carry column-mapping metadata, in which case
	// files use physical names and Parquet field ids. Required.
	Schema *delta.StructType
	// PartitionColumns are the logical names of the partition columns, in table order.
	PartitionColumns []string
	// TargetFileSize: a file is closed once its (estimated) size reaches it. 0 means
	// DefaultTargetFileSize. Files can end up somewhat larger (a batch is not split to hit the
	// target exactly).
	TargetFileSize int64
	// Codec is the compression codec: "zstd" (the default, also for ""), "snappy", "gzip",
	// "uncompressed" ("none"), "lz4_raw" or "brotli". Pass the table property
	// delta.parquet.compression.codec here.
	Codec string
	// NumIndexedCols is delta.dataSkippingNumIndexedCols: statistics are collected for the first
	// N leaf columns of the data schema (partition columns excluded), counting each struct field
	// as its leaves and each array or map as one, as Spark does. 0 means DefaultNumIndexedCols,
	// -1 all columns, NoIndexedCols none.
	NumIndexedCols int
	// StatsColumns is delta.dataSkippingStatsColumns, already split: logical column names, nested
	// fields as dotted paths ("a.b"; backquotes allowed); a struct names all its leaves. When
	// non-empty it overrides NumIndexedCols.
	StatsColumns []string
	// Prefix is prepended to every object key written (the table root's key prefix inside the
	// store, usually ""). DataFile.Key does not include it.
	Prefix string
}

// DataFile describes one data file WriteDataFiles wrote: everything an add action needs.
type DataFile struct {
	// Key is the file's path relative to the table root, not percent-encoded
	// ("a=1/part-00000-<uuid>-c000.zstd.parquet").
	Key string
	// Size in bytes.
	Size int64
	// ModificationTime is the time the file was written, in milliseconds since the epoch.
	ModificationTime int64
	// PartitionValues maps each partition column's physical name to its serialized value ("" for
	// null).
	PartitionValues delta.PartitionValues
	// Stats is the statistics JSON for the add action's stats field.
	Stats string
	// NumRecords is the number of rows in the file.
	NumRecords int64
}

// Add returns the add action for the file (path percent-encoded as the log wants it).
func (f DataFile) Add(dataChange bool) *delta.Add {
	return &delta.Add{
		Path:             delta.EncodePath(f.Key),
		PartitionValues:  f.PartitionValues,
		Size:             f.Size,
		ModificationTime: f.ModificationTime,
		DataChange:       dataChange,
		Stats:            f.Stats,
	}
}

// ApplyTableProperties sets Codec, NumIndexedCols, StatsColumns and TargetFileSize from a table's
// configuration (delta.parquet.compression.codec, delta.dataSkippingNumIndexedCols,
// delta.dataSkippingStatsColumns, delta.targetFileSize), leaving fields whose property is absent
// as they are.
func (o *WriteOptions) ApplyTableProperties(conf map[string]string) error {
	if v, ok := conf["delta.parquet.compression.codec"]; ok {
		o.Codec = v
	}
	if v, ok := conf["delta.dataSkippingNumIndexedCols"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < -1 {
			return fmt.Errorf("%w: delta.dataSkippingNumIndexedCols=%q", delta.ErrInvalidArgument, v)
		}
		if n == 0 {
			n = NoIndexedCols
		}
		o.NumIndexedCols = n
	}
	if v, ok := conf["delta.dataSkippingStatsColumns"]; ok {
		o.StatsColumns = nil
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				o.StatsColumns = append(o.StatsColumns, c)
			}
		}
	}
	if v, ok := conf["delta.targetFileSize"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%w: delta.targetFileSize=%q", delta.ErrInvalidArgument, v)
		}
		o.TargetFileSize = n
	}
	return nil
}

// WriteDataFiles writes the rows of input as Delta data files and returns their descriptions in
// the order the files were completed. input yields record batches in the table's logical Arrow
// schema (delta.ToArrowSchema(opts.Schema); column names may differ in case, list and map field
// names and metadata are ignored, timestamps must be microseconds); WriteDataFiles does not
// release it.
//
// Rows are split by partition values (partition columns are not stored in the files), each
// partition's rows go to files under delta.PartitionDir named like Spark's
// "part-00000-<uuid>-c000.zstd.parquet", and a file is closed when it reaches
// opts.TargetFileSize. Every file is published with one store.Put, so it is never partially
// visible. On error the returned slice lists the files already published: they are complete but
// unreferenced, and the caller may delete them (VACUUM would remove them too).
// Statistics are computed from the Arrow data (see collectStats). Non-nullable columns holding a
// null are rejected with delta.ErrSchemaMismatch. No rows means no files.
//
// All partitions seen so far keep an open file in memory (up to TargetFileSize each) until the
// input ends: writing many partitions at once costs memory accordingly. The context is checked
// between batches; cancellation returns ctx.Err() after the files already published.
func WriteDataFiles(ctx context.Context, store storage.Store, input array.RecordReader, opts WriteOptions) ([]DataFile, error) {
	w, err := newDataWriter(store, input.Schema(), opts)
	if err != nil {
		return nil, err
	}
	defer w.abort()
	for input.Next() {
		if err := ctx.Err(); err != nil {
			return w.done, err
		}
		if err := w.write(ctx, input.RecordBatch()); err != nil {
			return w.done, err
		}
	}
	if err := input.Err(); err != nil {
		return w.done, fmt.Errorf("parquetio: reading input: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return w.done, err
	}
	for _, key := range w.order {
		if f := w.open[key]; f != nil {
			if err := w.finish(ctx, key, f); err != nil {
				return w.done, err
			}
		}
	}
	return w.done, nil
}

// dataWriter is the state of one WriteDataFiles call. Not safe for concurrent use.
type dataWriter struct {
	store    storage.Store
	opts     WriteOptions
	codec    codec
	target   int64
	logical  *arrow.Schema
	physical *arrow.Schema // data columns only, physical names and field ids
	dataCols []int         // input column index of each physical column
	partCols []int         // input column index of each partition column
	partPhys []string      // physical names of the partition columns
	partType []delta.DataType
	stats    []statLeaf
	props    *parquet.WriterProperties
	arrProps pqarrow.ArrowWriterProperties

	open  map[string]*openFile // partition key -> current file
	order []string             // partition keys in first-seen order
	part  int                  // next part number
	done  []DataFile

	// cmpBytes and arrowBytes total the compressed sizes and Arrow sizes of the row groups flushed
	// so far; their ratio predicts the size of open row groups.
	cmpBytes, arrowBytes int64
}

type openFile struct {
	pv      delta.PartitionValues
	dir     string
	buf     *bytes.Buffer
	fw      *pqarrow.FileWriter
	acc     *statsAcc
	rows    int64
	rgRows  int64 // rows in the open row group
	rgArrow int64 // Arrow bytes written to the open row group
}

func newDataWriter(store storage.Store, inSchema *arrow.Schema, opts WriteOptions) (*dataWriter, error) {
	if opts.Schema == nil {
		return nil, fmt.Errorf("%w: WriteOptions.Schema is required", delta.ErrInvalidArgument)
	}
	c, err := parseCodec(opts.Codec)
	if err != nil {
		return nil, err
	}
	w := &dataWriter{store: store, opts: opts, codec: c, target: opts.TargetFileSize, open: map[string]*openFile{}}
	if w.target <= 0 {
		w.target = DefaultTargetFileSize
	}
	w.logical = delta.ToArrowSchema(opts.Schema)
	if err := checkInputSchema(inSchema, w.logical); err != nil {
		return nil, err
	}
	phys := delta.PhysicalArrowSchema(opts.Schema)
	isPart := make([]bool, len(opts.Schema.Fields))
	for _, pc := range opts.PartitionColumns {
		i := opts.Schema.FieldIndex(pc)
		if i < 0 {
			return nil, fmt.Errorf("%w: partition column %q is not in the schema", delta.ErrInvalidArgument, pc)
		}
		f := opts.Schema.Fields[i]
		switch f.Type.(type) {
		case *delta.PrimitiveType, *delta.DecimalType:
		default:
			return nil, fmt.Errorf("%w: partition column %q has type %s", delta.ErrInvalidArgument, pc, f.Type)
		}
		isPart[i] = true
		w.partCols = append(w.partCols, i)
		w.partPhys = append(w.partPhys, f.PhysicalName())
		w.partType = append(w.partType, f.Type)
	}
	var fields []arrow.Field
	var dataFields []*delta.StructField
	for i, f := range opts.Schema.Fields {
		if isPart[i] || f.Type == delta.TypeVoid {
			continue // void columns are not stored in Parquet files
		}
		w.dataCols = append(w.dataCols, i)
		fields = append(fields, phys.Field(i))
		dataFields = append(dataFields, f)
	}
	w.physical = arrow.NewSchema(fields, nil)
	w.stats, err = planStats(dataFields, opts.NumIndexedCols, opts.StatsColumns)
	if err != nil {
		return nil, err
	}
	w.props = writerProps(c, w.physical, parquet.WithMaxRowGroupLength(rowGroupRows))
	w.arrProps = pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(memory.DefaultAllocator))
	return w, nil
}

// abort releases the writers of files never finished (after an error).
func (w *dataWriter) abort() {
	for k, f := range w.open {
		if f != nil {
			f.fw.Close()
		}
		delete(w.open, k)
	}
}

func (w *dataWriter) write(ctx context.Context, rec arrow.RecordBatch) error {
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	for i, f := range w.logical.Fields() {
		if err := checkNulls(rec.Column(i), f.Nullable, f.Name, nil); err != nil {
			return err
		}
	}
	data := w.physicalBatch(rec)
	defer data.Release()
	if len(w.partCols) == 0 {
		return w.append(ctx, "", nil, data)
	}
	keys, values, err := w.partitionKeys(rec)
	if err != nil {
		return err
	}
	groups := map[string][]int64{}
	var seen []string
	for i, k := range keys {
		if _, ok := groups[k]; !ok {
			seen = append(seen, k)
		}
		groups[k] = append(groups[k], int64(i))
	}
	for _, k := range seen {
		rows := groups[k]
		pv := delta.PartitionValues{}
		for c, name := range w.partPhys {
			pv[name] = values[c][rows[0]]
		}
		if len(seen) == 1 {
			if err := w.append(ctx, k, pv, data); err != nil {
				return err
			}
			continue
		}
		sub, err := takeRows(ctx, data, rows)
		if err != nil {
			return err
		}
		err = w.append(ctx, k, pv, sub)
		sub.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// physicalBatch projects the data columns of a logical batch and relabels them with the physical
// schema (names of nested fields included); the buffers are shared.
func (w *dataWriter) physicalBatch(rec arrow.RecordBatch) arrow.RecordBatch {
	cols := make([]arrow.Array, len(w.dataCols))
	for j, i := range w.dataCols {
		d := retype(rec.Column(i).Data(), w.physical.Field(j).Type)
		cols[j] = array.MakeFromData(d)
		d.Release()
	}
	out := array.NewRecordBatch(w.physical, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

// retype returns data with its type (and its children's types) replaced by t, which must have the
// same physical layout.
func retype(d arrow.ArrayData, t arrow.DataType) arrow.ArrayData {
	children := d.Children()
	var newChildren []arrow.ArrayData
	if len(children) > 0 {
		newChildren = make([]arrow.ArrayData, len(children))
		for i, c := range children {
			var ct arrow.DataType
			switch t := t.(type) {
			case *arrow.StructType:
				ct = t.Field(i).Type
			case *arrow.ListType:
				ct = t.Elem()
			case *arrow.MapType:
				ct = t.Elem() // the entries struct
			default:
				ct = c.DataType()
			}
			newChildren[i] = retype(c, ct)
		}
	}
	out := array.NewData(t, d.Len(), d.Buffers(), newChildren, d.NullN(), d.Offset())
	for _, c := range newChildren {
		c.Release()
	}
	return out
}

func takeRows(ctx context.Context, rec arrow.RecordBatch, rows []int64) (arrow.RecordBatch, error) {
	idx := array.NewInt64Builder(memory.DefaultAllocator)
	idx.AppendValues(rows, nil)
	indices := idx.NewArray()
	idx.Release()
	defer indices.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		c, err := compute.TakeArray(ctx, rec.Column(i), indices)
		if err != nil {
			return nil, fmt.Errorf("parquetio: split batch by partition: %w", err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(rows))), nil
}

// partitionKeys returns, per row, a key identifying its partition and, per partition column, the
// row's serialized partition value.
func (w *dataWriter) partitionKeys(rec arrow.RecordBatch) ([]string, [][]string, error) {
	n := int(rec.NumRows())
	values := make([][]string, len(w.partCols))
	for c, i := range w.partCols {
		v, err := partitionStrings(rec.Column(i))
		if err != nil {
			return nil, nil, fmt.Errorf("partition column %q: %w", w.logical.Field(i).Name, err)
		}
		values[c] = v
	}
	keys := make([]string, n)
	if len(values) == 1 {
		copy(keys, values[0])
		return keys, values, nil
	}
	var b strings.Builder
	for r := 0; r < n; r++ {
		b.Reset()
		for c := range values {
			if values[c][r] == "" {
				b.WriteByte(0) // null
			} else {
				b.WriteByte(1)
				b.WriteString(values[c][r])
			}
			b.WriteByte(0xff)
		}
		keys[r] = b.String()
	}
	return keys, values, nil
}

// partitionStrings serializes every row of a partition column as delta.FormatPartitionValue does
// ("" for null), formatting each distinct value once.
func partitionStrings(arr arrow.Array) ([]string, error) {
	n := arr.Len()
	out := make([]string, n)
	if s, ok := arr.(*array.String); ok {
		memo := map[string]string{}
		for i := 0; i < n; i++ {
			if s.IsNull(i) {
				continue
			}
			v := s.Value(i)
			c, ok := memo[v]
			if !ok {
				c = strings.Clone(v)
				memo[c] = c
			}
			out[i] = c
		}
		return out, nil
	}
	memo := map[any]string{}
	for i := 0; i < n; i++ {
		if arr.IsNull(i) {
			continue
		}
		var key any
		switch a := arr.(type) {
		case *array.Int8:
			key = a.Value(i)
		case *array.Int16:
			key = a.Value(i)
		case *array.Int32:
			key = a.Value(i)
		case *array.Int64:
			key = a.Value(i)
		case *array.Date32:
			key = a.Value(i)
		case *array.Timestamp:
			key = a.Value(i)
		case *array.Boolean:
			key = a.Value(i)
		case *array.Float32:
			key = a.Value(i)
		case *array.Float64:
			key = a.Value(i)
		case *array.Decimal128:
			key = a.Value(i)
		}
		if key != nil {
			if s, ok := memo[key]; ok {
				out[i] = s
				continue
			}
		}
		sc, err := scalar.GetScalar(arr, i)
		if err != nil {
			return nil, err
		}
		s, err := delta.FormatPartitionValue(sc)
		if err != nil {
			return nil, err
		}
		out[i] = s
		if key != nil {
			memo[key] = s
		}
	}
	return out, nil
}

// append writes rec (physical data columns) to the current file of partition key, opening and
// rolling files as needed.
//
// Sizing: pqarrow does not expose the bytes a buffered row group holds, so the writer measures the
// compressed bytes per Arrow byte of each row group it flushes (w.ratio) and estimates a file as
// its flushed bytes plus the Arrow bytes of its open row group times that ratio. Until the first
// row group of the write is flushed the ratio is unknown, so that row group is kept small (an
// eighth of the target) to calibrate it. A new row group is only started right before a write, so
// no file ends with an empty row group.
func (w *dataWriter) append(ctx context.Context, key string, pv delta.PartitionValues, rec arrow.RecordBatch) error {
	perRow := float64(arrowBytes(rec)) / float64(rec.NumRows()) // Arrow bytes per row
	rec.Retain()
	defer func() { rec.Release() }()
	for rec.NumRows() > 0 {
		f := w.open[key]
		if f == nil {
			var err error
			if f, err = w.newFile(pv); err != nil {
				return err
			}
			if _, seen := w.open[key]; !seen {
				w.order = append(w.order, key)
			}
			w.open[key] = f
		}
		// How many rows fit before the file reaches the target (all of them while the
		// compression ratio is unknown)?
		n := rec.NumRows()
		if w.arrowBytes > 0 {
			ratio := float64(w.cmpBytes) / float64(w.arrowBytes)
			room := float64(w.target) - float64(f.buf.Len()) - float64(f.rgArrow)*ratio
			fit := int64(room / max(perRow*ratio, 1e-9))
			if fit <= 0 && f.rows > 0 {
				if err := w.finish(ctx, key, f); err != nil {
					return err
				}
				continue
			}
			n = min(n, max(fit, 1))
		}
		chunk := rec
		if n < rec.NumRows() {
			chunk = rec.NewSlice(0, n)
		} else {
			chunk.Retain()
		}
		err := w.writeChunk(f, chunk, int64(float64(n)*perRow))
		chunk.Release()
		if err != nil {
			return err
		}
		rest := rec.NewSlice(n, rec.NumRows())
		rec.Release()
		rec = rest
		if n > 0 && rec.NumRows() > 0 {
			// The file is full: the rest goes to a new one.
			if err := w.finish(ctx, key, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeChunk appends rows to f, flushing the open row group first when it is full.
func (w *dataWriter) writeChunk(f *openFile, rec arrow.RecordBatch, arrowSize int64) error {
	if f.rgRows > 0 && (f.rgArrow >= w.rowGroupLimit() || f.rgRows+rec.NumRows() > rowGroupRows) {
		before := int64(f.buf.Len())
		if err := f.fw.NewBufferedRowGroupChecked(); err != nil {
			return fmt.Errorf("parquetio: new row group: %w", err)
		}
		w.cmpBytes += int64(f.buf.Len()) - before
		w.arrowBytes += f.rgArrow
		f.rgRows, f.rgArrow = 0, 0
	}
	if err := f.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("parquetio: write %s: %w", f.dir, err)
	}
	f.rgRows += rec.NumRows()
	f.rgArrow += arrowSize
	f.rows += rec.NumRows()
	f.acc.update(rec)
	return nil
}

// rowGroupLimit is the Arrow size at which the open row group is flushed.
func (w *dataWriter) rowGroupLimit() int64 {
	limit := min(w.target, rowGroupBytes)
	if w.arrowBytes == 0 {
		limit = max(limit/8, 1)
	}
	return limit
}

// arrowBytes is the size of a batch's Arrow buffers.
func arrowBytes(rec arrow.RecordBatch) int64 {
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

func (w *dataWriter) newFile(pv delta.PartitionValues) (*openFile, error) {
	f := &openFile{pv: pv, dir: delta.PartitionDir(w.partPhys, pv), buf: new(bytes.Buffer)}
	fw, err := pqarrow.NewFileWriter(w.physical, f.buf, w.props, w.arrProps)
	if err != nil {
		return nil, fmt.Errorf("%w: parquet schema for %s: %v", delta.ErrInvalidArgument, w.opts.Schema, err)
	}
	f.fw = fw
	f.acc = newStatsAcc(w.stats)
	return f, nil
}

// finish closes the file of partition key, publishes it and records its DataFile.
func (w *dataWriter) finish(ctx context.Context, key string, f *openFile) error {
	w.open[key] = nil
	if err := f.fw.Close(); err != nil {
		return fmt.Errorf("parquetio: close %s: %w", f.dir, err)
	}
	name := fmt.Sprintf("part-%05d-%s-c000", w.part, uuid.NewString())
	if w.codec.ext != "" {
		name += "." + w.codec.ext
	}
	name += ".parquet"
	w.part++
	rel := f.dir + name
	stats, err := f.acc.json(f.rows)
	if err != nil {
		return fmt.Errorf("parquetio: statistics of %s: %w", rel, err)
	}
	data := f.buf.Bytes()
	if err := w.store.Put(ctx, w.opts.Prefix+rel, data); err != nil {
		return fmt.Errorf("parquetio: write data file %s: %w", rel, err)
	}
	pv := delta.PartitionValues{}
	for k, v := range f.pv {
		pv[k] = v
	}
	w.done = append(w.done, DataFile{
		Key:              rel,
		Size:             int64(len(data)),
		ModificationTime: time.Now().UnixMilli(),
		PartitionValues:  pv,
		Stats:            stats,
		NumRecords:       f.rows,
	})
	return nil
}

// checkInputSchema verifies that the input's columns match the logical schema: same count and
// order, names equal ignoring case, types equal ignoring field metadata, nullability and the names
// of list/map fields, with any non-empty time zone standing for "UTC".
func checkInputSchema(got, want *arrow.Schema) error {
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("%w: input has %d columns, the table %d (input %s, table %s)",
			delta.ErrSchemaMismatch, got.NumFields(), want.NumFields(), got, want)
	}
	for i := range want.Fields() {
		g, w := got.Field(i), want.Field(i)
		if !strings.EqualFold(g.Name, w.Name) {
			return fmt.Errorf("%w: input column %d is %q, the table's is %q", delta.ErrSchemaMismatch, i, g.Name, w.Name)
		}
		if !SameLayout(g.Type, w.Type) {
			return fmt.Errorf("%w: column %q: input type %s, table type %s", delta.ErrSchemaMismatch, w.Name, g.Type, w.Type)
		}
	}
	return nil
}

// SameLayout reports whether data of type a can be written as type b without conversion: the
// same type up to field names of lists and maps, the case of struct field names, and any time
// zone standing for UTC.
func SameLayout(a, b arrow.DataType) bool {
	if a.ID() != b.ID() {
		return false
	}
	switch a := a.(type) {
	case *arrow.TimestampType:
		b := b.(*arrow.TimestampType)
		return a.Unit == b.Unit && (a.TimeZone == "") == (b.TimeZone == "")
	case *arrow.Decimal128Type:
		b := b.(*arrow.Decimal128Type)
		return a.Precision == b.Precision && a.Scale == b.Scale
	case *arrow.StructType:
		b := b.(*arrow.StructType)
		if a.NumFields() != b.NumFields() {
			return false
		}
		for i := range a.Fields() {
			if !strings.EqualFold(a.Field(i).Name, b.Field(i).Name) || !SameLayout(a.Field(i).Type, b.Field(i).Type) {
				return false
			}
		}
		return true
	case *arrow.ListType:
		return SameLayout(a.Elem(), b.(*arrow.ListType).Elem())
	case *arrow.MapType:
		b := b.(*arrow.MapType)
		return SameLayout(a.KeyType(), b.KeyType()) && SameLayout(a.ItemType(), b.ItemType())
	}
	return arrow.TypeEqual(a, b)
}

// checkNulls rejects nulls in a non-nullable column, at any depth. valid, when not nil, marks the
// rows whose enclosing values are present (a null struct may have null non-nullable children).
func checkNulls(arr arrow.Array, nullable bool, path string, valid []bool) error {
	n := arr.Len()
	if !nullable && arr.NullN() > 0 {
		for i := 0; i < n; i++ {
			if arr.IsNull(i) && (valid == nil || valid[i]) {
				return fmt.Errorf("%w: column %s is not nullable but row %d is null", delta.ErrSchemaMismatch, path, i)
			}
		}
	}
	present := func() []bool {
		if arr.NullN() == 0 {
			return valid
		}
		p := make([]bool, n)
		for i := range p {
			p[i] = arr.IsValid(i) && (valid == nil || valid[i])
		}
		return p
	}
	switch a := arr.(type) {
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		var p []bool
		for i := 0; i < a.NumField(); i++ {
			f := st.Field(i)
			if f.Nullable && !hasNonNullable(f.Type) {
				continue
			}
			if p == nil {
				p = present()
			}
			if err := checkNulls(a.Field(i), f.Nullable, path+"."+f.Name, p); err != nil {
				return err
			}
		}
	case *array.List:
		ef := a.DataType().(*arrow.ListType).ElemField()
		if ef.Nullable && !hasNonNullable(ef.Type) {
			return nil
		}
		return checkNulls(a.ListValues(), ef.Nullable, path+".element", elementPresence(a, present()))
	case *array.Map:
		mt := a.DataType().(*arrow.MapType)
		ep := elementPresence(a, present())
		if err := checkNulls(a.Keys(), false, path+".key", ep); err != nil {
			return err
		}
		if vf := mt.ItemField(); !vf.Nullable || hasNonNullable(vf.Type) {
			return checkNulls(a.Items(), vf.Nullable, path+".value", ep)
		}
	}
	return nil
}

// elementPresence maps row presence of a list (or map) to presence of its child elements.
func elementPresence(a array.ListLike, rows []bool) []bool {
	vals := a.ListValues()
	p := make([]bool, vals.Len())
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) || (rows != nil && !rows[i]) {
			continue
		}
		s, e := a.ValueOffsets(i)
		for j := s; j < e; j++ {
			p[j] = true
		}
	}
	return p
}

func hasNonNullable(t arrow.DataType) bool {
	switch t := t.(type) {
	case *arrow.StructType:
		for _, f := range t.Fields() {
			if !f.Nullable || hasNonNullable(f.Type) {
				return true
			}
		}
	case *arrow.ListType:
		return !t.ElemField().Nullable || hasNonNullable(t.Elem())
	case *arrow.MapType:
		return true // keys are never null
	}
	return false
}
