package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/bench"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Strata on this machine (figures are reported, never judged)",
	}
	cmd.AddCommand(newBenchDeltaCmd(g), newBenchSQLCmd(g), newBenchPipelineCmd(g), newBenchDemoCmd(g), newBenchReliabilityCmd(g))
	return cmd
}

func newBenchDeltaCmd(g *globals) *cobra.Command {
	cfg := bench.Config{}
	var dir, only, worker string
	var keep, processes bool
	cmd := &cobra.Command{
		Use:   "delta",
		Short: "Benchmark the Delta layer: snapshot load, append throughput, concurrent commit rate",
		Long: `Benchmark the Delta layer on this machine and print the figures:

  snapshot  time to load the latest snapshot of a table with --commits commits and a checkpoint
            every --checkpoint-interval versions, and of one with the same commits and no
            checkpoint (synthetic add actions: the data files do not exist)
  append    rows/s and MB/s of table.Write appending --rows rows to a new table, beside pqarrow
            writing the same rows to one plain Parquet file with the same codec (zstd)
  commits   commits/s of --appenders concurrent blind appenders on one table (goroutines, then
            processes), attempts per commit and commit latency

Everything is written under --dir (default: a new temporary directory), removed afterwards
unless --keep. A full run takes tens of minutes on a small machine; --only runs one phase.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if worker != "" {
				out, err := bench.RunWorkerJSON(ctx, worker)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(g.stdout, string(out))
				return err
			}
			if only != "" && !isPhase(only) {
				return usageError{fmt.Errorf("--only %q: want one of %s", only, strings.Join(bench.Phases, ", "))}
			}
			if cfg.Commits < 2 || cfg.Rows < 1 || cfg.Appenders < 1 || cfg.SnapshotRuns < 1 || cfg.CheckpointInterval < 1 {
				return usageError{fmt.Errorf("--commits must be at least 2 and --rows, --appenders, --runs, --checkpoint-interval at least 1")}
			}
			cfg.Only = only
			root, cleanup, err := benchDir(dir, keep)
			if err != nil {
				return err
			}
			defer cleanup()
			cfg.Dir = root
			if processes && (only == "" || only == bench.PhaseCommits) {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench: cannot find the strata executable for worker processes: %w", err)
				}
				cfg.WorkerCommand = []string{exe, "bench", "delta"}
			}
			cfg.Observer = benchObserver{g: g}
			rep, err := bench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, benchJSON{Report: rep, Kept: keep})
			}
			return printBenchReport(g.stdout, rep, keep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Commits, "commits", bench.DefaultCommits, "commits of each snapshot-load table")
	f.IntVar(&cfg.CheckpointInterval, "checkpoint-interval", bench.DefaultCheckpointInterval, "delta.checkpointInterval of the checkpointed snapshot table")
	f.IntVar(&cfg.SnapshotRuns, "runs", bench.DefaultSnapshotRuns, "timed snapshot loads per table after the first")
	f.Int64Var(&cfg.Rows, "rows", bench.DefaultRows, "rows the append phase writes")
	f.BoolVar(&cfg.Partitioned, "partitioned", false, "also time an append into a table partitioned by country")
	f.IntVar(&cfg.Appenders, "appenders", bench.DefaultAppenders, "concurrent blind appenders of the commit phase")
	f.DurationVar(&cfg.CommitDuration, "duration", bench.DefaultCommitDuration, "how long the appenders run (each round)")
	f.IntVar(&cfg.CommitsPerAppender, "commits-per-appender", 0, "stop each appender after this many commits (0: --duration only)")
	f.BoolVar(&processes, "processes", true, "also run the appenders as separate processes")
	f.StringVar(&dir, "dir", "", "directory for the benchmark tables (absent or empty; default: a new temporary directory)")
	f.BoolVar(&keep, "keep", false, "keep the benchmark tables afterwards")
	f.StringVar(&only, "only", "", "run one phase: "+strings.Join(bench.Phases, ", "))
	f.StringVar(&worker, "worker", "", "run one appender (internal: used by the commit phase's processes)")
	_ = f.MarkHidden("worker")
	return cmd
}

func isPhase(p string) bool {
	for _, q := range bench.Phases {
		if p == q {
			return true
		}
	}
	return false
}

// benchDir returns the directory the benchmark writes to and a function that removes what the
// benchmark wrote unless keep. A given directory must be absent or empty, so that removing its
// content afterwards only removes benchmark files.
func benchDir(dir string, keep bool) (string, func(), error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "strata-bench-")
		if err != nil {
			return "", nil, fmt.Errorf("bench: temporary directory: %w", err)
		}
		if keep {
			return d, func() {}, nil
		}
		return d, func() { os.RemoveAll(d) }, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, fmt.Errorf("bench: --dir %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	created := false
	switch {
	case os.IsNotExist(err):
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return "", nil, fmt.Errorf("bench: --dir %s: %w", dir, err)
		}
		created = true
	case err != nil:
		return "", nil, fmt.Errorf("bench: --dir %s: %w", dir, err)
	case len(entries) > 0:
		return "", nil, usageError{fmt.Errorf("--dir %s is not empty; give an empty or new directory", dir)}
	}
	if keep {
		return abs, func() {}, nil
	}
	return abs, func() {
		if created {
			os.RemoveAll(abs)
			return
		}
		entries, _ := os.ReadDir(abs)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(abs, e.Name()))
		}
	}, nil
}

// benchObserver shows the benchmark's phases as progress bars (or periodic log lines when stderr is
// not a terminal) and its log lines on stderr.
type benchObserver struct{ g *globals }

func (o benchObserver) Start(desc string, total int64, unit string) bench.Tracker {
	return newProgress(desc, total, unit, o.g.quiet || o.g.json)
}

func (o benchObserver) Logf(format string, args ...any) {
	if o.g.quiet {
		return
	}
	fmt.Fprintf(o.g.stderr, "strata: bench: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// benchJSON is the --json output: the report plus whether its tables were kept.
type benchJSON struct {
	*bench.Report
	Kept bool `json:"kept"`
}

func printBenchReport(w io.Writer, rep *bench.Report, keep bool) error {
	m := rep.Machine
	fmt.Fprintf(w, "Strata Delta benchmarks: %s/%s, %d CPUs (GOMAXPROCS %d), %s, total %s\n",
		m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS, m.GoVersion, rep.Elapsed)
	if len(m.LoadBefore) > 0 && len(m.LoadAfter) > 0 {
		fmt.Fprintf(w, "load average (1/5/15 min): %s before, %s after\n", loads(m.LoadBefore), loads(m.LoadAfter))
	}
	where := "removed"
	if keep {
		where = "kept"
	}
	fmt.Fprintf(w, "tables under %s (%s)\n", m.Dir, where)
	if s := rep.Snapshot; s != nil {
		printSnapshotReport(w, s)
	}
	if a := rep.Append; a != nil {
		printAppendReport(w, a)
	}
	if c := rep.Commits; c != nil {
		printCommitReport(w, c)
	}
	return nil
}

func loads(l []float64) string {
	parts := make([]string, len(l))
	for i, v := range l {
		parts[i] = fmt.Sprintf("%.2f", v)
	}
	return strings.Join(parts, " ")
}

func printSnapshotReport(w io.Writer, s *bench.SnapshotReport) {
	fmt.Fprintf(w, "\nSNAPSHOT LOAD: latest snapshot of a %s-commit table (%d add action(s) per commit); goal: median under %.0fms with checkpoints\n",
		humanize.Comma(int64(s.Commits)), s.FilesPerCommit, s.GoalMs)
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "  TABLE\tSTARTS FROM\tLOG OBJECTS\tFILES\tFIRST\tMEDIAN\tP90\tMIN\tMAX\tCPU/LOAD")
	for _, t := range []struct {
		name string
		tl   bench.TableLoad
	}{{fmt.Sprintf("checkpoint every %d", s.Checkpointed.CheckpointInterval), s.Checkpointed}, {"no checkpoint", s.NoCheckpoint}} {
		l := t.tl.Load
		from := "version 0 (no checkpoint)"
		if l.CheckpointVersion >= 0 {
			from = fmt.Sprintf("checkpoint %d (%s) + %d commits", l.CheckpointVersion, humanBytes(l.CheckpointBytes), l.Version-l.CheckpointVersion)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.name, from, humanize.Comma(int64(l.LogObjects)), humanize.Comma(int64(l.Files)),
			l.First, l.Runs.Median, l.Runs.P90, l.Runs.Min, l.Runs.Max, l.CPU)
	}
	tw.Flush()
	goal := "met"
	if !s.GoalMet {
		goal = "NOT met"
	}
	fmt.Fprintf(w, "  without checkpoints loading is %.1fx slower; goal %s (median %s over %d runs)\n",
		s.SlowdownWithoutCheckpoints, goal, s.Checkpointed.Load.Runs.Median, s.Checkpointed.Load.Runs.N)
	b := s.Checkpointed.Build
	fmt.Fprintf(w, "  build, checkpointed table: %s commits in %s = %.1f commits/s, %d checkpoints written by the committer, commit p50 %s p99 %s\n",
		humanize.Comma(int64(b.Commits)), b.Elapsed, b.CommitsPerSec, b.Checkpoints, b.Commit.Median, b.Commit.P99)
	fmt.Fprintf(w, "    (%s)\n", b.Method)
	if sw := b.SingleWriter; sw != nil {
		fmt.Fprintf(w, "    single writer (load the latest snapshot, commit) on the last %d commits: %.1f commits/s; snapshot load p50 %s, commit p50 %s p99 %s",
			sw.Commits, sw.CommitsPerSec, sw.SnapshotLoad.Median, sw.Commit.Median, sw.Commit.P99)
		if sw.CheckpointCommit != nil {
			fmt.Fprintf(w, ", commits that checkpointed p50 %s", sw.CheckpointCommit.Median)
		}
		fmt.Fprintln(w)
	}
	if b.PostCommitErrors > 0 {
		fmt.Fprintf(w, "    %d post-commit failures, first: %s\n", b.PostCommitErrors, b.FirstPostCommitError)
	}
	nb := s.NoCheckpoint.Build
	fmt.Fprintf(w, "  build, no-checkpoint table: commit 0 created, commits 1..%d copied from the checkpointed table in %s\n", nb.Commits-1, nb.Elapsed)
	fmt.Fprintf(w, "    (committing them one by one would replay the whole log for every commit)\n")
	fmt.Fprintf(w, "  note: %s\n", s.Note)
}

func printAppendReport(w io.Writer, a *bench.AppendReport) {
	fmt.Fprintf(w, "\nAPPEND: %s rows, %d columns, %s of Arrow data in %d batches of %s rows (generated in %s), codec %s\n",
		humanize.Comma(a.Rows), a.Columns, mb(a.ArrowBytes), a.Batches, humanize.Comma(int64(a.BatchRows)), a.Generate, a.Codec)
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "  WRITE\tTIME\tCPU\tROWS/S\tPARQUET MB/S\tARROW MB/S\tFILES\tPARQUET SIZE\tVS PLAIN")
	row := func(f *bench.WriteFigures, ratio float64) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%.1f\t%.1f\t%d\t%s\t%.2fx\n", f.Method, f.Elapsed, f.CPU, humanize.Comma(int64(f.RowsPerSec)),
			f.OutputMBPerSec, f.InputMBPerSec, f.Files, mb(f.OutputBytes), ratio)
	}
	row(&a.Delta, a.DeltaOverhead)
	row(&a.Plain, 1)
	if a.Partitioned != nil {
		row(a.Partitioned, a.PartitionedOverhead)
	}
	tw.Flush()
	fmt.Fprintf(w, "  Delta overhead: the Delta append takes %.2fx the time (%.2fx the CPU) of the plain Parquet write (MB = 10^6 bytes)\n", a.DeltaOverhead, a.DeltaCPUOverhead)
}

func printCommitReport(w io.Writer, c *bench.CommitReport) {
	fmt.Fprintf(w, "\nCOMMITS: %d concurrent blind appenders, %d rows per appended file\n", c.Appenders, c.RowsPerCommit)
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "  MODE\tWINDOW\tCOMMITS\tCOMMITS/S\tATTEMPTS/COMMIT\tMAX ATTEMPTS\tCOMMIT P50\tCOMMIT P99\tAPPEND P50\tAPPEND P99\tCHECKPOINTS\tFAILURES")
	for _, r := range []*bench.CommitRound{&c.Goroutines, c.Processes} {
		if r == nil {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%.1f\t%.2f\t%d\t%s\t%s\t%s\t%s\t%d\t%d\n", r.Mode, r.Window, humanize.Comma(int64(r.Commits)), r.CommitsPerSec,
			r.AttemptsPerCommit, r.MaxAttempts, r.CommitLatency.Median, r.CommitLatency.P99, r.AppendLatency.Median, r.AppendLatency.P99, r.Checkpoints, r.Failures)
	}
	tw.Flush()
	for _, r := range []*bench.CommitRound{&c.Goroutines, c.Processes} {
		if r != nil && r.Elapsed > r.Window+bench.Millis(time.Second) {
			fmt.Fprintf(w, "  %s: the last append in flight at the end of the window finished %s after the start (slow retries)\n", r.Mode, r.Elapsed)
		}
		if r != nil && r.FirstError != "" {
			fmt.Fprintf(w, "  %s: first failure: %s\n", r.Mode, r.FirstError)
		}
	}
	fmt.Fprintf(w, "  note: %s\n", c.Note)
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
