package pgwire

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgtype"
)

// Postgres types as Strata reports them. Every DuckDB and Arrow type maps to one of these OIDs;
// nested types (lists, structs, maps, unions) are json rendered as JSON text, and types Postgres
// has no match for (UUID as DuckDB exports it, enums, bit strings) are text.
const (
	oidBool        = pgtype.BoolOID
	oidBytea       = pgtype.ByteaOID
	oidInt8        = pgtype.Int8OID
	oidInt2        = pgtype.Int2OID
	oidInt4        = pgtype.Int4OID
	oidText        = pgtype.TextOID
	oidOID         = pgtype.OIDOID
	oidJSON        = pgtype.JSONOID
	oidFloat4      = pgtype.Float4OID
	oidFloat8      = pgtype.Float8OID
	oidVarchar     = pgtype.VarcharOID
	oidDate        = pgtype.DateOID
	oidTime        = pgtype.TimeOID
	oidTimestamp   = pgtype.TimestampOID
	oidTimestamptz = pgtype.TimestamptzOID
	oidInterval    = pgtype.IntervalOID
	oidNumeric     = pgtype.NumericOID
	oidUUID        = pgtype.UUIDOID
)

// pgTypeInfo describes one Postgres type for the catalog: its name as format_type and
// information_schema.columns.data_type spell it, its pg_type name and length.
type pgTypeInfo struct {
	OID      uint32
	TypName  string // pg_type.typname
	Format   string // format_type() / information_schema data_type
	Len      int16  // pg_type.typlen (-1 variable)
	Category string // pg_type.typcategory
	Array    uint32 // OID of the array type
}

// pgTypes lists the types the catalog's pg_type holds, in OID order.
var pgTypes = []pgTypeInfo{
	{16, "bool", "boolean", 1, "B", 1000},
	{17, "bytea", "bytea", -1, "U", 1001},
	{18, "char", `"char"`, 1, "Z", 1002},
	{19, "name", "name", 64, "S", 1003},
	{20, "int8", "bigint", 8, "N", 1016},
	{21, "int2", "smallint", 2, "N", 1005},
	{23, "int4", "integer", 4, "N", 1007},
	{24, "regproc", "regproc", 4, "N", 1008},
	{25, "text", "text", -1, "S", 1009},
	{26, "oid", "oid", 4, "N", 1028},
	{114, "json", "json", -1, "U", 199},
	{700, "float4", "real", 4, "N", 1021},
	{701, "float8", "double precision", 8, "N", 1022},
	{705, "unknown", "unknown", -2, "X", 0},
	{1042, "bpchar", "character", -1, "S", 1014},
	{1043, "varchar", "character varying", -1, "S", 1015},
	{1082, "date", "date", 4, "D", 1182},
	{1083, "time", "time without time zone", 8, "D", 1183},
	{1114, "timestamp", "timestamp without time zone", 8, "D", 1115},
	{1184, "timestamptz", "timestamp with time zone", 8, "D", 1185},
	{1186, "interval", "interval", 16, "T", 1187},
	{1266, "timetz", "time with time zone", 12, "D", 1270},
	{1700, "numeric", "numeric", -1, "N", 1231},
	{2205, "regclass", "regclass", 4, "N", 2210},
	{2206, "regtype", "regtype", 4, "N", 2211},
	{2950, "uuid", "uuid", 16, "U", 2951},
	{3802, "jsonb", "jsonb", -1, "U", 3807},
}

// pgTypeByOID returns the catalog's description of oid (ok false for an OID it does not list).
func pgTypeByOID(oid uint32) (pgTypeInfo, bool) {
	for _, t := range pgTypes {
		if t.OID == oid {
			return t, true
		}
	}
	return pgTypeInfo{}, false
}

// numericTypmod is the atttypmod Postgres stores for numeric(precision, scale).
func numericTypmod(precision, scale int) int32 { return int32(precision<<16|scale) + 4 }

