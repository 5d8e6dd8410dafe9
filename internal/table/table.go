// Package table is Strata's Delta table engine with real I/O: the kernel (internal/delta) joined to
// object storage, Parquet data files (internal/parquetio) and input files (internal/ingest). It is
// what the `strata table` commands, and later the SQL engine and the streaming sinks, call to
// create, write, scan and maintain tables.
package table

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
)

// Table is an open Delta table location. The table need not exist yet (Create makes it). Safe for
// concurrent use; it caches nothing, so every call sees the latest committed state.
type Table struct {
	kernel *delta.Table
	store  storage.Store
}

// Option configures Open.
type Option func(*openConfig)

type openConfig struct {
	storage storage.Options
	clock   func() time.Time
	store   storage.Store
}

// WithStorageOptions passes S3 endpoint and similar settings to storage.Open.
func WithStorageOptions(o storage.Options) Option { return func(c *openConfig) { c.storage = o } }

// WithClock injects the clock (tests).
func WithClock(now func() time.Time) Option { return func(c *openConfig) { c.clock = now } }

// WithStore uses an existing store rooted at the table instead of opening the location (tests,
// fault injection).
func WithStore(s storage.Store) Option { return func(c *openConfig) { c.store = s } }

// Open opens the table at location: a local directory or an s3://bucket/prefix URL.
func Open(ctx context.Context, location string, opts ...Option) (*Table, error) {
	cfg := openConfig{clock: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	store := cfg.store
	if store == nil {
		var err error
		store, err = storage.Open(ctx, location, cfg.storage)
		if err != nil {
			return nil, fmt.Errorf("table: open %s: %w", location, err)
		}
	}
	return &Table{kernel: delta.NewTable(store, parquetio.Codec{}, delta.WithClock(cfg.clock)), store: store}, nil
}

// Kernel returns the underlying Delta kernel handle.
func (t *Table) Kernel() *delta.Table { return t.kernel }

// Store returns the store rooted at the table.
func (t *Table) Store() storage.Store { return t.store }

// Location is the table root as the user wrote it.
func (t *Table) Location() string { return t.store.URL() }

// Snapshot loads the table at version (latest when version < 0).
func (t *Table) Snapshot(ctx context.Context, version int64) (*delta.Snapshot, error) {
	return t.kernel.Snapshot(ctx, version)
}

// SnapshotAt loads the table as of a timestamp.
func (t *Table) SnapshotAt(ctx context.Context, ts time.Time) (*delta.Snapshot, error) {
	return t.kernel.SnapshotAt(ctx, ts)
}

// Exists reports whether the location holds a Delta table.
func (t *Table) Exists(ctx context.Context) (bool, error) {
	_, err := t.kernel.Snapshot(ctx, -1)
	if errors.Is(err, delta.ErrNotATable) {
		return false, nil
	}
	return err == nil, err
}

// Create commits version 0 of a new table. It fails with delta.ErrTableExists if a log exists.
func (t *Table) Create(ctx context.Context, opts delta.CreateOptions) (*delta.CommitResult, error) {
	if ok, err := t.Exists(ctx); err != nil && !errors.Is(err, delta.ErrNotATable) {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("table: create %s: %w", t.Location(), delta.ErrTableExists)
	}
	proto, md, err := delta.NewTableMetadata(opts, t.kernel.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("table: create %s: %w", t.Location(), err)
	}
	tx := t.kernel.NewTransaction(nil, delta.Operation{Name: "CREATE TABLE", Parameters: map[string]any{
		"isManaged": "false", "description": opts.Description, "partitionBy": md.PartitionColumns, "properties": md.Configuration,
	}})
	tx.SetProtocol(proto)
	tx.SetMetadata(md)
	return tx.Commit(ctx)
}
