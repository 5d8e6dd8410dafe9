package gen

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Column names of Schema, in order.
const (
	ColEventID       = "event_id"
	ColEventType     = "event_type"
	ColUserID        = "user_id"
	ColSessionID     = "session_id"
	ColEventTS       = "event_ts"
	ColDate          = "date"
	ColCountry       = "country"
	ColDevice        = "device"
	ColProductID     = "product_id"
	ColOrderID       = "order_id"
	ColQuantity      = "quantity"
	ColRevenue       = "revenue"
	ColSchemaVersion = "schema_version"
)

// RevenuePrecision and RevenueScale define revenue's type, DECIMAL(12, 2).
const (
	RevenuePrecision = 12
	RevenueScale     = 2
)

// DefaultBatchRows is the number of rows per record batch of a Reader by default.
const DefaultBatchRows = 64 * 1024

// Schema returns the Arrow schema of the events: every column nullable, event_ts in microseconds
// UTC (a Delta timestamp), date a date32, revenue DECIMAL(12, 2). It is the same schema for both
// event schema versions: version 1 events have a null device.
func Schema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: ColEventID, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColEventType, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColUserID, Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: ColSessionID, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColEventTS, Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: ColDate, Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: ColCountry, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColDevice, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColProductID, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColOrderID, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColQuantity, Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: ColRevenue, Type: &arrow.Decimal128Type{Precision: RevenuePrecision, Scale: RevenueScale}, Nullable: true},
		{Name: ColSchemaVersion, Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
}

// BatchBuilder accumulates events into record batches of Schema. Not safe for concurrent use.
type BatchBuilder struct {
	b   *array.RecordBuilder
	buf []byte

	id, typ, session, country, device, product, order *array.StringBuilder
	user                                              *array.Int64Builder
	ts                                                *array.TimestampBuilder
	date                                              *array.Date32Builder
	qty, version                                      *array.Int32Builder
	revenue                                           *array.Decimal128Builder
}

// NewBatchBuilder returns a builder allocating from mem (nil: the default allocator). Release it
// when done.
func NewBatchBuilder(mem memory.Allocator) *BatchBuilder {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	b := array.NewRecordBuilder(mem, Schema())
	return &BatchBuilder{
		b:       b,
		id:      b.Field(0).(*array.StringBuilder),
		typ:     b.Field(1).(*array.StringBuilder),
		user:    b.Field(2).(*array.Int64Builder),
		session: b.Field(3).(*array.StringBuilder),
		ts:      b.Field(4).(*array.TimestampBuilder),
		date:    b.Field(5).(*array.Date32Builder),
		country: b.Field(6).(*array.StringBuilder),
		device:  b.Field(7).(*array.StringBuilder),
		product: b.Field(8).(*array.StringBuilder),
		order:   b.Field(9).(*array.StringBuilder),
		qty:     b.Field(10).(*array.Int32Builder),
		revenue: b.Field(11).(*array.Decimal128Builder),
		version: b.Field(12).(*array.Int32Builder),
	}
}

// Reserve makes room for n more events.
func (bb *BatchBuilder) Reserve(n int) {
	bb.b.Reserve(n)
	bb.id.ReserveData(n * 36)
	bb.session.ReserveData(n * 16)
	bb.typ.ReserveData(n * 9)
	bb.country.ReserveData(n * 2)
	bb.device.ReserveData(n * 6)
}

// Append adds one event, in its typed form (see Malformation).
func (bb *BatchBuilder) Append(ev *Event) {
	bb.buf = ev.AppendEventID(bb.buf[:0])
	bb.id.BinaryBuilder.Append(bb.buf)
	bb.ts.Append(arrow.Timestamp(ev.TS))
	bb.date.Append(arrow.Date32(ev.Date()))
	optString(bb.typ, ev.Type)
	if ev.UserID == 0 {
		bb.user.AppendNull()
	} else {
		bb.user.Append(ev.UserID)
	}
	if ev.SessionID == 0 {
		bb.session.AppendNull()
	} else {
		bb.buf = ev.AppendSessionID(bb.buf[:0])
		bb.session.BinaryBuilder.Append(bb.buf)
	}
	optString(bb.country, ev.Country)
	optString(bb.device, ev.Device)
	optString(bb.product, ev.ProductID)
	if ev.OrderID == 0 {
		bb.order.AppendNull()
	} else {
		bb.buf = ev.AppendOrderID(bb.buf[:0])
		bb.order.BinaryBuilder.Append(bb.buf)
	}
	if ev.Quantity == 0 {
		bb.qty.AppendNull()
	} else {
		bb.qty.Append(ev.Quantity)
	}
	if ev.Malformation == Truncated {
		bb.revenue.AppendNull()
		bb.version.AppendNull()
		return
	}
	bb.revenue.Append(decimal128.FromI64(ev.RevenueCents))
	bb.version.Append(ev.SchemaVersion)
}

