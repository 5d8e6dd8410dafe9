package parquetio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
)

func field(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

func withID(f arrow.Field, id string) arrow.Field {
	f.Metadata = arrow.NewMetadata([]string{delta.ArrowFieldIDKey}, []string{id})
	return f
}

// putParquet encodes rows of schema as a Parquet file in the store.
func putParquet(t *testing.T, store storage.Store, key string, sc *arrow.Schema, rows string) {
	t.Helper()
	rec := recordFromJSON(t, sc, rows)
	defer rec.Release()
	data, err := Encode(sc, []arrow.RecordBatch{rec}, "snappy")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
}

// TestReadConversions writes files with the types other engines use and reads them into the
// types of delta.ToArrowType.
func TestReadConversions(t *testing.T) {
	tsUTC := delta.ToArrowType(delta.TypeTimestamp)
	tsNTZ := delta.ToArrowType(delta.TypeTimestampNTZ)
	tests := []struct {
		name     string
		fileType arrow.DataType
		rows     string // values of column "c"
		want     arrow.DataType
		expect   string // values of column "c" read back, as Arrow JSON
		wantErr  error
	}{
		{"int32 to byte", arrow.PrimitiveTypes.Int32, `[1,-128,null]`, arrow.PrimitiveTypes.Int8, `[1,-128,null]`, nil},
		{"int32 to short", arrow.PrimitiveTypes.Int32, `[32767,null]`, arrow.PrimitiveTypes.Int16, `[32767,null]`, nil},
		{"int32 overflowing byte", arrow.PrimitiveTypes.Int32, `[300]`, arrow.PrimitiveTypes.Int8, ``, delta.ErrSchemaMismatch},
		{"int to long", arrow.PrimitiveTypes.Int32, `[5,null]`, arrow.PrimitiveTypes.Int64, `[5,null]`, nil},
		{"int to double", arrow.PrimitiveTypes.Int16, `[5]`, arrow.PrimitiveTypes.Float64, `[5]`, nil},
		{"float to double", arrow.PrimitiveTypes.Float32, `[1.5]`, arrow.PrimitiveTypes.Float64, `[1.5]`, nil},
		{"millis to micros", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, `[1500,-1,null]`, tsUTC, `[1500000,-1000,null]`, nil},
		{"nanos to micros floors", &arrow.TimestampType{Unit: arrow.Nanosecond}, `[1500,-1500]`, tsNTZ, `[1,-2]`, nil},
		{"zone relabelled", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "America/New_York"}, `[7]`, tsUTC, `[7]`, nil},
		{"date to timestamp_ntz", arrow.FixedWidthTypes.Date32, `[1,null]`, tsNTZ, `[86400000000,null]`, nil},
		{"decimal int32 rescaled", &arrow.Decimal128Type{Precision: 5, Scale: 2}, `["1.23","-0.05"]`, &arrow.Decimal128Type{Precision: 10, Scale: 4}, `["1.2300","-0.0500"]`, nil},
		{"decimal FLBA widened", &arrow.Decimal128Type{Precision: 20, Scale: 2}, `["123456789012345678.90"]`, &arrow.Decimal128Type{Precision: 38, Scale: 2}, `["123456789012345678.90"]`, nil},
		{"decimal too precise", &arrow.Decimal128Type{Precision: 10, Scale: 4}, `["1.2345"]`, &arrow.Decimal128Type{Precision: 10, Scale: 2}, ``, delta.ErrSchemaMismatch},
		{"int to decimal", arrow.PrimitiveTypes.Int32, `[12]`, &arrow.Decimal128Type{Precision: 12, Scale: 2}, `["12.00"]`, nil},
		{"binary to string", arrow.BinaryTypes.Binary, `["aGk=",null]`, arrow.BinaryTypes.String, `["hi",null]`, nil},
		{"string to binary", arrow.BinaryTypes.String, `["hi"]`, arrow.BinaryTypes.Binary, `["aGk="]`, nil},
		{"list of key/value structs to map",
			arrow.ListOf(arrow.StructOf(arrow.Field{Name: "key", Type: arrow.BinaryTypes.String}, field("value", arrow.PrimitiveTypes.Int32))),
			`[[{"key":"a","value":1}],null,[]]`,
			arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64),
			`[[{"key":"a","value":1}],null,[]]`, nil},
		{"list elements converted", arrow.ListOf(arrow.PrimitiveTypes.Int32), `[[1,null],null]`, arrow.ListOfField(field("element", arrow.PrimitiveTypes.Int64)), `[[1,null],null]`, nil},
		{"struct to long", arrow.StructOf(field("a", arrow.PrimitiveTypes.Int32)), `[{"a":1}]`, arrow.PrimitiveTypes.Int64, ``, delta.ErrSchemaMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			fileSchema := arrow.NewSchema([]arrow.Field{field("id", arrow.PrimitiveTypes.Int64), field("c", tc.fileType)}, nil)
			var rows []string
			for i, v := range newJSONArray(t, tc.rows) {
				rows = append(rows, `{"id":`+strconv.Itoa(i)+`,"c":`+v+`}`)
			}
			putParquet(t, store, "f.parquet", fileSchema, "["+strings.Join(rows, ",")+"]")
			want := arrow.NewSchema([]arrow.Field{field("c", tc.want)}, nil)
			r, err := ReadDataFile(context.Background(), store, "f.parquet", 0, want, MatchByName)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rec, err := r.Next(context.Background())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			exp, _, err := array.FromJSON(memory.DefaultAllocator, tc.want, strings.NewReader(tc.expect))
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Release()
			if !array.Equal(rec.Column(0), exp) {
				t.Errorf("got %v, want %v", rec.Column(0), exp)
			}
		})
	}
}

