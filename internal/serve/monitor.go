package serve

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalake/strata/internal/pipeline"
)

// rateWindow is the sliding window of the pipelines' rates.
const rateWindow = 60 * time.Second

// Commit is one table version a pipeline committed, as Monitor.Subscribe delivers it.
type Commit struct {
	// Table is the table written (domain.table); Flow the pipeline node that wrote it (the table
	// itself, or an AUTO CDC flow).
	Table string `json:"table"`
	Flow  string `json:"flow"`
	// Version is the committed Delta version.
	Version int64 `json:"version"`
	// Time is when the commit happened.
	Time time.Time `json:"time"`
}

// Monitor is the live view of a pipeline's activity, fed by its events (Observe): per flow the
// run status, totals since the monitor started, rates over the last minute, the last batch's
// duration and latency, expectation results; per table the last committed version and its data
// time (how recent the newest data it holds is). It also fans commits out to subscribers
// (server-sent events). Safe for concurrent use; Observe may be called from many goroutines.
type Monitor struct {
	clock   func() time.Time
	started time.Time
	// inputs maps each stored table to the stored tables it reads, looking through temporary
	// views and AUTO CDC flows; immutable after NewMonitor.
	inputs map[string][]string
	// durations is strata_pipeline_batch_duration_seconds; the server registers it.
	durations *prometheus.HistogramVec

	mu     sync.Mutex // guards flows, tables, subs and commits
	flows  map[string]*flowState
	tables map[string]*tableState
	subs   map[*subscriber]struct{}
	// commits counts the commits observed (a change counter for caches).
	commits uint64
}

// flowState is what the monitor knows of one flow. Totals count since the monitor started.
type flowState struct {
	status, err    string // status: running, idle, failed, stopped ("" = never seen)
	lastBatch      time.Time
	batches        int64
	in, out        int64
	dropped, quar  int64
	late, dup      int64
	stateEntries   int64 // a streaming query's operator state after its last batch
	stateBytes     int64
	lastBatchMS    float64
	latencyMS      float64
	version        int64 // -1: none seen
	expectations   map[string]*expectationTotals
	window         []rateSample // batches of the last rateWindow, oldest first
	schedule       string
	next           time.Time
	expectOrdering []string // expectation names in the order first seen
	// intake is when the flow last took in new landing files: the data time of what it reads
	// from files (as a topic record's log timestamp is for what it reads from a topic).
	intake time.Time
}

type expectationTotals struct{ passed, failed int64 }

type rateSample struct {
	at      time.Time
	in, out int64
}

// tableState is what the monitor knows of one table's commits.
type tableState struct {
	version  int64
	commit   time.Time
	dataTime time.Time
}

type subscriber struct{ ch chan Commit }

// NewMonitor returns a monitor of p's flows (p may be nil: then views get no data time from their
// inputs). clock is the time source (nil: time.Now); the monitor's start is its first reading.
func NewMonitor(p *pipeline.Pipeline, clock func() time.Time) *Monitor {
	if clock == nil {
		clock = time.Now
	}
	m := &Monitor{clock: clock, started: clock(), inputs: map[string][]string{}, flows: map[string]*flowState{},
		tables: map[string]*tableState{}, subs: map[*subscriber]struct{}{},
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_pipeline_batch_duration_seconds",
			Help:    "Duration of pipeline batches and refreshes, by flow.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
		}, []string{"flow"})}
	if p != nil {
		for _, n := range p.Nodes {
			if stored(n) {
				m.inputs[n.Name] = storedInputs(n)
			}
		}
	}
	return m
}

// stored says whether a node is a stored table.
func stored(n *pipeline.Node) bool {
	return n.Kind() == pipeline.StreamingTable || n.Kind() == pipeline.MaterializedView
}

