package delta

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// HiveDefaultPartition is the directory-name stand-in for a null partition value, as Spark and Hive
// write it ("col=__HIVE_DEFAULT_PARTITION__").
const HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// ParsePartitionValue decodes a partition value as stored in an add action's partitionValues (the
// protocol's "Partition Value Serialization") into a scalar of the Arrow type ToArrowType(t). The
// empty string is null and gives a null scalar of that type.
//
// Accepted forms, beyond the protocol's own:
//   - integers: decimal digits with an optional sign; the value must fit the type.
//   - float and double: Java's renderings ("1.0", "1.0E10", "NaN", "Infinity", "-Infinity") and Go's.
//   - decimal: plain or scientific notation ("1.50", "1E-7", as Java's BigDecimal.toString writes);
//     the value must be exact at the type's scale and fit its precision.
//   - date: "2021-01-01".
//   - timestamp: "2021-01-01 00:00:00", with up to nine fractional digits (sub-microsecond digits
//     are truncated), and ISO-8601 forms "2021-01-01T00:00:00.123456Z" or with an offset
//     ("+01:00", "-0800", "+01"). A string without a zone is read as UTC: the protocol says it is
//     in the writer's time zone, which the log does not record, and every engine Strata
//     interoperates with writes zone-less values in UTC or writes ISO-8601 UTC.
//   - timestamp_ntz: the same forms without an offset ("Z" is tolerated and ignored).
//   - boolean: "true" or "false", any case.
//   - binary: the escaped form delta-rs and delta-kernel write, one "\u00XX" sequence per byte;
//     other characters stand for their own UTF-8 bytes (Spark writes the bytes as a string).
//   - string: the raw value.
//
// Errors wrap ErrCorrupt and name the value and the type.
func ParsePartitionValue(raw string, t DataType) (scalar.Scalar, error) {
	at, err := partitionArrowType(t)
	if err != nil {
		return nil, err
	}
	if raw == "" {
		return scalar.MakeNullScalar(at), nil
	}
	s, err := parsePartitionNonNull(raw, t, at)
	if err != nil {
		return nil, fmt.Errorf("%w: partition value %q of type %s: %v", ErrCorrupt, raw, t, err)
	}
	return s, nil
}

func partitionArrowType(t DataType) (arrow.DataType, error) {
	switch t.(type) {
	case *PrimitiveType, *DecimalType:
		return ToArrowType(t), nil
	}
	return nil, fmt.Errorf("%w: partition column of type %s: only primitive types can be partition columns", ErrCorrupt, t)
}

func parsePartitionNonNull(raw string, t DataType, at arrow.DataType) (scalar.Scalar, error) {
	if dt, ok := t.(*DecimalType); ok {
		n, err := ParseDecimal(raw, int32(dt.Precision), int32(dt.Scale))
		if err != nil {
			return nil, err
		}
		return scalar.NewDecimal128Scalar(n, at), nil
	}
	switch t {
	case TypeString:
		return scalar.NewStringScalar(raw), nil
	case TypeByte, TypeShort, TypeInteger, TypeLong:
		bits := map[*PrimitiveType]int{TypeByte: 8, TypeShort: 16, TypeInteger: 32, TypeLong: 64}[t.(*PrimitiveType)]
		v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, bits)
		if err != nil {
			return nil, err
		}
		return scalar.MakeIntegerScalar(v, bits)
	case TypeFloat:
		v, err := parseJavaFloat(raw, 32)
		if err != nil {
			return nil, err
		}
		return scalar.NewFloat32Scalar(float32(v)), nil
	case TypeDouble:
		v, err := parseJavaFloat(raw, 64)
		if err != nil {
			return nil, err
		}
		return scalar.NewFloat64Scalar(v), nil
	case TypeBoolean:
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "true":
			return scalar.NewBooleanScalar(true), nil
		case "false":
			return scalar.NewBooleanScalar(false), nil
		}
		return nil, fmt.Errorf("not a boolean")
	case TypeDate:
		d, err := ParseDate(raw)
		if err != nil {
			return nil, err
		}
		return scalar.NewDate32Scalar(d), nil
	case TypeTimestamp:
		us, err := ParseTimestampMicros(raw, false)
		if err != nil {
			return nil, err
		}
		return scalar.NewTimestampScalar(arrow.Timestamp(us), at), nil
	case TypeTimestampNTZ:
		us, err := ParseTimestampMicros(raw, true)
		if err != nil {
			return nil, err
		}
		return scalar.NewTimestampScalar(arrow.Timestamp(us), at), nil
	case TypeBinary:
		b, err := unescapeBinary(raw)
		if err != nil {
			return nil, err
		}
		return scalar.NewBinaryScalar(memory.NewBufferBytes(b), arrow.BinaryTypes.Binary), nil
	case TypeVoid:
		return scalar.MakeNullScalar(arrow.Null), nil
	}
	return nil, fmt.Errorf("unsupported partition type")
}

