package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var ordersTarget = schemaOf(
	required("order_id", arrow.PrimitiveTypes.Int64),
	nullable("customer", arrow.BinaryTypes.String),
	nullable("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
)

func TestReadCSV(t *testing.T) {
	target := schemaOf(
		required("order_id", arrow.PrimitiveTypes.Int64),
		nullable("Customer", arrow.BinaryTypes.String), // matched case-insensitively
		nullable("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		nullable("placed_at", tsUTC),
		nullable("paid", arrow.FixedWidthTypes.Boolean),
		nullable("day", arrow.FixedWidthTypes.Date32),
		nullable("note", arrow.BinaryTypes.String), // not in the file: all null
	)
	want := []string{
		`{"order_id":1,"Customer":"ann","amount":"12.5","placed_at":"2024-01-02T03:04:05Z","paid":true,"day":"2024-01-02","note":null}`,
		`{"order_id":2,"Customer":"bo","amount":"7","placed_at":"2024-01-02T03:04:05.5Z","paid":false,"day":"2024-01-03","note":null}`,
		`{"order_id":3,"Customer":"cy, jr","amount":"0.01","placed_at":"2024-01-02T03:04:05Z","paid":true,"day":null,"note":null}`,
		`{"order_id":4,"Customer":null,"amount":"100","placed_at":null,"paid":null,"day":"2024-12-31","note":null}`,
	}
	for _, ext := range []string{"", ".gz", ".zst"} {
		t.Run("compression="+ext, func(t *testing.T) {
			path := "testdata/orders.csv"
			if ext != "" {
				path = compressCopy(t, path, ext)
			}
			res := readFile(t, path, target, Options{})
			if res.err != nil {
				t.Fatal(res.err)
			}
			if !reflect.DeepEqual(res.rows, want) {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(res.rows, "\n"), strings.Join(want, "\n"))
			}
			if res.stats != (Stats{RowsRead: 4, RowsEmitted: 4}) {
				t.Errorf("stats %+v", res.stats)
			}
		})
	}
}

func TestReadCSVDialects(t *testing.T) {
	ab := schemaOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("b", arrow.BinaryTypes.String))
	tests := []struct {
		name    string
		file    string
		content string
		opts    Options
		want    []string
	}{
		{"tsv by extension", "testdata/tabs.tsv", "", Options{},
			[]string{`{"a":1,"b":"x y"}`, `{"a":2,"b":null}`}},
		{"semicolon", "x.csv", "a;b\n1;x,y\n", Options{Delimiter: ';'}, []string{`{"a":1,"b":"x,y"}`}},
		{"format override", "data.txt", "a,b\n1,x\n", Options{Format: FormatCSV}, []string{`{"a":1,"b":"x"}`}},
		{"BOM and CRLF", "x.csv", "\ufeffa,b\r\n1,x\r\n\r\n2,y\r\n", Options{}, []string{`{"a":1,"b":"x"}`, `{"a":2,"b":"y"}`}},
		{"no header, by position", "x.csv", "1,x\n2,\n", Options{NoHeader: true}, []string{`{"a":1,"b":"x"}`, `{"a":2,"b":null}`}},
		{"NULL as null", "x.csv", "a,b\nNULL,NULL\n,\n", Options{NullValues: []string{"", "NULL"}},
			[]string{`{"a":null,"b":null}`, `{"a":null,"b":null}`}},
		{"no null values", "x.csv", "a,b\n1,\n", Options{NullValues: []string{}}, []string{`{"a":1,"b":""}`}},
		{"header only", "x.csv", "a,b\n", Options{}, nil},
		{"empty file", "x.csv", "", Options{}, nil},
		{"columns in another order", "x.csv", "B,A\nx,1\n", Options{}, []string{`{"a":1,"b":"x"}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.file
			if tc.content != "" || !strings.HasPrefix(path, "testdata/") {
				path = writeTemp(t, tc.file, tc.content)
			}
			res := readFile(t, path, ab, tc.opts)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if !reflect.DeepEqual(res.rows, tc.want) {
				t.Errorf("rows %v, want %v", res.rows, tc.want)
			}
		})
	}
}

// TestOpenCSVSchemaMismatch: whole-file problems are errors from Open, not malformed records.
func TestOpenCSVSchemaMismatch(t *testing.T) {
	tests := []struct {
		name    string
		content string
		target  *arrow.Schema
		want    string
	}{
		{"extra column", "a,b,c\n1,2,3\n", schemaOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("b", arrow.PrimitiveTypes.Int64)),
			`column "c" (header column 3) is not in the target schema`},
		{"missing required", "a\n1\n", schemaOf(nullable("a", arrow.PrimitiveTypes.Int64), required("b", arrow.PrimitiveTypes.Int64)),
			`non-nullable column "b" is missing`},
		{"two headers for one column", "a,A\n1,2\n", schemaOf(nullable("a", arrow.PrimitiveTypes.Int64)),
			`header columns 1 and 2 are both named "A"`},
		{"unsupported type", "a\n1\n", schemaOf(nullable("a", arrow.FixedWidthTypes.MonthInterval)),
			`cannot convert into arrow type month_interval`},
		{"target columns alike", "a\n1\n", schemaOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("A", arrow.PrimitiveTypes.Int64)),
			`target columns "a" and "A" differ only in case`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "x.csv", tc.content)
			_, err := Open(context.Background(), path, tc.target, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want it to name %s and say %q", err, path, tc.want)
			}
			if !errors.Is(err, ErrSchemaMismatch) && !errors.Is(err, ErrSchemaConflict) {
				t.Errorf("err = %v, want ErrSchemaMismatch or ErrSchemaConflict", err)
			}
		})
	}
}

// TestCSVStrict checks each kind of malformed record, alone in a file after a good row, in the
// default strict mode: the read stops with a RecordError that locates it.
func TestCSVStrict(t *testing.T) {
	tests := []struct {
		name string
		row  string // the third line of the file
		want RecordError
		msg  string
	}{
		{"unparseable", `2,bo,"12,5x"`,
			RecordError{Line: 3, Row: 1, Column: 3, ColumnName: "amount", Value: "12,5x", Expected: "decimal(10,2)", Kind: KindCast,
				Reason: `cannot parse "12,5x" as decimal(10,2)`},
			`x.csv:3:3 (column "amount"): cannot parse "12,5x" as decimal(10,2)`},
		{"overflow", `99999999999999999999,bo,1`,
			RecordError{Line: 3, Row: 1, Column: 1, ColumnName: "order_id", Value: "99999999999999999999", Expected: "long", Kind: KindCast,
				Reason: `value 99999999999999999999 is out of range for long`},
			`x.csv:3:1 (column "order_id"): value 99999999999999999999 is out of range for long`},
		{"lossy decimal", `2,bo,1.005`,
			RecordError{Line: 3, Row: 1, Column: 3, ColumnName: "amount", Value: "1.005", Expected: "decimal(10,2)", Kind: KindCast,
				Reason: `value 1.005 would lose fractional digits as decimal(10,2)`},
			`x.csv:3:3 (column "amount"): value 1.005 would lose fractional digits as decimal(10,2)`},
		{"null in non-nullable", `,bo,1`,
			RecordError{Line: 3, Row: 1, Column: 1, ColumnName: "order_id", Expected: "long", Kind: KindNull,
				Reason: `null in non-nullable column of type long`},
			`x.csv:3:1 (column "order_id"): null in non-nullable column of type long`},
		{"too few fields", `2,bo`,
			RecordError{Line: 3, Row: 1, Column: 3, ColumnName: "amount", Kind: KindFieldCount, Reason: `expected 3 fields, found 2`},
			`x.csv:3:3 (column "amount"): expected 3 fields, found 2`},
		{"too many fields", `2,bo,1,extra`,
			RecordError{Line: 3, Row: 1, Column: 4, Value: "extra", Kind: KindFieldCount, Reason: `expected 3 fields, found 4`},
			`x.csv:3:4: expected 3 fields, found 4`},
		{"bad quote", `2,"b"o,1`,
			RecordError{Line: 3, Row: 1, Kind: KindSyntax, Reason: `extraneous or missing " in quoted-field (line 3, byte 5)`},
			`x.csv:3: extraneous or missing " in quoted-field (line 3, byte 5)`},
		{"invalid UTF-8", "2,b\xffo,1",
			RecordError{Line: 3, Row: 1, Column: 2, ColumnName: "customer", Value: "b\xffo", Expected: "string", Kind: KindEncoding,
				Reason: `invalid UTF-8 in "b\xffo"`},
			`x.csv:3:2 (column "customer"): invalid UTF-8 in "b\xffo"`},
		{"multi-line field", "2,bo,\"1\n.5\"",
			RecordError{Line: 3, Row: 1, Column: 3, ColumnName: "amount", Value: "1\n.5", Expected: "decimal(10,2)", Kind: KindCast,
				Reason: `cannot parse "1\n.5" as decimal(10,2)`},
			`x.csv:3:3 (column "amount"): cannot parse "1\n.5" as decimal(10,2)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "x.csv", "order_id,customer,amount\n1,ann,12.50\n"+tc.row+"\n3,cy,1\n")
			res := readFile(t, path, ordersTarget, Options{})
			var re *RecordError
			if !errors.As(res.err, &re) {
				t.Fatalf("err = %v, want a *RecordError", res.err)
			}
			if !errors.Is(res.err, ErrMalformedRecord) {
				t.Errorf("err does not wrap ErrMalformedRecord")
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

// TestStrictErrorIsSticky: after a malformed record, Next keeps returning the same error.
func TestStrictErrorIsSticky(t *testing.T) {
	path := writeTemp(t, "x.csv", "order_id,customer,amount\n1,a,x\n2,b,3\n")
	r, err := Open(context.Background(), path, ordersTarget, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err1 := r.Next(context.Background())
	_, err2 := r.Next(context.Background())
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v, want the same RecordError twice", err1, err2)
	}
}

// TestCSVQuarantine reads a file with every kind of malformed record into a quarantine file.
func TestCSVQuarantine(t *testing.T) {
	qpath := filepath.Join(t.TempDir(), "rejects.ndjson")
	q, err := NewFileQuarantine(qpath)
	if err != nil {
		t.Fatal(err)
	}
	res := readFile(t, "testdata/malformed.csv", ordersTarget, Options{Quarantine: q})
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantRows := []string{
		`{"order_id":1,"customer":"ann","amount":"12.5"}`,
		`{"order_id":8,"customer":null,"amount":"3"}`,
		`{"order_id":10,"customer":"jo","amount":"2"}`,
	}
	if !reflect.DeepEqual(res.rows, wantRows) {
		t.Errorf("rows %v, want %v", res.rows, wantRows)
	}
	if res.stats != (Stats{RowsRead: 12, RowsEmitted: 3, RowsQuarantined: 9}) {
		t.Errorf("stats %+v", res.stats)
	}
	want := []rejectedLine{
		{Line: 3, Row: 1, Column: "amount", ColumnNumber: 3, Kind: "cast", Reason: `cannot parse "12,5x" as decimal(10,2)`, Raw: `2,bo,"12,5x"`},
		{Line: 4, Row: 2, Column: "amount", ColumnNumber: 3, Kind: "field count", Reason: `expected 3 fields, found 2`, Raw: `3,cy`},
		{Line: 5, Row: 3, Kind: "syntax", Reason: `extraneous or missing " in quoted-field (line 5, byte 5)`, Raw: `4,"d"x,1`},
		{Line: 6, Row: 4, Column: "amount", ColumnNumber: 3, Kind: "cast", Reason: `cannot parse "abc" as decimal(10,2)`, Raw: `5,eve,abc`},
		{Line: 7, Row: 5, Column: "amount", ColumnNumber: 3, Kind: "cast", Reason: `value 1.005 would lose fractional digits as decimal(10,2)`, Raw: `6,fay,1.005`},
		{Line: 8, Row: 6, Column: "order_id", ColumnNumber: 1, Kind: "cast", Reason: `value 99999999999999999999 is out of range for long`, Raw: `99999999999999999999,gus,1`},
		{Line: 10, Row: 8, Column: "amount", ColumnNumber: 3, Kind: "cast", Reason: `cannot parse "7\n.5" as decimal(10,2)`, Raw: "9,ivy,\"7\n.5\""},
		{Line: 13, Row: 10, ColumnNumber: 4, Kind: "field count", Reason: `expected 3 fields, found 4`, Raw: `11,kim,3,extra`},
		{Line: 14, Row: 11, Column: "order_id", ColumnNumber: 1, Kind: "null", Reason: `null in non-nullable column of type long`, Raw: `,lee,1`},
	}
	got := readRejects(t, qpath)
	if len(got) != len(want) {
		t.Fatalf("%d rejects, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		want[i].File = "testdata/malformed.csv"
		want[i].TS = got[i].TS
		if got[i] != want[i] {
			t.Errorf("reject %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

// TestCSVLargeStreams generates a few hundred thousand rows and checks they come out in bounded
// batches, complete and in order, with a few malformed rows quarantined along the way.
func TestCSVLargeStreams(t *testing.T) {
	const rows = 300_000
	path := filepath.Join(t.TempDir(), "big.csv.gz")
	func() {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zw := newGzipWriter(f)
		w := bufio.NewWriter(zw)
		fmt.Fprintln(w, "id,name,score,at")
		for i := 0; i < rows; i++ {
			if i%100_000 == 99_999 {
				fmt.Fprintf(w, "%d,bad,not-a-number,2024-01-01\n", i)
				continue
			}
			fmt.Fprintf(w, "%d,name-%d,%d.%02d,2024-01-%02d %02d:00:00\n", i, i, i%1000, i%100, i%28+1, i%24)
		}
		w.Flush()
		zw.Close()
	}()
	target := schemaOf(required("id", arrow.PrimitiveTypes.Int64), nullable("name", arrow.BinaryTypes.String),
		nullable("score", arrow.PrimitiveTypes.Float64), nullable("at", tsUTC))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	q := &memQuarantine{}
	r, err := Open(context.Background(), path, target, Options{BatchRows: 10_000, Quarantine: q, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var next int64
	batches := 0
	for {
		rec, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batches++
		if rec.NumRows() > 10_000 {
			t.Fatalf("batch of %d rows", rec.NumRows())
		}
		ids := rec.Column(0)
		for i := 0; i < int(rec.NumRows()); i++ {
			if next%100_000 == 99_999 {
				next++
			}
			if got := ids.ValueStr(i); got != fmt.Sprint(next) {
				t.Fatalf("id %s, want %d", got, next)
			}
			next++
		}
		rec.Release()
	}
	st := r.Stats()
	if st.RowsRead != rows || st.RowsQuarantined != 3 || st.RowsEmitted != rows-3 || len(q.got) != 3 {
		t.Errorf("stats %+v, %d rejects", st, len(q.got))
	}
	if batches < rows/10_000 {
		t.Errorf("%d batches", batches)
	}
}

// TestBatchBytes: a byte budget cuts batches before BatchRows.
func TestBatchBytes(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "%d,%s\n", i, strings.Repeat("x", 100))
	}
	path := writeTemp(t, "x.csv", b.String())
	res := readFile(t, path, schemaOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("b", arrow.BinaryTypes.String)),
		Options{BatchBytes: 1000})
	if res.err != nil || len(res.rows) != 100 {
		t.Fatalf("%d rows, err %v", len(res.rows), res.err)
	}
	for _, n := range res.batches {
		if n > 10 {
			t.Fatalf("batches %v, want at most 10 rows each", res.batches)
		}
	}
}

// TestNextCancelled: a cancelled context stops Next without spoiling the reader.
func TestNextCancelled(t *testing.T) {
	r, err := Open(context.Background(), "testdata/orders.csv", schemaOf(
		nullable("order_id", arrow.PrimitiveTypes.Int64), nullable("customer", arrow.BinaryTypes.String),
		nullable("amount", arrow.BinaryTypes.String), nullable("placed_at", arrow.BinaryTypes.String),
		nullable("paid", arrow.BinaryTypes.String), nullable("day", arrow.BinaryTypes.String)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	rec, err := r.Next(context.Background())
	if err != nil || rec.NumRows() != 4 {
		t.Fatalf("after cancel: %v, %v", rec, err)
	}
	rec.Release()
}
