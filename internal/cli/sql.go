package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
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
		Short: "Run SQL (DuckDB's dialect) over Delta tables: project tables as domain.table, any table as delta_scan('path'); an interactive shell without -c or -f",
		Long: `Run SQL over Delta tables with embedded DuckDB.

  strata sql -c 'SELECT ...'       run one or more statements separated by ;
  strata sql -f file.sql           run a script (an error names the statement and its line)
  strata sql                       the interactive shell (statements end with ;, .help lists
                                   the dot-commands); with standard input not a terminal,
                                   statements are read from it (echo 'SELECT 1;' | strata sql)

Project tables are domain.table (the project is --project DIR, or the strata.yaml of the current
directory or its parents); any table is delta_scan('path or s3://bucket/prefix') or
delta.` + "`path`" + `. Besides DuckDB's SQL: time travel (FROM t AT (VERSION => 3)), writes (CREATE
TABLE ... AS, INSERT, DELETE, UPDATE, MERGE) and upkeep: OPTIMIZE, VACUUM t [RETAIN n HOURS]
[DRY RUN] [FORCE], RESTORE [TABLE] t TO VERSION AS OF n | TIMESTAMP AS OF 'ts', DESCRIBE HISTORY
t [LIMIT n], DESCRIBE DETAIL t, SHOW TABLES [IN domain] [[LIKE] 'pattern'].

Output: rows as a table (default), csv, ndjson or parquet (--format), to standard output or
--output FILE; commands print a one-line summary (with --json, or --format csv/ndjson, their
result fields as one row). --format parquet writes one result with rows to --output: the other
statements' summaries go to standard error.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			hasCommand, hasFile := cmd.Flags().Changed("command"), cmd.Flags().Changed("file")
			if hasCommand && hasFile {
				return usageError{fmt.Errorf("-c and -f are exclusive")}
			}
			w, err := newResultWriter(g, o)
			if err != nil {
				return err
			}
			e, err := openEngine(ctx, g, o.projectDir)
			if err != nil {
				return err
			}
			defer e.Close()
			switch {
			case hasCommand:
				err = runScript(ctx, e, o.command, w, false)
			case hasFile:
				b, rerr := os.ReadFile(o.file)
				if rerr != nil {
					return rerr
				}
				err = runScript(ctx, e, string(b), w, true)
			default:
				err = runREPL(ctx, g, e, w)
			}
			return errors.Join(err, w.Close())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.command, "command", "c", "", "SQL to run (several statements separated by ;)")
	f.StringVarP(&o.file, "file", "f", "", "file of SQL statements to run")
	f.StringVar(&o.projectDir, "project", "", "project folder (default: the strata.yaml of the current directory or its parents)")
	f.StringVar(&o.format, "format", "", "output format: table, csv, ndjson or parquet (default table; ndjson with --json)")
	f.StringVarP(&o.output, "output", "o", "", "write results to this file instead of standard output")
	f.BoolVar(&o.stats, "stats", false, "report, for each table read, the files scanned and skipped")
	return cmd
}

// openEngine opens the engine with the project of projectDir, or else of the working directory or
// its nearest parent holding a strata.yaml; with no project at all only locations (delta_scan,
// delta.`path`) can be queried. A strata.yaml that exists but cannot be read is an error.
func openEngine(ctx context.Context, g *globals, projectDir string) (*engine.Engine, error) {
	var p *project.Project
	var err error
	if projectDir != "" {
		if p, err = project.Load(projectDir); err != nil {
			return nil, err
		}
	} else if p, err = project.Find("."); err != nil {
		if !errors.Is(err, project.ErrNoProject) {
			return nil, err
		}
		p = nil
	}
	opts := engine.Options{Project: p, Storage: g.storageOptions()}
	if p != nil && p.Config.S3Endpoint != "" && opts.Storage.S3Endpoint == "" {
		opts.Storage.S3Endpoint = p.Config.S3Endpoint
	}
	// engine.Open keeps its context for the connections it opens later (their session setup), so
	// it gets one that an interrupt does not cancel: in the shell, Ctrl-C cancels one statement and
	// the engine must go on opening connections.
	return engine.Open(context.WithoutCancel(ctx), opts)
}

// runScript runs a script's statements in order and stops at the first error. When numbered
// (scripts read with -f, or from standard input), an error names the statement's number, line and
// first line; DuckDB's own message, with its LINE n: context and caret, follows.
func runScript(ctx context.Context, e *engine.Engine, script string, w *resultWriter, numbered bool) error {
	stmts, err := engine.SplitScript(script)
	if err != nil {
		return err
	}
	numbered = numbered || len(stmts) > 1
	for i, st := range stmts {
		if err := w.run(ctx, e, st); err != nil {
			if numbered {
				return fmt.Errorf("statement %d (line %d: %s):\n%w", i+1, st.Line, abbreviate(st.FirstLine(), 80), err)
			}
			return err
		}
	}
	return nil
}

func abbreviate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

// resultWriter prints statement results in one format to one destination. Query rows (and the
// rows of tabular upkeep statements) are rendered by writeRows; a command's result is its
// one-line Message in table format, and its Fields as one row in the other formats. Parquet holds
// one result per file: the first result with rows (or, if none has rows, the last command's
// fields); the other commands' messages go to standard error, and a second result with rows is an
// error.
type resultWriter struct {
	g      *globals
	format string // table, csv, ndjson or parquet; the shell's .format changes it
	stats  bool
	path   string    // --output, "" for standard output
	out    io.Writer // where results go; nil until opened (parquet opens lazily)
	file   *os.File

	wroteParquet bool           // a result went to the parquet file
	lastFields   map[string]any // parquet: the last command's fields, written at Close if no rows came
}

func newResultWriter(g *globals, o sqlOptions) (*resultWriter, error) {
	format := o.format
	if format == "" {
		format = "table"
		if g.json {
			format = "ndjson"
		}
	}
	switch format {
	case "table", "csv", "ndjson", "parquet":
	default:
		return nil, usageError{fmt.Errorf("--format %q: want table, csv, ndjson or parquet", format)}
	}
	if format == "parquet" && o.output == "" {
		return nil, usageError{fmt.Errorf("--format parquet needs --output FILE")}
	}
	w := &resultWriter{g: g, format: format, stats: o.stats, path: o.output}
	if o.output == "" {
		w.out = g.stdout
	} else if format != "parquet" {
		if err := w.open(); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *resultWriter) open() error {
	f, err := os.Create(w.path)
	if err != nil {
		return err
	}
	w.file, w.out = f, f
	return nil
}

// Close writes what parquet output still owes and closes the output file.
func (w *resultWriter) Close() error {
	var err error
	if w.format == "parquet" && !w.wroteParquet && w.lastFields != nil {
		err = w.writeParquet(fieldsRecord(w.lastFields))
	}
	if w.file != nil {
		err = errors.Join(err, w.file.Close())
		w.file = nil
	}
	return err
}

// run executes one statement and prints its result.
func (w *resultWriter) run(ctx context.Context, e *engine.Engine, st engine.ScriptStatement) error {
	return e.Run(ctx, st.Text, w.print)
}

// print renders one result.
func (w *resultWriter) print(res *engine.Result) error {
	if w.stats {
		for _, s := range res.Scans {
			fmt.Fprintf(w.g.stderr, "scan %s version %d: %d of %d files read (%d skipped, %s skipped)%s\n",
				s.Table, s.Version, s.FilesScanned, s.FilesTotal, s.FilesSkipped, humanBytes(s.BytesSkipped), filterNote(s.Filter))
		}
	}
	if res.Records != nil {
		if w.format == "parquet" {
			return w.writeParquet(res.Records)
		}
		_, err := writeRows(w.out, res.Records, w.format, 0)
		return err
	}
	switch {
	case w.format == "table":
		if res.Message != "" {
			_, err := fmt.Fprintln(w.out, res.Message)
			return err
		}
		if len(res.Fields) > 0 {
			return writeJSON(w.out, res.Fields)
		}
		return nil
	case w.format == "ndjson":
		if res.Fields == nil {
			return nil
		}
		b, err := json.Marshal(res.Fields)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w.out, "%s\n", b)
		return err
	case w.format == "parquet":
		if res.Message != "" {
			fmt.Fprintln(w.g.stderr, res.Message)
		}
		w.lastFields = res.Fields
		return nil
	}
	if res.Fields == nil {
		return nil
	}
	rr := fieldsRecord(res.Fields)
	defer rr.Release()
	_, err := writeRows(w.out, rr, w.format, 0)
	return err
}

// writeParquet writes the one result a parquet file holds.
func (w *resultWriter) writeParquet(r array.RecordReader) error {
	if w.wroteParquet {
		return fmt.Errorf("--format parquet writes one result to %s, and this statement returns another (use csv or ndjson for several)", w.path)
	}
	if w.file == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	w.wroteParquet = true
	// The Parquet writer closes a writer that is an io.Closer; the file is closed by Close.
	_, err := writeRows(struct{ io.Writer }{w.out}, r, "parquet", 0)
	return err
}

// fieldsRecord turns a command's fields into a one-row result, columns in key order: integers as
// BIGINT, floats as DOUBLE, booleans as BOOLEAN, strings as VARCHAR, anything else as JSON text.
func fieldsRecord(fields map[string]any) array.RecordReader {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var schemaFields []arrow.Field
	var cols []arrow.Array
	mem := memory.DefaultAllocator
	for _, k := range keys {
		var a arrow.Array
		switch v := fields[k].(type) {
		case int, int32, int64:
			b := array.NewInt64Builder(mem)
			b.Append(reflect.ValueOf(v).Int())
			a = b.NewArray()
			b.Release()
		case float64:
			b := array.NewFloat64Builder(mem)
			b.Append(v)
			a = b.NewArray()
			b.Release()
		case bool:
			b := array.NewBooleanBuilder(mem)
			b.Append(v)
			a = b.NewArray()
			b.Release()
		default:
			b := array.NewStringBuilder(mem)
			switch {
			case v == nil:
				b.AppendNull()
			default:
				if s, ok := v.(string); ok {
					b.Append(s)
				} else if j, err := json.Marshal(v); err == nil {
					b.Append(string(j))
				} else {
					b.Append(fmt.Sprint(v))
				}
			}
			a = b.NewArray()
			b.Release()
		}
		schemaFields = append(schemaFields, arrow.Field{Name: k, Type: a.DataType(), Nullable: true})
		cols = append(cols, a)
	}
	schema := arrow.NewSchema(schemaFields, nil)
	rec := array.NewRecordBatch(schema, cols, 1)
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	rr, _ := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	return rr
}

func filterNote(f string) string {
	if f == "" {
		return ""
	}
	return " with filter " + strings.TrimSpace(f)
}
