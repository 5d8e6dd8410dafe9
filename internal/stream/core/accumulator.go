package core

import (
	"fmt"
	"math"
	"math/big"
	"sort"

	"github.com/axiomhq/hyperloglog"
)

// AggFunc is an aggregate function.
type AggFunc uint8

// The aggregate functions. NULL inputs are ignored by all of them except count(*); over no
// non-NULL input, sum, min, max and avg are NULL and the counts 0.
const (
	// AggCount counts rows (Column < 0: count(*)) or non-NULL values of Column. Result: int.
	AggCount AggFunc = iota + 1
	// AggSum sums int (result int, overflow is ErrOverflow), float (result float, summed in row
	// order) or decimal (result decimal at the largest scale seen, exact) values.
	AggSum
	// AggMin is the smallest value (any kind; see Compare).
	AggMin
	// AggMax is the largest value (any kind; see Compare).
	AggMax
	// AggAvg is sum / count. Int and float inputs give a float; decimal(s) inputs give a decimal
	// with scale s+4 (at most 255), rounded half away from zero, as Spark does.
	AggAvg
	// AggCountDistinct counts distinct non-NULL values exactly (the state keeps every value).
	AggCountDistinct
	// AggApproxCountDistinct estimates distinct non-NULL values with a HyperLogLog sketch
	// (github.com/axiomhq/hyperloglog, precision 14: about 0.8% standard error, at most 16 KiB of
	// state per group). Result: int.
	AggApproxCountDistinct
)

// String returns the function's SQL-like name (count, sum, ..., approx_count_distinct).
func (f AggFunc) String() string {
	switch f {
	case AggCount:
		return "count"
	case AggSum:
		return "sum"
	case AggMin:
		return "min"
	case AggMax:
		return "max"
	case AggAvg:
		return "avg"
	case AggCountDistinct:
		return "count_distinct"
	case AggApproxCountDistinct:
		return "approx_count_distinct"
	}
	return fmt.Sprintf("agg(%d)", f)
}

// AggSpec is one aggregate of an aggregation: Func over the Column-th value of each row.
type AggSpec struct {
	Func AggFunc
	// Column indexes Row.Values; -1 (only with AggCount) means count(*).
	Column int
}

// String formats the aggregate as "sum(2)" or "count(*)".
func (a AggSpec) String() string {
	if a.Column < 0 {
		return a.Func.String() + "(*)"
	}
	return fmt.Sprintf("%s(%d)", a.Func, a.Column)
}

func (a AggSpec) validate() error {
	if a.Func < AggCount || a.Func > AggApproxCountDistinct || a.Column < -1 || (a.Column == -1 && a.Func != AggCount) {
		return fmt.Errorf("aggregate %s: %w", a, ErrInvalidConfig)
	}
	return nil
}

// accumulator is the running state of one aggregate of one (window, key) group.
type accumulator interface {
	// add folds one input value in (for count(*), any non-NULL value).
	add(v Value) error
	// merge folds another accumulator of the same function in (session merging).
	merge(o accumulator) error
	// result is the aggregate's current value.
	result() Value
	// normalize compacts the in-memory form to exactly what decode(appendTo) yields, so that a
	// restored accumulator behaves like one that was never persisted.
	normalize()
	appendTo(b []byte) []byte
	decode(d *decoder)
}

func newAccumulator(f AggFunc) accumulator {
	switch f {
	case AggCount:
		return &countAcc{}
	case AggSum:
		return &sumAcc{}
	case AggMin:
		return &extremeAcc{}
	case AggMax:
		return &extremeAcc{max: true}
	case AggAvg:
		return &avgAcc{}
	case AggCountDistinct:
		return &distinctAcc{set: map[string]struct{}{}}
	case AggApproxCountDistinct:
		return &hllAcc{sk: hyperloglog.New14()}
	}
	panic(fmt.Sprintf("stream/core: accumulator for %d", f))
}

type countAcc struct{ n int64 }

