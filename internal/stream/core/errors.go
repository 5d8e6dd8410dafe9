package core

import "errors"

// Sentinel errors of the streaming core. Errors returned by this package wrap one of these
// together with the batch, partition, key or column they concern; test them with errors.Is.
var (
	// ErrInvalidConfig: a Config (or one of its specs) that cannot describe a query: a window
	// without a size, an aggregate over a negative column, a low-latency trigger with a negative
	// delay. The message names the field.
	ErrInvalidConfig = errors.New("invalid stream config")
	// ErrProtocol: the driver broke the contract documented on Query: an event out of phase
	// (BatchData for another batch, Advance with nothing to acknowledge), a row from a partition the
	// batch does not read, Restore after the query has started.
	ErrProtocol = errors.New("stream driver protocol violation")
	// ErrCorrupt: persisted state (an offsets-log entry, a commit record, an operator's key or
	// value) does not decode, or the offsets log has a gap. The message names the key.
	ErrCorrupt = errors.New("corrupt stream state")
	// ErrIncompatibleState: the persisted state was written by a query whose stateful part (window,
	// aggregates, output mode, dedup key, watermark delay, allowed lateness) differs from this
	// Config's. The state cannot be reinterpreted; start the query from a fresh checkpoint.
	ErrIncompatibleState = errors.New("persisted state belongs to a different query definition")
	// ErrDataLoss: a source no longer holds positions the query has not processed yet (retention
	// removed them), or its end moved before the committed position. Config.AllowDataLoss turns the
	// first case into a skip; the second is always an error.
	ErrDataLoss = errors.New("source data lost")
	// ErrKindMismatch: a value's kind does not fit the aggregate (sum of a string) or differs from
	// the kind the aggregate has seen so far for the same column (an int after a float).
	ErrKindMismatch = errors.New("value kind mismatch")
	// ErrOverflow: an int64 sum (or the sum behind an avg) overflowed. As in ANSI SQL this fails the
	// batch rather than wrapping around.
	ErrOverflow = errors.New("integer overflow")
)
