package ingest

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Defaults of Options.
const (
	// DefaultBatchRows is the most rows in one record batch.
	DefaultBatchRows = 65536
	// DefaultBatchBytes is the input size after which a batch is cut early.
	DefaultBatchBytes = 64 << 20
	// DefaultSampleRows is how many records per file InferSchema looks at.
	DefaultSampleRows = 10000
	// DefaultMaxLineBytes is the longest NDJSON line read; a longer one is a malformed record.
	DefaultMaxLineBytes = 16 << 20
)

// Options tune InferSchema and Open. The zero value is ready to use: format by extension,
// comma-delimited CSV (tab for .tsv) with a header row, the empty field as the only null, strict
// (no quarantine), batches of DefaultBatchRows.
type Options struct {
	// Format overrides DetectFormat's guess from the extension ("" = guess).
	Format Format
	// BatchRows is the most rows in one batch (0 = DefaultBatchRows).
	BatchRows int
	// BatchBytes cuts a CSV or NDJSON batch early once about this many input bytes went into it,
	// so that very wide rows still give bounded batches (0 = DefaultBatchBytes).
	BatchBytes int
	// SampleRows is how many records of each file InferSchema reads (0 = DefaultSampleRows,
	// negative = the whole file).
	SampleRows int
	// Delimiter separates CSV fields (0 = ',' or '\t' for TSV).
	Delimiter rune
	// NoHeader says CSV files have no header row. Their columns are then named column0,
	// column1, ... by InferSchema (as DuckDB names them) and matched to the target by position
	// by Open. The default is a header row, matched to the target by name, case-insensitively.
	NoHeader bool
	// NullValues are the CSV field texts read as null, compared exactly (case and spaces
	// count). nil means the default, which is only the empty field: that is Spark's and
	// DuckDB's default, and a literal "NULL" stays the string "NULL" (add it here to make it
	// null). A quoted empty field "" is null too, as with DuckDB's allow_quoted_nulls, since
	// encoding/csv does not tell quoted from unquoted fields. A non-nil empty slice means no
	// text is null, not even the empty field (which then is an empty string for string
	// columns, and a cast error for others). NDJSON has its own null and ignores this.
	NullValues []string
	// MaxLineBytes bounds one NDJSON line (0 = DefaultMaxLineBytes).
	MaxLineBytes int
	// Quarantine receives malformed records; nil means strict: the first one ends the read.
	Quarantine Quarantine
	// Allocator allocates the batches' memory (nil = memory.DefaultAllocator).
	Allocator memory.Allocator
}

// resolved returns a copy with every default filled in for a file of format f.
func (o Options) resolved(f Format) (Options, error) {
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultBatchRows
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.SampleRows == 0 {
		o.SampleRows = DefaultSampleRows
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.Delimiter == 0 {
		o.Delimiter = ','
		if f == FormatTSV {
			o.Delimiter = '\t'
		}
	}
	if o.Delimiter == '"' || o.Delimiter == '\r' || o.Delimiter == '\n' || o.Delimiter == 0xFFFD {
		return o, fmt.Errorf("ingest: invalid CSV delimiter %q", o.Delimiter)
	}
	if o.NullValues == nil {
		o.NullValues = []string{""}
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	return o, nil
}

// isNull reports whether a CSV field text is one of the null values.
func (o *Options) isNull(s string) bool {
	for _, n := range o.NullValues {
		if s == n {
			return true
		}
	}
	return false
}
