package core

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file tests that lateness does not depend on how the input is cut into batches: a row is
// late iff its event time < W_p - AllowedLateness, W_p being the watermark of its partition from
// the rows of that partition before it (max event time - delay; none yet: never late), as long as
// no partition is excluded as idle.

// latenessInput is a random input: rows in arrival order (each partition's rows in position
// order), over nparts partitions of source "s". Row.Values are {v Int or NULL, s String, id Int,
// event id String}; a duplicate repeats an earlier row (key, event time, values, event id) under
// a new id, possibly in another partition.
type latenessInput struct {
	nparts int
	rows   []Row
}

// genLatenessInput draws rows whose event times drift upwards, most out of order within the
// delay, some beyond it, a few far late, with duplicates.
func genLatenessInput(r testRand, nparts int, delay int64, n int) latenessInput {
	in := latenessInput{nparts: nparts}
	base := int64(100)
	for len(in.rows) < n {
		p := int32(r.Intn(nparts))
		id := Int(int64(len(in.rows)))
		if len(in.rows) > 0 && r.Intn(7) == 0 {
			orig := in.rows[r.Intn(len(in.rows))]
			dup := orig
			dup.Partition = PartitionID{"s", p}
			dup.Values = slices.Clone(orig.Values)
			dup.Values[2] = id
			in.rows = append(in.rows, dup)
			continue
		}
		base += int64(r.Intn(4))
		t := base
		switch k := r.Intn(10); {
		case k < 6:
			t -= int64(r.Intn(int(delay) + 1)) // within the delay
		case k < 9:
			t -= delay + int64(r.Intn(12)) // beyond it, maybe within the lateness
		default:
			t -= 40 + int64(r.Intn(60)) // far late
		}
		v := Int(int64(r.Intn(50) - 10))
		if r.Intn(6) == 0 {
			v = Null()
		}
		in.rows = append(in.rows, Row{
			Partition: PartitionID{"s", p},
			EventTime: t,
			Key:       []byte{"abc"[r.Intn(3)]},
			Values:    []Value{v, String(fmt.Sprint("v", r.Intn(6))), id, String(fmt.Sprint("e", len(in.rows)))},
		})
	}
	return in
}

// latenessOutcome is what a run of a query left in its sinks, in a canonical form: equal
// outcomes are equal outputs.
type latenessOutcome struct {
	late    []int64  // ids of the late rows, sorted
	rows    []string // output rows without id and partition, sorted
	results []string // append: every emitted result, sorted; update: the final table, sorted
	// raw results, for the comparison with the brute force
	raw                  []Result
	lateRows, duplicates int64 // the query's totals
}

func (o latenessOutcome) String() string {
	return fmt.Sprintf("late %v (%d)\nduplicates %d\nrows:\n%s\nresults:\n%s", o.late, o.lateRows, o.duplicates,
		strings.Join(o.rows, "\n"), strings.Join(o.results, "\n"))
}

func (o latenessOutcome) equal(p latenessOutcome) bool {
	return slices.Equal(o.late, p.late) && slices.Equal(o.rows, p.rows) && slices.Equal(o.results, p.results) &&
		o.lateRows == p.lateRows && o.duplicates == p.duplicates
}

// fmtDedupRow formats an output row without the two fields that differ between duplicates: the
// row id and the partition.
func fmtDedupRow(r Row) string {
	return fmt.Sprintf("%s %q@%d: %s %s", r.Values[3], r.Key, r.EventTime, r.Values[0], r.Values[1])
}

func outcomeOf(h *harness) latenessOutcome {
	var o latenessOutcome
	for _, r := range h.late.rawRows {
		o.late = append(o.late, r.Values[2].AsInt())
	}
	slices.Sort(o.late)
	for _, r := range h.sink.rawRows {
		o.rows = append(o.rows, fmtDedupRow(r))
	}
	slices.Sort(o.rows)
	if h.sink.upsert {
		o.results = h.sink.contents()
		o.raw = slices.Collect(maps.Values(h.sink.rawTable))
	} else {
		o.results = sortedLines(h.sink.rows)
		o.raw = h.sink.rawResults
	}
	if h.cfg.Aggregate == nil {
		o.results = nil
	}
	m := h.q.Metrics()
	o.lateRows, o.duplicates = m.LateRows, m.DuplicateRows
	return o
}

