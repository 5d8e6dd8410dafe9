// Package log is Strata's event log: topics split into partitions of ordered, immutable records,
// addressed by offset, kept by a retention policy and read by consumer groups that commit their
// offsets. It is the source of truth of the Kappa architecture: every record can be replayed from
// its offset or from a point in time.
//
// One interface, [Log], has two backends: the embedded one (package log/embedded, durable segment
// files on the local disk, the single-machine default) and Kafka (package log/kafka, any
// Kafka-protocol cluster through franz-go). Both pass the same test suite (package log/logtest), so
// code above this package never knows which one it runs on.
//
// Semantics shared by every backend:
//
//   - A partition's offsets start at 0 and grow by one per record, with no gaps at the time of the
//     write; compaction and retention later remove records, leaving gaps that readers skip.
//   - Produce is atomic per partition and call: a call's records for one partition get consecutive
//     offsets and become visible together, or the call fails and none of them is visible.
//     A Produce that returned without error is durable under the backend's durability policy.
//   - Records of one partition are fetched in offset order. A record's Timestamp is the one given by
//     the producer, or the append time when the producer left it zero; timestamps need not grow
//     with offsets (late events), so OffsetForTime returns the first offset whose timestamp is at
//     or after the time, scanning forward the way Kafka's time index does (by the index's
//     maximum-timestamp-so-far).
//   - Retention by time removes whole segments (or records) whose newest timestamp is older than the
//     limit; by size removes the oldest segments while the partition is larger than the limit;
//     compaction keeps, for every key, the record with the highest offset, and removes a key whose
//     last record is a tombstone (nil Value) once the tombstone is older than TombstoneRetention.
//     Unless the topic's config says DeleteUncommitted, neither removes a record at or after the
//     lowest offset committed by any consumer group of the topic (a group that never committed
//     holds nothing back). Every removal is counted in the topic's description.
//     The rule applies per partition: a partition is held back at the lowest offset committed
//     for that partition, and a group without a commit for it holds it back nowhere.
package log

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Sentinel errors. Backends wrap them with the topic, partition and offset involved; test with
// errors.Is.
var (
	// ErrUnknownTopic: the topic does not exist.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrTopicExists: CreateTopic of a name already taken.
	ErrTopicExists = errors.New("topic already exists")
	// ErrUnknownPartition: the partition number is outside [0, partitions).
	ErrUnknownPartition = errors.New("unknown partition")
	// ErrOffsetOutOfRange: a fetch below the earliest retained offset or past the latest one.
	// The wrapped *OffsetRangeError carries the partition's current range.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrInvalidConfig: a topic configuration or name that the backend refuses.
	ErrInvalidConfig = errors.New("invalid topic config")
	// ErrRecordTooLarge: a record (or a produce call's batch) larger than the backend accepts.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("log closed")
	// ErrCorrupt: stored data fails its checksum or framing outside of a recoverable torn tail.
	ErrCorrupt = errors.New("corrupt log data")
)

// OffsetRangeError is returned (wrapping ErrOffsetOutOfRange) when a fetch asks for an offset the
// partition does not hold.
type OffsetRangeError struct {
	Topic     string
	Partition int32
	Offset    int64 // the offset asked for
	Earliest  int64 // the first retained offset
	Latest    int64 // the next offset to be written (one past the last record)
}

func (e *OffsetRangeError) Error() string {
	return "log: topic " + e.Topic + " partition " + itoa(int64(e.Partition)) + ": offset " + itoa(e.Offset) +
		" out of range [" + itoa(e.Earliest) + ", " + itoa(e.Latest) + "]"
}

// Unwrap makes errors.Is(err, ErrOffsetOutOfRange) hold.
func (e *OffsetRangeError) Unwrap() error { return ErrOffsetOutOfRange }

// Header is one record header. Keys may repeat.
type Header struct {
	Key   string
	Value []byte
}

// Record is one event of a topic. On produce, Partition < 0 asks the backend to choose (by key
// hash when Key is not nil, as Kafka's default partitioner does with murmur2, otherwise
// round-robin per call), Offset is ignored, and a zero Timestamp means "now". Fetched records have
// every field set; a nil Value is a tombstone.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Retention is a topic's retention policy. Zero fields mean "no limit": the zero Retention keeps
// every record forever.
type Retention struct {
	// Time removes records whose timestamp is older than now - Time (0: no time limit).
	Time time.Duration
	// Bytes removes the oldest records while a partition holds more than Bytes (0: no size limit).
	Bytes int64
}

