package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalake/strata/internal/log"
)

// sentinelFor returns the log sentinel a Kafka or franz-go error stands for, or nil.
func sentinelFor(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return log.ErrUnknownTopic
	case errors.Is(err, kerr.TopicAlreadyExists):
		return log.ErrTopicExists
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return log.ErrRecordTooLarge
	case errors.Is(err, kerr.OffsetOutOfRange):
		return log.ErrOffsetOutOfRange
	case errors.Is(err, kerr.InvalidTopicException), errors.Is(err, kerr.InvalidPartitions),
		errors.Is(err, kerr.InvalidReplicationFactor), errors.Is(err, kerr.InvalidConfig),
		errors.Is(err, kerr.PolicyViolation), errors.Is(err, kerr.InvalidReplicaAssignment),
		errors.Is(err, kerr.InvalidRecord): // e.g. a keyless record sent to a compacted topic
		return log.ErrInvalidConfig
	case errors.Is(err, kerr.CorruptMessage):
		return log.ErrCorrupt
	case errors.Is(err, kgo.ErrClientClosed):
		return log.ErrClosed
	}
	return nil
}

// wrap returns err with its log sentinel (if any) and the operation's context, so that both
// errors.Is(err, log.ErrX) and errors.Is(err, kerr.Y) hold. A nil err stays nil. Context errors
// are returned as they are, wrapped with the context only.
func (l *Log) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if l.closed.Load() {
			return fmt.Errorf("kafka: %s: %w", msg, log.ErrClosed)
		}
		return fmt.Errorf("kafka: %s: %w", msg, err)
	}
	s := sentinelFor(err)
	if s == nil && l.closed.Load() {
		s = log.ErrClosed
	}
	if s == nil || errors.Is(err, s) {
		return fmt.Errorf("kafka: %s: %w", msg, err)
	}
	return fmt.Errorf("kafka: %s: %w: %w", msg, s, err)
}

// retriable reports whether a Kafka error code means "try again after a metadata refresh".
func retriable(err error) bool {
	switch {
	case errors.Is(err, kerr.NotLeaderForPartition), errors.Is(err, kerr.LeaderNotAvailable),
		errors.Is(err, kerr.FencedLeaderEpoch), errors.Is(err, kerr.UnknownLeaderEpoch),
		errors.Is(err, kerr.ReplicaNotAvailable), errors.Is(err, kerr.KafkaStorageError),
		errors.Is(err, kerr.NotController), errors.Is(err, kerr.RequestTimedOut),
		errors.Is(err, kerr.OffsetNotAvailable), errors.Is(err, kerr.NotEnoughReplicas),
		errors.Is(err, kerr.CoordinatorLoadInProgress), errors.Is(err, kerr.CoordinatorNotAvailable),
		errors.Is(err, kerr.NotCoordinator):
		return true
	}
	var ke *kerr.Error
	return errors.As(err, &ke) && ke.Retriable && !errors.Is(err, kerr.UnknownTopicOrPartition)
}
