package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/bench"
	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/gen"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/table"
)

// The pipeline benchmark of issue 5 (done-when 5): the example pipeline (examples/medallion:
// bronze from the events topic, silver parsed, validated and deduplicated, gold aggregates) in
// stream mode at a steady event rate, end-to-end latency from produce to gold; and in batch mode
// over N events, beside DuckDB running the equivalent SQL over the same NDJSON files. Figures are
// reported, never judged. Each benchmark copies the example into its own project folder under
// BenchConfig.Dir and runs the pipeline in-process on the project's embedded log.

// ErrBench: the benchmark cannot run as configured (no work folder, no example, a bad size).
var ErrBench = errors.New("pipeline bench")

// MarkerUserBase is the user_id of the first latency marker of the stream benchmark (marker k
// has user_id MarkerUserBase+k); generated users are numbered from 1 to a few hundred thousand.
const MarkerUserBase int64 = 1_000_000_000_000

// The example's tables the benchmarks measure and check (see examples/medallion).
const (
	benchTopic     = "events"
	benchBronze    = "bronze.events"
	benchSilver    = "silver.events"
	benchUserStats = "gold.user_stats"
	benchDaily     = "gold.user_daily_stats"
	benchCountry   = "gold.country_revenue"
)

// BenchConfig configures BenchStream and BenchBatch. The zero value of every field but Dir means
// its default.
type BenchConfig struct {
	// Dir is the work folder (required): the stream benchmark's project is Dir/stream, the batch
	// benchmark's Dir/batch (each recreated).
	Dir string
	// Example is the example project folder copied (its strata.yaml and pipelines/); default:
	// examples/medallion in the working directory or one of its parents, or beside the
	// executable's folder (see FindExample).
	Example string
	// Partitions of the events topic (default 4, as the example's run.sh creates it).
	Partitions int
	// Seed of the event generator.
	Seed uint64

	// Rate is the stream benchmark's target produce rate in events/s (default 50,000), for
	// Duration (default 60 s).
	Rate     float64
	Duration time.Duration
	// Tick is how often the producer appends the events due (default 5 ms).
	Tick time.Duration
	// SampleEvery makes every SampleEvery-th produced event a latency marker (default 1,000).
	SampleEvery int64
	// PollInterval is the pipeline's RunOptions.PollInterval (0: the pipeline's default).
	PollInterval time.Duration
	// Drain bounds the wait, once production stops, for every flow to catch up (default 3 min).
	Drain time.Duration

	// Events is the batch benchmark's number of events (default 10,000,000), spread over Days
	// days of event time (default 1) and written to NDJSON files of FileEvents events (default
	// 1,000,000).
	Events     int64
	Days       int
	FileEvents int64

	// Logf receives progress lines (default: none).
	Logf func(format string, args ...any)
}

