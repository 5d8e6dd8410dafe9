// Package parquetio is Strata's Parquet adapter for Delta tables: it writes data files with the
// statistics the log needs (WriteDataFiles), reads data files into the exact Arrow schema a scan
// asks for (ReadDataFile), and encodes and decodes whole Parquet objects such as checkpoints
// (Encode, Decode). The Delta kernel (internal/delta) does no I/O; this package is one of the
// handlers that give it bytes. It uses arrow-go's pqarrow and reaches storage only through
// storage.Store.
//
// Conventions: Arrow data follows delta.ToArrowType (timestamps in microseconds, "UTC" for
// timestamp and zone-less for timestamp_ntz, Decimal128, lists with an "element" field, maps with
// "key"/"value"). Files are written as Spark writes them: INT64 timestamps
// (TIMESTAMP(MICROS, isAdjustedToUTC=true|false)), decimals of precision up to 9 as INT32, up to 18
// as INT64 and FIXED_LEN_BYTE_ARRAY above, 3-level LIST and MAP groups (list/element,
// key_value/key/value, which every engine reads), physical column names and, under column
// mapping, Parquet field ids.
package parquetio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/stratalake/strata/internal/delta"
)

// ErrInvalidParquet is wrapped by errors about Parquet bytes that cannot be decoded (truncated
// files, bad footers, unsupported encodings). It is also a delta.ErrCorrupt, so callers that
// only know the kernel's sentinels can test for that.
var ErrInvalidParquet = fmt.Errorf("%w: invalid parquet", delta.ErrCorrupt)

// DefaultBatchRows bounds the number of rows in the record batches Decode and DataFileReader
// return.
const DefaultBatchRows = 64 * 1024

// codec describes a Parquet compression codec by the names Delta's
// delta.parquet.compression.codec property and Spark's file names use.
type codec struct {
	c   compress.Compression
	ext string // file-name extension before ".parquet" ("snappy", "gz", "zstd"), "" for none
}

// parseCodec maps a codec name ("zstd" when empty, "snappy", "gzip", "uncompressed"/"none",
// "lz4_raw", "brotli"; any case) to the codec.
func parseCodec(name string) (codec, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "zstd":
		return codec{compress.Codecs.Zstd, "zstd"}, nil
	case "snappy":
		return codec{compress.Codecs.Snappy, "snappy"}, nil
	case "gzip":
		return codec{compress.Codecs.Gzip, "gz"}, nil
	case "uncompressed", "none":
		return codec{compress.Codecs.Uncompressed, ""}, nil
	case "lz4_raw":
		return codec{compress.Codecs.Lz4Raw, "lz4raw"}, nil
	case "brotli":
		return codec{compress.Codecs.Brotli, "br"}, nil
	}
	return codec{}, fmt.Errorf("%w: unknown parquet compression codec %q", delta.ErrInvalidArgument, name)
}

// writerProps returns the Parquet writer properties Strata uses for every file of schema sc.
func writerProps(c codec, sc *arrow.Schema, extra ...parquet.WriterProperty) *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(c.c),
		parquet.WithStoreDecimalAsInteger(true),
		parquet.WithDataPageVersion(parquet.DataPageV1),
		parquet.WithAllocator(memory.DefaultAllocator),
	}
	opts = append(opts, noFloatStats(sc)...)
	return parquet.NewWriterProperties(append(opts, extra...)...)
}

// noFloatStats turns off the Parquet column statistics of every FLOAT and DOUBLE leaf of sc.
//
// The Parquet format keeps NaN out of min/max, so a row group holding [1, NaN, 2] says max 2,
// while DuckDB (and Spark, Delta) order NaN above every number. DuckDB's reader trusts those
// bounds: it prunes the row group for b > 'inf' or isnan(b), and drops the filter b <= 2 as
// always true, returning the NaN row (duckdb/duckdb#25521). DuckDB's own writer leaves min/max
// out of a float column chunk holding NaN, and parquet-mr drops them; arrow-go cannot know
// before a row group is written, so Strata writes none for float columns. Delta file skipping is
// unaffected: the add actions' stats are computed from the data (collectStats) with NaN handled.
// A schema pqarrow cannot convert gets no options here; NewFileWriter reports its error.
func noFloatStats(sc *arrow.Schema) []parquet.WriterProperty {
	if sc == nil {
		return nil
	}
	ps, err := pqarrow.ToParquet(sc, parquet.NewWriterProperties(parquet.WithStoreDecimalAsInteger(true)), pqarrow.DefaultWriterProps())
	if err != nil {
		return nil
	}
	var opts []parquet.WriterProperty
	for i := 0; i < ps.NumColumns(); i++ {
		col := ps.Column(i)
		if t := col.PhysicalType(); t == parquet.Types.Float || t == parquet.Types.Double {
			opts = append(opts, parquet.WithStatsPath(col.ColumnPath(), false))
		}
	}
	return opts
}

