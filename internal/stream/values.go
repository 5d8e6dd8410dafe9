package stream

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"

	"github.com/stratalake/strata/internal/stream/core"
)

// This file maps Arrow columns onto the core's small value model and back. The mapping is
// lossless for the types it accepts, so a value read from the transform's output, encoded in a
// group key, and decoded into an output column of the same type comes back unchanged:
//
//	integers (any width), booleans (0/1)     KindInt
//	float32, float64                         KindFloat
//	decimal128, decimal256                   KindDecimal (the column's scale)
//	string, large string, binary (views too) KindString
//	timestamp (any unit)                     KindInt, microseconds since the epoch
//	date32                                   KindInt, days since the epoch
//	date64                                   KindInt, milliseconds since the epoch
//
// Anything else (lists, structs, maps, intervals) is refused with ErrTransformOutput when a query
// uses such a column as a key, an aggregate input or the event time.

// getter reads row i of an array as a core.Value. Strings are copied: a value the operators keep
// (a min or max) must not pin, or outlive, the batch's buffers.
type getter func(i int) core.Value

// supportedValueType reports whether the value model takes dt.
func supportedValueType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.BOOL, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.DECIMAL256,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY, arrow.STRING_VIEW, arrow.BINARY_VIEW,
		arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return true
	}
	return false
}

// newGetter returns the reader of a column; the types are those of supportedValueType.
func newGetter(arr arrow.Array) (getter, error) {
	nullable := func(g getter) getter {
		if arr.NullN() == 0 {
			return g
		}
		return func(i int) core.Value {
			if arr.IsNull(i) {
				return core.Null()
			}
			return g(i)
		}
	}
	switch a := arr.(type) {
	case *array.Int8:
		return nullable(func(i int) core.Value { return core.Int(int64(a.Value(i))) }), nil
	case *array.Int16:
		return nullable(func(i int) core.Value { return core.Int(int64(a.Value(i))) }), nil
	case *array.Int32:
		return nullable(func(i int) core.Value { return core.Int(int64(a.Value(i))) }), nil
	case *array.Int64:
		return nullable(func(i int) core.Value { return core.Int(a.Value(i)) }), nil
	case *array.Uint8:
		return nullable(func(i int) core.Value { return core.Int(int64(a.Value(i))) }), nil
	case *array.Uint16:
		return nullable(func(i int) core.Value { return core.Int(int64(a.Value(i))) }), nil
	case *array.Uint32:
		return nullable(func(i int) core.Value { return core.Int(int64(a.Value(i))) }), nil
	case *array.Uint64:
		return nullable(func(i int) core.Value {
			v := a.Value(i)
			if v > math.MaxInt64 {
				return core.Decimal(new(big.Int).SetUint64(v), 0)
			}
			return core.Int(int64(v))
		}), nil
	case *array.Boolean:
		return nullable(func(i int) core.Value {
			if a.Value(i) {
				return core.Int(1)
			}
			return core.Int(0)
		}), nil
	case *array.Float32:
		return nullable(func(i int) core.Value { return core.Float(float64(a.Value(i))) }), nil
	case *array.Float64:
		return nullable(func(i int) core.Value { return core.Float(a.Value(i)) }), nil
	case *array.Decimal128:
		scale := uint8(a.DataType().(*arrow.Decimal128Type).Scale)
		return nullable(func(i int) core.Value { return core.Decimal(a.Value(i).BigInt(), scale) }), nil
	case *array.Decimal256:
		scale := uint8(a.DataType().(*arrow.Decimal256Type).Scale)
		return nullable(func(i int) core.Value { return core.Decimal(a.Value(i).BigInt(), scale) }), nil
	case *array.String:
		return nullable(func(i int) core.Value { return core.String(strings.Clone(a.Value(i))) }), nil
	case *array.LargeString:
		return nullable(func(i int) core.Value { return core.String(strings.Clone(a.Value(i))) }), nil
	case *array.StringView:
		return nullable(func(i int) core.Value { return core.String(strings.Clone(a.Value(i))) }), nil
	case *array.Binary:
		return nullable(func(i int) core.Value { return core.String(string(a.Value(i))) }), nil
	case *array.LargeBinary:
		return nullable(func(i int) core.Value { return core.String(string(a.Value(i))) }), nil
	case *array.BinaryView:
		return nullable(func(i int) core.Value { return core.String(string(a.Value(i))) }), nil
	case *array.Timestamp:
		toMicros := timestampToMicros(a.DataType().(*arrow.TimestampType).Unit)
		return nullable(func(i int) core.Value { return core.Int(toMicros(int64(a.Value(i)))) }), nil
	case *array.Date32:
		return nullable(func(i int) core.Value { return core.Int(int64(a.Value(i))) }), nil
	case *array.Date64:
		return nullable(func(i int) core.Value { return core.Int(int64(a.Value(i))) }), nil
	}
	return nil, fmt.Errorf("type %s is not supported here: %w", arr.DataType(), ErrTransformOutput)
}