// oidForArrow maps an Arrow type (as DuckDB exports results) to the Postgres type its values are
// sent as.
func oidForArrow(dt arrow.DataType) uint32 {
	switch dt := dt.(type) {
	case *arrow.BooleanType:
		return oidBool
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Uint8Type:
		return oidInt2
	case *arrow.Int32Type, *arrow.Uint16Type:
		return oidInt4
	case *arrow.Int64Type, *arrow.Uint32Type:
		return oidInt8
	case *arrow.Uint64Type, *arrow.Decimal32Type, *arrow.Decimal64Type, *arrow.Decimal128Type, *arrow.Decimal256Type:
		return oidNumeric
	case *arrow.Float16Type, *arrow.Float32Type:
		return oidFloat4
	case *arrow.Float64Type:
		return oidFloat8
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return oidText
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType, *arrow.FixedSizeBinaryType:
		return oidBytea
	case *arrow.Date32Type, *arrow.Date64Type:
		return oidDate
	case *arrow.Time32Type, *arrow.Time64Type:
		return oidTime
	case *arrow.TimestampType:
		if dt.TimeZone != "" {
			return oidTimestamptz
		}
		return oidTimestamp
	case *arrow.MonthDayNanoIntervalType, *arrow.DayTimeIntervalType, *arrow.MonthIntervalType, *arrow.DurationType:
		return oidInterval
	case *arrow.ListType, *arrow.LargeListType, *arrow.ListViewType, *arrow.LargeListViewType, *arrow.FixedSizeListType,
		*arrow.StructType, *arrow.MapType, arrow.UnionType:
		return oidJSON
	case *arrow.DictionaryType:
		return oidForArrow(dt.ValueType)
	case arrow.ExtensionType:
		return oidForArrow(dt.StorageType())
	}
	return oidText
}

// arrayOIDs are the Postgres array types of element types, for catalog results (whose lists,
// such as reloptions or indkey, clients read as Postgres arrays).
var arrayOIDs = map[uint32]uint32{
	oidBool: pgtype.BoolArrayOID, oidInt2: pgtype.Int2ArrayOID, oidInt4: pgtype.Int4ArrayOID,
	oidInt8: pgtype.Int8ArrayOID, oidFloat4: pgtype.Float4ArrayOID, oidFloat8: pgtype.Float8ArrayOID,
	oidText: pgtype.TextArrayOID,
}

// oidForCatalogArrow is oidForArrow for catalog results: lists of scalars are Postgres arrays.
func oidForCatalogArrow(dt arrow.DataType) uint32 {
	if l, ok := dt.(*arrow.ListType); ok {
		if a, ok := arrayOIDs[oidForArrow(l.Elem())]; ok {
			return a
		}
	}
	return oidForArrow(dt)
}

// isArrayOID reports whether oid is one of arrayOIDs' array types.
func isArrayOID(oid uint32) bool {
	for _, a := range arrayOIDs {
		if a == oid {
			return true
		}
	}
	return false
}

// oidForDuckType maps the type DuckDB reports for a prepared statement's column or parameter to
// a Postgres OID; 0 when DuckDB could not decide the type (a parameter whose type the statement
// leaves open).
func oidForDuckType(t duckdb.Type, alias string) uint32 {
	switch t {
	case duckdb.TYPE_INVALID, duckdb.TYPE_ANY:
		return 0
	case duckdb.TYPE_BOOLEAN:
		return oidBool
	case duckdb.TYPE_TINYINT, duckdb.TYPE_SMALLINT, duckdb.TYPE_UTINYINT:
		return oidInt2
	case duckdb.TYPE_INTEGER, duckdb.TYPE_USMALLINT:
		return oidInt4
	case duckdb.TYPE_BIGINT, duckdb.TYPE_UINTEGER:
		return oidInt8
	case duckdb.TYPE_UBIGINT, duckdb.TYPE_HUGEINT, duckdb.TYPE_UHUGEINT, duckdb.TYPE_DECIMAL:
		return oidNumeric
	case duckdb.TYPE_FLOAT:
		return oidFloat4
	case duckdb.TYPE_DOUBLE:
		return oidFloat8
	case duckdb.TYPE_DATE:
		return oidDate
	case duckdb.TYPE_TIME, duckdb.TYPE_TIME_TZ:
		return oidTime
	case duckdb.TYPE_TIMESTAMP, duckdb.TYPE_TIMESTAMP_S, duckdb.TYPE_TIMESTAMP_MS, duckdb.TYPE_TIMESTAMP_NS:
		return oidTimestamp
	case duckdb.TYPE_TIMESTAMP_TZ:
		return oidTimestamptz
	case duckdb.TYPE_INTERVAL:
		return oidInterval
	case duckdb.TYPE_BLOB:
		return oidBytea
	case duckdb.TYPE_LIST, duckdb.TYPE_STRUCT, duckdb.TYPE_MAP, duckdb.TYPE_ARRAY, duckdb.TYPE_UNION:
		return oidJSON
	case duckdb.TYPE_VARCHAR:
		if strings.EqualFold(alias, "JSON") {
			return oidJSON
		}
		return oidText
	}
	return oidText
}

