package parquetio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/stratalake/strata/internal/delta"
)

func TestWriteStatistics(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name   string
		schema string
		rows   string
		opts   WriteOptions
		want   string
	}{
		{
			name:   "all types",
			schema: allTypesSchema,
			rows:   allTypesRows,
			want: `{"numRecords":3,` +
				`"minValues":{"b":-128,"d":-2.25,"date":"0001-01-01","dec18":-12345678901234.5678,"dec38":-1.0000000000,"dec9":-0.01,"f":-0.5,"i":-5,"id":1,"ntz":"1969-12-31T23:59:59.999","s":-32768,"st":{"inner":{"y":"deep"},"x":7},"str":"hello","ts":"0001-01-01T00:00:00.000Z"},` +
				`"maxValues":{"b":127,"d":1e+300,"date":"2021-01-01","dec18":0.0001,"dec38":1234567890123456789012345678.0123456789,"dec9":1234567.89,"f":1.5,"i":2147483647,"id":3,"ntz":"9999-12-31T23:59:59.999","s":32767,"st":{"inner":{"y":"deep"},"x":7},"str":"日本語😈","ts":"2021-01-01T00:00:00.123Z"},` +
				`"nullCount":{"arr":1,"arrst":1,"b":1,"bin":1,"bool":1,"d":1,"date":1,"dec18":1,"dec38":1,"dec9":1,"f":1,"i":1,"id":0,"m":1,"marr":1,"ntz":1,"s":1,"st":{"inner":{"y":2},"x":2},"str":1,"ts":1}}`,
		},
		{
			name:   "string truncation",
			schema: `{"type":"struct","fields":[{"name":"s","type":"string","nullable":true,"metadata":{}}]}`,
			rows:   `[{"s":"` + long + `"},{"s":"` + long[:31] + `a"},{"s":null}]`,
			want:   `{"numRecords":3,"minValues":{"s":"` + long[:31] + `a"},"maxValues":{"s":"` + long[:32] + "\ufffd" + `"},"nullCount":{"s":1}}`,
		},
		{
			name:   "floats skip NaN and infinities",
			schema: `{"type":"struct","fields":[{"name":"a","type":"double","nullable":true,"metadata":{}},{"name":"b","type":"float","nullable":true,"metadata":{}},{"name":"c","type":"double","nullable":true,"metadata":{}}]}`,
			rows:   `[{"a":"NaN","b":"-Inf","c":"NaN"},{"a":2.5,"b":1.25,"c":null},{"a":-1,"b":"NaN","c":"NaN"}]`,
			want:   `{"numRecords":3,"minValues":{"a":-1},"maxValues":{"a":2.5,"b":1.25},"nullCount":{"a":0,"b":0,"c":1}}`,
		},
		{
			name:   "all nulls",
			schema: `{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}}]}`,
			rows:   `[{"a":null},{"a":null}]`,
			want:   `{"numRecords":2,"nullCount":{"a":2}}`,
		},
		{
			name:   "num indexed cols counts struct leaves",
			schema: `{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}},{"name":"st","type":{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}},{"name":"y","type":"long","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},{"name":"z","type":"long","nullable":true,"metadata":{}}]}`,
			rows:   `[{"a":1,"st":{"x":2,"y":3},"z":4}]`,
			opts:   WriteOptions{NumIndexedCols: 2},
			want:   `{"numRecords":1,"minValues":{"a":1,"st":{"x":2}},"maxValues":{"a":1,"st":{"x":2}},"nullCount":{"a":0,"st":{"x":0}}}`,
		},
		{
			name:   "no indexed cols",
			schema: `{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}}]}`,
			rows:   `[{"a":1}]`,
			opts:   WriteOptions{NumIndexedCols: NoIndexedCols},
			want:   `{"numRecords":1}`,
		},
		{
			name:   "stats columns override",
			schema: `{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}},{"name":"St","type":{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}},{"name":"y","type":"long","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},{"name":"z","type":"long","nullable":true,"metadata":{}}]}`,
			rows:   `[{"a":1,"St":{"x":2,"y":3},"z":4}]`,
			opts:   WriteOptions{NumIndexedCols: 1, StatsColumns: []string{"`st`.Y", "z"}},
			want:   `{"numRecords":1,"minValues":{"St":{"y":3},"z":4},"maxValues":{"St":{"y":3},"z":4},"nullCount":{"St":{"y":0},"z":0}}`,
		},
		{
			name:   "nested nulls count enclosing nulls",
			schema: `{"type":"struct","fields":[{"name":"st","type":{"type":"struct","fields":[{"name":"x","type":"integer","nullable":true,"metadata":{}},{"name":"l","type":{"type":"array","elementType":"integer","containsNull":true},"nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}}]}`,
			rows:   `[{"st":null},{"st":{"x":null,"l":[1]}},{"st":{"x":5,"l":null}},{"st":{"x":9,"l":[]}}]`,
			want:   `{"numRecords":4,"minValues":{"st":{"x":5}},"maxValues":{"st":{"x":9}},"nullCount":{"st":{"l":2,"x":2}}}`,
		},
		{
			name:   "timestamps truncate to milliseconds",
			schema: `{"type":"struct","fields":[{"name":"t","type":"timestamp","nullable":true,"metadata":{}},{"name":"n","type":"timestamp_ntz","nullable":true,"metadata":{}}]}`,
			rows:   `[{"t":1609459200123999,"n":-1500},{"t":1609459200000001,"n":1}]`,
			want:   `{"numRecords":2,"minValues":{"n":"1969-12-31T23:59:59.998","t":"2021-01-01T00:00:00.000Z"},"maxValues":{"n":"1970-01-01T00:00:00.000","t":"2021-01-01T00:00:00.123Z"},"nullCount":{"n":0,"t":0}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			schema := mustSchema(t, tc.schema)
			rec := recordFromJSON(t, delta.ToArrowSchema(schema), tc.rows)
			defer rec.Release()
			opts := tc.opts
			opts.Schema = schema
			files, err := WriteDataFiles(context.Background(), newStore(t), reader(t, rec), opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 {
				t.Fatalf("%d files", len(files))
			}
			if files[0].Stats != tc.want {
				t.Errorf("stats\n got  %s\n want %s", files[0].Stats, tc.want)
			}
			st, err := delta.ParseStats(files[0].Stats)
			if err != nil || st.NumRecords != rec.NumRows() {
				t.Errorf("ParseStats: %+v, %v", st, err)
			}
		})
	}
}

// TestWriteStatisticsBound checks on random data that the statistics bound every value, as the
// typed lookups of delta.Stats read them.
func TestWriteStatisticsBound(t *testing.T) {
	schema := mustSchema(t, `{"type":"struct","fields":[{"name":"s","type":"string","nullable":true,"metadata":{}},{"name":"t","type":"timestamp","nullable":true,"metadata":{}},{"name":"v","type":"long","nullable":true,"metadata":{}}]}`)
	logical := delta.ToArrowSchema(schema)
	var rows []string
	for i := 0; i < 500; i++ {
		s := strings.Repeat(string(rune('a'+i%26)), 20+i%30) + fmt.Sprint(i*7919%1000)
		if i%97 == 0 {
			s = strings.Repeat("\U0001F608", 40) // above the tie-breaker
		}
		rows = append(rows, fmt.Sprintf(`{"s":%q,"t":%d,"v":%d}`, s, int64(i)*1_000_777-250_000_000, (i*7919)%10007-5000))
	}
	rec := recordFromJSON(t, logical, "["+strings.Join(rows, ",")+"]")
	defer rec.Release()
	files, err := WriteDataFiles(context.Background(), newStore(t), reader(t, rec), WriteOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st, err := delta.ParseStats(files[0].Stats)
	if err != nil {
		t.Fatal(err)
	}
	smin, _ := st.MinValue([]string{"s"}, delta.TypeString)
	smax, _ := st.MaxValue([]string{"s"}, delta.TypeString)
	tmin, _ := st.MinValue([]string{"t"}, delta.TypeTimestamp)
	tmax, _ := st.MaxValue([]string{"t"}, delta.TypeTimestamp)
	ss := rec.Column(0).(*array.String)
	ts := rec.Column(1).(*array.Timestamp)
	for i := 0; i < int(rec.NumRows()); i++ {
		if v := ss.Value(i); v < smin.String() || v > smax.String() {
			t.Fatalf("string %q outside [%q, %q]", v, smin, smax)
		}
		if v := int64(ts.Value(i)); v < tsValue(tmin) || v > tsValue(tmax) {
			t.Fatalf("timestamp %d outside [%d, %d]", v, tsValue(tmin), tsValue(tmax))
		}
	}
}

func tsValue(s scalar.Scalar) int64 { return int64(s.(*scalar.Timestamp).Value) }

func TestWritePartitioned(t *testing.T) {
	schema := mustSchema(t, `{"type":"struct","fields":[
		{"name":"id","type":"long","nullable":true,"metadata":{}},
		{"name":"Region","type":"string","nullable":true,"metadata":{}},
		{"name":"day","type":"date","nullable":true,"metadata":{}},
		{"name":"v","type":"double","nullable":true,"metadata":{}}]}`)
	logical := delta.ToArrowSchema(schema)
	b1 := recordFromJSON(t, logical, `[{"id":1,"Region":"eu/west","day":0,"v":1},{"id":2,"Region":"us","day":0,"v":2},{"id":3,"Region":null,"day":1,"v":3}]`)
	b2 := recordFromJSON(t, logical, `[{"id":4,"Region":"us","day":0,"v":4},{"id":5,"Region":"eu/west","day":0,"v":5}]`)
	store := newStore(t)
	files, err := WriteDataFiles(context.Background(), store, reader(t, b1, b2), WriteOptions{
		Schema: schema, PartitionColumns: []string{"region", "DAY"}, Prefix: "tbl/"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int64{}
	for _, f := range files {
		dir := f.Key[:strings.LastIndex(f.Key, "/")+1]
		if want := delta.PartitionDir([]string{"Region", "day"}, f.PartitionValues); dir != want {
			t.Errorf("file %s not under %s", f.Key, want)
		}
		if !strings.Contains(f.Key, "-c000.zstd.parquet") {
			t.Errorf("file name %s", f.Key)
		}
		want := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "v", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
		rec := readAll(t, store, "tbl/"+f.Key, want, MatchByName)
		for i := 0; i < int(rec.NumRows()); i++ {
			k := f.PartitionValues["Region"] + "," + f.PartitionValues["day"]
			got[k] = append(got[k], rec.Column(0).(*array.Int64).Value(i))
		}
		if rec.NumRows() != f.NumRecords {
			t.Errorf("%s: %d rows, DataFile says %d", f.Key, rec.NumRows(), f.NumRecords)
		}
		rec.Release()
		data, err := store.Get(context.Background(), "tbl/"+f.Key)
		if err != nil {
			t.Fatal(err)
		}
		sc, recs, err := Decode(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		releaseAll(recs)
		if sc.NumFields() != 2 {
			t.Errorf("%s: file columns %s, want only id and v", f.Key, sc)
		}
		if strings.Contains(f.Stats, "Region") || strings.Contains(f.Stats, "day") {
			t.Errorf("stats mention partition columns: %s", f.Stats)
		}
	}
	want := map[string][]int64{"eu/west,1970-01-01": {1, 5}, "us,1970-01-01": {2, 4}, ",1970-01-02": {3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows by partition %v, want %v", got, want)
	}
	if len(files) != 3 {
		t.Errorf("%d files, want one per partition", len(files))
	}
	if add := files[0].Add(true); add.Path != delta.EncodePath(files[0].Key) || !add.DataChange || add.Stats != files[0].Stats {
		t.Errorf("Add: %+v", add)
	}
}

// seqBatches returns n batches of rows rows of (id long, name string, ts timestamp).
func seqBatches(t testing.TB, schema *arrow.Schema, n, rows int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for b := 0; b < n; b++ {
		ids := array.NewInt64Builder(memory.DefaultAllocator)
		names := array.NewStringBuilder(memory.DefaultAllocator)
		for i := 0; i < rows; i++ {
			id := int64(b*rows + i)
			ids.Append(id)
			names.Append(fmt.Sprintf("name-%d-%x", id, id*2654435761))
		}
		cols := []arrow.Array{ids.NewArray(), names.NewArray()}
		out = append(out, array.NewRecordBatch(schema, cols, int64(rows)))
		ids.Release()
		names.Release()
	}
	return out
}

func TestWriteRollsFiles(t *testing.T) {
	schema := mustSchema(t, `{"type":"struct","fields":[{"name":"id","type":"long","nullable":false,"metadata":{}},{"name":"name","type":"string","nullable":true,"metadata":{}}]}`)
	logical := delta.ToArrowSchema(schema)
	batches := seqBatches(t, logical, 40, 5000)
	store := newStore(t)
	const target = 256 << 10
	files, err := WriteDataFiles(context.Background(), store, reader(t, batches...), WriteOptions{Schema: schema, TargetFileSize: target, Codec: "snappy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("%d files; want the 200k rows rolled into several files of ~%d bytes", len(files), target)
	}
	var total int64
	var ids []int64
	var sizes []int64
	for _, f := range files {
		sizes = append(sizes, f.Size)
	}
	t.Logf("file sizes for target %d: %v", target, sizes)
	for i, f := range files {
		if !strings.HasPrefix(f.Key, fmt.Sprintf("part-%05d-", i)) {
			t.Errorf("file %d named %s", i, f.Key)
		}
		if i < len(files)-1 && (f.Size < target/2 || f.Size > 3*target) {
			t.Errorf("file %s has %d bytes, target %d", f.Key, f.Size, target)
		}
		total += f.NumRecords
		rec := readAll(t, store, f.Key, delta.PhysicalArrowSchema(schema), MatchByName)
		ids = append(ids, rec.Column(0).(*array.Int64).Int64Values()...)
		st, _ := delta.ParseStats(f.Stats)
		lo, _ := st.MinValue([]string{"id"}, delta.TypeLong)
		if lo.String() != fmt.Sprint(rec.Column(0).(*array.Int64).Value(0)) {
			t.Errorf("%s: min id %v, first row %d", f.Key, lo, rec.Column(0).(*array.Int64).Value(0))
		}
		rec.Release()
	}
	if total != 200000 || len(ids) != 200000 {
		t.Fatalf("%d rows in DataFiles, %d read; want 200000", total, len(ids))
	}
	for i, id := range ids {
		if id != int64(i) {
			t.Fatalf("row %d has id %d: rows reordered or lost", i, id)
		}
	}
}

func TestWriteNoRowsNoFiles(t *testing.T) {
	schema := mustSchema(t, `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}}]}`)
	logical := delta.ToArrowSchema(schema)
	store := newStore(t)
	empty := array.NewRecordBatch(logical, []arrow.Array{array.MakeArrayOfNull(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64, 0)}, 0)
	for _, recs := range [][]arrow.RecordBatch{nil, {empty}} {
		rr, err := array.NewRecordReader(logical, recs)
		if err != nil {
			t.Fatal(err)
		}
		files, err := WriteDataFiles(context.Background(), store, rr, WriteOptions{Schema: schema, PartitionColumns: []string{"id"}})
		if err != nil || len(files) != 0 {
			t.Errorf("files %v, err %v; want none", files, err)
		}
	}
	if objs, _ := store.List(context.Background(), "", ""); len(objs) != 0 {
		t.Errorf("objects written: %v", objs)
	}
}

func TestWriteErrors(t *testing.T) {
	schema := mustSchema(t, `{"type":"struct","fields":[{"name":"id","type":"long","nullable":false,"metadata":{}},{"name":"st","type":{"type":"struct","fields":[{"name":"x","type":"long","nullable":false,"metadata":{}}]},"nullable":true,"metadata":{}}]}`)
	logical := delta.ToArrowSchema(schema)
	ok := recordFromJSON(t, logical, `[{"id":1,"st":null},{"id":2,"st":{"x":1}}]`)
	tests := []struct {
		name string
		rec  arrow.RecordBatch
		opts WriteOptions
		want error
	}{
		{"null in non-nullable column", recordFromJSON(t, logical, `[{"id":null,"st":null}]`), WriteOptions{Schema: schema}, delta.ErrSchemaMismatch},
		{"null in non-nullable nested field", recordFromJSON(t, logical, `[{"id":1,"st":{"x":null}}]`), WriteOptions{Schema: schema}, delta.ErrSchemaMismatch},
		{"wrong input schema", recordFromJSON(t, arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil), `[{"id":1}]`), WriteOptions{Schema: schema}, delta.ErrSchemaMismatch},
		{"unknown codec", ok, WriteOptions{Schema: schema, Codec: "lzo"}, delta.ErrInvalidArgument},
		{"unknown partition column", ok, WriteOptions{Schema: schema, PartitionColumns: []string{"nope"}}, delta.ErrInvalidArgument},
		{"struct partition column", ok, WriteOptions{Schema: schema, PartitionColumns: []string{"st"}}, delta.ErrInvalidArgument},
		{"unknown stats column", ok, WriteOptions{Schema: schema, StatsColumns: []string{"st.y"}}, delta.ErrInvalidArgument},
		{"no schema", ok, WriteOptions{}, delta.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			_, err := WriteDataFiles(context.Background(), store, reader(t, tc.rec), tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if objs, _ := store.List(context.Background(), "", ""); len(objs) != 0 {
				t.Errorf("objects written: %v", objs)
			}
		})
	}
	// The valid record passes (a null struct may hold null non-nullable children).
	if _, err := WriteDataFiles(context.Background(), newStore(t), reader(t, ok), WriteOptions{Schema: schema}); err != nil {
		t.Errorf("valid rows rejected: %v", err)
	}
}

func TestWriteCancelled(t *testing.T) {
	schema := mustSchema(t, `{"type":"struct","fields":[{"name":"id","type":"long","nullable":false,"metadata":{}},{"name":"name","type":"string","nullable":true,"metadata":{}}]}`)
	batches := seqBatches(t, delta.ToArrowSchema(schema), 3, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store := newStore(t)
	_, err := WriteDataFiles(ctx, store, reader(t, batches...), WriteOptions{Schema: schema})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if objs, _ := store.List(context.Background(), "", ""); len(objs) != 0 {
		t.Errorf("objects written: %v", objs)
	}
}

func TestApplyTableProperties(t *testing.T) {
	var o WriteOptions
	err := o.ApplyTableProperties(map[string]string{
		"delta.parquet.compression.codec":  "snappy",
		"delta.dataSkippingNumIndexedCols": "0",
		"delta.dataSkippingStatsColumns":   "a, b.c ,",
		"delta.targetFileSize":             "1048576",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Codec != "snappy" || o.NumIndexedCols != NoIndexedCols || strings.Join(o.StatsColumns, "|") != "a|b.c" || o.TargetFileSize != 1<<20 {
		t.Errorf("options %+v", o)
	}
	for _, bad := range []map[string]string{{"delta.dataSkippingNumIndexedCols": "x"}, {"delta.targetFileSize": "-1"}} {
		if err := o.ApplyTableProperties(bad); !errors.Is(err, delta.ErrInvalidArgument) {
			t.Errorf("%v: err %v", bad, err)
		}
	}
	cols, err := splitColumnPath("`a.b`.c")
	if err != nil || strings.Join(cols, "|") != "a.b|c" {
		t.Errorf("splitColumnPath: %v %v", cols, err)
	}
	sort.Strings(cols)
}

// TestWriteNoFloatFooterBounds: float and double leaves (top level, in structs, in lists) carry no
// Parquet statistics, because the format's min/max leave NaN out and DuckDB's reader trusts them
// (noFloatStats); other columns keep theirs.
func TestWriteNoFloatFooterBounds(t *testing.T) {
	schema := mustSchema(t, `{"type":"struct","fields":[
		{"name":"i","type":"long","nullable":true,"metadata":{}},
		{"name":"d","type":"double","nullable":true,"metadata":{}},
		{"name":"st","type":{"type":"struct","fields":[{"name":"f","type":"float","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
		{"name":"arr","type":{"type":"array","elementType":"double","containsNull":true},"nullable":true,"metadata":{}}]}`)
	logical := delta.ToArrowSchema(schema)
	rec := recordFromJSON(t, logical, `[{"i":1,"d":1,"st":{"f":1},"arr":[1]},{"i":2,"d":"NaN","st":{"f":"NaN"},"arr":["NaN"]},{"i":3,"d":2,"st":{"f":2},"arr":[2]}]`)
	defer rec.Release()
	store := newStore(t)
	files, err := WriteDataFiles(context.Background(), store, reader(t, rec), WriteOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	data, err := store.Get(context.Background(), files[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	rg := pf.MetaData().RowGroup(0)
	for i := 0; i < rg.NumColumns(); i++ {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		path := cc.PathInSchema().String()
		set, err := cc.StatsSet()
		if err != nil {
			t.Fatal(err)
		}
		if wantStats := path == "i"; set != wantStats {
			t.Errorf("column %s: statistics set %v, want %v", path, set, wantStats)
		}
	}
}
