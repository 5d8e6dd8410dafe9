package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// exact renders a value without the rounding or reformatting of Arrow's JSON output, so that
// tests see the stored bits: timestamps as their integer, decimals with all scale digits.
func exact(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return "null"
	}
	switch a := arr.(type) {
	case *array.Timestamp:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Date32:
		return a.Value(i).FormattedString()
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Decimal256:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal256Type).Scale)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Binary:
		return fmt.Sprintf("%q", a.Value(i))
	case *array.String:
		return strconv.Quote(a.Value(i))
	}
	b, _ := arr.(interface{ GetOneForMarshal(int) any })
	if b == nil {
		return arr.ValueStr(i)
	}
	var buf bytes.Buffer
	rec := array.NewRecordBatch(schemaOf(nullable("v", arr.DataType())), []arrow.Array{array.NewSlice(arr, int64(i), int64(i+1))}, 1)
	defer rec.Release()
	s := rowJSON(rec, 0)
	buf.WriteString(strings.TrimSuffix(strings.TrimPrefix(s, `{"v":`), "}"))
	return buf.String()
}

// convCase is one input value and what it must become: the exact rendering of the stored
// value, or "error: <kind>: <reason substring>".
type convCase struct {
	in   string // CSV field text, or a raw JSON value
	want string
}

// convert reads the inputs, one per record, into a column of type dt and returns, per input,
// its value or its rejection.
func convert(t *testing.T, format Format, dt arrow.DataType, nullableCol bool, inputs []string) []string {
	t.Helper()
	var content bytes.Buffer
	switch format {
	case FormatCSV:
		w := csv.NewWriter(&content)
		w.Write([]string{"n", "v"})
		for i, in := range inputs {
			w.Write([]string{strconv.Itoa(i), in})
		}
		w.Flush()
	case FormatNDJSON:
		for i, in := range inputs {
			fmt.Fprintf(&content, "{\"n\": %d, \"v\": %s}\n", i, in)
		}
	}
	path := writeTemp(t, "in."+string(format), content.String())
	target := schemaOf(required("n", arrow.PrimitiveTypes.Int64), arrow.Field{Name: "v", Type: dt, Nullable: nullableCol})
	q := &memQuarantine{}
	r, err := Open(context.Background(), path, target, Options{Quarantine: q})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := make([]string, len(inputs))
	for {
		rec, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ns := rec.Column(0).(*array.Int64)
		for i := 0; i < int(rec.NumRows()); i++ {
			out[ns.Value(i)] = exact(rec.Column(1), i)
		}
		rec.Release()
	}
	for _, rj := range q.got {
		n, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(rj.Raw, `{"n": `), ",", 2)[0])
		if err != nil {
			t.Fatalf("cannot tell the record of %+v", rj)
		}
		out[n] = fmt.Sprintf("error: %s: %s", rj.Kind, rj.Reason)
	}
	return out
}

func checkConversions(t *testing.T, format Format, dt arrow.DataType, cases []convCase) {
	t.Helper()
	inputs := make([]string, len(cases))
	for i, c := range cases {
		inputs[i] = c.in
	}
	got := convert(t, format, dt, true, inputs)
	for i, c := range cases {
		ok := got[i] == c.want
		if want, isErr := strings.CutPrefix(c.want, "error: "); isErr {
			kind, substr, _ := strings.Cut(want, ": ")
			ok = strings.HasPrefix(got[i], "error: "+kind+": ") && strings.Contains(got[i], substr)
		}
		if !ok {
			t.Errorf("%s %s: %q -> %s, want %s", format, typeName(dt), c.in, got[i], c.want)
		}
	}
}

