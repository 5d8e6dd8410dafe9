package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a starter strata.yaml (a project whose tables live under ./warehouse)",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			p, err := project.Init(dir)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, map[string]any{"project": p.File, "storage": p.StorageRoot})
			}
			fmt.Fprintf(g.stdout, "wrote %s; tables live under %s (query them as domain.table with `strata sql`)\n", p.File, p.StorageRoot)
			return nil
		},
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (usage: %s)", err, cmd.UseLine())}
		}
		return nil
	}
}

// sqlOptions are the flags of `strata sql`.
type sqlOptions struct {
	command, file, projectDir, format, output string
	stats                                     bool
}

func newSQLCmd(g *globals) *cobra.Command {
	var o sqlOptions
	cmd := &cobra.Command{
		Use:   "sql [-c SQL | -f FILE]",
		Short: "Run SQL (DuckDB's dialect) over Delta tables: project tables as domain.table, any table as delta_scan('path')",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			e, err := openEngine(ctx, g, o.projectDir)
			if err != nil {
				return err
			}
			defer e.Close()
			var script string
			switch {
			case o.command != "" && o.file != "":
				return usageError{fmt.Errorf("-c and -f are exclusive")}
			case o.command != "":
				script = o.command
			case o.file != "":
				b, err := os.ReadFile(o.file)
				if err != nil {
					return err
				}
				script = string(b)
			default:
				return runREPL(ctx, g, e, o)
			}
			return runScript(ctx, g, e, script, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.command, "command", "c", "", "SQL to run (several statements separated by ;)")
	f.StringVarP(&o.file, "file", "f", "", "file of SQL statements to run")
	f.StringVar(&o.projectDir, "project", "", "project folder (default: the strata.yaml of the current directory or its parents)")
	f.StringVar(&o.format, "format", "", "output format: table, csv, ndjson or parquet (default table; ndjson with --json)")
	f.StringVarP(&o.output, "output", "o", "", "write query results to this file")
	f.BoolVar(&o.stats, "stats", false, "report, for each table read, the files scanned and skipped")
	return cmd
}

// openEngine opens the engine with the project of projectDir (or of the working directory, if it
// has one; without a project only delta_scan works).
func openEngine(ctx context.Context, g *globals, projectDir string) (*engine.Engine, error) {
	var p *project.Project
	var err error
	if projectDir != "" {
		if p, err = project.Load(projectDir); err != nil {
			return nil, err
		}
	} else if p, err = project.Find("."); err != nil {
		p = nil // no project: delta_scan only
	}
	opts := engine.Options{Project: p, Storage: g.storageOptions()}
	if p != nil && p.Config.S3Endpoint != "" && opts.Storage.S3Endpoint == "" {
		opts.Storage.S3Endpoint = p.Config.S3Endpoint
	}
	return engine.Open(ctx, opts)
}

// runScript runs every statement, printing query results and command messages.
func runScript(ctx context.Context, g *globals, e *engine.Engine, script string, o sqlOptions) error {
	format := o.format
	if format == "" {
		format = "table"
		if g.json {
			format = "ndjson"
		}
	}
	var w io.Writer = g.stdout
	if o.output != "" {
		f, err := os.Create(o.output)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	} else if format == "parquet" {
		return usageError{fmt.Errorf("--format parquet needs --output FILE")}
	}
	return e.Run(ctx, script, func(res *engine.Result) error {
		if res.Records != nil {
			if _, err := writeRows(w, res.Records, format, 0); err != nil {
				return err
			}
		} else if g.json {
			if err := writeJSON(g.stdout, res.Fields); err != nil {
				return err
			}
		} else if res.Message != "" {
			fmt.Fprintln(g.stdout, res.Message)
		}
		if o.stats {
			for _, s := range res.Scans {
				fmt.Fprintf(g.stderr, "scan %s version %d: %d of %d files read (%d skipped, %s skipped)%s\n",
					s.Table, s.Version, s.FilesScanned, s.FilesTotal, s.FilesSkipped, humanBytes(s.BytesSkipped), filterNote(s.Filter))
			}
		}
		return nil
	})
}

func filterNote(f string) string {
	if f == "" {
		return ""
	}
	return " with filter " + strings.TrimSpace(f)
}

// runREPL is the interactive shell.
func runREPL(ctx context.Context, g *globals, e *engine.Engine, o sqlOptions) error {
	return fmt.Errorf("strata sql: give -c SQL or -f FILE (the interactive shell is not built yet)")
}