// parseJavaFloat parses Java's and Go's float renderings, including "NaN", "Infinity" and
// "-Infinity".
func parseJavaFloat(raw string, bits int) (float64, error) {
	s := strings.TrimSpace(raw)
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Infinity", "+Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	// Java accepts a trailing type suffix ("1.0f", "1.0d"); Spark's cast does not write one, but
	// tolerate it.
	if n := len(s); n > 1 && strings.ContainsAny(s[n-1:], "fFdD") {
		s = s[:n-1]
	}
	return strconv.ParseFloat(s, bits)
}

// ParseDecimal parses a decimal number written in plain or scientific notation ("-12.50",
// "1E-7", "4.661261177E7") into the unscaled value at the given scale. It fails if the value has
// non-zero digits below the scale or does not fit the precision.
func ParseDecimal(raw string, precision, scale int32) (decimal128.Num, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return decimal128.Num{}, fmt.Errorf("empty decimal")
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return decimal128.Num{}, fmt.Errorf("bad exponent in %q", raw)
		}
		exp = e
		s = s[:i]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
	}
	digits := intPart + frac
	if digits == "" {
		return decimal128.Num{}, fmt.Errorf("no digits in %q", raw)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return decimal128.Num{}, fmt.Errorf("invalid decimal %q", raw)
		}
	}
	v, _ := new(big.Int).SetString(digits, 10)
	shift := exp - len(frac) + int(scale) // value*10^scale = v * 10^shift
	if shift >= 0 {
		v.Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(shift)), nil))
	} else {
		var rem big.Int
		v.QuoRem(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-shift)), nil), &rem)
		if rem.Sign() != 0 {
			return decimal128.Num{}, fmt.Errorf("%q has more than %d fractional digits", raw, scale)
		}
	}
	if neg {
		v.Neg(v)
	}
	if precision < 1 || precision > 38 {
		return decimal128.Num{}, fmt.Errorf("invalid precision %d", precision)
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)
	if new(big.Int).Abs(v).Cmp(limit) >= 0 {
		return decimal128.Num{}, fmt.Errorf("%q does not fit decimal(%d,%d)", raw, precision, scale)
	}
	return decimal128.FromBigInt(v), nil
}

// ParseDate parses "yyyy-mm-dd" into days since the Unix epoch.
func ParseDate(raw string) (arrow.Date32, error) {
	t, err := time.Parse("2006-01-02", strings.TrimSpace(raw))
	if err != nil {
		return 0, fmt.Errorf("not a date (yyyy-mm-dd)")
	}
	return arrow.Date32(t.Unix() / 86400), nil
}

