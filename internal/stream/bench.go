package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/gen"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
)

// The streaming benchmarks of issue 4, on the deterministic e-commerce event generator (package
// gen, without anomalies) and the embedded log. They report figures and assert nothing; the CLI
// (or `go test -bench`) calls them. Each works in its own folder under BenchConfig.Dir.

// BenchConfig configures the streaming benchmarks.
type BenchConfig struct {
	// Dir is the work folder (required). The events topic lives in Dir/log and is reused by the
	// benchmarks when it already holds Events events.
	Dir string
	// Events is the number of events of the ingest and replay benchmarks (default 10,000,000).
	Events int64
	// Partitions of the events topic (default 4).
	Partitions int
	// Seed of the generator.
	Seed uint64
	// BatchRecords bounds a micro-batch (default 1,000,000 for ingest and replay).
	BatchRecords int64
	// Engine runs the SQL (default: one opened for the run).
	Engine *engine.Engine
	// Logf receives progress lines (default: none).
	Logf func(format string, args ...any)
}

func (c *BenchConfig) defaults() error {
	if c.Dir == "" {
		return fmt.Errorf("stream bench: no Dir: %w", ErrInvalidQuery)
	}
	if c.Events <= 0 {
		c.Events = 10_000_000
	}
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.BatchRecords <= 0 {
		c.BatchRecords = 1_000_000
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

func (c *BenchConfig) engine(ctx context.Context) (*engine.Engine, func(), error) {
	if c.Engine != nil {
		return c.Engine, func() {}, nil
	}
	e, err := engine.Open(ctx, engine.Options{CacheDir: filepath.Join(c.Dir, "cache")})
	if err != nil {
		return nil, nil, err
	}
	return e, func() { e.Close() }, nil
}

// bronzeSQL parses the generator's NDJSON events into typed columns, each payload parsed once.
const bronzeSQL = `SELECT unnest(from_json(value, '{"event_id":"VARCHAR","event_type":"VARCHAR","user_id":"BIGINT",` +
	`"session_id":"VARCHAR","event_ts":"TIMESTAMPTZ","date":"DATE","country":"VARCHAR","device":"VARCHAR",` +
	`"product_id":"VARCHAR","order_id":"VARCHAR","quantity":"INTEGER","revenue":"DECIMAL(12,2)","schema_version":"INTEGER"}'))
FROM events`

// IngestFigures are the results of BenchIngest.
type IngestFigures struct {
	Events int64
	// NDJSONBytes is the size of the events as NDJSON (the file DuckDB reads; the log holds the
	// same bytes as record values).
	NDJSONBytes int64
	// Produce is the time taken to produce the events into the log (not part of the figures).
	Produce time.Duration
	// Stream is the available-now streaming run from the log into the bronze Delta table.
	Stream                       time.Duration
	StreamEventsPerS, StreamMBPS float64
	Batches                      int64
	// DuckDB is read_json of the NDJSON file, then COPY to one Parquet file.
	DuckDB                       time.Duration
	DuckDBEventsPerS, DuckDBMBPS float64
	// Ratio is StreamEventsPerS / DuckDBEventsPerS (the goal: at least 0.6).
	Ratio float64
}

// BenchIngest measures ingesting the events from the embedded log into a bronze Delta table
// (stateless transform parsing the JSON into typed columns), beside DuckDB converting the same
// events from an NDJSON file to Parquet (read_json, then COPY), the practical ceiling.
func BenchIngest(ctx context.Context, cfg BenchConfig) (*IngestFigures, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	e, done, err := cfg.engine(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	f := &IngestFigures{Events: cfg.Events}
	ndjson := filepath.Join(cfg.Dir, "events.ndjson")
	f.Produce, f.NDJSONBytes, err = ensureEvents(ctx, &cfg, ndjson)
	if err != nil {
		return nil, err
	}
	l, err := embedded.Open(ctx, filepath.Join(cfg.Dir, "log"), embedded.CleanInterval(0))
	if err != nil {
		return nil, err
	}
	defer l.Close()

	out := filepath.Join(cfg.Dir, "ingest")
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	q := Query{
		Name: "bronze", Sources: []Source{{Name: "events", Topic: benchTopic}}, SQL: bronzeSQL,
		// Snappy, as DuckDB's COPY writes by default.
		Output:  Output{Table: filepath.Join(out, "bronze"), Properties: map[string]string{"delta.parquet.compression.codec": "snappy"}},
		Trigger: Trigger{Kind: TriggerAvailableNow},
		Limits:  Limits{MaxRecords: cfg.BatchRecords}, Checkpoint: filepath.Join(out, "ckpt"),
	}
	t0 := time.Now()
	m, err := Run(ctx, q, Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) {
		cfg.Logf("ingest batch %d: %d records in %s (read %s, transform %s, commit %s)", b.BatchID, b.InputRecords,
			b.Duration.Round(time.Millisecond), b.Read.Round(time.Millisecond), b.Transform.Round(time.Millisecond), b.Commit.Round(time.Millisecond))
	}})
	if err != nil {
		return nil, err
	}
	f.Stream, f.Batches = time.Since(t0), m.RunBatches
	if m.RunRecords != cfg.Events {
		return nil, fmt.Errorf("stream bench: ingest read %d records, want %d", m.RunRecords, cfg.Events)
	}
	f.StreamEventsPerS = float64(cfg.Events) / f.Stream.Seconds()
	f.StreamMBPS = float64(f.NDJSONBytes) / 1e6 / f.Stream.Seconds()

	duck := filepath.Join(out, "duckdb.parquet")
	t1 := time.Now()
	err = e.Run(ctx, "COPY (SELECT * FROM read_json("+quoteSQL(ndjson)+", format = 'newline_delimited')) TO "+quoteSQL(duck)+" (FORMAT parquet)",
		func(*engine.Result) error { return nil })
	if err != nil {
		return nil, fmt.Errorf("stream bench: duckdb copy: %w", err)
	}
	f.DuckDB = time.Since(t1)
	f.DuckDBEventsPerS = float64(cfg.Events) / f.DuckDB.Seconds()
	f.DuckDBMBPS = float64(f.NDJSONBytes) / 1e6 / f.DuckDB.Seconds()
	f.Ratio = f.StreamEventsPerS / f.DuckDBEventsPerS
	cfg.Logf("ingest: stream %s (%.0f events/s, %.1f MB/s, %d batches); duckdb read_json+COPY %s (%.0f events/s, %.1f MB/s); ratio %.2f",
		f.Stream.Round(time.Millisecond), f.StreamEventsPerS, f.StreamMBPS, f.Batches, f.DuckDB.Round(time.Millisecond), f.DuckDBEventsPerS, f.DuckDBMBPS, f.Ratio)
	return f, nil
}

// ReplayFigures are the results of BenchReplay.
type ReplayFigures struct {
	Events     int64
	OutputRows int64
	Elapsed    time.Duration
	EventsPerS float64
	Batches    int64
}

// BenchReplay measures re-reading the whole events topic from offset 0 through a stateless
// transform (orders only, a few derived columns) into a new table.
func BenchReplay(ctx context.Context, cfg BenchConfig) (*ReplayFigures, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	e, done, err := cfg.engine(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, _, err := ensureEvents(ctx, &cfg, ""); err != nil {
		return nil, err
	}
	l, err := embedded.Open(ctx, filepath.Join(cfg.Dir, "log"), embedded.CleanInterval(0))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	out := filepath.Join(cfg.Dir, "replay")
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	q := Query{
		Name:    "replay",
		Sources: []Source{{Name: "events", Topic: benchTopic}},
		SQL: `SELECT j.event_id, j.user_id, j.event_ts, j.country, j.product_id, j.quantity, j.revenue,
	j.revenue / j.quantity AS unit_price, "partition", "offset"
FROM (SELECT from_json(value, '{"event_id":"VARCHAR","event_type":"VARCHAR","user_id":"BIGINT","event_ts":"TIMESTAMPTZ",` +
			`"country":"VARCHAR","product_id":"VARCHAR","quantity":"INTEGER","revenue":"DECIMAL(12,2)"}') AS j, "partition", "offset" FROM events)
WHERE j.event_type = 'order'`,
		Output:  Output{Table: filepath.Join(out, "orders")},
		Trigger: Trigger{Kind: TriggerAvailableNow}, StartAt: StartEarliest,
		Limits: Limits{MaxRecords: cfg.BatchRecords}, Checkpoint: filepath.Join(out, "ckpt"),
	}
	t0 := time.Now()
	m, err := Run(ctx, q, Deps{Engine: e, Log: l})
	if err != nil {
		return nil, err
	}
	f := &ReplayFigures{Events: m.RunRecords, OutputRows: m.OutputRows, Elapsed: time.Since(t0), Batches: m.RunBatches}
	f.EventsPerS = float64(f.Events) / f.Elapsed.Seconds()
	cfg.Logf("replay: %d events in %s (%.0f events/s), %d order rows, %d batches", f.Events, f.Elapsed.Round(time.Millisecond), f.EventsPerS, f.OutputRows, f.Batches)
	return f, nil
}

// FreshnessFigures are the results of BenchFreshness.
type FreshnessFigures struct {
	// Rate is the target produce rate; Produced the events produced over Duration.
	Rate     float64
	Duration time.Duration
	Produced int64
	// P50, P99 and Max are the latencies from an event's produce call returning to the commit that
	// made it visible in a snapshot of the output table, over every event committed.
	P50, P99, Max time.Duration
	Committed     int64
	Batches       int64
}

// BenchFreshness produces generated events at a steady rate for a duration into a fresh topic
// while a low-latency query aggregates revenue per country per one-minute tumbling window in
// update mode, and measures each event's latency from produce to visible in a Delta snapshot.
func BenchFreshness(ctx context.Context, cfg BenchConfig, rate float64, duration time.Duration) (*FreshnessFigures, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if rate <= 0 || duration <= 0 {
		return nil, fmt.Errorf("stream bench: freshness needs a positive rate and duration: %w", ErrInvalidQuery)
	}
	e, done, err := cfg.engine(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	dir := filepath.Join(cfg.Dir, "freshness")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	l, err := embedded.Open(ctx, filepath.Join(dir, "log"), embedded.CleanInterval(0), embedded.SyncInterval(50*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, benchTopic, log.TopicConfig{Partitions: cfg.Partitions}); err != nil {
		return nil, err
	}

	// produced records, per partition, the produce time of each call's offsets.
	type call struct {
		from, to int64
		at       time.Time
	}
	var mu sync.Mutex
	calls := map[int32][]call{}
	var latencies []time.Duration // guarded by mu, like calls, committed and batches
	var committed int64

	qctx, stop := context.WithCancel(ctx)
	defer stop()
	q := Query{
		Name: "freshness", Sources: []Source{{Name: "events", Topic: benchTopic}}, SQL: `SELECT j.event_id, j.event_ts, j.country, j.revenue
FROM (SELECT from_json(value, '{"event_id":"VARCHAR","event_ts":"TIMESTAMPTZ","country":"VARCHAR","revenue":"DECIMAL(12,2)"}') AS j FROM events)`,
		EventTime: "event_ts", Watermark: Watermark{Delay: 5 * time.Second},
		Aggregate: &Aggregate{Window: Tumbling(time.Minute), GroupBy: []string{"country"},
			Aggs: []Agg{{Func: Sum, Column: "revenue", As: "revenue"}, {Func: Count, As: "events"}}},
		Output:  Output{Table: filepath.Join(dir, "revenue"), Mode: OutputUpdate},
		Trigger: Trigger{Kind: TriggerLowLatency}, Limits: Limits{MaxRecords: 200_000},
		StartAt: StartEarliest, Checkpoint: filepath.Join(dir, "ckpt"), PollInterval: 5 * time.Millisecond,
	}
	var batches int64
	runErr := make(chan error, 1)
	go func() {
		_, err := Run(qctx, q, Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) {
			mu.Lock()
			defer mu.Unlock()
			batches++
			if b.VisibleAt.IsZero() {
				return
			}
			for _, r := range b.Ranges {
				for _, c := range calls[r.Partition.Partition] {
					lo, hi := max(c.from, r.From), min(c.to, r.To)
					for n := lo; n < hi; n++ {
						latencies = append(latencies, b.VisibleAt.Sub(c.at))
					}
					committed += max(hi-lo, 0)
				}
			}
		}})
		runErr <- err
	}()

	g, err := gen.New(gen.Config{Seed: cfg.Seed, Start: time.Now(), Rate: rate})
	if err != nil {
		return nil, err
	}
	// Warm up: one event (not measured) through the started query, so that the query's startup
	// is not counted as latency.
	var buf []byte
	ev := g.Next()
	buf = gen.AppendJSON(buf, &ev)
	if _, err := l.Produce(ctx, benchTopic, []log.Record{{Partition: 0, Value: buf[:len(buf)-1]}}); err != nil {
		return nil, err
	}
	for {
		mu.Lock()
		n := batches
		mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case err := <-runErr:
			return nil, fmt.Errorf("stream bench: the query stopped: %w", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	const tick = 10 * time.Millisecond
	perTick := max(int(rate*tick.Seconds()), 1)
	start := time.Now()
	var produced int64
	for next := start; time.Since(start) < duration; next = next.Add(tick) {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		recs := make([]log.Record, perTick)
		for i := range recs {
			ev := g.Next()
			buf = gen.AppendJSON(buf[:0], &ev)
			recs[i] = log.Record{Partition: -1, Value: append([]byte(nil), buf[:len(buf)-1]...)}
		}
		res, err := l.Produce(ctx, benchTopic, recs)
		if err != nil {
			return nil, err
		}
		at := time.Now()
		mu.Lock()
		for _, r := range res {
			cs := calls[r.Partition]
			if k := len(cs) - 1; k >= 0 && cs[k].to == r.Offset && cs[k].at.Equal(at) {
				cs[k].to++
			} else {
				cs = append(cs, call{from: r.Offset, to: r.Offset + 1, at: at})
			}
			calls[r.Partition] = cs
		}
		mu.Unlock()
		produced += int64(len(recs))
		select {
		case err := <-runErr:
			return nil, fmt.Errorf("stream bench: the query stopped: %w", err)
		default:
		}
	}
	// Let the query catch up with the last events, then stop it.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		c := committed
		mu.Unlock()
		if c >= produced {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	f := &FreshnessFigures{Rate: rate, Duration: duration, Produced: produced, Committed: committed, Batches: batches}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		q := func(p float64) time.Duration { return latencies[min(int(p*float64(len(latencies))), len(latencies)-1)] }
		f.P50, f.P99, f.Max = q(0.50), q(0.99), latencies[len(latencies)-1]
	}
	cfg.Logf("freshness: %d events at %.0f/s for %s, %d committed in %d batches; produce->visible p50 %s p99 %s max %s",
		produced, rate, duration, committed, batches, f.P50.Round(time.Millisecond), f.P99.Round(time.Millisecond), f.Max.Round(time.Millisecond))
	return f, nil
}

const benchTopic = "events"

// ensureEvents makes sure Dir/log holds the events topic with cfg.Events generated events (and,
// when ndjson is set, that the same events are in that NDJSON file). It returns the produce time
// (0 when the topic was there) and the NDJSON size.
func ensureEvents(ctx context.Context, cfg *BenchConfig, ndjson string) (time.Duration, int64, error) {
	logDir := filepath.Join(cfg.Dir, "log")
	l, err := embedded.Open(ctx, logDir, embedded.CleanInterval(0), embedded.SyncInterval(time.Second))
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	have := int64(-1)
	if ti, err := l.DescribeTopic(ctx, benchTopic); err == nil {
		have = 0
		for _, p := range ti.Partitions {
			have += p.Latest
		}
	}
	var size int64
	fileOK := false
	if ndjson != "" {
		if st, err := os.Stat(ndjson); err == nil {
			size, fileOK = st.Size(), true
		}
	}
	if have == cfg.Events && (ndjson == "" || fileOK) {
		return 0, size, nil
	}
	if have >= 0 {
		if err := l.DeleteTopic(ctx, benchTopic); err != nil {
			return 0, 0, err
		}
	}
	if err := l.CreateTopic(ctx, benchTopic, log.TopicConfig{Partitions: cfg.Partitions}); err != nil {
		return 0, 0, err
	}
	var w *bufio.Writer
	if ndjson != "" {
		file, err := os.Create(ndjson)
		if err != nil {
			return 0, 0, err
		}
		defer file.Close()
		w = bufio.NewWriterSize(file, 4<<20)
	}
	g, err := gen.New(gen.Config{Seed: cfg.Seed})
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	const perCall = 5000
	var buf []byte
	for n := int64(0); n < cfg.Events; {
		k := int(min(perCall, cfg.Events-n))
		recs := make([]log.Record, k)
		buf = buf[:0]
		offs := make([]int, k+1)
		for i := range k {
			ev := g.Next()
			buf = gen.AppendJSON(buf, &ev)
			offs[i+1] = len(buf)
		}
		for i := range k {
			recs[i] = log.Record{Partition: -1, Value: buf[offs[i] : offs[i+1]-1 : offs[i+1]-1]}
		}
		if _, err := l.Produce(ctx, benchTopic, recs); err != nil {
			return 0, 0, err
		}
		if w != nil {
			if _, err := w.Write(buf); err != nil {
				return 0, 0, err
			}
		}
		size += int64(len(buf))
		n += int64(k)
		buf = make([]byte, 0, len(buf))
		if n%1_000_000 < perCall {
			cfg.Logf("produced %d events", n)
		}
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			return 0, 0, err
		}
	}
	return time.Since(t0), size, nil
}

func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