func optString(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
	} else {
		b.Append(s)
	}
}

// Len is the number of events appended since the last NewBatch.
func (bb *BatchBuilder) Len() int { return bb.id.Len() }

// NewBatch returns the events appended so far as a record batch (the caller releases it) and
// resets the builder.
func (bb *BatchBuilder) NewBatch() arrow.RecordBatch { return bb.b.NewRecordBatch() }

// Release frees the builder.
func (bb *BatchBuilder) Release() { bb.b.Release() }

// Reader is an array.RecordReader of the next rows events of a Generator, in batches of Schema.
type Reader struct {
	ctx       context.Context
	g         *Generator
	bb        *BatchBuilder
	left      int64
	batchRows int
	rec       arrow.RecordBatch
	err       error
	refs      atomic.Int64
	// OnEvent, if set, sees every event as it is appended (taps, counts).
	OnEvent func(*Event)
	// OnBatch, if set, sees every batch before Next returns (progress); it must not release it.
	OnBatch func(arrow.RecordBatch)
}

// NewReader returns a reader of the next rows events of g in batches of batchRows rows
// (DefaultBatchRows when <= 0). A cancelled ctx stops it with ctx's error. Release it when done.
func NewReader(ctx context.Context, g *Generator, rows int64, batchRows int) *Reader {
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	r := &Reader{ctx: ctx, g: g, bb: NewBatchBuilder(nil), left: rows, batchRows: batchRows}
	r.refs.Store(1)
	return r
}

// Schema is Schema().
func (r *Reader) Schema() *arrow.Schema { return r.bb.b.Schema() }

// Next builds the next batch; false at the end or on error (see Err).
func (r *Reader) Next() bool {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	if r.left <= 0 || r.err != nil {
		return false
	}
	if err := r.ctx.Err(); err != nil {
		r.err = err
		return false
	}
	n := int(min(int64(r.batchRows), r.left))
	r.bb.Reserve(n)
	for i := 0; i < n; i++ {
		ev := r.g.Next()
		r.bb.Append(&ev)
		if r.OnEvent != nil {
			r.OnEvent(&ev)
		}
	}
	r.left -= int64(n)
	r.rec = r.bb.NewBatch()
	if r.OnBatch != nil {
		r.OnBatch(r.rec)
	}
	return true
}

// RecordBatch returns the current batch, valid until the next call to Next.
func (r *Reader) RecordBatch() arrow.RecordBatch { return r.rec }

// Record is RecordBatch (array.RecordReader's deprecated name).
func (r *Reader) Record() arrow.RecordBatch { return r.rec }

// Err returns the error that stopped the reader, if any.
func (r *Reader) Err() error { return r.err }

// Retain adds a reference.
func (r *Reader) Retain() { r.refs.Add(1) }

// Release drops a reference, freeing the reader at zero.
func (r *Reader) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	r.bb.Release()
}

var _ array.RecordReader = (*Reader)(nil)

// Source is a table write source (it satisfies internal/table's Source) of the first Rows events
// of a new Generator with Config. Every Open starts over, so a retried write writes the same
// events.
type Source struct {
	Config    Config
	Rows      int64
	BatchRows int
	// OnEvent and OnBatch, if set, are given to every Reader Open returns.
	OnEvent func(*Event)
	OnBatch func(arrow.RecordBatch)
}

// Schema is Schema().
func (s *Source) Schema() *arrow.Schema { return Schema() }

// Open returns a reader of the events. target must be Schema() up to field nullability and
// metadata (a table created from Schema has it).
func (s *Source) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	want := Schema()
	if target.NumFields() != want.NumFields() {
		return nil, fmt.Errorf("gen: the target schema has %d columns, the events %d", target.NumFields(), want.NumFields())
	}
	for i, f := range want.Fields() {
		if t := target.Field(i); t.Name != f.Name || !arrow.TypeEqual(t.Type, f.Type) {
			return nil, fmt.Errorf("gen: target column %d is %s %s, the events' is %s %s", i, t.Name, t.Type, f.Name, f.Type)
		}
	}
	g, err := New(s.Config)
	if err != nil {
		return nil, err
	}
	r := NewReader(ctx, g, s.Rows, s.BatchRows)
	r.OnEvent, r.OnBatch = s.OnEvent, s.OnBatch
	return r, nil
}
