package cli

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/bench"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

func newBenchSQLCmd(g *globals) *cobra.Command {
	cfg := bench.SQLConfig{}
	var dir, worker, cpuProfile string
	var keep, processes bool
	cmd := &cobra.Command{
		Use:   "sql",
		Short: "Benchmark SQL over Delta tables: user_stats aggregation, MERGE and OPTIMIZE, beside plain DuckDB",
		Long: `Benchmark Strata's SQL engine on generated e-commerce events (see strata gen events) and print
the figures (reported, never judged):

  aggregate  the seed's user_stats query (events, revenue and distinct sessions per user per day)
             over a --rows table partitioned by date, through Strata's engine, beside plain DuckDB
             reading exactly the same Parquet files (the date given per partition as the engine
             gives it, and parsed from hive paths); median of --runs runs after a warm-up
  merge      MERGE of --merge-fraction changed keys plus a few new rows into that table, beside
             DuckDB applying the same change by hand (find the touched files, rewrite them with
             COPY); each run in its own process on a fresh copy of the table, with its peak RSS
  optimize   OPTIMIZE of a table of --small-files small files, beside DuckDB compacting the
             same files with COPY, each run in its own process

The merge and optimize processes run DuckDB with --memory-limit, so that it spills instead of
growing. Everything is written under --dir (default: a new temporary directory), removed
afterwards unless --keep. The full run (20M rows) takes a while on a small machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			if worker != "" {
				out, err := bench.RunSQLWorker(ctx, worker, sqlBenchDriver{})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(g.stdout, string(out))
				return err
			}
			if cfg.Only != "" && !containsString(bench.SQLPhases, cfg.Only) {
				return usageError{fmt.Errorf("--only %q: want one of %s", cfg.Only, strings.Join(bench.SQLPhases, ", "))}
			}
			if cfg.Rows < 1 || cfg.Runs < 1 || cfg.MergeRuns < 1 || cfg.OptimizeRuns < 1 || cfg.SmallFiles < 1 || cfg.SmallFileRows < 1 || cfg.Days < 1 {
				return usageError{fmt.Errorf("--rows, --days, --runs, --merge-runs, --optimize-runs, --small-files and --small-file-rows must be at least 1")}
			}
			if cfg.MergeFraction <= 0 || cfg.MergeFraction > 1 {
				return usageError{fmt.Errorf("--merge-fraction must be in (0, 1]")}
			}
			root, cleanup, err := benchDir(dir, keep)
			if err != nil {
				return err
			}
			defer cleanup()
			cfg.Dir = root
			cfg.Driver = sqlBenchDriver{}
			if processes {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench: cannot find the strata executable for worker processes: %w", err)
				}
				cfg.WorkerCommand = []string{exe, "bench", "sql"}
			}
			cfg.Observer = benchObserver{g: g}
			rep, err := bench.RunSQL(ctx, cfg)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, sqlBenchJSON{SQLReport: rep, Kept: keep})
			}
			return printSQLBenchReport(g.stdout, rep, keep)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&cfg.Rows, "rows", bench.DefaultSQLRows, "events in the aggregated and merged table")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the generated events")
	f.IntVar(&cfg.Days, "days", bench.DefaultSQLDays, "days (date partitions) the events span")
	f.IntVar(&cfg.Runs, "runs", bench.DefaultSQLRuns, "timed runs of each aggregation query (after a warm-up run)")
	f.IntVar(&cfg.MergeRuns, "merge-runs", bench.DefaultMergeRuns, "timed MERGE runs of each method")
	f.Float64Var(&cfg.MergeFraction, "merge-fraction", bench.DefaultMergeFraction, "share of the table's events the MERGE changes")
	f.Int64Var(&cfg.MergeNewRows, "merge-new-rows", 0, "new events the MERGE inserts (default rows/10000)")
	f.IntVar(&cfg.SmallFiles, "small-files", bench.DefaultSmallFiles, "files of the OPTIMIZE table")
	f.IntVar(&cfg.SmallFileRows, "small-file-rows", bench.DefaultSmallFileRows, "events per small file")
	f.IntVar(&cfg.SmallFilesPerCommit, "small-files-per-commit", bench.DefaultSmallFilesPerCommit, "small files added per commit")
	f.IntVar(&cfg.OptimizeRuns, "optimize-runs", bench.DefaultOptimizeRuns, "timed OPTIMIZE runs")
	f.StringVar(&cfg.Limits.MemoryLimit, "memory-limit", bench.DefaultSQLMemoryLimit, "DuckDB memory_limit of the merge and optimize processes")
	f.IntVar(&cfg.Limits.Threads, "threads", 0, "DuckDB threads (default: one per CPU)")
	f.BoolVar(&processes, "processes", true, "run each merge and optimize run in its own process (measures peak RSS)")
	f.StringVar(&dir, "dir", "", "directory for the benchmark project (absent or empty; default: a new temporary directory)")
	f.BoolVar(&keep, "keep", false, "keep the benchmark project afterwards")
	f.StringVar(&cfg.Only, "only", "", "run one phase: "+strings.Join(bench.SQLPhases, ", "))
	f.StringVar(&worker, "worker", "", "run one timed run from a spec file (internal: used by the merge and optimize phases)")
	_ = f.MarkHidden("worker")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of this process to FILE (DuckDB's own work shows as cgo calls)")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}

// startCPUProfile starts a Go CPU profile into path and returns the function that ends it.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// sqlBenchDriver opens Strata's engine and a plain DuckDB for the SQL benchmark.
type sqlBenchDriver struct{}

// OpenStrata opens the engine on the benchmark's project.
func (sqlBenchDriver) OpenStrata(ctx context.Context, projectDir string, limits bench.SQLLimits) (bench.SQLSession, error) {
	p, err := project.Load(projectDir)
	if err != nil {
		return nil, err
	}
	e, err := engine.Open(ctx, engine.Options{Project: p, Threads: limits.Threads, MemoryLimit: limits.MemoryLimit})
	if err != nil {
		return nil, err
	}
	return &strataBenchSession{e: e}, nil
}

// OpenDuckDB opens a plain in-memory DuckDB with one connection.
func (sqlBenchDriver) OpenDuckDB(ctx context.Context, limits bench.SQLLimits) (bench.SQLSession, error) {
	settings := []string{"SET TimeZone = 'UTC'"}
	if limits.Threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", limits.Threads))
	}
	if limits.MemoryLimit != "" {
		settings = append(settings, "SET memory_limit = '"+strings.ReplaceAll(limits.MemoryLimit, "'", "''")+"'")
	}
	if limits.TempDir != "" {
		settings = append(settings, "SET temp_directory = '"+strings.ReplaceAll(limits.TempDir, "'", "''")+"'")
	}
	connector, err := duckdb.NewConnector("", func(execer driver.ExecerContext) error {
		for _, s := range settings {
			if _, err := execer.ExecContext(ctx, s, nil); err != nil {
				return fmt.Errorf("duckdb: %s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	conn, err := connector.Connect(ctx)
	if err != nil {
		connector.Close()
		return nil, err
	}
	ar, err := duckdb.NewArrowFromConn(conn)
	if err != nil {
		conn.Close()
		connector.Close()
		return nil, err
	}
	return &duckBenchSession{connector: connector, conn: conn, arrow: ar}, nil
}

// strataBenchSession runs scripts through the engine.
type strataBenchSession struct{ e *engine.Engine }

func (s *strataBenchSession) Run(ctx context.Context, script string, keep int) (*bench.SQLOutcome, error) {
	out := &bench.SQLOutcome{}
	err := s.e.Run(ctx, script, func(res *engine.Result) error {
		if res.Records == nil {
			out.Message, out.Fields = res.Message, res.Fields
			return nil
		}
		out.Values = nil
		return drainRecords(res.Records, keep, out)
	})
	return out, err
}

func (s *strataBenchSession) Close() error { return s.e.Close() }

// duckBenchSession runs scripts on one connection of a plain DuckDB: queries through its Arrow
// interface (as the engine reads results), other statements with Exec.
type duckBenchSession struct {
	connector *duckdb.Connector
	conn      driver.Conn
	arrow     *duckdb.Arrow
}

func (s *duckBenchSession) Run(ctx context.Context, script string, keep int) (*bench.SQLOutcome, error) {
	out := &bench.SQLOutcome{}
	for _, st := range strings.Split(script, ";\n") {
		st = strings.TrimSpace(st)
		if st == "" {
			continue
		}
		head := strings.ToUpper(strings.Fields(st)[0])
		if head != "SELECT" && head != "WITH" && head != "FROM" && !strings.HasPrefix(head, "(") {
			if _, err := s.conn.(driver.ExecerContext).ExecContext(ctx, st, nil); err != nil {
				return nil, err
			}
			continue
		}
		rr, err := s.arrow.QueryContext(ctx, st)
		if err != nil {
			return nil, err
		}
		out.Values = nil
		err = drainRecords(rr, keep, out)
		rr.Release()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *duckBenchSession) Close() error {
	s.conn.Close()
	return s.connector.Close()
}

// drainRecords reads every batch of rr, counting rows and keeping the values of the first keep
// rows as text.
func drainRecords(rr array.RecordReader, keep int, out *bench.SQLOutcome) error {
	for rr.Next() {
		rec := rr.RecordBatch()
		out.Rows += rec.NumRows()
		for i := 0; i < int(rec.NumRows()) && len(out.Values) < keep; i++ {
			row := make([]string, rec.NumCols())
			for c := range row {
				row[c] = strings.Clone(textValue(rec.Column(c), i, "NULL")) // the batch's memory is DuckDB's
			}
			out.Values = append(out.Values, row)
		}
	}
	return rr.Err()
}

// sqlBenchJSON is the --json output: the report plus whether its project was kept.
type sqlBenchJSON struct {
	*bench.SQLReport
	Kept bool `json:"kept"`
}

func printSQLBenchReport(w io.Writer, rep *bench.SQLReport, keep bool) error {
	m, s := rep.Machine, rep.Settings
	fmt.Fprintf(w, "Strata SQL benchmarks: %s/%s, %d CPUs (GOMAXPROCS %d), %s, total %s\n",
		m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS, m.GoVersion, rep.Elapsed)
	if len(m.LoadBefore) > 0 && len(m.LoadAfter) > 0 {
		fmt.Fprintf(w, "load average (1/5/15 min): %s before, %s after\n", loads(m.LoadBefore), loads(m.LoadAfter))
	}
	where := "removed"
	if keep {
		where = "kept"
	}
	fmt.Fprintf(w, "project under %s (%s)\n", m.Dir, where)
	if e := rep.Events; e != nil {
		fmt.Fprintf(w, "\nEVENTS: %s generated events (seed %d) in %s: %d files, %s, %d date partitions; generated and written in %s (CPU %s)\n",
			humanize.Comma(e.Rows), s.Seed, e.Name, e.FileCount, mb(e.Bytes), e.Partitions, e.Write, e.WriteCPU)
	}
	if a := rep.Aggregate; a != nil {
		fmt.Fprintf(w, "\nAGGREGATE: the seed's user_stats, %s groups; goal: Strata within %.1fx of DuckDB\n  %s\n",
			humanize.Comma(a.ResultRows), a.GoalRatio, a.Query)
		tw := newTabWriter(w)
		fmt.Fprintln(tw, "  SYSTEM\tMEDIAN\tMIN\tMAX\tRUNS\tSTRATA / THIS\tCPU MEDIAN\tSTRATA / THIS (CPU)")
		row := func(name string, sm bench.Summary, r float64, cpu bench.Summary, cr float64) {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%.2fx\t%s\t%.2fx\n", name, sm.Median, sm.Min, sm.Max, sm.N, r, cpu.Median, cr)
		}
		row("strata sql (bench.events)", a.Strata, 1, a.StrataCPU, 1)
		row("duckdb, same files, date per partition", a.DuckDB, a.Ratio, a.DuckDBCPU, a.CPURatio)
		row("duckdb, same files, date from hive paths", a.DuckDBHive, a.RatioHive, a.DuckDBHiveCPU, a.CPURatioHive)
		tw.Flush()
		goal := "met"
		if !a.GoalMet {
			goal = "NOT met"
		}
		fmt.Fprintf(w, "  goal %s; resolving bench.events (log replay, parse, view) costs a median %s per query\n", goal, a.Resolve.Median)
		fmt.Fprintf(w, "  check: %s\n", a.Check)
	}
	if r := rep.Merge; r != nil {
		fmt.Fprintf(w, "\nMERGE: %s changed keys (%.2f%%) + %s new rows into %s files; DuckDB memory_limit %s; goal: within %.0fx of DuckDB, peak RSS under %s\n  %s\n",
			humanize.Comma(r.ChangedRows), 100*s.MergeFraction, humanize.Comma(r.NewRows), humanize.Comma(int64(r.FilesTotal)),
			r.Limits.MemoryLimit, r.GoalRatio, humanBytes(r.GoalRSS), r.Statement)
		printRunFigures(w, r.Pending, r.PendingReason, r.Strata, r.DuckDB)
		if !r.Pending {
			goal := "met"
			if !r.GoalMet {
				goal = "NOT met"
			}
			fmt.Fprintf(w, "  Strata takes %.2fx DuckDB's time; goal %s; DuckDB rewrote %d of %d files\n", r.Ratio, goal, r.DuckDB.FilesRewritten, r.FilesTotal)
			fmt.Fprintf(w, "  strata: %s\n  check: %s\n", oneLineText(r.Strata.Message), r.Check)
		}
	}
	if o := rep.Optimize; o != nil {
		t := o.Table
		fmt.Fprintf(w, "\nOPTIMIZE: %s small files (%s rows, %s) in %d commits, built in %s; DuckDB memory_limit %s\n  %s\n",
			humanize.Comma(int64(t.Files)), humanize.Comma(t.Rows), mb(t.Bytes), t.Commits, t.Build, o.Limits.MemoryLimit, o.Statement)
		printRunFigures(w, o.Pending, o.PendingReason, o.Strata, o.DuckDB)
		if !o.Pending {
			fmt.Fprintf(w, "  strata: %s\n  check: %s\n", oneLineText(o.Strata.Message), o.Check)
		}
	}
	return nil
}

func printRunFigures(w io.Writer, pending bool, reason string, figs ...bench.RunFigures) {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "  METHOD\tMEDIAN\tMIN\tMAX\tRUNS\tCPU MEDIAN\tPEAK RSS\tRSS AT START")
	for i, f := range figs {
		if i == 0 && pending {
			fmt.Fprintf(tw, "  %s\tpending\t\t\t\t\t\t\n", f.Method)
			continue
		}
		rss, start, cpu := "not measured", "", ""
		if f.PeakRSS > 0 {
			rss = humanBytes(f.PeakRSS)
		}
		if f.StartRSS > 0 {
			start = humanBytes(f.StartRSS)
		}
		if f.CPU.N > 0 {
			cpu = f.CPU.Median.String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", f.Method, f.Times.Median, f.Times.Min, f.Times.Max, f.Times.N, cpu, rss, start)
	}
	tw.Flush()
	if pending {
		fmt.Fprintf(w, "  Strata's statement failed (phase pending): %s\n", oneLineText(reason))
	}
}

func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }
