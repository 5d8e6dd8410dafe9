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

func TestReadNDJSON(t *testing.T) {
	target := schemaOf(
		required("id", arrow.PrimitiveTypes.Int32),
		nullable("user", arrow.StructOf(
			nullable("name", arrow.BinaryTypes.String),
			nullable("age", arrow.PrimitiveTypes.Int16),
			nullable("email", arrow.BinaryTypes.String))),
		nullable("tags", arrow.ListOf(arrow.BinaryTypes.String)),
		nullable("amount", &arrow.Decimal128Type{Precision: 30, Scale: 1}),
		nullable("when", arrow.FixedWidthTypes.Date32),
		nullable("note", arrow.BinaryTypes.String),
		nullable("extra", arrow.FixedWidthTypes.Boolean),
	)
	want := []string{
		`{"id":1,"user":{"age":31,"email":null,"name":"ann"},"tags":["a","b"],"amount":"10","when":"2024-01-02","note":null,"extra":null}`,
		`{"id":2,"user":{"age":null,"email":"bo@example.com","name":"bo"},"tags":[],"amount":"2.5","when":"2024-01-03","note":null,"extra":null}`,
		`{"id":3,"user":null,"tags":null,"amount":"12345678901234567890","when":null,"note":null,"extra":true}`,
	}
	for _, ext := range []string{"", ".gz", ".zst"} {
		t.Run("compression="+ext, func(t *testing.T) {
			path := "testdata/events.ndjson"
			if ext != "" {
				path = compressCopy(t, path, ext)
			}
			res := readFile(t, path, target, Options{BatchRows: 2})
			if res.err != nil {
				t.Fatal(res.err)
			}
			if !reflect.DeepEqual(res.rows, want) {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(res.rows, "\n"), strings.Join(want, "\n"))
			}
			if !reflect.DeepEqual(res.batches, []int{2, 1}) || res.stats != (Stats{RowsRead: 3, RowsEmitted: 3}) {
				t.Errorf("batches %v, stats %+v", res.batches, res.stats)
			}
		})
	}
}

func TestNDJSONArrayDocument(t *testing.T) {
	path := writeTemp(t, "x.json", "  \n[{\"a\": 1},\n {\"a\": 2}]\n")
	target := schemaOf(nullable("a", arrow.PrimitiveTypes.Int64))
	if _, err := Open(context.Background(), path, target, Options{}); !errors.Is(err, ErrSchemaMismatch) || !strings.Contains(err.Error(), "JSON array document") {
		t.Errorf("Open: %v", err)
	}
	if _, err := InferSchema(context.Background(), []string{path}, Options{}); !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("InferSchema: %v", err)
	}
}

