package core

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// testRand is a seeded source for the randomized tests; the seed is printed.
type testRand struct{ *rand.Rand }

func newRand(seed int64) testRand {
	return testRand{rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))}
}

func (r testRand) Intn(n int) int { return r.IntN(n) }

var debugRandom = flag.Bool("stream-debug", false, "print a summary of each TestRandomAggregation run")

var randomSeed = flag.Int64("stream-seed", 0, "seed of TestRandomAggregation (0: pick one and print it)")

// TestRandomAggregation runs random streaming aggregations (random windows, delays, lateness,
// partitions, idle timeouts, batch limits, output modes, arrival orders, crashes at random points
// of the driver loop, restarts after every batch or not), ends each with an available-now run
// with flush over the same checkpoint, and checks the output against a brute-force
// recomputation over every row that was not reported late:
//
//   - the sink holds exactly one result per (window, key) of the brute force, with equal values;
//   - every row is either in the late output (exactly once) or in the aggregation;
//   - a row is late iff its event time is below max(its partition's watermark from the rows of
//     the partition read before it, the watermark its batch starts with) - the allowed lateness
//     (the partition watermark is recomputed here from the rows as read);
//   - the watermark never decreases; append mode emits a window only once it is closed;
//   - no state is left after the flush.
func TestRandomAggregation(t *testing.T) {
	base := *randomSeed
	if base == 0 {
		base = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -stream-seed=%d)", base, base)
	for i := range int64(60) {
		seed := base + i
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if err := runRandomAggregation(seed); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		})
	}
}