// latenessReference applies the rule to the input directly: the late rows, the dedup output (one
// row per event id among the on-time rows) and the rows the aggregation sees.
func latenessReference(cfg Config, in latenessInput) (late []int64, dedupRows []string, aggRows []Row, duplicates int64) {
	maxEvent := map[PartitionID]int64{}
	var onTime []Row
	for _, r := range in.rows {
		mx, seen := maxEvent[r.Partition]
		if seen && r.EventTime < mx-cfg.Watermark.Delay-cfg.AllowedLateness {
			late = append(late, r.Values[2].AsInt())
		} else {
			onTime = append(onTime, r)
		}
		if !seen || r.EventTime > mx {
			maxEvent[r.Partition] = r.EventTime
		}
	}
	slices.Sort(late)
	aggRows = onTime
	if cfg.Dedup != nil {
		aggRows = nil
		first := map[string]bool{}
		for _, r := range onTime {
			if e := r.Values[3].AsString(); !first[e] {
				first[e] = true
				aggRows = append(aggRows, r)
				dedupRows = append(dedupRows, fmtDedupRow(r))
			}
		}
		slices.Sort(dedupRows)
		duplicates = int64(len(onTime) - len(aggRows))
	}
	return late, dedupRows, aggRows, duplicates
}

// compareResults checks results (one per window and key) against the brute force over rows.
func compareResults(cfg Config, results []Result, rows []Row) []string {
	var problems []string
	want := bruteForce(cfg.Aggregate.Window, rows)
	got := map[string][]Value{}
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
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			problems = append(problems, "unexpected result "+k+": "+fmtValues(got[k]))
		}
	}
	return problems
}

// randomLatenessConfig draws a query: dedup, an aggregation (tumbling, hopping or session
// windows, append or update mode), or both; without idle timeout.
func randomLatenessConfig(r testRand) Config {
	cfg := Config{
		AppID:           "app",
		Sources:         []string{"s"},
		Watermark:       WatermarkSpec{Delay: int64(r.Intn(15))},
		AllowedLateness: int64(r.Intn(2) * r.Intn(8)),
	}
	kind := r.Intn(3) // 0: dedup, 1: aggregation, 2: both
	if kind != 1 {
		cfg.Dedup = &DedupSpec{KeyColumns: []int{3}}
	}
	if kind != 0 {
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
		cfg.Aggregate = &AggregateSpec{Window: window, Mode: OutputMode(r.Intn(2)), Aggs: []AggSpec{
			{Func: AggCount, Column: -1}, {Func: AggCount, Column: 0}, {Func: AggSum, Column: 0},
			{Func: AggMin, Column: 0}, {Func: AggMax, Column: 0}, {Func: AggAvg, Column: 0},
			{Func: AggCountDistinct, Column: 1}, {Func: AggApproxCountDistinct, Column: 1},
			{Func: AggMax, Column: 1},
		}}
	}
	return cfg
}

func describeLatenessConfig(cfg Config) string {
	s := fmt.Sprintf("delay %d lateness %d", cfg.Watermark.Delay, cfg.AllowedLateness)
	if cfg.Dedup != nil {
		s += " dedup"
	}
	if a := cfg.Aggregate; a != nil {
		s += fmt.Sprintf(" %s window %+v", a.Mode, a.Window)
	}
	return s
}

// runOneBatch runs the query as a batch run: everything available at once, one available-now
// run with a final flush.
func runOneBatch(cfg Config, in latenessInput, maxRecords int64) (*harness, error) {
	cfg.Trigger, cfg.FlushAtEnd, cfg.Limits = Trigger{Kind: TriggerAvailableNow}, true, Limits{MaxRecords: maxRecords}
	h, err := newHarness(cfg, false)
	if err != nil {
		return nil, err
	}
	for p := range in.nparts {
		h.partition(PartitionID{"s", int32(p)})
	}
	for _, r := range in.rows {
		produceRow(h, r)
	}
	h.now = time.Unix(1, 0)
	if err := h.drive(""); err != nil {
		return h, err
	}
	if !h.q.Done() {
		return h, fmt.Errorf("available-now run not done:\n%s", h.out.String())
	}
	return h, nil
}

func produceRow(h *harness, r Row) {
	p := h.partition(r.Partition)
	p.positions = append(p.positions, []logRecord{{key: string(r.Key), t: r.EventTime, vals: r.Values}})
}

