package core

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func globalConfig(trigger Trigger, flush bool) Config {
	return Config{
		AppID:     "app",
		Sources:   []string{"s"},
		Trigger:   trigger,
		Watermark: WatermarkSpec{Delay: 5, IdleTimeout: 10 * time.Second},
		Aggregate: &AggregateSpec{Window: Global(), Mode: OutputUpdate, Aggs: []AggSpec{
			{Func: AggCount, Column: -1}, {Func: AggSum, Column: 0}, {Func: AggMin, Column: 0}, {Func: AggCountDistinct, Column: 1},
		}},
		FlushAtEnd: flush,
	}
}

func TestGlobalWindowConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		ok   bool
	}{
		{"update", func(*Config) {}, true},
		{"append", func(c *Config) { c.Aggregate.Mode = OutputAppend }, false},
		{"size", func(c *Config) { c.Aggregate.Window.Size = 10 }, false},
		{"gap", func(c *Config) { c.Aggregate.Window.Gap = 10 }, false},
		{"with dedup", func(c *Config) { c.Dedup = &DedupSpec{KeyColumns: []int{1}} }, true},
	} {
		cfg := globalConfig(Trigger{Kind: TriggerLowLatency}, false)
		tc.mut(&cfg)
		_, err := NewQuery(cfg)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if got := Global().Assign(-1 << 62); len(got) != 1 || got[0] != GlobalWindow || got[0].String() != "global" {
		t.Errorf("Assign: %v", got)
	}
}

// TestGlobalAggregation drives a global aggregation through the test driver, straight and
// restoring after every batch: each batch emits exactly the groups it changed, a row far behind
// the watermark is not late, an idle timeout plans no batches of its own, and a final flush
// neither emits nor evicts anything.
func TestGlobalAggregation(t *testing.T) {
	for _, restoring := range []bool{false, true} {
		t.Run(fmt.Sprintf("restoring=%t", restoring), func(t *testing.T) {
			h, err := newHarness(globalConfig(Trigger{Kind: TriggerLowLatency}, false), restoring)
			if err != nil {
				t.Fatal(err)
			}
			var emitted [][]string
			var metrics []BatchMetrics
			h.onCommit = func(rd Ready) {
				var rs []string
				for _, r := range rd.Results {
					rs = append(rs, fmtResult(r))
				}
				emitted = append(emitted, rs)
				metrics = append(metrics, *rd.Metrics)
			}
			step := func(at int, input string) {
				t.Helper()
				if input != "" {
					if err := h.produce(input); err != nil {
						t.Fatal(err)
					}
				}
				h.now = time.Unix(int64(at), 0)
				if err := h.drive(""); err != nil {
					t.Fatal(err)
				}
			}
			step(1, "s/0 a 100 1 \"x\"\ns/0 b 200 2 \"x\"\ns/0 a 300 3 \"y\"")
			step(2, "s/0 a 1 5 \"y\"") // far behind the watermark (295): still counted
			step(3, "s/0 c 400 7 \"z\"")
			step(60, "") // the partition is idle by now: no batch for the watermark
			want := [][]string{
				{`global "a": 2 4 1 2`, `global "b": 1 2 2 1`},
				{`global "a": 3 9 1 2`},
				{`global "c": 1 7 7 1`},
			}
			if !slices.EqualFunc(emitted, want, slices.Equal) {
				t.Errorf("emitted %q, want %q", emitted, want)
			}
			for _, m := range metrics {
				if m.LateRows != 0 || m.OutputRows != int64(len(emitted[m.BatchID])) {
					t.Errorf("batch %d metrics %+v", m.BatchID, m)
				}
			}
			if _, ok := h.q.WakeAt(); ok {
				t.Errorf("a global aggregation wants to wake up for the watermark")
			}
			wantTable := []string{`global "a": 3 9 1 2`, `global "b": 1 2 2 1`, `global "c": 1 7 7 1`}
			if got := h.sink.contents(); !slices.Equal(got, wantTable) {
				t.Errorf("table %q, want %q", got, wantTable)
			}
			if st := h.q.Metrics().State; st.Entries != 3 {
				t.Errorf("state %+v", st)
			}
		})
	}

	// Available-now with a final flush: the flush batch emits nothing and keeps the state.
	h, err := newHarness(globalConfig(Trigger{Kind: TriggerAvailableNow}, true), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.produce("s/0 a 100 1 \"x\"\ns/0 b 200 2 \"x\""); err != nil {
		t.Fatal(err)
	}
	var flushed *BatchMetrics
	h.onRead = func(b *Batch, _ []Row) {}
	h.onCommit = func(rd Ready) {
		if rd.Metrics.Watermark == MaxWatermark {
			flushed = rd.Metrics
		}
	}
	if err := h.drive(""); err != nil {
		t.Fatal(err)
	}
	if flushed == nil || flushed.OutputRows != 0 || flushed.State.Entries != 2 {
		t.Errorf("flush batch %+v\n%s", flushed, h.out.String())
	}
}

// TestGlobalAggregationRandom checks the global aggregation against a plain GROUP BY of all rows:
// random rows (event times anywhere, some far behind the watermark) over three partitions, read
// in random batch sizes, with crashes at random steps of the driver contract. The sink, which
// upserts each batch's results by key, must end up equal to the reference whatever the split,
// and the query never reports a late row.
func TestGlobalAggregationRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	for iter := range 20 {
		cfg := globalConfig(Trigger{Kind: TriggerLowLatency}, false)
		cfg.Limits.MaxRecords = 1 + rng.Int64N(20)
		h, err := newHarness(cfg, iter%2 == 1)
		if err != nil {
			t.Fatal(err)
		}
		type ref struct{ n, sum, min int64 }
		want := map[string]*ref{}
		distinct := map[string]map[string]bool{}
		var late int64
		h.onCommit = func(rd Ready) { late += rd.Metrics.LateRows }
		for step := range 10 {
			var lines []string
			for range rng.IntN(30) {
				key := fmt.Sprintf("k%d", rng.IntN(8))
				v, s := rng.Int64N(100)-50, fmt.Sprintf("s%d", rng.IntN(5))
				ts := int64(step*100) + rng.Int64N(1000) - 500
				lines = append(lines, fmt.Sprintf("s/%d %s %d %d %q", rng.IntN(3), key, ts, v, s))
				r := want[key]
				if r == nil {
					r = &ref{min: v}
					want[key] = r
					distinct[key] = map[string]bool{}
				}
				r.n, r.sum, r.min = r.n+1, r.sum+v, min(r.min, v)
				distinct[key][s] = true
			}
			if len(lines) > 0 {
				if err := h.produce(strings.Join(lines, "\n")); err != nil {
					t.Fatal(err)
				}
			}
			h.now = time.Unix(int64(step+1), 0)
			crash := []string{"", "", "write-ahead", "sink", "persist"}[rng.IntN(5)]
			if err := h.drive(crash); err != nil {
				t.Fatalf("seed %d iteration %d step %d: %v", seed, iter, step, err)
			}
		}
		var wantTable []string
		for _, k := range slices.Sorted(maps.Keys(want)) {
			r := want[k]
			wantTable = append(wantTable, fmt.Sprintf("global %q: %d %d %d %d", k, r.n, r.sum, r.min, len(distinct[k])))
		}
		if got := h.sink.contents(); !slices.Equal(got, wantTable) {
			t.Fatalf("seed %d iteration %d: table\n%s\nwant\n%s", seed, iter, strings.Join(got, "\n"), strings.Join(wantTable, "\n"))
		}
		if late != 0 {
			t.Errorf("seed %d iteration %d: %d late rows", seed, iter, late)
		}
	}
}

