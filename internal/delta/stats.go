package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Stats is the per-file statistics of an add or remove action (the protocol's "Per-file
// Statistics"), as JSON in the action's stats field.
//
// MinValues, MaxValues and NullCount mirror the data schema: a nested struct column is a nested
// map[string]any, keyed by physical column names. Leaf values are kept exactly as the JSON has them:
// numbers as json.Number (so "4.661261177E7", "1.00" and 2^63-1 survive a round trip), strings as
// string, booleans as bool. Use MinValue, MaxValue and NullCountOf for typed access.
type Stats struct {
	// NumRecords is the number of rows of the data file (deletion vectors not applied), or -1 when
	// the statistics do not say.
	NumRecords int64
	// MinValues, MaxValues: lower and upper bounds per column (see the protocol for truncation).
	MinValues, MaxValues map[string]any
	// NullCount: the number of nulls per column; for a nested leaf it counts rows where the leaf
	// or any enclosing struct is null.
	NullCount map[string]any
	// TightBounds is nil when absent, which means true.
	TightBounds *bool
}

// StatsNumRecords reads only numRecords from a stats JSON string: what ParseStats(s).NumRecords
// says (-1 when s is empty or has no numRecords), without decoding the column statistics, which
// costs a few allocations instead of one per value. The other fields are not checked.
func StatsNumRecords(s string) (int64, error) {
	if strings.TrimSpace(s) == "" {
		return -1, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return 0, fmt.Errorf("%w: stats %s: %v", ErrCorrupt, abbreviate(s), err)
	}
	v, ok := raw["numRecords"]
	if !ok || string(v) == "null" {
		return -1, nil
	}
	var n json.Number
	if v[0] == '"' || json.Unmarshal(v, &n) != nil {
		return 0, fmt.Errorf("%w: stats %s: numRecords is not a number", ErrCorrupt, abbreviate(s))
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%w: stats %s: numRecords: %v", ErrCorrupt, abbreviate(s), err)
	}
	return i, nil
}

// ParseStats decodes an add action's stats string. An empty string means the file has no
// statistics and gives (nil, nil). Malformed JSON is an error wrapping ErrCorrupt.
func ParseStats(s string) (*Stats, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: stats %s: %v", ErrCorrupt, abbreviate(s), err)
	}
	st := &Stats{NumRecords: -1}
	if v, ok := raw["numRecords"]; ok && v != nil {
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%w: stats %s: numRecords is not a number", ErrCorrupt, abbreviate(s))
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("%w: stats %s: numRecords: %v", ErrCorrupt, abbreviate(s), err)
		}
		st.NumRecords = i
	}
	var err error
	if st.MinValues, err = statsObject(raw, "minValues"); err != nil {
		return nil, fmt.Errorf("%w: stats %s: %v", ErrCorrupt, abbreviate(s), err)
	}
	if st.MaxValues, err = statsObject(raw, "maxValues"); err != nil {
		return nil, fmt.Errorf("%w: stats %s: %v", ErrCorrupt, abbreviate(s), err)
	}
	if st.NullCount, err = statsObject(raw, "nullCount"); err != nil {
		return nil, fmt.Errorf("%w: stats %s: %v", ErrCorrupt, abbreviate(s), err)
	}
	if v, ok := raw["tightBounds"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%w: stats %s: tightBounds is not a boolean", ErrCorrupt, abbreviate(s))
		}
		st.TightBounds = &b
	}
	return st, nil
}

func statsObject(raw map[string]any, key string) (map[string]any, error) {
	v, ok := raw[key]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", key)
	}
	return m, nil
}

func abbreviate(s string) string {
	if len(s) > 120 {
		return strconv.Quote(s[:120] + "...")
	}
	return strconv.Quote(s)
}