// duckColumnType is a column type as DuckDB's DESCRIBE spells it, mapped for the catalog.
type duckColumnType struct {
	OID    uint32
	Typmod int32 // -1 unless numeric(p,s)
	// Precision and Scale are set for numeric columns (information_schema); Precision is also
	// set for integer and float columns.
	Precision, Scale int
}

// parseDuckType maps a DuckDB type name (as DESCRIBE prints it) to its Postgres type.
func parseDuckType(s string) duckColumnType {
	u := strings.ToUpper(strings.TrimSpace(s))
	out := duckColumnType{OID: oidText, Typmod: -1}
	switch {
	case strings.HasSuffix(u, "]"), strings.HasPrefix(u, "STRUCT"), strings.HasPrefix(u, "MAP"), strings.HasPrefix(u, "UNION"), strings.HasPrefix(u, "LIST"):
		out.OID = oidJSON
	case strings.HasPrefix(u, "DECIMAL") || strings.HasPrefix(u, "NUMERIC"):
		out.OID = oidNumeric
		p, sc := 18, 3
		if open := strings.IndexByte(u, '('); open >= 0 {
			parts := strings.Split(strings.Trim(u[open:], "()"), ",")
			if len(parts) == 2 {
				p, _ = strconv.Atoi(strings.TrimSpace(parts[0]))
				sc, _ = strconv.Atoi(strings.TrimSpace(parts[1]))
			}
		}
		out.Precision, out.Scale, out.Typmod = p, sc, numericTypmod(p, sc)
	default:
		switch u {
		case "BOOLEAN", "BOOL":
			out.OID = oidBool
		case "TINYINT", "SMALLINT", "UTINYINT", "INT1", "INT2":
			out.OID, out.Precision = oidInt2, 16
		case "INTEGER", "USMALLINT", "INT", "INT4":
			out.OID, out.Precision = oidInt4, 32
		case "BIGINT", "UINTEGER", "INT8":
			out.OID, out.Precision = oidInt8, 64
		case "UBIGINT", "HUGEINT", "UHUGEINT", "BIGNUM", "VARINT":
			out.OID = oidNumeric
		case "FLOAT", "REAL", "FLOAT4":
			out.OID, out.Precision = oidFloat4, 24
		case "DOUBLE", "FLOAT8":
			out.OID, out.Precision = oidFloat8, 53
		case "DATE":
			out.OID = oidDate
		case "TIME", "TIME WITH TIME ZONE", "TIMETZ":
			out.OID = oidTime
		case "TIMESTAMP", "DATETIME", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP_US":
			out.OID = oidTimestamp
		case "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ":
			out.OID = oidTimestamptz
		case "INTERVAL":
			out.OID = oidInterval
		case "BLOB", "BYTEA", "VARBINARY", "BINARY":
			out.OID = oidBytea
		case "JSON":
			out.OID = oidJSON
		}
	}
	return out
}

