package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeParquet writes rows (a JSON array of objects) with the given schema to a Parquet file
// in a temporary directory, in row groups of rowGroup rows.
func writeParquet(t *testing.T, name string, sc *arrow.Schema, rowsJSON string, rowGroup int64) string {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(rowsJSON))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(rowGroup)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// schemaString renders a schema compactly: name:type(!) with ! for non-nullable.
func schemaString(sc *arrow.Schema) string {
	parts := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		parts[i] = f.Name + ":" + typeName(f.Type)
		if !f.Nullable {
			parts[i] += "!"
		}
	}
	return strings.Join(parts, " ")
}

func TestInferSchema(t *testing.T) {
	pq := writeParquet(t, "p.parquet", schemaOf(
		required("id", arrow.PrimitiveTypes.Int32),
		nullable("score", arrow.PrimitiveTypes.Float32),
		nullable("tags", arrow.ListOf(arrow.BinaryTypes.String)),
		nullable("at", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}),
	), `[{"id": 1, "score": 1.5, "tags": ["a"], "at": "2024-01-02T03:04:05Z"}]`, 10)
	pq2 := writeParquet(t, "q.parquet", schemaOf(required("ID", arrow.PrimitiveTypes.Int64)), `[{"ID": 1}]`, 10)

	tests := []struct {
		name  string
		files map[string]string // name -> content; "@path" means an existing file
		order []string
		opts  Options
		want  string
	}{
		{"csv ladder", map[string]string{"t.csv": "@testdata/types.csv"}, []string{"t.csv"}, Options{},
			"id:long flag:boolean big:decimal(38,0) ratio:double day:date ts:timestamp name:string zip:string empty:string mixed:string late:timestamp"},
		{"tsv", map[string]string{"t.tsv": "@testdata/tabs.tsv"}, []string{"t.tsv"}, Options{}, "a:long b:string"},
		{"ndjson", map[string]string{"e.ndjson": "@testdata/events.ndjson"}, []string{"e.ndjson"}, Options{},
			"id:long user:struct<name:string,age:long,email:string> tags:array<string> amount:double when:string note:string extra:boolean"},
		{"parquet", map[string]string{"p.parquet": "@" + pq}, []string{"p.parquet"}, Options{},
			"id:integer! score:float tags:array<string> at:timestamp"},
		{"no header", map[string]string{"n.csv": "1,x\n2,y\n"}, []string{"n.csv"}, Options{NoHeader: true},
			"column0:long column1:string"},
		{"sample stops before the string", map[string]string{"s.csv": "a\n1\n2\nthree\n"}, []string{"s.csv"}, Options{SampleRows: 2},
			"a:long"},
		{"whole file sampled", map[string]string{"s.csv": "a\n1\n2\nthree\n"}, []string{"s.csv"}, Options{SampleRows: -1},
			"a:string"},
		{"malformed records skipped", map[string]string{"m.csv": "a,b\n1,2\n3\n\"x\"y,4\n5,6\n"}, []string{"m.csv"}, Options{},
			"a:long b:long"},
		{"custom nulls", map[string]string{"c.csv": "a\nNA\n1\n"}, []string{"c.csv"}, Options{NullValues: []string{"NA"}},
			"a:long"},
		{"empty header name", map[string]string{"h.csv": "a,,c\n1,2,3\n"}, []string{"h.csv"}, Options{}, "a:long column1:long c:long"},
		{"long and double widen", map[string]string{"a.csv": "x\n1\n", "b.csv": "x\n1.5\n"}, []string{"a.csv", "b.csv"}, Options{},
			"x:double"},
		{"boolean and long give string", map[string]string{"a.csv": "x\ntrue\n", "b.csv": "x\n1\n"}, []string{"a.csv", "b.csv"}, Options{},
			"x:string"},
		{"date and timestamp", map[string]string{"a.csv": "x\n2024-01-01\n", "b.csv": "x\n2024-01-01 10:00:00\n"}, []string{"a.csv", "b.csv"}, Options{},
			"x:timestamp"},
		{"union by name", map[string]string{"a.csv": "id,a\n1,x\n", "b.ndjson": `{"ID": 2, "b": true}` + "\n"}, []string{"a.csv", "b.ndjson"}, Options{},
			"id:long a:string b:boolean"},
		{"all-null column takes the other file's type", map[string]string{"a.csv": "x,y\n,1\n", "b.csv": "x\n5\n"}, []string{"a.csv", "b.csv"}, Options{},
			"x:long y:long"},
		{"parquet and csv", map[string]string{"p.parquet": "@" + pq2, "a.csv": "id\n7\n"}, []string{"p.parquet", "a.csv"}, Options{},
			"ID:long"},
		{"parquet required column absent elsewhere", map[string]string{"p.parquet": "@" + pq2, "a.csv": "other\n7\n"}, []string{"p.parquet", "a.csv"}, Options{},
			"ID:long other:long"},
		{"parquet required in both", map[string]string{"p.parquet": "@" + pq2, "q.parquet": "@" + pq2}, []string{"p.parquet", "q.parquet"}, Options{},
			"ID:long!"},
		{"ndjson structs merge across files", map[string]string{"a.ndjson": `{"u": {"a": 1}}` + "\n", "b.ndjson": `{"u": {"b": [1.5]}}` + "\n"},
			[]string{"a.ndjson", "b.ndjson"}, Options{}, "u:struct<a:long,b:array<double>>"},
		{"ndjson nulls, empty arrays and objects", map[string]string{"a.ndjson": `{"n": null, "l": [], "o": {}, "big": 123456789012345678901}` + "\n"},
			[]string{"a.ndjson"}, Options{}, "n:string l:array<string> o:string big:decimal(38,0)"},
		{"ndjson strings stay strings", map[string]string{"a.ndjson": `{"d": "2024-01-01", "t": "2024-01-01T00:00:00Z"}` + "\n"},
			[]string{"a.ndjson"}, Options{}, "d:string t:string"},
		{"ndjson mixed numbers in an array", map[string]string{"a.ndjson": `{"l": [1, 2.5, null]}` + "\n"},
			[]string{"a.ndjson"}, Options{}, "l:array<double>"},
		{"compressed", map[string]string{"t.csv.gz": "@gz:testdata/types.csv"}, []string{"t.csv.gz"}, Options{},
			"id:long flag:boolean big:decimal(38,0) ratio:double day:date ts:timestamp name:string zip:string empty:string mixed:string late:timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			for _, name := range tc.order {
				content := tc.files[name]
				p := filepath.Join(dir, name)
				switch {
				case strings.HasPrefix(content, "@gz:"):
					p = compressCopy(t, strings.TrimPrefix(content, "@gz:"), ".gz")
				case strings.HasPrefix(content, "@"):
					p = strings.TrimPrefix(content, "@")
				default:
					if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				files = append(files, p)
			}
			sc, err := InferSchema(context.Background(), files, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := schemaString(sc); got != tc.want {
				t.Errorf("schema\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

// TestInferredSchemaReads: what InferSchema proposes, Open can read.
func TestInferredSchemaReads(t *testing.T) {
	for _, path := range []string{"testdata/types.csv", "testdata/events.ndjson", "testdata/orders.csv", "testdata/tabs.tsv"} {
		t.Run(path, func(t *testing.T) {
			sc, err := InferSchema(context.Background(), []string{path}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			res := readFile(t, path, sc, Options{})
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.stats.RowsQuarantined != 0 || res.stats.RowsRead == 0 {
				t.Errorf("stats %+v", res.stats)
			}
		})
	}
}

func TestInferSchemaConflicts(t *testing.T) {
	tests := []struct {
		name  string
		files [][2]string
		want  []string // substrings of the error
	}{
		{"struct and number across files", [][2]string{{"a.ndjson", `{"x": {"y": 1}}`}, {"b.csv", "x\n5\n"}},
			[]string{`column "x"`, "a.ndjson:1", "b.csv", "struct<y:long>", "long"}},
		{"within one ndjson file", [][2]string{{"a.ndjson", "{\"x\": [1]}\n{\"x\": \"s\"}\n"}},
			[]string{`column "x"`, "a.ndjson:1", "a.ndjson:2", "array<long>", "string"}},
		{"nested field", [][2]string{{"a.ndjson", "{\"u\": {\"v\": {}}}\n{\"u\": {\"v\": 1}}\n"}},
			[]string{`column "u"`, `field "v"`}},
		{"inside an array", [][2]string{{"a.ndjson", `{"x": [1, {"a": 1}]}`}}, []string{`column "x"`, "array element 1"}},
		{"duplicate csv header", [][2]string{{"a.csv", "a,A\n1,2\n"}}, []string{`both named "A"`, "a.csv"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			for _, f := range tc.files {
				p := filepath.Join(dir, f[0])
				os.WriteFile(p, []byte(f[1]), 0o644)
				files = append(files, p)
			}
			_, err := InferSchema(context.Background(), files, Options{})
			t.Log(err)
			if !errors.Is(err, ErrSchemaConflict) {
				t.Fatalf("err = %v, want ErrSchemaConflict", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWiden(t *testing.T) {
	i8, i32, i64 := arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64
	u8, u32, u64 := arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64
	f32, f64 := arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64
	str, bin, boo := arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, arrow.FixedWidthTypes.Boolean
	date := arrow.FixedWidthTypes.Date32
	dec := func(p, s int32) arrow.DataType { return &arrow.Decimal128Type{Precision: p, Scale: s} }
	tsMS := &arrow.TimestampType{Unit: arrow.Millisecond}
	tests := []struct {
		a, b arrow.DataType
		want string // type name, or "error"
	}{
		{i64, i64, "long"}, {arrow.Null, i32, "integer"}, {str, arrow.Null, "string"},
		{i8, i32, "integer"}, {u8, i8, "short"}, {u32, i32, "long"}, {u64, u8, "uint64"}, {u64, i64, "decimal(20,0)"},
		{i32, f32, "double"}, {f32, f32, "float"}, {f32, f64, "double"},
		{i64, dec(10, 2), "decimal(21,2)"}, {dec(10, 2), dec(5, 4), "decimal(12,4)"}, {dec(38, 0), dec(10, 5), "double"},
		{dec(10, 2), f32, "double"},
		{boo, i64, "string"}, {date, i64, "string"}, {str, i64, "string"}, {boo, boo, "boolean"},
		{date, tsUTC, "timestamp"}, {tsNTZ, tsUTC, "timestamp"}, {tsMS, tsNTZ, "timestamp_ntz"},
		{bin, bin, "binary"}, {bin, str, "error"}, {bin, i64, "error"},
		{arrow.ListOf(i32), arrow.ListOf(i64), "array<long>"}, {arrow.ListOf(i32), arrow.LargeListOf(f64), "array<double>"},
		{arrow.ListOf(i32), i32, "error"}, {arrow.StructOf(nullable("a", i32)), arrow.ListOf(i32), "error"},
		{arrow.StructOf(nullable("a", i32)), arrow.StructOf(nullable("A", i64), nullable("b", str)), "struct<a:long,b:string>"},
		{arrow.MapOf(str, i32), arrow.MapOf(str, f64), "map<string,double>"},
		{arrow.StructOf(nullable("a", i32)), str, "error"},
	}
	for _, tc := range tests {
		got, err := widen(tc.a, tc.b)
		name := "error"
		if err == nil {
			name = typeName(got)
		}
		if name != tc.want {
			t.Errorf("widen(%s, %s) = %s (%v), want %s", typeName(tc.a), typeName(tc.b), name, err, tc.want)
		}
		// widening is symmetric in the type it finds (up to the spelling of field names)
		if got2, err2 := widen(tc.b, tc.a); (err2 == nil) != (err == nil) || (err == nil && !strings.EqualFold(typeName(got2), name)) {
			t.Errorf("widen(%s, %s) differs from the other order", typeName(tc.b), typeName(tc.a))
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		path, override string
		want           Format
	}{
		{"a.csv", "", FormatCSV}, {"A.CSV", "", FormatCSV}, {"a.tsv", "", FormatTSV}, {"a.json", "", FormatNDJSON},
		{"a.ndjson", "", FormatNDJSON}, {"a.jsonl", "", FormatNDJSON}, {"a.parquet", "", FormatParquet},
		{"a.csv.gz", "", FormatCSV}, {"a.jsonl.zst", "", FormatNDJSON}, {"dir.v2/a.parquet.GZ", "", FormatParquet},
		{"a.txt", "csv", FormatCSV}, {"a.csv", "parquet", FormatParquet}, {"a.dat", "JSONL", FormatNDJSON},
		{"a.txt", "", ""}, {"a.gz", "", ""}, {"a", "", ""}, {"a.csv", "xml", ""},
	}
	for _, tc := range tests {
		got, err := DetectFormat(tc.path, tc.override)
		if tc.want == "" {
			if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("DetectFormat(%q, %q) = %v, %v; want ErrUnknownFormat naming the file", tc.path, tc.override, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("DetectFormat(%q, %q) = %v, %v; want %v", tc.path, tc.override, got, err, tc.want)
		}
	}
}

// TestInferSchemaEmpty: files with no columns to infer are an error naming them, not a schema of
// no columns that Open then refuses (found by FuzzCSV, corpus entry caf81e9797b19c76).
func TestInferSchemaEmpty(t *testing.T) {
	for _, f := range [][2]string{{"e.csv", ""}, {"e.ndjson", ""}, {"blank.ndjson", "\n\n"}} {
		p := filepath.Join(t.TempDir(), f[0])
		os.WriteFile(p, []byte(f[1]), 0o644)
		_, err := InferSchema(context.Background(), []string{p}, Options{SampleRows: -1})
		if err == nil || !strings.Contains(err.Error(), f[0]) || !strings.Contains(err.Error(), "no columns") {
			t.Errorf("%s: err = %v, want an error naming the file and saying it has no columns", f[0], err)
		}
	}
}
