package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalake/strata/internal/log"
)

// Size bounds of the record-batch estimate. They are upper bounds of what franz-go counts when it
// decides whether a record still fits in a batch (record varints at their widest, the batch
// header and its produce-request framing), so a call that passes the estimate is one batch per
// partition.
const (
	batchOverhead  = 128
	recordOverhead = 40
	headerOverhead = 12
)

// maxRoundRecords bounds the records of one group-commit round and of one Produce call (the
// client buffers at most that many).
const maxRoundRecords = 1 << 20

// recordSize is the estimated size of a record in a v2 record batch.
func recordSize(r *kgo.Record) int64 {
	n := int64(recordOverhead + len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		n += int64(headerOverhead + len(h.Key) + len(h.Value))
	}
	return n
}

// topicPartition names a partition.
type topicPartition struct {
	topic     string
	partition int32
}

// produceCall is one Produce call waiting for, or taken into, a group-commit round.
type produceCall struct {
	ctx     context.Context
	records []*kgo.Record
	size    map[topicPartition]int64 // estimated batch bytes per partition
	done    chan error               // buffered; receives the call's outcome once

	mu  sync.Mutex
	err error // guarded by mu: the first record error of the call
}

func (c *produceCall) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// producer runs the group-commit loop over one franz-go client configured with manual flushing:
// nothing is sent until the loop flushes, so the records of a round are batched exactly as the
// loop buffers them. Only the loop goroutine produces and flushes.
type producer struct {
	cl       *kgo.Client
	maxBatch int64
	settled  *settleHook

	mu    sync.Mutex
	queue []*produceCall // guarded by mu, in arrival order
	wake  chan struct{}  // capacity 1: the queue may be non-empty
}

func newProducer(maxBatch int64) *producer {
	return &producer{maxBatch: maxBatch, settled: &settleHook{}, wake: make(chan struct{}, 1)}
}

// submit queues a call for the loop.
func (p *producer) submit(c *produceCall) {
	p.mu.Lock()
	p.queue = append(p.queue, c)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run is the group-commit loop. It returns when ctx ends, failing the calls still queued.
func (p *producer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			q := p.queue
			p.queue = nil
			p.mu.Unlock()
			for _, c := range q {
				c.done <- log.ErrClosed
			}
			return
		case <-p.wake:
		}
		for ctx.Err() == nil {
			round := p.take()
			if len(round) == 0 {
				break
			}
			p.flush(ctx, round)
		}
	}
}

// take removes from the queue the longest prefix of calls that share one round: no partition
// gets more than one batch's worth of records. Calls whose context ended are answered and dropped.
func (p *producer) take() []*produceCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var round []*produceCall
	sizes := make(map[topicPartition]int64)
	records := 0
	for len(p.queue) > 0 {
		c := p.queue[0]
		if err := c.ctx.Err(); err != nil {
			c.done <- err
			p.queue = p.queue[1:]
			continue
		}
		if len(round) > 0 {
			if records+len(c.records) > maxRoundRecords {
				break
			}
			fits := true
			for tp, n := range c.size {
				if sizes[tp]+n-batchOverhead > p.maxBatch {
					fits = false
					break
				}
			}
			if !fits {
				break
			}
		}
		for tp, n := range c.size {
			if sizes[tp] == 0 {
				sizes[tp] = n
			} else {
				sizes[tp] += n - batchOverhead
			}
		}
		records += len(c.records)
		round = append(round, c)
		p.queue = p.queue[1:]
	}
	return round
}

// flush buffers the records of a round, waits until franz-go has placed every one of them in its
// partition's batch, flushes, and answers each call.
func (p *producer) flush(ctx context.Context, round []*produceCall) {
	total := 0
	for _, c := range round {
		total += len(c.records)
	}
	p.settled.begin(total)
	var wg sync.WaitGroup
	for _, c := range round {
		for _, r := range c.records {
			wg.Add(1)
			p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					c.fail(err)
				}
				p.settled.settle(r)
				wg.Done()
			})
		}
	}
	// A record of a topic the client has not loaded yet is partitioned later, by the metadata
	// goroutine. Flushing before would let a batch leave half-filled.
	p.settled.wait(ctx)
	_ = p.cl.Flush(ctx) // on ctx's end, Close fails the buffered records
	wg.Wait()
	for _, c := range round {
		c.done <- c.err
	}
}

// settleHook tracks which records of the current round franz-go has either placed in a batch
// (OnProduceRecordPartitioned) or failed. Only one round is in flight at a time.
type settleHook struct {
	mu   sync.Mutex
	want int                      // guarded by mu: records in the round
	seen map[*kgo.Record]struct{} // guarded by mu
	all  chan struct{}            // guarded by mu: closed when len(seen) == want
}

var _ kgo.HookProduceRecordPartitioned = (*settleHook)(nil)