func (c *BenchConfig) defaults() error {
	if c.Dir == "" {
		return fmt.Errorf("%w: no Dir", ErrBench)
	}
	if c.Example == "" {
		ex, err := FindExample()
		if err != nil {
			return err
		}
		c.Example = ex
	}
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.Rate <= 0 {
		c.Rate = 50_000
	}
	if c.Duration <= 0 {
		c.Duration = time.Minute
	}
	if c.Tick <= 0 {
		c.Tick = 5 * time.Millisecond
	}
	if c.SampleEvery <= 0 {
		c.SampleEvery = 1000
	}
	if c.Drain <= 0 {
		c.Drain = 3 * time.Minute
	}
	if c.Events <= 0 {
		c.Events = 10_000_000
	}
	if c.Days <= 0 {
		c.Days = 1
	}
	if c.FileEvents <= 0 {
		c.FileEvents = 1_000_000
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// FindExample returns the folder of the example pipeline: examples/medallion in the working
// directory or one of its parents, else beside (or above) the running executable's folder (a
// binary in bin/ of a checkout).
func FindExample() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, s := range starts {
		for d := s; ; d = filepath.Dir(d) {
			ex := filepath.Join(d, "examples", "medallion")
			if _, err := os.Stat(filepath.Join(ex, project.FileName)); err == nil {
				return ex, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("%w: examples/medallion not found from the working directory or the executable (give the example's folder)", ErrBench)
}

// LatencyFigures summarise the produce-to-visible latencies of the markers in one table.
type LatencyFigures struct {
	Table string `json:"table"`
	// Samples are the markers found in the table; Missing those produced but not found by the
	// end of the run (not visible within the drain time), or found in a version whose commit
	// time the event log did not give.
	Samples int `json:"samples"`
	Missing int `json:"missing"`
	// P50, P90, P99, Max and Mean are over Samples.
	P50  bench.Millis `json:"p50Ms"`
	P90  bench.Millis `json:"p90Ms"`
	P99  bench.Millis `json:"p99Ms"`
	Max  bench.Millis `json:"maxMs"`
	Mean bench.Millis `json:"meanMs"`
}

// FlowFigures describe what one flow did in a benchmark run.
type FlowFigures struct {
	Name      string `json:"name"`
	Execution string `json:"execution"`
	// Batches are committed batches (refreshes for a recomputed view); RowsIn and RowsOut sum
	// them (for an incremental view RowsOut are the groups rewritten).
	Batches int64 `json:"batches"`
	RowsIn  int64 `json:"rowsIn"`
	RowsOut int64 `json:"rowsOut"`
	// BatchP50, BatchP99 and BatchMax are batch (or refresh) durations, planning to commit.
	BatchP50 bench.Millis `json:"batchP50Ms"`
	BatchP99 bench.Millis `json:"batchP99Ms"`
	BatchMax bench.Millis `json:"batchMaxMs"`
	// Duration is the flow's wall time in a batch run (its whole run, intake included).
	Duration bench.Millis `json:"durationMs,omitempty"`
	Status   string       `json:"status"`
}

// StreamFigures are the results of BenchStream.
type StreamFigures struct {
	// TargetRate is the rate asked for; Produced the events produced over Elapsed (the production
	// window), AchievedRate = Produced / Elapsed; RateRatio = AchievedRate / TargetRate.
	TargetRate   float64      `json:"targetRate"`
	Elapsed      bench.Millis `json:"elapsedMs"`
	Produced     int64        `json:"produced"`
	AchievedRate float64      `json:"achievedRate"`
	RateRatio    float64      `json:"rateRatio"`
	// ProducerBusy is the share of the production window the producer spent generating and
	// appending events (the rest it slept); near 1 means the producer itself could not keep up.
	ProducerBusy float64 `json:"producerBusy"`
	// Markers is the number of latency markers produced (every SampleEvery-th event).
	Markers     int64 `json:"markers"`
	SampleEvery int64 `json:"sampleEvery"`
	// Gold is the headline figure: produce to visible in gold.user_stats. Stages holds every
	// table measured (bronze, silver, gold.user_stats, gold.user_daily_stats), in pipeline order.
	Gold   LatencyFigures   `json:"gold"`
	Stages []LatencyFigures `json:"stages"`
	// GoalMet: Gold.P99 under one second with no marker missing.
	GoalMet bool `json:"goalMet"`
	// Drained says every flow caught up with the produced events within BenchConfig.Drain;
	// DrainTime is how long that took after production stopped.
	Drained   bool         `json:"drained"`
	DrainTime bench.Millis `json:"drainMs"`
	// Flows are the flows' batches over the whole run (warm-up, production and drain).
	Flows []FlowFigures `json:"flows"`
	// CPU is this process's CPU time over the production window, CPUCores = CPU / Elapsed (the
	// cores it kept busy on average) and NumCPU the machine's cores; LoadBefore and LoadAfter are
	// the 1/5/15-minute load averages around the production window (other work skews the
	// figures). PeakRSS is the process's peak resident set over the run (0: unknown).
	CPU        bench.Millis `json:"cpuMs"`
	CPUCores   float64      `json:"cpuCores"`
	NumCPU     int          `json:"numCPU"`
	LoadBefore []float64    `json:"loadBefore,omitempty"`
	LoadAfter  []float64    `json:"loadAfter,omitempty"`
	PeakRSS    int64        `json:"peakRSSBytes"`
	// PollInterval is the pipeline's poll interval (0: its default).
	PollInterval bench.Millis `json:"pollIntervalMs"`
	// Method says how the latency is measured.
	Method string `json:"method"`
	Dir    string `json:"dir"`
}

// streamMethod describes BenchStream's latency measure (also in StreamFigures.Method).
const streamMethod = "every SampleEvery-th produced event is a marker: a generated event whose user_id is " +
	"made unique (MarkerUserBase+k), so that its row in silver and its (user_id, date) group in gold appear " +
	"first in exactly the table version whose batch processed it; its produce time is taken just before the " +
	"Produce call that appends it (and is the record timestamp). After the run each table's Delta log is read " +
	"version by version, the marker rows are looked up in the files each version added, and a marker's " +
	"latency is the commit time of the first version holding it (the flow's batch event, OnEvent: the " +
	"runtime's CommittedAt, a few ms after the commit became visible) minus its produce time. A warm-up " +
	"(1,000 events through a batch run, which creates the tables, then 1,000 through every flow of the stream " +
	"run) precedes the measured window"

// BenchStream runs the example pipeline in stream mode while a producer appends generated events
// (package gen, without anomalies; record key user_id, record timestamp the produce time) at a
// steady cfg.Rate for cfg.Duration, then waits until every flow has caught up, stops the run and
// measures each marker's latency from produce to visible in bronze, silver and gold (see
// StreamFigures.Method). The producer runs in this process, on the same cores as the pipeline.
// Cancelling ctx stops the benchmark and returns ctx's error.
func BenchStream(ctx context.Context, cfg BenchConfig) (*StreamFigures, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	env, err := openBenchProject(ctx, &cfg, filepath.Join(cfg.Dir, "stream"))
	if err != nil {
		return nil, err
	}
	defer env.close()
	bench.ResetPeakRSS()
	g, err := gen.New(gen.Config{Seed: cfg.Seed, Start: time.Now(), Rate: cfg.Rate})
	if err != nil {
		return nil, err
	}
	p := &producer{l: env.log, g: g, every: cfg.SampleEvery}
	// Warm-up, first part: a batch run over a few events creates every table (as the example's
	// run.sh does before its stream run), so that the stream run starts on existing tables.
	if err := p.produce(ctx, 1000, false); err != nil {
		return nil, err
	}
	if _, err := env.pl.Run(ctx, RunOptions{Mode: Batch, Log: env.log}); err != nil {
		return nil, fmt.Errorf("%w: warm-up batch run: %w", ErrBench, err)
	}
	base := p.produced // the events the stream run will not see
	tr := &eventTracker{}
	runCtx, stop := context.WithCancel(ctx)
	type outcome struct {
		sum *Summary
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		sum, err := env.pl.Run(runCtx, RunOptions{Mode: Stream, Log: env.log, OnEvent: tr.add, PollInterval: cfg.PollInterval})
		done <- outcome{sum, err}
	}()
	received := false // whether the run's outcome was received from done
	defer func() {
		stop()
		if !received {
			<-done // the run uses the engine and the log, closed after this
		}
	}()
	runFailed := func(o outcome) error {
		received = true
		if o.err == nil {
			o.err = errors.New("the stream run stopped")
		}
		return fmt.Errorf("%w: stream run: %w", ErrBench, o.err)
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) (bool, error) {
		start := time.Now()
		deadline, nextLog := start.Add(limit), start.Add(10*time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				return false, nil
			}
			if time.Now().After(nextLog) {
				cfg.Logf("stream: waiting %s: %s", time.Since(start).Round(time.Second), tr.progress(env.streamFlows()))
				nextLog = nextLog.Add(10 * time.Second)
			}
			select {
			case o := <-done:
				return false, runFailed(o)
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		cfg.Logf("stream: %s", what)
		return true, nil
	}

	// Warm-up, second part: events through every flow of the stream run, so that starting its
	// queries is not counted.
	if err := p.produce(ctx, 1000, false); err != nil {
		return nil, err
	}
	flows := env.streamFlows()
	ok, err := waitFor("warm-up done", 2*time.Minute, func() bool { return tr.caughtUp(flows, p.produced-base) })
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: the pipeline did not process the warm-up events within 2 minutes", ErrBench)
	}

	f := &StreamFigures{TargetRate: cfg.Rate, SampleEvery: cfg.SampleEvery, NumCPU: runtime.NumCPU(),
		PollInterval: bench.Millis(cfg.PollInterval), Method: streamMethod, Dir: env.dir}
	f.LoadBefore = bench.LoadAverage()
	cpu0, start := bench.CPUTime(), time.Now()
	warm := p.produced
	var busy time.Duration
	nextLog := start.Add(10 * time.Second)
	for {
		now := time.Now()
		el := now.Sub(start)
		if el >= cfg.Duration {
			break
		}
		due := int64(cfg.Rate*el.Seconds()) - (p.produced - warm)
		if due > 0 {
			// At most 50 ticks' worth per call: a producer that fell behind catches up in steps.
			due = min(due, max(int64(cfg.Rate*cfg.Tick.Seconds())*50, 1))
			if err := p.produce(ctx, int(due), true); err != nil {
				return nil, err
			}
			busy += time.Since(now)
		}
		select {
		case o := <-done:
			return nil, runFailed(o)
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(nextLog) {
			cfg.Logf("stream: %s: %d events produced (%.0f/s); %s", el.Round(time.Second), p.produced-warm,
				float64(p.produced-warm)/el.Seconds(), tr.progress(flows))
			nextLog = nextLog.Add(10 * time.Second)
		}
		if d := time.Until(time.Now().Truncate(cfg.Tick).Add(cfg.Tick)); d > 0 {
			time.Sleep(d)
		}
	}
	f.Elapsed = bench.Millis(time.Since(start))
	f.CPU = bench.Millis(bench.CPUTime() - cpu0)
	f.LoadAfter = bench.LoadAverage()
	f.Produced = p.produced - warm
	f.Markers = int64(len(p.markers))
	f.AchievedRate = float64(f.Produced) / f.Elapsed.D().Seconds()
	f.RateRatio = f.AchievedRate / cfg.Rate
	f.ProducerBusy = float64(busy) / float64(f.Elapsed)
	f.CPUCores = float64(f.CPU) / float64(f.Elapsed)
	cfg.Logf("stream: produced %d events in %s (%.0f/s, target %.0f/s); waiting for the flows to catch up", f.Produced,
		f.Elapsed.D().Round(time.Millisecond), f.AchievedRate, cfg.Rate)
	drainStart := time.Now()
	f.Drained, err = waitFor("every flow caught up", cfg.Drain, func() bool { return tr.caughtUp(flows, p.produced-base) })
	if err != nil {
		return nil, err
	}
	f.DrainTime = bench.Millis(time.Since(drainStart))
	if !f.Drained {
		cfg.Logf("stream: the flows did not catch up within %s (%s); measuring what is visible", cfg.Drain, tr.progress(flows))
	}
	stop()
	o := <-done
	received = true
	if o.err != nil {
		return nil, fmt.Errorf("%w: stream run: %w", ErrBench, o.err)
	}
	f.PeakRSS = bench.PeakRSS()

	for _, n := range env.pl.Nodes {
		if fs := tr.flowFigures(n); fs != nil {
			if o.sum != nil {
				for _, s := range o.sum.Flows {
					if s.Name == n.Name {
						fs.Status = s.Status
					}
				}
			}
			f.Flows = append(f.Flows, *fs)
		}
	}
	for _, st := range []struct {
		table      string
		key, where string
		statCol    string
	}{
		{benchBronze, `("partition"::BIGINT << 40) + "offset"`, "", ""},
		{benchSilver, "user_id", "user_id >= " + strconv.FormatInt(MarkerUserBase, 10), "user_id"},
		{benchUserStats, "user_id", "user_id >= " + strconv.FormatInt(MarkerUserBase, 10), "user_id"},
		{benchDaily, "user_id", "user_id >= " + strconv.FormatInt(MarkerUserBase, 10), "user_id"},
	} {
		n := env.pl.Node(st.table)
		if n == nil || n.Location == "" {
			continue
		}
		// The marker each found key stands for.
		marker := func(key int64) (int, bool) {
			k := key - MarkerUserBase
			return int(k), k >= 0 && k < int64(len(p.markers))
		}
		where := st.where
		if st.table == benchBronze {
			pos := make(map[int64]int, len(p.markers))
			var keys []string
			for i, m := range p.markers {
				key := int64(m.partition)<<40 + m.offset
				pos[key] = i
				keys = append(keys, strconv.FormatInt(key, 10))
			}
			if len(keys) == 0 {
				continue
			}
			where = st.key + " IN (" + strings.Join(keys, ", ") + ")"
			marker = func(key int64) (int, bool) { i, ok := pos[key]; return i, ok }
		}
		first, err := env.firstVersions(ctx, n.Location, st.key, where, st.statCol)
		if err != nil {
			return nil, fmt.Errorf("%w: markers in %s: %w", ErrBench, st.table, err)
		}
		times := tr.versionTimes(n.Name)
		var lat []time.Duration
		for key, v := range first {
			i, ok := marker(key)
			if !ok {
				continue
			}
			if at, ok := times[v]; ok {
				lat = append(lat, at.Sub(p.markers[i].at))
			}
		}
		lf := latencyFigures(st.table, lat, len(p.markers))
		f.Stages = append(f.Stages, lf)
		if st.table == benchUserStats {
			f.Gold = lf
		}
	}
	f.GoalMet = f.Gold.Samples > 0 && f.Gold.Missing == 0 && f.Gold.P99.D() < time.Second
	cfg.Logf("stream: produce -> %s p50 %s p99 %s max %s over %d markers (%d missing)", f.Gold.Table, f.Gold.P50, f.Gold.P99, f.Gold.Max, f.Gold.Samples, f.Gold.Missing)
	return f, nil
}

// latencyFigures summarises latencies of a table's markers (of markers produced).
func latencyFigures(table string, lat []time.Duration, markers int) LatencyFigures {
	lf := LatencyFigures{Table: table, Samples: len(lat), Missing: markers - len(lat)}
	if len(lat) == 0 {
		return lf
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	lf.P50, lf.P90, lf.P99 = bench.Millis(quantile(lat, 0.50)), bench.Millis(quantile(lat, 0.90)), bench.Millis(quantile(lat, 0.99))
	lf.Max, lf.Mean = bench.Millis(lat[len(lat)-1]), bench.Millis(sum/time.Duration(len(lat)))
	return lf
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// producer appends generated events to the events topic, making every every-th one a marker.
type producer struct {
	l        log.Log
	g        *gen.Generator
	every    int64
	produced int64
	seq      int64 // events produced in the measured window (markers are counted on it)
	markers  []marker
	buf      []byte
}

// marker is one sampled event: its produce time and position in the topic.
type marker struct {
	at        time.Time
	partition int32
	offset    int64
}

// produce appends n events in one Produce call; measured events may be markers.
func (p *producer) produce(ctx context.Context, n int, measured bool) error {
	recs := make([]log.Record, n)
	p.buf = p.buf[:0]
	offs := make([]int, n+1)
	mark := make([]bool, n)
	keys := make([]byte, 0, n*8)
	keyOffs := make([]int, n+1)
	next := int64(len(p.markers)) // the index of the next marker
	for i := range n {
		ev := p.g.Next()
		if measured {
			if p.seq%p.every == 0 {
				ev.UserID = MarkerUserBase + next
				mark[i] = true
				next++
			}
			p.seq++
		}
		p.buf = gen.AppendJSON(p.buf, &ev)
		offs[i+1] = len(p.buf)
		keys = strconv.AppendInt(keys, ev.UserID, 10)
		keyOffs[i+1] = len(keys)
	}
	at := time.Now()
	for i := range n {
		recs[i] = log.Record{Partition: -1, Key: keys[keyOffs[i]:keyOffs[i+1]:keyOffs[i+1]],
			Value: p.buf[offs[i] : offs[i+1]-1 : offs[i+1]-1], Timestamp: at}
	}
	res, err := p.l.Produce(ctx, benchTopic, recs)
	if err != nil {
		return fmt.Errorf("%w: produce: %w", ErrBench, err)
	}
	for i, r := range res {
		if mark[i] {
			p.markers = append(p.markers, marker{at: at, partition: r.Partition, offset: r.Offset})
		}
	}
	p.produced += int64(n)
	p.buf = make([]byte, 0, cap(p.buf)) // the log may keep the values
	return nil
}

// eventTracker collects a run's events (RunOptions.OnEvent). Safe for concurrent use.
type eventTracker struct {
	mu    sync.Mutex // guards flows
	flows map[string]*flowTrack
}

// flowTrack is what the event log said of one flow.
type flowTrack struct {
	execution        string
	batches          int64
	rowsIn, rowsOut  int64
	durations        []time.Duration
	versions         map[int64]time.Time // output version -> commit time
	refreshes        int64
	refreshDurations []time.Duration
}

func (t *eventTracker) add(e Event) {
	if e.Event != EventBatch && e.Event != EventRefresh {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.flows == nil {
		t.flows = map[string]*flowTrack{}
	}
	ft := t.flows[e.Flow]
	if ft == nil {
		ft = &flowTrack{versions: map[int64]time.Time{}}
		t.flows[e.Flow] = ft
	}
	ft.execution = e.Execution
	d := time.Duration(e.DurationMS * float64(time.Millisecond))
	if e.Event == EventRefresh {
		ft.refreshes++
		ft.rowsOut += e.RowsOut
		ft.refreshDurations = append(ft.refreshDurations, d)
	} else {
		ft.batches++
		ft.rowsIn += e.RowsIn
		ft.rowsOut += e.RowsOut
		ft.durations = append(ft.durations, d)
	}
	if e.Version >= 0 {
		if _, ok := ft.versions[e.Version]; !ok {
			ft.versions[e.Version] = e.Time
		}
	}
}

// streamFlow is a flow whose input the benchmark can count: a topic (input: the events
// produced) or another flow's table (input: that flow's output rows).
type streamFlow struct {
	name     string
	upstream string // "" for the topic
}

// caughtUp says whether every flow has read all its input, produced events counting.
func (t *eventTracker) caughtUp(flows []streamFlow, produced int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range flows {
		ft := t.flows[f.name]
		if ft == nil || ft.batches == 0 {
			return false
		}
		want := produced
		if f.upstream != "" {
			up := t.flows[f.upstream]
			if up == nil {
				return false
			}
			want = up.rowsOut
		}
		if ft.rowsIn < want {
			return false
		}
	}
	return true
}

// progress renders the rows each flow has read.
func (t *eventTracker) progress(flows []streamFlow) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for _, f := range flows {
		var in, b int64
		if ft := t.flows[f.name]; ft != nil {
			in, b = ft.rowsIn, ft.batches
		}
		parts = append(parts, fmt.Sprintf("%s read %d rows in %d batches", f.name, in, b))
	}
	return strings.Join(parts, ", ")
}

// versionTimes returns the commit time of each version a flow's batches committed.
func (t *eventTracker) versionTimes(flow string) map[int64]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int64]time.Time{}
	if ft := t.flows[flow]; ft != nil {
		for v, at := range ft.versions {
			out[v] = at
		}
	}
	return out
}

// flowFigures returns what the events said of a node (nil: nothing).
func (t *eventTracker) flowFigures(n *Node) *FlowFigures {
	t.mu.Lock()
	defer t.mu.Unlock()
	ft := t.flows[n.Name]
	if ft == nil {
		return nil
	}
	fs := &FlowFigures{Name: n.Name, Execution: ft.execution, Batches: ft.batches + ft.refreshes, RowsIn: ft.rowsIn, RowsOut: ft.rowsOut}
	ds := slices.Clone(append(ft.durations, ft.refreshDurations...))
	if len(ds) > 0 {
		slices.Sort(ds)
		fs.BatchP50, fs.BatchP99, fs.BatchMax = bench.Millis(quantile(ds, 0.5)), bench.Millis(quantile(ds, 0.99)), bench.Millis(ds[len(ds)-1])
	}
	return fs
}

// benchEnv is one benchmark project: the example copied, its engine, pipeline and log.
type benchEnv struct {
	dir  string
	proj *project.Project
	eng  *engine.Engine
	pl   *Pipeline
	log  *embedded.Log
}

// openBenchProject copies the example into dir (removed first), opens the engine and the
// project's embedded log, creates the events topic, and loads and validates the pipeline.
func openBenchProject(ctx context.Context, cfg *BenchConfig, dir string) (*benchEnv, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(filepath.Join(cfg.Example, project.FileName), filepath.Join(dir, project.FileName)); err != nil {
		return nil, fmt.Errorf("%w: example %s: %w", ErrBench, cfg.Example, err)
	}
	src := filepath.Join(cfg.Example, "pipelines")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, "pipelines", rel), 0o755)
		}
		return copyFile(path, filepath.Join(dir, "pipelines", rel))
	})
	if err != nil {
		return nil, fmt.Errorf("%w: example %s: %w", ErrBench, cfg.Example, err)
	}
	proj, err := project.Load(dir)
	if err != nil {
		return nil, err
	}
	if b := proj.Config.Log.Backend; b != "" && b != project.LogEmbedded {
		return nil, fmt.Errorf("%w: the example's log backend is %s, the benchmark runs on the embedded log", ErrBench, b)
	}
	eng, err := engine.Open(context.WithoutCancel(ctx), engine.Options{Project: proj, CacheDir: filepath.Join(dir, ".cache")})
	if err != nil {
		return nil, err
	}
	env := &benchEnv{dir: dir, proj: proj, eng: eng}
	fail := func(err error) (*benchEnv, error) {
		env.close()
		return nil, err
	}
	if env.log, err = embedded.Open(ctx, proj.Config.Log.Dir); err != nil {
		return fail(err)
	}
	if err := env.log.CreateTopic(ctx, benchTopic, log.TopicConfig{Partitions: cfg.Partitions}); err != nil {
		return fail(err)
	}
	if env.pl, err = Load(ctx, proj, eng); err != nil {
		return fail(err)
	}
	if _, err := env.pl.Validate(ctx); err != nil {
		return fail(err)
	}
	for _, name := range []string{benchSilver, benchUserStats} {
		if env.pl.Node(name) == nil {
			return fail(fmt.Errorf("%w: the example %s declares no %s", ErrBench, cfg.Example, name))
		}
	}
	return env, nil
}

