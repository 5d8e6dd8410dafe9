package ingest

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Reader streams one input file as record batches in a target schema.
//
// Every batch has exactly the target schema (names, order, types, nullability) and between 1
// and Options.BatchRows rows. A Reader is not safe for concurrent use.
type Reader interface {
	// Schema returns the target schema every batch has.
	Schema() *arrow.Schema
	// Next returns the next batch, which the caller must Release, or io.EOF after the last one.
	// In strict mode a malformed record makes Next return a *RecordError (and the batch being
	// filled is dropped); with a quarantine it goes there and Next goes on. An error is
	// sticky: later calls return it again. Cancelling ctx makes Next return ctx.Err() soon.
	Next(ctx context.Context) (arrow.RecordBatch, error)
	// Stats returns the counters so far.
	Stats() Stats
	// Close releases the file and buffers. It does not close the Quarantine, which belongs to
	// the caller.
	Close() error
}

// Stats counts records. After Next returned io.EOF, RowsRead == RowsEmitted + RowsQuarantined.
type Stats struct {
	// RowsRead counts the records read from the file, good and malformed (not a CSV header,
	// not blank lines).
	RowsRead int64
	// RowsEmitted counts the rows in batches returned by Next.
	RowsEmitted int64
	// RowsQuarantined counts the records written to the quarantine.
	RowsQuarantined int64
}

// Open opens one file for reading in the target schema.
//
// Input columns are matched to target columns by name, case-insensitively (an exact match
// wins). A target column the file lacks is all null, or, if the target field is not nullable,
// an error wrapping ErrSchemaMismatch; a file column the target lacks is an error wrapping
// ErrSchemaMismatch that names it (the caller evolves the table's schema beforehand, comparing
// InferSchema with it). For CSV the header decides this when the file is opened; for NDJSON each
// line decides it (a key the target lacks makes the line malformed, a missing key is a null);
// for Parquet the file's schema decides it. Values are converted as the package documentation
// says (Conversions).
//
// ctx bounds Open itself; each Next takes its own.
func Open(ctx context.Context, file string, target *arrow.Schema, opts Options) (Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	format, err := DetectFormat(file, string(opts.Format))
	if err != nil {
		return nil, err
	}
	o, err := opts.resolved(format)
	if err != nil {
		return nil, err
	}
	if target == nil || target.NumFields() == 0 {
		return nil, fmt.Errorf("%w: %s: the target schema has no columns", ErrSchemaMismatch, file)
	}
	seen := make(map[string]string, target.NumFields())
	for _, f := range target.Fields() {
		lower := strings.ToLower(f.Name)
		if other, dup := seen[lower]; dup {
			return nil, fmt.Errorf("%w: %s: target columns %q and %q differ only in case", ErrSchemaMismatch, file, other, f.Name)
		}
		seen[lower] = f.Name
	}
	switch format {
	case FormatCSV, FormatTSV:
		return openCSV(file, target, o)
	case FormatNDJSON:
		return openNDJSON(file, target, o)
	default:
		return openParquetReader(ctx, file, target, o)
	}
}

// matchColumn finds the target column for an input column name: an exact match, or else the
// only case-insensitive one.
func matchColumn(target *arrow.Schema, name string) (int, bool) {
	if idx := target.FieldIndices(name); len(idx) > 0 {
		return idx[0], true
	}
	for i, f := range target.Fields() {
		if strings.EqualFold(f.Name, name) {
			return i, true
		}
	}
	return -1, false
}

// batchState is what the text readers (CSV, NDJSON) share: the builders of the batch being
// filled, the counters, the quarantine and the sticky error.
type batchState struct {
	file   string
	target *arrow.Schema
	opts   Options
	rb     *array.RecordBuilder
	rows   int   // rows in rb
	bytes  int   // input bytes behind the rows in rb
	row    int64 // index of the next record in the file
	stats  Stats
	err    error
}

func newBatchState(file string, target *arrow.Schema, o Options) *batchState {
	return &batchState{file: file, target: target, opts: o, rb: array.NewRecordBuilder(o.Allocator, target)}
}

// full reports whether the batch being filled should be emitted.
func (b *batchState) full() bool {
	return b.rows >= b.opts.BatchRows || b.bytes >= b.opts.BatchBytes
}

// flush returns the filled batch (nil if empty) and counts its rows as emitted.
func (b *batchState) flush() arrow.RecordBatch {
	if b.rows == 0 {
		return nil
	}
	rec := b.rb.NewRecordBatch()
	b.stats.RowsEmitted += int64(b.rows)
	b.rows, b.bytes = 0, 0
	return rec
}

// reject handles one malformed record: in strict mode it returns the error (to be made sticky
// by the caller), with a quarantine it writes the record there and returns nil.
func (b *batchState) reject(ctx context.Context, e *RecordError, raw string) error {
	if b.opts.Quarantine == nil {
		return e
	}
	if err := b.opts.Quarantine.Write(ctx, rejectedFrom(e, raw)); err != nil {
		return fmt.Errorf("ingest: %s: quarantining line %d: %w", b.file, e.Line, err)
	}
	b.stats.RowsQuarantined++
	return nil
}

func (b *batchState) release() {
	if b.rb != nil {
		b.rb.Release()
		b.rb = nil
	}
}

// recordError places a conversion error in the file.
func recordError(file string, line, row int64, column int, topName string, ce *convError) *RecordError {
	name := topName
	if len(ce.path) > 0 {
		p := ce.pathString()
		switch {
		case topName == "":
			name = p
		case strings.HasPrefix(p, "["):
			name = topName + p
		default:
			name = topName + "." + p
		}
	}
	return &RecordError{File: file, Line: line, Row: row, Column: column, ColumnName: name,
		Value: truncate(ce.value), Expected: ce.expected, Kind: ce.kind, Reason: ce.reason}
}