func TestConvertCSV(t *testing.T) {
	tests := []struct {
		dt    arrow.DataType
		cases []convCase
	}{
		{arrow.FixedWidthTypes.Boolean, []convCase{
			{"true", "true"}, {"FALSE", "false"}, {"t", "true"}, {"F", "false"}, {"1", "true"}, {"0", "false"},
			{" true ", "true"}, {"", "null"}, {"NULL", "error: cast: cannot parse \"NULL\" as boolean"},
			{"yes", "error: cast: cannot parse \"yes\" as boolean"},
		}},
		{arrow.PrimitiveTypes.Int8, []convCase{
			{"127", "127"}, {"-128", "-128"}, {"128", "error: cast: value 128 is out of range for byte"},
			{"1.0", "error: cast: cannot parse \"1.0\" as byte"},
		}},
		{arrow.PrimitiveTypes.Int16, []convCase{{"-32768", "-32768"}, {"32768", "error: cast: out of range for short"}}},
		{arrow.PrimitiveTypes.Int32, []convCase{{"2147483647", "2147483647"}, {"2147483648", "error: cast: out of range for integer"}}},
		{arrow.PrimitiveTypes.Int64, []convCase{
			{"9223372036854775807", "9223372036854775807"}, {"-9223372036854775808", "-9223372036854775808"},
			{"9223372036854775808", "error: cast: value 9223372036854775808 is out of range for long"},
			{"007", "7"}, {"+5", "5"}, {" 42 ", "42"}, {"1e3", "error: cast: cannot parse \"1e3\" as long"},
			{"12,5x", `error: cast: cannot parse "12,5x" as long`}, {"0x10", "error: cast"},
		}},
		{arrow.PrimitiveTypes.Uint8, []convCase{{"255", "255"}, {"256", "error: cast: out of range"}, {"-1", "error: cast: out of range"}}},
		{arrow.PrimitiveTypes.Uint64, []convCase{{"18446744073709551615", "18446744073709551615"}}},
		{arrow.PrimitiveTypes.Float32, []convCase{{"1.5", "1.5"}, {"1e39", "error: cast: value 1e39 is out of range for float"}}},
		{arrow.PrimitiveTypes.Float64, []convCase{
			{"1.5", "1.5"}, {"-3e2", "-300"}, {"inf", "+Inf"}, {"-Infinity", "-Inf"}, {"NaN", "NaN"}, {".5", "0.5"},
			{"1e400", "error: cast: value 1e400 is out of range for double"}, {"0x1p-2", "error: cast"},
			{"1_000", "error: cast"}, {"12,5", `error: cast: cannot parse "12,5" as double`},
		}},
		{&arrow.Decimal128Type{Precision: 10, Scale: 2}, []convCase{
			{"12.5", "12.50"}, {"-0.01", "-0.01"}, {"12.500", "12.50"}, {"1e2", "100.00"}, {"1.5E-1", "0.15"},
			{"99999999.99", "99999999.99"}, {"100000000", "error: cast: out of range for decimal(10,2)"},
			{"1.005", "error: cast: value 1.005 would lose fractional digits as decimal(10,2)"},
			{"abc", "error: cast: cannot parse \"abc\" as decimal(10,2)"}, {".", "error: cast"}, {"1e", "error: cast"},
			{"1e999999999999", "error: cast: out of range"}, {"1e-999999999999", "error: cast: lose"},
			{"0e999999999999", "0.00"},
		}},
		{&arrow.Decimal128Type{Precision: 38, Scale: 0}, []convCase{
			{"12345678901234567890123456789012345678", "12345678901234567890123456789012345678"},
			{"-98765432109876543210", "-98765432109876543210"},
			{"123456789012345678901234567890123456789", "error: cast: out of range"},
		}},
		{&arrow.Decimal256Type{Precision: 50, Scale: 3}, []convCase{
			{"-1234567890123456789012345678901234567890.5", "-1234567890123456789012345678901234567890.500"},
		}},
		{arrow.BinaryTypes.String, []convCase{
			{"héllo", `"héllo"`}, {" padded ", `" padded "`}, {"NULL", `"NULL"`}, {"", "null"},
			{"a\"b", `"a\"b"`}, {"bad\xff", "error: encoding: invalid UTF-8"},
		}},
		{arrow.BinaryTypes.LargeString, []convCase{{"x", `"x"`}}},
		{arrow.BinaryTypes.Binary, []convCase{
			{"aGVsbG8=", `"hello"`}, {"aGVsbG8", `"hello"`}, {"not base64!", "error: cast: cannot parse \"not base64!\" as binary"},
		}},
		{arrow.FixedWidthTypes.Date32, []convCase{
			{"2024-02-29", "2024-02-29"}, {"1969-12-31", "1969-12-31"}, {"0001-01-01", "0001-01-01"},
			{"2023-02-29", "error: cast: cannot parse \"2023-02-29\" as date"}, {"2024-1-2", "error: cast"},
			{"2024-01-02 00:00:00", "error: cast"}, {"02/01/2024", "error: cast"},
		}},
		{tsUTC, []convCase{
			{"2024-01-02 03:04:05", "1704164645000000"},
			{"2024-01-02T03:04:05Z", "1704164645000000"},
			{"2024-01-02t03:04:05z", "1704164645000000"},
			{"2024-01-02 03:04:05.123456", "1704164645123456"},
			{"2024-01-02 03:04:05.1", "1704164645100000"},
			{"2024-01-02 05:04:05+02:00", "1704164645000000"},
			{"2024-01-02 05:04:05 +0200", "1704164645000000"},
			{"2024-01-01 22:04:05-05", "1704164645000000"},
			{"2024-01-02", "1704153600000000"},
			{"1969-12-31 23:59:59.999999", "-1"},
			{"2024-01-02 03:04:05.1234567", "error: cast: would lose sub-microsecond digits as timestamp"},
			{"2024-01-02 03:04:05.123456000", "1704164645123456"},
			{"2024-01-02 24:00:00", "error: cast: cannot parse \"2024-01-02 24:00:00\" as timestamp"},
			{"2024-01-02 03:04", "error: cast"}, {"2024-01-02 03:04:05+25:00", "error: cast"},
			{"2024-01-02 03:04:05 ", "1704164645000000"}, {"2024-01-02 03:04:05.", "error: cast"},
		}},
		{tsNTZ, []convCase{{"2024-01-02 03:04:05", "1704164645000000"}}},
		{&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, []convCase{
			{"2024-01-02 03:04:05.123456789", "1704164645123456789"},
			{"2300-01-01 00:00:00", "error: cast: value \"2300-01-01 00:00:00\" is out of range"},
		}},
		{&arrow.TimestampType{Unit: arrow.Second}, []convCase{{"2024-01-02 03:04:05.5", "error: cast: sub-second"}}},
		{arrow.ListOf(arrow.PrimitiveTypes.Int32), []convCase{
			{"[1, 2, null]", "[1,2,null]"}, {"[]", "[]"}, {"[1, \"x\"]", "error: cast: cannot parse \"x\" as integer"},
			{"1,2", "error: cast: cannot parse \"1,2\" as array<integer>"},
		}},
		{arrow.StructOf(nullable("a", arrow.PrimitiveTypes.Int64), nullable("b", arrow.BinaryTypes.String)), []convCase{
			{`{"a": 1, "B": "x"}`, `{"a":1,"b":"x"}`}, {`{}`, `{"a":null,"b":null}`},
			{`{"c": 1}`, "error: unknown field: unknown field \"c\""},
		}},
		{arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), []convCase{
			{`{"x": 1, "y": 2}`, `[{"key":"x","value":1},{"key":"y","value":2}]`},
		}},
		{arrow.Null, []convCase{{"", "null"}, {"x", "error: cast: cannot parse \"x\" as void"}}},
	}
	for _, tc := range tests {
		t.Run(typeName(tc.dt), func(t *testing.T) { checkConversions(t, FormatCSV, tc.dt, tc.cases) })
	}
}

