package table

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
)

// Source is the input of a write.
type Source interface {
	// Schema is the data's own schema (for text files, the inferred one).
	Schema() *arrow.Schema
	// Open returns the data converted to target, the table's logical Arrow schema. The caller
	// releases the reader.
	Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error)
}

// InferredSource is implemented by sources whose schema was guessed from text (CSV, JSON): their
// values are converted to the table's types as they are read, so the write checks column names
// only, and a value that does not convert fails the write naming its file, line and column.
type InferredSource interface {
	TypesInferred() bool
}

func typesInferred(src Source) bool {
	is, ok := src.(InferredSource)
	return ok && is.TypesInferred()
}

// Mode is how a write combines with the table's current content.
type Mode int

const (
	// Append adds the data to the table.
	Append Mode = iota
	// Overwrite replaces the whole table, or with ReplaceWhere the partitions matching a predicate.
	Overwrite
)

func (m Mode) String() string {
	if m == Overwrite {
		return "Overwrite"
	}
	return "Append"
}

// WriteOptions configure Write.
type WriteOptions struct {
	Mode Mode
	// ReplaceWhere, with Overwrite, limits the overwrite to the partitions matching this predicate
	// over partition columns (e.g. "date = '2024-01-01' AND country IN ('ES','FR')"). Every row
	// written must match it.
	ReplaceWhere string
	// MergeSchema adds the data's new columns (and nested fields) to the table schema.
	MergeSchema bool
	// CreatePartitionBy partitions the table when the write creates it (the location holds no
	// table yet); ignored otherwise.
	CreatePartitionBy []string
	// CreateProperties are table properties when the write creates the table.
	CreateProperties map[string]string
	// AppID and AppVersion, when AppID is set, make the write idempotent: it records txn
	// (AppID, AppVersion) and is skipped (WriteResult.Skipped) if the table already has a txn of
	// AppID at AppVersion or later.
	AppID      string
	AppVersion int64
	// TargetFileSize overrides the table's delta.targetFileSize (default 128 MiB).
	TargetFileSize int64
	// UserMetadata is stored in commitInfo.userMetadata.
	UserMetadata string
}

// WriteResult describes a committed write.
type WriteResult struct {
	Version      int64
	Created      bool // the write created the table
	Skipped      bool // an idempotent write that had already landed
	FilesAdded   int
	FilesRemoved int
	RowsWritten  int64
	BytesWritten int64
	SchemaAdded  []string // columns added by mergeSchema
	Commit       *delta.CommitResult
}