// duckCastType returns the DuckDB type a parameter of Postgres type oid is cast to, or "" when
// its literal needs no cast (text, unknown).
func duckCastType(oid uint32) string {
	switch oid {
	case oidBool:
		return "BOOLEAN"
	case oidInt2:
		return "SMALLINT"
	case oidInt4:
		return "INTEGER"
	case oidInt8, oidOID:
		return "BIGINT"
	case oidFloat4:
		return "FLOAT"
	case oidFloat8:
		return "DOUBLE"
	case oidDate:
		return "DATE"
	case oidTime:
		return "TIME"
	case oidTimestamp:
		return "TIMESTAMP"
	case oidTimestamptz:
		return "TIMESTAMPTZ"
	case oidInterval:
		return "INTERVAL"
	case oidBytea:
		return "BLOB"
	case oidUUID:
		return "UUID"
	case oidJSON, pgtype.JSONBOID:
		return "JSON"
	}
	return ""
}

// isTextOID reports whether values of oid are sent as their text rendering.
func isTextOID(oid uint32) bool {
	switch oid {
	case oidText, oidVarchar, pgtype.BPCharOID, pgtype.NameOID, oidJSON, pgtype.JSONBOID, pgtype.UnknownOID, 0:
		return true
	}
	return false
}

// valueFunc returns a function giving row i of col as a Go value the pgx type map encodes as
// oid (in text or binary format): nil for NULL. Strings alias the Arrow buffers unless clone is
// set (values kept after the record is released must be cloned).
func valueFunc(col arrow.Array, oid uint32, clone bool) func(i int) any {
	if l, ok := col.(*array.List); ok && isArrayOID(oid) {
		return arrayValueFunc(l, oid)
	}
	if isTextOID(oid) {
		return func(i int) any {
			if col.IsNull(i) {
				return nil
			}
			s := textValue(col, i)
			if clone {
				s = strings.Clone(s)
			}
			return s
		}
	}
	var get func(i int) any
	switch a := col.(type) {
	case *array.Boolean:
		get = func(i int) any { return a.Value(i) }
	case *array.Int8:
		get = func(i int) any { return int64(a.Value(i)) }
	case *array.Int16:
		get = func(i int) any { return int64(a.Value(i)) }
	case *array.Int32:
		get = func(i int) any { return int64(a.Value(i)) }
	case *array.Int64:
		get = func(i int) any { return a.Value(i) }
	case *array.Uint8:
		get = func(i int) any { return int64(a.Value(i)) }
	case *array.Uint16:
		get = func(i int) any { return int64(a.Value(i)) }
	case *array.Uint32:
		get = func(i int) any { return int64(a.Value(i)) }
	case *array.Uint64:
		get = func(i int) any {
			return pgtype.Numeric{Int: new(big.Int).SetUint64(a.Value(i)), Valid: true}
		}
	case *array.Float16:
		get = func(i int) any { return a.Value(i).Float32() }
	case *array.Float32:
		get = func(i int) any { return a.Value(i) }
	case *array.Float64:
		get = func(i int) any { return a.Value(i) }
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		get = func(i int) any { return numericOf(a.Value(i).BigInt(), scale) }
	case *array.Decimal256:
		scale := a.DataType().(*arrow.Decimal256Type).Scale
		get = func(i int) any { return numericOf(a.Value(i).BigInt(), scale) }
	case *array.Decimal64:
		scale := a.DataType().(*arrow.Decimal64Type).Scale
		get = func(i int) any { return numericOf(big.NewInt(int64(a.Value(i))), scale) }
	case *array.Decimal32:
		scale := a.DataType().(*arrow.Decimal32Type).Scale
		get = func(i int) any { return numericOf(big.NewInt(int64(a.Value(i))), scale) }
	case *array.Date32:
		get = func(i int) any { return a.Value(i).ToTime() }
	case *array.Date64:
		get = func(i int) any { return a.Value(i).ToTime() }
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		get = func(i int) any { return timestampValue{a.Value(i).ToTime(t.Unit).UTC(), t.TimeZone != ""} }
	case *array.Time32:
		unit := a.DataType().(*arrow.Time32Type).Unit
		get = func(i int) any {
			return pgtype.Time{Microseconds: int64(a.Value(i)) * int64(unit.Multiplier()/time.Microsecond), Valid: true}
		}
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		get = func(i int) any {
			us := int64(a.Value(i))
			if unit == arrow.Nanosecond {
				us /= 1000
			}
			return pgtype.Time{Microseconds: us, Valid: true}
		}
	case *array.MonthDayNanoInterval:
		get = func(i int) any {
			v := a.Value(i)
			return pgtype.Interval{Months: v.Months, Days: v.Days, Microseconds: v.Nanoseconds / 1000, Valid: true}
		}
	case *array.DayTimeInterval:
		get = func(i int) any {
			v := a.Value(i)
			return pgtype.Interval{Days: v.Days, Microseconds: int64(v.Milliseconds) * 1000, Valid: true}
		}
	case *array.MonthInterval:
		get = func(i int) any { return pgtype.Interval{Months: int32(a.Value(i)), Valid: true} }
	case *array.Duration:
		unit := a.DataType().(*arrow.DurationType).Unit
		get = func(i int) any {
			d := time.Duration(a.Value(i)) * unit.Multiplier()
			return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
		}
	case *array.Binary:
		get = func(i int) any { return cloneBytes(a.Value(i), clone) }
	case *array.LargeBinary:
		get = func(i int) any { return cloneBytes(a.Value(i), clone) }
	case *array.BinaryView:
		get = func(i int) any { return cloneBytes(a.Value(i), clone) }
	case *array.FixedSizeBinary:
		get = func(i int) any { return cloneBytes(a.Value(i), clone) }
	case *array.Dictionary:
		values := valueFunc(a.Dictionary(), oid, clone)
		get = func(i int) any { return values(a.GetValueIndex(i)) }
	default:
		// Anything else is sent as text; the described type is then text too.
		get = func(i int) any { return strings.Clone(textValue(col, i)) }
	}
	return func(i int) any {
		if col.IsNull(i) {
			return nil
		}
		return get(i)
	}
}