func (e *benchEnv) close() {
	if e.log != nil {
		e.log.Close()
	}
	e.eng.Close()
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// streamFlows lists the pipeline's streaming flows (streaming tables and incremental views) with
// the flow whose table each reads (none for the topic).
func (e *benchEnv) streamFlows() []streamFlow {
	var out []streamFlow
	for _, n := range e.pl.Nodes {
		if n.info == nil || n.info.query == nil || len(n.info.query.Sources) == 0 {
			continue
		}
		src := n.info.query.Sources[0]
		f := streamFlow{name: n.Name}
		if src.Topic == "" {
			for _, m := range e.pl.Nodes {
				if m.Location != "" && m.Location == src.Table && m.info != nil && m.info.query != nil {
					f.upstream = m.Name
				}
			}
			if f.upstream == "" {
				continue // a source the benchmark cannot count
			}
		}
		out = append(out, f)
	}
	return out
}

// firstVersions reads a table's log version by version and returns, for each key (the SQL
// expression key over the table's rows, restricted by where) found in the files a version added,
// the first such version. statCol, if set, skips files whose statistics put every value of that
// column below MarkerUserBase.
func (e *benchEnv) firstVersions(ctx context.Context, loc, key, where, statCol string) (map[int64]int64, error) {
	t, err := table.Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, err
	}
	fileVersion := map[string]int64{}
	var files []string
	for v := int64(0); v <= snap.Version(); v++ {
		acts, err := t.Kernel().ReadCommit(ctx, v)
		if err != nil {
			if errors.Is(err, delta.ErrVersionNotFound) {
				continue // cleaned up (the run is too short for that) or never written
			}
			return nil, err
		}
		for _, a := range acts {
			if a.Add == nil {
				continue
			}
			if statCol != "" {
				if st, err := delta.ParseStats(a.Add.Stats); err == nil && st != nil {
					if mx, ok := st.MaxValues[statCol]; ok {
						if x, err := strconv.ParseInt(fmt.Sprint(mx), 10, 64); err == nil && x < MarkerUserBase {
							continue
						}
					}
				}
			}
			p, err := url.PathUnescape(a.Add.Path)
			if err != nil {
				p = a.Add.Path
			}
			full := filepath.Join(loc, filepath.FromSlash(p))
			if _, seen := fileVersion[full]; !seen {
				fileVersion[full] = v
				files = append(files, full)
			}
		}
	}
	first := map[int64]int64{}
	const chunk = 500
	for i := 0; i < len(files); i += chunk {
		part := files[i:min(i+chunk, len(files))]
		quoted := make([]string, len(part))
		for j, f := range part {
			quoted[j] = quoteString(f)
		}
		q := "SELECT DISTINCT CAST(" + key + " AS BIGINT) AS k, filename FROM read_parquet([" + strings.Join(quoted, ", ") +
			"], filename = true, hive_partitioning = false)"
		if where != "" {
			q += " WHERE " + where
		}
		err := e.eachRow(ctx, q, func(vals []string) error {
			k, err := strconv.ParseInt(vals[0], 10, 64)
			if err != nil {
				return err
			}
			v, ok := fileVersion[vals[1]]
			if !ok {
				return fmt.Errorf("read_parquet returned the unknown file %s", vals[1])
			}
			if cur, ok := first[k]; !ok || v < cur {
				first[k] = v
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return first, nil
}

// eachRow runs a query through the engine and calls fn with each row's values as text ("NULL"
// for nulls).
func (e *benchEnv) eachRow(ctx context.Context, q string, fn func([]string) error) error {
	res, err := e.eng.Query(ctx, q)
	if err != nil {
		return err
	}
	defer res.Records.Release()
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		vals := make([]string, rec.NumCols())
		for i := 0; i < int(rec.NumRows()); i++ {
			for c := range vals {
				col := rec.Column(c)
				if col.IsNull(i) {
					vals[c] = "NULL"
				} else {
					vals[c] = strings.Clone(col.ValueStr(i))
				}
			}
			if err := fn(vals); err != nil {
				return err
			}
		}
	}
	return res.Records.Err()
}

// TableCheck compares one table of the pipeline with DuckDB's equivalent output.
type TableCheck struct {
	Table string `json:"table"`
	// Figures names the compared values; Pipeline and DuckDB are their values (row count first).
	Figures  []string `json:"figures"`
	Pipeline []string `json:"pipeline"`
	DuckDB   []string `json:"duckdb"`
	Equal    bool     `json:"equal"`
}

// DuckDBStep is one statement of DuckDB's run of the equivalent SQL.
type DuckDBStep struct {
	Name    string       `json:"name"`
	Elapsed bench.Millis `json:"elapsedMs"`
	SQL     string       `json:"sql"`
}

// BatchFigures are the results of BenchBatch.
type BatchFigures struct {
	// Events were generated into Files NDJSON files of NDJSONBytes bytes and produced to the
	// events topic in Generate (not part of the figures).
	Events      int64        `json:"events"`
	Files       int          `json:"files"`
	NDJSONBytes int64        `json:"ndjsonBytes"`
	Generate    bench.Millis `json:"generateMs"`
	// Pipeline is the batch run of the pipeline (everything in the topic, once, in DAG order):
	// its wall time, events/s and NDJSON MB/s (10^6 bytes), CPU time and peak RSS.
	Pipeline           bench.Millis  `json:"pipelineMs"`
	PipelineEventsPerS float64       `json:"pipelineEventsPerS"`
	PipelineMBPS       float64       `json:"pipelineMBPerS"`
	PipelineCPU        bench.Millis  `json:"pipelineCPUMs"`
	PipelinePeakRSS    int64         `json:"pipelinePeakRSSBytes"`
	Flows              []FlowFigures `json:"flows"`
	// DuckDB is DuckDB (the engine's, through COPY statements) running the equivalent SQL over
	// the NDJSON files: bronze (the raw lines), silver (projection, filters, DISTINCT ON
	// event_id; partitioned by date) and the three gold views, each written to Parquet. DuckDBNoBronze
	// leaves out the bronze copy.
	DuckDB           bench.Millis `json:"duckdbMs"`
	DuckDBNoBronze   bench.Millis `json:"duckdbNoBronzeMs"`
	DuckDBEventsPerS float64      `json:"duckdbEventsPerS"`
	DuckDBMBPS       float64      `json:"duckdbMBPerS"`
	DuckDBCPU        bench.Millis `json:"duckdbCPUMs"`
	DuckDBPeakRSS    int64        `json:"duckdbPeakRSSBytes"`
	DuckDBSteps      []DuckDBStep `json:"duckdbSteps"`
	// Ratio is Pipeline / DuckDB (how many times DuckDB's time the pipeline takes);
	// RatioNoBronze is Pipeline / DuckDBNoBronze.
	Ratio         float64 `json:"ratio"`
	RatioNoBronze float64 `json:"ratioNoBronze"`
	// Checks compare silver and the gold tables of both sides (row counts and sums); Equal is
	// set when they all agree.
	Checks     []TableCheck `json:"checks"`
	Equal      bool         `json:"equal"`
	NumCPU     int          `json:"numCPU"`
	LoadBefore []float64    `json:"loadBefore,omitempty"`
	LoadAfter  []float64    `json:"loadAfter,omitempty"`
	Dir        string       `json:"dir"`
}

// The columns of the events the silver table reads, as DuckDB's read_json takes them.
const benchJSONColumns = `{'event_id': 'VARCHAR', 'event_type': 'VARCHAR', 'user_id': 'BIGINT', 'session_id': 'VARCHAR', ` +
	`'event_ts': 'TIMESTAMPTZ', 'date': 'DATE', 'country': 'VARCHAR', 'device': 'VARCHAR', 'product_id': 'VARCHAR', 'revenue': 'DECIMAL(12,2)'}`

// benchChecks are the figures compared between the pipeline's tables and DuckDB's outputs: the
// table, then the select list over it.
var benchChecks = []struct {
	table, duck string
	names       []string
	sql         string
}{
	{benchSilver, "silver", []string{"rows", "distinct event_id", "sum(revenue)"},
		"count(*), count(DISTINCT event_id), CAST(sum(revenue) AS DECIMAL(38,2))"},
	{benchDaily, "user_daily_stats", []string{"rows", "sum(daily_events)", "sum(event_types)"},
		"count(*), sum(daily_events), sum(event_types)"},
	{benchUserStats, "user_stats", []string{"rows", "sum(total_events)", "sum(total_revenue)", "sum(sessions)"},
		"count(*), sum(total_events), CAST(sum(total_revenue) AS DECIMAL(38,2)), sum(sessions)"},
	{benchCountry, "country_revenue", []string{"rows", "sum(revenue)", "sum(share)"},
		"count(*), CAST(sum(revenue) AS DECIMAL(38,2)), round(sum(share), 6)"},
}

// BenchBatch generates cfg.Events events (package gen, without anomalies, over cfg.Days days)
// into NDJSON files and produces the same events to the example's events topic (key user_id,
// record timestamp event_ts, as the example's run.sh does), then times a batch run of the
// pipeline, and DuckDB running the equivalent SQL directly over the NDJSON files (see
// BatchFigures.DuckDB), and compares silver and gold of both. Cancelling ctx stops it.
func BenchBatch(ctx context.Context, cfg BenchConfig) (*BatchFigures, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	env, err := openBenchProject(ctx, &cfg, filepath.Join(cfg.Dir, "batch"))
	if err != nil {
		return nil, err
	}
	defer env.close()
	f := &BatchFigures{Events: cfg.Events, NumCPU: runtime.NumCPU(), Dir: env.dir}
	input := filepath.Join(env.dir, "input")
	t0 := time.Now()
	files, size, err := writeEvents(ctx, &cfg, env.log, input)
	if err != nil {
		return nil, err
	}
	f.Generate, f.Files, f.NDJSONBytes = bench.Millis(time.Since(t0)), len(files), size
	cfg.Logf("batch: %d events in %d NDJSON files (%.1f MB) generated and produced in %s", cfg.Events, len(files), float64(size)/1e6, f.Generate)

	f.LoadBefore = bench.LoadAverage()
	bench.ResetPeakRSS()
	cpu0, t1 := bench.CPUTime(), time.Now()
	sum, err := env.pl.Run(ctx, RunOptions{Mode: Batch, Log: env.log})
	if err != nil {
		return nil, fmt.Errorf("%w: batch run: %w", ErrBench, err)
	}
	f.Pipeline, f.PipelineCPU, f.PipelinePeakRSS = bench.Millis(time.Since(t1)), bench.Millis(bench.CPUTime()-cpu0), bench.PeakRSS()
	f.PipelineEventsPerS = float64(cfg.Events) / f.Pipeline.D().Seconds()
	f.PipelineMBPS = float64(size) / 1e6 / f.Pipeline.D().Seconds()
	for _, s := range sum.Flows {
		f.Flows = append(f.Flows, FlowFigures{Name: s.Name, Execution: s.Execution, Batches: s.Batches, RowsIn: s.RowsIn, RowsOut: s.RowsOut,
			Duration: bench.Millis(time.Duration(s.DurationMS * float64(time.Millisecond))), Status: s.Status})
	}
	cfg.Logf("batch: pipeline run %s (%.0f events/s)", f.Pipeline, f.PipelineEventsPerS)

	out := filepath.Join(env.dir, "duckdb")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	quoted := make([]string, len(files))
	for i, fl := range files {
		quoted[i] = quoteString(fl)
	}
	list := "[" + strings.Join(quoted, ", ") + "]"
	silver := filepath.Join(out, "silver")
	silverRead := "read_parquet(" + quoteString(filepath.Join(silver, "**", "*.parquet")) + ", hive_partitioning = true)"
	goldOut := func(name string) string { return quoteString(filepath.Join(out, name+".parquet")) }
	steps := []DuckDBStep{
		{Name: "bronze", SQL: "COPY (SELECT json AS raw_json FROM read_ndjson_objects(" + list + ")) TO " + goldOut("bronze") + " (FORMAT parquet)"},
		{Name: "silver", SQL: "COPY (SELECT DISTINCT ON (event_id) event_id, event_type, user_id, session_id, event_ts, date, country, device, " +
			"product_id, revenue, event_ts AS ingestion_time FROM read_json(" + list + ", format = 'newline_delimited', columns = " + benchJSONColumns + ") " +
			"WHERE event_ts IS NOT NULL AND user_id IS NOT NULL AND event_type IN ('page_view', 'add_to_cart', 'order', 'payment', 'refund') " +
			"AND revenue IS NOT NULL) TO " + quoteString(silver) + " (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)"},
		{Name: "user_daily_stats", SQL: "COPY (SELECT user_id, date, count(*) AS daily_events, count(DISTINCT event_type) AS event_types FROM " +
			silverRead + " GROUP BY ALL) TO " + goldOut("user_daily_stats") + " (FORMAT parquet)"},
		{Name: "user_stats", SQL: "COPY (SELECT user_id, date, count(*) AS total_events, sum(revenue) AS total_revenue, count(DISTINCT session_id) AS sessions FROM " +
			silverRead + " GROUP BY user_id, date) TO " + goldOut("user_stats") + " (FORMAT parquet)"},
		{Name: "country_revenue", SQL: "COPY (SELECT country, date, sum(revenue) AS revenue, sum(revenue) / sum(sum(revenue)) OVER (PARTITION BY date) AS share FROM " +
			silverRead + " WHERE event_type IN ('order', 'refund') GROUP BY country, date) TO " + goldOut("country_revenue") + " (FORMAT parquet)"},
	}
	bench.ResetPeakRSS()
	cpu1 := bench.CPUTime()
	for i := range steps {
		s := &steps[i]
		ts := time.Now()
		if err := env.eng.Run(ctx, s.SQL, func(*engine.Result) error { return nil }); err != nil {
			return nil, fmt.Errorf("%w: duckdb %s: %w", ErrBench, s.Name, err)
		}
		s.Elapsed = bench.Millis(time.Since(ts))
		f.DuckDB += s.Elapsed
		if s.Name != "bronze" {
			f.DuckDBNoBronze += s.Elapsed
		}
		s.SQL = strings.ReplaceAll(s.SQL, list, "[the NDJSON files]")
		cfg.Logf("batch: duckdb %s %s", s.Name, s.Elapsed)
	}
	f.DuckDBCPU, f.DuckDBPeakRSS = bench.Millis(bench.CPUTime()-cpu1), bench.PeakRSS()
	f.LoadAfter = bench.LoadAverage()
	f.DuckDBSteps = steps
	f.DuckDBEventsPerS = float64(cfg.Events) / f.DuckDB.D().Seconds()
	f.DuckDBMBPS = float64(size) / 1e6 / f.DuckDB.D().Seconds()
	f.Ratio = float64(f.Pipeline) / float64(f.DuckDB)
	f.RatioNoBronze = float64(f.Pipeline) / float64(f.DuckDBNoBronze)

	f.Equal = true
	for _, c := range benchChecks {
		if env.pl.Node(c.table) == nil {
			continue
		}
		tc := TableCheck{Table: c.table, Figures: c.names}
		if err := env.eachRow(ctx, "SELECT "+c.sql+" FROM "+c.table, func(v []string) error { tc.Pipeline = slices.Clone(v); return nil }); err != nil {
			return nil, fmt.Errorf("%w: check %s: %w", ErrBench, c.table, err)
		}
		from := "read_parquet(" + goldOut(c.duck) + ")"
		if c.duck == "silver" {
			from = silverRead
		}
		if err := env.eachRow(ctx, "SELECT "+c.sql+" FROM "+from, func(v []string) error { tc.DuckDB = slices.Clone(v); return nil }); err != nil {
			return nil, fmt.Errorf("%w: check duckdb %s: %w", ErrBench, c.duck, err)
		}
		tc.Equal = slices.Equal(tc.Pipeline, tc.DuckDB)
		f.Equal = f.Equal && tc.Equal
		f.Checks = append(f.Checks, tc)
	}
	cfg.Logf("batch: pipeline %s vs duckdb %s (%.2fx); tables agree: %v", f.Pipeline, f.DuckDB, f.Ratio, f.Equal)
	return f, nil
}

// writeEvents generates cfg.Events events into NDJSON files under dir (cfg.FileEvents per file)
// and produces the same events to the events topic (key user_id, timestamp event_ts). It returns
// the files and their total size.
func writeEvents(ctx context.Context, cfg *BenchConfig, l log.Log, dir string) ([]string, int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, err
	}
	g, err := gen.New(gen.Config{Seed: cfg.Seed, Rate: gen.RateFor(cfg.Events, float64(cfg.Days))})
	if err != nil {
		return nil, 0, err
	}
	var files []string
	var size int64
	var file *os.File
	closeFile := func() error {
		if file == nil {
			return nil
		}
		err := file.Close()
		file = nil
		return err
	}
	defer closeFile()
	const perCall = 5000
	for n := int64(0); n < cfg.Events; {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		if n%cfg.FileEvents == 0 {
			if err := closeFile(); err != nil {
				return nil, 0, err
			}
			name := filepath.Join(dir, fmt.Sprintf("events-%04d.ndjson", len(files)))
			if file, err = os.Create(name); err != nil {
				return nil, 0, err
			}
			files = append(files, name)
		}
		k := int(min(perCall, cfg.Events-n, cfg.FileEvents-n%cfg.FileEvents))
		var buf, keys []byte
		offs, keyOffs := make([]int, k+1), make([]int, k+1)
		recs := make([]log.Record, k)
		for i := range k {
			ev := g.Next()
			buf = gen.AppendJSON(buf, &ev)
			offs[i+1] = len(buf)
			keys = strconv.AppendInt(keys, ev.UserID, 10)
			keyOffs[i+1] = len(keys)
			recs[i].Timestamp = ev.Time()
		}
		for i := range recs {
			recs[i].Partition = -1
			recs[i].Key = keys[keyOffs[i]:keyOffs[i+1]:keyOffs[i+1]]
			recs[i].Value = buf[offs[i] : offs[i+1]-1 : offs[i+1]-1]
		}
		if _, err := l.Produce(ctx, benchTopic, recs); err != nil {
			return nil, 0, err
		}
		if _, err := file.Write(buf); err != nil {
			return nil, 0, err
		}
		size += int64(len(buf))
		n += int64(k)
		if n%1_000_000 < perCall {
			cfg.Logf("batch: %d events generated and produced", n)
		}
	}
	return files, size, closeFile()
}