// Write writes src into the table as one atomic commit: data files first (never visible until the
// commit), then the commit, which retries on concurrent commits that do not conflict. If the
// location holds no table, the write creates it with the data's schema. Any error leaves the table
// as it was, except one whose commit outcome is unknown (it wraps storage.ErrTransient and says
// "may have landed" or "outcome unknown": the store kept failing after a write that may have
// reached it), where the commit may be in the log, once; data files written before a failed
// commit are orphans that VACUUM removes.
func (t *Table) Write(ctx context.Context, src Source, opts WriteOptions) (*WriteResult, error) {
	incoming, err := delta.FromArrowSchema(src.Schema())
	if err != nil {
		return nil, fmt.Errorf("table: write %s: %w", t.Location(), err)
	}
	snap, err := t.kernel.Snapshot(ctx, -1)
	created := false
	if errors.Is(err, delta.ErrNotATable) {
		if opts.ReplaceWhere != "" {
			return nil, fmt.Errorf("table: write %s: %w: replaceWhere needs an existing table", t.Location(), delta.ErrInvalidArgument)
		}
		if _, err := t.Create(ctx, delta.CreateOptions{Schema: nullableCopy(incoming), PartitionColumns: opts.CreatePartitionBy, Properties: opts.CreateProperties}); err != nil && !errors.Is(err, delta.ErrTableExists) {
			return nil, err
		} else if err == nil {
			created = true
		}
		snap, err = t.kernel.Snapshot(ctx, -1)
	}
	if err != nil {
		return nil, err
	}
	res := &WriteResult{Created: created}
	if opts.AppID != "" {
		if v, ok := snap.TxnVersion(opts.AppID); ok && v >= opts.AppVersion {
			res.Skipped, res.Version = true, snap.Version()
			return res, nil
		}
	}
	if err := snap.Protocol().CheckWritable(snap.Metadata()); err != nil {
		return nil, fmt.Errorf("table: write %s: %w", t.Location(), err)
	}

	// Schema enforcement or evolution.
	schema := snap.Schema()
	var newMetadata *delta.Metadata
	if opts.MergeSchema {
		maxID, _ := strconv.ParseInt(snap.Metadata().Configuration["delta.columnMapping.maxColumnId"], 10, 64)
		merged, added, newMax, err := delta.MergeSchemas(schema, incoming, snap.ColumnMappingMode() != "none", typesInferred(src), maxID)
		if err != nil {
			return nil, fmt.Errorf("table: write %s: %w", t.Location(), err)
		}
		if len(added) > 0 {
			md := *snap.Metadata()
			md.SchemaString = merged.SchemaString()
			md.Configuration = copyMap(md.Configuration)
			if snap.ColumnMappingMode() != "none" {
				md.Configuration["delta.columnMapping.maxColumnId"] = strconv.FormatInt(newMax, 10)
			}
			newMetadata = &md
			schema = merged
			res.SchemaAdded = added
		}
	} else if err := delta.CheckSchemaCompatible(schema, incoming, typesInferred(src)); err != nil {
		return nil, fmt.Errorf("table: write %s: %w", t.Location(), err)
	}

	// What the write replaces.
	tx := t.kernel.NewTransaction(snap, delta.Operation{Name: "WRITE", Parameters: map[string]any{
		"mode": opts.Mode.String(), "partitionBy": snap.PartitionColumns(),
	}})
	var removes []*delta.Add
	var replacePred delta.Expr
	if opts.Mode == Overwrite {
		if opts.ReplaceWhere != "" {
			replacePred, err = partitionPredicate(snap, opts.ReplaceWhere)
			if err != nil {
				return nil, fmt.Errorf("table: write %s: %w", t.Location(), err)
			}
			tx.ReadPredicate(replacePred)
			removes, err = FilesMatching(snap, replacePred)
			if err != nil {
				return nil, err
			}
			tx.ReadFiles(removes...)
			tx.SetOperationParameter("predicate", []string{replacePred.String()})
		} else {
			tx.ReadWholeTable()
			removes = snap.Files()
		}
	}

	// Data files.
	reader, err := src.Open(ctx, delta.ToArrowSchema(schema))
	if err != nil {
		return nil, err
	}
	defer reader.Release()
	wopts := parquetio.WriteOptions{Schema: schema, PartitionColumns: snap.PartitionColumns()}
	if err := wopts.ApplyTableProperties(snap.Metadata().Configuration); err != nil {
		return nil, err
	}
	if opts.TargetFileSize > 0 {
		wopts.TargetFileSize = opts.TargetFileSize
	}
	files, err := parquetio.WriteDataFiles(ctx, t.store, reader, wopts)
	if err != nil {
		return nil, fmt.Errorf("table: write %s: %w", t.Location(), err)
	}
	if replacePred != nil {
		for _, f := range files {
			vals, err := delta.TypedPartitionValues(schema, snap.PartitionColumns(), snap.ColumnMappingMode(), f.PartitionValues)
			if err != nil {
				return nil, err
			}
			if !replacePred.EvalPartition(vals) {
				return nil, fmt.Errorf("table: write %s: %w: data written to partition %s does not match replaceWhere %s; nothing was committed",
					t.Location(), delta.ErrInvalidArgument, describePartition(f.PartitionValues), replacePred)
			}
		}
	}
	now := t.kernel.Now().UnixMilli()
	for _, f := range files {
		tx.AddFiles(f.Add(true))
		res.RowsWritten += f.NumRecords
		res.BytesWritten += f.Size
	}
	var removedBytes int64
	for _, f := range removes {
		tx.RemoveFiles(f.RemoveAction(now, true))
		removedBytes += f.Size
	}
	if newMetadata != nil {
		tx.SetMetadata(newMetadata)
	}
	if opts.AppID != "" {
		tx.SetAppTransaction(opts.AppID, opts.AppVersion)
	}
	if opts.UserMetadata != "" {
		tx.SetUserMetadata(opts.UserMetadata)
	}
	metrics := map[string]any{"numFiles": len(files), "numOutputRows": res.RowsWritten, "numOutputBytes": res.BytesWritten}
	if opts.Mode == Overwrite {
		metrics["numRemovedFiles"] = len(removes)
		metrics["numRemovedBytes"] = removedBytes
	}
	tx.SetMetrics(metrics)
	if len(files) == 0 && len(removes) == 0 && newMetadata == nil && opts.AppID == "" {
		// Nothing to commit: an empty append changes nothing (Spark still commits; we keep the log
		// free of empty versions).
		res.Version = snap.Version()
		return res, nil
	}
	commit, err := tx.Commit(ctx)
	if err != nil {
		return nil, err
	}
	res.Version, res.Commit = commit.Version, commit
	res.FilesAdded, res.FilesRemoved = len(files), len(removes)
	return res, nil
}

