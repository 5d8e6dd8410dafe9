package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
)

// The binary codec of operator state. Every encoding here round-trips exactly (float bits,
// decimal scale, string bytes): decode(encode(x)) behaves identically to x in every later step.

// appendOrderedInt64 appends v as 8 big-endian bytes with the sign bit flipped, so that the
// bytewise order of the encodings is the numeric order (keys sort by window start).
func appendOrderedInt64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(v)^(1<<63))
}

func orderedInt64(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// appendValue appends the exact encoding of v: a kind byte, then int: zig-zag varint; float: 8
// bytes of IEEE bits; decimal: scale byte, sign byte, length-prefixed big-endian magnitude;
// string: length-prefixed bytes.
func appendValue(b []byte, v Value) []byte {
	b = append(b, byte(v.kind))
	switch v.kind {
	case KindInt:
		b = appendVarint(b, v.i)
	case KindFloat:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.f))
	case KindDecimal:
		b = append(b, v.scale, byte(v.d.Sign()+1))
		b = appendBytes(b, v.d.Bytes())
	case KindString:
		b = appendBytes(b, []byte(v.s))
	}
	return b
}

// errShort is wrapped into ErrCorrupt by decoders.
var errShort = errors.New("truncated")

// decoder reads the encodings above. The first failure sticks: later reads return zero values
// and err reports the failure, so callers check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail(errShort)
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns a copy of a length-prefixed byte string.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.fail(errShort)
		return nil
	}
	p := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return p
}

func (d *decoder) value() Value {
	switch k := Kind(d.byte()); k {
	case KindNull:
		return Value{}
	case KindInt:
		return Int(d.varint())
	case KindFloat:
		return Float(math.Float64frombits(d.uint64()))
	case KindDecimal:
		scale, sign := d.byte(), d.byte()
		mag := new(big.Int).SetBytes(d.bytes())
		switch sign {
		case 0:
			mag.Neg(mag)
		case 1:
			if mag.Sign() != 0 {
				d.fail(fmt.Errorf("decimal zero sign with magnitude %s", mag))
			}
		case 2:
		default:
			d.fail(fmt.Errorf("decimal sign byte %d", sign))
		}
		return Value{kind: KindDecimal, scale: scale, d: mag}
	case KindString:
		return String(string(d.bytes()))
	default:
		if d.err == nil {
			d.fail(fmt.Errorf("value kind byte %d", k))
		}
		return Value{}
	}
}

// done reports the sticky error, or an error if bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}