// timestampValue is a timestamp sent as Postgres sends it: in text format as
// "2006-01-02 15:04:05.999999" with "+00" appended for timestamptz, in binary as microseconds.
type timestampValue struct {
	t  time.Time // UTC
	tz bool
}

// TextValue renders the timestamp for text format.
func (v timestampValue) TextValue() (pgtype.Text, error) {
	s := v.t.Format("2006-01-02 15:04:05.999999")
	if v.tz {
		s += "+00"
	}
	return pgtype.Text{String: s, Valid: true}, nil
}

// TimestampValue gives the value for timestamp binary format.
func (v timestampValue) TimestampValue() (pgtype.Timestamp, error) {
	return pgtype.Timestamp{Time: v.t, Valid: true}, nil
}

// TimestamptzValue gives the value for timestamptz binary format.
func (v timestampValue) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: v.t, Valid: true}, nil
}

// arrayValueFunc gives a list's values as a Go slice pgx encodes as the array type oid
// (elements as pointers, nil for NULL elements).
func arrayValueFunc(l *array.List, oid uint32) func(i int) any {
	var elem uint32
	for e, a := range arrayOIDs {
		if a == oid {
			elem = e
		}
	}
	vals := l.ListValues()
	get := valueFunc(vals, elem, true)
	return func(i int) any {
		if l.IsNull(i) {
			return nil
		}
		start, end := l.ValueOffsets(i)
		switch elem {
		case oidText:
			out := make([]*string, 0, end-start)
			for j := int(start); j < int(end); j++ {
				var p *string
				if v, ok := get(j).(string); ok {
					p = &v
				}
				out = append(out, p)
			}
			return out
		case oidBool:
			out := make([]*bool, 0, end-start)
			for j := int(start); j < int(end); j++ {
				var p *bool
				if v, ok := get(j).(bool); ok {
					p = &v
				}
				out = append(out, p)
			}
			return out
		case oidFloat4, oidFloat8:
			out := make([]*float64, 0, end-start)
			for j := int(start); j < int(end); j++ {
				var p *float64
				switch v := get(j).(type) {
				case float64:
					p = &v
				case float32:
					f := float64(v)
					p = &f
				}
				out = append(out, p)
			}
			return out
		}
		out := make([]*int64, 0, end-start)
		for j := int(start); j < int(end); j++ {
			var p *int64
			if v, ok := get(j).(int64); ok {
				p = &v
			}
			out = append(out, p)
		}
		return out
	}
}

