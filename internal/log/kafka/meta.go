package kafka

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalake/strata/internal/log"
)

// topicMeta is what the Log knows of a topic from a metadata response. It is immutable once
// cached; a refresh replaces it.
type topicMeta struct {
	name     string
	id       [16]byte
	leaders  []int32 // the leader of each partition, indexed by partition; -1: none right now
	internal bool
}

// partitions returns the partition count.
func (m *topicMeta) partitions() int32 { return int32(len(m.leaders)) }

// metaCache caches topic metadata. Entries are dropped on errors that suggest they are stale
// (a leader moved, the topic was deleted) and on CreateTopic/DeleteTopic.
type metaCache struct {
	mu     sync.Mutex
	topics map[string]*topicMeta // guarded by mu
}

func newMetaCache() *metaCache { return &metaCache{topics: make(map[string]*topicMeta)} }

func (c *metaCache) get(name string) *topicMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topics[name]
}

func (c *metaCache) put(m *topicMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topics[m.name] = m
}

func (c *metaCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.topics, name)
}

// maxAttempts bounds the retries of a request that fails with a retriable error.
const maxAttempts = 8

// backoff sleeps before retry attempt (1-based), or returns ctx's error.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(25<<min(attempt, 6)) * time.Millisecond // 50ms .. 1.6s
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// loadMetadata requests fresh metadata for the topics (all topics when names is nil). Topics that
// do not exist are absent from the result. Topics whose leaders are being elected are retried
// a few times, then returned with leader -1.
func (l *Log) loadMetadata(ctx context.Context, names []string) (map[string]*topicMeta, error) {
	for attempt := 1; ; attempt++ {
		req := kmsg.NewPtrMetadataRequest()
		if names != nil {
			req.Topics = []kmsg.MetadataRequestTopic{}
			for _, n := range names {
				t := kmsg.NewMetadataRequestTopic()
				t.Topic = kmsg.StringPtr(n)
				req.Topics = append(req.Topics, t)
			}
		}
		req.AllowAutoTopicCreation = false
		resp, err := req.RequestWith(ctx, l.cl)
		if err != nil {
			return nil, l.wrap(err, "metadata")
		}
		out := make(map[string]*topicMeta, len(resp.Topics))
		again := false
		for _, t := range resp.Topics {
			if t.Topic == nil {
				continue
			}
			terr := kerr.ErrorForCode(t.ErrorCode)
			switch {
			case terr == kerr.UnknownTopicOrPartition:
				continue
			case terr != nil && retriable(terr):
				again = true
				continue
			case terr != nil:
				return nil, l.wrap(terr, "metadata of topic %s", *t.Topic)
			}
			m := &topicMeta{name: *t.Topic, id: t.TopicID, internal: t.IsInternal, leaders: make([]int32, len(t.Partitions))}
			for i := range m.leaders {
				m.leaders[i] = -1
			}
			for _, p := range t.Partitions {
				if p.Partition < 0 || int(p.Partition) >= len(m.leaders) {
					continue
				}
				if kerr.ErrorForCode(p.ErrorCode) == nil {
					m.leaders[p.Partition] = p.Leader
				} else {
					again = true
				}
			}
			out[m.name] = m
		}
		if !again || attempt >= 4 {
			return out, nil
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, l.wrap(err, "metadata")
		}
	}
}

// topicMeta returns the topic's metadata, from the cache unless fresh, or log.ErrUnknownTopic.
func (l *Log) topicMeta(ctx context.Context, name string, fresh bool) (*topicMeta, error) {
	if !fresh {
		if m := l.meta.get(name); m != nil {
			return m, nil
		}
	}
	ms, err := l.loadMetadata(ctx, []string{name})
	if err != nil {
		return nil, err
	}
	m := ms[name]
	if m == nil {
		l.meta.forget(name)
		return nil, fmt.Errorf("kafka: topic %s: %w", name, log.ErrUnknownTopic)
	}
	l.meta.put(m)
	return m, nil
}

// partitionMeta returns the metadata of the topic of partition p, or log.ErrUnknownTopic, or
// log.ErrUnknownPartition (after one refresh, in case partitions were added).
func (l *Log) partitionMeta(ctx context.Context, topic string, p int32) (*topicMeta, error) {
	m, err := l.topicMeta(ctx, topic, false)
	if err != nil {
		return nil, err
	}
	if p >= 0 && p >= m.partitions() {
		if m, err = l.topicMeta(ctx, topic, true); err != nil {
			return nil, err
		}
	}
	if p < 0 || p >= m.partitions() {
		return nil, fmt.Errorf("kafka: topic %s partition %d (of %d): %w", topic, p, m.partitions(), log.ErrUnknownPartition)
	}
	return m, nil
}

// isInternal reports whether a topic is hidden from ListTopics: Kafka's internal topics and any
// topic whose name starts with "__" (Strata's state topic among them).
func isInternal(m *topicMeta) bool { return m.internal || strings.HasPrefix(m.name, "__") }

// ListTopics returns the names of the cluster's topics in sorted order, internal topics excluded.
func (l *Log) ListTopics(ctx context.Context) ([]string, error) {
	if err := l.check("list topics"); err != nil {
		return nil, err
	}
	ms, err := l.loadMetadata(ctx, nil)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		if !isInternal(m) {
			names = append(names, m.name)
		}
	}
	sort.Strings(names)
	return names, nil
}
