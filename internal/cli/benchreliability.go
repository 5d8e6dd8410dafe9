package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/reliability"
)

func newBenchReliabilityCmd(g *globals) *cobra.Command {
	opts := reliability.Options{}
	var sections, worker string
	var keep bool
	var lines []string
	for _, s := range reliability.Sections {
		lines = append(lines, fmt.Sprintf("  %-9s %s", s.Name, s.Doc))
	}
	cmd := &cobra.Command{
		Use:   "reliability",
		Short: "Run the reliability harness: crashes, storage faults, concurrent writers, bad input, load",
		Long: `Run Strata under faults and check that nothing is lost or corrupted. Sections:

` + strings.Join(lines, "\n") + `

Prints a summary (with --json one object: iterations, faults_injected, faults_by_kind,
operations_checked, records_accounted, bad_inputs_quarantined, anomalies, findings, sections) and
exits with status 1 when an anomaly was found or a section could not run. docs/reliability.md
describes each check and the long run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if worker != "" {
				return reliability.RunWorker(ctx, worker)
			}
			if opts.Iterations < 1 || opts.Duration <= 0 {
				return usageError{fmt.Errorf("--iterations must be at least 1 and --duration positive")}
			}
			if opts.Seed == 0 {
				opts.Seed = uint64(time.Now().UnixNano()%1_000_000) + 1
			}
			if sections != "" {
				opts.Sections = strings.Split(sections, ",")
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench reliability: cannot find the strata executable for child processes: %w", err)
			}
			opts.Exe = exe
			if opts.Python != "" {
				if p, err := exec.LookPath(opts.Python); err == nil {
					opts.Python = p
				} else {
					opts.Python = ""
				}
			}
			root, cleanup, err := benchDir(opts.Dir, keep)
			if err != nil {
				return err
			}
			defer cleanup()
			opts.Dir = root
			if !g.quiet {
				opts.Log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			if opts.Log != nil {
				opts.Log.Info("reliability run", "seed", opts.Seed, "iterations", opts.Iterations, "duration", opts.Duration, "dir", opts.Dir)
			}
			sum, err := reliability.Run(ctx, opts)
			if err != nil {
				return usageError{err}
			}
			if g.json {
				if err := writeJSON(g.stdout, sum); err != nil {
					return err
				}
			} else {
				printReliability(g.stdout, sum)
			}
			if sum.Failed() {
				return fmt.Errorf("bench reliability: %d anomalies, %d sections failed to run", sum.Anomalies, len(sum.Errors))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Iterations, "iterations", 30, "crash-loop kills (other sections scale their operation counts from it)")
	fl.Uint64Var(&opts.Seed, "seed", 0, "seed of every random choice (0: from the clock; the summary prints the seed used)")
	fl.DurationVar(&opts.Duration, "duration", 20*time.Second, "length of the timed parts (load, concurrent writers)")
	fl.StringVar(&sections, "sections", "", "comma-separated sections to run (default: all)")
	fl.StringVar(&opts.Dir, "dir", "", "working folder (default: a temporary folder, removed afterwards unless --keep)")
	fl.BoolVar(&keep, "keep", false, "keep the working folder")
	fl.StringVar(&opts.Python, "python", "python3", "Python with the deltalake package, for the delta-rs checks")
	fl.StringVar(&worker, "worker", "", "run as a child process of the harness (internal)")
	fl.MarkHidden("worker")
	return cmd
}

func printReliability(w io.Writer, s *reliability.Summary) {
	fmt.Fprintf(w, "reliability run, seed %d, %.0f s\n", s.Seed, s.ElapsedS)
	for _, r := range s.Sections {
		fmt.Fprintf(w, "  %-9s %6.0f s  iterations %d, faults %v, operations checked %d, records accounted %d, bad inputs quarantined %d, anomalies %d\n",
			r.Section, r.ElapsedS, r.Iterations, r.FaultsInjected, r.OperationsChecked, r.RecordsAccounted, r.BadInputsQuarantined, len(r.Anomalies))
		for _, sk := range r.Skipped {
			fmt.Fprintf(w, "            skipped: %s\n", sk)
		}
	}
	fmt.Fprintf(w, "total: iterations %d, faults injected %d", s.Iterations, s.FaultsInjected)
	if len(s.FaultsByKind) > 0 {
		var parts []string
		for _, k := range s.FaultKinds() {
			parts = append(parts, fmt.Sprintf("%s %d", k, s.FaultsByKind[k]))
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, ", operations checked %d, records accounted %d, bad inputs quarantined %d, anomalies %d\n",
		s.OperationsChecked, s.RecordsAccounted, s.BadInputsQuarantined, s.Anomalies)
	for _, f := range s.Findings {
		fmt.Fprintf(w, "ANOMALY %s\n", f)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(w, "ERROR %s\n", e)
	}
}
