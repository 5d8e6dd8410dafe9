package parquetio

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/stratalake/strata/internal/delta"
)

// withColumnMapping gives every field of the schema (nested ones too) a physical name and an id.
func withColumnMapping(st *delta.StructType) *delta.StructType {
	id := 0
	var walk func(t delta.DataType) delta.DataType
	walk = func(t delta.DataType) delta.DataType {
		switch t := t.(type) {
		case *delta.StructType:
			out := &delta.StructType{}
			for _, f := range t.Fields {
				id++
				my := id
				nf := *f
				nf.Type = walk(f.Type)
				nf.Metadata = map[string]json.RawMessage{
					delta.MetaColumnMappingID:           json.RawMessage(strconv.Itoa(my)),
					delta.MetaColumnMappingPhysicalName: json.RawMessage(`"col-` + strconv.Itoa(my) + `-` + strings.ToLower(f.Name) + `"`),
				}
				out.Fields = append(out.Fields, &nf)
			}
			return out
		case *delta.ArrayType:
			return &delta.ArrayType{ElementType: walk(t.ElementType), ContainsNull: t.ContainsNull}
		case *delta.MapType:
			return &delta.MapType{KeyType: walk(t.KeyType), ValueType: walk(t.ValueType), ValueContainsNull: t.ValueContainsNull}
		}
		return t
	}
	return walk(st).(*delta.StructType)
}

// toLogical relabels a record read with the physical schema to the logical schema.
func toLogical(rec arrow.RecordBatch, logical *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		d := retype(rec.Column(i).Data(), logical.Field(i).Type)
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	return array.NewRecordBatch(logical, cols, rec.NumRows())
}

func TestRoundTripAllTypes(t *testing.T) {
	base := mustSchema(t, allTypesSchema)
	for _, tc := range []struct {
		name   string
		schema *delta.StructType
		mode   MatchMode
		codec  string
	}{
		{"plain", base, MatchByName, ""},
		{"snappy", base, MatchByName, "snappy"},
		{"gzip", base, MatchByName, "gzip"},
		{"uncompressed", base, MatchByName, "uncompressed"},
		{"mapping-by-name", withColumnMapping(base), MatchByName, "zstd"},
		{"mapping-by-id", withColumnMapping(base), MatchByID, "zstd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			logical := delta.ToArrowSchema(tc.schema)
			in := recordFromJSON(t, logical, allTypesRows)
			defer in.Release()
			store := newStore(t)
			files, err := WriteDataFiles(ctx, store, reader(t, in), WriteOptions{Schema: tc.schema, Codec: tc.codec})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 || files[0].NumRecords != 3 {
				t.Fatalf("files: %+v", files)
			}
			ext := map[string]string{"": ".zstd.parquet", "zstd": ".zstd.parquet", "snappy": ".snappy.parquet", "gzip": ".gz.parquet", "uncompressed": "-c000.parquet"}[tc.codec]
			if !strings.HasPrefix(files[0].Key, "part-00000-") || !strings.HasSuffix(files[0].Key, ext) {
				t.Errorf("file name %q, want part-00000-<uuid>-c000%s", files[0].Key, ext)
			}
			info, err := store.Stat(ctx, files[0].Key)
			if err != nil || info.Size != files[0].Size {
				t.Fatalf("stat %v size %d, DataFile size %d", err, info.Size, files[0].Size)
			}
			got := readAll(t, store, files[0].Key, delta.PhysicalArrowSchema(tc.schema), tc.mode)
			defer got.Release()
			lg := toLogical(got, logical)
			defer lg.Release()
			if !array.RecordEqual(lg, in) {
				t.Errorf("round trip differs:\n got %v\nwant %v", lg, in)
			}
			// Whole-object helpers round-trip the same data.
			enc, err := Encode(in.Schema(), []arrow.RecordBatch{in}, tc.codec)
			if err != nil {
				t.Fatal(err)
			}
			sc, recs, err := Decode(enc, nil)
			if err != nil {
				t.Fatal(err)
			}
			dec := concat(t, sc, recs)
			defer dec.Release()
			dl := toLogical(dec, logical)
			defer dl.Release()
			if !array.RecordEqual(dl, in) {
				t.Errorf("Encode/Decode differs:\n got %v\nwant %v", dl, in)
			}
		})
	}
}

func TestDecodeSelectsColumns(t *testing.T) {
	schema := mustSchema(t, allTypesSchema)
	logical := delta.ToArrowSchema(schema)
	in := recordFromJSON(t, logical, allTypesRows)
	defer in.Release()
	enc, err := Encode(logical, []arrow.RecordBatch{in}, "")
	if err != nil {
		t.Fatal(err)
	}
	sc, recs, err := Decode(enc, []string{"M", "id", "nope", "st"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sc.Fields() {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "id,st,m" {
		t.Errorf("columns %v, want id,st,m (file order)", names)
	}
	got := concat(t, sc, recs)
	defer got.Release()
	if got.NumRows() != 3 || !array.Equal(got.Column(2), in.Column(18)) {
		t.Errorf("map column differs: %v", got.Column(2))
	}
	sc, recs, err = Decode(enc, []string{"absent"})
	if err != nil || sc.NumFields() != 0 || len(recs) != 1 || recs[0].NumRows() != 3 {
		t.Errorf("no present column: schema %v, %d batches, %v", sc, len(recs), err)
	}
	releaseAll(recs)
	if _, _, err := Decode([]byte("not parquet"), nil); err == nil {
		t.Error("Decode accepted garbage")
	}
}

// TestRoundTripPartitionedAllTypes splits the all-types rows by partition columns of several types
// (which takes rows of every nested type apart) and checks that the files plus the partition
// values give back the input rows.
func TestRoundTripPartitionedAllTypes(t *testing.T) {
	schema := mustSchema(t, allTypesSchema)
	logical := delta.ToArrowSchema(schema)
	in := recordFromJSON(t, logical, allTypesRows)
	defer in.Release()
	want := canonicalRows(in.Columns(), int(in.NumRows()))
	sort.Strings(want)
	for _, parts := range [][]string{{"bool"}, {"id"}, {"ts", "dec9"}, {"date", "str", "b"}} {
		t.Run(strings.Join(parts, ","), func(t *testing.T) {
			store := newStore(t)
			files, err := WriteDataFiles(context.Background(), store, reader(t, in), WriteOptions{Schema: schema, PartitionColumns: parts})
			if err != nil {
				t.Fatal(err)
			}
			isPart := map[string]bool{}
			for _, p := range parts {
				isPart[p] = true
			}
			var dataFields []*delta.StructField
			for _, f := range schema.Fields {
				if !isPart[f.Name] {
					dataFields = append(dataFields, f)
				}
			}
			var got []string
			for _, f := range files {
				rec := readAll(t, store, f.Key, delta.PhysicalArrowSchema(&delta.StructType{Fields: dataFields}), MatchByName)
				cols := make([]arrow.Array, len(schema.Fields))
				di := 0
				for i, sf := range schema.Fields {
					if !isPart[sf.Name] {
						cols[i] = rec.Column(di)
						di++
						continue
					}
					sc, err := delta.ParsePartitionValue(f.PartitionValues[sf.Name], sf.Type)
					if err != nil {
						t.Fatal(err)
					}
					if cols[i], err = scalar.MakeArrayFromScalar(sc, int(rec.NumRows()), memory.DefaultAllocator); err != nil {
						t.Fatal(err)
					}
				}
				got = append(got, canonicalRows(cols, int(rec.NumRows()))...)
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("rows differ:\n got  %q\n want %q", got, want)
			}
		})
	}
}