// MarshalJSON writes the statistics as engines do: numRecords, then minValues, maxValues,
// nullCount (each omitted when nil) and tightBounds (omitted when nil). Keys inside the maps are
// sorted; json.Number values are written verbatim.
func (s *Stats) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	field := func(name string, v any) error {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(name))
		b.WriteByte(':')
		var vb bytes.Buffer
		enc := json.NewEncoder(&vb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("stats %s: %w", name, err)
		}
		b.Write(bytes.TrimRight(vb.Bytes(), "\n"))
		return nil
	}
	if s.NumRecords >= 0 {
		if err := field("numRecords", s.NumRecords); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		m    map[string]any
	}{{"minValues", s.MinValues}, {"maxValues", s.MaxValues}, {"nullCount", s.NullCount}} {
		if f.m != nil {
			if err := field(f.name, f.m); err != nil {
				return nil, err
			}
		}
	}
	if s.TightBounds != nil {
		if err := field("tightBounds", *s.TightBounds); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// JSON renders the statistics as the string of an add action's stats field.
func (s *Stats) JSON() (string, error) {
	b, err := s.MarshalJSON()
	return string(b), err
}

// lookup walks a nested stats object along path.
func lookup(m map[string]any, path []string) (any, bool) {
	if m == nil || len(path) == 0 {
		return nil, false
	}
	var cur any = m
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = obj[p]
		if !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// MinValue returns the lower bound recorded for the column at path (physical names, outermost
// first), parsed as type t, and whether there is a usable one. Strings are prefixes (a valid lower
// bound); timestamps are as written (truncated down to milliseconds by most writers, which keeps
// them valid lower bounds). A missing or unparseable value gives false.
func (s *Stats) MinValue(path []string, t DataType) (scalar.Scalar, bool) {
	if s == nil {
		return nil, false
	}
	v, ok := lookup(s.MinValues, path)
	if !ok {
		return nil, false
	}
	sc, err := ParseStatsValue(v, t)
	return sc, err == nil
}

// MaxValue returns an upper bound for the column at path, parsed as type t, and whether there is a
// usable one. Because writers truncate timestamp statistics down to milliseconds, the value for
// timestamp and timestamp_ntz columns is the recorded one plus 999 microseconds, so that it bounds
// every value of the file (as delta-kernel does). String maxima written by Spark and Strata carry
// a tie-breaker suffix when truncated and are valid upper bounds as they are.
func (s *Stats) MaxValue(path []string, t DataType) (scalar.Scalar, bool) {
	if s == nil {
		return nil, false
	}
	v, ok := lookup(s.MaxValues, path)
	if !ok {
		return nil, false
	}
	sc, err := ParseStatsValue(v, t)
	if err != nil {
		return nil, false
	}
	if ts, ok := sc.(*scalar.Timestamp); ok && (t == TypeTimestamp || t == TypeTimestampNTZ) {
		if int64(ts.Value) > math.MaxInt64-999 {
			return nil, false
		}
		return scalar.NewTimestampScalar(ts.Value+999, ts.Type), true
	}
	return sc, true
}

// NullCountOf returns the null count recorded for the column at path and whether there is one.
// For array and map columns engines record the number of null arrays or maps.
func (s *Stats) NullCountOf(path []string) (int64, bool) {
	if s == nil {
		return 0, false
	}
	v, ok := lookup(s.NullCount, path)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil && i >= 0
	case float64:
		return int64(n), n >= 0 && n == math.Trunc(n)
	case int64:
		return n, n >= 0
	}
	return 0, false
}

// ParseStatsValue converts one JSON statistics value (as decoded with UseNumber, or as produced by
// StatsValue) to a scalar of ToArrowType(t). It accepts what engines write: numbers for numeric
// and decimal types (Java renderings such as "4.661261177E7" included) and the strings "NaN",
// "Infinity", "-Infinity" for floating point; "2021-01-01" for dates; ISO-8601 timestamps with "Z"
// or an offset ("2021-01-01T00:00:00.000Z", "...-08:00") for timestamp and without a zone for
// timestamp_ntz; strings for strings; booleans for booleans.
func ParseStatsValue(v any, t DataType) (scalar.Scalar, error) {
	if v == nil {
		return nil, fmt.Errorf("null statistics value")
	}
	str, isStr := v.(string)
	num := ""
	switch n := v.(type) {
	case json.Number:
		num = n.String()
	case float64:
		num = strconv.FormatFloat(n, 'g', -1, 64)
	case int64:
		num = strconv.FormatInt(n, 10)
	case int:
		num = strconv.Itoa(n)
	}
	if dt, ok := t.(*DecimalType); ok {
		s := num
		if s == "" && isStr {
			s = str
		}
		if s == "" {
			return nil, fmt.Errorf("decimal statistic %v is not a number", v)
		}
		d, err := ParseDecimal(s, int32(dt.Precision), int32(dt.Scale))
		if err != nil {
			return nil, err
		}
		return scalar.NewDecimal128Scalar(d, ToArrowType(t)), nil
	}
	switch t {
	case TypeByte, TypeShort, TypeInteger, TypeLong:
		if num == "" {
			return nil, fmt.Errorf("integer statistic %v is not a number", v)
		}
		bits := map[*PrimitiveType]int{TypeByte: 8, TypeShort: 16, TypeInteger: 32, TypeLong: 64}[t.(*PrimitiveType)]
		i, err := strconv.ParseInt(num, 10, bits)
		if err != nil {
			// Some writers render integral values as floats ("1.0").
			f, ferr := strconv.ParseFloat(num, 64)
			if ferr != nil || f != math.Trunc(f) || f < -math.Pow(2, float64(bits-1)) || f >= math.Pow(2, float64(bits-1)) {
				return nil, err
			}
			i = int64(f)
		}
		return scalar.MakeIntegerScalar(i, bits)
	case TypeFloat, TypeDouble:
		s := num
		if s == "" && isStr {
			s = str
		}
		bits := 64
		if t == TypeFloat {
			bits = 32
		}
		f, err := parseJavaFloat(s, bits)
		if err != nil {
			return nil, err
		}
		if bits == 32 {
			return scalar.NewFloat32Scalar(float32(f)), nil
		}
		return scalar.NewFloat64Scalar(f), nil
	case TypeString:
		if !isStr {
			return nil, fmt.Errorf("string statistic %v is not a string", v)
		}
		return scalar.NewStringScalar(str), nil
	case TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("boolean statistic %v is not a boolean", v)
		}
		return scalar.NewBooleanScalar(b), nil
	case TypeDate:
		if !isStr {
			return nil, fmt.Errorf("date statistic %v is not a string", v)
		}
		s := str
		if len(s) > 10 { // tolerate a timestamp rendering of a date
			us, err := ParseTimestampMicros(s, false)
			if err != nil {
				return nil, err
			}
			return scalar.NewDate32Scalar(arrow.Date32(floorDiv(us, 86_400_000_000))), nil
		}
		d, err := ParseDate(s)
		if err != nil {
			return nil, err
		}
		return scalar.NewDate32Scalar(d), nil
	case TypeTimestamp, TypeTimestampNTZ:
		if !isStr {
			return nil, fmt.Errorf("timestamp statistic %v is not a string", v)
		}
		us, err := ParseTimestampMicros(str, false)
		if err != nil {
			return nil, err
		}
		return scalar.NewTimestampScalar(arrow.Timestamp(us), ToArrowType(t)), nil
	}
	return nil, fmt.Errorf("no statistics for type %s", t)
}

