// Package source reads what a streaming query consumes: the records of log topics and the
// appends of Delta tables, as positions a planner can cut into batches (offsets per partition,
// table versions) and as Arrow record batches once a batch is planned.
package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// ErrChangeCommit: a table read as a stream has a version that removes or rewrites data
// (DELETE, UPDATE, MERGE, overwrite, RESTORE), which an append-only stream cannot follow.
var ErrChangeCommit = errors.New("the table version removes or rewrites rows")

// ErrSchemaChanged: a table read as a stream changed its schema.
var ErrSchemaChanged = errors.New("the table's schema changed")

// TableVersion is what one version of a table added to a stream.
type TableVersion struct {
	Version int64
	// Files are the data files the version added (dataChange adds), in the commit's order.
	Files []*delta.Add
	// Rows is the sum of the files' numRecords (-1 when a file has no statistics).
	Rows int64
	// Skipped is set when the version changed rows and the source skips such versions.
	Skipped bool
}

// DeltaOptions tune a Delta stream source.
type DeltaOptions struct {
	// SkipChangeCommits ignores versions that remove or rewrite rows (their added files too), as
	// Spark's skipChangeCommits does, instead of failing with ErrChangeCommit. Compactions
	// (OPTIMIZE: dataChange false) are always ignored: they change no row.
	SkipChangeCommits bool
}

// DeltaSource follows a Delta table's appends, version after version. Its positions are table
// versions: a batch reads the files added by versions (from, to].
type DeltaSource struct {
	t    *table.Table
	opts DeltaOptions
	// schema is the schema at the version the source was opened (or last checked), to detect
	// changes.
	schema *delta.StructType
}

// OpenDelta opens t as a stream source. The schema of the table now is the schema of the stream.
func OpenDelta(ctx context.Context, t *table.Table, opts DeltaOptions) (*DeltaSource, error) {
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, err
	}
	return &DeltaSource{t: t, opts: opts, schema: snap.Schema()}, nil
}

// Table is the table followed.
func (s *DeltaSource) Table() *table.Table { return s.t }

// Latest returns the table's newest version (reading the log).
func (s *DeltaSource) Latest(ctx context.Context) (int64, error) {
	snap, err := s.t.Snapshot(ctx, -1)
	if err != nil {
		return 0, err
	}
	return snap.Version(), nil
}

// Changes returns what versions (from, to] added, in version order. A version that removes rows
// fails with ErrChangeCommit (naming the table, the version and its operation) unless
// SkipChangeCommits; a schema change fails with ErrSchemaChanged.
func (s *DeltaSource) Changes(ctx context.Context, from, to int64) ([]TableVersion, error) {
	var out []TableVersion
	for v := from + 1; v <= to; v++ {
		actions, err := s.t.Kernel().ReadCommit(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("stream source %s: version %d: %w", s.t.Location(), v, err)
		}
		tv := TableVersion{Version: v}
		changes := false
		op := ""
		for _, a := range actions {
			switch {
			case a.Add != nil && a.Add.DataChange:
				tv.Files = append(tv.Files, a.Add)
			case a.Remove != nil && a.Remove.DataChange:
				changes = true
			case a.Metadata != nil:
				schema, err := a.Metadata.Schema()
				if err != nil {
					return nil, fmt.Errorf("stream source %s: version %d: %w", s.t.Location(), v, err)
				}
				if !additive(s.schema, schema) {
					return nil, fmt.Errorf("stream source %s: version %d: %w (restart the query to read the new schema)", s.t.Location(), v, ErrSchemaChanged)
				}
			case a.CommitInfo != nil:
				op, _ = a.CommitInfo["operation"].(string)
			}
		}
		if changes {
			if !s.opts.SkipChangeCommits {
				return nil, fmt.Errorf("stream source %s: version %d (%s): %w; a streaming read takes appends only (skip such versions with the source's skip-change-commits option)",
					s.t.Location(), v, op, ErrChangeCommit)
			}
			tv.Files, tv.Skipped = nil, true
		}
		tv.Rows = 0
		for _, f := range tv.Files {
			n, ok := numRecords(f)
			if !ok {
				tv.Rows = -1
				break
			}
			tv.Rows += n
		}
		out = append(out, tv)
	}
	return out, nil
}

// Read returns the rows of files (added by versions up to version) in the table's logical
// schema as of version.
func (s *DeltaSource) Read(ctx context.Context, version int64, files []*delta.Add) (array.RecordReader, error) {
	snap, err := s.t.Snapshot(ctx, version)
	if err != nil {
		return nil, err
	}
	if files == nil {
		files = []*delta.Add{}
	}
	return s.t.Scan(ctx, snap, table.ScanOptions{Files: files})
}

// additive reports whether next keeps every column of prev with the same type (new columns may
// be added; they read as null in older files).
func additive(prev, next *delta.StructType) bool {
	for _, f := range prev.Fields {
		g := next.Field(f.Name)
		if g == nil || !delta.TypesEqual(f.Type, g.Type) {
			return false
		}
	}
	return true
}

func numRecords(f *delta.Add) (int64, bool) {
	st, err := delta.ParseStats(f.Stats)
	if err != nil || st == nil || st.NumRecords < 0 {
		return 0, false
	}
	return st.NumRecords, true
}
