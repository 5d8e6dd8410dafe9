package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalake/strata/internal/log"
)

// fetchPool lends franz-go clients to fetches that wait, one fetch per client at a time. A Kafka
// broker answers the requests of one connection in order, so a fetch that long-polls (MaxWait) on
// a shared connection would delay every other request to that broker on it; with a client of its
// own per waiting fetch, it delays none. Clients are created on first need, up to the pool's size,
// and closed by close.
type fetchPool struct {
	newClient func() (*kgo.Client, error)
	slots     chan struct{} // one token per client that may exist; a fetch holds one

	mu     sync.Mutex
	idle   []*kgo.Client // guarded by mu
	all    []*kgo.Client // guarded by mu: every client created, for close
	closed bool          // guarded by mu
}

func newFetchPool(n int, newClient func() (*kgo.Client, error)) *fetchPool {
	p := &fetchPool{newClient: newClient, slots: make(chan struct{}, n)}
	for range n {
		p.slots <- struct{}{}
	}
	return p
}

// acquire returns a client for the caller's exclusive use until release, waiting for a free one
// until ctx ends.
func (p *fetchPool) acquire(ctx context.Context) (*kgo.Client, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.slots:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.slots <- struct{}{}
		return nil, kgo.ErrClientClosed
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c, nil
	}
	c, err := p.newClient()
	if err != nil {
		p.slots <- struct{}{}
		return nil, err
	}
	p.all = append(p.all, c)
	return c, nil
}

func (p *fetchPool) release(c *kgo.Client) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	p.slots <- struct{}{}
}

// close closes every client; fetches in flight fail with kgo.ErrClientClosed.
func (p *fetchPool) close() {
	p.mu.Lock()
	p.closed = true
	all := p.all
	p.all, p.idle = nil, nil
	p.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}

// errOffsetOutOfRange marks a fetch answered with OFFSET_OUT_OF_RANGE.
var errOffsetOutOfRange = errors.New("offset out of range")

// fetchPartition issues one FetchRequest for partition p of the topic at offset to the
// partition's leader, waiting up to wait for at least one byte, and returns the partition's
// answer. Leader moves are followed. OFFSET_OUT_OF_RANGE is returned as errOffsetOutOfRange; a
// topic deleted meanwhile as log.ErrUnknownTopic.
//
// A fetch that does not wait goes through the shared client: the broker answers it at once, so it
// holds up nothing for long. A fetch that waits borrows a client of the pool, so that its long poll
// has a connection to itself.
func (l *Log) fetchPartition(ctx context.Context, m *topicMeta, p int32, offset int64, maxBytes int32, wait time.Duration) (*kmsg.FetchResponseTopicPartition, error) {
	c := l.cl
	if wait > 0 {
		var err error
		if c, err = l.fetch.acquire(ctx); err != nil {
			return nil, l.wrap(err, "fetch topic %s partition %d", m.name, p)
		}
		defer l.fetch.release(c)
	}

	for attempt := 1; ; attempt++ {
		rp, err := l.fetchOnce(ctx, c, m, p, offset, maxBytes, wait)
		if err == nil || errors.Is(err, errOffsetOutOfRange) {
			return rp, err
		}
		if ctx.Err() != nil || l.closed.Load() || attempt >= maxAttempts || !retriable(err) && !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, kerr.UnknownTopicID) {
			return nil, l.wrap(err, "fetch topic %s partition %d offset %d", m.name, p, offset)
		}
		if attempt > 1 {
			if err := backoff(ctx, attempt-1); err != nil {
				return nil, l.wrap(err, "fetch topic %s partition %d", m.name, p)
			}
		}
		// The leader moved, or the topic is gone: refresh what we know.
		if m, err = l.topicMeta(ctx, m.name, true); err != nil {
			return nil, err
		}
		if p >= m.partitions() {
			return nil, fmt.Errorf("kafka: topic %s partition %d: %w", m.name, p, log.ErrUnknownPartition)
		}
	}
}

func (l *Log) fetchOnce(ctx context.Context, c *kgo.Client, m *topicMeta, p int32, offset int64, maxBytes int32, wait time.Duration) (*kmsg.FetchResponseTopicPartition, error) {
	leader := m.leaders[p]
	if leader < 0 {
		return nil, kerr.LeaderNotAvailable
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(min(wait.Milliseconds(), 1<<30))
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.IsolationLevel = readCommitted
	req.SessionID = 0
	req.SessionEpoch = -1 // a full fetch, no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = m.name
	rt.TopicID = m.id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	kresp, err := c.Broker(int(leader)).RetriableRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			got := &resp.Topics[i].Partitions[j]
			if got.Partition != p {
				continue
			}
			switch err := kerr.ErrorForCode(got.ErrorCode); {
			case err == nil:
				return got, nil
			case errors.Is(err, kerr.OffsetOutOfRange):
				return got, errOffsetOutOfRange
			default:
				return nil, err
			}
		}
	}
	return nil, kerr.UnknownTopicOrPartition // the broker answered without our partition
}

// defaultFetchBytes is FetchOptions.MaxBytes's default.
const defaultFetchBytes = 1 << 20