func timestampToMicros(u arrow.TimeUnit) func(int64) int64 {
	switch u {
	case arrow.Second:
		return func(v int64) int64 { return v * 1_000_000 }
	case arrow.Millisecond:
		return func(v int64) int64 { return v * 1_000 }
	case arrow.Nanosecond:
		return func(v int64) int64 { return floorDiv(v, 1_000) }
	}
	return func(v int64) int64 { return v }
}

func microsToTimestamp(u arrow.TimeUnit, us int64) int64 {
	switch u {
	case arrow.Second:
		return floorDiv(us, 1_000_000)
	case arrow.Millisecond:
		return floorDiv(us, 1_000)
	case arrow.Nanosecond:
		return us * 1_000
	}
	return us
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// eventTimeGetter reads an event-time column as microseconds since the epoch; ok is false for NULL.
func eventTimeGetter(arr arrow.Array) (func(i int) (int64, bool), error) {
	var f func(i int) int64
	switch a := arr.(type) {
	case *array.Timestamp:
		toMicros := timestampToMicros(a.DataType().(*arrow.TimestampType).Unit)
		f = func(i int) int64 { return toMicros(int64(a.Value(i))) }
	case *array.Date32:
		f = func(i int) int64 { return int64(a.Value(i)) * 86_400_000_000 }
	case *array.Date64:
		f = func(i int) int64 { return int64(a.Value(i)) * 1_000 }
	case *array.Int64:
		f = func(i int) int64 { return a.Value(i) }
	case *array.Int32:
		f = func(i int) int64 { return int64(a.Value(i)) }
	default:
		return nil, fmt.Errorf("event-time type %s (TIMESTAMP, TIMESTAMPTZ, DATE or an integer of microseconds): %w", arr.DataType(), ErrTransformOutput)
	}
	if arr.NullN() == 0 {
		return func(i int) (int64, bool) { return f(i), true }, nil
	}
	return func(i int) (int64, bool) {
		if arr.IsNull(i) {
			return 0, false
		}
		return f(i), true
	}, nil
}

func eventTimeTypeOK(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64, arrow.INT64, arrow.INT32:
		return true
	}
	return false
}