func TestConvertNDJSON(t *testing.T) {
	tests := []struct {
		dt    arrow.DataType
		cases []convCase
	}{
		{arrow.FixedWidthTypes.Boolean, []convCase{
			{"true", "true"}, {"false", "false"}, {`"true"`, "true"}, {"null", "null"},
			{"1", "error: cast: cannot parse \"1\" as boolean"},
		}},
		{arrow.PrimitiveTypes.Int64, []convCase{
			{"42", "42"}, {"-7", "-7"}, {`"9223372036854775807"`, "9223372036854775807"},
			{"9223372036854775808", "error: cast: value 9223372036854775808 is out of range for long"},
			{"1.0", "error: cast: cannot parse \"1.0\" as long"}, {"1e3", "error: cast"},
			{"true", "error: cast"}, {"[1]", "error: cast"}, {`{"a":1}`, "error: cast"},
		}},
		{arrow.PrimitiveTypes.Int16, []convCase{{"40000", "error: cast: out of range for short"}}},
		{arrow.PrimitiveTypes.Float64, []convCase{
			{"1.5", "1.5"}, {"1e-3", "0.001"}, {"3", "3"}, {`"NaN"`, "NaN"}, {"1e400", "error: cast: out of range"},
		}},
		{&arrow.Decimal128Type{Precision: 20, Scale: 4}, []convCase{
			{"0.1", "0.1000"}, {"1234567890123456.7891", "1234567890123456.7891"}, {`"-0.0001"`, "-0.0001"},
			{"1.23456", "error: cast: would lose fractional digits"}, {"1e15", "1000000000000000.0000"},
			{"1e16", "error: cast: out of range for decimal(20,4)"},
		}},
		{arrow.BinaryTypes.String, []convCase{
			{`"a\"b\u00e9"`, `"a\"bé"`}, {"12.50", `"12.50"`}, {"true", `"true"`},
			{`{"x": [1, 2]}`, `"{\"x\":[1,2]}"`}, {`[ ]`, `"[]"`}, {`""`, `""`},
		}},
		{arrow.BinaryTypes.Binary, []convCase{{`"aGk="`, `"hi"`}, {"1", "error: cast"}}},
		{arrow.FixedWidthTypes.Date32, []convCase{{`"2024-03-01"`, "2024-03-01"}, {"20240301", "error: cast"}}},
		{tsUTC, []convCase{{`"2024-01-02T03:04:05.000001+00:00"`, "1704164645000001"}, {"1704164645", "error: cast"}}},
		{arrow.ListOf(arrow.BinaryTypes.String), []convCase{
			{`["a", null, "c"]`, `["a",null,"c"]`}, {"[]", "[]"}, {`"a"`, "error: cast: cannot parse \"\\\"a\\\"\" as array<string>"},
		}},
		{arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int64), []convCase{
			{"[1, 2]", "[1,2]"}, {"[1, null]", "error: null: null in non-nullable column of type long"},
		}},
		{arrow.LargeListOf(arrow.PrimitiveTypes.Int64), []convCase{{"[1, 2]", "[1,2]"}}},
		{arrow.StructOf(
			nullable("name", arrow.BinaryTypes.String),
			required("age", arrow.PrimitiveTypes.Int32),
			nullable("addr", arrow.StructOf(nullable("zip", arrow.BinaryTypes.String))),
		), []convCase{
			{`{"name": "ann", "age": 31, "addr": {"zip": "02134"}}`, `{"addr":{"zip":"02134"},"age":31,"name":"ann"}`},
			{`{"AGE": 5}`, `{"addr":null,"age":5,"name":null}`},
			{`{"name": "x"}`, "error: null: null in non-nullable column of type integer"},
			{`{"age": 1, "addr": {"zip": 2134, "city": "b"}}`, "error: unknown field: unknown field \"city\""},
			{`{"age": 1, "Age": 2}`, `error: syntax: key "Age" given twice`},
			{`{"age": "x"}`, `error: cast: cannot parse "x" as integer`},
		}},
		{arrow.MapOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String), []convCase{
			{`{"1": "a", "2": null}`, `[{"key":1,"value":"a"},{"key":2,"value":null}]`},
			{`{"x": "a"}`, `error: cast: cannot parse "x" as integer`},
		}},
	}
	for _, tc := range tests {
		t.Run(typeName(tc.dt), func(t *testing.T) { checkConversions(t, FormatNDJSON, tc.dt, tc.cases) })
	}
}

// TestNestedErrorPaths checks that errors inside nested values name the path to the value.
func TestNestedErrorPaths(t *testing.T) {
	dt := arrow.StructOf(nullable("items", arrow.ListOf(arrow.StructOf(nullable("qty", arrow.PrimitiveTypes.Int8)))))
	path := writeTemp(t, "n.ndjson", `{"o": {"items": [{"qty": 1}, {"qty": 300}]}}`+"\n")
	res := readFile(t, path, schemaOf(nullable("o", dt)), Options{})
	var re *RecordError
	if !errors.As(res.err, &re) {
		t.Fatalf("err = %v, want a RecordError", res.err)
	}
	if re.ColumnName != "o.items[1].qty" || re.Column != 1 || re.Value != "300" || re.Expected != "byte" {
		t.Errorf("got %+v", re)
	}
}
