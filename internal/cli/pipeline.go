package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/backends"
	"github.com/stratalake/strata/internal/pipeline"
	"github.com/stratalake/strata/internal/project"
)

// pipelineFlags are the flags every `strata pipeline` command shares.
type pipelineFlags struct {
	projectDir string
}

func newPipelineCmd(g *globals) *cobra.Command {
	f := &pipelineFlags{}
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Declarative SQL pipelines: validate, run (batch or stream), status, lineage",
		Long: `Declarative SQL pipelines: tables declared in the .sql files listed under pipelines: in
strata.yaml (CREATE STREAMING TABLE, CREATE MATERIALIZED VIEW, CREATE TEMPORARY VIEW, CREATE FLOW ...
AS AUTO CDC), run as a batch (everything available once) or as a stream (continuously), with the same
checkpoints and the same results. Every run is recorded in the table _strata.pipeline_events.`,
	}
	cmd.PersistentFlags().StringVar(&f.projectDir, "project", "", "project folder (default: the strata.yaml of the current directory or its parents)")
	cmd.AddCommand(newPipelineValidateCmd(g, f), newPipelineRunCmd(g, f), newPipelineStatusCmd(g, f), newPipelineLineageCmd(g, f))
	return cmd
}

// load opens the project, the engine and the pipeline, and validates it.
func (f *pipelineFlags) load(ctx context.Context, g *globals) (*project.Project, *engine.Engine, *pipeline.Pipeline, []pipeline.Warning, error) {
	var p *project.Project
	var err error
	if f.projectDir != "" {
		p, err = project.Load(f.projectDir)
	} else {
		p, err = project.Find(".")
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	e, err := openEngine(ctx, g, p.Dir)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pl, err := pipeline.Load(ctx, p, e)
	if err != nil {
		e.Close()
		return nil, nil, nil, nil, err
	}
	warns, err := pl.Validate(ctx)
	if err != nil {
		e.Close()
		return nil, nil, nil, warns, err
	}
	return p, e, pl, warns, nil
}

// withPipeline makes a command's RunE that loads and validates the pipeline, runs fn, and closes
// the engine.
func (f *pipelineFlags) withPipeline(g *globals, fn func(context.Context, *pipeline.Pipeline) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		_, e, pl, _, err := f.load(ctx, g)
		if err != nil {
			return err
		}
		defer e.Close()
		return fn(ctx, pl)
	}
}

func newPipelineValidateCmd(g *globals, f *pipelineFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Parse, resolve and type-check every pipeline query; errors name file:line:col",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, e, pl, warns, err := f.load(ctx, g)
			for _, w := range warns {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			if err != nil {
				if g.json {
					_ = writeJSON(g.stdout, map[string]any{"valid": false, "errors": errorLines(err), "warnings": warningLines(warns)})
				}
				return err
			}
			defer e.Close()
			if g.json {
				return writeJSON(g.stdout, map[string]any{"valid": true, "tables": describeNodes(pl), "warnings": warningLines(warns)})
			}
			for _, n := range describeNodes(pl) {
				fmt.Fprintf(g.stdout, "%-40s %-18s %-11s %s\n", n["name"], n["kind"], n["execution"], n["note"])
			}
			fmt.Fprintf(g.stdout, "pipeline valid: %d objects\n", len(pl.Nodes))
			return nil
		},
	}
}

// errorLines splits a joined validation error into its lines (one per error).
func errorLines(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, pipeline.ErrInvalid.Error()+":") {
			out = append(out, l)
		}
	}
	return out
}

func warningLines(ws []pipeline.Warning) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

// describeNodes lists the pipeline's objects with how they run.
func describeNodes(pl *pipeline.Pipeline) []map[string]any {
	var out []map[string]any
	for _, n := range pl.Nodes {
		m := map[string]any{"name": n.Name, "kind": n.Kind().String(), "execution": pl.Execution(n), "position": n.Stmt.Pos.String()}
		note := pl.ExecutionReason(n)
		if note != "" {
			m["reason"] = note
		}
		var ins []string
		for _, in := range n.Inputs {
			ins = append(ins, in.Kind()+":"+in.Name)
		}
		m["inputs"] = ins
		if note == "" {
			note = strings.Join(ins, ", ")
		}
		m["note"] = note
		out = append(out, m)
	}
	return out
}

