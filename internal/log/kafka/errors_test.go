package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalake/strata/internal/log"
)

func TestErrorMapping(t *testing.T) {
	l := &Log{}
	for _, tc := range []struct {
		in   error
		want error // nil: no sentinel
	}{
		{kerr.UnknownTopicOrPartition, log.ErrUnknownTopic},
		{kerr.UnknownTopicID, log.ErrUnknownTopic},
		{kerr.TopicAlreadyExists, log.ErrTopicExists},
		{kerr.MessageTooLarge, log.ErrRecordTooLarge},
		{kerr.RecordListTooLarge, log.ErrRecordTooLarge},
		{fmt.Errorf("%w (uncompressed_bytes=9)", kerr.MessageTooLarge), log.ErrRecordTooLarge},
		{kerr.OffsetOutOfRange, log.ErrOffsetOutOfRange},
		{kerr.InvalidTopicException, log.ErrInvalidConfig},
		{kerr.InvalidPartitions, log.ErrInvalidConfig},
		{kerr.InvalidReplicationFactor, log.ErrInvalidConfig},
		{kerr.InvalidConfig, log.ErrInvalidConfig},
		{kerr.PolicyViolation, log.ErrInvalidConfig},
		{kerr.InvalidRecord, log.ErrInvalidConfig},
		{kerr.CorruptMessage, log.ErrCorrupt},
		{kgo.ErrClientClosed, log.ErrClosed},
		{kerr.NotLeaderForPartition, nil},
		{errors.New("other"), nil},
	} {
		got := l.wrap(tc.in, "op on %s", "t")
		if !errors.Is(got, tc.in) {
			t.Errorf("wrap(%v) = %v: lost the original error", tc.in, got)
		}
		if tc.want != nil && !errors.Is(got, tc.want) {
			t.Errorf("wrap(%v) = %v, want it to match %v", tc.in, got, tc.want)
		}
		if tc.want == nil && sentinelFor(tc.in) != nil {
			t.Errorf("sentinelFor(%v) = %v, want none", tc.in, sentinelFor(tc.in))
		}
	}
	if l.wrap(nil, "op") != nil {
		t.Error("wrap(nil) != nil")
	}
	if err := l.wrap(context.Canceled, "op"); !errors.Is(err, context.Canceled) || errors.Is(err, log.ErrClosed) {
		t.Errorf("wrap(context.Canceled) = %v", err)
	}
	l.closed.Store(true)
	if err := l.wrap(context.Canceled, "op"); !errors.Is(err, log.ErrClosed) {
		t.Errorf("wrap(context.Canceled) after Close = %v, want ErrClosed", err)
	}
}

// TestProduceToTopicDeletedBehindTheLog: the broker's UNKNOWN_TOPIC_OR_PARTITION (here, for a
// topic deleted by another client after the Log cached it) maps to ErrUnknownTopic.
func TestProduceToTopicDeletedBehindTheLog(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c, WithClientOptions(kgo.UnknownTopicRetries(1), kgo.MetadataMinAge(50*time.Millisecond)))
	adm := adminFor(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	produceN(t, l, "t", 0, 1)
	if _, err := adm.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Produce(ctx, "t", []log.Record{{Partition: 0, Value: []byte("x")}}); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("Produce = %v, want ErrUnknownTopic", err)
	}
	if _, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{}); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("Fetch = %v, want ErrUnknownTopic", err)
	}
}

func TestOpenFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for name, tc := range map[string]struct {
		brokers []string
		opts    []Option
	}{
		"no brokers":          {nil, nil},
		"unreachable":         {[]string{addr}, nil},
		"bad replication":     {[]string{addr}, []Option{WithReplicationFactor(0)}},
		"bad fetch clients":   {[]string{addr}, []Option{WithFetchClients(0)}},
		"bad batch bound":     {[]string{addr}, []Option{WithMaxBatchBytes(10)}},
		"bad state topic":     {[]string{addr}, []Option{WithStateTopic("a/b")}},
		"negative clean time": {[]string{addr}, []Option{WithCleanInterval(-time.Second)}},
	} {
		if l, err := Open(ctx, tc.brokers, tc.opts...); err == nil {
			l.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}
