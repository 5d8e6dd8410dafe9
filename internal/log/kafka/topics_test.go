package kafka

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalake/strata/internal/log"
)

// adminFor returns a franz-go admin client on c, closed when the test ends: the view of the
// cluster that any Kafka tool has.
func adminFor(t testing.TB, c interface{ ListenAddrs() []string }) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// topicConfigs returns the broker's value of the named configs of a topic.
func topicConfigs(t testing.TB, adm *kadm.Client, topic string, keys ...string) map[string]string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, c := range rc.Configs {
		for _, k := range keys {
			if c.Key == k {
				out[k] = c.MaybeValue()
			}
		}
	}
	return out
}

func TestCreateTopicErrors(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "taken", log.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateTopic(ctx, "a.b", log.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  log.TopicConfig
		want error
	}{
		{"", log.TopicConfig{}, log.ErrInvalidConfig},
		{".", log.TopicConfig{}, log.ErrInvalidConfig},
		{"..", log.TopicConfig{}, log.ErrInvalidConfig},
		{"has space", log.TopicConfig{}, log.ErrInvalidConfig},
		{"slash/", log.TopicConfig{}, log.ErrInvalidConfig},
		{"é", log.TopicConfig{}, log.ErrInvalidConfig},
		{strings.Repeat("x", 250), log.TopicConfig{}, log.ErrInvalidConfig},
		{"neg-partitions", log.TopicConfig{Partitions: -1}, log.ErrInvalidConfig},
		{"neg-time", log.TopicConfig{Retention: log.Retention{Time: -time.Second}}, log.ErrInvalidConfig},
		{"neg-bytes", log.TopicConfig{Retention: log.Retention{Bytes: -1}}, log.ErrInvalidConfig},
		{"neg-tombstone", log.TopicConfig{TombstoneRetention: -time.Second}, log.ErrInvalidConfig},
		{"taken", log.TopicConfig{}, log.ErrTopicExists},
		{"a_b", log.TopicConfig{}, log.ErrInvalidConfig}, // collides with a.b, as Kafka says
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := l.CreateTopic(ctx, tc.name, tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CreateTopic(%q, %+v) = %v, want %v", tc.name, tc.cfg, err, tc.want)
			}
		})
	}
	if err := l.CreateTopic(ctx, strings.Repeat("x", 249), log.TopicConfig{}); err != nil {
		t.Fatalf("249-character name: %v", err)
	}
}

// TestTopicConfigs checks the Kafka topic configs each Strata config maps to, and that
// DescribeTopic reads the config back.
func TestTopicConfigs(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	adm := adminFor(t, c)
	ctx := testCtx(t)
	keys := []string{"cleanup.policy", "retention.ms", "retention.bytes", "delete.retention.ms"}
	for _, tc := range []struct {
		name   string
		cfg    log.TopicConfig
		broker map[string]string
		want   log.TopicConfig // as DescribeTopic returns it
	}{
		{
			name:   "forever",
			cfg:    log.TopicConfig{},
			broker: map[string]string{"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1", "delete.retention.ms": "86400000"},
			want:   log.TopicConfig{Partitions: 1, TombstoneRetention: 24 * time.Hour},
		},
		{
			name:   "held-back-retention",
			cfg:    log.TopicConfig{Partitions: 3, Retention: log.Retention{Time: time.Hour, Bytes: 1 << 20}},
			broker: map[string]string{"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
			want:   log.TopicConfig{Partitions: 3, Retention: log.Retention{Time: time.Hour, Bytes: 1 << 20}, TombstoneRetention: 24 * time.Hour},
		},
		{
			name:   "broker-retention",
			cfg:    log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: 90 * time.Minute, Bytes: 5000}, DeleteUncommitted: true},
			broker: map[string]string{"cleanup.policy": "delete", "retention.ms": "5400000", "retention.bytes": "5000"},
			want:   log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: 90 * time.Minute, Bytes: 5000}, TombstoneRetention: 24 * time.Hour, DeleteUncommitted: true},
		},
		{
			name:   "compact",
			cfg:    log.TopicConfig{Compact: true, TombstoneRetention: time.Minute},
			broker: map[string]string{"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1", "delete.retention.ms": "60000"},
			want:   log.TopicConfig{Partitions: 1, Compact: true, TombstoneRetention: time.Minute},
		},
		{
			name:   "compact-held-back-retention",
			cfg:    log.TopicConfig{Compact: true, Retention: log.Retention{Time: time.Hour}},
			broker: map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"},
			want:   log.TopicConfig{Partitions: 1, Compact: true, Retention: log.Retention{Time: time.Hour}, TombstoneRetention: 24 * time.Hour},
		},
		{
			name:   "compact-delete",
			cfg:    log.TopicConfig{Compact: true, Retention: log.Retention{Time: time.Hour}, DeleteUncommitted: true},
			broker: map[string]string{"cleanup.policy": "compact,delete", "retention.ms": "3600000", "retention.bytes": "-1"},
			want:   log.TopicConfig{Partitions: 1, Compact: true, Retention: log.Retention{Time: time.Hour}, TombstoneRetention: 24 * time.Hour, DeleteUncommitted: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := l.CreateTopic(ctx, tc.name, tc.cfg); err != nil {
				t.Fatal(err)
			}
			got := topicConfigs(t, adm, tc.name, keys...)
			for k, v := range tc.broker {
				if got[k] != v {
					t.Errorf("broker config %s = %q, want %q", k, got[k], v)
				}
			}
			info, err := l.DescribeTopic(ctx, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Config != tc.want {
				t.Errorf("DescribeTopic config = %+v, want %+v", info.Config, tc.want)
			}
			if len(info.Partitions) != tc.want.Partitions {
				t.Errorf("%d partitions described, want %d", len(info.Partitions), tc.want.Partitions)
			}
		})
	}
}