type pipelineRunOpts struct {
	mode        string
	fullRefresh []string
	refresh     []string
	all         bool
	idleStop    time.Duration
}

func newPipelineRunCmd(g *globals, f *pipelineFlags) *cobra.Command {
	o := &pipelineRunOpts{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the pipeline as a batch (everything available once) or a stream (until Ctrl-C)",
		Long: `Run the pipeline. --mode batch (the default) processes everything available once, in DAG order,
and exits with a summary; --mode stream runs every table continuously until interrupted. Both keep
the same checkpoints, so batch and stream runs can alternate. --full-refresh rebuilds the named tables
(all with no names) from their sources; --refresh runs only the named tables.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, e, pl, warns, err := f.load(ctx, g)
			for _, w := range warns {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			if err != nil {
				return err
			}
			defer e.Close()
			var l log.Log
			if pl.ReadsTopics() {
				if l, err = backends.Open(ctx, p.Config.Log); err != nil {
					return err
				}
				defer l.Close()
			}
			opts := pipeline.RunOptions{Mode: o.mode, Log: l, IdleStop: o.idleStop}
			if cmd.Flags().Changed("full-refresh") {
				if len(o.fullRefresh) == 0 || (len(o.fullRefresh) == 1 && o.fullRefresh[0] == "") {
					opts.FullRefreshAll = true
				} else {
					opts.FullRefresh = o.fullRefresh
				}
			}
			if cmd.Flags().Changed("refresh") {
				opts.Refresh = o.refresh
			}
			if !g.quiet && (opts.FullRefreshAll || opts.FullRefresh != nil) {
				var mu sync.Mutex // stream runs report from several goroutines
				bars := map[string]*progress{}
				seen := map[string]int64{}
				opts.OnProgress = func(flow string, done, total int64) {
					mu.Lock()
					defer mu.Unlock()
					b := bars[flow]
					if b == nil {
						b = newProgress("rebuild "+flow, total, "rows", false)
						bars[flow] = b
					}
					b.Add(done - seen[flow])
					seen[flow] = done
					if total > 0 && done >= total {
						b.Done()
					}
				}
			}
			if !g.quiet {
				opts.OnEvent = eventPrinter(g.stderr)
				opts.Logger = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			sum, err := pl.Run(ctx, opts)
			if sum != nil {
				if g.json {
					if jerr := writeJSON(g.stdout, sum); jerr != nil {
						return jerr
					}
				} else {
					printSummary(g.stdout, sum)
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.mode, "mode", pipeline.Batch, "batch or stream")
	fl.StringSliceVar(&o.fullRefresh, "full-refresh", nil, "rebuild these tables from their sources (no value: all tables)")
	fl.Lookup("full-refresh").NoOptDefVal = ""
	fl.StringSliceVar(&o.refresh, "refresh", nil, "run only these tables")
	fl.DurationVar(&o.idleStop, "idle-stop", 0, "stream mode: stop once nothing happened for this long (0: run until interrupted)")
	return cmd
}

// eventPrinter prints one line per notable event (batches, refreshes, intakes, flow ends).
func eventPrinter(w io.Writer) func(pipeline.Event) {
	return func(e pipeline.Event) {
		switch e.Event {
		case pipeline.EventBatch:
			fmt.Fprintf(w, "%s %-32s batch %d: %d in, %d out", e.Time.Format("15:04:05.000"), e.Flow, e.BatchID, e.RowsIn, e.RowsOut)
			if e.RowsDropped+e.RowsQuarantined+e.RowsLate+e.RowsDuplicate > 0 {
				fmt.Fprintf(w, " (dropped %d, quarantined %d, late %d, duplicates %d)", e.RowsDropped, e.RowsQuarantined, e.RowsLate, e.RowsDuplicate)
			}
			fmt.Fprintf(w, " in %.0f ms\n", e.DurationMS)
		case pipeline.EventRefresh, pipeline.EventIntake:
			fmt.Fprintf(w, "%s %-32s %s: %d rows in %.0f ms\n", e.Time.Format("15:04:05.000"), e.Flow, e.Message, e.RowsOut+e.RowsIn, e.DurationMS)
		case pipeline.EventFlowEnd:
			if e.Status == "failed" {
				fmt.Fprintf(w, "%s %-32s failed: %s\n", e.Time.Format("15:04:05.000"), e.Flow, e.Message)
			}
		}
	}
}

func printSummary(w io.Writer, s *pipeline.Summary) {
	fmt.Fprintf(w, "run %s (%s): %s in %.1f s\n", s.RunID, s.Mode, s.Status, s.DurationMS/1000)
	fmt.Fprintf(w, "%-34s %-12s %8s %10s %10s %8s %8s %8s %8s\n", "TABLE", "EXECUTION", "BATCHES", "ROWS IN", "ROWS OUT", "DROPPED", "QUARANT", "LATE", "DUPS")
	for _, f := range s.Flows {
		fmt.Fprintf(w, "%-34s %-12s %8d %10d %10d %8d %8d %8d %8d\n", f.Name, f.Execution, f.Batches, f.RowsIn, f.RowsOut, f.RowsDropped, f.RowsQuarantined, f.RowsLate, f.RowsDuplicate)
		for _, e := range f.Expectations {
			fmt.Fprintf(w, "    expectation %-24s passed %d, failed %d (%s)\n", e.Name, e.Passed, e.Failed, e.Action)
		}
		if f.Reason != "" {
			fmt.Fprintf(w, "    recomputed: %s\n", f.Reason)
		}
		if f.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", f.Error)
		}
	}
}

func newPipelineStatusCmd(g *globals, f *pipelineFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Each table's execution, version, last run and expectation results (from the event log)",
		Args:  cobra.NoArgs,
		RunE: f.withPipeline(g, func(ctx context.Context, pl *pipeline.Pipeline) error {
			st, err := pl.Status(ctx)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, st)
			}
			fmt.Fprintf(g.stdout, "%-34s %-18s %-12s %8s %10s  %-20s %s\n", "TABLE", "KIND", "EXECUTION", "VERSION", "ROWS", "LAST UPDATE", "LAST RUN")
			for _, t := range st {
				last := "-"
				if !t.LastUpdate.IsZero() {
					last = t.LastUpdate.UTC().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(g.stdout, "%-34s %-18s %-12s %8d %10d  %-20s %s\n", t.Name, t.Kind, t.Execution, t.Version, t.Rows, last, t.LastRun)
				names := make([]string, 0, len(t.Expectations))
				for k := range t.Expectations {
					names = append(names, k)
				}
				sort.Strings(names)
				for _, k := range names {
					x := t.Expectations[k]
					fmt.Fprintf(g.stdout, "    expectation %-24s passed %d, failed %d\n", k, x.Passed, x.Failed)
				}
			}
			return nil
		}),
	}
}

func newPipelineLineageCmd(g *globals, f *pipelineFlags) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "lineage",
		Short: "Each table's inputs and each output column's source columns (--format text|dot|json)",
		Args:  cobra.NoArgs,
		RunE: f.withPipeline(g, func(ctx context.Context, pl *pipeline.Pipeline) error {
			lin := pl.Lineage()
			if g.json {
				format = "json"
			}
			switch format {
			case "json":
				return writeJSON(g.stdout, lin)
			case "dot":
				_, err := io.WriteString(g.stdout, lin.Dot())
				return err
			case "", "text":
				_, err := io.WriteString(g.stdout, lin.Text())
				return err
			}
			return usageError{errors.New("--format is text, dot or json")}
		}),
	}
	cmd.Flags().StringVar(&format, "format", "text", "text, dot or json")
	return cmd
}
