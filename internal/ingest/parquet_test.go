package ingest

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func TestReadParquet(t *testing.T) {
	fileSchema := schemaOf(
		required("id", arrow.PrimitiveTypes.Int32),
		nullable("Name", arrow.BinaryTypes.String),
		nullable("score", arrow.PrimitiveTypes.Float32),
		nullable("at", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}),
		nullable("tags", arrow.ListOf(arrow.BinaryTypes.String)),
		nullable("info", arrow.StructOf(nullable("B", arrow.BinaryTypes.String), nullable("a", arrow.PrimitiveTypes.Int32))),
		nullable("m", arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32)),
		nullable("amount", arrow.BinaryTypes.String),
	)
	rows := `[
		{"id": 1, "Name": "ann", "score": 1.5, "at": "2024-01-02T03:04:05.006Z", "tags": ["a", null],
		 "info": {"B": "x", "a": 7}, "m": [{"key": "k", "value": 1}], "amount": "12.34"},
		{"id": 2, "Name": null, "score": null, "at": null, "tags": null, "info": null, "m": null, "amount": null},
		{"id": 3, "Name": "cy", "score": -2, "at": "1969-12-31T23:59:59.999Z", "tags": [], "info": {"B": null, "a": null},
		 "m": [], "amount": "-0.5"}
	]`
	target := schemaOf(
		required("id", arrow.PrimitiveTypes.Int64),
		nullable("name", arrow.BinaryTypes.String),
		nullable("score", arrow.PrimitiveTypes.Float64),
		nullable("at", tsUTC),
		nullable("tags", arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.BinaryTypes.LargeString, Nullable: true})),
		nullable("info", arrow.StructOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("b", arrow.BinaryTypes.String),
			nullable("c", arrow.FixedWidthTypes.Boolean))),
		nullable("m", arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64)),
		nullable("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		nullable("missing", arrow.FixedWidthTypes.Date32),
	)
	want := []string{
		`{"id":1,"name":"ann","score":1.5,"at":"2024-01-02T03:04:05.006Z","tags":["a",null],"info":{"a":7,"b":"x","c":null},"m":[{"key":"k","value":1}],"amount":"12.34","missing":null}`,
		`{"id":2,"name":null,"score":null,"at":null,"tags":null,"info":null,"m":null,"amount":null,"missing":null}`,
		`{"id":3,"name":"cy","score":-2,"at":"1969-12-31T23:59:59.999Z","tags":[],"info":{"a":null,"b":null,"c":null},"m":[],"amount":"-0.5","missing":null}`,
	}
	path := writeParquet(t, "p.parquet", fileSchema, rows, 2)
	for _, p := range []string{path, compressCopy(t, path, ".gz"), compressCopy(t, path, ".zst")} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			res := readFile(t, p, target, Options{})
			if res.err != nil {
				t.Fatal(res.err)
			}
			if !reflect.DeepEqual(res.rows, want) {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(res.rows, "\n"), strings.Join(want, "\n"))
			}
			if res.stats != (Stats{RowsRead: 3, RowsEmitted: 3}) {
				t.Errorf("stats %+v", res.stats)
			}
		})
	}
	t.Run("exact types pass through", func(t *testing.T) {
		res := readFile(t, path, fileSchema, Options{})
		if res.err != nil || len(res.rows) != 3 {
			t.Fatalf("%d rows, %v", len(res.rows), res.err)
		}
	})
}

