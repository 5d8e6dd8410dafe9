package ingest

import (
	"encoding/base64"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// This file parses one scalar from text. The same rules serve CSV fields and JSON strings (and
// JSON number literals where a number is wanted), so that a value means the same in every
// format. Surrounding spaces are trimmed for every type but string and binary.

// parseBoolText accepts true/false, t/f, 1/0, case-insensitively.
func parseBoolText(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "1":
		return true, true
	case "false", "f", "0":
		return false, true
	}
	return false, false
}

// parseIntText parses a base-10 integer of the given bit size; no fraction, no exponent.
func parseIntText(s string, bits int, expected string) (int64, *convError) {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseInt(t, 10, bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errRange(t, expected)
		}
		return 0, errCast(s, expected)
	}
	return v, nil
}

// parseUintText parses a base-10 unsigned integer of the given bit size.
func parseUintText(s string, bits int, expected string) (uint64, *convError) {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseUint(t, 10, bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) || (strings.HasPrefix(t, "-") && isDigits(t[1:])) {
			return 0, errRange(t, expected)
		}
		return 0, errCast(s, expected)
	}
	return v, nil
}

// parseFloatText parses a decimal floating-point number (also inf, infinity and nan, any case).
// Hexadecimal floats and digit separators are refused; a finite literal beyond the type's range
// is an error, not an infinity.
func parseFloatText(s string, bits int, expected string) (float64, *convError) {
	t := strings.TrimSpace(s)
	if strings.ContainsAny(t, "xX_") {
		return 0, errCast(s, expected)
	}
	v, err := strconv.ParseFloat(t, bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errRange(t, expected)
		}
		return 0, errCast(s, expected)
	}
	return v, nil
}

// decimalText is a parsed decimal literal: (-1)^neg × digits × 10^exp, digits without leading
// zeros ("" for zero).
type decimalText struct {
	neg    bool
	digits string
	exp    int
}

// parseDecimalLiteral parses [+-]digits[.digits][(e|E)[+-]digits] (digits may be absent on one
// side of the point, not both).
func parseDecimalLiteral(s string) (decimalText, bool) {
	var d decimalText
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[start:i]
	fracPart := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracPart = s[fs:i]
	}
	if intPart == "" && fracPart == "" {
		return d, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		es := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ds := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if ds == i {
			return d, false
		}
		e, err := strconv.Atoi(s[es:i])
		if err != nil || e > 1<<20 || e < -(1<<20) {
			// Absurd exponents: keep them out of range without arithmetic on them.
			if s[es] == '-' {
				e = -(1 << 20)
			} else {
				e = 1 << 20
			}
		}
		exp = e
	}
	if i != len(s) {
		return d, false
	}
	digits := strings.TrimLeft(intPart+fracPart, "0")
	d.digits = digits
	d.exp = exp - len(fracPart)
	if digits == "" {
		d.neg = false
		d.exp = 0
	}
	return d, true
}

// scaled returns the literal as an integer count of 10^-scale units, exactly, or reports why
// it cannot be: lost digits (more fractional digits than scale, other than zeros) or more than
// prec digits.
func (d decimalText) scaled(prec, scale int) (digits string, lossy, overflow bool) {
	if d.digits == "" {
		return "0", false, false
	}
	e := d.exp + scale
	digits = d.digits
	if e < 0 {
		if -e >= len(digits) {
			return "", true, false
		}
		cut := digits[len(digits)+e:]
		if strings.Trim(cut, "0") != "" {
			return "", true, false
		}
		digits = digits[:len(digits)+e]
	} else {
		if len(digits)+e > prec {
			return "", false, true
		}
		digits += strings.Repeat("0", e)
	}
	if len(digits) > prec {
		return "", false, true
	}
	return digits, false, false
}

// parseDecimal128Text parses a decimal literal into decimal(prec,scale) exactly. Unlike
// DuckDB's and Spark's casts, which round, a value with more significant fractional digits than
// the scale is refused: ingest never changes a number silently.
func parseDecimal128Text(s string, prec, scale int32, expected string) (decimal128.Num, *convError) {
	t := strings.TrimSpace(s)
	d, ok := parseDecimalLiteral(t)
	if !ok {
		return decimal128.Num{}, errCast(s, expected)
	}
	digits, lossy, overflow := d.scaled(int(prec), int(scale))
	switch {
	case lossy:
		return decimal128.Num{}, errLoss(t, expected, "fractional digits")
	case overflow:
		return decimal128.Num{}, errRange(t, expected)
	}
	var n decimal128.Num
	if len(digits) <= 18 {
		v, _ := strconv.ParseInt(digits, 10, 64)
		n = decimal128.FromI64(v)
	} else {
		bi, _ := new(big.Int).SetString(digits, 10)
		n = decimal128.FromBigInt(bi)
	}
	if d.neg {
		n = n.Negate()
	}
	return n, nil
}

// parseDecimal256Text is parseDecimal128Text for decimal256.
func parseDecimal256Text(s string, prec, scale int32, expected string) (decimal256.Num, *convError) {
	t := strings.TrimSpace(s)
	d, ok := parseDecimalLiteral(t)
	if !ok {
		return decimal256.Num{}, errCast(s, expected)
	}
	digits, lossy, overflow := d.scaled(int(prec), int(scale))
	switch {
	case lossy:
		return decimal256.Num{}, errLoss(t, expected, "fractional digits")
	case overflow:
		return decimal256.Num{}, errRange(t, expected)
	}
	bi, _ := new(big.Int).SetString(digits, 10)
	if d.neg {
		bi.Neg(bi)
	}
	return decimal256.FromBigInt(bi), nil
}

