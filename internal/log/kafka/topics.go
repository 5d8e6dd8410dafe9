package kafka

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalake/strata/internal/log"
)

// defaultTombstoneRetention is Kafka's delete.retention.ms default.
const defaultTombstoneRetention = 24 * time.Hour

// validTopicName reports whether name is 1 to 249 characters of [a-zA-Z0-9._-] and not "." or
// ".." (which Kafka refuses too).
func validTopicName(name string) bool {
	if len(name) == 0 || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// normalizeConfig validates cfg and fills its defaults.
func normalizeConfig(cfg log.TopicConfig) (log.TopicConfig, error) {
	switch {
	case cfg.Partitions < 0:
		return cfg, fmt.Errorf("partitions %d", cfg.Partitions)
	case cfg.Partitions > 1<<20:
		return cfg, fmt.Errorf("partitions %d: too many", cfg.Partitions)
	case cfg.Retention.Time < 0:
		return cfg, fmt.Errorf("retention time %v", cfg.Retention.Time)
	case cfg.Retention.Bytes < 0:
		return cfg, fmt.Errorf("retention bytes %d", cfg.Retention.Bytes)
	case cfg.TombstoneRetention < 0:
		return cfg, fmt.Errorf("tombstone retention %v", cfg.TombstoneRetention)
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	if cfg.TombstoneRetention == 0 {
		cfg.TombstoneRetention = defaultTombstoneRetention
	}
	return cfg, nil
}

// millis converts a positive duration to Kafka milliseconds, at least 1.
func millis(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }

// brokerConfigs returns the Kafka topic configs of a normalized Strata config. Broker-side
// retention is set only with DeleteUncommitted; otherwise it is off (-1, which also overrides the
// broker's 7-day default) and Clean enforces the retention.
func brokerConfigs(c stateConfig) map[string]*string {
	policy := "delete"
	if c.Compact {
		policy = "compact"
		if c.brokerRetention() {
			policy = "compact,delete"
		}
	}
	retMs, retBytes := "-1", "-1"
	if c.brokerRetention() {
		if c.RetentionTime > 0 {
			retMs = millis(c.RetentionTime)
		}
		if c.RetentionBytes > 0 {
			retBytes = strconv.FormatInt(c.RetentionBytes, 10)
		}
	}
	return map[string]*string{
		"cleanup.policy":      kgoStr(policy),
		"retention.ms":        kgoStr(retMs),
		"retention.bytes":     kgoStr(retBytes),
		"delete.retention.ms": kgoStr(millis(c.TombstoneRetention)),
	}
}

func toStateConfig(cfg log.TopicConfig) stateConfig {
	return stateConfig{
		RetentionTime:      cfg.Retention.Time,
		RetentionBytes:     cfg.Retention.Bytes,
		Compact:            cfg.Compact,
		TombstoneRetention: cfg.TombstoneRetention,
		DeleteUncommitted:  cfg.DeleteUncommitted,
	}
}

// CreateTopic creates a Kafka topic with cfg's partitions and the configs of brokerConfigs, and
// records its Strata state. It fails with log.ErrTopicExists when the name is taken and
// log.ErrInvalidConfig for a bad name or config (or one the broker refuses, such as a name that
// collides with an existing one up to '.' versus '_'). It returns once the topic is visible in
// the cluster's metadata.
func (l *Log) CreateTopic(ctx context.Context, name string, cfg log.TopicConfig) error {
	if err := l.check("create topic"); err != nil {
		return err
	}
	if !validTopicName(name) {
		return fmt.Errorf("kafka: create topic %q: name must be 1 to 249 characters of [a-zA-Z0-9._-]: %w", name, log.ErrInvalidConfig)
	}
	norm, err := normalizeConfig(cfg)
	if err != nil {
		return fmt.Errorf("kafka: create topic %s: %v: %w", name, err, log.ErrInvalidConfig)
	}
	sc := toStateConfig(norm)
	resp, err := l.adm.CreateTopic(ctx, int32(norm.Partitions), l.opts.replication, brokerConfigs(sc), name)
	if err != nil {
		if resp.ErrMessage != "" {
			return l.wrap(err, "create topic %s (%s)", name, resp.ErrMessage)
		}
		return l.wrap(err, "create topic %s", name)
	}
	l.meta.forget(name)
	if err := l.awaitTopic(ctx, name, true); err != nil {
		return err
	}
	m, err := l.topicMeta(ctx, name, true)
	if err != nil {
		return err
	}
	id := resp.ID
	if id == ([16]byte{}) {
		id = m.id
	}
	st := &topicState{TopicID: topicIDString(id), Config: sc, Partitions: make([]partitionState, m.partitions())}
	if err := l.state.put(ctx, l, name, st); err != nil {
		// Without its state the topic would keep its records forever: undo.
		undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.metadataTimeout)
		_, _ = l.adm.DeleteTopic(undo, name)
		cancel()
		l.meta.forget(name)
		return err
	}
	return nil
}

// awaitTopic waits until the topic is (present) or is not (!present) in the cluster's metadata
// with every partition led, for at most the metadata timeout.
func (l *Log) awaitTopic(ctx context.Context, name string, present bool) error {
	deadline := time.Now().Add(l.opts.metadataTimeout)
	for attempt := 1; ; attempt++ {
		ms, err := l.loadMetadata(ctx, []string{name})
		if err != nil {
			return err
		}
		m, ok := ms[name]
		if ok == present && (!ok || !leaderless(m)) {
			if ok {
				l.meta.put(m)
			}
			return nil
		}
		if time.Now().After(deadline) {
			if present {
				return fmt.Errorf("kafka: topic %s not ready after %v", name, l.opts.metadataTimeout)
			}
			return nil // still listed: deletion is asynchronous on some clusters
		}
		if err := backoff(ctx, min(attempt, 3)); err != nil {
			return l.wrap(err, "await topic %s", name)
		}
	}
}

func leaderless(m *topicMeta) bool {
	for _, ld := range m.leaders {
		if ld < 0 {
			return true
		}
	}
	return false
}

// DeleteTopic deletes a Kafka topic and its Strata state, and (best effort) the committed offsets
// of groups for it. It fails with log.ErrUnknownTopic when there is no such topic.
func (l *Log) DeleteTopic(ctx context.Context, name string) error {
	if err := l.check("delete topic"); err != nil {
		return err
	}
	if !validTopicName(name) {
		return fmt.Errorf("kafka: delete topic %q: %w", name, log.ErrUnknownTopic)
	}
	l.deleteGroupOffsets(ctx, name)
	if resp, err := l.adm.DeleteTopic(ctx, name); err != nil {
		if resp.ErrMessage != "" {
			return l.wrap(err, "delete topic %s (%s)", name, resp.ErrMessage)
		}
		return l.wrap(err, "delete topic %s", name)
	}
	l.meta.forget(name)
	l.cl.PurgeTopicsFromClient(name)
	l.rrMu.Lock()
	delete(l.rr, name)
	l.rrMu.Unlock()
	if err := l.awaitTopic(ctx, name, false); err != nil {
		return err
	}
	return l.state.put(ctx, l, name, nil)
}

// deleteGroupOffsets deletes the offsets groups committed for a topic, so that a topic re-created
// with the same name does not inherit them. Kafka refuses it for groups with active members; those
// are left alone (Kafka itself drops the offsets of deleted partitions eventually).
func (l *Log) deleteGroupOffsets(ctx context.Context, topic string) {
	committed, err := l.groupOffsets(ctx)
	if err != nil {
		return
	}
	for group, topics := range committed {
		parts, ok := topics[topic]
		if !ok {
			continue
		}
		set := kadm.TopicsSet{topic: {}}
		for p := range parts {
			set[topic][p] = struct{}{}
		}
		_, _ = l.adm.DeleteOffsets(ctx, group, set)
	}
}

// DescribeTopic returns a topic's config, partitions and removal counts. The config is read back
// from the broker's topic configs (cleanup.policy, delete.retention.ms, and retention.ms and
// retention.bytes when the broker enforces the retention) and from the Strata state
// (DeleteUncommitted, and the retention Clean enforces). Bytes is the leader replica's log size
// from DescribeLogDirs, 0 when the cluster does not tell; it includes deleted records whose
// segment the broker has not yet removed. Records is Latest - Earliest, an upper bound for
// compacted topics.
func (l *Log) DescribeTopic(ctx context.Context, name string) (log.TopicInfo, error) {
	if err := l.check("describe topic"); err != nil {
		return log.TopicInfo{}, err
	}
	m, err := l.topicMeta(ctx, name, true)
	if err != nil {
		return log.TopicInfo{}, err
	}
	if err := l.state.refresh(ctx, l); err != nil {
		return log.TopicInfo{}, err
	}
	var rc kadm.ResourceConfig
	rcs, err := l.adm.DescribeTopicConfigs(ctx, name)
	if err == nil {
		if rc, err = rcs.On(name, nil); err == nil {
			err = rc.Err
		}
	}
	if err != nil {
		return log.TopicInfo{}, l.wrap(err, "describe configs of topic %s", name)
	}
	bc := brokerConfigValues(rc.Configs)
	st := l.state.get(name, m.id)

	info := log.TopicInfo{Name: name}
	cfg := log.TopicConfig{
		Partitions:         int(m.partitions()),
		Compact:            strings.Contains(bc.policy, "compact"),
		TombstoneRetention: bc.tombstone,
		DeleteUncommitted:  true,
	}
	if strings.Contains(bc.policy, "delete") {
		cfg.Retention = log.Retention{Time: bc.retentionTime, Bytes: bc.retentionBytes}
	}
	if st != nil {
		cfg.DeleteUncommitted = st.Config.DeleteUncommitted
		if st.Config.strataRetention() {
			cfg.Retention = log.Retention{Time: st.Config.RetentionTime, Bytes: st.Config.RetentionBytes}
		}
	}
	info.Config = cfg

	parts := make([]int32, m.partitions())
	for i := range parts {
		parts[i] = int32(i)
	}
	earliest, latest, err := l.bounds(ctx, name, parts)
	if err != nil {
		return log.TopicInfo{}, err
	}
	sizes := l.partitionSizes(ctx, m)
	if st != nil {
		// Count what the broker removed since the last Clean, as the next Clean will.
		for _, p := range parts {
			st.observeEarliest(p, earliest[p])
		}
		info.Removed = st.removal()
	}
	for _, p := range parts {
		info.Partitions = append(info.Partitions, log.PartitionInfo{
			Partition: p,
			Earliest:  earliest[p],
			Latest:    latest[p],
			Bytes:     sizes[p],
			Records:   max(latest[p]-earliest[p], 0),
		})
	}
	return info, nil
}

// brokerConfig holds the topic configs DescribeTopic reads back.
type brokerConfig struct {
	policy         string
	retentionTime  time.Duration // 0: none
	retentionBytes int64         // 0: none
	tombstone      time.Duration
}

func brokerConfigValues(cs []kadm.Config) brokerConfig {
	bc := brokerConfig{policy: "delete", retentionTime: 7 * 24 * time.Hour, tombstone: defaultTombstoneRetention}
	for _, c := range cs {
		v := c.MaybeValue()
		n, err := strconv.ParseInt(v, 10, 64)
		switch c.Key {
		case "cleanup.policy":
			bc.policy = v
		case "retention.ms":
			if err == nil {
				bc.retentionTime = time.Duration(max(n, 0)) * time.Millisecond
			}
		case "retention.bytes":
			if err == nil {
				bc.retentionBytes = max(n, 0)
			}
		case "delete.retention.ms":
			if err == nil {
				bc.tombstone = time.Duration(n) * time.Millisecond
			}
		}
	}
	return bc
}

// partitionSizes returns each partition's log size on its leader (or the largest replica size
// when the leader did not answer). Errors leave sizes at 0: sizes are informative.
func (l *Log) partitionSizes(ctx context.Context, m *topicMeta) map[int32]int64 {
	sizes := make(map[int32]int64)
	set := kadm.TopicsSet{m.name: {}}
	for p := range m.partitions() {
		set[m.name][p] = struct{}{}
	}
	dirs, err := l.adm.DescribeAllLogDirs(ctx, set)
	if err != nil && len(dirs) == 0 {
		return sizes
	}
	leaderSeen := make(map[int32]bool)
	dirs.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			return
		}
		for p, dp := range d.Topics[m.name] {
			if p < 0 || p >= m.partitions() {
				continue
			}
			if d.Broker == m.leaders[p] {
				if !leaderSeen[p] {
					sizes[p] = 0
				}
				leaderSeen[p] = true
				sizes[p] += dp.Size
			} else if !leaderSeen[p] && dp.Size > sizes[p] {
				sizes[p] = dp.Size
			}
		}
	})
	return sizes
}