func cloneBytes(b []byte, clone bool) []byte {
	if clone {
		return append([]byte(nil), b...)
	}
	return b
}

// numericOf is an unscaled integer with its scale as a pgtype.Numeric.
func numericOf(unscaled *big.Int, scale int32) pgtype.Numeric {
	return pgtype.Numeric{Int: unscaled, Exp: -scale, Valid: true}
}

// textValue renders one non-null value as Postgres renders it in text format (nested values as
// JSON).
func textValue(a arrow.Array, i int) string {
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.StringView:
		return a.Value(i)
	case *array.Boolean:
		if a.Value(i) {
			return "t"
		}
		return "f"
	case *array.Float64:
		return formatFloat(a.Value(i), 64)
	case *array.Float32:
		return formatFloat(float64(a.Value(i)), 32)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Decimal256:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal256Type).Scale)
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		tm := a.Value(i).ToTime(t.Unit).UTC()
		if t.TimeZone != "" {
			return tm.Format("2006-01-02 15:04:05.999999") + "+00"
		}
		return tm.Format("2006-01-02 15:04:05.999999")
	case *array.Date32:
		return a.Value(i).FormattedString()
	case *array.Binary:
		return `\x` + hex.EncodeToString(a.Value(i))
	case *array.Dictionary:
		return textValue(a.Dictionary(), a.GetValueIndex(i))
	case *array.Struct, *array.List, *array.LargeList, *array.FixedSizeList, *array.Map, *array.ListView:
		var b strings.Builder
		writeJSON(&b, a, i)
		return b.String()
	}
	return a.ValueStr(i)
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// writeJSON writes one value as JSON: structs as objects in field order, maps as objects keyed
// by the keys' text, lists as arrays, numbers as numbers, everything else as strings.
func writeJSON(b *strings.Builder, a arrow.Array, i int) {
	if a.IsNull(i) {
		b.WriteString("null")
		return
	}
	switch a := a.(type) {
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		b.WriteByte('{')
		for f := 0; f < a.NumField(); f++ {
			if f > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, st.Field(f).Name)
			b.WriteByte(':')
			writeJSON(b, a.Field(f), i)
		}
		b.WriteByte('}')
	case *array.Map:
		start, end := a.ValueOffsets(i)
		keys, items := a.Keys(), a.Items()
		b.WriteByte('{')
		for j := int(start); j < int(end); j++ {
			if j > int(start) {
				b.WriteByte(',')
			}
			key := "null"
			if !keys.IsNull(j) {
				key = textValue(keys, j)
			}
			writeJSONString(b, key)
			b.WriteByte(':')
			writeJSON(b, items, j)
		}
		b.WriteByte('}')
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		b.WriteByte('[')
		for j := int(start); j < int(end); j++ {
			if j > int(start) {
				b.WriteByte(',')
			}
			writeJSON(b, vals, j)
		}
		b.WriteByte(']')
	case *array.Boolean:
		b.WriteString(strconv.FormatBool(a.Value(i)))
	case *array.Int8, *array.Int16, *array.Int32, *array.Int64, *array.Uint8, *array.Uint16, *array.Uint32, *array.Uint64:
		b.WriteString(a.ValueStr(i))
	case *array.Float32, *array.Float64:
		s := textValue(a, i)
		if _, err := strconv.ParseFloat(s, 64); err != nil || strings.ContainsAny(s, "IN") {
			writeJSONString(b, s) // NaN and infinities are no JSON numbers
		} else {
			b.WriteString(s)
		}
	case *array.Decimal128, *array.Decimal256:
		b.WriteString(textValue(a, i))
	case *array.Binary:
		writeJSONString(b, base64.StdEncoding.EncodeToString(a.Value(i)))
	default:
		writeJSONString(b, textValue(a, i))
	}
}

func writeJSONString(b *strings.Builder, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}