func (h *settleHook) begin(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.want, h.seen, h.all = n, make(map[*kgo.Record]struct{}, n), make(chan struct{})
	if n == 0 {
		close(h.all)
	}
}

func (h *settleHook) settle(r *kgo.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		return
	}
	if _, ok := h.seen[r]; ok || len(h.seen) >= h.want {
		return
	}
	h.seen[r] = struct{}{}
	if len(h.seen) == h.want {
		close(h.all)
	}
}

// OnProduceRecordPartitioned implements kgo.HookProduceRecordPartitioned.
func (h *settleHook) OnProduceRecordPartitioned(r *kgo.Record, _ int32) { h.settle(r) }

func (h *settleHook) wait(ctx context.Context) {
	h.mu.Lock()
	all := h.all
	h.mu.Unlock()
	select {
	case <-all:
	case <-ctx.Done():
	}
}

// Produce appends records to a topic and returns them with Partition, Offset and Timestamp set,
// in the order given (see the package doc for what Kafka guarantees). A record with Partition < 0
// goes to the murmur2 hash of its key, as Kafka's Java client would place it, or, keyless, to
// the call's round-robin partition; a zero Timestamp becomes the wall clock. Timestamps are
// returned truncated to milliseconds, as Kafka stores them.
func (l *Log) Produce(ctx context.Context, topic string, records []log.Record) ([]log.Record, error) {
	if err := l.check("produce"); err != nil {
		return nil, err
	}
	m, err := l.topicMeta(ctx, topic, false)
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, nil
	}
	if len(records) > maxRoundRecords {
		return nil, fmt.Errorf("kafka: produce to topic %s: %d records in one call, more than %d: %w", topic, len(records), maxRoundRecords, log.ErrRecordTooLarge)
	}
	n := m.partitions()
	for _, r := range records {
		if r.Partition >= n {
			// Partitions may have been added: look again before refusing.
			if m, err = l.topicMeta(ctx, topic, true); err != nil {
				return nil, err
			}
			n = m.partitions()
			l.cl.ForceMetadataRefresh() // let the producer learn of new partitions too
			break
		}
	}
	if sc, ok := l.state.config(topic, m.id); ok && sc.Compact {
		for i, r := range records {
			if r.Key == nil {
				return nil, fmt.Errorf("kafka: produce to compacted topic %s: record %d has no key: %w", topic, i, log.ErrInvalidConfig)
			}
		}
	}
	keyless := int32(-1)
	now := time.Now()
	hash := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	call := &produceCall{ctx: ctx, records: make([]*kgo.Record, len(records)), size: make(map[topicPartition]int64), done: make(chan error, 1)}
	for i, r := range records {
		kr := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Partition: r.Partition}
		if kr.Timestamp.IsZero() {
			kr.Timestamp = now
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		switch {
		case r.Partition >= n:
			return nil, fmt.Errorf("kafka: produce to topic %s: record %d: partition %d (of %d): %w", topic, i, r.Partition, n, log.ErrUnknownPartition)
		case r.Partition >= 0:
		case r.Key != nil:
			kr.Partition = int32(hash.Partition(kr, int(n)))
		default:
			if keyless < 0 {
				keyless = l.nextRoundRobin(topic, n)
			}
			kr.Partition = keyless
		}
		tp := topicPartition{topic, kr.Partition}
		if call.size[tp] == 0 {
			call.size[tp] = batchOverhead
		}
		call.size[tp] += recordSize(kr)
		call.records[i] = kr
	}
	for tp, size := range call.size {
		if size > l.opts.maxBatchBytes {
			return nil, fmt.Errorf("kafka: produce to topic %s partition %d: %d bytes in one call, more than the batch limit %d: %w",
				topic, tp.partition, size, l.opts.maxBatchBytes, log.ErrRecordTooLarge)
		}
	}
	if err := l.produce(ctx, call); err != nil {
		if sentinelFor(err) == log.ErrUnknownTopic {
			l.meta.forget(topic)
		}
		return nil, l.wrap(err, "produce to topic %s", topic)
	}
	out := make([]log.Record, len(records))
	for i, kr := range call.records {
		out[i] = fromKgo(kr)
	}
	return out, nil
}

// produce runs a call through the group-commit loop and returns its outcome, or ctx's error when
// ctx ends first (the call may then be written or not).
func (l *Log) produce(ctx context.Context, call *produceCall) error {
	l.prod.submit(call)
	select {
	case err := <-call.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-l.ctx.Done(): // closed: the loop may have exited before seeing the call
		select {
		case err := <-call.done:
			return err
		default:
			return log.ErrClosed
		}
	}
}

// nextRoundRobin returns the partition for the keyless records of a call to topic.
func (l *Log) nextRoundRobin(topic string, n int32) int32 {
	l.rrMu.Lock()
	defer l.rrMu.Unlock()
	p := l.rr[topic] % n
	l.rr[topic] = (p + 1) % n
	return p
}