// Fetch returns records of one partition from offset on, in offset order, within opts: see
// log.Log. Records removed by compaction are skipped. MaxBytes bounds the keys and values
// returned; the broker is asked for MaxBytes of record batches, and always returns at least one
// whole batch. Cancelling ctx ends a wait with ctx's error.
func (l *Log) Fetch(ctx context.Context, topic string, partition int32, offset int64, opts log.FetchOptions) ([]log.Record, error) {
	if err := l.check("fetch"); err != nil {
		return nil, err
	}
	if opts.MaxBytes < 0 || opts.MaxRecords < 0 || opts.MaxWait < 0 {
		return nil, fmt.Errorf("kafka: fetch topic %s partition %d: negative fetch options %+v", topic, partition, opts)
	}
	m, err := l.partitionMeta(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, l.rangeError(ctx, topic, partition, offset)
	}
	maxBytes := opts.MaxBytes
	if maxBytes == 0 {
		maxBytes = defaultFetchBytes
	}
	var deadline time.Time
	if opts.MaxWait > 0 {
		deadline = time.Now().Add(opts.MaxWait)
	}
	for first := true; ; first = false {
		if cur := l.meta.get(topic); cur != nil && cur.partitions() > partition {
			m = cur // a leader may have moved since the last attempt
		}
		// The first attempt never waits: records already there need no connection of their own.
		var wait time.Duration
		if !deadline.IsZero() && !first {
			wait = max(time.Until(deadline), 0)
		}
		rp, err := l.fetchPartition(ctx, m, partition, offset, int32(min(maxBytes, 1<<30)), wait)
		if errors.Is(err, errOffsetOutOfRange) {
			return nil, l.rangeError(ctx, topic, partition, offset)
		}
		if err != nil {
			return nil, err
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
			Offset:         offset,
			IsolationLevel: kgo.ReadCommitted(),
			Topic:          topic,
			Partition:      partition,
		}, rp, l.decomp, nil)
		if fp.Err != nil {
			return nil, l.wrap(fp.Err, "fetch topic %s partition %d offset %d", topic, partition, offset)
		}
		if len(fp.Records) > 0 {
			return toLogRecords(fp.Records, opts.MaxRecords, maxBytes), nil
		}
		// Nothing at or after offset in what came back: a compaction gap, aborted or control
		// records. Go on from the next offset while the partition holds more.
		stable := rp.LastStableOffset
		if stable < 0 {
			stable = rp.HighWatermark
		}
		if next > offset && next < stable {
			offset = next
			continue
		}
		if deadline.IsZero() || !time.Now().Before(deadline) {
			return nil, nil
		}
		if next > offset {
			offset = next
		}
	}
}

// toLogRecords converts fetched records, keeping at most maxRecords (0: all) and as many as fit
// in maxBytes of keys and values, at least one.
func toLogRecords(rs []*kgo.Record, maxRecords, maxBytes int) []log.Record {
	out := make([]log.Record, 0, len(rs))
	size := 0
	for _, r := range rs {
		if maxRecords > 0 && len(out) >= maxRecords {
			break
		}
		size += len(r.Key) + len(r.Value)
		if len(out) > 0 && size > maxBytes {
			break
		}
		out = append(out, fromKgo(r))
	}
	return out
}

// fromKgo converts a fetched or produced franz-go record.
func fromKgo(r *kgo.Record) log.Record {
	rec := log.Record{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: time.UnixMilli(r.Timestamp.UnixMilli()),
	}
	if len(r.Headers) > 0 {
		rec.Headers = make([]log.Header, len(r.Headers))
		for i, h := range r.Headers {
			rec.Headers[i] = log.Header{Key: h.Key, Value: h.Value}
		}
	}
	return rec
}

// batchInfo describes one record batch of a partition, read from its header.
type batchInfo struct {
	first, last int64 // offsets of the batch's first and last record (before compaction)
	records     int64 // records the batch holds now (0 for control batches)
	bytes       int64 // the batch's size on the wire and on disk
}

// scanBytes is the size of the fetches of scanBatches.
const scanBytes = 4 << 20

// scanBatches returns the record batches of partition p holding offsets in [from, to), reading
// only their headers (nothing is decompressed). The first batch may start before from.
func (l *Log) scanBatches(ctx context.Context, m *topicMeta, p int32, from, to int64) ([]batchInfo, error) {
	var out []batchInfo
	offset := from
	for offset < to {
		rp, err := l.fetchPartition(ctx, m, p, offset, scanBytes, 0)
		if errors.Is(err, errOffsetOutOfRange) {
			return nil, fmt.Errorf("kafka: scan topic %s partition %d at %d: %w", m.name, p, offset, log.ErrOffsetOutOfRange)
		}
		if err != nil {
			return nil, err
		}
		bs := parseBatches(rp.RecordBatches)
		progressed := false
		for _, b := range bs {
			if b.last < offset {
				continue
			}
			out = append(out, b)
			offset = b.last + 1
			progressed = true
			if offset >= to {
				break
			}
		}
		if !progressed {
			break // nothing more below the high watermark
		}
	}
	return out, nil
}

// parseBatches reads the headers of the whole record batches (or legacy messages) in a fetch
// response's bytes; a truncated last batch is ignored.
func parseBatches(b []byte) []batchInfo {
	var out []batchInfo
	for len(b) >= 17 {
		length := int64(int32(binary.BigEndian.Uint32(b[8:12])))
		size := 12 + length
		if length <= 0 || int64(len(b)) < size {
			break
		}
		first := int64(binary.BigEndian.Uint64(b[0:8]))
		if magic := b[16]; magic < 2 {
			// A legacy message (set entry): one record, or a compressed wrapper whose offset is
			// its last inner record's. Counted as one record; legacy formats are gone from
			// Kafka 4.
			out = append(out, batchInfo{first: first, last: first, records: 1, bytes: size})
			b = b[size:]
			continue
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:size]); err != nil {
			break
		}
		info := batchInfo{first: rb.FirstOffset, last: rb.FirstOffset + int64(rb.LastOffsetDelta), records: int64(rb.NumRecords), bytes: size}
		if rb.Attributes&0x20 != 0 { // control batch: a transaction marker, no data record
			info.records = 0
		}
		out = append(out, info)
		b = b[size:]
	}
	return out
}
