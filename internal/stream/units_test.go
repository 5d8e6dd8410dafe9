package stream

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/stream/core"
)

func TestWithCTEs(t *testing.T) {
	const c = `"src" AS (SELECT 1)`
	for _, tc := range []struct{ in, want string }{
		{"SELECT * FROM src", "WITH " + c + "\nSELECT * FROM src"},
		{"  with x AS (SELECT 2) SELECT * FROM x", "  with " + c + ",  x AS (SELECT 2) SELECT * FROM x"},
		{"WITH RECURSIVE r AS (SELECT 1) SELECT 1", "WITH RECURSIVE " + c + ",  r AS (SELECT 1) SELECT 1"},
		{"-- note\n/* c */ WITH x AS (SELECT 1) FROM x", "-- note\n/* c */ WITH " + c + ",  x AS (SELECT 1) FROM x"},
		{"FROM src SELECT value", "WITH " + c + "\nFROM src SELECT value"},
		{"WITHOUT", "WITH " + c + "\nWITHOUT"},
	} {
		if got := withCTEs(tc.in, c); got != tc.want {
			t.Errorf("withCTEs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKeyRoundTrip(t *testing.T) {
	dec, _ := core.ParseDecimal("-12.340")
	for _, vals := range [][]core.Value{
		nil,
		{core.Null()},
		{core.Int(-5), core.String("ES"), core.Float(1.5), dec},
		{core.String(""), core.Int(math.MinInt64), core.Decimal(new(big.Int).Lsh(big.NewInt(1), 200), 3)},
	} {
		var k []byte
		for _, v := range vals {
			k = appendKeyValue(k, v)
		}
		got, err := decodeKey(k, len(vals))
		if err != nil {
			t.Fatal(err)
		}
		for i := range vals {
			if c, err := core.Compare(got[i], vals[i]); (vals[i].IsNull() != got[i].IsNull()) || (!vals[i].IsNull() && (err != nil || c != 0)) {
				t.Errorf("value %d: %s, want %s", i, got[i], vals[i])
			}
		}
	}
	// -0 and +0 (and any two NaNs) are one key.
	if string(appendKeyValue(nil, core.Float(math.Copysign(0, -1)))) != string(appendKeyValue(nil, core.Float(0))) {
		t.Error("-0 and +0 encode differently")
	}
	if _, err := decodeKey([]byte{tagString, 5, 'a'}, 1); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("truncated key: %v", err)
	}
}

// TestValueMapping reads Arrow columns into values and writes them back into builders of the same
// types: the mapping is lossless.
func TestValueMapping(t *testing.T) {
	types := []arrow.DataType{arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint16,
		arrow.FixedWidthTypes.Boolean, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, &arrow.Decimal128Type{Precision: 18, Scale: 2},
		arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
		&arrow.TimestampType{Unit: arrow.Nanosecond}, arrow.FixedWidthTypes.Date32}
	for _, dt := range types {
		b := array.NewBuilder(memory.DefaultAllocator, dt)
		switch bb := b.(type) {
		case *array.Int8Builder:
			bb.AppendValues([]int8{-3, 7}, nil)
		case *array.Int32Builder:
			bb.AppendValues([]int32{-3, 7}, nil)
		case *array.Int64Builder:
			bb.AppendValues([]int64{-3, 7}, nil)
		case *array.Uint16Builder:
			bb.AppendValues([]uint16{3, 65535}, nil)
		case *array.BooleanBuilder:
			bb.AppendValues([]bool{true, false}, nil)
		case *array.Float32Builder:
			bb.AppendValues([]float32{1.25, -2}, nil)
		case *array.Float64Builder:
			bb.AppendValues([]float64{1.25, math.Inf(1)}, nil)
		case *array.Decimal128Builder:
			if err := bb.AppendValueFromString("12.34"); err != nil {
				t.Fatal(err)
			}
			bb.AppendValueFromString("-0.05")
		case *array.StringBuilder:
			bb.AppendValues([]string{"a", ""}, nil)
		case *array.BinaryBuilder:
			bb.AppendValues([][]byte{{0, 1}, {255}}, nil)
		case *array.TimestampBuilder:
			bb.AppendValues([]arrow.Timestamp{1_700_000_000_123, -5}, nil)
		case *array.Date32Builder:
			bb.AppendValues([]arrow.Date32{19000, -1}, nil)
		}
		b.AppendNull()
		arr := b.NewArray()
		get, err := newGetter(arr)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		out := array.NewBuilder(memory.DefaultAllocator, dt)
		for i := 0; i < arr.Len(); i++ {
			if err := appendValue(out, get(i)); err != nil {
				t.Fatalf("%s: %v", dt, err)
			}
		}
		back := out.NewArray()
		if !array.Equal(arr, back) {
			// Nanosecond timestamps keep microseconds only.
			if ts, ok := dt.(*arrow.TimestampType); !ok || ts.Unit != arrow.Nanosecond {
				t.Errorf("%s: %v came back as %v", dt, arr, back)
			}
		}
		arr.Release()
		back.Release()
	}
	if _, err := newGetter(array.MakeArrayOfNull(memory.DefaultAllocator, arrow.ListOf(arrow.PrimitiveTypes.Int64), 1)); !errors.Is(err, ErrTransformOutput) {
		t.Errorf("list column: %v", err)
	}
}

func TestQueryValidation(t *testing.T) {
	good := revenueQuery("q", "/tmp/x", OutputUpdate)
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mut  func(q *Query)
		want string
	}{
		{"name", func(q *Query) { q.Name = "a b" }, "Name"},
		{"no sources", func(q *Query) { q.Sources = nil }, "no sources"},
		{"source both", func(q *Query) { q.Sources[0].Table = "t" }, "exactly one"},
		{"source name", func(q *Query) { q.Sources[0].Name = "my-src" }, "identifier"},
		{"remote checkpoint", func(q *Query) { q.Checkpoint = "s3://b/ckpt" }, "remote checkpoint"},
		{"no event time", func(q *Query) { q.EventTime = "" }, "EventTime"},
		{"update without aggregate", func(q *Query) { q.Aggregate = nil }, "update output mode"},
		{"reserved column", func(q *Query) { q.Aggregate.GroupBy = []string{"window_start"} }, "reserved"},
		{"sum of nothing", func(q *Query) { q.Aggregate.Aggs[0].Column = "" }, "needs a Column"},
		{"negative delay", func(q *Query) { q.Watermark.Delay = -time.Second }, "negative"},
	} {
		q := revenueQuery("q", "/tmp/x", OutputUpdate)
		q.Sources = append([]Source(nil), q.Sources...)
		tc.mut(&q)
		err := q.validate()
		if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// fixedInput is an input with a fixed schema, for transform tests.
type fixedInput struct {
	input
	n string
	s *arrow.Schema
}

func (f fixedInput) name() string          { return f.n }
func (f fixedInput) schema() *arrow.Schema { return f.s }
