package kafka

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalake/strata/internal/log"
)

// topicState is what Strata keeps of a topic in the state topic, as JSON keyed by the topic's
// name. Field names are the stored format: rename none.
type topicState struct {
	// TopicID is the hex Kafka topic ID the state belongs to; a state whose ID differs from the
	// topic's current one is stale (the topic was re-created outside Strata) and ignored.
	TopicID    string           `json:"topic_id,omitempty"`
	Config     stateConfig      `json:"config"`
	Removed    stateRemoval     `json:"removed"`
	Partitions []partitionState `json:"partitions,omitempty"` // indexed by partition
}

// stateConfig is the Strata config of a topic, normalized (TombstoneRetention defaulted).
type stateConfig struct {
	RetentionTime      time.Duration `json:"retention_time_ns,omitempty"`
	RetentionBytes     int64         `json:"retention_bytes,omitempty"`
	Compact            bool          `json:"compact,omitempty"`
	TombstoneRetention time.Duration `json:"tombstone_retention_ns,omitempty"`
	DeleteUncommitted  bool          `json:"delete_uncommitted,omitempty"`
}

// strataRetention reports whether Clean, not the broker, owns the topic's retention.
func (c stateConfig) strataRetention() bool {
	return !c.DeleteUncommitted && (c.RetentionTime > 0 || c.RetentionBytes > 0)
}

// brokerRetention reports whether the broker enforces the topic's retention.
func (c stateConfig) brokerRetention() bool {
	return c.DeleteUncommitted && (c.RetentionTime > 0 || c.RetentionBytes > 0)
}

// stateRemoval holds the topic's cumulative removal counters (ByCompaction is derived from the
// partitions' states). HeldBack adds, at each Clean, the records held back then, so a record held
// back over several Cleans is counted at each (as the embedded backend does).
type stateRemoval struct {
	ByTime   int64 `json:"by_time,omitempty"`
	BySize   int64 `json:"by_size,omitempty"`
	Bytes    int64 `json:"bytes,omitempty"`
	HeldBack int64 `json:"held_back,omitempty"`
}

// partitionState is what Clean remembers of a partition.
type partitionState struct {
	// Earliest is the log start offset as Strata last saw or left it; a log start found beyond
	// it was moved by the broker (retention or, on some brokers, compaction).
	Earliest int64 `json:"earliest"`
	// Compacted counts offsets below Earliest that held no record when they were removed,
	// because compaction had removed their records first.
	Compacted int64 `json:"compacted,omitempty"`
	// Gap counts offsets of [Earliest, latest) that held no record at the last scan.
	Gap int64 `json:"gap,omitempty"`
}

func (s *topicState) clone() *topicState {
	c := *s
	c.Partitions = append([]partitionState(nil), s.Partitions...)
	return &c
}

// partition returns the state of partition p, growing the slice when partitions were added.
func (s *topicState) partition(p int32) *partitionState {
	for int32(len(s.Partitions)) <= p {
		s.Partitions = append(s.Partitions, partitionState{})
	}
	return &s.Partitions[p]
}

// observeEarliest records that partition p's log start is e now. A log start further than
// Strata moved it was moved by the broker: its retention (DeleteUncommitted topics), or
// compaction on brokers that advance the log start past a fully compacted prefix (kfake does;
// Apache Kafka does not); the offsets are counted as an estimate of the records removed. A move by
// anyone else (a DeleteRecords outside Strata) is not counted.
func (s *topicState) observeEarliest(p int32, e int64) {
	ps := s.partition(p)
	if moved := e - ps.Earliest; moved > 0 {
		switch c := s.Config; {
		case c.brokerRetention() && c.RetentionTime > 0:
			s.Removed.ByTime += moved
		case c.brokerRetention():
			s.Removed.BySize += moved
		case c.Compact:
			ps.Compacted += moved
		}
	}
	ps.Earliest = e
}

// removal returns the topic's counters as the log package reports them.
func (s *topicState) removal() log.Removal {
	r := log.Removal{ByTime: s.Removed.ByTime, BySize: s.Removed.BySize, Bytes: s.Removed.Bytes, HeldBack: s.Removed.HeldBack}
	for _, p := range s.Partitions {
		r.ByCompaction += p.Compacted + p.Gap
	}
	return r
}