// storedInputs lists the stored tables a node reads, looking through temporary views and AUTO
// CDC flows (whose own source then counts), sorted.
func storedInputs(n *pipeline.Node) []string {
	seen := map[*pipeline.Node]bool{}
	set := map[string]bool{}
	var walk func(n *pipeline.Node)
	walk = func(n *pipeline.Node) {
		for _, d := range n.Deps {
			if seen[d] {
				continue
			}
			seen[d] = true
			if stored(d) {
				set[d.Name] = true
			} else {
				walk(d)
			}
		}
		for _, in := range n.Inputs {
			if in.Node == nil && (in.Kind() == "table" || in.Kind() == "stream") {
				set[in.Name] = true // a project table outside the pipeline
			}
		}
	}
	walk(n)
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Observe records a pipeline event. Pass it as pipeline.RunOptions.OnEvent; it may be called
// concurrently and does not block (a subscriber that does not keep up misses commits).
func (m *Monitor) Observe(e pipeline.Event) {
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Flow == "" {
		return // run_start, run_end
	}
	f := m.flow(e.Flow)
	switch e.Event {
	case pipeline.EventFlowStart:
		f.status, f.err = "running", ""
	case pipeline.EventFlowEnd:
		switch e.Status {
		case "failed":
			f.status, f.err = "failed", e.Message
		case "stopped":
			f.status = "stopped"
		default: // ok, skipped
			f.status = "idle"
		}
	case pipeline.EventBatch, pipeline.EventRefresh:
		if f.status == "" {
			f.status = "running"
		}
		f.batches++
		f.in += e.RowsIn
		f.out += e.RowsOut
		f.dropped += e.RowsDropped
		f.quar += e.RowsQuarantined
		f.late += e.RowsLate
		f.dup += e.RowsDuplicate
		f.lastBatch = e.Time
		f.lastBatchMS = e.DurationMS
		if e.Event == pipeline.EventBatch {
			f.stateEntries, f.stateBytes = e.StateEntries, e.StateBytes
		}
		if e.LatencyMS > 0 || e.Event == pipeline.EventBatch {
			f.latencyMS = e.LatencyMS
		}
		f.window = append(f.window, rateSample{at: now, in: e.RowsIn, out: e.RowsOut})
		f.window = trimWindow(f.window, now)
		m.durations.WithLabelValues(e.Flow).Observe(e.DurationMS / 1000)
		if e.Version >= 0 {
			f.version = e.Version
			if e.DataTime.IsZero() {
				e.DataTime = f.intake
			}
			m.commit(e, now)
		}
	case pipeline.EventIntake:
		f.intake = e.Time
	case pipeline.EventExpectation:
		t := f.expectations[e.Expectation]
		if t == nil {
			t = &expectationTotals{}
			f.expectations[e.Expectation] = t
			f.expectOrdering = append(f.expectOrdering, e.Expectation)
		}
		t.passed += e.Passed
		t.failed += e.Failed
	}
}

// flow returns a flow's state, creating it. m.mu must be held.
func (m *Monitor) flow(name string) *flowState {
	f := m.flows[name]
	if f == nil {
		f = &flowState{version: -1, expectations: map[string]*expectationTotals{}}
		m.flows[name] = f
	}
	return f
}

// commit records a committed version of e.Table and notifies the subscribers. The table's data
// time becomes the batch's (e.DataTime, else the time its flow last took in landing files) when
// known, else the oldest data time of the tables it reads, as known now; it never moves back.
// m.mu must be held.
func (m *Monitor) commit(e pipeline.Event, now time.Time) {
	name := e.Table
	if name == "" {
		name = e.Flow
	}
	t := m.tables[name]
	if t == nil {
		t = &tableState{}
		m.tables[name] = t
	}
	t.version = e.Version
	t.commit = e.Time
	dt := e.DataTime
	if dt.IsZero() {
		for _, in := range m.inputs[name] {
			it := m.tables[in]
			if it == nil || it.dataTime.IsZero() {
				continue
			}
			if dt.IsZero() || it.dataTime.Before(dt) {
				dt = it.dataTime
			}
		}
	}
	if dt.After(t.dataTime) {
		t.dataTime = dt
	}
	m.commits++
	c := Commit{Table: name, Flow: e.Flow, Version: e.Version, Time: e.Time}
	if c.Time.IsZero() {
		c.Time = now
	}
	for s := range m.subs {
		select {
		case s.ch <- c:
		default: // a slow subscriber misses this commit
		}
	}
}

// trimWindow drops the samples older than rateWindow.
func trimWindow(w []rateSample, now time.Time) []rateSample {
	i := 0
	for i < len(w) && now.Sub(w[i].at) > rateWindow {
		i++
	}
	if i == 0 {
		return w
	}
	return append(w[:0], w[i:]...)
}

// SetSchedule records that a flow runs as a scheduled batch (cron is its schedule, next its next
// run): between runs its status is "scheduled".
func (m *Monitor) SetSchedule(flow string, cron string, next time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.flow(flow)
	f.schedule, f.next = cron, next
}

// Subscribe returns a channel receiving every commit observed from now on, and a function that
// ends the subscription (and closes the channel; call it once done, it is idempotent). The
// channel has a small buffer: a subscriber that does not keep up misses commits rather than
// slowing the pipeline.
func (m *Monitor) Subscribe() (<-chan Commit, func()) {
	s := &subscriber{ch: make(chan Commit, 64)}
	m.mu.Lock()
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs, s)
			m.mu.Unlock()
			close(s.ch) // no send can follow: sends happen under m.mu while subscribed
		})
	}
}

