package cli

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/bench"
	"github.com/stratalake/strata/internal/pipeline"
)

// The pipeline benchmark's modes.
const (
	benchModeStream = "stream"
	benchModeBatch  = "batch"
	benchModeBoth   = "both"
)

func newBenchPipelineCmd(g *globals) *cobra.Command {
	cfg := pipeline.BenchConfig{}
	var mode, dir, cpuProfile string
	var keep bool
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Benchmark the example pipeline: stream-mode latency to gold, batch throughput beside DuckDB",
		Long: `Benchmark the example pipeline (examples/medallion: bronze from the events topic, silver parsed,
validated and deduplicated, gold aggregates) on generated e-commerce events (see strata gen events)
and print the figures (reported, never judged):

  stream  the pipeline runs in stream mode, in this process, on the project's embedded log, while a
          producer appends events at a steady --rate for --duration; every --sample-every-th event
          is a marker (a unique user_id) whose latency from its produce call to the first version of
          each table holding it is measured (bronze, silver, gold.user_stats, gold.user_daily_stats):
          p50, p90, p99, max; goal: p99 to gold under 1 s
  batch   --events events are written to NDJSON files and produced to the topic; a batch run of the
          pipeline is timed (events/s, MB/s, per-flow times), beside DuckDB running the equivalent
          SQL over the same files (bronze, silver with DISTINCT ON event_id, the gold views, each
          written to Parquet with COPY); the row counts and sums of silver and gold are compared

Everything is written under --dir (default: a new temporary directory), removed afterwards unless
--keep. The full run (50,000 events/s for a minute, then 10M events) takes a while on a small
machine; the producer and DuckDB share its cores with the pipeline.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if mode != benchModeStream && mode != benchModeBatch && mode != benchModeBoth {
				return usageError{fmt.Errorf("--mode %q: want stream, batch or both", mode)}
			}
			if cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Events < 1 || cfg.SampleEvery < 1 || cfg.Partitions < 1 || cfg.Days < 1 {
				return usageError{fmt.Errorf("--rate, --duration, --events, --sample-every, --partitions and --days must be positive")}
			}
			if cfg.Example == "" {
				ex, err := pipeline.FindExample()
				if err != nil {
					return usageError{fmt.Errorf("%w: give --example DIR", err)}
				}
				cfg.Example = ex
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			root, cleanup, err := benchDir(dir, keep)
			if err != nil {
				return err
			}
			defer cleanup()
			cfg.Dir = root
			cfg.Logf = benchObserver{g: g}.Logf
			start := time.Now()
			rep := &pipelineBenchReport{Machine: bench.Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(),
				NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Dir: root}, Example: cfg.Example, Kept: keep}
			if mode != benchModeBatch {
				if rep.Stream, err = pipeline.BenchStream(ctx, cfg); err != nil {
					return err
				}
			}
			if mode != benchModeStream {
				if rep.Batch, err = pipeline.BenchBatch(ctx, cfg); err != nil {
					return err
				}
			}
			rep.Elapsed = bench.Millis(time.Since(start))
			if g.json {
				return writeJSON(g.stdout, rep)
			}
			printPipelineBenchReport(g.stdout, rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&mode, "mode", benchModeBoth, "stream, batch or both")
	f.Float64Var(&cfg.Rate, "rate", 50_000, "stream: events produced per second")
	f.DurationVar(&cfg.Duration, "duration", time.Minute, "stream: how long the producer runs")
	f.Int64Var(&cfg.SampleEvery, "sample-every", 1000, "stream: every Nth event is a latency marker")
	f.DurationVar(&cfg.PollInterval, "poll-interval", 0, "stream: the pipeline's poll interval (0: its default, 100ms)")
	f.DurationVar(&cfg.Drain, "drain", 3*time.Minute, "stream: how long to wait for the flows to catch up after production")
	f.Int64Var(&cfg.Events, "events", 10_000_000, "batch: events generated and run through the pipeline")
	f.IntVar(&cfg.Days, "days", 1, "batch: days of event time the events span")
	f.IntVar(&cfg.Partitions, "partitions", 4, "partitions of the events topic")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the generated events")
	f.StringVar(&cfg.Example, "example", "", "the example project folder (default: examples/medallion of this checkout)")
	f.StringVar(&dir, "dir", "", "directory for the benchmark projects (absent or empty; default: a new temporary directory)")
	f.BoolVar(&keep, "keep", false, "keep the benchmark projects afterwards")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of this process to FILE (DuckDB's own work shows as cgo calls)")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}

// pipelineBenchReport is what strata bench pipeline prints (--json: as is).
type pipelineBenchReport struct {
	Machine bench.Machine           `json:"machine"`
	Example string                  `json:"example"`
	Stream  *pipeline.StreamFigures `json:"stream,omitempty"`
	Batch   *pipeline.BatchFigures  `json:"batch,omitempty"`
	Elapsed bench.Millis            `json:"elapsedMs"`
	Kept    bool                    `json:"kept"`
}

func printPipelineBenchReport(w io.Writer, rep *pipelineBenchReport) {
	m := rep.Machine
	fmt.Fprintf(w, "Strata pipeline benchmarks: %s/%s, %d CPUs (GOMAXPROCS %d), %s, total %s\n",
		m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS, m.GoVersion, rep.Elapsed)
	where := "removed"
	if rep.Kept {
		where = "kept"
	}
	fmt.Fprintf(w, "example %s; projects under %s (%s)\n", rep.Example, m.Dir, where)
	if s := rep.Stream; s != nil {
		printStreamBench(w, s)
	}
	if b := rep.Batch; b != nil {
		printBatchBench(w, b)
	}
}

func printStreamBench(w io.Writer, s *pipeline.StreamFigures) {
	poll := "default"
	if s.PollInterval > 0 {
		poll = s.PollInterval.String()
	}
	fmt.Fprintf(w, "\nSTREAM: the example pipeline in stream mode at %s events/s for %s (embedded log; poll interval %s); goal: p99 produce -> gold under 1s\n",
		humanize.Comma(int64(s.TargetRate)), s.Elapsed, poll)
	fmt.Fprintf(w, "  produced %s events = %s/s (%.3fx the target); producer busy %.0f%% of the window; CPU %.2f of %d cores\n",
		humanize.Comma(s.Produced), humanize.Comma(int64(s.AchievedRate)), s.RateRatio, 100*s.ProducerBusy, s.CPUCores, s.NumCPU)
	if len(s.LoadBefore) > 0 {
		fmt.Fprintf(w, "  load average (1/5/15 min): %s before, %s after; peak RSS %s\n", loads(s.LoadBefore), loads(s.LoadAfter), humanBytes(s.PeakRSS))
	}
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "  PRODUCE -> VISIBLE IN\tMARKERS\tMISSING\tP50\tP90\tP99\tMAX\tMEAN")
	for _, l := range s.Stages {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", l.Table, l.Samples, l.Missing, l.P50, l.P90, l.P99, l.Max, l.Mean)
	}
	tw.Flush()
	goal := "met"
	if !s.GoalMet {
		goal = "NOT met"
	}
	drained := fmt.Sprintf("every flow caught up %s after production stopped", s.DrainTime)
	if !s.Drained {
		drained = fmt.Sprintf("the flows had NOT caught up %s after production stopped", s.DrainTime)
	}
	fmt.Fprintf(w, "  goal %s (gold.user_stats p99 %s over %d of %d markers); %s\n", goal, s.Gold.P99, s.Gold.Samples, s.Markers, drained)
	tw = newTabWriter(w)
	fmt.Fprintln(tw, "  FLOW\tEXECUTION\tBATCHES\tROWS IN\tROWS OUT\tBATCH P50\tBATCH P99\tBATCH MAX\tSTATUS")
	for _, f := range s.Flows {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, f.Execution, humanize.Comma(f.Batches), humanize.Comma(f.RowsIn),
			humanize.Comma(f.RowsOut), f.BatchP50, f.BatchP99, f.BatchMax, f.Status)
	}
	tw.Flush()
	fmt.Fprintf(w, "  (rows over the whole run, warm-up and drain included; an incremental view's rows out are the groups it rewrote)\n")
	fmt.Fprintf(w, "  method: %s\n", s.Method)
}

func printBatchBench(w io.Writer, b *pipeline.BatchFigures) {
	fmt.Fprintf(w, "\nBATCH: %s events in %d NDJSON files (%s), generated and produced to the topic in %s (not counted)\n",
		humanize.Comma(b.Events), b.Files, mb(b.NDJSONBytes), b.Generate)
	if len(b.LoadBefore) > 0 {
		fmt.Fprintf(w, "  load average (1/5/15 min): %s before, %s after\n", loads(b.LoadBefore), loads(b.LoadAfter))
	}
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "  SYSTEM\tTIME\tEVENTS/S\tMB/S\tCPU\tPEAK RSS\tPIPELINE / THIS")
	fmt.Fprintf(tw, "  strata pipeline run (batch)\t%s\t%s\t%.1f\t%s\t%s\t%.2fx\n", b.Pipeline, humanize.Comma(int64(b.PipelineEventsPerS)), b.PipelineMBPS,
		b.PipelineCPU, humanBytes(b.PipelinePeakRSS), 1.0)
	fmt.Fprintf(tw, "  duckdb, equivalent SQL (bronze, silver, gold)\t%s\t%s\t%.1f\t%s\t%s\t%.2fx\n", b.DuckDB, humanize.Comma(int64(b.DuckDBEventsPerS)), b.DuckDBMBPS,
		b.DuckDBCPU, humanBytes(b.DuckDBPeakRSS), b.Ratio)
	fmt.Fprintf(tw, "  duckdb, without the bronze copy\t%s\t%s\t%.1f\t\t\t%.2fx\n", b.DuckDBNoBronze,
		humanize.Comma(int64(float64(b.Events)/b.DuckDBNoBronze.D().Seconds())), float64(b.NDJSONBytes)/1e6/b.DuckDBNoBronze.D().Seconds(), b.RatioNoBronze)
	tw.Flush()
	tw = newTabWriter(w)
	fmt.Fprintln(tw, "  FLOW\tEXECUTION\tBATCHES\tROWS IN\tROWS OUT\tTIME\tSTATUS\t\tDUCKDB STEP\tTIME")
	for i := 0; i < max(len(b.Flows), len(b.DuckDBSteps)); i++ {
		left, right := "\t\t\t\t\t\t", "\t"
		if i < len(b.Flows) {
			f := b.Flows[i]
			left = fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", f.Name, f.Execution, humanize.Comma(f.Batches), humanize.Comma(f.RowsIn), humanize.Comma(f.RowsOut), f.Duration, f.Status)
		}
		if i < len(b.DuckDBSteps) {
			s := b.DuckDBSteps[i]
			right = s.Name + "\t" + s.Elapsed.String()
		}
		fmt.Fprintf(tw, "  %s\t\t%s\n", left, right)
	}
	tw.Flush()
	tw = newTabWriter(w)
	fmt.Fprintln(tw, "  CHECK\tFIGURE\tPIPELINE\tDUCKDB\t")
	for _, c := range b.Checks {
		for i, name := range c.Figures {
			mark := ""
			if i < len(c.Pipeline) && i < len(c.DuckDB) && c.Pipeline[i] != c.DuckDB[i] {
				mark = "DIFFERENT"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Table, name, at(c.Pipeline, i), at(c.DuckDB, i), mark)
		}
	}
	tw.Flush()
	agree := "agree"
	if !b.Equal {
		agree = "DIFFER"
	}
	fmt.Fprintf(w, "  the pipeline's tables and DuckDB's outputs %s; the pipeline takes %.2fx DuckDB's time (%.2fx without the bronze copy)\n",
		agree, b.Ratio, b.RatioNoBronze)
	for _, s := range b.DuckDBSteps {
		fmt.Fprintf(w, "  duckdb %s: %s\n", s.Name, oneLineText(s.SQL))
	}
}

func at(vals []string, i int) string {
	if i < len(vals) {
		return vals[i]
	}
	return ""
}