// appendValue appends v to b, a builder of type dt (one of supportedValueType's, or an aggregate
// output type).
func appendValue(b array.Builder, v core.Value) error {
	if v.IsNull() {
		b.AppendNull()
		return nil
	}
	mismatch := func() error {
		return fmt.Errorf("value %s into a %s column: %w", v, b.Type(), ErrTransformOutput)
	}
	switch bb := b.(type) {
	case *array.Int8Builder:
		bb.Append(int8(v.AsInt()))
	case *array.Int16Builder:
		bb.Append(int16(v.AsInt()))
	case *array.Int32Builder:
		bb.Append(int32(v.AsInt()))
	case *array.Int64Builder:
		bb.Append(v.AsInt())
	case *array.Uint8Builder:
		bb.Append(uint8(v.AsInt()))
	case *array.Uint16Builder:
		bb.Append(uint16(v.AsInt()))
	case *array.Uint32Builder:
		bb.Append(uint32(v.AsInt()))
	case *array.Uint64Builder:
		if v.Kind() == core.KindDecimal {
			d, _ := v.AsDecimal()
			bb.Append(d.Uint64())
		} else {
			bb.Append(uint64(v.AsInt()))
		}
	case *array.BooleanBuilder:
		bb.Append(v.AsInt() != 0)
	case *array.Float32Builder:
		bb.Append(float32(floatOf(v)))
	case *array.Float64Builder:
		bb.Append(floatOf(v))
	case *array.Decimal128Builder:
		d, err := decimalAt(v, bb.Type().(*arrow.Decimal128Type).Scale)
		if err != nil {
			return err
		}
		if d.BitLen() > 127 {
			return fmt.Errorf("value %s overflows %s: %w", v, bb.Type(), ErrTransformOutput)
		}
		bb.Append(decimal128.FromBigInt(d))
	case *array.Decimal256Builder:
		d, err := decimalAt(v, bb.Type().(*arrow.Decimal256Type).Scale)
		if err != nil {
			return err
		}
		if d.BitLen() > 255 {
			return fmt.Errorf("value %s overflows %s: %w", v, bb.Type(), ErrTransformOutput)
		}
		bb.Append(decimal256.FromBigInt(d))
	case *array.StringBuilder:
		bb.Append(v.AsString())
	case *array.LargeStringBuilder:
		bb.Append(v.AsString())
	case *array.StringViewBuilder:
		bb.Append(v.AsString())
	case *array.BinaryBuilder:
		bb.Append([]byte(v.AsString()))
	case *array.BinaryViewBuilder:
		bb.Append([]byte(v.AsString()))
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(microsToTimestamp(bb.Type().(*arrow.TimestampType).Unit, v.AsInt())))
	case *array.Date32Builder:
		bb.Append(arrow.Date32(v.AsInt()))
	case *array.Date64Builder:
		bb.Append(arrow.Date64(v.AsInt()))
	default:
		return mismatch()
	}
	return nil
}

func floatOf(v core.Value) float64 {
	switch v.Kind() {
	case core.KindInt:
		return float64(v.AsInt())
	case core.KindDecimal:
		d, s := v.AsDecimal()
		f, _ := new(big.Float).Quo(new(big.Float).SetInt(d), new(big.Float).SetInt(pow10(s))).Float64()
		return f
	}
	return v.AsFloat()
}

// decimalAt returns v's unscaled value at scale, rounding half away from zero when v has more
// digits.
func decimalAt(v core.Value, scale int32) (*big.Int, error) {
	var d *big.Int
	var s int32
	switch v.Kind() {
	case core.KindDecimal:
		dd, ss := v.AsDecimal()
		d, s = dd, int32(ss)
	case core.KindInt:
		d = big.NewInt(v.AsInt())
	default:
		return nil, fmt.Errorf("value %s into a decimal column: %w", v, ErrTransformOutput)
	}
	switch {
	case s < scale:
		d.Mul(d, pow10(uint8(scale-s)))
	case s > scale:
		div := pow10(uint8(s - scale))
		q, r := new(big.Int).QuoRem(d, div, new(big.Int))
		if new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2)).Cmp(div) >= 0 {
			if d.Sign() < 0 {
				q.Sub(q, big.NewInt(1))
			} else {
				q.Add(q, big.NewInt(1))
			}
		}
		d = q
	}
	return d, nil
}

func pow10(n uint8) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// Group keys. A key is the concatenation of its values' encodings, each a tag byte and a
// payload; equal values of one column type encode equally (floats: -0 as +0, every NaN alike),
// and decodeKey inverts it.
const (
	tagNull byte = iota
	tagInt
	tagFloat
	tagDecimal
	tagString
)