func runRandomAggregation(seed int64) error {
	r := newRand(seed)
	var window WindowSpec
	switch r.Intn(3) {
	case 0:
		window = Tumbling(int64(5 + r.Intn(20)))
	case 1:
		size := int64(5 + r.Intn(20))
		window = Hopping(size, 1+int64(r.Intn(int(size))))
	default:
		window = Session(int64(2 + r.Intn(10)))
	}
	mode := OutputMode(r.Intn(2))
	nparts := 1 + r.Intn(3)
	cfg := Config{
		AppID:   "app",
		Sources: []string{"s"},
		Trigger: Trigger{Kind: TriggerLowLatency, MaxDelay: time.Duration(r.Intn(3)) * time.Second},
		Limits:  Limits{MaxRecords: int64(r.Intn(3) * (1 + r.Intn(10)))},
		Watermark: WatermarkSpec{
			Delay:       int64(r.Intn(15)),
			IdleTimeout: time.Duration(r.Intn(2)*(10+r.Intn(20))) * time.Second,
		},
		AllowedLateness: int64(r.Intn(3) * r.Intn(8)),
		Aggregate: &AggregateSpec{Window: window, Mode: mode, Aggs: []AggSpec{
			{Func: AggCount, Column: -1}, {Func: AggCount, Column: 0}, {Func: AggSum, Column: 0},
			{Func: AggMin, Column: 0}, {Func: AggMax, Column: 0}, {Func: AggAvg, Column: 0},
			{Func: AggCountDistinct, Column: 1}, {Func: AggApproxCountDistinct, Column: 1},
			{Func: AggMax, Column: 1},
		}},
	}
	h, err := newHarness(cfg, r.Intn(2) == 0)
	if err != nil {
		return err
	}
	for p := range nparts {
		h.partition(PartitionID{"s", int32(p)})
	}
	describe := fmt.Sprintf("window %+v mode %s partitions %d config %+v", window, mode, nparts, cfg)

	// Observations made through the driver hooks.
	wmBefore := map[int64]int64{} // batch id -> watermark at its start
	wmAfter := map[int64]int64{}  // batch id -> watermark after it
	batchOf := map[int64]int64{}  // row id -> batch id that read it
	partWM := map[int64]int64{}   // row id -> its partition's watermark before it
	maxEvent := map[PartitionID]int64{}
	var problems []string
	h.onRead = func(b *Batch, rows []Row) {
		for _, row := range rows {
			id := row.Values[2].AsInt()
			if _, again := batchOf[id]; again {
				continue // a replay reads the same rows again: they changed no maximum
			}
			batchOf[id] = b.ID
			partWM[id] = NoWatermark
			if mx, ok := maxEvent[row.Partition]; ok {
				partWM[id] = mx - cfg.Watermark.Delay
			}
			if mx, ok := maxEvent[row.Partition]; !ok || row.EventTime > mx {
				maxEvent[row.Partition] = row.EventTime
			}
		}
	}
	h.onCommit = func(rd Ready) {
		id, m := rd.Commit.BatchID, rd.Metrics
		prev := NoWatermark
		if id > 0 {
			prev = wmAfter[id-1]
		}
		if m.Watermark < prev {
			problems = append(problems, fmt.Sprintf("batch %d: watermark %d < %d", id, m.Watermark, prev))
		}
		wmAfter[id] = m.Watermark
		wmBefore[id] = prev
		if mode == OutputAppend {
			for _, res := range rd.Results {
				if res.Window.End > satSub(m.Watermark, cfg.AllowedLateness) {
					problems = append(problems, fmt.Sprintf("batch %d: emitted open window %s (watermark %d)", id, res.Window, m.Watermark))
				}
			}
		}
	}

	// Produce rows over simulated time: event times drift upwards with disorder, partitions
	// sometimes fall silent, the driver sometimes crashes.
	var all []Row
	base := int64(100)
	for tick := 1; tick <= 12; tick++ {
		for range r.Intn(12) {
			p := int32(r.Intn(nparts))
			if nparts > 1 && p == 0 && tick > 4 && tick < 9 {
				continue // partition 0 falls silent for a while
			}
			base += int64(r.Intn(4))
			row := Row{
				Partition: PartitionID{"s", p},
				EventTime: base - int64(r.Intn(25)),
				Key:       []byte{"abc"[r.Intn(3)]},
				Values:    []Value{Int(int64(r.Intn(50) - 10)), String(fmt.Sprint("v", r.Intn(6))), Int(int64(len(all)))},
			}
			if r.Intn(6) == 0 {
				row.Values[0] = Null()
			}
			all = append(all, row)
			fp := h.partition(row.Partition)
			fp.positions = append(fp.positions, []logRecord{{key: string(row.Key), t: row.EventTime, vals: row.Values}})
		}
		h.now = h.now.Add(time.Duration(1+r.Intn(15)) * time.Second)
		crash := []string{"", "", "", "write-ahead", "sink", "persist"}[r.Intn(6)]
		if err := h.drive(crash); err != nil {
			return fmt.Errorf("%s: tick %d: %w", describe, tick, err)
		}
	}
	// Batch mode over the same checkpoint: everything left, then a flush.
	h.cfg.Trigger, h.cfg.FlushAtEnd = Trigger{Kind: TriggerAvailableNow}, true
	if err := h.restart(); err != nil {
		return err
	}
	h.now = h.now.Add(time.Second)
	if err := h.drive(""); err != nil {
		return fmt.Errorf("%s: final run: %w", describe, err)
	}
	if !h.q.Done() {
		return fmt.Errorf("%s: final run not done:\n%s", describe, h.out.String())
	}
	if st := h.q.Metrics().State; st.Entries != 0 || st.Bytes != 0 {
		return fmt.Errorf("%s: state left after flush: %+v", describe, st)
	}
	for k := range h.store {
		if k[0] == sectionAggregate {
			return fmt.Errorf("%s: aggregate key %q persisted after flush", describe, k)
		}
	}

	// Every row is late exactly once or on time; lateness agrees with the batch cutoffs.
	late := map[int64]bool{}
	for _, row := range h.late.rawRows {
		id := row.Values[2].AsInt()
		if late[id] {
			problems = append(problems, fmt.Sprintf("row %d late twice", id))
		}
		late[id] = true
	}
	var onTime []Row
	for _, row := range all {
		id := row.Values[2].AsInt()
		b, ok := batchOf[id]
		if !ok {
			problems = append(problems, fmt.Sprintf("row %d never read", id))
			continue
		}
		cut := satSub(max(partWM[id], wmBefore[b]), cfg.AllowedLateness)
		if late[id] != (row.EventTime < cut) {
			problems = append(problems, fmt.Sprintf("row %d at %d in batch %d (cutoff %d): late=%v", id, row.EventTime, b, cut, late[id]))
		}
		if !late[id] {
			onTime = append(onTime, row)
		}
	}

	// The sink against the brute force.
	want := bruteForce(window, onTime)
	got := map[string][]Value{}
	var results []Result
	if mode == OutputUpdate {
		results = slices.Collect(maps.Values(h.sink.rawTable))
	} else {
		results = h.sink.rawResults
	}
	for _, res := range results {
		k := fmt.Sprintf("%s %q", res.Window, res.Key)
		if _, dup := got[k]; dup {
			problems = append(problems, "result emitted twice: "+k)
		}
		got[k] = res.Values
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		if !ok {
			problems = append(problems, "missing result "+k+": "+fmtValues(want[k]))
			continue
		}
		for i, v := range want[k] {
			if cfg.Aggregate.Aggs[i].Func == AggApproxCountDistinct {
				if d := g[i].AsInt() - v.AsInt(); d < -1 || d > 1 {
					problems = append(problems, fmt.Sprintf("%s: approx distinct %s, exact %s", k, g[i], v))
				}
				continue
			}
			if !sameValue(g[i], v) {
				problems = append(problems, fmt.Sprintf("%s: got %s, want %s", k, fmtValues(g), fmtValues(want[k])))
				break
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			problems = append(problems, "unexpected result "+k+": "+fmtValues(got[k]))
		}
	}
	if *debugRandom {
		fmt.Printf("seed %d: %s rows=%d late=%d results=%d restarts=%d skipped=%d batches=%d\n", seed, window.Kind, len(all), len(late), len(results), h.restarts, h.skippedCommits, h.q.Metrics().Batches)
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = problems[:10]
		}
		return fmt.Errorf("%s:\n%s\ndriver log:\n%s", describe, strings.Join(problems, "\n"), h.out.String())
	}
	return nil
}

