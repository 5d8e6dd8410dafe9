package demo

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
	"github.com/stratalake/strata/internal/project"
)

// dyingLog is a log whose Produce to one topic fails after some calls, as if the process died
// there: the feed returns at once, without saving its stats (a SIGKILL leaves the same state on
// disk).
type dyingLog struct {
	log.Log
	topic string
	calls *int // Produce calls to topic that succeed
}

var errDied = errors.New("killed")

func (d dyingLog) Produce(ctx context.Context, topic string, recs []log.Record) ([]log.Record, error) {
	if topic == d.topic {
		if *d.calls == 0 {
			return nil, errDied
		}
		*d.calls--
	}
	return d.Log.Produce(ctx, topic, recs)
}

// TestFeedResumesAfterCrash: a feed that dies (SIGKILL) after producing the customers snapshot
// and before saving its stats must, on restart, neither produce the snapshot again nor generate
// its segment again (the same event ids and order numbers, duplicated in the log): regression
// test of a crash loop of the demo (internal/reliability, crash section) that re-produced the
// 20,000-customer snapshot on every start and never reached the events.
func TestFeedResumesAfterCrash(t *testing.T) {
	for _, c := range []struct {
		name  string
		topic string // where the first run dies
		calls int    // after this many produce calls to topic
	}{
		{"killed after the snapshot", TopicEvents, 0},
		{"killed during the snapshot", TopicCustomers, 1}, // 5,000 of 12,000 customers produced
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			l, err := embedded.Open(ctx, dir+"/log")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			proj := &project.Project{Dir: dir}
			opts := FeedOptions{Rate: 50, Seed: 7, Users: 12_000, Duration: 500 * time.Millisecond}

			f, err := NewFeed(proj, dyingLog{l, c.topic, &c.calls}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Run(ctx); !errors.Is(err, errDied) {
				t.Fatalf("first run: %v, want the injected death", err)
			}
			ordersBefore := latestOffsets(t, l, TopicOrders)

			f, err = NewFeed(proj, l, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if st := f.Stats(); st.Segments != 2 {
				t.Errorf("after a crash and a restart the stats count %d segments, want 2", st.Segments)
			}
			snapshot := map[string]int{}
			for _, r := range readAll(t, l, TopicCustomers, nil) {
				if bytes.Contains(r.Value, []byte(`"op":"r"`)) {
					snapshot[string(r.Key)]++
				}
			}
			if len(snapshot) != opts.Users {
				t.Errorf("the log holds snapshot records of %d customers, want all %d", len(snapshot), opts.Users)
			}
			for k, n := range snapshot {
				if n != 1 {
					t.Fatalf("customer %s is %d times in the snapshot: it was produced again on restart", k, n)
				}
			}
			orders := readAll(t, l, TopicOrders, ordersBefore)
			if len(orders) == 0 {
				t.Fatal("the restarted feed produced no order")
			}
			for _, r := range orders {
				n, err := strconv.ParseInt(strings.TrimPrefix(string(r.Key), "ORD-"), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				if n < orderSegment {
					t.Fatalf("the restarted feed produced order %s of segment 0 again, want segment 1's numbers", r.Key)
				}
			}
		})
	}
}

func latestOffsets(t *testing.T, l log.Log, topic string) map[int32]int64 {
	t.Helper()
	info, err := l.DescribeTopic(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, p := range info.Partitions {
		out[p.Partition] = p.Latest
	}
	return out
}

// readAll reads a topic from the given offsets (nil: from the start) to its end.
func readAll(t *testing.T, l log.Log, topic string, from map[int32]int64) []log.Record {
	t.Helper()
	ctx := context.Background()
	var out []log.Record
	for p, latest := range latestOffsets(t, l, topic) {
		for off := from[p]; off < latest; {
			recs, err := l.Fetch(ctx, topic, p, off, log.FetchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, recs...)
			off = recs[len(recs)-1].Offset + 1
		}
	}
	return out
}
