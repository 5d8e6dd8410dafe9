package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/gen"
)

func newGenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate sample data (deterministic by seed)",
	}
	cmd.AddCommand(newGenEventsCmd(g))
	return cmd
}

// genEventsOptions are the flags of `strata gen events`.
type genEventsOptions struct {
	rows, fileRows       int64
	seed                 uint64
	out, format, start   string
	days, rate, cycle    float64
	users, products      int
	anomalies            bool
	anomalyShares        gen.Anomalies
	anomalySharesChanged bool
}

func newGenEventsCmd(g *globals) *cobra.Command {
	var o genEventsOptions
	cmd := &cobra.Command{
		Use:   "events --out DIR|FILE|- [--rows N] [--seed S] [--format parquet|ndjson|csv]",
		Short: "Generate e-commerce events: page views, cart adds, orders, payments, refunds",
		Long: `Generate realistic e-commerce events, the same ones for the same seed and flags on any machine:
users (each with a country and a favourite device) open sessions in which they view pages and
products, add products to their cart, order them (one "order" event per order line, revenue = its
amount) and pay ("payment", revenue 0); some order lines are refunded days later ("refund",
negative revenue). Columns: event_id, event_type, user_id, session_id, event_ts, date, country,
device, product_id, order_id, quantity, revenue (DECIMAL(12,2)), schema_version.

The events span about --days days from --start (or come at --rate events per second of event
time), with a daily traffic cycle. --anomalies delivers a small share of them late (15 min to 3 h),
out of order (1 to 90 s), duplicated, malformed (missing user, unknown type, bad revenue,
truncated line) or in schema version 1 (no device).

--out names a file (its extension gives the format unless --format does), a directory (files of
--file-rows events each: events-00000.parquet, ...), or - for standard output.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenEvents(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.rows, "rows", 1_000_000, "number of events")
	f.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed and flags give the same events")
	f.StringVarP(&o.out, "out", "o", "", "output file, directory, or - for standard output (required)")
	f.StringVar(&o.format, "format", "", "parquet, ndjson or csv (default: from the --out extension, else parquet)")
	f.Float64Var(&o.days, "days", 30, "days the events span (sets the rate; ignored with --rate)")
	f.Float64Var(&o.rate, "rate", 0, "events per second of event time (default: --rows over --days)")
	f.StringVar(&o.start, "start", "2024-01-01", "event time of the first events (date or RFC 3339 time, UTC)")
	f.IntVar(&o.users, "users", 0, "distinct users (default: rows/40, at least 1000)")
	f.IntVar(&o.products, "products", gen.DefaultProducts, "products in the catalog")
	f.Float64Var(&o.cycle, "daily-cycle", gen.DefaultDailyCycle, "amplitude of the daily traffic cycle, in [0, 1) (0: flat)")
	f.BoolVar(&o.anomalies, "anomalies", false, "add late, out-of-order, duplicated, malformed and schema v1 events")
	def := gen.DefaultAnomalies()
	f.Float64Var(&o.anomalyShares.Late, "late", def.Late, "with --anomalies: share of late events")
	f.Float64Var(&o.anomalyShares.OutOfOrder, "out-of-order", def.OutOfOrder, "with --anomalies: share of out-of-order events")
	f.Float64Var(&o.anomalyShares.Duplicate, "duplicates", def.Duplicate, "with --anomalies: share of duplicated events")
	f.Float64Var(&o.anomalyShares.Malformed, "malformed", def.Malformed, "with --anomalies: share of malformed events")
	f.Float64Var(&o.anomalyShares.SchemaV1, "schema-v1", def.SchemaV1, "with --anomalies: share of schema version 1 events")
	f.Int64Var(&o.fileRows, "file-rows", 1_000_000, "events per file when --out is a directory")
	return cmd
}

func runGenEvents(cmd *cobra.Command, g *globals, o genEventsOptions) error {
	ctx := cmd.Context()
	if o.out == "" {
		return usageError{fmt.Errorf("--out is required (a file, a directory, or -)")}
	}
	if o.rows < 0 || o.fileRows < 1 || o.days <= 0 || o.rate < 0 {
		return usageError{fmt.Errorf("--rows must not be negative, --file-rows and --days must be positive, --rate must not be negative")}
	}
	for _, name := range []string{"late", "out-of-order", "duplicates", "malformed", "schema-v1"} {
		if cmd.Flags().Changed(name) && !o.anomalies {
			return usageError{fmt.Errorf("--%s needs --anomalies", name)}
		}
	}
	start, err := time.Parse(time.DateOnly, o.start)
	if err != nil {
		if start, err = time.Parse(time.RFC3339Nano, o.start); err != nil {
			return usageError{fmt.Errorf("--start %q: want a date (2006-01-02) or an RFC 3339 time", o.start)}
		}
	}
	cfg := gen.Config{Seed: o.seed, Start: start, Rate: o.rate, DailyCycle: o.cycle, Users: o.users, Products: o.products}
	if cfg.Rate == 0 {
		cfg.Rate = gen.RateFor(max(o.rows, 1), o.days)
	}
	if cfg.Users == 0 {
		cfg.Users = int(max(o.rows/40, 1000))
	}
	if o.anomalies {
		cfg.Anomalies = o.anomalyShares
	}
	generator, err := gen.New(cfg)
	if err != nil {
		return usageError{err}
	}

	// Where and in which format.
	single := o.out == "-"
	format := gen.FormatParquet
	if o.format != "" {
		if format, err = gen.ParseFormat(o.format); err != nil {
			return usageError{err}
		}
	}
	if !single {
		if ext, ok := gen.FormatOfPath(o.out); ok {
			single = true
			if o.format == "" {
				format = ext
			} else if ext != format {
				return usageError{fmt.Errorf("--out %s has the extension of %s but --format is %s", o.out, ext, format)}
			}
		} else if st, err := os.Stat(o.out); err == nil && !st.IsDir() {
			single = true // an existing file without a known extension
		}
	}

	began := time.Now()
	prog := newProgress("generating events", o.rows, "events", g.quiet || g.json || o.out == "-")
	var files []string
	switch {
	case o.out == "-":
		err = gen.Write(ctx, g.stdout, format, generator, o.rows, prog.Add)
	case single:
		err = gen.WriteFile(ctx, o.out, format, generator, o.rows, prog.Add)
		files = []string{o.out}
	default:
		files, err = gen.WriteDir(ctx, o.out, format, generator, o.rows, o.fileRows, prog.Add)
	}
	prog.Done()
	if err != nil {
		return err
	}
	elapsed := time.Since(began)
	var size int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	st := generator.Stats()
	if o.out == "-" {
		if !g.quiet {
			fmt.Fprintf(g.stderr, "strata: generated %s events (%s) in %s\n", humanize.Comma(st.Events), format, elapsed.Round(time.Millisecond))
		}
		return nil
	}
	if g.json {
		return writeJSON(g.stdout, map[string]any{
			"files": nonNilStrings(files), "format": format, "rows": st.Events, "bytes": size,
			"elapsedMs": elapsed.Milliseconds(), "config": genConfigJSON(generator.Config()), "stats": st,
		})
	}
	printGenSummary(g.stdout, files, format, size, elapsed, generator.Config(), st)
	return nil
}

// genConfigJSON is the effective configuration, as --json reports it.
func genConfigJSON(c gen.Config) map[string]any {
	return map[string]any{"seed": c.Seed, "start": c.Start.UTC().Format(time.RFC3339), "rate": c.Rate,
		"dailyCycle": c.DailyCycle, "users": c.Users, "products": c.Products, "anomalies": c.Anomalies}
}

func printGenSummary(w io.Writer, files []string, format gen.Format, size int64, elapsed time.Duration, c gen.Config, st gen.Stats) {
	where := files[0]
	if len(files) > 1 {
		where = fmt.Sprintf("%d files (%s ... %s)", len(files), files[0], files[len(files)-1])
	}
	fmt.Fprintf(w, "wrote %s events to %s (%s, %s) in %s (%s events/s)\n", humanize.Comma(st.Events), where, format,
		humanBytes(size), elapsed.Round(time.Millisecond), humanize.Comma(int64(float64(st.Events)/max(elapsed.Seconds(), 1e-9))))
	if st.Events == 0 {
		return
	}
	first, last := time.UnixMicro(st.FirstTS).UTC(), time.UnixMicro(st.LastTS).UTC()
	fmt.Fprintf(w, "seed %d: %s users, %s products, %s sessions; event_ts from %s to %s\n", c.Seed, humanize.Comma(int64(c.Users)),
		humanize.Comma(int64(c.Products)), humanize.Comma(st.Sessions), first.Format(time.RFC3339), last.Format(time.RFC3339))
	fmt.Fprintf(w, "page_view %s, add_to_cart %s, order %s, payment %s, refund %s; net revenue %s.%02d\n",
		humanize.Comma(st.PageViews), humanize.Comma(st.AddToCarts), humanize.Comma(st.OrderLines), humanize.Comma(st.Payments),
		humanize.Comma(st.Refunds), humanize.Comma(st.RevenueCents/100), abs64(st.RevenueCents%100))
	if c.Anomalies != (gen.Anomalies{}) {
		fmt.Fprintf(w, "anomalies: %s late, %s out of order, %s duplicates, %s malformed, %s in schema v1\n",
			humanize.Comma(st.Late), humanize.Comma(st.OutOfOrder), humanize.Comma(st.Duplicates), humanize.Comma(st.Malformed), humanize.Comma(st.SchemaV1))
	}
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
