package serve

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The JSON encoding of Arrow values (the contract's "values"):
//   - null: null; booleans: true/false;
//   - integers: numbers, except 64-bit values beyond ±2^53 (not exact in JavaScript): strings;
//   - floats: numbers; NaN and ±Inf (not JSON numbers): the strings "NaN", "Infinity", "-Infinity";
//   - decimals: numbers written with their exact digits ("12.30", never rounded through a float);
//   - strings: strings; binary: base64 strings;
//   - dates: "YYYY-MM-DD"; times: "15:04:05.000000"; timestamps: RFC 3339 in UTC with
//     microseconds ("2026-01-02T03:04:05.000000Z"; a TIMESTAMP without time zone is read as UTC,
//     as the engine's session time zone is UTC);
//   - intervals: ISO 8601 durations ("P1M2DT3.5S"); durations: Go duration text;
//   - lists: arrays; structs: objects; maps: objects keyed by the key's text;
//   - dictionary, run-end encoded and extension arrays: their values' encoding.

// maxExactInt is the largest integer a JavaScript number holds exactly (2^53).
const maxExactInt = 1 << 53

// appendJSONValue appends the JSON encoding of arr's value at i.
func appendJSONValue(b []byte, arr arrow.Array, i int) []byte {
	if arr.IsNull(i) {
		return append(b, "null"...)
	}
	switch a := arr.(type) {
	case *array.Null:
		return append(b, "null"...)
	case *array.Boolean:
		return strconv.AppendBool(b, a.Value(i))
	case *array.Int8:
		return strconv.AppendInt(b, int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.AppendInt(b, int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.AppendInt(b, int64(a.Value(i)), 10)
	case *array.Int64:
		return appendInt64(b, a.Value(i))
	case *array.Uint8:
		return strconv.AppendUint(b, uint64(a.Value(i)), 10)
	case *array.Uint16:
		return strconv.AppendUint(b, uint64(a.Value(i)), 10)
	case *array.Uint32:
		return strconv.AppendUint(b, uint64(a.Value(i)), 10)
	case *array.Uint64:
		v := a.Value(i)
		if v > maxExactInt {
			return strconv.AppendQuote(b, strconv.FormatUint(v, 10))
		}
		return strconv.AppendUint(b, v, 10)
	case *array.Float16:
		return appendFloat(b, float64(a.Value(i).Float32()), 32)
	case *array.Float32:
		return appendFloat(b, float64(a.Value(i)), 32)
	case *array.Float64:
		return appendFloat(b, a.Value(i), 64)
	case *array.Decimal32:
		return append(b, a.Value(i).ToString(a.DataType().(arrow.DecimalType).GetScale())...)
	case *array.Decimal64:
		return append(b, a.Value(i).ToString(a.DataType().(arrow.DecimalType).GetScale())...)
	case *array.Decimal128:
		return append(b, a.Value(i).ToString(a.DataType().(arrow.DecimalType).GetScale())...)
	case *array.Decimal256:
		return append(b, a.Value(i).ToString(a.DataType().(arrow.DecimalType).GetScale())...)
	case *array.String:
		return appendJSONString(b, a.Value(i))
	case *array.LargeString:
		return appendJSONString(b, a.Value(i))
	case *array.StringView:
		return appendJSONString(b, a.Value(i))
	case *array.Binary:
		return appendJSONString(b, base64.StdEncoding.EncodeToString(a.Value(i)))
	case *array.LargeBinary:
		return appendJSONString(b, base64.StdEncoding.EncodeToString(a.Value(i)))
	case *array.BinaryView:
		return appendJSONString(b, base64.StdEncoding.EncodeToString(a.Value(i)))
	case *array.FixedSizeBinary:
		return appendJSONString(b, base64.StdEncoding.EncodeToString(a.Value(i)))
	case *array.Date32, *array.Date64, *array.Timestamp, *array.Time32, *array.Time64,
		*array.MonthDayNanoInterval, *array.MonthInterval, *array.DayTimeInterval, *array.Duration:
		return appendJSONString(b, scalarText(arr, i))
	case *array.Map:
		return appendMap(b, a, i)
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		b = append(b, '[')
		for j := start; j < end; j++ {
			if j > start {
				b = append(b, ',')
			}
			b = appendJSONValue(b, vals, int(j))
		}
		return append(b, ']')
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		b = append(b, '{')
		for j := 0; j < a.NumField(); j++ {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, st.Field(j).Name)
			b = append(b, ':')
			b = appendJSONValue(b, a.Field(j), i)
		}
		return append(b, '}')
	case *array.Dictionary:
		return appendJSONValue(b, a.Dictionary(), a.GetValueIndex(i))
	case *array.RunEndEncoded:
		return appendJSONValue(b, a.Values(), a.GetPhysicalIndex(i))
	case array.ExtensionArray:
		return appendJSONValue(b, a.Storage(), i)
	}
	v, err := json.Marshal(arr.GetOneForMarshal(i))
	if err != nil {
		return appendJSONString(b, arr.ValueStr(i))
	}
	return append(b, v...)
}

// appendInt64 writes v as a number, or as a string when a JavaScript number cannot hold it.
func appendInt64(b []byte, v int64) []byte {
	if v > maxExactInt || v < -maxExactInt {
		return strconv.AppendQuote(b, strconv.FormatInt(v, 10))
	}
	return strconv.AppendInt(b, v, 10)
}

// appendFloat writes f as a JSON number (NaN and infinities as strings).
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

// appendMap writes a map value as an object keyed by each key's text.
func appendMap(b []byte, a *array.Map, i int) []byte {
	start, end := a.ValueOffsets(i)
	keys, items := a.Keys(), a.Items()
	b = append(b, '{')
	for j := start; j < end; j++ {
		if j > start {
			b = append(b, ',')
		}
		b = appendJSONString(b, textValue(keys, int(j)))
		b = append(b, ':')
		b = appendJSONValue(b, items, int(j))
	}
	return append(b, '}')
}

// scalarText renders the temporal values as the API writes them.
func scalarText(arr arrow.Array, i int) string {
	switch a := arr.(type) {
	case *array.Date32:
		return a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Date64:
		return a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format(timeLayout)
	case *array.Time32:
		return a.Value(i).ToTime(a.DataType().(*arrow.Time32Type).Unit).Format("15:04:05.000000")
	case *array.Time64:
		return a.Value(i).ToTime(a.DataType().(*arrow.Time64Type).Unit).Format("15:04:05.000000")
	case *array.MonthDayNanoInterval:
		v := a.Value(i)
		return isoDuration(int64(v.Months), int64(v.Days), v.Nanoseconds)
	case *array.MonthInterval:
		return isoDuration(int64(a.Value(i)), 0, 0)
	case *array.DayTimeInterval:
		v := a.Value(i)
		return isoDuration(0, int64(v.Days), int64(v.Milliseconds)*int64(time.Millisecond))
	case *array.Duration:
		unit := a.DataType().(*arrow.DurationType).Unit
		return (time.Duration(a.Value(i)) * unit.Multiplier()).String()
	}
	return arr.ValueStr(i)
}

// isoDuration writes an interval as an ISO 8601 duration: P[nM][nD][T[n]S], "PT0S" when zero.
func isoDuration(months, days, nanos int64) string {
	var b strings.Builder
	b.WriteByte('P')
	if months != 0 {
		fmt.Fprintf(&b, "%dM", months)
	}
	if days != 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	if nanos != 0 || (months == 0 && days == 0) {
		b.WriteString("T")
		b.WriteString(strconv.FormatFloat(float64(nanos)/1e9, 'f', -1, 64))
		b.WriteString("S")
	}
	return b.String()
}

// textValue renders a value as text (CSV cells, map keys): strings as they are, null as "",
// temporal values as in JSON, nested values as their JSON.
func textValue(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return ""
	}
	switch a := arr.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.StringView:
		return a.Value(i)
	case *array.Dictionary:
		return textValue(a.Dictionary(), a.GetValueIndex(i))
	case *array.RunEndEncoded:
		return textValue(a.Values(), a.GetPhysicalIndex(i))
	case array.ExtensionArray:
		return textValue(a.Storage(), i)
	}
	b := appendJSONValue(nil, arr, i)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			return s
		}
	}
	return string(b)
}