func (a *countAcc) add(v Value) error {
	if !v.IsNull() {
		a.n++
	}
	return nil
}
func (a *countAcc) merge(o accumulator) error { a.n += o.(*countAcc).n; return nil }
func (a *countAcc) result() Value             { return Int(a.n) }
func (a *countAcc) normalize()                {}
func (a *countAcc) appendTo(b []byte) []byte  { return appendVarint(b, a.n) }
func (a *countAcc) decode(d *decoder)         { a.n = d.varint() }

// sumAcc is an exact running sum of one kind; kind is KindNull until the first non-NULL value.
type sumAcc struct {
	kind  Kind
	i     int64
	f     float64
	d     *big.Int
	scale uint8
}

func (a *sumAcc) add(v Value) error {
	switch {
	case v.IsNull():
		return nil
	case v.kind == KindString:
		return fmt.Errorf("sum of %s: %w", v.kind, ErrKindMismatch)
	case a.kind == KindNull:
		a.kind = v.kind
		switch v.kind {
		case KindInt:
			a.i = v.i
		case KindFloat:
			a.f = v.f
		case KindDecimal:
			a.d, a.scale = new(big.Int).Set(v.d), v.scale
		}
		return nil
	case a.kind != v.kind:
		return fmt.Errorf("sum of %s after %s: %w", v.kind, a.kind, ErrKindMismatch)
	}
	switch v.kind {
	case KindInt:
		s := a.i + v.i
		if (s > a.i) != (v.i > 0) {
			return fmt.Errorf("sum %d + %d: %w", a.i, v.i, ErrOverflow)
		}
		a.i = s
	case KindFloat:
		a.f += v.f
	case KindDecimal:
		x, y := alignDecimals(a.d, a.scale, v.d, v.scale)
		a.d, a.scale = new(big.Int).Add(x, y), max(a.scale, v.scale)
	}
	return nil
}

func (a *sumAcc) value() Value {
	switch a.kind {
	case KindInt:
		return Int(a.i)
	case KindFloat:
		return Float(a.f)
	case KindDecimal:
		return Decimal(a.d, a.scale)
	}
	return Value{}
}

func (a *sumAcc) merge(o accumulator) error { return a.add(o.(*sumAcc).value()) }
func (a *sumAcc) result() Value             { return a.value() }
func (a *sumAcc) normalize()                {}
func (a *sumAcc) appendTo(b []byte) []byte  { return appendValue(b, a.value()) }
func (a *sumAcc) decode(d *decoder) {
	*a = sumAcc{}
	v := d.value()
	if v.kind == KindString {
		d.fail(fmt.Errorf("sum state of kind string"))
		return
	}
	_ = a.add(v)
}

// extremeAcc is min (or max with max set).
type extremeAcc struct {
	max bool
	v   Value
}

func (a *extremeAcc) add(v Value) error {
	if v.IsNull() {
		return nil
	}
	if a.v.IsNull() {
		a.v = v
		return nil
	}
	c, err := Compare(v, a.v)
	if err != nil {
		return fmt.Errorf("%s: %w", map[bool]string{false: "min", true: "max"}[a.max], err)
	}
	if (a.max && c > 0) || (!a.max && c < 0) {
		a.v = v
	}
	return nil
}
func (a *extremeAcc) merge(o accumulator) error { return a.add(o.(*extremeAcc).v) }
func (a *extremeAcc) result() Value             { return a.v }
func (a *extremeAcc) normalize()                {}
func (a *extremeAcc) appendTo(b []byte) []byte  { return appendValue(b, a.v) }
func (a *extremeAcc) decode(d *decoder)         { a.v = d.value() }

type avgAcc struct {
	sum sumAcc
	n   int64
}

func (a *avgAcc) add(v Value) error {
	if v.IsNull() {
		return nil
	}
	if err := a.sum.add(v); err != nil {
		return fmt.Errorf("avg: %w", err)
	}
	a.n++
	return nil
}

