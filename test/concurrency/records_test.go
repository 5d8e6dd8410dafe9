package concurrency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// row is one row of the test table (id BIGINT, p STRING, worker STRING, op STRING) partitioned by
// p. Every row ever written has a distinct id, and worker and op name the operation that wrote it.
type row struct {
	ID     int64  `json:"id"`
	P      string `json:"p"`
	Worker string `json:"worker"`
	Op     string `json:"op"`
}

// partitions are the values of the partition column p.
var partitions = []string{"0", "1", "2"}

// tableSchema is the test table's schema.
func tableSchema() *delta.StructType {
	return &delta.StructType{Fields: []*delta.StructField{
		{Name: "id", Type: delta.TypeLong, Nullable: true},
		{Name: "p", Type: delta.TypeString, Nullable: true},
		{Name: "worker", Type: delta.TypeString, Nullable: true},
		{Name: "op", Type: delta.TypeString, Nullable: true},
	}}
}

// rowSource is a table.Source over rows held in memory. Open waits for delay first: a slow
// producer, which widens the window between the snapshot a write reads and its commit, so that
// concurrent writers overlap more.
type rowSource struct {
	rows  []row
	delay time.Duration
}

// Schema is the Arrow form of tableSchema.
func (s rowSource) Schema() *arrow.Schema { return delta.ToArrowSchema(tableSchema()) }