// runStream runs the query as a stream: the rows arrive in random chunks while the driver runs
// batches on a random trigger with random limits, crashes at random points of the driver loop and
// restarts at random (or after every batch); it ends with an available-now run with flush over
// the same checkpoint (the end of a batch run, which closes every window).
func runStream(r testRand, cfg Config, in latenessInput) (*harness, error) {
	switch r.Intn(3) {
	case 0:
		cfg.Trigger = Trigger{Kind: TriggerLowLatency, MaxDelay: time.Duration(r.Intn(3)) * time.Second}
	case 1:
		cfg.Trigger = Trigger{Kind: TriggerInterval, Interval: time.Duration(1+r.Intn(10)) * time.Second}
	default:
		cfg.Trigger = Trigger{Kind: TriggerInterval}
	}
	cfg.Limits = Limits{MaxRecords: int64(r.Intn(2) * (1 + r.Intn(8)))}
	h, err := newHarness(cfg, r.Intn(3) == 0)
	if err != nil {
		return nil, err
	}
	for p := range in.nparts {
		h.partition(PartitionID{"s", int32(p)})
	}
	rest := in.rows
	for len(rest) > 0 {
		n := min(len(rest), r.Intn(15))
		for _, row := range rest[:n] {
			produceRow(h, row)
		}
		rest = rest[n:]
		h.now = h.now.Add(time.Duration(1+r.Intn(12)) * time.Second)
		crash := []string{"", "", "", "write-ahead", "sink", "persist"}[r.Intn(6)]
		if err := h.drive(crash); err != nil {
			return h, err
		}
		if r.Intn(5) == 0 {
			if err := h.restart(); err != nil {
				return h, err
			}
		}
	}
	h.cfg.Trigger, h.cfg.FlushAtEnd = Trigger{Kind: TriggerAvailableNow}, true
	h.cfg.Limits = Limits{MaxRecords: int64(r.Intn(2) * (1 + r.Intn(8)))}
	if err := h.restart(); err != nil {
		return h, err
	}
	h.now = h.now.Add(time.Second)
	if err := h.drive(""); err != nil {
		return h, err
	}
	if !h.q.Done() {
		return h, fmt.Errorf("final available-now run not done:\n%s", h.out.String())
	}
	return h, nil
}

// TestLatenessIndependentOfBatching is the property test of per-partition lateness: random rows
// over several partitions (in order, out of order within the delay, beyond it, far late,
// duplicated), a random query (dedup, tumbling, hopping or session windows in append or update
// mode, or dedup then aggregation), run as one batch, as available-now runs of small batches, and
// as streams with random arrival, batch limits, crashes and restarts. Every run must leave the
// same late rows, the same output rows or results and the same late and duplicate counts, equal
// to a reference computed directly from the rule: the late rows are those below their partition's
// earlier maximum minus delay and lateness, the dedup output is one row per event id among the
// others, the results are the brute-force aggregation of the rows dedup let through.
func TestLatenessIndependentOfBatching(t *testing.T) {
	base := *randomSeed
	if base == 0 {
		base = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -stream-seed=%d)", base, base)
	for i := range int64(80) {
		seed := base + i
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if err := runLatenessProperty(seed); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		})
	}
}

func runLatenessProperty(seed int64) error {
	r := newRand(seed)
	cfg := randomLatenessConfig(r)
	in := genLatenessInput(r, 1+r.Intn(4), cfg.Watermark.Delay, 20+r.Intn(80))
	describe := fmt.Sprintf("%s, %d partitions, %d rows", describeLatenessConfig(cfg), in.nparts, len(in.rows))

	// The reference.
	late, dedupRows, aggRows, duplicates := latenessReference(cfg, in)
	var problems []string
	check := func(run string, h *harness) latenessOutcome {
		o := outcomeOf(h)
		fail := func(format string, args ...any) {
			problems = append(problems, run+": "+fmt.Sprintf(format, args...))
		}
		if !slices.Equal(o.late, late) {
			fail("late rows %v, the rule says %v", o.late, late)
		}
		if o.lateRows != int64(len(late)) {
			fail("%d late rows counted, %d late", o.lateRows, len(late))
		}
		if cfg.Dedup != nil {
			if o.duplicates != duplicates {
				fail("%d duplicates, want %d", o.duplicates, duplicates)
			}
			if cfg.Aggregate == nil && !slices.Equal(o.rows, dedupRows) {
				fail("dedup output:\n%s\nwant:\n%s", strings.Join(o.rows, "\n"), strings.Join(dedupRows, "\n"))
			}
		}
		if cfg.Aggregate != nil {
			for _, p := range compareResults(cfg, o.raw, aggRows) {
				fail("%s", p)
			}
		}
		if st := h.q.Metrics().State; st.Entries != 0 || st.Bytes != 0 {
			fail("state left after the flush: %+v", st)
		}
		return o
	}

	h, err := runOneBatch(cfg, in, 0)
	if err != nil {
		return fmt.Errorf("%s: one batch: %w", describe, err)
	}
	if b := h.q.Metrics().Batches; b != 2 {
		return fmt.Errorf("%s: the batch run took %d batches, want 1 and a flush", describe, b)
	}
	first := check("one batch", h)
	runs := []string{"one batch"}
	logs := []string{h.out.String()}
	outcomes := []latenessOutcome{first}
	for _, maxRecords := range []int64{1, int64(2 + r.Intn(9))} {
		name := fmt.Sprintf("available-now max-records=%d", maxRecords)
		h, err := runOneBatch(cfg, in, maxRecords)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", describe, name, err)
		}
		runs, logs, outcomes = append(runs, name), append(logs, h.out.String()), append(outcomes, check(name, h))
	}
	for i := range 4 {
		name := fmt.Sprintf("stream %d", i)
		h, err := runStream(r, cfg, in)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", describe, name, err)
		}
		name += fmt.Sprintf(" (%d batches, %d restarts)", h.q.Metrics().Batches, h.restarts)
		runs, logs, outcomes = append(runs, name), append(logs, h.out.String()), append(outcomes, check(name, h))
	}
	for i, o := range outcomes[1:] {
		if !o.equal(first) {
			problems = append(problems, fmt.Sprintf("%s differs from the batch run:\n%s\nbatch run:\n%s\ndriver log:\n%s",
				runs[i+1], o, first, logs[i+1]))
		}
	}
	if len(problems) > 0 {
		if len(problems) > 8 {
			problems = problems[:8]
		}
		return fmt.Errorf("%s:\n%s", describe, strings.Join(problems, "\n"))
	}
	return nil
}

