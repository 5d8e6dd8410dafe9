package pipeline

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// exampleDir is the example pipeline the benchmarks run, from this package's folder.
var exampleDir = filepath.Join("..", "..", "examples", "medallion")

// TestBenchSmoke runs tiny versions of the pipeline benchmarks, to keep them working, and checks
// that their figures are sane: every produced marker found in every table, latencies ordered, the
// batch run's silver and gold tables equal to DuckDB's over the same files. It asserts no timing.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the example pipeline twice")
	}
	ctx := t.Context()
	dir := t.TempDir()
	cfg := BenchConfig{Dir: dir, Example: exampleDir, Partitions: 2, Rate: 2_000, Duration: 2 * time.Second,
		SampleEvery: 50, PollInterval: 20 * time.Millisecond, Drain: time.Minute, Events: 20_000, FileEvents: 8_000, Logf: t.Logf}

	s, err := BenchStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Produced == 0 || s.Markers != (s.Produced+cfg.SampleEvery-1)/cfg.SampleEvery || !s.Drained {
		t.Errorf("stream: produced %d events, %d markers, drained %v", s.Produced, s.Markers, s.Drained)
	}
	wantStages := []string{benchBronze, benchSilver, benchDaily, benchUserStats}
	if len(s.Stages) != len(wantStages) {
		t.Errorf("stream: stages %+v, want %v", s.Stages, wantStages)
	}
	for _, st := range s.Stages {
		if st.Samples != int(s.Markers) || st.Missing != 0 {
			t.Errorf("stream: %s: %d markers found, %d missing, of %d", st.Table, st.Samples, st.Missing, s.Markers)
		}
		if st.P50 <= 0 || st.P90 < st.P50 || st.P99 < st.P90 || st.Max < st.P99 {
			t.Errorf("stream: %s: latencies out of order: %+v", st.Table, st)
		}
	}
	if s.Gold.Table != benchUserStats || s.Gold.Samples == 0 {
		t.Errorf("stream: gold figures %+v", s.Gold)
	}
	// Gold reads silver, which is fused onto bronze's topic: a marker reaches gold after silver.
	for _, st := range s.Stages {
		if st.Table == benchSilver && st.P50 > s.Gold.P50 {
			t.Errorf("stream: silver p50 %s after gold p50 %s", st.P50, s.Gold.P50)
		}
	}
	for _, fl := range s.Flows {
		if fl.Batches == 0 {
			t.Errorf("stream: flow %s ran no batch", fl.Name)
		}
	}
	t.Logf("stream: %+v", s)

	b, err := BenchBatch(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.Files != 3 || b.NDJSONBytes == 0 || b.Pipeline <= 0 || b.DuckDB <= 0 || b.Ratio <= 0 {
		t.Errorf("batch figures %+v", b)
	}
	if len(b.Checks) != len(benchChecks) || !b.Equal {
		t.Errorf("batch: the pipeline's tables and DuckDB's differ: %+v", b.Checks)
	}
	for _, c := range b.Checks {
		if n, err := strconv.Atoi(c.Pipeline[0]); err != nil || n == 0 {
			t.Errorf("batch: %s has %s rows", c.Table, c.Pipeline[0])
		}
	}
	for _, fl := range b.Flows {
		if fl.Status != "ok" || fl.Batches == 0 {
			t.Errorf("batch: flow %+v", fl)
		}
	}
	t.Logf("batch: %+v", b)
}

// benchConfig reads the benchmarks' sizes from the environment: STRATA_PIPELINE_BENCH_RATE
// (default 50,000 events/s), STRATA_PIPELINE_BENCH_SECONDS (default 60),
// STRATA_PIPELINE_BENCH_EVENTS (default 1,000,000 here; the figure is 10,000,000) and
// STRATA_PIPELINE_BENCH_DIR (default: a temporary folder).
func benchConfig(b *testing.B) BenchConfig {
	cfg := BenchConfig{Example: exampleDir, Events: 1_000_000, Logf: b.Logf}
	if v, err := strconv.ParseFloat(os.Getenv("STRATA_PIPELINE_BENCH_RATE"), 64); err == nil {
		cfg.Rate = v
	}
	if v, err := strconv.Atoi(os.Getenv("STRATA_PIPELINE_BENCH_SECONDS")); err == nil {
		cfg.Duration = time.Duration(v) * time.Second
	}
	if v, err := strconv.ParseInt(os.Getenv("STRATA_PIPELINE_BENCH_EVENTS"), 10, 64); err == nil {
		cfg.Events = v
	}
	cfg.Dir = os.Getenv("STRATA_PIPELINE_BENCH_DIR")
	if cfg.Dir == "" {
		cfg.Dir = b.TempDir()
	}
	return cfg
}

// BenchmarkPipelineStream: the example pipeline in stream mode at a steady rate; reports the
// produce-to-gold latency.
func BenchmarkPipelineStream(b *testing.B) {
	cfg := benchConfig(b)
	for b.Loop() {
		f, err := BenchStream(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(f.AchievedRate, "events/s")
		b.ReportMetric(float64(f.Gold.P50.D().Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(f.Gold.P99.D().Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(f.Gold.Missing), "missing")
	}
}

// BenchmarkPipelineBatch: the example pipeline in batch mode, beside DuckDB over the same files.
func BenchmarkPipelineBatch(b *testing.B) {
	cfg := benchConfig(b)
	for b.Loop() {
		f, err := BenchBatch(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(f.PipelineEventsPerS, "events/s")
		b.ReportMetric(f.DuckDBEventsPerS, "duckdb-events/s")
		b.ReportMetric(f.Ratio, "ratio")
	}
}