func (a *avgAcc) merge(o accumulator) error {
	ob := o.(*avgAcc)
	if err := a.sum.merge(&ob.sum); err != nil {
		return fmt.Errorf("avg: %w", err)
	}
	a.n += ob.n
	return nil
}

func (a *avgAcc) result() Value {
	if a.n == 0 {
		return Value{}
	}
	switch a.sum.kind {
	case KindInt:
		return Float(float64(a.sum.i) / float64(a.n))
	case KindFloat:
		return Float(a.sum.f / float64(a.n))
	case KindDecimal:
		extra := min(4, math.MaxUint8-int(a.sum.scale))
		num := rescale(a.sum.d, uint8(extra))
		den := big.NewInt(a.n)
		q, r := new(big.Int).QuoRem(num, den, new(big.Int))
		// Round half away from zero: |2r| >= den.
		if new(big.Int).Abs(new(big.Int).Lsh(r, 1)).Cmp(den) >= 0 {
			if num.Sign() < 0 {
				q.Sub(q, big.NewInt(1))
			} else {
				q.Add(q, big.NewInt(1))
			}
		}
		return Decimal(q, a.sum.scale+uint8(extra))
	}
	return Value{}
}

func (a *avgAcc) normalize() {}
func (a *avgAcc) appendTo(b []byte) []byte {
	return a.sum.appendTo(appendVarint(b, a.n))
}
func (a *avgAcc) decode(d *decoder) {
	a.n = d.varint()
	a.sum.decode(d)
}

// distinctAcc keeps the canonical encodings of the distinct values seen.
type distinctAcc struct {
	set map[string]struct{}
}

func (a *distinctAcc) add(v Value) error {
	if !v.IsNull() {
		a.set[string(appendCanonical(nil, v))] = struct{}{}
	}
	return nil
}

func (a *distinctAcc) merge(o accumulator) error {
	for k := range o.(*distinctAcc).set {
		a.set[k] = struct{}{}
	}
	return nil
}

func (a *distinctAcc) result() Value { return Int(int64(len(a.set))) }
func (a *distinctAcc) normalize()    {}

// appendTo writes the count, then the values in byte order (so equal sets encode equally).
func (a *distinctAcc) appendTo(b []byte) []byte {
	keys := make([]string, 0, len(a.set))
	for k := range a.set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = appendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendBytes(b, []byte(k))
	}
	return b
}

func (a *distinctAcc) decode(d *decoder) {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every value takes at least one byte
		d.fail(errShort)
		return
	}
	a.set = make(map[string]struct{}, n)
	for range n {
		a.set[string(d.bytes())] = struct{}{}
	}
}

// hllAcc is approx count distinct over the canonical encodings of the values.
type hllAcc struct {
	sk *hyperloglog.Sketch
}

func (a *hllAcc) add(v Value) error {
	if !v.IsNull() {
		a.sk.Insert(appendCanonical(nil, v))
	}
	return nil
}

func (a *hllAcc) merge(o accumulator) error { return a.sk.Merge(o.(*hllAcc).sk) }

func (a *hllAcc) result() Value { return Int(int64(a.sk.Estimate())) }

// normalize drains the sketch's insertion buffer into its sorted sparse list (or converts it to
// dense registers), which Estimate does as a side effect. The encoding of a normalized sketch has
// an empty buffer and is therefore deterministic, and decoding it gives back the same structure.
func (a *hllAcc) normalize() { a.sk.Estimate() }

func (a *hllAcc) appendTo(b []byte) []byte {
	data, err := a.sk.MarshalBinary()
	if err != nil {
		panic(fmt.Sprintf("stream/core: encode sketch: %v", err)) // a New14 sketch always encodes
	}
	return appendBytes(b, data)
}

func (a *hllAcc) decode(d *decoder) {
	data := d.bytes()
	if d.err != nil {
		return
	}
	a.sk = &hyperloglog.Sketch{}
	if err := a.sk.UnmarshalBinary(data); err != nil {
		d.fail(err)
	}
}