// ParseTimestampMicros parses a timestamp string into microseconds since the Unix epoch. It accepts
// "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss[.f...]" and the same with a "T" separator, followed (unless
// ntz) by an optional zone: "Z", "±hh:mm", "±hhmm" or "±hh". Zone-less strings are UTC (or, for ntz,
// wall-clock time). Digits beyond microseconds are truncated.
func ParseTimestampMicros(raw string, ntz bool) (int64, error) {
	s := strings.TrimSpace(raw)
	if len(s) < 10 {
		return 0, fmt.Errorf("not a timestamp")
	}
	d, err := time.Parse("2006-01-02", s[:10])
	if err != nil {
		return 0, fmt.Errorf("not a timestamp: bad date")
	}
	us := d.Unix() * 1_000_000
	rest := s[10:]
	if rest == "" {
		return us, nil
	}
	if rest[0] != ' ' && rest[0] != 'T' {
		return 0, fmt.Errorf("not a timestamp: expected ' ' or 'T' after the date")
	}
	rest = rest[1:]
	if len(rest) < 8 || rest[2] != ':' || rest[5] != ':' {
		return 0, fmt.Errorf("not a timestamp: expected hh:mm:ss")
	}
	h, err1 := strconv.Atoi(rest[0:2])
	m, err2 := strconv.Atoi(rest[3:5])
	sec, err3 := strconv.Atoi(rest[6:8])
	if err1 != nil || err2 != nil || err3 != nil || h > 23 || m > 59 || sec > 59 || h < 0 || m < 0 || sec < 0 {
		return 0, fmt.Errorf("not a timestamp: bad time of day")
	}
	us += int64(h*3600+m*60+sec) * 1_000_000
	rest = rest[8:]
	if rest != "" && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		frac := rest[1:i]
		if frac == "" || len(frac) > 9 {
			return 0, fmt.Errorf("not a timestamp: bad fraction of a second")
		}
		if len(frac) > 6 {
			frac = frac[:6]
		}
		f, _ := strconv.Atoi(frac + strings.Repeat("0", 6-len(frac)))
		us += int64(f)
		rest = rest[i:]
	}
	switch {
	case rest == "":
	case rest == "Z" || rest == "z":
	case rest[0] == '+' || rest[0] == '-':
		if ntz {
			return 0, fmt.Errorf("timestamp_ntz value with a time-zone offset")
		}
		off := strings.ReplaceAll(rest[1:], ":", "")
		if len(off) != 2 && len(off) != 4 {
			return 0, fmt.Errorf("not a timestamp: bad zone offset %q", rest)
		}
		oh, err := strconv.Atoi(off[:2])
		om := 0
		if err == nil && len(off) == 4 {
			om, err = strconv.Atoi(off[2:])
		}
		if err != nil || oh > 18 || om > 59 {
			return 0, fmt.Errorf("not a timestamp: bad zone offset %q", rest)
		}
		delta := int64(oh*3600+om*60) * 1_000_000
		if rest[0] == '+' {
			us -= delta
		} else {
			us += delta
		}
	default:
		return 0, fmt.Errorf("not a timestamp: unexpected %q", rest)
	}
	return us, nil
}

func unescapeBinary(raw string) ([]byte, error) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		if raw[i] == '\\' && i+1 < len(raw) && raw[i+1] == 'u' {
			if i+6 > len(raw) {
				return nil, fmt.Errorf("incomplete \\u escape")
			}
			v, err := strconv.ParseUint(raw[i+2:i+6], 16, 32)
			if err != nil {
				return nil, fmt.Errorf("bad \\u escape %q", raw[i:i+6])
			}
			if v <= 0xff {
				out = append(out, byte(v))
			} else {
				out = utf8.AppendRune(out, rune(v))
			}
			i += 6
			continue
		}
		out = append(out, raw[i])
		i++
	}
	return out, nil
}

