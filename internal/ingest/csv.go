package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// The CSV reader uses encoding/csv rather than arrow-go's arrow/csv reader: encoding/csv gives
// each record's line and each field's position (FieldPos), reports a bad quote as an error
// about one record and then carries on with the next, and leaves the field count to us, which
// is what per-record quarantine needs. arrow/csv stops the whole read at the first bad value
// and says neither line nor column.

// csvReader reads a CSV file in a target schema.
type csvReader struct {
	*batchState
	in  *inputFile
	rec *recorder
	cr  *csv.Reader

	started bool
	nfields int      // fields a record must have
	colOf   []int    // file field index -> target column
	names   []string // file field index -> target column name (for errors)
	convs   []*fieldConv
	cells   []cell // by target column; columns absent from the file stay null
}

func openCSV(file string, target *arrow.Schema, o Options) (*csvReader, error) {
	convs := make([]*fieldConv, target.NumFields())
	for i, f := range target.Fields() {
		fc, err := newFieldConv(f)
		if err != nil {
			return nil, fmt.Errorf("ingest: %s: %w", file, err)
		}
		convs[i] = fc
	}
	in, err := openText(file)
	if err != nil {
		return nil, err
	}
	rec := &recorder{r: in}
	r := &csvReader{batchState: newBatchState(file, target, o), in: in, rec: rec,
		cr: newCSVReader(rec, o), convs: convs, cells: make([]cell, target.NumFields())}
	for i := range r.cells {
		r.cells[i].null = true
	}
	if err := r.start(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// start reads the header (or, without one, sets up positional matching).
func (r *csvReader) start() error {
	if r.opts.NoHeader {
		r.started = true
		r.nfields = r.target.NumFields()
		r.colOf = make([]int, r.nfields)
		r.names = make([]string, r.nfields)
		for i, f := range r.target.Fields() {
			r.colOf[i], r.names[i] = i, f.Name
		}
		return nil
	}
	rec, err := r.cr.Read()
	if err == io.EOF {
		r.err = io.EOF // an empty file: no header, no rows
		return nil
	}
	if err != nil {
		return fmt.Errorf("ingest: %s: reading the header: %w", r.file, err)
	}
	header, err := csvHeader(r.file, rec)
	if err != nil {
		return err
	}
	r.rec.keepFrom(r.cr.InputOffset())
	r.nfields = len(header)
	r.colOf = make([]int, len(header))
	r.names = make([]string, len(header))
	present := make([]bool, r.target.NumFields())
	for i, n := range header {
		t, ok := matchColumn(r.target, n)
		if !ok {
			return fmt.Errorf("%w: %s: column %q (header column %d) is not in the target schema", ErrSchemaMismatch, r.file, n, i+1)
		}
		if present[t] {
			return fmt.Errorf("%w: %s: header columns %q and %q both match target column %q",
				ErrSchemaMismatch, r.file, r.names[indexOf(r.colOf[:i], t)], n, r.target.Field(t).Name)
		}
		present[t] = true
		r.colOf[i], r.names[i] = t, r.target.Field(t).Name
	}
	for t, f := range r.target.Fields() {
		if !present[t] && !f.Nullable {
			return fmt.Errorf("%w: %s: non-nullable column %q is missing", ErrSchemaMismatch, r.file, f.Name)
		}
	}
	r.started = true
	return nil
}

func indexOf(xs []int, v int) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return 0
}

func (r *csvReader) Schema() *arrow.Schema { return r.target }
func (r *csvReader) Stats() Stats          { return r.stats }

func (r *csvReader) Close() error {
	r.release()
	if r.in != nil {
		err := r.in.Close()
		r.in = nil
		return err
	}
	return nil
}

func (r *csvReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.rb == nil {
		return nil, fmt.Errorf("ingest: %s: read after close", r.file)
	}
	for n := 0; !r.full(); n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err // not sticky: the reader is intact
			}
		}
		start := r.cr.InputOffset()
		rec, err := r.cr.Read()
		if err == io.EOF {
			r.err = io.EOF
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			r.err = fmt.Errorf("ingest: %s: %w", r.file, err)
			return nil, r.err
		}
		end := r.cr.InputOffset()
		r.stats.RowsRead++
		row := r.row
		r.row++
		if pe != nil {
			reason := pe.Err.Error()
			if pe.Line != pe.StartLine || pe.Column > 0 {
				reason = fmt.Sprintf("%s (line %d, byte %d)", reason, pe.Line, pe.Column)
			}
			e := &RecordError{File: r.file, Line: int64(pe.StartLine), Row: row, Kind: KindSyntax, Reason: reason}
			if err := r.fail(ctx, e, start, end); err != nil {
				return nil, err
			}
			continue
		}
		line, _ := r.cr.FieldPos(0)
		if e := r.convert(rec, int64(line), row); e != nil {
			if err := r.fail(ctx, e, start, end); err != nil {
				return nil, err
			}
			continue
		}
		for t, fc := range r.convs {
			fc.put(r.rb.Field(t), &r.cells[t])
		}
		r.rows++
		r.bytes += int(end - start)
		r.rec.keepFrom(end)
	}
	if rec := r.flush(); rec != nil {
		return rec, nil
	}
	return nil, r.err
}

