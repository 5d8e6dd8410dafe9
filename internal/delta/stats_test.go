package delta

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

func TestParseStatsEmpty(t *testing.T) {
	for _, s := range []string{"", "  "} {
		st, err := ParseStats(s)
		if st != nil || err != nil {
			t.Errorf("ParseStats(%q) = %v, %v; want nil, nil", s, st, err)
		}
	}
	for _, s := range []string{"{", `{"numRecords":"x"}`, `{"minValues":3}`, `[]`, `{"tightBounds":1}`} {
		if _, err := ParseStats(s); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ParseStats(%q) error %v, want ErrCorrupt", s, err)
		}
	}
	st, err := ParseStats(`{"minValues":{"a":1}}`)
	if err != nil || st.NumRecords != -1 {
		t.Errorf("stats without numRecords: %+v, %v; want NumRecords -1", st, err)
	}
}

// Stats strings copied from the conformance logs (Spark, Databricks, delta-rs and kernel writers).
const (
	sparkAllTypes = `{"numRecords":200,"minValues":{"ByteType":-128,"ShortType":1,"IntegerType":1,"LongType":2,"FloatType":0.234,"DoubleType":234234.23,"decimal":123.52,"StringType":"1","DateType":"1970-01-01","TimestampType":"1970-01-01T06:30:23.523Z","TimestampNTZType":"1970-01-03T17:03:54.000","nested_struct":{"aa":"1","ac":{"aca":1}}},"maxValues":{"ByteType":127,"ShortType":199,"IntegerType":199,"LongType":200,"FloatType":46.566,"DoubleType":4.661261177E7,"decimal":24580.48,"StringType":"99","DateType":"1970-02-16","TimestampType":"1970-02-23T22:48:01.077Z","TimestampNTZType":"1971-06-24T11:56:06.000","nested_struct":{"aa":"99","ac":{"aca":199}}},"nullCount":{"ByteType":3,"ShortType":4,"IntegerType":9,"LongType":8,"FloatType":8,"DoubleType":4,"decimal":3,"BooleanType":3,"StringType":4,"BinaryType":4,"DateType":4,"TimestampType":4,"TimestampNTZType":3,"nested_struct":{"aa":14,"ac":{"aca":22}},"array_of_prims":200,"array_of_arrays":200,"array_of_structs":200,"map_of_prims":200,"map_of_rows":200,"map_of_arrays":200}}`
	kernelSpaced  = `{"numRecords": 5, "minValues": {"id": 2, "value": "value-11", "n": "non-null-mix"}, "maxValues": {"id": 14, "value": "value-8", "n": "non-null-mix"}, "nullCount": {"id": 0, "value": 0, "n": 3}}`
	edgeTimestamp = `{"numRecords":1,"minValues":{"BIG_DATE":"9999-12-31T00:00:00.000Z","NORMAL_DATE":"2022-01-01T00:00:00.000Z","SOME_VALUE":1},"maxValues":{"BIG_DATE":"9999-12-31T00:00:00.000Z","NORMAL_DATE":"2022-01-01T00:00:00.000Z","SOME_VALUE":1},"nullCount":{"BIG_DATE":0,"NORMAL_DATE":0,"SOME_VALUE":0}}`
	pacificTime   = `{"numRecords":2,"minValues":{"ts":"2021-01-01T00:00:00.000-08:00","d":"2021-01-01","big":9223372036854775807,"dec":1.00,"f":"NaN","g":"-Infinity"},"maxValues":{"ts":"2021-01-01T00:00:00.123-08:00","f":"Infinity"},"nullCount":{"ts":0},"tightBounds":false}`
)