// FormatPartitionValue renders a scalar as the protocol's partition-value string; a null scalar
// gives "". Forms: integers in decimal; float and double as Java renders them ("1.0", "1.0E10",
// "NaN", "Infinity"); decimals with all their scale digits ("1.50"); dates "1970-01-01";
// timestamps with a zone as ISO-8601 UTC with microseconds ("1970-01-01T00:00:00.123456Z");
// zone-less timestamps (timestamp_ntz) as "1970-01-01 00:00:00.123456"; booleans "true"/"false";
// binary as one "\u00XX" escape per byte (the form delta-rs and delta-kernel write and read).
func FormatPartitionValue(s scalar.Scalar) (string, error) {
	if s == nil || !s.IsValid() {
		return "", nil
	}
	switch v := s.(type) {
	case *scalar.String:
		return v.String(), nil
	case *scalar.LargeString:
		return v.String(), nil
	case *scalar.Int8:
		return strconv.FormatInt(int64(v.Value), 10), nil
	case *scalar.Int16:
		return strconv.FormatInt(int64(v.Value), 10), nil
	case *scalar.Int32:
		return strconv.FormatInt(int64(v.Value), 10), nil
	case *scalar.Int64:
		return strconv.FormatInt(v.Value, 10), nil
	case *scalar.Float32:
		return FormatJavaFloat(float64(v.Value), 32), nil
	case *scalar.Float64:
		return FormatJavaFloat(v.Value, 64), nil
	case *scalar.Boolean:
		return strconv.FormatBool(v.Value), nil
	case *scalar.Date32:
		return FormatDate(v.Value), nil
	case *scalar.Timestamp:
		tt := v.Type.(*arrow.TimestampType)
		us, err := timestampToMicros(int64(v.Value), tt.Unit)
		if err != nil {
			return "", err
		}
		if tt.TimeZone == "" {
			return time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.000000"), nil
		}
		return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z"), nil
	case *scalar.Decimal128:
		return v.Value.ToString(v.Type.(*arrow.Decimal128Type).Scale), nil
	case *scalar.Binary:
		var b strings.Builder
		for _, c := range v.Data() {
			fmt.Fprintf(&b, "\\u%04X", c)
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("%w: no partition-value form for %s", ErrInvalidArgument, s.DataType())
}

func timestampToMicros(v int64, unit arrow.TimeUnit) (int64, error) {
	switch unit {
	case arrow.Second:
		return v * 1_000_000, nil
	case arrow.Millisecond:
		return v * 1_000, nil
	case arrow.Microsecond:
		return v, nil
	case arrow.Nanosecond:
		return floorDiv(v, 1_000), nil
	}
	return 0, fmt.Errorf("%w: timestamp unit %s", ErrInvalidArgument, unit)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// FormatDate renders days since the epoch as "yyyy-mm-dd".
func FormatDate(d arrow.Date32) string {
	return time.Unix(int64(d)*86400, 0).UTC().Format("2006-01-02")
}

// FormatJavaFloat renders a float the way Java's Double.toString (bits 64) or Float.toString
// (bits 32) does, which is how Spark casts floating-point partition values to strings: "1.0",
// "9.9", "1.0E10", "1.0E-5", "NaN", "Infinity", "-Infinity".
func FormatJavaFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	// Shortest digits that round-trip, then laid out as Java does.
	e := strconv.FormatFloat(f, 'e', -1, bits) // [-]d[.ddd]e±xx
	neg := e[0] == '-'
	if neg {
		e = e[1:]
	}
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		if exp >= 0 {
			if len(digits) <= exp+1 {
				out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
			} else {
				out = digits[:exp+1] + "." + digits[exp+1:]
			}
		} else {
			out = "0." + strings.Repeat("0", -exp-1) + digits
		}
	} else {
		frac := digits[1:]
		if frac == "" {
			frac = "0"
		}
		out = digits[:1] + "." + frac + "E" + strconv.Itoa(exp)
	}
	if neg {
		return "-" + out
	}
	return out
}

// partitionPathEscapes marks the ASCII characters Spark's escapePathName (and Hive's) escapes in
// partition directory names: the control characters 0x01-0x1F, 0x7F and "#%'*/:=?\{[]^ .
// Non-ASCII characters are kept as they are.
var partitionPathEscapes = func() (set [128]bool) {
	for c := 0x01; c <= 0x1f; c++ {
		set[c] = true
	}
	for _, c := range "\"#%'*/:=?\\\x7f{[]^" {
		set[c] = true
	}
	return set
}()

// EscapePartitionPathName escapes a partition column name or value for a directory name as Spark
// does: each character of partitionPathEscapes becomes %XX (uppercase hexadecimal).
func EscapePartitionPathName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 128 && partitionPathEscapes[c] {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// UnescapePartitionPathName reverses EscapePartitionPathName (and any %XX escape), leaving
// malformed escapes as they are, as Spark's unescapePathName does.
func UnescapePartitionPathName(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// PartitionDir returns the Hive-style directory for a file with the given partition values, in the
// order of columns, with a trailing slash: "a=1/b=x%2Fy/". Names and values are escaped as Spark
// does (EscapePartitionPathName); a null (empty or missing) value is written as
// HiveDefaultPartition. With no columns it returns "". The directory is a convention only:
// readers take partition values from the log.
func PartitionDir(columns []string, values PartitionValues) string {
	var b strings.Builder
	for _, c := range columns {
		b.WriteString(EscapePartitionPathName(c))
		b.WriteByte('=')
		if v := values[c]; v == "" {
			b.WriteString(HiveDefaultPartition)
		} else {
			b.WriteString(EscapePartitionPathName(v))
		}
		b.WriteByte('/')
	}
	return b.String()
}