// StatsValue renders a scalar as the JSON value Strata writes in minValues/maxValues, and whether
// the type has min/max statistics at all (Spark's skipping-eligible types: numbers, decimals,
// dates, timestamps, strings; not booleans or binary). Numbers are json.Number; decimals keep
// their scale ("1.50"); dates are "2021-01-01"; timestamps are truncated down to milliseconds and
// rendered "2021-01-01T00:00:00.123Z" (with a zone) or "2021-01-01T00:00:00.123" (timestamp_ntz);
// strings are returned whole (truncation is TruncateMinString/TruncateMaxString's job). NaN,
// infinities, nulls and timestamps outside years 1-9999 give false.
func StatsValue(s scalar.Scalar) (any, bool) {
	if s == nil || !s.IsValid() {
		return nil, false
	}
	switch v := s.(type) {
	case *scalar.Int8:
		return json.Number(strconv.FormatInt(int64(v.Value), 10)), true
	case *scalar.Int16:
		return json.Number(strconv.FormatInt(int64(v.Value), 10)), true
	case *scalar.Int32:
		return json.Number(strconv.FormatInt(int64(v.Value), 10)), true
	case *scalar.Int64:
		return json.Number(strconv.FormatInt(v.Value, 10)), true
	case *scalar.Float32:
		f := float64(v.Value)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 32)), true
	case *scalar.Float64:
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return nil, false
		}
		return json.Number(strconv.FormatFloat(v.Value, 'g', -1, 64)), true
	case *scalar.Decimal128:
		return json.Number(v.Value.ToString(v.Type.(*arrow.Decimal128Type).Scale)), true
	case *scalar.Date32:
		return FormatDate(v.Value), true
	case *scalar.Timestamp:
		tt := v.Type.(*arrow.TimestampType)
		us, err := timestampToMicros(int64(v.Value), tt.Unit)
		if err != nil {
			return nil, false
		}
		t := time.UnixMilli(floorDiv(us, 1000)).UTC()
		if t.Year() < 1 || t.Year() > 9999 {
			return nil, false
		}
		if tt.TimeZone == "" {
			return t.Format("2006-01-02T15:04:05.000"), true
		}
		return t.Format("2006-01-02T15:04:05.000Z"), true
	case *scalar.String:
		return v.String(), true
	case *scalar.LargeString:
		return v.String(), true
	}
	return nil, false
}

// DefaultStatsStringPrefix is the number of characters string statistics keep
// (Spark's delta.dataSkippingStringPrefixLength default).
const DefaultStatsStringPrefix = 32

// statsTieBreaker is appended to a truncated string maximum (Spark uses the same character).
const statsTieBreaker = '\ufffd'

// TruncateMinString returns the first n characters (code points) of s: a valid lower bound for s.
func TruncateMinString(s string, n int) string {
	i, count := 0, 0
	for i < len(s) && count < n {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
		count++
	}
	return s[:i]
}

// TruncateMaxString returns s if it has at most n characters; otherwise a string of about n
// characters that is greater than or equal to s in UTF-8 byte (code point) order, as Spark's
// truncateMaxStringAgg builds it: the first n characters, extended while the next character is
// not below U+FFFD, followed by U+FFFD.
func TruncateMaxString(s string, n int) string {
	p := TruncateMinString(s, n)
	if len(p) == len(s) {
		return s
	}
	i := len(p)
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r < statsTieBreaker {
			break
		}
		i += w
	}
	return s[:i] + string(statsTieBreaker)
}