func TestStatsTypedLookups(t *testing.T) {
	utc := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	ntz := &arrow.TimestampType{Unit: arrow.Microsecond}
	ts := func(s string, typ arrow.DataType) scalar.Scalar {
		us, err := ParseTimestampMicros(s, false)
		if err != nil {
			t.Fatal(err)
		}
		return scalar.NewTimestampScalar(arrow.Timestamp(us), typ)
	}
	dec := func(v int64, p, s int32) scalar.Scalar {
		return scalar.NewDecimal128Scalar(decimal128.FromI64(v), &arrow.Decimal128Type{Precision: p, Scale: s})
	}
	tests := []struct {
		stats   string
		max     bool
		path    string
		typ     DataType
		want    scalar.Scalar // nil: no value
		wantErr bool
	}{
		{sparkAllTypes, false, "ByteType", TypeByte, scalar.NewInt8Scalar(-128), false},
		{sparkAllTypes, true, "ShortType", TypeShort, scalar.NewInt16Scalar(199), false},
		{sparkAllTypes, true, "LongType", TypeLong, scalar.NewInt64Scalar(200), false},
		{sparkAllTypes, false, "FloatType", TypeFloat, scalar.NewFloat32Scalar(0.234), false},
		{sparkAllTypes, true, "DoubleType", TypeDouble, scalar.NewFloat64Scalar(46612611.77), false},
		{sparkAllTypes, false, "decimal", &DecimalType{Precision: 10, Scale: 2}, dec(12352, 10, 2), false},
		{sparkAllTypes, false, "StringType", TypeString, scalar.NewStringScalar("1"), false},
		{sparkAllTypes, true, "DateType", TypeDate, scalar.NewDate32Scalar(46), false},
		{sparkAllTypes, false, "TimestampType", TypeTimestamp, ts("1970-01-01 06:30:23.523", utc), false},
		{sparkAllTypes, true, "TimestampType", TypeTimestamp, ts("1970-02-23 22:48:01.077999", utc), false},
		{sparkAllTypes, false, "TimestampNTZType", TypeTimestampNTZ, ts("1970-01-03 17:03:54", ntz), false},
		{sparkAllTypes, true, "nested_struct.ac.aca", TypeInteger, scalar.NewInt32Scalar(199), false},
		{sparkAllTypes, false, "BooleanType", TypeBoolean, nil, false},
		{sparkAllTypes, false, "nested_struct.zz", TypeInteger, nil, false},
		{sparkAllTypes, false, "nested_struct", TypeInteger, nil, false},
		{kernelSpaced, true, "value", TypeString, scalar.NewStringScalar("value-8"), false},
		{edgeTimestamp, false, "BIG_DATE", TypeTimestamp, ts("9999-12-31 00:00:00", utc), false},
		{pacificTime, false, "ts", TypeTimestamp, ts("2021-01-01 08:00:00", utc), false},
		{pacificTime, true, "ts", TypeTimestamp, ts("2021-01-01 08:00:00.123999", utc), false},
		{pacificTime, false, "d", TypeDate, scalar.NewDate32Scalar(18628), false},
		{pacificTime, false, "big", TypeLong, scalar.NewInt64Scalar(math.MaxInt64), false},
		{pacificTime, false, "dec", &DecimalType{Precision: 5, Scale: 2}, dec(100, 5, 2), false},
		{pacificTime, false, "g", TypeDouble, scalar.NewFloat64Scalar(math.Inf(-1)), false},
		{pacificTime, true, "f", TypeFloat, scalar.NewFloat32Scalar(float32(math.Inf(1))), false},
		{pacificTime, false, "big", TypeInteger, nil, false}, // out of range for the type
		{pacificTime, false, "ts", TypeLong, nil, false},     // wrong type
	}
	for _, tc := range tests {
		st, err := ParseStats(tc.stats)
		if err != nil {
			t.Fatal(err)
		}
		path := strings.Split(tc.path, ".")
		var got scalar.Scalar
		var ok bool
		if tc.max {
			got, ok = st.MaxValue(path, tc.typ)
		} else {
			got, ok = st.MinValue(path, tc.typ)
		}
		if tc.want == nil {
			if ok {
				t.Errorf("%s max=%v: got %v, want none", tc.path, tc.max, got)
			}
			continue
		}
		if !ok {
			t.Errorf("%s max=%v: no value, want %v", tc.path, tc.max, tc.want)
			continue
		}
		if !scalar.Equals(got, tc.want) {
			t.Errorf("%s max=%v: got %v (%s), want %v (%s)", tc.path, tc.max, got, got.DataType(), tc.want, tc.want.DataType())
		}
	}
	st, _ := ParseStats(pacificTime)
	if st.NumRecords != 2 || st.TightBounds == nil || *st.TightBounds {
		t.Errorf("numRecords/tightBounds: %+v", st)
	}
	st, _ = ParseStats(sparkAllTypes)
	for path, want := range map[string]int64{"ByteType": 3, "nested_struct.ac.aca": 22, "map_of_arrays": 200, "BinaryType": 4} {
		if n, ok := st.NullCountOf(strings.Split(path, ".")); !ok || n != want {
			t.Errorf("NullCountOf(%s) = %d, %v; want %d", path, n, ok, want)
		}
	}
	if _, ok := st.NullCountOf([]string{"nested_struct"}); ok {
		t.Errorf("NullCountOf(struct) should have no value")
	}
	var nilStats *Stats
	if _, ok := nilStats.MinValue([]string{"a"}, TypeLong); ok {
		t.Errorf("nil stats gave a value")
	}
}