func TestListTopicsHidesInternal(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	adm := adminFor(t, c)
	ctx := testCtx(t)
	for _, n := range []string{"zeta", "alpha", "mid"} {
		if err := l.CreateTopic(ctx, n, log.TopicConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "__private"); err != nil {
		t.Fatal(err)
	}
	got, err := l.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alpha", "mid", "zeta"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListTopics = %v, want %v", got, want)
	}
	all, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !all.Has(DefaultStateTopic) {
		t.Fatalf("state topic %s missing from the cluster: %v", DefaultStateTopic, all.Names())
	}
}

func TestDeleteTopic(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.DeleteTopic(ctx, "nope"); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("DeleteTopic of a missing topic = %v, want ErrUnknownTopic", err)
	}
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Produce(ctx, "t", []log.Record{{Partition: 1, Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if err := l.CommitOffsets(ctx, "g", "t", map[int32]int64{1: 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Describe": func() error { _, err := l.DescribeTopic(ctx, "t"); return err },
		"Produce":  func() error { _, err := l.Produce(ctx, "t", []log.Record{{Partition: -1}}); return err },
		"Fetch":    func() error { _, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{}); return err },
		"Offsets":  func() error { _, _, err := l.Offsets(ctx, "t", 0); return err },
		"Delete":   func() error { return l.DeleteTopic(ctx, "t") },
	} {
		if err := call(); !errors.Is(err, log.ErrUnknownTopic) {
			t.Errorf("%s after DeleteTopic = %v, want ErrUnknownTopic", name, err)
		}
	}
	// The name is free again, with a new config, no records and no inherited commits.
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 3, Compact: true}); err != nil {
		t.Fatal(err)
	}
	info, err := l.DescribeTopic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Partitions != 3 || !info.Config.Compact || info.Config.Retention != (log.Retention{}) {
		t.Fatalf("re-created topic config = %+v", info.Config)
	}
	for _, p := range info.Partitions {
		if p.Latest != 0 {
			t.Fatalf("re-created topic partition %d has latest %d", p.Partition, p.Latest)
		}
	}
	got, err := l.CommittedOffsets(ctx, "g", "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("re-created topic inherited commits %v", got)
	}
}

// TestExternalTopic: a topic Strata did not create is described from its broker configs and left
// to the broker by Clean.
func TestExternalTopic(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	adm := adminFor(t, c)
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kgoStr("60000")}, "ext"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if _, err := l.Produce(ctx, "ext", []log.Record{{Partition: 0, Value: []byte("old"), Timestamp: old}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := l.DescribeTopic(ctx, "ext")
	if err != nil {
		t.Fatal(err)
	}
	want := log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: time.Minute}, TombstoneRetention: 24 * time.Hour, DeleteUncommitted: true}
	if info.Config != want {
		t.Fatalf("config = %+v, want %+v", info.Config, want)
	}
	if info.Partitions[0].Earliest != 0 || info.Removed != (log.Removal{}) {
		t.Fatalf("Clean touched an external topic: %+v", info)
	}
	c.ApplyRetention() // the broker's job
	info, err = l.DescribeTopic(ctx, "ext")
	if err != nil {
		t.Fatal(err)
	}
	if info.Partitions[0].Earliest != 1 {
		t.Fatalf("broker retention did not apply: %+v", info.Partitions[0])
	}
}

// TestStateSharedAndDurable: a topic's Strata config and counters live on the cluster: a second
// Log sees them, and so does a Log opened after the first closed.
func TestStateSharedAndDurable(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	clock := time.Now()
	a := openLog(t, c, WithClock(func() time.Time { return clock }))
	cfg := log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: time.Hour}}
	if err := a.CreateTopic(ctx, "t", cfg); err != nil {
		t.Fatal(err)
	}
	b := openLog(t, c)
	if _, err := b.Produce(ctx, "t", []log.Record{{Partition: 0, Value: []byte("x"), Timestamp: clock.Add(-2 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	for i, l := range []*Log{a, b, openLog(t, c)} {
		info, err := l.DescribeTopic(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Retention != cfg.Retention || info.Config.DeleteUncommitted {
			t.Errorf("log %d: config %+v", i, info.Config)
		}
		if info.Removed.ByTime != 1 || info.Partitions[0].Earliest != 1 {
			t.Errorf("log %d: removed %+v, partition 0 %+v", i, info.Removed, info.Partitions[0])
		}
	}
	a.Close()
	d := openLog(t, c)
	info, err := d.DescribeTopic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if info.Removed.ByTime != 1 {
		t.Fatalf("reopened: removed %+v", info.Removed)
	}
}

// TestStaleState: a state record left by a topic that was deleted and re-created outside Strata
// does not apply to the new topic.
func TestStaleState(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	adm := adminFor(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Retention: log.Retention{Time: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	info, err := l.DescribeTopic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if !info.Config.DeleteUncommitted || info.Config.Retention.Time != 7*24*time.Hour {
		t.Fatalf("the new topic took the old one's state: %+v", info.Config)
	}
}