func TestParquetStrict(t *testing.T) {
	tests := []struct {
		name   string
		file   *arrow.Schema
		rows   string
		target *arrow.Schema
		want   RecordError
		msg    string
	}{
		{"overflow", schemaOf(nullable("v", arrow.PrimitiveTypes.Int64)), `[{"v": 1}, {"v": 300}, {"v": 3}]`,
			schemaOf(nullable("v", arrow.PrimitiveTypes.Int8)),
			RecordError{Row: 1, Column: 1, ColumnName: "v", Value: "300", Expected: "byte", Kind: KindCast},
			`p.parquet:row 1:1 (column "v"): cannot convert long 300 to byte`},
		{"unparseable string", schemaOf(nullable("k", arrow.BinaryTypes.String), nullable("v", arrow.BinaryTypes.String)),
			`[{"k": "a", "v": "1.5"}, {"k": "b", "v": "x"}]`,
			schemaOf(nullable("k", arrow.BinaryTypes.String), nullable("v", arrow.PrimitiveTypes.Float64)),
			RecordError{Row: 1, Column: 2, ColumnName: "v", Value: "x", Expected: "double", Kind: KindCast},
			`p.parquet:row 1:2 (column "v"): cannot parse "x" as double`},
		{"timestamp truncation", schemaOf(nullable("t", &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"})),
			`[{"t": "2024-01-01T00:00:00.000001Z"}, {"t": "2024-01-01T00:00:00.0000001Z"}]`,
			schemaOf(nullable("t", tsUTC)),
			RecordError{Row: 1, Column: 1, ColumnName: "t", Expected: "timestamp", Kind: KindCast, Value: "2024-01-01T00:00:00.0000001Z"},
			`p.parquet:row 1:1 (column "t"): cannot convert timestamp`},
		{"null in non-nullable", schemaOf(nullable("v", arrow.PrimitiveTypes.Int64)), `[{"v": 1}, {"v": null}]`,
			schemaOf(required("v", arrow.PrimitiveTypes.Int64)),
			RecordError{Row: 1, Column: 1, ColumnName: "v", Expected: "long", Kind: KindNull,
				Reason: "null in non-nullable column of type long"},
			`p.parquet:row 1:1 (column "v"): null in non-nullable column of type long`},
		{"null in non-nullable nested field", schemaOf(nullable("s", arrow.StructOf(nullable("x", arrow.PrimitiveTypes.Int64)))),
			`[{"s": {"x": 1}}, {"s": null}, {"s": {"x": null}}]`,
			schemaOf(nullable("s", arrow.StructOf(required("x", arrow.PrimitiveTypes.Int64)))),
			RecordError{Row: 2, Column: 1, ColumnName: "s.x", Expected: "long", Kind: KindNull,
				Reason: "null in non-nullable column of type long"},
			`p.parquet:row 2:1 (column "s.x"): null in non-nullable column of type long`},
		{"cast inside a list", schemaOf(nullable("l", arrow.ListOf(arrow.PrimitiveTypes.Int32))),
			`[{"l": [1]}, {"l": [2, 70000]}]`,
			schemaOf(nullable("l", arrow.ListOf(arrow.PrimitiveTypes.Int16))),
			RecordError{Row: 1, Column: 1, ColumnName: "l[]", Expected: "short", Kind: KindCast},
			`p.parquet:row 1:1 (column "l[]"): cannot convert integer to short`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeParquet(t, "p.parquet", tc.file, tc.rows, 100)
			res := readFile(t, path, tc.target, Options{})
			var re *RecordError
			if !errors.As(res.err, &re) {
				t.Fatalf("err = %v, want a *RecordError", res.err)
			}
			tc.want.File = path
			got := *re
			if tc.want.Reason == "" {
				got.Reason = ""
			}
			if tc.want.Value == "" {
				got.Value = ""
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", *re, tc.want)
			}
			if !strings.HasPrefix(re.Error(), filepath.Join(filepath.Dir(path), tc.msg)) {
				t.Errorf("message %q\nwant prefix %q", re.Error(), tc.msg)
			}
		})
	}
}

func TestParquetQuarantine(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < 10; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		v := "1"
		switch i {
		case 2, 5:
			v = "1000"
		case 9:
			v = "null"
		}
		b.WriteString(`{"id": ` + string(rune('0'+i)) + `, "v": ` + v + `}`)
	}
	b.WriteString("]")
	path := writeParquet(t, "p.parquet", schemaOf(required("id", arrow.PrimitiveTypes.Int64), nullable("v", arrow.PrimitiveTypes.Int64)), b.String(), 3)
	q := &memQuarantine{}
	res := readFile(t, path, schemaOf(required("id", arrow.PrimitiveTypes.Int64), required("v", arrow.PrimitiveTypes.Int8)),
		Options{BatchRows: 4, Quarantine: q})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.stats != (Stats{RowsRead: 10, RowsEmitted: 7, RowsQuarantined: 3}) {
		t.Errorf("stats %+v", res.stats)
	}
	var ids []string
	for _, r := range res.rows {
		ids = append(ids, strings.SplitN(strings.TrimPrefix(r, `{"id":`), ",", 2)[0])
	}
	if got := strings.Join(ids, ","); got != "0,1,3,4,6,7,8" {
		t.Errorf("ids %s", got)
	}
	want := []Rejected{
		{File: path, Row: 2, Column: 2, ColumnName: "v", Kind: KindCast, Raw: `{"id":2,"v":1000}`},
		{File: path, Row: 5, Column: 2, ColumnName: "v", Kind: KindCast, Raw: `{"id":5,"v":1000}`},
		{File: path, Row: 9, Column: 2, ColumnName: "v", Kind: KindNull, Raw: `{"id":9,"v":null}`,
			Reason: "null in non-nullable column of type byte"},
	}
	if len(q.got) != len(want) {
		t.Fatalf("rejects %+v", q.got)
	}
	for i := range want {
		g := q.got[i]
		if want[i].Reason == "" {
			if !strings.HasPrefix(g.Reason, "cannot convert long 1000 to byte") {
				t.Errorf("reason %q", g.Reason)
			}
			g.Reason = ""
		}
		if g != want[i] {
			t.Errorf("reject %d: %+v, want %+v", i, g, want[i])
		}
	}
}

