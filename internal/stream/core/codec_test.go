package core

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"testing"
	"time"
)

func mustDecimal(t testing.TB, s string) Value {
	t.Helper()
	v, err := ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sameValue compares exactly: kind, float bits, decimal unscaled value and scale, string bytes.
func sameValue(a, b Value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case KindInt:
		return a.i == b.i
	case KindFloat:
		return math.Float64bits(a.f) == math.Float64bits(b.f)
	case KindDecimal:
		return a.scale == b.scale && a.d.Cmp(b.d) == 0
	case KindString:
		return a.s == b.s
	}
	return true
}

func TestValueRoundTrip(t *testing.T) {
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890123456789", 10)
	values := []Value{
		Null(), Int(0), Int(-1), Int(math.MaxInt64), Int(math.MinInt64),
		Float(0), Float(math.Copysign(0, -1)), Float(1.5), Float(math.Inf(-1)), Float(math.NaN()),
		Float(math.Float64frombits(0x7ff8000000000abc)), // a NaN with a payload
		Decimal(nil, 0), Decimal(big.NewInt(150), 2), Decimal(huge, 38), mustDecimal(t, "-0.001"),
		String(""), String("héllo"), String("\x00\xff"),
	}
	for _, v := range values {
		t.Run(v.String(), func(t *testing.T) {
			enc := appendValue(nil, v)
			d := &decoder{b: enc}
			got := d.value()
			if err := d.done(); err != nil {
				t.Fatal(err)
			}
			if !sameValue(got, v) {
				t.Fatalf("round trip of %s gave %s", v, got)
			}
			// Every strict prefix fails to decode (the encodings are self-delimiting).
			for n := range len(enc) {
				d := &decoder{b: enc[:n]}
				d.value()
				if d.done() == nil {
					t.Fatalf("prefix %x of %x decoded", enc[:n], enc)
				}
			}
		})
	}
}