// Decode reads a whole Parquet object held in memory (a checkpoint, a sidecar) into record batches
// of at most DefaultBatchRows rows each. columns selects top-level columns by name (exact match
// first, then case-insensitive); nil selects all. A selected name absent from the file is simply
// absent from the result, whose schema lists the present columns in file order. If no selected
// column is present the schema is empty and the batches carry only row counts. Nested structs,
// lists and maps come back as pqarrow reads them. The caller must Release the batches.
func Decode(data []byte, columns []string) (*arrow.Schema, []arrow.RecordBatch, error) {
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidParquet, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: DefaultBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidParquet, err)
	}
	var leaves []int
	var fields []arrow.Field
	for i := range fr.Manifest.Fields {
		sf := &fr.Manifest.Fields[i]
		if columns != nil && !nameSelected(sf.Field.Name, columns, fr.Manifest.Fields) {
			continue
		}
		leaves = appendLeaves(leaves, sf)
		fields = append(fields, *sf.Field)
	}
	total := pf.NumRows()
	if len(leaves) == 0 {
		schema := arrow.NewSchema(nil, nil)
		var out []arrow.RecordBatch
		for off := int64(0); off < total; off += DefaultBatchRows {
			out = append(out, array.NewRecordBatch(schema, nil, min(DefaultBatchRows, total-off)))
		}
		return schema, out, nil
	}
	rr, err := fr.GetRecordReader(context.Background(), leaves, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidParquet, err)
	}
	defer rr.Release()
	var out []arrow.RecordBatch
	for {
		rec, err := rr.Read()
		if rec != nil {
			rec.Retain()
			out = append(out, rec)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			releaseAll(out)
			return nil, nil, fmt.Errorf("%w: %v", ErrInvalidParquet, err)
		}
		if rec == nil {
			break
		}
	}
	return rr.Schema(), out, nil
}

// nameSelected reports whether the file column name is selected by columns: an exact match, or a
// case-insensitive match for a requested name that matches no column exactly.
func nameSelected(name string, columns []string, all []pqarrow.SchemaField) bool {
	for _, c := range columns {
		if c == name {
			return true
		}
	}
	for _, c := range columns {
		if !strings.EqualFold(c, name) {
			continue
		}
		exact := false
		for i := range all {
			if all[i].Field.Name == c {
				exact = true
			}
		}
		if !exact {
			return true
		}
	}
	return false
}

func appendLeaves(dst []int, f *pqarrow.SchemaField) []int {
	if f.IsLeaf() {
		return append(dst, f.ColIndex)
	}
	for i := range f.Children {
		dst = appendLeaves(dst, &f.Children[i])
	}
	return dst
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// Encode writes record batches as one Parquet object and returns its bytes. codec is a name
// parseCodec accepts ("" means zstd). The batches become row groups of up to 1Mi rows; nested
// structs, lists and maps are written as 3-level Parquet groups that every engine reads. The
// schema's types are written as they are (no unit coercion); field ids in
// delta.ArrowFieldIDKey metadata become Parquet field ids.
func Encode(schema *arrow.Schema, recs []arrow.RecordBatch, codecName string) ([]byte, error) {
	c, err := parseCodec(codecName)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	fw, err := pqarrow.NewFileWriter(schema, &buf, writerProps(c, schema, parquet.WithMaxRowGroupLength(1<<20)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(memory.DefaultAllocator)))
	if err != nil {
		return nil, fmt.Errorf("%w: parquet schema: %v", delta.ErrInvalidArgument, err)
	}
	for i, r := range recs {
		if !r.Schema().Equal(schema) {
			fw.Close()
			return nil, fmt.Errorf("%w: batch %d schema %s differs from %s", delta.ErrSchemaMismatch, i, r.Schema(), schema)
		}
		if r.NumRows() == 0 {
			continue
		}
		if err := fw.WriteBuffered(r); err != nil {
			fw.Close()
			return nil, fmt.Errorf("parquetio: encode batch %d: %w", i, err)
		}
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("parquetio: encode: %w", err)
	}
	return buf.Bytes(), nil
}
