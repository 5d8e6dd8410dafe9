package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalake/strata/internal/log"
)

// CommitOffsets commits, for a consumer group, the next offset to read of each partition given,
// as Kafka committed offsets (OffsetCommit with no group generation, as a consumer that assigns
// its partitions itself does). Kafka refuses it while the group has active members. An empty
// map commits nothing.
func (l *Log) CommitOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error {
	if err := l.check("commit offsets"); err != nil {
		return err
	}
	if group == "" {
		return errors.New("kafka: commit offsets: empty group name")
	}
	m, err := l.topicMeta(ctx, topic, false)
	if err != nil {
		return err
	}
	os := make(kadm.Offsets)
	os[topic] = make(map[int32]kadm.Offset, len(offsets))
	for p, o := range offsets {
		if p >= m.partitions() {
			if m, err = l.partitionMeta(ctx, topic, p); err != nil {
				return fmt.Errorf("kafka: commit offsets of group %s: %w", group, err)
			}
		}
		if p < 0 {
			return fmt.Errorf("kafka: commit offsets of group %s: topic %s partition %d: %w", group, topic, p, log.ErrUnknownPartition)
		}
		if o < 0 {
			return fmt.Errorf("kafka: commit offsets of group %s: topic %s partition %d: negative offset %d", group, topic, p, o)
		}
		os[topic][p] = kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1}
	}
	if len(offsets) == 0 {
		return nil
	}
	resp, err := l.adm.CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	return l.wrap(err, "commit offsets of group %s for topic %s", group, topic)
}

// CommittedOffsets returns a group's committed offsets for a topic; partitions without a commit
// are absent, and a group that never committed gets an empty map. It fails with
// log.ErrUnknownTopic when the topic does not exist.
func (l *Log) CommittedOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	if err := l.check("committed offsets"); err != nil {
		return nil, err
	}
	if _, err := l.topicMeta(ctx, topic, false); err != nil {
		return nil, err
	}
	out := make(map[int32]int64)
	if group == "" {
		return out, nil
	}
	resp, err := l.adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil // some brokers say so of a group that never committed
	}
	if err != nil {
		return nil, l.wrap(err, "committed offsets of group %s", group)
	}
	for p, o := range resp[topic] {
		if o.Err == nil && o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// ListGroups returns the groups that have committed offsets, sorted, whatever topic they
// committed for (share groups excluded).
func (l *Log) ListGroups(ctx context.Context) ([]string, error) {
	if err := l.check("list groups"); err != nil {
		return nil, err
	}
	committed, err := l.groupOffsets(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(committed))
	for g := range committed {
		names = append(names, g)
	}
	sort.Strings(names)
	return names, nil
}

// groupOffsets returns the committed offsets of every group of the cluster that has any:
// group -> topic -> partition -> offset. It fails when a group's offsets cannot be read, since
// callers (the held-back rule) must not ignore a group.
func (l *Log) groupOffsets(ctx context.Context) (map[string]map[string]map[int32]int64, error) {
	listed, err := l.adm.ListGroups(ctx)
	if err != nil {
		return nil, l.wrap(err, "list groups")
	}
	var names []string
	for _, g := range listed {
		if g.GroupType == "share" || g.ProtocolType == "share" {
			continue // share groups have no committed offsets
		}
		names = append(names, g.Group)
	}
	out := make(map[string]map[string]map[int32]int64)
	if len(names) == 0 {
		return out, nil
	}
	fetched := l.adm.FetchManyOffsets(ctx, names...)
	for _, name := range names {
		r, ok := fetched[name]
		if !ok {
			return nil, fmt.Errorf("kafka: offsets of group %s: no answer", name)
		}
		if errors.Is(r.Err, kerr.GroupIDNotFound) {
			continue // deleted since it was listed
		}
		if r.Err != nil {
			return nil, l.wrap(r.Err, "offsets of group %s", name)
		}
		for t, ps := range r.Fetched {
			for p, o := range ps {
				if o.Err != nil || o.At < 0 {
					continue
				}
				if out[name] == nil {
					out[name] = make(map[string]map[int32]int64)
				}
				if out[name][t] == nil {
					out[name][t] = make(map[int32]int64)
				}
				out[name][t][p] = o.At
			}
		}
	}
	return out, nil
}

// commitLimits returns, per topic and partition, the lowest offset any group committed.
func commitLimits(committed map[string]map[string]map[int32]int64) map[string]map[int32]int64 {
	out := make(map[string]map[int32]int64)
	for _, topics := range committed {
		for t, ps := range topics {
			if out[t] == nil {
				out[t] = make(map[int32]int64)
			}
			for p, o := range ps {
				if cur, ok := out[t][p]; !ok || o < cur {
					out[t][p] = o
				}
			}
		}
	}
	return out
}