// flowView is a copy of a flow's state with its rates computed.
type flowView struct {
	Status, Error                     string
	LastBatch                         time.Time
	Batches                           int64
	In, Out, Dropped, Quar, Late, Dup int64
	StateEntries, StateBytes          int64
	RateIn, RateOut                   float64
	LastBatchMS, LatencyMS            float64
	Version                           int64
	Expectations                      map[string]expectationTotals
	ExpectationNames                  []string
	Schedule                          string
	Next                              time.Time
}

// flowView returns a flow's state ("never" when nothing of it was seen; "scheduled" between
// the runs of a scheduled flow).
func (m *Monitor) flowView(name string) flowView {
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	v := flowView{Status: "never", Version: -1, Expectations: map[string]expectationTotals{}}
	f := m.flows[name]
	if f == nil {
		return v
	}
	v = flowView{Status: f.status, Error: f.err, LastBatch: f.lastBatch, Batches: f.batches, In: f.in, Out: f.out,
		Dropped: f.dropped, Quar: f.quar, Late: f.late, Dup: f.dup, StateEntries: f.stateEntries, StateBytes: f.stateBytes, LastBatchMS: f.lastBatchMS, LatencyMS: f.latencyMS,
		Version: f.version, Expectations: map[string]expectationTotals{}, ExpectationNames: append([]string(nil), f.expectOrdering...),
		Schedule: f.schedule, Next: f.next}
	for k, t := range f.expectations {
		v.Expectations[k] = *t
	}
	switch {
	case f.schedule != "" && (f.status == "" || f.status == "idle"):
		v.Status = "scheduled"
	case f.status == "":
		v.Status = "never"
	}
	span := min(rateWindow, now.Sub(m.started))
	span = max(span, time.Second)
	for _, s := range f.window {
		if now.Sub(s.at) <= rateWindow {
			v.RateIn += float64(s.in)
			v.RateOut += float64(s.out)
		}
	}
	v.RateIn /= span.Seconds()
	v.RateOut /= span.Seconds()
	return v
}

// flowNames returns the names of the flows the monitor saw or was told of, sorted.
func (m *Monitor) flowNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.flows))
	for n := range m.flows {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// tableView is what the monitor knows of a table: ok is false when it saw no commit of it.
type tableView struct {
	Version  int64
	Commit   time.Time
	DataTime time.Time
}

func (m *Monitor) table(name string) (tableView, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tables[name]
	if t == nil {
		return tableView{Version: -1}, false
	}
	return tableView{Version: t.version, Commit: t.commit, DataTime: t.dataTime}, true
}

// freshness returns now minus the table's data time, or nil when the data time is unknown.
func (m *Monitor) freshness(name string) *float64 {
	t, ok := m.table(name)
	if !ok || t.DataTime.IsZero() {
		return nil
	}
	s := max(m.clock().Sub(t.DataTime).Seconds(), 0)
	return &s
}

// tableNames returns the tables the monitor saw commits of, sorted.
func (m *Monitor) tableNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.tables))
	for n := range m.tables {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// commitCount returns how many commits the monitor observed (a change counter).
func (m *Monitor) commitCount() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.commits
}

// Started returns when the monitor started: its rates and totals count from then.
func (m *Monitor) Started() time.Time { return m.started }