// newJSONArray splits a JSON array into its element texts.
func newJSONArray(t *testing.T, s string) []string {
	t.Helper()
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out
}

// TestReadMatching covers column matching: case-insensitive names, missing columns and struct
// fields, struct fields reordered, and field ids.
func TestReadMatching(t *testing.T) {
	store := newStore(t)
	inner := arrow.StructOf(withID(field("p-x", arrow.PrimitiveTypes.Int32), "11"), withID(field("p-y", arrow.BinaryTypes.String), "12"))
	fileSchema := arrow.NewSchema([]arrow.Field{
		withID(field("p-id", arrow.PrimitiveTypes.Int64), "1"),
		withID(field("Name", arrow.BinaryTypes.String), "2"),
		withID(field("p-st", inner), "3"),
	}, nil)
	putParquet(t, store, "m.parquet", fileSchema, `[{"p-id":1,"Name":"a","p-st":{"p-x":10,"p-y":"u"}},{"p-id":2,"Name":"b","p-st":null}]`)

	byName := arrow.NewSchema([]arrow.Field{
		field("p-st", arrow.StructOf(field("p-y", arrow.BinaryTypes.String), field("gone", arrow.PrimitiveTypes.Int64))),
		field("name", arrow.BinaryTypes.String),
		field("missing", arrow.PrimitiveTypes.Float64),
	}, nil)
	got := readAll(t, store, "m.parquet", byName, MatchByName)
	want := recordFromJSON(t, byName, `[{"p-st":{"p-y":"u","gone":null},"name":"a","missing":null},{"p-st":null,"name":"b","missing":null}]`)
	if !array.RecordEqual(got, want) {
		t.Errorf("by name:\n got %v\nwant %v", got, want)
	}

	// By id the names are irrelevant (renamed columns keep their ids); an unknown id is missing.
	byID := arrow.NewSchema([]arrow.Field{
		withID(field("renamed", arrow.PrimitiveTypes.Int64), "1"),
		withID(field("st", arrow.StructOf(withID(field("x2", arrow.PrimitiveTypes.Int64), "11"), withID(field("z", arrow.PrimitiveTypes.Int32), "99"))), "3"),
		withID(field("Name", arrow.BinaryTypes.String), "42"),
	}, nil)
	got = readAll(t, store, "m.parquet", byID, MatchByID)
	want = recordFromJSON(t, byID, `[{"renamed":1,"st":{"x2":10,"z":null},"Name":null},{"renamed":2,"st":null,"Name":null}]`)
	if !array.RecordEqual(got, want) {
		t.Errorf("by id:\n got %v\nwant %v", got, want)
	}

	// A struct none of whose wanted fields is in the file still tells null structs apart.
	onlyMissing := arrow.NewSchema([]arrow.Field{field("p-st", arrow.StructOf(field("nope", arrow.PrimitiveTypes.Int32)))}, nil)
	got = readAll(t, store, "m.parquet", onlyMissing, MatchByName)
	want = recordFromJSON(t, onlyMissing, `[{"p-st":{"nope":null}},{"p-st":null}]`)
	if !array.RecordEqual(got, want) {
		t.Errorf("struct without present fields:\n got %v\nwant %v", got, want)
	}

	// No wanted column present: batches carry only nulls, with the right row count.
	none := arrow.NewSchema([]arrow.Field{field("zzz", arrow.PrimitiveTypes.Int32)}, nil)
	got = readAll(t, store, "m.parquet", none, MatchByName)
	if got.NumRows() != 2 || got.Column(0).NullN() != 2 {
		t.Errorf("missing-only read: %v", got)
	}
	empty := arrow.NewSchema(nil, nil)
	got = readAll(t, store, "m.parquet", empty, MatchByName)
	if got.NumRows() != 2 || got.NumCols() != 0 {
		t.Errorf("empty projection: %d rows %d cols", got.NumRows(), got.NumCols())
	}
}

