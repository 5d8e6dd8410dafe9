package logtest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

func (s *suite) topicTests() []subtest {
	return []subtest{
		{name: "CreateListDescribe", run: s.testCreateListDescribe},
		{name: "CreateExisting", run: s.testCreateExisting},
		{name: "BadNames", run: s.testBadNames},
		{name: "BadConfigs", run: s.testBadConfigs},
		{name: "DeleteAndRecreate", run: s.testDeleteAndRecreate},
		{name: "UnknownTopic", run: s.testUnknownTopic},
		{name: "UnknownPartition", run: s.testUnknownPartition},
	}
}

// testCreateListDescribe: created topics are listed sorted and described with their normalized
// config (0 partitions is 1, a 0 tombstone retention is 24h) and empty partitions.
func (s *suite) testCreateListDescribe(t *testing.T) {
	ctx, l := s.open(t)
	cfgs := map[string]log.TopicConfig{
		"orders":    {Partitions: 3, Retention: log.Retention{Time: 2 * time.Hour, Bytes: 1 << 20}, TombstoneRetention: time.Hour},
		"a-default": {},
		"c.d_e-F9":  {Partitions: 2, Compact: true, TombstoneRetention: 3 * time.Hour, DeleteUncommitted: true},
	}
	for _, name := range []string{"orders", "a-default", "c.d_e-F9"} {
		create(t, ctx, l, name, cfgs[name])
	}
	names, err := l.ListTopics(ctx)
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	if want := []string{"a-default", "c.d_e-F9", "orders"}; !slices.Equal(names, want) {
		t.Fatalf("ListTopics = %q, want %q", names, want)
	}
	for name, cfg := range cfgs {
		want := cfg
		if want.Partitions == 0 {
			want.Partitions = 1
		}
		if want.TombstoneRetention == 0 {
			want.TombstoneRetention = 24 * time.Hour
		}
		info := describe(t, ctx, l, name)
		if info.Name != name || info.Config != want {
			t.Errorf("DescribeTopic(%q) = %q %+v, want config %+v", name, info.Name, info.Config, want)
		}
		if len(info.Partitions) != want.Partitions {
			t.Fatalf("DescribeTopic(%q): %d partitions, want %d", name, len(info.Partitions), want.Partitions)
		}
		for i, p := range info.Partitions {
			if p.Partition != int32(i) || p.Earliest != 0 || p.Latest != 0 || p.Records != 0 {
				t.Errorf("DescribeTopic(%q) partition %d = %+v, want an empty partition %d", name, i, p, i)
			}
		}
		if info.Removed != (log.Removal{}) {
			t.Errorf("DescribeTopic(%q).Removed = %+v, want zero", name, info.Removed)
		}
	}
	// After records are produced the partitions count them.
	produce(t, ctx, l, "orders", rec(1, "", "x"), rec(1, "", "y"), rec(2, "", "z"))
	info := describe(t, ctx, l, "orders")
	for i, want := range []int64{0, 2, 1} {
		p := info.Partitions[i]
		if p.Earliest != 0 || p.Latest != want || p.Records != want || p.Bytes < 0 {
			t.Errorf("partition %d = %+v, want Earliest 0, Latest and Records %d", i, p, want)
		}
	}
}

func (s *suite) testCreateExisting(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 2})
	err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 5})
	wantErr(t, "CreateTopic of an existing name", err, log.ErrTopicExists)
	if info := describe(t, ctx, l, "t"); len(info.Partitions) != 2 {
		t.Fatalf("the failed CreateTopic changed the topic: %d partitions", len(info.Partitions))
	}
}

// testBadNames: names are 1 to 249 characters of [a-zA-Z0-9._-], not "." or "..".
func (s *suite) testBadNames(t *testing.T) {
	ctx, l := s.open(t)
	bad := []string{"", ".", "..", "a b", "a/b", "a\\b", "a:b", "topic\n", "é", "a*", strings.Repeat("x", 250)}
	for _, name := range bad {
		err := l.CreateTopic(ctx, name, log.TopicConfig{})
		wantErr(t, "CreateTopic("+name+")", err, log.ErrInvalidConfig)
	}
	good := []string{"a", "A.b_c-9", "...", strings.Repeat("x", 249)}
	for _, name := range good {
		create(t, ctx, l, name, log.TopicConfig{})
	}
	names, err := l.ListTopics(ctx)
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	want := slices.Clone(good)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("ListTopics = %q, want %q", names, want)
	}
}