// TestLatenessInvariant checks, on random inputs that include what makes lateness depend on
// timing (idle partitions, a partition added while the query runs), the invariant that keeps the
// operators sound: a row on time is never below the cutoff of state already closed or expired
// (the query watermark at its batch's start minus the allowed lateness), so a closed window is
// never reopened and an expired dedup key's duplicate (same event time) is never emitted twice.
// It also checks that each row's lateness is exactly max(W_p, query watermark at the batch's
// start) - lateness, with W_p recomputed from the rows as read.
func TestLatenessInvariant(t *testing.T) {
	base := *randomSeed
	if base == 0 {
		base = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -stream-seed=%d)", base, base)
	for i := range int64(80) {
		seed := base + i
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if err := runLatenessInvariant(seed); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		})
	}
}

func runLatenessInvariant(seed int64) error {
	r := newRand(seed)
	cfg := randomLatenessConfig(r)
	cfg.Watermark.IdleTimeout = time.Duration(r.Intn(2)*(5+r.Intn(20))) * time.Second
	cfg.Trigger = Trigger{Kind: TriggerLowLatency, MaxDelay: time.Duration(r.Intn(3)) * time.Second}
	cfg.Limits = Limits{MaxRecords: int64(r.Intn(2) * (1 + r.Intn(8)))}
	nparts := 2 + r.Intn(3)
	in := genLatenessInput(r, nparts, cfg.Watermark.Delay, 40+r.Intn(80))
	joins := 2 + r.Intn(6) // the last partition exists from this tick on
	describe := fmt.Sprintf("%s, idle %s, %d partitions (the last from tick %d), %d rows",
		describeLatenessConfig(cfg), cfg.Watermark.IdleTimeout, nparts, joins, len(in.rows))
	h, err := newHarness(cfg, r.Intn(3) == 0)
	if err != nil {
		return err
	}
	for p := range nparts - 1 {
		h.partition(PartitionID{"s", int32(p)})
	}

	var problems []string
	wmAfter := map[int64]int64{}    // batch id -> query watermark after it
	lateBefore := map[int64]int64{} // row id -> its cutoff, from the rule
	readIn := map[int64]int64{}     // row id -> the batch that read it
	rowByID := map[int64]Row{}
	maxEvent := map[PartitionID]int64{}
	emittedKeys := map[string]bool{}
	emittedWindows := map[string]bool{}
	committed := map[int64]bool{}
	h.onRead = func(b *Batch, rows []Row) {
		wm := NoWatermark
		if b.ID > 0 {
			wm = wmAfter[b.ID-1]
		}
		for _, row := range rows {
			id := row.Values[2].AsInt()
			if _, again := readIn[id]; again {
				continue // a replay: same rows, same maxima
			}
			readIn[id], rowByID[id] = b.ID, row
			wp := NoWatermark
			if mx, ok := maxEvent[row.Partition]; ok {
				wp = mx - cfg.Watermark.Delay
			}
			lateBefore[id] = satSub(max(wp, wm), cfg.AllowedLateness)
			if mx, ok := maxEvent[row.Partition]; !ok || row.EventTime > mx {
				maxEvent[row.Partition] = row.EventTime
			}
		}
	}
	h.onCommit = func(rd Ready) {
		id := rd.Commit.BatchID
		prev := NoWatermark
		if id > 0 {
			prev = wmAfter[id-1]
		}
		wmAfter[id] = rd.Metrics.Watermark
		closed := satSub(prev, cfg.AllowedLateness) // state below it was closed or expired before this batch
		late := map[int64]bool{}
		for _, row := range rd.Late {
			late[row.Values[2].AsInt()] = true
		}
		for rid, b := range readIn {
			if b != id {
				continue
			}
			row := rowByID[rid]
			if late[rid] != (row.EventTime < lateBefore[rid]) {
				problems = append(problems, fmt.Sprintf("batch %d: row %d at %d (cutoff %d): late=%v", id, rid, row.EventTime, lateBefore[rid], late[rid]))
			}
			if !late[rid] && row.EventTime < closed {
				problems = append(problems, fmt.Sprintf("batch %d: row %d at %d is on time below the closed cutoff %d", id, rid, row.EventTime, closed))
			}
		}
		if committed[id] {
			return // a replayed batch, whose commit the sink skips
		}
		committed[id] = true
		for _, row := range rd.Rows {
			k := row.Values[3].AsString()
			if emittedKeys[k] {
				problems = append(problems, fmt.Sprintf("batch %d: event %s emitted twice", id, k))
			}
			emittedKeys[k] = true
		}
		if cfg.Aggregate != nil && cfg.Aggregate.Mode == OutputAppend {
			for _, res := range rd.Results {
				k := fmt.Sprintf("%s %q", res.Window, res.Key)
				if emittedWindows[k] {
					problems = append(problems, fmt.Sprintf("batch %d: window %s emitted twice", id, k))
				}
				emittedWindows[k] = true
			}
		}
	}

	rest := in.rows
	for tick := 1; len(rest) > 0; tick++ {
		if tick == joins {
			h.partition(PartitionID{"s", int32(nparts - 1)})
		}
		n := min(len(rest), r.Intn(15))
		var held []Row
		for _, row := range rest[:n] {
			switch {
			case tick < joins && row.Partition.Partition == int32(nparts-1):
				held = append(held, row) // the partition does not exist yet: its rows come later
			case nparts > 2 && row.Partition.Partition == 0 && tick%8 >= 4:
				held = append(held, row) // partition 0 falls silent for a while
			default:
				produceRow(h, row)
			}
		}
		rest = append(held, rest[n:]...)
		h.now = h.now.Add(time.Duration(1+r.Intn(12)) * time.Second)
		crash := []string{"", "", "", "write-ahead", "sink", "persist"}[r.Intn(6)]
		if err := h.drive(crash); err != nil {
			return fmt.Errorf("%s: tick %d: %w", describe, tick, err)
		}
		if tick > 200 {
			return fmt.Errorf("%s: rows never produced", describe)
		}
	}
	h.cfg.Trigger, h.cfg.FlushAtEnd = Trigger{Kind: TriggerAvailableNow}, true
	if err := h.restart(); err != nil {
		return err
	}
	h.now = h.now.Add(time.Second)
	if err := h.drive(""); err != nil {
		return fmt.Errorf("%s: final run: %w", describe, err)
	}
	if len(readIn) != len(in.rows) {
		problems = append(problems, fmt.Sprintf("%d rows read of %d", len(readIn), len(in.rows)))
	}
	// The aggregation holds exactly the on-time rows (those dedup let through).
	if cfg.Aggregate != nil {
		late := map[int64]bool{}
		for _, row := range h.late.rawRows {
			late[row.Values[2].AsInt()] = true
		}
		var rows []Row
		seen := map[string]bool{}
		for id := range int64(len(in.rows)) {
			row := rowByID[id]
			if late[id] || (cfg.Dedup != nil && seen[row.Values[3].AsString()]) {
				continue
			}
			seen[row.Values[3].AsString()] = true
			rows = append(rows, row)
		}
		o := outcomeOf(h)
		problems = append(problems, compareResults(cfg, o.raw, rows)...)
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = problems[:10]
		}
		return fmt.Errorf("%s:\n%s\ndriver log:\n%s", describe, strings.Join(problems, "\n"), h.out.String())
	}
	return nil
}