func TestCanonicalEquality(t *testing.T) {
	for _, tc := range []struct {
		a, b  Value
		equal bool
	}{
		{Float(0), Float(math.Copysign(0, -1)), true},
		{Float(math.NaN()), Float(math.Float64frombits(0x7ff8000000000abc)), true},
		{Float(1), Float(1.0000000001), false},
		{mustDecimal(t, "1.5"), mustDecimal(t, "1.50"), true},
		{mustDecimal(t, "0"), mustDecimal(t, "0.000"), true},
		{mustDecimal(t, "-10"), mustDecimal(t, "-10.0"), true},
		{mustDecimal(t, "10"), mustDecimal(t, "1"), false},
		{Int(1), Float(1), false},
		{String("1"), Int(1), false},
	} {
		got := bytes.Equal(appendCanonical(nil, tc.a), appendCanonical(nil, tc.b))
		if got != tc.equal {
			t.Errorf("canonical(%s) == canonical(%s): %v, want %v", tc.a, tc.b, got, tc.equal)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b Value
		want int
	}{
		{Int(1), Int(2), -1},
		{Float(math.NaN()), Float(math.Inf(1)), 1},
		{Float(math.Copysign(0, -1)), Float(0), 0},
		{mustDecimal(t, "1.5"), mustDecimal(t, "1.49"), 1},
		{mustDecimal(t, "-2"), mustDecimal(t, "-1.999"), -1},
		{String("a"), String("b"), -1},
	} {
		got, err := Compare(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	if _, err := Compare(Int(1), Float(1)); !errors.Is(err, ErrKindMismatch) {
		t.Errorf("Compare(int, float): %v", err)
	}
}

func TestParseDecimal(t *testing.T) {
	for in, want := range map[string]string{"1.50": "1.50", "-0.125": "-0.125", "+7": "7", ".5": "0.5", "-.05": "-0.05", "12.": "12"} {
		v, err := ParseDecimal(in)
		if err != nil || v.String() != want {
			t.Errorf("ParseDecimal(%q) = %s, %v; want %s", in, v, err, want)
		}
	}
	for _, bad := range []string{"", "-", "1.2.3", "1e5", "abc", "."} {
		if _, err := ParseDecimal(bad); err == nil {
			t.Errorf("ParseDecimal(%q) succeeded", bad)
		}
	}
}

// TestAccumulatorRoundTrip feeds each aggregate a sequence, encodes it at every step and checks
// that the decoded accumulator has the same result, the same encoding, and keeps behaving the
// same when both receive the rest of the sequence.
func TestAccumulatorRoundTrip(t *testing.T) {
	ints := []Value{Int(3), Null(), Int(-7), Int(3), Int(math.MaxInt32)}
	floats := []Value{Float(1.5), Float(math.Copysign(0, -1)), Null(), Float(2.25), Float(math.NaN())}
	decs := []Value{mustDecimal(t, "1.50"), mustDecimal(t, "-0.125"), Null(), mustDecimal(t, "10")}
	strs := []Value{String("b"), String("a"), Null(), String("b"), String("")}
	var many []Value
	for i := range 20000 { // enough to turn the HyperLogLog sketch dense (more than 2^14 entries)
		many = append(many, Int(int64(i*7919)))
	}
	for _, tc := range []struct {
		f    AggFunc
		vals []Value
		want string // final result
	}{
		{AggCount, ints, "4"},
		{AggSum, ints, "2147483646"},
		{AggSum, floats, "NaN"},
		{AggSum, decs, "11.375"},
		{AggMin, strs, `""`},
		{AggMax, floats, "NaN"},
		{AggMin, decs, "-0.125"},
		{AggAvg, ints, "5.368709115e+08"},
		{AggAvg, decs, "3.7916667"},
		{AggCountDistinct, floats, "4"},
		{AggCountDistinct, strs, "3"},
		{AggApproxCountDistinct, strs, "3"},
		{AggApproxCountDistinct, decs, "3"},
		{AggApproxCountDistinct, many, "19958"}, // dense: see below
		{AggCountDistinct, many, "20000"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.f, len(tc.vals)), func(t *testing.T) {
			for cut := 0; cut <= len(tc.vals); cut += max(1, len(tc.vals)/7) {
				a := newAccumulator(tc.f)
				for _, v := range tc.vals[:cut] {
					if err := a.add(v); err != nil {
						t.Fatal(err)
					}
				}
				a.normalize()
				enc := a.appendTo(nil)
				b := newAccumulator(tc.f)
				d := &decoder{b: enc}
				b.decode(d)
				if err := d.done(); err != nil {
					t.Fatalf("cut %d: decode: %v", cut, err)
				}
				if !bytes.Equal(b.appendTo(nil), enc) {
					t.Fatalf("cut %d: re-encoding differs", cut)
				}
				for _, v := range tc.vals[cut:] {
					if err := errors.Join(a.add(v), b.add(v)); err != nil {
						t.Fatal(err)
					}
				}
				ra, rb := a.result(), b.result()
				if !sameValue(ra, rb) {
					t.Fatalf("cut %d: original %s, restored %s", cut, ra, rb)
				}
				if ra.String() != tc.want {
					t.Fatalf("cut %d: result %s, want %s", cut, ra, tc.want)
				}
				a.normalize()
				b.normalize()
				final := a.appendTo(nil)
				if !bytes.Equal(final, b.appendTo(nil)) {
					t.Fatalf("cut %d: final encodings differ", cut)
				}
				if tc.f == AggApproxCountDistinct && len(tc.vals) == len(many) && len(final) < 1<<14 {
					t.Fatalf("sketch of %d values still sparse (%d bytes)", len(many), len(final))
				}
			}
		})
	}
}

func TestAccumulatorMerge(t *testing.T) {
	for _, f := range []AggFunc{AggCount, AggSum, AggMin, AggMax, AggAvg, AggCountDistinct, AggApproxCountDistinct} {
		whole, left, right := newAccumulator(f), newAccumulator(f), newAccumulator(f)
		for i := range int64(40) {
			v := Int(i * i % 17)
			_ = whole.add(v)
			if i%3 == 0 {
				_ = left.add(v)
			} else {
				_ = right.add(v)
			}
		}
		if err := left.merge(right); err != nil {
			t.Fatal(err)
		}
		if a, b := whole.result(), left.result(); !sameValue(a, b) {
			t.Errorf("%s: merged %s, whole %s", f, b, a)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	agg, err := NewAggregator(AggregateSpec{Window: Tumbling(10), Aggs: []AggSpec{{Func: AggCountDistinct, Column: 0}, {Func: AggApproxCountDistinct, Column: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	key := aggregateKey(Window{0, 10}, "k")
	for _, tc := range []struct {
		name       string
		key, value []byte
	}{
		{"short key", []byte{sectionAggregate, 1}, []byte{0}},
		{"empty value", key, nil},
		{"bad flags", key, []byte{7}},
		{"distinct count beyond data", key, []byte{0, 0x7f}},
		{"sketch garbage", key, append([]byte{0, 0}, appendBytes(nil, []byte{9, 9, 9})...)},
		{"trailing bytes", key, append(append([]byte{0, 0}, appendBytes(nil, mustSketch(t))...), 1)},
		{"empty window", aggregateKey(Window{5, 5}, "k"), append([]byte{0, 0}, appendBytes(nil, mustSketch(t))...)},
	} {
		if err := agg.Load(tc.key, tc.value); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
		}
	}
	dd, _ := NewDeduplicator(DedupSpec{})
	if err := dd.Load([]byte{sectionDedup, 'k'}, []byte{1, 2}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("dedup: %v", err)
	}
	for _, bad := range []string{"", "{", `{"v":2}`, `{"v":1,"ranges":[{"source":"a","from":5,"to":1}]}`,
		`{"v":1,"ranges":[{"source":"b"},{"source":"a"}]}`} {
		if _, err := DecodeBatch([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeBatch(%q): %v", bad, err)
		}
	}
}

func mustSketch(t *testing.T) []byte {
	a := newAccumulator(AggApproxCountDistinct).(*hllAcc)
	data, err := a.sk.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBatchRoundTrip(t *testing.T) {
	b := &Batch{ID: 42, PlannedAt: time.Unix(1700000000, 123456789), Flush: true, Backlog: true,
		Ranges: []Range{{PartitionID{"a", 0}, 1, 5}, {PartitionID{"a", 3}, 7, 7}, {PartitionID{"b", 0}, 0, 9}}}
	got, err := DecodeBatch(encodeBatch(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != b.String() || !got.PlannedAt.Equal(b.PlannedAt) || got.Flush != b.Flush || got.Backlog != b.Backlog {
		t.Fatalf("round trip: %s, want %s", got, b)
	}
}