// partitionPredicate parses a replaceWhere predicate and checks it only references partition
// columns.
func partitionPredicate(snap *delta.Snapshot, s string) (delta.Expr, error) {
	e, err := delta.ParsePredicate(s)
	if err != nil {
		return nil, fmt.Errorf("%w: replaceWhere: %v", delta.ErrInvalidArgument, err)
	}
	parts := map[string]bool{}
	for _, p := range snap.PartitionColumns() {
		parts[strings.ToLower(p)] = true
	}
	for _, c := range e.Columns() {
		if !parts[strings.ToLower(c)] {
			if snap.Schema().Field(c) == nil {
				return nil, fmt.Errorf("%w: replaceWhere: column %q is not in the table", delta.ErrInvalidArgument, c)
			}
			if len(snap.PartitionColumns()) == 0 {
				return nil, fmt.Errorf("%w: replaceWhere: the table is not partitioned; Strata supports replaceWhere on partition columns", delta.ErrInvalidArgument)
			}
			return nil, fmt.Errorf("%w: replaceWhere: column %q is not a partition column (partition columns: %s); Strata supports replaceWhere on partition columns",
				delta.ErrInvalidArgument, c, strings.Join(snap.PartitionColumns(), ", "))
		}
	}
	return e, nil
}

// FilesMatching returns the live files whose partition values satisfy a partition predicate.
func FilesMatching(snap *delta.Snapshot, pred delta.Expr) ([]*delta.Add, error) {
	var out []*delta.Add
	for _, f := range snap.Files() {
		vals, err := delta.TypedPartitionValues(snap.Schema(), snap.PartitionColumns(), snap.ColumnMappingMode(), f.PartitionValues)
		if err != nil {
			return nil, err
		}
		if pred.EvalPartition(vals) {
			out = append(out, f)
		}
	}
	return out, nil
}

func describePartition(pv delta.PartitionValues) string {
	var parts []string
	for k, v := range pv {
		if v == "" {
			v = "NULL"
		}
		parts = append(parts, k+"="+v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// nullableCopy returns the schema with every top-level column nullable: a table created from data
// should accept nulls later, as Spark's tables created by a write do.
func nullableCopy(st *delta.StructType) *delta.StructType {
	out := &delta.StructType{}
	for _, f := range st.Fields {
		nf := *f
		nf.Nullable = true
		out.Fields = append(out.Fields, &nf)
	}
	return out
}