// writeLegacyFile writes a file with a legacy 2-level list and a MAP_KEY_VALUE map, as old
// parquet-mr and Hive wrote them.
func writeLegacyFile(t *testing.T) []byte {
	t.Helper()
	must := func(n schema.Node, err error) schema.Node {
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	elem := must(schema.NewPrimitiveNode("array", parquet.Repetitions.Repeated, parquet.Types.Int32, -1, -1))
	list := must(schema.NewGroupNodeConverted("arr", parquet.Repetitions.Optional, schema.FieldList{elem}, schema.ConvertedTypes.List, -1))
	key := must(schema.NewPrimitiveNodeConverted("key", parquet.Repetitions.Required, parquet.Types.ByteArray, schema.ConvertedTypes.UTF8, 0, 0, 0, -1))
	val := must(schema.NewPrimitiveNode("value", parquet.Repetitions.Optional, parquet.Types.Int32, -1, -1))
	kv := must(schema.NewGroupNodeConverted("map", parquet.Repetitions.Repeated, schema.FieldList{key, val}, schema.ConvertedTypes.MapKeyValue, -1))
	m := must(schema.NewGroupNodeConverted("m", parquet.Repetitions.Optional, schema.FieldList{kv}, schema.ConvertedTypes.Map, -1))
	root := must(schema.NewGroupNode("spark_schema", parquet.Repetitions.Required, schema.FieldList{list, m}, -1))
	var buf bytes.Buffer
	w := file.NewParquetWriter(&buf, root.(*schema.GroupNode))
	rg := w.AppendRowGroup()
	// arr: [1,2], [], null, [3]
	cw, _ := rg.NextColumn()
	if _, err := cw.(*file.Int32ColumnChunkWriter).WriteBatch([]int32{1, 2, 3}, []int16{2, 2, 1, 0, 2}, []int16{0, 1, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	cw.Close()
	// m: {a:1,b:null}, null, {}, {c:3}
	cw, _ = rg.NextColumn()
	if _, err := cw.(*file.ByteArrayColumnChunkWriter).WriteBatch([]parquet.ByteArray{[]byte("a"), []byte("b"), []byte("c")}, []int16{2, 2, 0, 1, 2}, []int16{0, 1, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	cw.Close()
	cw, _ = rg.NextColumn()
	if _, err := cw.(*file.Int32ColumnChunkWriter).WriteBatch([]int32{1, 3}, []int16{3, 2, 0, 1, 3}, []int16{0, 1, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	cw.Close()
	rg.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadLegacyNested(t *testing.T) {
	store := newStore(t)
	if err := store.Put(context.Background(), "legacy.parquet", writeLegacyFile(t)); err != nil {
		t.Fatal(err)
	}
	want := delta.PhysicalArrowSchema(mustSchema(t, `{"type":"struct","fields":[
		{"name":"arr","type":{"type":"array","elementType":"long","containsNull":true},"nullable":true,"metadata":{}},
		{"name":"m","type":{"type":"map","keyType":"string","valueType":"integer","valueContainsNull":true},"nullable":true,"metadata":{}}]}`))
	got := readAll(t, store, "legacy.parquet", want, MatchByName)
	exp := recordFromJSON(t, want, `[
		{"arr":[1,2],"m":[{"key":"a","value":1},{"key":"b","value":null}]},
		{"arr":[],"m":null},
		{"arr":null,"m":[]},
		{"arr":[3],"m":[{"key":"c","value":3}]}]`)
	if !array.RecordEqual(got, exp) {
		t.Errorf("got %v\nwant %v", got, exp)
	}
}

// countingStore counts ranged reads and whole-object reads of a store.
type countingStore struct {
	storage.Store
	gets, ranges atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *countingStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	c.ranges.Add(1)
	return c.Store.GetRange(ctx, key, off, n)
}

// TestReadBatchesAndRanges reads a file of several row groups through GetRange and checks that
// batches are bounded, in order and complete (what deletion vectors need).
func TestReadBatchesAndRanges(t *testing.T) {
	const rows = 3*DefaultBatchRows + 1234
	sc := arrow.NewSchema([]arrow.Field{field("id", arrow.PrimitiveTypes.Int64), field("ts", delta.ToArrowType(delta.TypeTimestamp))}, nil)
	ids := array.NewInt64Builder(memory.DefaultAllocator)
	tsb := array.NewTimestampBuilder(memory.DefaultAllocator, sc.Field(1).Type.(*arrow.TimestampType))
	for i := 0; i < rows; i++ {
		ids.Append(int64(i))
		if i%7 == 0 {
			tsb.AppendNull()
		} else {
			tsb.Append(arrow.Timestamp(i))
		}
	}
	rec := array.NewRecordBatch(sc, []arrow.Array{ids.NewArray(), tsb.NewArray()}, rows)
	var buf bytes.Buffer
	fw, err := pqarrow.NewFileWriter(sc, &buf, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(50000)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	fw.Close()
	base := newStore(t)
	if err := base.Put(context.Background(), "big.parquet", buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	old := wholeFileLimit
	wholeFileLimit = 0
	defer func() { wholeFileLimit = old }()
	store := &countingStore{Store: base}
	ctx := context.Background()
	r, err := ReadDataFile(ctx, store, "big.parquet", int64(buf.Len()), sc, MatchByName)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumRows() != rows {
		t.Errorf("NumRows %d", r.NumRows())
	}
	next := int64(0)
	for {
		b, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.NumRows() > DefaultBatchRows || r.Offset() != next {
			t.Fatalf("batch of %d rows at offset %d, expected offset %d", b.NumRows(), r.Offset(), next)
		}
		col := b.Column(0).(*array.Int64)
		for i := 0; i < col.Len(); i++ {
			if col.Value(i) != next+int64(i) {
				t.Fatalf("row %d has id %d", next+int64(i), col.Value(i))
			}
		}
		next += b.NumRows()
		b.Release()
	}
	if next != rows {
		t.Errorf("read %d rows, want %d", next, rows)
	}
	if store.gets.Load() != 0 || store.ranges.Load() < 3 {
		t.Errorf("%d gets and %d ranged reads; want ranged reads only", store.gets.Load(), store.ranges.Load())
	}
}

func TestReadErrors(t *testing.T) {
	store := newStore(t)
	ctx := context.Background()
	sc := arrow.NewSchema([]arrow.Field{field("a", arrow.PrimitiveTypes.Int64)}, nil)
	if _, err := ReadDataFile(ctx, store, "nope.parquet", 0, sc, MatchByName); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
	if err := store.Put(ctx, "bad.parquet", []byte("PAR1 this is not parquet PAR1")); err != nil {
		t.Fatal(err)
	}
	_, err := ReadDataFile(ctx, store, "bad.parquet", 0, sc, MatchByName)
	if !errors.Is(err, ErrInvalidParquet) || !errors.Is(err, delta.ErrCorrupt) || !strings.Contains(err.Error(), "bad.parquet") {
		t.Errorf("corrupt file: %v", err)
	}
	putParquet(t, store, "ok.parquet", sc, `[{"a":1}]`)
	r, err := ReadDataFile(ctx, store, "ok.parquet", 0, sc, MatchByName)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Next: %v", err)
	}
	r.Close()
	r.Close()
}
