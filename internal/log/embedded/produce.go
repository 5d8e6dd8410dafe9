package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// Produce appends records and returns them with Topic, Partition, Offset and Timestamp set (the
// timestamp truncated to the millisecond; a zero one is the clock's now). Partition < 0 picks one:
// Kafka's murmur2 hash of the key, or, for keyless records, one partition per call in round robin.
// Each partition's share of the call is one batch: one offset range, written and made visible at
// once, durable under the sync policy before the call returns. A call spanning partitions is
// atomic per partition only. Compacted topics refuse keyless records (ErrInvalidConfig), a
// partition's share larger than MaxBatchBytes fails with ErrRecordTooLarge.
//
// Cancelling ctx abandons the wait: the records may or may not have been written.
func (l *Log) Produce(ctx context.Context, topicName string, records []log.Record) ([]log.Record, error) {
	t, err := l.acquire(ctx, topicName)
	if err != nil {
		return nil, err
	}
	defer t.ops.Done()
	out := make([]log.Record, len(records))
	if len(records) == 0 {
		return out, nil
	}
	n := int32(len(t.parts))
	now := l.opts.clock()
	// First pass: choose the partitions, check the records, size the batches.
	parts := make([]int32, len(records))
	sizes := make([]int, n)
	rr := int32(-1)
	for i, r := range records {
		part := r.Partition
		switch {
		case part >= n:
			return nil, fmt.Errorf("embedded log: produce record %d to topic %q partition %d: %w (the topic has %d)", i, t.name, part, log.ErrUnknownPartition, n)
		case part < 0 && r.Key != nil:
			part = kafkaPartition(r.Key, n)
		case part < 0:
			if rr < 0 {
				rr = int32((t.rr.Add(1) - 1) % uint32(n))
			}
			part = rr
		}
		if t.cfg.Compact && r.Key == nil {
			return nil, fmt.Errorf("embedded log: produce record %d to topic %q: %w: a compacted topic refuses records without a key", i, t.name, log.ErrInvalidConfig)
		}
		parts[i] = part
		sizes[part] += len(r.Key) + len(r.Value) + 24
		for _, h := range r.Headers {
			sizes[part] += len(h.Key) + len(h.Value) + 8
		}
	}
	// Second pass: encode each partition's records into its batch.
	batches := make([]*batchBuilder, n)
	counts := make([]int, n)
	for i, r := range records {
		part := parts[i]
		ts := r.Timestamp
		if ts.IsZero() {
			ts = now
		}
		ms := ts.UnixMilli()
		b := batches[part]
		if b == nil {
			b = newBatch(ms, min(sizes[part], l.opts.maxBatchBytes))
			batches[part] = b
		}
		b.add(uint32(counts[part]), ms, r.Key, r.Value, r.Headers)
		counts[part]++
		out[i] = log.Record{Topic: t.name, Partition: part, Offset: int64(counts[part] - 1), Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: time.UnixMilli(ms)}
	}
	reqs := make([]*writeReq, n)
	for part, b := range batches {
		if b == nil {
			continue
		}
		frame := b.finish()
		if len(frame) > l.opts.maxBatchBytes {
			return nil, fmt.Errorf("embedded log: produce to topic %q partition %d: %w: %d records encode to %d bytes, more than MaxBatchBytes %d", t.name, part, log.ErrRecordTooLarge, counts[part], len(frame), l.opts.maxBatchBytes)
		}
		reqs[part] = &writeReq{frame: frame, count: counts[part], done: make(chan writeResult, 1)}
	}
	for part, r := range reqs {
		if r == nil {
			continue
		}
		select {
		case t.parts[part].reqs <- r:
		case <-ctx.Done():
			return nil, fmt.Errorf("embedded log: produce to topic %q: %w", t.name, ctx.Err())
		}
	}
	bases := make([]int64, n)
	var errs []error
	for part, r := range reqs {
		if r == nil {
			continue
		}
		select {
		case res := <-r.done:
			if res.err != nil {
				errs = append(errs, res.err)
			}
			bases[part] = res.base
		case <-ctx.Done():
			return nil, fmt.Errorf("embedded log: produce to topic %q: %w", t.name, ctx.Err())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Offset += bases[out[i].Partition]
	}
	return out, nil
}

// kafkaPartition is the partition Kafka's default partitioner gives a key: the murmur2 hash,
// made positive, modulo the partition count.
func kafkaPartition(key []byte, n int32) int32 {
	return (murmur2(key) & 0x7fffffff) % n
}

// murmur2 is Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2, seed 0x9747b28c).
func murmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	length := len(data)
	h := uint32(seed) ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[length&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}