// TestNDJSONStrict checks each kind of malformed line, on line 2 after a good one.
func TestNDJSONStrict(t *testing.T) {
	tests := []struct {
		name string
		line string
		opts Options
		want RecordError
		msg  string
	}{
		{"unparseable", `{"order_id": 2, "customer": "bo", "amount": "12,5x"}`, Options{},
			RecordError{Line: 2, Row: 1, Column: 3, ColumnName: "amount", Value: "12,5x", Expected: "decimal(10,2)", Kind: KindCast,
				Reason: `cannot parse "12,5x" as decimal(10,2)`},
			`x.ndjson:2:3 (column "amount"): cannot parse "12,5x" as decimal(10,2)`},
		{"overflow", `{"order_id": 9223372036854775808}`, Options{},
			RecordError{Line: 2, Row: 1, Column: 1, ColumnName: "order_id", Value: "9223372036854775808", Expected: "long", Kind: KindCast,
				Reason: `value 9223372036854775808 is out of range for long`},
			`x.ndjson:2:1 (column "order_id"): value 9223372036854775808 is out of range for long`},
		{"explicit null", `{"order_id": null}`, Options{},
			RecordError{Line: 2, Row: 1, Column: 1, ColumnName: "order_id", Expected: "long", Kind: KindNull,
				Reason: `null in non-nullable column of type long`},
			`x.ndjson:2:1 (column "order_id"): null in non-nullable column of type long`},
		{"missing key", `{"customer": "x"}`, Options{},
			RecordError{Line: 2, Row: 1, Column: 1, ColumnName: "order_id", Expected: "long", Kind: KindNull,
				Reason: `null in non-nullable column of type long`},
			`x.ndjson:2:1 (column "order_id"): null in non-nullable column of type long`},
		{"malformed JSON", `{"order_id": 2,}`, Options{},
			RecordError{Line: 2, Row: 1, Column: 16, Value: `{"order_id": 2,}`, Kind: KindSyntax,
				Reason: `malformed JSON: invalid character '}' looking for beginning of object key string`},
			`x.ndjson:2:16: malformed JSON: invalid character '}' looking for beginning of object key string`},
		{"not an object", `[1, 2]`, Options{},
			RecordError{Line: 2, Row: 1, Column: 1, Value: `[1, 2]`, Kind: KindSyntax, Reason: `line is not a JSON object`},
			`x.ndjson:2:1: line is not a JSON object`},
		{"unknown key", `{"order_id": 2, "colour": "red"}`, Options{},
			RecordError{Line: 2, Row: 1, ColumnName: "colour", Value: `"red"`, Kind: KindUnknownField,
				Reason: `unknown field "colour": the target has no such column`},
			`x.ndjson:2 (column "colour"): unknown field "colour": the target has no such column`},
		{"key twice", `{"order_id": 2, "ORDER_ID": 3}`, Options{},
			RecordError{Line: 2, Row: 1, Column: 1, ColumnName: "order_id", Value: "ORDER_ID", Kind: KindSyntax,
				Reason: `key "ORDER_ID" given twice`},
			`x.ndjson:2:1 (column "order_id"): key "ORDER_ID" given twice`},
		{"invalid UTF-8", "{\"order_id\": 2, \"customer\": \"\xff\"}", Options{},
			RecordError{Line: 2, Row: 1, Value: "{\"order_id\": 2, \"customer\": \"\xff\"}", Kind: KindEncoding, Reason: `invalid UTF-8`},
			`x.ndjson:2: invalid UTF-8`},
		{"line too long", `{"order_id": 2, "customer": "` + strings.Repeat("x", 100) + `"}`, Options{MaxLineBytes: 64},
			RecordError{Line: 2, Row: 1, Value: `{"order_id": 2, "customer": "` + strings.Repeat("x", 35) + "...", Kind: KindSyntax,
				Reason: `line longer than 64 bytes`},
			`x.ndjson:2: line longer than 64 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "x.ndjson", `{"order_id": 1}`+"\n"+tc.line+"\n"+`{"order_id": 3}`+"\n")
			res := readFile(t, path, ordersTarget, tc.opts)
			var re *RecordError
			if !errors.As(res.err, &re) {
				t.Fatalf("err = %v, want a *RecordError", res.err)
			}
			tc.want.File = path
			if *re != tc.want {
				t.Errorf("got  %+v\nwant %+v", *re, tc.want)
			}
			if msg := filepath.Join(filepath.Dir(path), tc.msg); re.Error() != msg {
				t.Errorf("message %q\nwant    %q", re.Error(), msg)
			}
		})
	}
}

func TestNDJSONQuarantine(t *testing.T) {
	q := &memQuarantine{}
	res := readFile(t, "testdata/malformed.ndjson", ordersTarget, Options{Quarantine: q})
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantRows := []string{
		`{"order_id":1,"customer":"ann","amount":"12.5"}`,
		`{"order_id":10,"customer":"jo","amount":"2"}`,
	}
	if !reflect.DeepEqual(res.rows, wantRows) {
		t.Errorf("rows %v, want %v", res.rows, wantRows)
	}
	if res.stats != (Stats{RowsRead: 9, RowsEmitted: 2, RowsQuarantined: 7}) {
		t.Errorf("stats %+v", res.stats)
	}
	type brief struct {
		line   int64
		kind   ErrorKind
		column string
		reason string
	}
	want := []brief{
		{2, KindCast, "amount", `cannot parse "12,5x" as decimal(10,2)`},
		{3, KindSyntax, "", "malformed JSON: unexpected end of JSON input"},
		{4, KindSyntax, "", "line is not a JSON object"},
		{5, KindUnknownField, "colour", `unknown field "colour": the target has no such column`},
		{6, KindCast, "order_id", "value 99999999999999999999 is out of range for long"},
		{7, KindNull, "order_id", "null in non-nullable column of type long"},
		{8, KindCast, "amount", "value 1.005 would lose fractional digits as decimal(10,2)"},
	}
	if len(q.got) != len(want) {
		t.Fatalf("%d rejects, want %d: %+v", len(q.got), len(want), q.got)
	}
	lines := strings.Split(readString(t, "testdata/malformed.ndjson"), "\n")
	for i, w := range want {
		g := q.got[i]
		if g.Line != w.line || g.Kind != w.kind || g.ColumnName != w.column || g.Reason != w.reason || g.Raw != lines[w.line-1] {
			t.Errorf("reject %d: %+v, want %+v", i, g, w)
		}
	}
}
