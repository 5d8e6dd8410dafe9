package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalake/strata/internal/log"
)

// Special ListOffsets timestamps and isolation levels.
const (
	listLatest      = -1
	listEarliest    = -2
	readUncommitted = 0
	readCommitted   = 1
)

// listOffsets issues ListOffsets for partitions of a topic at timestamp ts (listEarliest,
// listLatest or Unix milliseconds), with the isolation level (read_committed makes listLatest the
// last stable offset). A partition for which Kafka found no offset at or after ts maps to -1.
// franz-go routes each partition to its leader; retriable errors are retried.
func (l *Log) listOffsets(ctx context.Context, topic string, parts []int32, ts int64, isolation int8) (map[int32]int64, error) {
	out := make(map[int32]int64, len(parts))
	todo := parts
	for attempt := 1; ; attempt++ {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		req.IsolationLevel = isolation
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range todo {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, l.cl)
		if err != nil && !retriable(err) {
			return nil, l.wrap(err, "list offsets of topic %s", topic)
		}
		var again []int32
		var lastErr error = err
		if err == nil {
			seen := make(map[int32]bool, len(todo))
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					seen[p.Partition] = true
					perr := kerr.ErrorForCode(p.ErrorCode)
					switch {
					case perr == nil:
						out[p.Partition] = p.Offset
					case retriable(perr):
						again = append(again, p.Partition)
						lastErr = perr
					default:
						return nil, l.wrap(perr, "list offsets of topic %s partition %d", topic, p.Partition)
					}
				}
			}
			for _, p := range todo {
				if !seen[p] {
					again = append(again, p)
				}
			}
		} else {
			again = todo
		}
		if len(again) == 0 {
			return out, nil
		}
		if attempt >= maxAttempts {
			if lastErr == nil {
				lastErr = kerr.UnknownServerError
			}
			return nil, l.wrap(lastErr, "list offsets of topic %s", topic)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, l.wrap(err, "list offsets of topic %s", topic)
		}
		l.meta.forget(topic)
		todo = again
	}
}

// bounds returns the earliest and latest (last stable) offsets of partitions of a topic.
func (l *Log) bounds(ctx context.Context, topic string, parts []int32) (earliest, latest map[int32]int64, err error) {
	if earliest, err = l.listOffsets(ctx, topic, parts, listEarliest, readUncommitted); err != nil {
		return nil, nil, err
	}
	if latest, err = l.listOffsets(ctx, topic, parts, listLatest, readCommitted); err != nil {
		return nil, nil, err
	}
	return earliest, latest, nil
}

// Offsets returns the partition's earliest retained offset and its latest offset (the last stable
// offset: the high watermark unless a transaction is open).
func (l *Log) Offsets(ctx context.Context, topic string, partition int32) (earliest, latest int64, err error) {
	if err := l.check("offsets"); err != nil {
		return 0, 0, err
	}
	if _, err := l.partitionMeta(ctx, topic, partition); err != nil {
		return 0, 0, err
	}
	e, lt, err := l.bounds(ctx, topic, []int32{partition})
	if err != nil {
		return 0, 0, err
	}
	return e[partition], lt[partition], nil
}

// OffsetForTime returns the first offset of the partition whose record's timestamp is at or after
// t (Kafka's ListOffsets by timestamp, which scans the time index by maximum timestamp so far),
// or the latest offset when there is none. Times before 1970 are treated as 1970.
func (l *Log) OffsetForTime(ctx context.Context, topic string, partition int32, t time.Time) (int64, error) {
	if err := l.check("offset for time"); err != nil {
		return 0, err
	}
	if _, err := l.partitionMeta(ctx, topic, partition); err != nil {
		return 0, err
	}
	ms := max(t.UnixMilli(), 0)
	offs, err := l.listOffsets(ctx, topic, []int32{partition}, ms, readCommitted)
	if err != nil {
		return 0, err
	}
	if o := offs[partition]; o >= 0 {
		return o, nil
	}
	latest, err := l.listOffsets(ctx, topic, []int32{partition}, listLatest, readCommitted)
	if err != nil {
		return 0, err
	}
	return latest[partition], nil
}

// rangeError returns the *log.OffsetRangeError for offset, with the partition's current range.
func (l *Log) rangeError(ctx context.Context, topic string, partition int32, offset int64) error {
	e, lt, err := l.bounds(ctx, topic, []int32{partition})
	if err != nil {
		return fmt.Errorf("kafka: topic %s partition %d: offset %d: %w (range unknown: %v)", topic, partition, offset, log.ErrOffsetOutOfRange, err)
	}
	return &log.OffsetRangeError{Topic: topic, Partition: partition, Offset: offset, Earliest: e[partition], Latest: lt[partition]}
}