func (s *suite) testBadConfigs(t *testing.T) {
	ctx, l := s.open(t)
	for _, c := range []struct {
		what string
		cfg  log.TopicConfig
	}{
		{"negative partitions", log.TopicConfig{Partitions: -1}},
		{"negative retention time", log.TopicConfig{Retention: log.Retention{Time: -time.Hour}}},
		{"negative retention bytes", log.TopicConfig{Retention: log.Retention{Bytes: -1}}},
		{"negative tombstone retention", log.TopicConfig{Compact: true, TombstoneRetention: -time.Second}},
	} {
		err := l.CreateTopic(ctx, "t", c.cfg)
		wantErr(t, "CreateTopic with "+c.what, err, log.ErrInvalidConfig)
	}
	names, err := l.ListTopics(ctx)
	if err != nil || len(names) != 0 {
		t.Fatalf("ListTopics after refused creations = %q, %v; want none", names, err)
	}
}

// testDeleteAndRecreate: a deleted topic is gone with its records and commits; a topic created
// again under the same name starts empty.
func (s *suite) testDeleteAndRecreate(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "keep", log.TopicConfig{})
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 2})
	produce(t, ctx, l, "t", rec(0, "", "a"), rec(1, "", "b"))
	if err := l.CommitOffsets(ctx, "g", "t", map[int32]int64{0: 1}); err != nil {
		t.Fatalf("CommitOffsets: %v", err)
	}
	if err := l.DeleteTopic(ctx, "t"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if names, err := l.ListTopics(ctx); err != nil || !slices.Equal(names, []string{"keep"}) {
		t.Fatalf("ListTopics after delete = %q, %v; want [keep]", names, err)
	}
	_, err := l.DescribeTopic(ctx, "t")
	wantErr(t, "DescribeTopic of a deleted topic", err, log.ErrUnknownTopic)
	wantErr(t, "DeleteTopic twice", l.DeleteTopic(ctx, "t"), log.ErrUnknownTopic)

	create(t, ctx, l, "t", log.TopicConfig{Partitions: 3})
	info := describe(t, ctx, l, "t")
	if len(info.Partitions) != 3 {
		t.Fatalf("recreated topic has %d partitions, want 3", len(info.Partitions))
	}
	for _, p := range info.Partitions {
		if p.Latest != 0 || p.Records != 0 {
			t.Fatalf("recreated topic partition %+v is not empty", p)
		}
	}
	if got, err := l.CommittedOffsets(ctx, "g", "t"); err != nil || len(got) != 0 {
		t.Fatalf("commits of the deleted topic survived into the new one: %v, %v", got, err)
	}
	out := produce(t, ctx, l, "t", rec(0, "", "c"))
	if out[0].Offset != 0 {
		t.Fatalf("first record of the recreated topic at offset %d, want 0", out[0].Offset)
	}
}

func (s *suite) testUnknownTopic(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "other", log.TopicConfig{})
	const name = "missing"
	_, err := l.DescribeTopic(ctx, name)
	wantErr(t, "DescribeTopic", err, log.ErrUnknownTopic)
	wantErr(t, "DeleteTopic", l.DeleteTopic(ctx, name), log.ErrUnknownTopic)
	_, err = l.Produce(ctx, name, []log.Record{rec(-1, "k", "v")})
	wantErr(t, "Produce", err, log.ErrUnknownTopic)
	_, err = l.Fetch(ctx, name, 0, 0, log.FetchOptions{})
	wantErr(t, "Fetch", err, log.ErrUnknownTopic)
	_, _, err = l.Offsets(ctx, name, 0)
	wantErr(t, "Offsets", err, log.ErrUnknownTopic)
	_, err = l.OffsetForTime(ctx, name, 0, time.Now())
	wantErr(t, "OffsetForTime", err, log.ErrUnknownTopic)
	err = l.CommitOffsets(ctx, "g", name, map[int32]int64{0: 1})
	wantErr(t, "CommitOffsets", err, log.ErrUnknownTopic)
}

func (s *suite) testUnknownPartition(t *testing.T) {
	ctx, l := s.open(t)
	create(t, ctx, l, "t", log.TopicConfig{Partitions: 2})
	_, err := l.Produce(ctx, "t", []log.Record{rec(2, "k", "v")})
	wantErr(t, "Produce to partition 2 of 2", err, log.ErrUnknownPartition)
	for _, p := range []int32{2, 100} {
		_, err = l.Fetch(ctx, "t", p, 0, log.FetchOptions{})
		wantErr(t, "Fetch", err, log.ErrUnknownPartition)
		_, _, err = l.Offsets(ctx, "t", p)
		wantErr(t, "Offsets", err, log.ErrUnknownPartition)
		_, err = l.OffsetForTime(ctx, "t", p, time.Now())
		wantErr(t, "OffsetForTime", err, log.ErrUnknownPartition)
	}
	_, err = l.Fetch(ctx, "t", -1, 0, log.FetchOptions{})
	wantErr(t, "Fetch of partition -1", err, log.ErrUnknownPartition)
	// The refused Produce wrote nothing.
	for p := int32(0); p < 2; p++ {
		if _, latest := offsets(t, ctx, l, "t", p); latest != 0 {
			t.Fatalf("partition %d has %d records after a refused Produce", p, latest)
		}
	}
}
