package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrInvalidOption is returned (wrapped) by Open for an option value out of range.
var ErrInvalidOption = errors.New("embedded log: invalid option")

// Defaults of the options.
const (
	DefaultSegmentBytes       = 64 << 20
	DefaultIndexIntervalBytes = 4 << 10
	DefaultCleanInterval      = 5 * time.Minute
	DefaultMaxBatchBytes      = 8 << 20

	minSegmentBytes = 128
	maxSegmentBytes = 1 << 30
	maxMaxBatch     = 256 << 20
)

// Option configures Open. Options are applied in order and validated by Open.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	syncEvery     time.Duration // 0: fsync every group-committed batch; > 0: fsync within this interval
	syncSet       bool
	segmentBytes  int64
	indexInterval int64
	cleanInterval time.Duration
	maxBatchBytes int
	clock         func() time.Time
	logger        *slog.Logger
}

func defaultOptions() options {
	return options{
		segmentBytes:  DefaultSegmentBytes,
		indexInterval: DefaultIndexIntervalBytes,
		cleanInterval: DefaultCleanInterval,
		maxBatchBytes: DefaultMaxBatchBytes,
		clock:         time.Now,
		logger:        slog.New(slog.DiscardHandler),
	}
}

// SyncEveryBatch makes every Produce return only after an fsync covered its records (the
// default). Concurrent calls to a partition share one fsync (group commit).
func SyncEveryBatch() Option {
	return optionFunc(func(o *options) { o.syncEvery, o.syncSet = 0, true })
}

// SyncInterval makes Produce return once its records are written to the segment file (they
// survive a process crash), and fsyncs each partition at most d after its first unsynced write
// (a machine crash can lose up to d of acknowledged records). d must be positive.
func SyncInterval(d time.Duration) Option {
	return optionFunc(func(o *options) {
		o.syncEvery, o.syncSet = d, true
		if d <= 0 {
			o.syncEvery = -1 // rejected by validate
		}
	})
}

// SegmentBytes sets the size at which a partition's active segment is sealed and a new one
// started (default 64 MiB; 128 bytes to 1 GiB). A segment exceeds it only when one batch alone is
// larger. It is also the largest segment compaction produces when it merges segments.
func SegmentBytes(n int64) Option {
	return optionFunc(func(o *options) { o.segmentBytes = n })
}

// IndexIntervalBytes sets how many bytes of batches a segment holds between two sparse index
// entries (default 4 KiB, at least 1). Smaller means faster lookups and bigger indexes.
func IndexIntervalBytes(n int) Option {
	return optionFunc(func(o *options) { o.indexInterval = int64(n) })
}

// CleanInterval sets how often the background cleaner applies retention and compaction (default
// 5 minutes; 0 disables it, leaving cleaning to explicit Clean calls).
func CleanInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cleanInterval = d })
}

// MaxBatchBytes bounds the encoded size of one Produce call's records for one partition (default
// 8 MiB, at most 256 MiB); larger calls fail with log.ErrRecordTooLarge.
func MaxBatchBytes(n int) Option {
	return optionFunc(func(o *options) { o.maxBatchBytes = n })
}

// WithClock sets the clock used for timestamps of records produced without one and for
// retention and tombstone ages (default time.Now). Waits (MaxWait, sync and clean intervals)
// always use real time.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) { o.clock = now })
}

// WithLogger sets where the log reports background events: recovery repairs, background cleaning
// errors (default: discarded).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

func (o *options) validate() error {
	switch {
	case o.syncEvery < 0:
		return fmt.Errorf("%w: SyncInterval must be positive", ErrInvalidOption)
	case o.segmentBytes < minSegmentBytes || o.segmentBytes > maxSegmentBytes:
		return fmt.Errorf("%w: SegmentBytes %d outside [%d, %d]", ErrInvalidOption, o.segmentBytes, minSegmentBytes, maxSegmentBytes)
	case o.indexInterval < 1:
		return fmt.Errorf("%w: IndexIntervalBytes %d must be at least 1", ErrInvalidOption, o.indexInterval)
	case o.cleanInterval < 0:
		return fmt.Errorf("%w: CleanInterval %v must not be negative", ErrInvalidOption, o.cleanInterval)
	case o.maxBatchBytes < batchHeaderSize+8 || o.maxBatchBytes > maxMaxBatch:
		return fmt.Errorf("%w: MaxBatchBytes %d outside [%d, %d]", ErrInvalidOption, o.maxBatchBytes, batchHeaderSize+8, maxMaxBatch)
	case o.clock == nil:
		return fmt.Errorf("%w: WithClock(nil)", ErrInvalidOption)
	case o.logger == nil:
		return fmt.Errorf("%w: WithLogger(nil)", ErrInvalidOption)
	}
	return nil
}

func (o *options) syncEveryBatch() bool { return o.syncEvery == 0 }