// appendJSONString appends s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// columnType names an Arrow type as DuckDB names the SQL type it comes from (BIGINT, VARCHAR,
// DECIMAL(12,2), TIMESTAMP WITH TIME ZONE, INTEGER[], STRUCT(a INTEGER), MAP(VARCHAR, BIGINT));
// types DuckDB does not produce keep Arrow's name.
func columnType(t arrow.DataType) string {
	switch t := t.(type) {
	case *arrow.NullType:
		return "NULL"
	case *arrow.BooleanType:
		return "BOOLEAN"
	case *arrow.Int8Type:
		return "TINYINT"
	case *arrow.Int16Type:
		return "SMALLINT"
	case *arrow.Int32Type:
		return "INTEGER"
	case *arrow.Int64Type:
		return "BIGINT"
	case *arrow.Uint8Type:
		return "UTINYINT"
	case *arrow.Uint16Type:
		return "USMALLINT"
	case *arrow.Uint32Type:
		return "UINTEGER"
	case *arrow.Uint64Type:
		return "UBIGINT"
	case *arrow.Float16Type, *arrow.Float32Type:
		return "FLOAT"
	case *arrow.Float64Type:
		return "DOUBLE"
	case arrow.DecimalType:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.GetPrecision(), t.GetScale())
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return "VARCHAR"
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType, *arrow.FixedSizeBinaryType:
		return "BLOB"
	case *arrow.Date32Type, *arrow.Date64Type:
		return "DATE"
	case *arrow.Time32Type, *arrow.Time64Type:
		return "TIME"
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return "TIMESTAMP WITH TIME ZONE"
		}
		return "TIMESTAMP"
	case *arrow.MonthDayNanoIntervalType, *arrow.MonthIntervalType, *arrow.DayTimeIntervalType:
		return "INTERVAL"
	case *arrow.MapType:
		return "MAP(" + columnType(t.KeyType()) + ", " + columnType(t.ItemType()) + ")"
	case arrow.ListLikeType:
		return columnType(t.Elem()) + "[]"
	case *arrow.StructType:
		parts := make([]string, t.NumFields())
		for i, f := range t.Fields() {
			name := f.Name
			if !isIdentifier(name) {
				name = `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
			}
			parts[i] = name + " " + columnType(f.Type)
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	case *arrow.DictionaryType:
		return columnType(t.ValueType)
	case *arrow.RunEndEncodedType:
		return columnType(t.Encoded())
	case arrow.ExtensionType:
		if t.ExtensionName() == "arrow.uuid" {
			return "UUID"
		}
		return columnType(t.StorageType())
	}
	return t.String()
}

// isIdentifier says whether s is a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*).
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}
