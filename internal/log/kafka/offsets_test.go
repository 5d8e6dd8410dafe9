package kafka

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

func TestOffsetForTime(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	// Timestamps 10, 30, 20 (late), 40 in one batch, then 50, 45 (late) in another.
	for _, call := range [][]int{{10, 30, 20, 40}, {50, 45}} {
		var recs []log.Record
		for _, ms := range call {
			recs = append(recs, log.Record{Partition: 0, Value: []byte("v"), Timestamp: at(ms)})
		}
		if _, err := l.Produce(ctx, "t", recs); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{time.Time{}, 0},
		{at(0), 0},
		{at(10), 0},
		{at(11), 1},
		{at(20), 1}, // the first record at or after, scanning by maximum timestamp so far
		{at(31), 3},
		{at(45), 4},
		{at(46), 4},
		{at(51), 6}, // none: the latest offset
	} {
		got, err := l.OffsetForTime(ctx, "t", 0, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("OffsetForTime(+%v) = %d, want %d", tc.at.Sub(base), got, tc.want)
		}
	}
	if e, lt, err := l.Offsets(ctx, "t", 0); err != nil || e != 0 || lt != 6 {
		t.Fatalf("Offsets = %d, %d, %v", e, lt, err)
	}
	for _, tc := range []struct {
		topic     string
		partition int32
		want      error
	}{{"nope", 0, log.ErrUnknownTopic}, {"t", 1, log.ErrUnknownPartition}, {"t", -1, log.ErrUnknownPartition}} {
		if _, _, err := l.Offsets(ctx, tc.topic, tc.partition); !errors.Is(err, tc.want) {
			t.Errorf("Offsets(%s, %d) = %v, want %v", tc.topic, tc.partition, err, tc.want)
		}
		if _, err := l.OffsetForTime(ctx, tc.topic, tc.partition, base); !errors.Is(err, tc.want) {
			t.Errorf("OffsetForTime(%s, %d) = %v, want %v", tc.topic, tc.partition, err, tc.want)
		}
	}
}

func TestGroups(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	adm := adminFor(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateTopic(ctx, "u", log.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	if gs, err := l.ListGroups(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("ListGroups on a new cluster = %v, %v", gs, err)
	}
	for _, tc := range []struct {
		group, topic string
		offsets      map[int32]int64
	}{
		{"zulu", "t", map[int32]int64{0: 5, 2: 7}},
		{"alpha", "u", map[int32]int64{0: 1}},
		{"zulu", "t", map[int32]int64{2: 9}}, // a later commit replaces the partition's offset
		{"empty", "t", map[int32]int64{}},    // commits nothing
	} {
		if err := l.CommitOffsets(ctx, tc.group, tc.topic, tc.offsets); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.CommittedOffsets(ctx, "zulu", "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 5 || got[2] != 9 {
		t.Fatalf("CommittedOffsets(zulu, t) = %v, want map[0:5 2:9]", got)
	}
	for _, tc := range []struct{ group, topic string }{{"zulu", "u"}, {"never", "t"}} {
		if got, err := l.CommittedOffsets(ctx, tc.group, tc.topic); err != nil || len(got) != 0 {
			t.Errorf("CommittedOffsets(%s, %s) = %v, %v; want empty", tc.group, tc.topic, got, err)
		}
	}
	gs, err := l.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0] != "alpha" || gs[1] != "zulu" {
		t.Fatalf("ListGroups = %v, want [alpha zulu]", gs)
	}
	// They are Kafka's own committed offsets.
	fetched, err := adm.FetchOffsets(ctx, "zulu")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("t", 2); !ok || o.At != 9 {
		t.Fatalf("Kafka sees zulu's t/2 at %+v", o)
	}
	for _, tc := range []struct {
		topic   string
		offsets map[int32]int64
		want    error
	}{
		{"nope", map[int32]int64{0: 1}, log.ErrUnknownTopic},
		{"t", map[int32]int64{3: 1}, log.ErrUnknownPartition},
		{"t", map[int32]int64{-1: 1}, log.ErrUnknownPartition},
	} {
		if err := l.CommitOffsets(ctx, "g", tc.topic, tc.offsets); !errors.Is(err, tc.want) {
			t.Errorf("CommitOffsets(%s, %v) = %v, want %v", tc.topic, tc.offsets, err, tc.want)
		}
	}
	if _, err := l.CommittedOffsets(ctx, "zulu", "nope"); !errors.Is(err, log.ErrUnknownTopic) {
		t.Errorf("CommittedOffsets of a missing topic = %v", err)
	}
}

// TestClosed: every call after Close fails with ErrClosed.
func TestClosed(t *testing.T) {
	c := newCluster(t)
	l := openLog(t, c)
	ctx := testCtx(t)
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	for name, call := range map[string]func() error{
		"CreateTopic":      func() error { return l.CreateTopic(ctx, "u", log.TopicConfig{}) },
		"DeleteTopic":      func() error { return l.DeleteTopic(ctx, "t") },
		"ListTopics":       func() error { _, err := l.ListTopics(ctx); return err },
		"DescribeTopic":    func() error { _, err := l.DescribeTopic(ctx, "t"); return err },
		"Produce":          func() error { _, err := l.Produce(ctx, "t", []log.Record{{Partition: -1}}); return err },
		"Fetch":            func() error { _, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{}); return err },
		"Offsets":          func() error { _, _, err := l.Offsets(ctx, "t", 0); return err },
		"OffsetForTime":    func() error { _, err := l.OffsetForTime(ctx, "t", 0, time.Now()); return err },
		"CommitOffsets":    func() error { return l.CommitOffsets(ctx, "g", "t", map[int32]int64{0: 0}) },
		"CommittedOffsets": func() error { _, err := l.CommittedOffsets(ctx, "g", "t"); return err },
		"ListGroups":       func() error { _, err := l.ListGroups(ctx); return err },
		"Clean":            func() error { return l.Clean(ctx) },
	} {
		if err := call(); !errors.Is(err, log.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// TestCloseReleasesGoroutines: Close stops every goroutine the Log started (the producer loop, the
// cleaner, the clients of fetches, including a fetch waiting when Close came).
func TestCloseReleasesGoroutines(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	settle := func() int {
		runtime.GC()
		return runtime.NumGoroutine()
	}
	before := settle()
	l := openLog(t, c, WithCleanInterval(time.Hour), WithFetchClients(3))
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	produceN(t, l, "t", 0, 5)
	done := make(chan struct{})
	for p := range int32(3) {
		go func() {
			defer func() { done <- struct{}{} }()
			_, _ = l.Fetch(ctx, "t", p, 5*int64(1-min(p, 1)), log.FetchOptions{MaxWait: time.Minute})
		}()
	}
	if err := l.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Fetch(ctx, "t", 0, 0, log.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for range 3 {
		<-done
	}
	for n := settle(); n > before; n = settle() {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		case <-time.After(20 * time.Millisecond):
		}
	}
}
