package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/ingest"
)

// FileSource is a Source over local input files (CSV, NDJSON, Parquet) read with internal/ingest.
// Its schema is the files' inferred schema; Open reads them one after the other in the target
// schema. Malformed records fail the write (strict) or go to opts.Quarantine.
type FileSource struct {
	files  []string
	opts   ingest.Options
	schema *arrow.Schema
	// OnBatch, if set, is called with the row count of every batch read (progress reporting).
	OnBatch func(rows int64)

	read, quarantined atomic.Int64
}

// NewFileSource infers the schema of files.
func NewFileSource(ctx context.Context, files []string, opts ingest.Options) (*FileSource, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("table: no input files")
	}
	schema, err := ingest.InferSchema(ctx, files, opts)
	if err != nil {
		return nil, err
	}
	return &FileSource{files: files, opts: opts, schema: schema}, nil
}

// TypesInferred reports whether some input is text (CSV, TSV, NDJSON), whose types are guesses.
func (s *FileSource) TypesInferred() bool {
	for _, f := range s.files {
		if format, err := ingest.DetectFormat(f, string(s.opts.Format)); err != nil || format != ingest.FormatParquet {
			return true
		}
	}
	return false
}

// Schema is the inferred schema of the files.
func (s *FileSource) Schema() *arrow.Schema { return s.schema }

// RowsRead and RowsQuarantined count records over all files once the read is done.
func (s *FileSource) RowsRead() int64        { return s.read.Load() }
func (s *FileSource) RowsQuarantined() int64 { return s.quarantined.Load() }

// Open reads the files in order, converted to target.
func (s *FileSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	return &fileReader{ctx: ctx, src: s, target: target, refs: 1}, nil
}

// fileReader adapts a sequence of ingest.Readers to arrow's array.RecordReader.
type fileReader struct {
	ctx    context.Context
	src    *FileSource
	target *arrow.Schema
	next   int // index of the next file to open
	cur    ingest.Reader
	rec    arrow.RecordBatch
	err    error
	refs   int64
}

func (r *fileReader) Schema() *arrow.Schema { return r.target }

func (r *fileReader) Next() bool {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	for r.err == nil {
		if r.cur == nil {
			if r.next >= len(r.src.files) {
				return false
			}
			r.cur, r.err = ingest.Open(r.ctx, r.src.files[r.next], r.target, r.src.opts)
			r.next++
			continue
		}
		rec, err := r.cur.Next(r.ctx)
		if errors.Is(err, io.EOF) {
			st := r.cur.Stats()
			r.src.read.Add(st.RowsRead)
			r.src.quarantined.Add(st.RowsQuarantined)
			r.err = r.cur.Close()
			r.cur = nil
			continue
		}
		if err != nil {
			r.err = err
			return false
		}
		if r.src.OnBatch != nil {
			r.src.OnBatch(rec.NumRows())
		}
		r.rec = rec
		return true
	}
	return false
}

func (r *fileReader) RecordBatch() arrow.RecordBatch { return r.rec }
func (r *fileReader) Record() arrow.RecordBatch      { return r.rec }
func (r *fileReader) Err() error                     { return r.err }
func (r *fileReader) Retain()                        { atomic.AddInt64(&r.refs, 1) }
func (r *fileReader) Release() {
	if atomic.AddInt64(&r.refs, -1) > 0 {
		return
	}
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
}