func TestOpenParquetSchemaMismatch(t *testing.T) {
	path := writeParquet(t, "p.parquet", schemaOf(nullable("a", arrow.PrimitiveTypes.Int64),
		nullable("s", arrow.StructOf(nullable("x", arrow.PrimitiveTypes.Int64)))), `[{"a": 1, "s": {"x": 1}}]`, 10)
	tests := []struct {
		name   string
		target *arrow.Schema
		want   string
	}{
		{"extra column", schemaOf(nullable("s", arrow.StructOf(nullable("x", arrow.PrimitiveTypes.Int64)))),
			`column "a" is not in the target schema`},
		{"extra nested field", schemaOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("s", arrow.StructOf(nullable("y", arrow.PrimitiveTypes.Int64)))),
			`column "s.x" is not in the target schema`},
		{"missing required", schemaOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("s", arrow.StructOf(nullable("x", arrow.PrimitiveTypes.Int64))),
			required("b", arrow.PrimitiveTypes.Int64)), `non-nullable column "b" is missing`},
		{"nested against scalar", schemaOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("s", arrow.PrimitiveTypes.Int64)),
			`column "s" is struct<x:long> in the file but long in the target`},
		{"no cast", schemaOf(nullable("a", arrow.FixedWidthTypes.MonthInterval), nullable("s", arrow.StructOf(nullable("x", arrow.PrimitiveTypes.Int64)))),
			`column "a": cannot convert long to month_interval`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), path, tc.target, Options{})
			if !errors.Is(err, ErrSchemaMismatch) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want ErrSchemaMismatch naming %s and saying %q", err, path, tc.want)
			}
		})
	}
	t.Run("not parquet", func(t *testing.T) {
		bad := writeTemp(t, "x.parquet", "this is not parquet at all")
		if _, err := Open(context.Background(), bad, schemaOf(nullable("a", arrow.PrimitiveTypes.Int64)), Options{}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("err = %v", err)
		}
	})
}

// TestParquetTextColumns: string columns going into other types are parsed with the same rules
// as CSV text, nested types from JSON text included.
func TestParquetTextColumns(t *testing.T) {
	path := writeParquet(t, "p.parquet", schemaOf(nullable("at", arrow.BinaryTypes.String), nullable("s", arrow.BinaryTypes.String),
		nullable("d", arrow.BinaryTypes.LargeString)),
		`[{"at": "2024-01-02 05:04:05+02:00", "s": "{\"x\": [1, 2]}", "d": "12.5"}, {"at": null, "s": null, "d": null}]`, 10)
	target := schemaOf(nullable("at", tsUTC), nullable("s", arrow.StructOf(nullable("x", arrow.ListOf(arrow.PrimitiveTypes.Int16)))),
		nullable("d", &arrow.Decimal128Type{Precision: 5, Scale: 2}))
	res := readFile(t, path, target, Options{})
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := []string{
		`{"at":"2024-01-02T03:04:05Z","s":{"x":[1,2]},"d":"12.5"}`,
		`{"at":null,"s":null,"d":null}`,
	}
	if !reflect.DeepEqual(res.rows, want) {
		t.Errorf("rows %v, want %v", res.rows, want)
	}
}