func appendKeyValue(b []byte, v core.Value) []byte {
	switch v.Kind() {
	case core.KindInt:
		return binary.BigEndian.AppendUint64(append(b, tagInt), uint64(v.AsInt()))
	case core.KindFloat:
		f := v.AsFloat()
		switch {
		case math.IsNaN(f):
			f = math.NaN()
		case f == 0:
			f = 0
		}
		return binary.BigEndian.AppendUint64(append(b, tagFloat), math.Float64bits(f))
	case core.KindDecimal:
		d, s := v.AsDecimal()
		sign := byte(0)
		if d.Sign() < 0 {
			sign = 1
		}
		mag := d.Abs(d).Bytes()
		b = append(b, tagDecimal, s, sign)
		b = binary.AppendUvarint(b, uint64(len(mag)))
		return append(b, mag...)
	case core.KindString:
		s := v.AsString()
		b = binary.AppendUvarint(append(b, tagString), uint64(len(s)))
		return append(b, s...)
	}
	return append(b, tagNull)
}

func decodeKey(k []byte, n int) ([]core.Value, error) {
	out := make([]core.Value, 0, n)
	bad := func() error { return fmt.Errorf("group key %x: %w", k, core.ErrCorrupt) }
	for len(k) > 0 {
		tag := k[0]
		k = k[1:]
		switch tag {
		case tagNull:
			out = append(out, core.Null())
		case tagInt, tagFloat:
			if len(k) < 8 {
				return nil, bad()
			}
			u := binary.BigEndian.Uint64(k)
			k = k[8:]
			if tag == tagInt {
				out = append(out, core.Int(int64(u)))
			} else {
				out = append(out, core.Float(math.Float64frombits(u)))
			}
		case tagDecimal:
			if len(k) < 2 {
				return nil, bad()
			}
			s, sign := k[0], k[1]
			l, m := binary.Uvarint(k[2:])
			if m <= 0 || uint64(len(k)-2-m) < l {
				return nil, bad()
			}
			d := new(big.Int).SetBytes(k[2+m : 2+m+int(l)])
			if sign == 1 {
				d.Neg(d)
			}
			out = append(out, core.Decimal(d, s))
			k = k[2+m+int(l):]
		case tagString:
			l, m := binary.Uvarint(k)
			if m <= 0 || uint64(len(k)-m) < l {
				return nil, bad()
			}
			out = append(out, core.String(string(k[m:m+int(l)])))
			k = k[m+int(l):]
		default:
			return nil, bad()
		}
	}
	if len(out) != n {
		return nil, bad()
	}
	return out, nil
}

// aggOutputType is the Arrow type of an aggregate's result column over an input column of type in
// (nil for count(*)).
func aggOutputType(f core.AggFunc, in arrow.DataType) (arrow.DataType, error) {
	switch f {
	case core.AggCount, core.AggCountDistinct, core.AggApproxCountDistinct:
		return arrow.PrimitiveTypes.Int64, nil
	}
	switch f {
	case core.AggMin, core.AggMax:
		return in, nil
	case core.AggSum, core.AggAvg:
		switch t := in.(type) {
		case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
			*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.BooleanType:
			if f == core.AggSum {
				return arrow.PrimitiveTypes.Int64, nil
			}
			return arrow.PrimitiveTypes.Float64, nil
		case *arrow.Float32Type, *arrow.Float64Type:
			return arrow.PrimitiveTypes.Float64, nil
		case *arrow.Decimal128Type:
			if f == core.AggSum {
				return &arrow.Decimal128Type{Precision: 38, Scale: t.Scale}, nil
			}
			return &arrow.Decimal128Type{Precision: 38, Scale: min(t.Scale+4, 38)}, nil
		case *arrow.Decimal256Type:
			if f == core.AggSum {
				return &arrow.Decimal256Type{Precision: 76, Scale: t.Scale}, nil
			}
			return &arrow.Decimal256Type{Precision: 76, Scale: min(t.Scale+4, 76)}, nil
		}
	}
	return nil, fmt.Errorf("%s over a %s column: %w", f, in, ErrTransformOutput)
}