// TestStatsConformance parses the stats of every add action in the conformance tables, reads every
// min/max/nullCount present for the leaf columns of the table schema with the typed lookups, and
// checks that encoding and decoding again gives identical statistics.
func TestStatsConformance(t *testing.T) {
	files, values := 0, 0
	for _, tbl := range loadConformanceTables(t) {
		var schema *StructType
		for _, a := range tbl.actions {
			if a.Metadata != nil {
				s, err := a.Metadata.Schema()
				if err == nil {
					schema = s
				}
			}
			if a.Add == nil || a.Add.Stats == "" || schema == nil {
				continue
			}
			st, err := ParseStats(a.Add.Stats)
			if err != nil {
				t.Errorf("%s: %v", tbl.name, err)
				continue
			}
			files++
			if st.NumRecords < 0 {
				t.Errorf("%s: no numRecords in %s", tbl.name, a.Add.Stats)
			}
			var walk func(st *StructType, prefix []string)
			walk = func(s *StructType, prefix []string) {
				for _, f := range s.Fields {
					path := append(append([]string(nil), prefix...), f.PhysicalName())
					if sub, ok := f.Type.(*StructType); ok {
						walk(sub, path)
						continue
					}
					for _, m := range []struct {
						vals map[string]any
						get  func([]string, DataType) (scalar.Scalar, bool)
					}{{st.MinValues, st.MinValue}, {st.MaxValues, st.MaxValue}} {
						if v, ok := lookup(m.vals, path); ok {
							if _, ok := m.get(path, f.Type); !ok {
								t.Errorf("%s: %v = %v (%T) not readable as %s", tbl.name, path, v, v, f.Type)
							}
							values++
						}
					}
					if _, ok := lookup(st.NullCount, path); ok {
						if _, ok := st.NullCountOf(path); !ok {
							t.Errorf("%s: nullCount %v unreadable", tbl.name, path)
						}
					}
				}
			}
			walk(schema, nil)
			enc, err := st.JSON()
			if err != nil {
				t.Fatalf("%s: encode: %v", tbl.name, err)
			}
			st2, err := ParseStats(enc)
			if err != nil || !reflect.DeepEqual(st, st2) {
				t.Errorf("%s: round trip changed stats:\n%s\n%s (%v)", tbl.name, a.Add.Stats, enc, err)
			}
		}
	}
	if files < 50 || values < 100 {
		t.Errorf("only %d files and %d values checked", files, values)
	}
	t.Logf("checked %d stats strings, %d min/max values", files, values)
}

func TestStatsJSONOrderAndNumbers(t *testing.T) {
	tb := true
	st := &Stats{
		NumRecords:  3,
		MinValues:   map[string]any{"b": json.Number("4.661261177E7"), "a": map[string]any{"x": "<&>"}},
		MaxValues:   map[string]any{"b": json.Number("1.00")},
		NullCount:   map[string]any{"b": json.Number("0")},
		TightBounds: &tb,
	}
	got, err := st.JSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"numRecords":3,"minValues":{"a":{"x":"<&>"},"b":4.661261177E7},"maxValues":{"b":1.00},"nullCount":{"b":0},"tightBounds":true}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if s, _ := (&Stats{NumRecords: 0}).JSON(); s != `{"numRecords":0}` {
		t.Errorf("empty stats: %s", s)
	}
}