// fail rejects a record; in strict mode the error becomes sticky.
func (r *csvReader) fail(ctx context.Context, e *RecordError, start, end int64) error {
	raw := string(bytes.Trim(r.rec.slice(start, end), "\r\n"))
	r.rec.keepFrom(end)
	if err := r.reject(ctx, e, raw); err != nil {
		r.err = err
		return err
	}
	return nil
}

// convert turns one record's fields into cells, or describes the first field that cannot be.
func (r *csvReader) convert(rec []string, line, row int64) *RecordError {
	if len(rec) != r.nfields {
		e := &RecordError{File: r.file, Line: line, Row: row, Kind: KindFieldCount,
			Reason: fmt.Sprintf("expected %d fields, found %d", r.nfields, len(rec))}
		if len(rec) < r.nfields {
			e.Column, e.ColumnName = len(rec)+1, r.names[len(rec)]
		} else {
			e.Column, e.Value = r.nfields+1, truncate(rec[r.nfields])
		}
		return e
	}
	for j, v := range rec {
		t := r.colOf[j]
		fc := r.convs[t]
		var ce *convError
		if r.opts.isNull(v) {
			ce = fc.setNull(&r.cells[t])
		} else {
			ce = fc.fromText(v, &r.cells[t])
		}
		if ce != nil {
			if ce.value == "" && ce.kind != KindNull {
				ce.value = v
			}
			return recordError(r.file, line, row, j+1, r.names[j], ce)
		}
	}
	return nil
}

// recorder keeps the bytes encoding/csv reads, so that a malformed record can be quarantined
// as it was written. It holds the bytes from the start of the current record (keepFrom) to what
// was read ahead, so its size is bounded by the largest record plus encoding/csv's read-ahead.
type recorder struct {
	r    io.Reader
	buf  []byte
	base int64 // file offset of buf[0] (offsets after decompression and BOM removal)
	keep int64 // bytes before this offset may be dropped
}

func (r *recorder) Read(p []byte) (int, error) {
	if dead := int(r.keep - r.base); dead > 64<<10 && dead > len(r.buf)/2 {
		n := copy(r.buf, r.buf[dead:])
		r.buf = r.buf[:n]
		r.base = r.keep
	}
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// keepFrom says the bytes before offset are no longer needed.
func (r *recorder) keepFrom(offset int64) { r.keep = offset }

// slice returns the bytes between two offsets (clipped to what is held).
func (r *recorder) slice(from, to int64) []byte {
	lo, hi := from-r.base, to-r.base
	lo = max(lo, 0)
	hi = min(hi, int64(len(r.buf)))
	if lo >= hi {
		return nil
	}
	return r.buf[lo:hi]
}