// TopicConfig describes a topic at creation.
type TopicConfig struct {
	// Partitions is the number of partitions (at least 1; 0 means 1).
	Partitions int
	// Retention limits how long and how much the topic keeps.
	Retention Retention
	// Compact turns on key compaction (cleanup.policy=compact; with a Retention as well it is
	// compact,delete).
	Compact bool
	// TombstoneRetention is how long compaction keeps a tombstone (0: 24 hours, Kafka's
	// delete.retention.ms default).
	TombstoneRetention time.Duration
	// DeleteUncommitted lets retention and compaction remove records that a consumer group has
	// not yet committed past. By default they do not.
	DeleteUncommitted bool
}

// PartitionInfo describes one partition now.
type PartitionInfo struct {
	Partition int32
	Earliest  int64 // first retained offset
	Latest    int64 // next offset to be written; Latest - Earliest >= retained records
	Bytes     int64 // bytes on the backend's storage (0 when the backend cannot tell)
	Records   int64 // records retained (an upper bound after compaction when the backend cannot count)
}

// Removal counts what retention and compaction removed from a topic since it was created.
type Removal struct {
	ByTime       int64 // records removed by the time limit
	BySize       int64 // records removed by the size limit
	ByCompaction int64 // records superseded by a later record of the same key, or expired tombstones
	Bytes        int64 // bytes freed by all of the above
	// HeldBack counts records that retention or compaction would have removed but kept because
	// a consumer group had not committed past them. Each Clean adds the records it held back,
	// so a record held back over several Cleans is counted at each.
	HeldBack int64
}

// TopicInfo describes a topic now.
type TopicInfo struct {
	Name       string
	Config     TopicConfig
	Partitions []PartitionInfo
	Removed    Removal
}

// FetchOptions bound a fetch.
type FetchOptions struct {
	// MaxBytes bounds the bytes of keys and values returned (at least one record is returned when
	// one is available, however large). 0 means 1 MiB.
	MaxBytes int
	// MaxRecords bounds the records returned (0: no bound).
	MaxRecords int
	// MaxWait is how long to wait for a record when none is available at the offset yet (0:
	// return at once). Cancelling ctx ends the wait with ctx.Err().
	MaxWait time.Duration
}

// Log is a set of topics. Implementations are safe for concurrent use by many goroutines.
// Every method that does I/O takes a context; cancelling it abandons the call, and a Produce
// abandoned that way may or may not have been written (as with any network write).
type Log interface {
	// CreateTopic creates a topic (ErrTopicExists when the name is taken, ErrInvalidConfig for a
	// bad name or config). Names are 1 to 249 characters of [a-zA-Z0-9._-], as in Kafka.
	CreateTopic(ctx context.Context, name string, cfg TopicConfig) error
	// DeleteTopic removes a topic and its records.
	DeleteTopic(ctx context.Context, name string) error
	// ListTopics returns the topic names in sorted order (internal topics excluded).
	ListTopics(ctx context.Context) ([]string, error)
	// DescribeTopic returns a topic's config, partitions and removal counts.
	DescribeTopic(ctx context.Context, name string) (TopicInfo, error)

	// Produce appends records to a topic and returns them with Partition, Offset and Timestamp set,
	// in the order given. See the package doc for atomicity and durability.
	Produce(ctx context.Context, topic string, records []Record) ([]Record, error)
	// Fetch returns records of one partition from offset on, in offset order, within opts. An
	// offset equal to Latest returns no records (after MaxWait); one below Earliest or above
	// Latest fails with an *OffsetRangeError.
	Fetch(ctx context.Context, topic string, partition int32, offset int64, opts FetchOptions) ([]Record, error)
	// Offsets returns a partition's earliest retained offset and its latest (next) offset.
	Offsets(ctx context.Context, topic string, partition int32) (earliest, latest int64, err error)
	// OffsetForTime returns the first offset of the partition whose record's timestamp is at or
	// after t, or the latest offset when there is none.
	OffsetForTime(ctx context.Context, topic string, partition int32, t time.Time) (int64, error)

	// CommitOffsets records, for a consumer group, the next offset to read of each partition
	// given (Kafka's convention: the offset after the last record processed).
	CommitOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error
	// CommittedOffsets returns a group's committed offsets for a topic (partitions without a
	// commit are absent).
	CommittedOffsets(ctx context.Context, group, topic string) (map[int32]int64, error)
	// ListGroups returns the consumer groups that committed offsets, sorted.
	ListGroups(ctx context.Context) ([]string, error)

	// Clean applies retention and compaction to every topic now, as of the backend's clock, and
	// returns when done. Backends also clean periodically in the background; tests call Clean to
	// make it happen at a known moment.
	Clean(ctx context.Context) error

	// Close releases the log's resources; calls after Close fail with ErrClosed.
	Close() error
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
