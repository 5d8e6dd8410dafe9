package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
)

// The benchmark rows are sales events: a realistic mix of an increasing key, a high-cardinality
// string, a double with some nulls, a timestamp, a low-cardinality string, a decimal and an int.
var (
	countries = []string{"AR", "BR", "CL", "CO", "DE", "ES", "FR", "GB", "IT", "JP", "MX", "NL", "PE", "PT", "US", "UY"}
	// epochMicros is the first event time (2024-01-01T00:00:00Z).
	epochMicros = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
)

const (
	// LowCardinalityColumn is the column the partitioned variant partitions by.
	LowCardinalityColumn = "country"
	priceScale           = 2
)

// Schema returns the Arrow schema of the generated rows: the logical schema Strata uses in memory
// for the table (every column nullable, timestamps in microseconds UTC).
func Schema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "customer", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: LowCardinalityColumn, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 12, Scale: priceScale}, Nullable: true},
		{Name: "quantity", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
}

// DeltaSchema is Schema as a Delta table schema.
func DeltaSchema() *delta.StructType {
	st, err := delta.FromArrowSchema(Schema())
	if err != nil {
		panic(fmt.Sprintf("bench: schema: %v", err)) // a broken invariant: the schema is fixed
	}
	return st
}

// GenerateRows builds n rows of Schema in batches of batchRows rows, deterministically from seed.
// Row i has id first+i. The caller releases the batches (ReleaseAll).
func GenerateRows(first, n int64, batchRows int, seed uint64) []arrow.RecordBatch {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	schema := Schema()
	mem := memory.DefaultAllocator
	var out []arrow.RecordBatch
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	customers := b.Field(1).(*array.StringBuilder)
	amounts := b.Field(2).(*array.Float64Builder)
	times := b.Field(3).(*array.TimestampBuilder)
	cs := b.Field(4).(*array.StringBuilder)
	prices := b.Field(5).(*array.Decimal128Builder)
	qty := b.Field(6).(*array.Int32Builder)
	var buf []byte
	for done := int64(0); done < n; {
		m := int(min(int64(batchRows), n-done))
		ids.Reserve(m)
		amounts.Reserve(m)
		times.Reserve(m)
		prices.Reserve(m)
		qty.Reserve(m)
		customers.Reserve(m)
		customers.ReserveData(m * 13)
		cs.Reserve(m)
		cs.ReserveData(m * 2)
		for i := 0; i < m; i++ {
			id := first + done + int64(i)
			ids.UnsafeAppend(id)
			buf = fmt.Appendf(buf[:0], "cust-%08d", rng.IntN(2_000_000))
			customers.BinaryBuilder.Append(buf)
			if rng.IntN(100) == 0 {
				amounts.UnsafeAppendBoolToBitmap(false)
			} else {
				amounts.UnsafeAppend(float64(rng.IntN(1_000_000)) / 100)
			}
			// Events arrive roughly in order: about 100 per second with jitter.
			times.UnsafeAppend(arrow.Timestamp(epochMicros + id*10_000 + rng.Int64N(60_000_000)))
			cs.Append(countries[skewed(rng, len(countries))])
			prices.UnsafeAppend(decimal128.FromI64(int64(99 + rng.IntN(50_000))))
			qty.UnsafeAppend(int32(1 + rng.IntN(20)))
		}
		out = append(out, b.NewRecordBatch())
		done += int64(m)
	}
	return out
}

// skewed picks an index in [0, n) with a skew towards small indexes (some countries sell more).
func skewed(rng *rand.Rand, n int) int {
	a, b := rng.IntN(n), rng.IntN(n)
	return min(a, b)
}

// ReleaseAll releases every batch.
func ReleaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// ArrowBytes is the total size of the batches' Arrow buffers (offsets, validity bitmaps and
// values; slices count their whole buffers).
func ArrowBytes(recs []arrow.RecordBatch) int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, r := range recs {
		for _, c := range r.Columns() {
			walk(c.Data())
		}
	}
	return n
}

// CountRows totals the rows of recs.
func CountRows(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	return n
}