// bruteForce computes the aggregation of runRandomAggregation directly from its definition: the
// windows of every row (sessions by sorting each key's events), then the aggregates of each
// (window, key) over all its rows.
func bruteForce(w WindowSpec, rows []Row) map[string][]Value {
	groups := map[string][]Row{}
	add := func(win Window, row Row) {
		k := fmt.Sprintf("%s %q", win, row.Key)
		groups[k] = append(groups[k], row)
	}
	switch w.Kind {
	case WindowTumbling, WindowHopping:
		slide := w.Slide
		if w.Kind == WindowTumbling {
			slide = w.Size
		}
		for _, row := range rows {
			// Every window start k*slide with start <= t < start+size.
			for k := (row.EventTime-w.Size)/slide - 2; k*slide <= row.EventTime; k++ {
				if win := (Window{k * slide, k*slide + w.Size}); win.Contains(row.EventTime) {
					add(win, row)
				}
			}
		}
	case WindowSession:
		byKey := map[string][]Row{}
		for _, row := range rows {
			byKey[string(row.Key)] = append(byKey[string(row.Key)], row)
		}
		for _, rs := range byKey {
			sort.SliceStable(rs, func(i, j int) bool { return rs[i].EventTime < rs[j].EventTime })
			start := 0
			for i := 1; i <= len(rs); i++ {
				if i == len(rs) || rs[i].EventTime-rs[i-1].EventTime >= w.Gap {
					win := Window{rs[start].EventTime, rs[i-1].EventTime + w.Gap}
					for _, row := range rs[start:i] {
						add(win, row)
					}
					start = i
				}
			}
		}
	}
	out := map[string][]Value{}
	for k, rs := range groups {
		var n, nonNull, sum int64
		var mn, mx, mxs Value
		distinct := map[string]bool{}
		for _, row := range rs {
			n++
			if v := row.Values[0]; !v.IsNull() {
				nonNull++
				sum += v.AsInt()
				if mn.IsNull() || v.AsInt() < mn.AsInt() {
					mn = v
				}
				if mx.IsNull() || v.AsInt() > mx.AsInt() {
					mx = v
				}
			}
			s := row.Values[1]
			distinct[s.AsString()] = true
			if mxs.IsNull() || s.AsString() > mxs.AsString() {
				mxs = s
			}
		}
		sumV, avgV := Null(), Null()
		if nonNull > 0 {
			sumV, avgV = Int(sum), Float(float64(sum)/float64(nonNull))
		}
		out[k] = []Value{Int(n), Int(nonNull), sumV, mn, mx, avgV, Int(int64(len(distinct))), Int(int64(len(distinct))), mxs}
	}
	return out
}