// TestGlobalAggregationAfterDedup: with dedup in front, the dedup still judges lateness by the
// watermark (a late repeat goes to the late output), while the aggregation takes every row the
// dedup lets through, whatever its event time.
func TestGlobalAggregationAfterDedup(t *testing.T) {
	cfg := globalConfig(Trigger{Kind: TriggerLowLatency}, false)
	cfg.Dedup = &DedupSpec{KeyColumns: []int{1}}
	h, err := newHarness(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, input := range []string{
		"s/0 a 100 1 \"e1\"\ns/0 a 100 1 \"e1\"\ns/0 b 200 2 \"e2\"",
		"s/0 a 10 4 \"e1\"\ns/0 a 198 8 \"e3\"",
	} {
		if err := h.produce(input); err != nil {
			t.Fatal(err)
		}
		h.now = time.Unix(int64(i+1), 0)
		if err := h.drive(""); err != nil {
			t.Fatal(err)
		}
	}
	// Batch 0: the repeat of e1 is a duplicate. Batch 1 (watermark 195): the event at 10 is late
	// for the dedup (routed to the late output, not aggregated); e3 at 198 is on time.
	want := []string{`global "a": 2 9 1 2`, `global "b": 1 2 2 1`}
	if got := h.sink.contents(); !slices.Equal(got, want) {
		t.Errorf("table %q, want %q\n%s", got, want, h.out.String())
	}
	if got := h.late.contents(); len(got) != 1 || !strings.Contains(got[0], `"a"@10`) {
		t.Errorf("late %q", got)
	}
}
