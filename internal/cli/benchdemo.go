package cli

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/platform"
)

func newBenchDemoCmd(g *globals) *cobra.Command {
	cfg := platform.BenchConfig{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Benchmark the e-commerce demo: gold-table freshness under a generator, serving latency under load, CPU and memory",
		Long: `Run the e-commerce demo in this process with its generator at --rate events per second for
--duration (after --warmup), while a load generator on loopback sends --requests requests per second
to the project's serving endpoint (/api/users/{id}/stats). Reports the gold tables' data freshness
(p50/p99, sampled every second), the endpoint's latency (p50/p99) while ingesting and, as the
reference, once the pipelines are idle, and the process's CPU and memory. Nothing is asserted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !g.quiet {
				cfg.Logger = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			fig, err := platform.Bench(cmd.Context(), cfg)
			if fig != nil {
				if g.json {
					if jerr := writeJSON(g.stdout, fig); jerr != nil {
						return jerr
					}
				} else {
					printBenchDemo(g.stdout, fig)
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Dir, "dir", "", "demo project folder (default: a temporary folder, removed afterwards)")
	fl.Float64Var(&cfg.Rate, "rate", 20_000, "generated events per second")
	fl.DurationVar(&cfg.Duration, "duration", 60*time.Second, "how long the measured phase lasts")
	fl.DurationVar(&cfg.Warmup, "warmup", 20*time.Second, "how long the platform runs before measuring")
	fl.IntVar(&cfg.Requests, "requests", 200, "serving requests per second (open loop)")
	fl.IntVar(&cfg.Users, "users", 20_000, "generated customers (the load asks for random ones)")
	fl.StringVar(&cfg.MemoryLimit, "memory-limit", "4GB", "DuckDB memory limit")
	return cmd
}

func printBenchDemo(w io.Writer, f *platform.BenchFigures) {
	fmt.Fprintf(w, "demo at %.0f events/s for %.0f s (produced %.0f events/s), %d-core machine, load average %v\n",
		f.Rate, f.DurationS, f.ProducedRate, f.NumCPU, f.LoadAvg)
	fmt.Fprintf(w, "gold freshness (s): all p50 %.1f p99 %.1f max %.1f over %d samples\n", f.FreshnessAll.P50, f.FreshnessAll.P99, f.FreshnessAll.Max, f.FreshnessAll.N)
	names := make([]string, 0, len(f.FreshnessS))
	for n := range f.FreshnessS {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		q := f.FreshnessS[n]
		fmt.Fprintf(w, "  %-34s p50 %6.1f  p99 %6.1f  max %6.1f\n", n, q.P50, q.P99, q.Max)
	}
	for _, l := range []platform.LoadFigures{f.Load, f.Reference} {
		fmt.Fprintf(w, "%s %-9s %d requests (%.0f/s, %d from the cache), %d errors: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
			f.Endpoint, l.Phase, l.Sent, l.AchievedRPS, l.FromCache, l.Errors, l.LatencyMS.P50, l.LatencyMS.P99, l.LatencyMS.Max)
	}
	fmt.Fprintf(w, "the pipelines caught up %.0f s after the generator stopped; p99 while ingesting / p99 idle: %.2fx\n", f.DrainS, f.P99Ratio)
	fmt.Fprintf(w, "process: %.2f cores, RSS p50 %.0f MB, max %.0f MB, peak %.0f MB\n", f.CPUCores, f.RSSMB.P50, f.RSSMB.Max, f.PeakRSSMB)
}
