package stream

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestBenchSmoke runs tiny versions of the streaming benchmarks, to keep them working.
func TestBenchSmoke(t *testing.T) {
	ctx := testCtx(t)
	e := openEngine(t)
	cfg := BenchConfig{Dir: t.TempDir(), Events: 20_000, Partitions: 2, BatchRecords: 8_000, Engine: e, Logf: t.Logf}
	in, err := BenchIngest(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if in.Batches < 3 || in.NDJSONBytes == 0 || in.DuckDB <= 0 {
		t.Errorf("ingest figures %+v", in)
	}
	rows := queryRows(t, e, "SELECT count(*), count(DISTINCT event_id) FROM delta_scan("+sqlString(cfg.Dir+"/ingest/bronze")+")")
	if rows[0] != "20000\t20000" {
		t.Errorf("bronze table: %v", rows)
	}
	re, err := BenchReplay(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if re.Events != cfg.Events || re.OutputRows == 0 || re.OutputRows >= re.Events {
		t.Errorf("replay figures %+v", re)
	}
	fr, err := BenchFreshness(ctx, cfg, 2_000, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if fr.Committed != fr.Produced || fr.P50 <= 0 || fr.P99 < fr.P50 {
		t.Errorf("freshness figures %+v", fr)
	}
}

// benchConfig reads the benchmarks' sizes from the environment: STRATA_STREAM_BENCH_EVENTS
// (default 1,000,000 here; the figure is 10,000,000) and STRATA_STREAM_BENCH_DIR (a folder
// kept between runs, so that the topic is produced once).
func benchConfig(b *testing.B) BenchConfig {
	n, err := strconv.ParseInt(os.Getenv("STRATA_STREAM_BENCH_EVENTS"), 10, 64)
	if err != nil {
		n = 1_000_000
	}
	dir := os.Getenv("STRATA_STREAM_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	return BenchConfig{Dir: dir, Events: n, Logf: b.Logf}
}

func BenchmarkIngest(b *testing.B) {
	cfg := benchConfig(b)
	for b.Loop() {
		f, err := BenchIngest(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(f.StreamEventsPerS, "events/s")
		b.ReportMetric(f.StreamMBPS, "MB/s")
		b.ReportMetric(f.DuckDBEventsPerS, "duckdb-events/s")
		b.ReportMetric(f.Ratio, "ratio")
	}
}

func BenchmarkReplay(b *testing.B) {
	cfg := benchConfig(b)
	for b.Loop() {
		f, err := BenchReplay(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(f.EventsPerS, "events/s")
	}
}

// BenchmarkFreshness produces STRATA_STREAM_BENCH_RATE events/s (default 100,000) for
// STRATA_STREAM_BENCH_SECONDS (default 60).
func BenchmarkFreshness(b *testing.B) {
	cfg := benchConfig(b)
	rate, err := strconv.ParseFloat(os.Getenv("STRATA_STREAM_BENCH_RATE"), 64)
	if err != nil {
		rate = 100_000
	}
	secs, err := strconv.Atoi(os.Getenv("STRATA_STREAM_BENCH_SECONDS"))
	if err != nil {
		secs = 60
	}
	for b.Loop() {
		f, err := BenchFreshness(b.Context(), cfg, rate, time.Duration(secs)*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(f.P50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(f.P99.Microseconds())/1000, "p99-ms")
	}
}
