package core

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of the value model. The model is deliberately small: it is what the aggregates need,
// not a SQL type system. The driver maps its columns onto it (every integer width to KindInt,
// float and double to KindFloat, decimal(p,s) to KindDecimal with scale s, strings and binary to
// KindString, dates and timestamps to KindInt in their storage unit).
const (
	// KindNull is SQL NULL. The zero Value is NULL.
	KindNull Kind = iota
	// KindInt is a signed 64-bit integer.
	KindInt
	// KindFloat is an IEEE 754 double. Comparison orders NaN above every other float and -0 equal
	// to +0; distinct counting treats every NaN as one value and -0 as +0.
	KindFloat
	// KindDecimal is an exact decimal: an arbitrary-precision unscaled integer and a scale (number
	// of digits after the point, 0..255). 1.5 and 1.50 compare equal and count as one distinct
	// value; sums are exact and carry the largest scale seen.
	KindDecimal
	// KindString is a byte string (UTF-8 or not), compared bytewise.
	KindString
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindDecimal:
		return "decimal"
	case KindString:
		return "string"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one column value of a Row or a Result. Values are immutable: constructors copy what
// they are given and accessors return copies, so a Value can be shared between rows, state and
// output. The zero Value is NULL.
type Value struct {
	kind  Kind
	scale uint8    // KindDecimal
	i     int64    // KindInt
	f     float64  // KindFloat
	s     string   // KindString
	d     *big.Int // KindDecimal: the unscaled value; never mutated once in a Value
}

// Null returns the NULL value (the zero Value).
func Null() Value { return Value{} }

// Int returns an integer value.
func Int(v int64) Value { return Value{kind: KindInt, i: v} }

// Float returns a float value.
func Float(v float64) Value { return Value{kind: KindFloat, f: v} }

// String returns a string value.
func String(s string) Value { return Value{kind: KindString, s: s} }

// Decimal returns the exact decimal unscaled * 10^-scale. A nil unscaled is zero.
func Decimal(unscaled *big.Int, scale uint8) Value {
	d := new(big.Int)
	if unscaled != nil {
		d.Set(unscaled)
	}
	return Value{kind: KindDecimal, scale: scale, d: d}
}

// ParseDecimal parses a decimal literal such as "-12.340"; the scale is the number of digits
// after the point (3 here).
func ParseDecimal(s string) (Value, error) {
	t := s
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "-"), "+")
	intPart, frac, _ := strings.Cut(t, ".")
	digits := intPart + frac
	if digits == "" || len(frac) > math.MaxUint8 || strings.Trim(digits, "0123456789") != "" {
		return Value{}, fmt.Errorf("decimal %q: %w", s, ErrKindMismatch)
	}
	d, _ := new(big.Int).SetString(digits, 10)
	if neg {
		d.Neg(d)
	}
	return Value{kind: KindDecimal, scale: uint8(len(frac)), d: d}, nil
}

// Kind reports the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is NULL.
func (v Value) IsNull() bool { return v.kind == KindNull }

// AsInt returns the integer of a KindInt value (0 for other kinds).
func (v Value) AsInt() int64 { return v.i }

// AsFloat returns the float of a KindFloat value (0 for other kinds).
func (v Value) AsFloat() float64 { return v.f }

// AsString returns the string of a KindString value ("" for other kinds).
func (v Value) AsString() string { return v.s }

// AsDecimal returns a copy of the unscaled integer and the scale of a KindDecimal value (nil, 0
// for other kinds).
func (v Value) AsDecimal() (unscaled *big.Int, scale uint8) {
	if v.kind != KindDecimal {
		return nil, 0
	}
	return new(big.Int).Set(v.d), v.scale
}

// String formats v for humans and test output: NULL, 42, 1.5 (floats in Go's shortest 'g'
// form), 12.340 (decimals with their scale), "text" (strings quoted).
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "NULL"
	case KindInt:
		return strconv.FormatInt(v.i, 10)
	case KindFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case KindDecimal:
		return formatDecimal(v.d, v.scale)
	case KindString:
		return strconv.Quote(v.s)
	}
	return "?"
}

func formatDecimal(d *big.Int, scale uint8) string {
	s := new(big.Int).Abs(d).String()
	if scale > 0 {
		if len(s) <= int(scale) {
			s = strings.Repeat("0", int(scale)-len(s)+1) + s
		}
		s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	}
	if d.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// Compare orders two non-NULL values of the same kind: -1, 0 or +1. Values of different kinds
// (or a NULL) do not compare; the error wraps ErrKindMismatch.
func Compare(a, b Value) (int, error) {
	if a.kind != b.kind || a.kind == KindNull {
		return 0, fmt.Errorf("compare %s with %s: %w", a.kind, b.kind, ErrKindMismatch)
	}
	switch a.kind {
	case KindInt:
		return cmp.Compare(a.i, b.i), nil
	case KindFloat:
		return compareFloat(a.f, b.f), nil
	case KindDecimal:
		x, y := alignDecimals(a.d, a.scale, b.d, b.scale)
		return x.Cmp(y), nil
	default:
		return strings.Compare(a.s, b.s), nil
	}
}

// compareFloat is a total order: NaN above everything, -0 == +0.
func compareFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}

// alignDecimals returns the two unscaled values brought to the larger of the two scales. The
// results may alias the inputs; callers must not mutate them.
func alignDecimals(a *big.Int, as uint8, b *big.Int, bs uint8) (*big.Int, *big.Int) {
	switch {
	case as < bs:
		return rescale(a, bs-as), b
	case bs < as:
		return a, rescale(b, as-bs)
	}
	return a, b
}

// rescale returns d * 10^by as a new integer.
func rescale(d *big.Int, by uint8) *big.Int {
	return new(big.Int).Mul(d, pow10(by))
}

func pow10(n uint8) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// appendCanonical appends the canonical encoding of a non-NULL value: equal values (1.5 and 1.50,
// -0 and +0, any two NaNs) encode to the same bytes, different values to different bytes. It is
// the identity used by count distinct, approx count distinct and dedup keys.
func appendCanonical(b []byte, v Value) []byte {
	switch v.kind {
	case KindFloat:
		f := v.f
		switch {
		case math.IsNaN(f):
			f = math.NaN()
		case f == 0:
			f = 0
		}
		return appendValue(b, Float(f))
	case KindDecimal:
		d, scale := new(big.Int).Set(v.d), v.scale
		ten, r := big.NewInt(10), new(big.Int)
		for scale > 0 && d.Sign() != 0 {
			q, m := new(big.Int).QuoRem(d, ten, r)
			if m.Sign() != 0 {
				break
			}
			d, scale = q, scale-1
		}
		if d.Sign() == 0 {
			scale = 0
		}
		return appendValue(b, Value{kind: KindDecimal, d: d, scale: scale})
	}
	return appendValue(b, v)
}
