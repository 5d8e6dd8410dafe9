package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Rejected is one malformed record diverted to a quarantine.
type Rejected struct {
	// File, Line, Row, Column, ColumnName, Kind and Reason are those of the record's
	// RecordError (see there).
	File       string
	Line       int64
	Row        int64
	Column     int
	ColumnName string
	Kind       ErrorKind
	Reason     string
	// Raw is the record as it was in the file: the CSV record's text (all its physical lines,
	// without the final newline), the NDJSON line, or for Parquet the row rendered as a JSON
	// object. It is cut at 1 MiB.
	Raw string
}

// maxRawLen bounds Rejected.Raw.
const maxRawLen = 1 << 20

func rejectedFrom(e *RecordError, raw string) Rejected {
	if len(raw) > maxRawLen {
		raw = raw[:maxRawLen]
	}
	return Rejected{File: e.File, Line: e.Line, Row: e.Row, Column: e.Column, ColumnName: e.ColumnName,
		Kind: e.Kind, Reason: e.Reason, Raw: raw}
}

// Quarantine receives malformed records instead of failing the read. A Reader calls Write
// serially; an implementation shared by several Readers must be safe for concurrent use.
// An error from Write ends the read with that error: a record that could not be kept must not
// be dropped.
type Quarantine interface {
	Write(ctx context.Context, r Rejected) error
}

// FileQuarantine is a Quarantine that appends rejected records to a file as NDJSON, one object
// per line:
//
//	{"file":"orders.csv","line":17,"row":15,"column":"amount","column_number":3,"kind":"cast",
//	 "reason":"cannot parse \"12,5x\" as double","raw":"17,2024-01-02,12,5x","ts":"2024-..."}
//
// ("ts" is when the record was quarantined, RFC 3339 UTC; for Parquet "line" is 0 and "row"
// locates the record). It appends to an existing file, so reruns keep earlier rejects. Lines are
// buffered; Close flushes and fsyncs them, so a caller that commits a table write only after
// Close returned nil never commits with rejects lost. It is safe for concurrent use.
type FileQuarantine struct {
	path string
	now  func() time.Time

	mu sync.Mutex // guards the fields below
	f  *os.File
	w  *bufio.Writer
	n  int64
}

// NewFileQuarantine opens (creating if needed) the file at path for appending rejects.
func NewFileQuarantine(path string) (*FileQuarantine, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ingest: quarantine: %w", err)
	}
	return &FileQuarantine{path: path, now: time.Now, f: f, w: bufio.NewWriter(f)}, nil
}

type rejectedLine struct {
	File         string `json:"file"`
	Line         int64  `json:"line"`
	Row          int64  `json:"row"`
	Column       string `json:"column"`
	ColumnNumber int    `json:"column_number"`
	Kind         string `json:"kind"`
	Reason       string `json:"reason"`
	Raw          string `json:"raw"`
	TS           string `json:"ts"`
}

// Write appends one rejected record. It does not block on the disk beyond a buffered write.
func (q *FileQuarantine) Write(ctx context.Context, r Rejected) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(rejectedLine{File: r.File, Line: r.Line, Row: r.Row, Column: r.ColumnName,
		ColumnNumber: r.Column, Kind: string(r.Kind), Reason: r.Reason, Raw: r.Raw,
		TS: q.now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return fmt.Errorf("ingest: quarantine %s: %w", q.path, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return fmt.Errorf("ingest: quarantine %s: write after close", q.path)
	}
	b = append(b, '\n')
	if _, err := q.w.Write(b); err != nil {
		return fmt.Errorf("ingest: quarantine %s: %w", q.path, err)
	}
	q.n++
	return nil
}

// Count returns how many records were written.
func (q *FileQuarantine) Count() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Path returns the quarantine file's path.
func (q *FileQuarantine) Path() string { return q.path }

// Close flushes, fsyncs and closes the file. It is idempotent.
func (q *FileQuarantine) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return nil
	}
	f := q.f
	q.f = nil
	err := q.w.Flush()
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ingest: quarantine %s: %w", q.path, err)
	}
	return nil
}
