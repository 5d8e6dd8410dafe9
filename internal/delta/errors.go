package delta

import (
	"errors"
	"fmt"
)

// Sentinel errors of the kernel. Errors returned by this package wrap one of these (or a storage
// error) together with the table, version or file they concern; test them with errors.Is.
var (
	// ErrCorrupt: the log or a checkpoint is malformed (bad JSON, missing required action, gap in
	// versions). The message names the file and, where known, the line.
	ErrCorrupt = errors.New("corrupt delta log")
	// ErrUnsupportedFeature: the table needs a protocol version or table feature Strata does not
	// implement. The message names the feature.
	ErrUnsupportedFeature = errors.New("unsupported delta feature")
	// ErrNotATable: the location holds no Delta log.
	ErrNotATable = errors.New("not a delta table")
	// ErrVersionNotFound: the requested version (or timestamp) is outside the table's history, or
	// its log files have been cleaned up.
	ErrVersionNotFound = errors.New("version not found")
	// ErrTableExists: create found a log already there.
	ErrTableExists = errors.New("delta table already exists")
	// ErrSchemaMismatch: data does not fit the table schema (enforcement).
	ErrSchemaMismatch = errors.New("schema mismatch")
	// ErrInvalidArgument: a caller asked for something that cannot be done as asked.
	ErrInvalidArgument = errors.New("invalid argument")
)

// ConflictError reports that a concurrent commit made this transaction's commit invalid under
// Delta's isolation rules. Callers branch on it with errors.As. It wraps ErrConflict.
type ConflictError struct {
	// Kind names the rule that failed, in Delta's vocabulary: "ConcurrentAppend",
	// "ConcurrentDeleteRead", "ConcurrentDeleteDelete", "MetadataChanged", "ProtocolChanged",
	// "ConcurrentTransaction", "ConcurrentDomainMetadata".
	Kind string
	// ReadVersion is the snapshot version the transaction read; WinningVersion the commit that
	// conflicted with it.
	ReadVersion, WinningVersion int64
	// Detail names the file, partition, appId or domain involved.
	Detail string
}

// ErrConflict is wrapped by every ConflictError.
var ErrConflict = errors.New("concurrent modification")

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %s: transaction read version %d, conflicting commit %d: %s",
		ErrConflict, e.Kind, e.ReadVersion, e.WinningVersion, e.Detail)
}

// Unwrap lets errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Unwrap() error { return ErrConflict }