// parseBinaryText decodes standard base64, with or without padding (the encoding JSON
// producers use for bytes, Go's encoding/json among them).
func parseBinaryText(s, expected string) ([]byte, *convError) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			return nil, errCast(s, expected)
		}
	}
	return b, nil
}

// instant is a parsed date or timestamp: seconds and nanoseconds since the Unix epoch, UTC.
type instant struct {
	sec      int64
	nsec     int64
	dateOnly bool // the text had no time part
}

// parseInstant parses, after trimming spaces:
//
//	YYYY-MM-DD
//	YYYY-MM-DD hh:mm:ss[.f...]   (up to 9 fractional digits)
//	YYYY-MM-DDThh:mm:ss[.f...]
//
// each time optionally followed by a zone: Z, or an offset ±hh, ±hhmm, ±hh:mm, possibly after
// one space. Text without a zone is taken as UTC. Field ranges are checked (no February 30th,
// no hour 24, no leap second).
func parseInstant(s string) (instant, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return instant{}, false
	}
	year, ok1 := atoiFixed(s[0:4])
	month, ok2 := atoiFixed(s[5:7])
	day, ok3 := atoiFixed(s[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return instant{}, false
	}
	var hour, minute, second, nsec, offset int
	dateOnly := len(s) == 10
	if !dateOnly {
		if len(s) < 19 || (s[10] != ' ' && s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
			return instant{}, false
		}
		var ok4, ok5, ok6 bool
		hour, ok4 = atoiFixed(s[11:13])
		minute, ok5 = atoiFixed(s[14:16])
		second, ok6 = atoiFixed(s[17:19])
		if !ok4 || !ok5 || !ok6 || hour > 23 || minute > 59 || second > 59 {
			return instant{}, false
		}
		i := 19
		if i < len(s) && s[i] == '.' {
			i++
			fs := i
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			n := i - fs
			if n == 0 || n > 9 {
				return instant{}, false
			}
			frac, _ := strconv.Atoi(s[fs:i])
			for k := n; k < 9; k++ {
				frac *= 10
			}
			nsec = frac
		}
		rest := s[i:]
		if strings.HasPrefix(rest, " ") {
			rest = rest[1:]
			if rest == "" {
				return instant{}, false
			}
		}
		if rest != "" {
			off, ok := parseOffset(rest)
			if !ok {
				return instant{}, false
			}
			offset = off
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC)
	return instant{sec: t.Unix() - int64(offset), nsec: int64(nsec), dateOnly: dateOnly}, true
}

// parseOffset parses Z, ±hh, ±hhmm or ±hh:mm into seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if s == "Z" || s == "z" {
		return 0, true
	}
	if s[0] != '+' && s[0] != '-' {
		return 0, false
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	s = s[1:]
	var hh, mm int
	var ok1, ok2 bool
	switch len(s) {
	case 2:
		hh, ok1 = atoiFixed(s)
		ok2 = true
	case 4:
		hh, ok1 = atoiFixed(s[:2])
		mm, ok2 = atoiFixed(s[2:])
	case 5:
		if s[2] != ':' {
			return 0, false
		}
		hh, ok1 = atoiFixed(s[:2])
		mm, ok2 = atoiFixed(s[3:])
	default:
		return 0, false
	}
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	return sign * (hh*3600 + mm*60), true
}

// parseDateText parses YYYY-MM-DD into days since the Unix epoch.
func parseDateText(s, expected string) (int64, *convError) {
	in, ok := parseInstant(s)
	if !ok || !in.dateOnly {
		return 0, errCast(s, expected)
	}
	return in.sec / 86400, nil
}

// parseTimestampText parses a timestamp (or a date, meaning midnight UTC) into the given unit.
// Digits finer than the unit must be zeros: a nanosecond into a microsecond column is refused
// rather than truncated, as Arrow's safe cast does.
func parseTimestampText(s string, unit arrow.TimeUnit, expected string) (int64, *convError) {
	in, ok := parseInstant(s)
	if !ok {
		return 0, errCast(s, expected)
	}
	return instantIn(in, unit, strings.TrimSpace(s), expected)
}

// instantIn expresses an instant in a time unit.
func instantIn(in instant, unit arrow.TimeUnit, text, expected string) (int64, *convError) {
	perNano := int64(unit.Multiplier()) // nanoseconds per unit
	per := int64(1e9) / perNano         // units per second
	if in.nsec%perNano != 0 {
		return 0, errLoss(text, expected, "sub-"+unitName(unit)+" digits")
	}
	if in.sec > math.MaxInt64/per-1 || in.sec < math.MinInt64/per+1 {
		return 0, errRange(text, expected)
	}
	return in.sec*per + in.nsec/perNano, nil
}

func unitName(u arrow.TimeUnit) string {
	switch u {
	case arrow.Second:
		return "second"
	case arrow.Millisecond:
		return "millisecond"
	case arrow.Microsecond:
		return "microsecond"
	}
	return "nanosecond"
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// atoiFixed parses a run of ASCII digits (no sign).
func atoiFixed(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