func topicIDString(id [16]byte) string {
	if id == ([16]byte{}) {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// stateStore is the in-memory copy of the state topic (one partition, compacted). Reads see
// what this process wrote at once and what others wrote after a refresh.
type stateStore struct {
	topic string

	readMu sync.Mutex // serializes refresh

	mu     sync.Mutex
	next   int64                  // guarded by mu: the next offset of the state topic to read
	byName map[string]*topicState // guarded by mu
}

func newStateStore(topic string) *stateStore {
	return &stateStore{topic: topic, byName: make(map[string]*topicState)}
}

// open creates the state topic when it is missing and reads it whole.
func (s *stateStore) open(ctx context.Context, l *Log) error {
	_, err := l.adm.CreateTopic(ctx, 1, l.opts.replication, map[string]*string{
		"cleanup.policy":  kgoStr("compact"),
		"retention.ms":    kgoStr("-1"),
		"retention.bytes": kgoStr("-1"),
	}, s.topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return l.wrap(err, "create state topic %s", s.topic)
	}
	if err := l.awaitTopic(ctx, s.topic, true); err != nil {
		return err
	}
	return s.refresh(ctx, l)
}

// refresh reads the records appended to the state topic since the last read.
func (s *stateStore) refresh(ctx context.Context, l *Log) error {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	m, err := l.topicMeta(ctx, s.topic, false)
	if err != nil {
		return err
	}
	e, lt, err := l.bounds(ctx, s.topic, []int32{0})
	if err != nil {
		return err
	}
	s.mu.Lock()
	from := max(s.next, e[0])
	s.mu.Unlock()
	for from < lt[0] {
		rp, err := l.fetchPartition(ctx, m, 0, from, scanBytes, 0)
		if errors.Is(err, errOffsetOutOfRange) {
			// Compaction moved the log start past us: read again from the new start.
			ne, _, err := l.bounds(ctx, s.topic, []int32{0})
			if err != nil {
				return err
			}
			from = ne[0]
			continue
		}
		if err != nil {
			return err
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
			Offset: from, IsolationLevel: kgo.ReadCommitted(), Topic: s.topic,
		}, rp, l.decomp, nil)
		if fp.Err != nil {
			return l.wrap(fp.Err, "read state topic %s at %d", s.topic, from)
		}
		s.mu.Lock()
		for _, r := range fp.Records {
			name := string(r.Key)
			if r.Value == nil {
				delete(s.byName, name)
				continue
			}
			var st topicState
			if err := json.Unmarshal(r.Value, &st); err != nil {
				s.mu.Unlock()
				return fmt.Errorf("kafka: state topic %s offset %d (topic %s): %w: %v", s.topic, r.Offset, name, log.ErrCorrupt, err)
			}
			s.byName[name] = &st
		}
		s.mu.Unlock()
		if next <= from {
			break
		}
		from = next
	}
	s.mu.Lock()
	s.next = max(s.next, from)
	s.mu.Unlock()
	return nil
}

// get returns a copy of the state of a topic whose Kafka ID is id, or nil when there is none (or
// only a stale one).
func (s *stateStore) get(name string, id [16]byte) *topicState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.byName[name]
	if st == nil {
		return nil
	}
	if want := topicIDString(id); want != "" && st.TopicID != "" && st.TopicID != want {
		return nil
	}
	return st.clone()
}

// config returns the Strata config of a topic whose Kafka ID is id, without I/O.
func (s *stateStore) config(name string, id [16]byte) (stateConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.byName[name]
	if st == nil {
		return stateConfig{}, false
	}
	if want := topicIDString(id); want != "" && st.TopicID != "" && st.TopicID != want {
		return stateConfig{}, false
	}
	return st.Config, true
}

// put durably writes the state of a topic (nil: delete it).
func (s *stateStore) put(ctx context.Context, l *Log, name string, st *topicState) error {
	var value []byte
	if st != nil {
		var err error
		if value, err = json.Marshal(st); err != nil {
			return fmt.Errorf("kafka: encode state of topic %s: %w", name, err)
		}
	}
	r := &kgo.Record{Topic: s.topic, Partition: 0, Key: []byte(name), Value: value, Timestamp: time.Now()}
	call := &produceCall{ctx: ctx, records: []*kgo.Record{r}, done: make(chan error, 1),
		size: map[topicPartition]int64{{s.topic, 0}: batchOverhead + recordSize(r)}}
	if err := l.produce(ctx, call); err != nil {
		return l.wrap(err, "write state of topic %s to %s", name, s.topic)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == nil {
		delete(s.byName, name)
	} else {
		s.byName[name] = st.clone()
	}
	return nil
}

func kgoStr(s string) *string { return &s }
