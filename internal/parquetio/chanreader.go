package parquetio

import (
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ChanReader is an array.RecordReader over batches arriving on a channel: it feeds
// WriteDataFiles from another goroutine. It owns the batches it receives: each is released when
// the next one is read, and Drain releases the rest. Retain and Release only count (the
// goroutine that created the reader decides its lifetime).
type ChanReader struct {
	schema *arrow.Schema
	ch     <-chan arrow.RecordBatch
	cur    arrow.RecordBatch
	refs   atomic.Int64
}

// NewChanReader returns a reader of schema over the batches of ch, until ch is closed.
func NewChanReader(schema *arrow.Schema, ch <-chan arrow.RecordBatch) *ChanReader {
	return &ChanReader{schema: schema, ch: ch}
}

// Schema is the batches' schema.
func (r *ChanReader) Schema() *arrow.Schema { return r.schema }

// Next releases the current batch and waits for the next one; false once the channel is closed.
func (r *ChanReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	rec, ok := <-r.ch
	r.cur = rec
	return ok
}

// RecordBatch is the current batch.
func (r *ChanReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is the current batch (the older name of RecordBatch).
func (r *ChanReader) Record() arrow.RecordBatch { return r.cur }

// Err is always nil: the producer reports its own errors.
func (r *ChanReader) Err() error { return nil }

// Retain counts a reference.
func (r *ChanReader) Retain() { r.refs.Add(1) }

// Release drops a reference.
func (r *ChanReader) Release() { r.refs.Add(-1) }

// Drain releases the current batch and every batch still sent, until the channel is closed (after
// the consumer stopped early, so that the producer is not blocked).
func (r *ChanReader) Drain() {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for rec := range r.ch {
		rec.Release()
	}
}

var _ array.RecordReader = (*ChanReader)(nil)