// Open returns the rows as one record batch laid out as target, whose columns are matched to the
// row's fields by name (case-insensitively), after waiting for s.delay (or until ctx ends).
func (s rowSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	if err := sleepCtx(ctx, s.delay); err != nil {
		return nil, err
	}
	cols := make([]arrow.Array, target.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, f := range target.Fields() {
		switch name := strings.ToLower(f.Name); name {
		case "id":
			if f.Type.ID() != arrow.INT64 {
				return nil, fmt.Errorf("rowSource: column id has type %s, want int64", f.Type)
			}
			b := array.NewInt64Builder(memory.DefaultAllocator)
			for _, r := range s.rows {
				b.Append(r.ID)
			}
			cols[i] = b.NewArray()
			b.Release()
		case "p", "worker", "op":
			if f.Type.ID() != arrow.STRING {
				return nil, fmt.Errorf("rowSource: column %s has type %s, want string", name, f.Type)
			}
			b := array.NewStringBuilder(memory.DefaultAllocator)
			for _, r := range s.rows {
				b.Append(map[string]string{"p": r.P, "worker": r.Worker, "op": r.Op}[name])
			}
			cols[i] = b.NewArray()
			b.Release()
		default:
			return nil, fmt.Errorf("rowSource: no column %q", f.Name)
		}
	}
	rec := array.NewRecordBatch(target, cols, int64(len(s.rows)))
	defer rec.Release()
	return array.NewRecordReader(target, []arrow.RecordBatch{rec})
}

var _ table.Source = rowSource{}

// sleepCtx waits for d or until ctx ends (returning its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// scanRows reads every row of snap, sorted by id.
func scanRows(ctx context.Context, tbl *table.Table, snap *delta.Snapshot) ([]row, error) {
	sc, err := tbl.Scan(ctx, snap, table.ScanOptions{Columns: []string{"id", "p", "worker", "op"}})
	if err != nil {
		return nil, err
	}
	defer sc.Release()
	var out []row
	for sc.Next() {
		rec := sc.RecordBatch()
		ids, ok1 := rec.Column(0).(*array.Int64)
		ps, ok2 := rec.Column(1).(*array.String)
		ws, ok3 := rec.Column(2).(*array.String)
		ops, ok4 := rec.Column(3).(*array.String)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("scan of version %d: unexpected column types %s", snap.Version(), rec.Schema())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, row{ID: ids.Value(i), P: ps.Value(i), Worker: ws.Value(i), Op: ops.Value(i)})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Operation kinds.
const (
	kindAppend    = "append"    // blind append of rows
	kindOverwrite = "overwrite" // Overwrite with ReplaceWhere "p = '<partition>'"
	kindRestore   = "restore"   // restore to an earlier version
)

// Outcomes of an operation.
const (
	outcomeCommitted = "committed" // the write or restore committed Version
	outcomeSkipped   = "skipped"   // an idempotent retry found its earlier attempt in the table
	outcomeConflict  = "conflict"  // a *delta.ConflictError
	outcomeError     = "error"     // anything else
)

// opRecord is one line of a worker's record file. A worker may first write an intent line (no
// Outcome: written before the operation starts, so a killed worker still says what it attempted)
// and then an outcome line for the same Op.
type opRecord struct {
	Op        string `json:"op"` // unique across the test; the commit's userMetadata
	Worker    string `json:"worker"`
	Kind      string `json:"kind"`
	Partition string `json:"partition,omitempty"` // overwrites
	Target    *int64 `json:"target,omitempty"`    // restores
	Rows      []row  `json:"rows,omitempty"`      // appends and overwrites

	ReadVersion    *int64 `json:"readVersion,omitempty"` // when known
	Outcome        string `json:"outcome,omitempty"`
	Version        *int64 `json:"version,omitempty"` // committed version
	ConflictKind   string `json:"conflictKind,omitempty"`
	WinningVersion *int64 `json:"winningVersion,omitempty"`
	Error          string `json:"error,omitempty"`
	Transient      bool   `json:"transient,omitempty"` // the error was a (possibly injected) transient storage failure
	Attempts       int    `json:"attempts,omitempty"`  // put-if-absent attempts of the commit, or Write calls made (idempotent retries)
	Millis         int64  `json:"millis,omitempty"`    // how long the operation took (information only)
}

func i64(v int64) *int64 { return &v }

// recordOutcome fills rec's outcome from the result of a commit.
func recordOutcome(rec *opRecord, version int64, err error) {
	var ce *delta.ConflictError
	rec.Outcome, rec.Version, rec.ConflictKind, rec.WinningVersion, rec.Error, rec.Transient = "", nil, "", nil, "", false
	switch {
	case err == nil:
		rec.Outcome, rec.Version = outcomeCommitted, i64(version)
	case errors.As(err, &ce):
		rec.Outcome, rec.ConflictKind = outcomeConflict, ce.Kind
		rec.ReadVersion, rec.WinningVersion = i64(ce.ReadVersion), i64(ce.WinningVersion)
		rec.Error = err.Error()
	default:
		rec.Outcome, rec.Error = outcomeError, err.Error()
		rec.Transient = storage.IsTransient(err)
	}
}

// recordWriter appends JSON lines to a worker's record file. Every line is one write(2) on a file
// opened with O_APPEND, so a killed worker leaves whole lines (a torn last line is tolerated by
// readRecords anyway).
type recordWriter struct{ f *os.File }

func openRecordWriter(path string) (*recordWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &recordWriter{f}, nil
}

func (w *recordWriter) write(rec *opRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = w.f.Write(append(b, '\n'))
	return err
}

func (w *recordWriter) Close() error { return w.f.Close() }

// readRecords reads record files and merges each operation's lines: the last line with an outcome
// wins, the intent line supplies what the outcome line leaves out. A final line without a newline
// (a worker killed mid-write) is ignored.
func readRecords(paths ...string) (map[string]*opRecord, error) {
	out := map[string]*opRecord{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// Whole lines only: drop whatever follows the last newline.
		lines := strings.Split(string(data), "\n")
		for i, l := range lines[:len(lines)-1] {
			line := i + 1
			var rec opRecord
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				return nil, fmt.Errorf("%s line %d: %w", p, line, err)
			}
			prev := out[rec.Op]
			if prev == nil {
				out[rec.Op] = &rec
				continue
			}
			if prev.Kind != rec.Kind || prev.Worker != rec.Worker {
				return nil, fmt.Errorf("%s line %d: op %s recorded twice with different kinds or workers", p, line, rec.Op)
			}
			if rec.Rows == nil {
				rec.Rows = prev.Rows
			}
			if rec.Target == nil {
				rec.Target = prev.Target
			}
			if rec.ReadVersion == nil {
				rec.ReadVersion = prev.ReadVersion
			}
			out[rec.Op] = &rec
		}
	}
	return out, nil
}