func TestStatsValue(t *testing.T) {
	utc := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	tests := []struct {
		in   scalar.Scalar
		want any
	}{
		{scalar.NewInt32Scalar(-5), json.Number("-5")},
		{scalar.NewFloat64Scalar(46612611.77), json.Number("4.661261177e+07")},
		{scalar.NewFloat32Scalar(0.234), json.Number("0.234")},
		{scalar.NewFloat64Scalar(math.NaN()), nil},
		{scalar.NewFloat64Scalar(math.Inf(1)), nil},
		{scalar.NewDecimal128Scalar(decimal128.FromI64(100), &arrow.Decimal128Type{Precision: 5, Scale: 2}), json.Number("1.00")},
		{scalar.NewDate32Scalar(-1), "1969-12-31"},
		{scalar.NewTimestampScalar(123456, utc), "1970-01-01T00:00:00.123Z"},
		{scalar.NewTimestampScalar(-1, utc), "1969-12-31T23:59:59.999Z"},
		{scalar.NewTimestampScalar(1500, &arrow.TimestampType{Unit: arrow.Microsecond}), "1970-01-01T00:00:00.001"},
		{scalar.NewStringScalar("x"), "x"},
		{scalar.NewBooleanScalar(true), nil},
		{scalar.MakeNullScalar(arrow.PrimitiveTypes.Int64), nil},
	}
	for _, tc := range tests {
		got, ok := StatsValue(tc.in)
		if tc.want == nil {
			if ok {
				t.Errorf("StatsValue(%v) = %v, want none", tc.in, got)
			}
			continue
		}
		if !ok || got != tc.want {
			t.Errorf("StatsValue(%v) = %#v, %v; want %#v", tc.in, got, ok, tc.want)
		}
	}
}

func TestTruncateStrings(t *testing.T) {
	long := strings.Repeat("a", 40)
	tests := []struct {
		in, min, max string
		n            int
	}{
		{"short", "short", "short", 32},
		{long, long[:32], long[:32] + "\ufffd", 32},
		{"abcd", "ab", "ab\ufffd", 2},
		{"日本語テキスト", "日本", "日本\ufffd", 2},
		{"ab\ufffd\ufffdc", "ab", "ab\ufffd\ufffd\ufffd", 2},
		{"ab\U0001F608c", "ab", "ab\U0001F608\ufffd", 2},
		{"ab\ufffd", "ab", "ab\ufffd\ufffd", 2},
	}
	for _, tc := range tests {
		if got := TruncateMinString(tc.in, tc.n); got != tc.min {
			t.Errorf("TruncateMinString(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.min)
		}
		got := TruncateMaxString(tc.in, tc.n)
		if got != tc.max {
			t.Errorf("TruncateMaxString(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.max)
		}
		if got < tc.in || TruncateMinString(tc.in, tc.n) > tc.in {
			t.Errorf("bounds of %q do not hold: min %q max %q", tc.in, tc.min, got)
		}
	}
}

// TestStatsNumRecords: StatsNumRecords reads numRecords as ParseStats does, and fails where
// ParseStats fails on numRecords or on the JSON itself.
func TestStatsNumRecords(t *testing.T) {
	tests := []struct {
		stats   string
		want    int64
		wantErr bool
	}{
		{stats: `{"numRecords":10,"minValues":{"a":{"b":1}},"maxValues":{"a":{"b":2}},"nullCount":{"a":{"b":0}}}`, want: 10},
		{stats: `{"minValues":{"a":1},"numRecords":0}`, want: 0},
		{stats: ``, want: -1},
		{stats: `  `, want: -1},
		{stats: `null`, want: -1},
		{stats: `{}`, want: -1},
		{stats: `{"numRecords":null}`, want: -1},
		{stats: `{"NumRecords":3}`, want: -1}, // keys are exact
		{stats: `{"numRecords":1,"numRecords":2}`, want: 2},
		{stats: `{"numRecords":9223372036854775807}`, want: 9223372036854775807},
		{stats: `{"numRecords":-5}`, want: -5},
		{stats: `{"numRecords":1.5}`, wantErr: true},
		{stats: `{"numRecords":"5"}`, wantErr: true},
		{stats: `{"numRecords":true}`, wantErr: true},
		{stats: `{"numRecords":[1]}`, wantErr: true},
		{stats: `{"numRecords":9223372036854775808}`, wantErr: true},
		{stats: `{"numRecords":1`, wantErr: true},
		{stats: `[1]`, wantErr: true},
	}
	for _, tc := range tests {
		got, err := StatsNumRecords(tc.stats)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("StatsNumRecords(%s) = %d, %v; want %d (error %v)", tc.stats, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("StatsNumRecords(%s): error %v is not ErrCorrupt", tc.stats, err)
		}
		// The same answer as the full parse.
		st, perr := ParseStats(tc.stats)
		if perr != nil {
			if err == nil {
				t.Errorf("ParseStats(%s) fails (%v), StatsNumRecords does not", tc.stats, perr)
			}
			continue
		}
		full := int64(-1)
		if st != nil {
			full = st.NumRecords
		}
		if err != nil || got != full {
			t.Errorf("StatsNumRecords(%s) = %d, %v; ParseStats says %d", tc.stats, got, err, full)
		}
	}
}
