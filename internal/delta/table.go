package delta

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stratalake/strata/internal/storage"
)

// ParquetCodec converts between Parquet bytes and Arrow record batches. The kernel uses it for
// checkpoint and sidecar files only; internal/parquetio implements it. Both methods are pure.
type ParquetCodec interface {
	// Decode reads the named top-level columns (all when columns is nil) of a Parquet file. Columns
	// absent from the file are absent from the result.
	Decode(data []byte, columns []string) (*arrow.Schema, []arrow.RecordBatch, error)
	// Encode writes record batches as one Parquet file compressed with codec ("zstd", "snappy", ...).
	Encode(schema *arrow.Schema, recs []arrow.RecordBatch, codec string) ([]byte, error)
}

// Table is a handle on one Delta table: a store rooted at the table directory plus the codecs the
// kernel needs. It holds no cached state; every Snapshot call reads the log. Safe for concurrent use.
type Table struct {
	store   storage.Store
	parquet ParquetCodec
	now     func() time.Time
	// commitParallelism bounds concurrent reads of commit files during log replay.
	commitParallelism int
}

// TableOption configures a Table.
type TableOption interface{ apply(*Table) }

type optionFunc func(*Table)

func (f optionFunc) apply(t *Table) { f(t) }

// WithClock injects the clock used for commit timestamps, tombstone expiry and retention checks.
func WithClock(now func() time.Time) TableOption {
	return optionFunc(func(t *Table) { t.now = now })
}

// WithCommitParallelism sets how many commit files replay reads at once (default 16).
func WithCommitParallelism(n int) TableOption {
	return optionFunc(func(t *Table) {
		if n > 0 {
			t.commitParallelism = n
		}
	})
}

// NewTable returns a handle on the table stored at the root of store.
func NewTable(store storage.Store, parquet ParquetCodec, opts ...TableOption) *Table {
	t := &Table{store: store, parquet: parquet, now: time.Now, commitParallelism: 16}
	for _, o := range opts {
		o.apply(t)
	}
	return t
}

// Store returns the store rooted at the table directory.
func (t *Table) Store() storage.Store { return t.store }

// Location returns the table's root as a user would write it.
func (t *Table) Location() string { return t.store.URL() }

// Now returns the table clock's current time.
func (t *Table) Now() time.Time { return t.now() }
