package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/demo"
	"github.com/stratalake/strata/internal/platform"
	"github.com/stratalake/strata/internal/project"
)

func newServeCmd(g *globals) *cobra.Command {
	var dir string
	o := &platform.Options{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the project's pipelines and serve its tables (HTTP API, Postgres protocol, dashboard, metrics)",
		Long: `Run a project: its pipelines (tables without a schedule as a stream; each pipelines entry with a
schedule as a batch at its cron times, and once at start), the HTTP API and web dashboard
(--http), the Postgres wire protocol (--pg; psql, Grafana, Metabase connect as to Postgres, user
strata, database strata, no password from loopback; beyond loopback the password is
$STRATA_PG_PASSWORD), /metrics and /healthz. Ctrl-C stops everything
cleanly; the next start resumes where it stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadProject(dir)
			if err != nil {
				return err
			}
			return runPlatform(cmd.Context(), g, p, *o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "project", "", "project folder (default: the nearest strata.yaml)")
	addPlatformFlags(cmd, o)
	fl.BoolVar(&o.NoPipelines, "no-pipelines", false, "serve the tables without running the pipelines")
	return cmd
}

func addPlatformFlags(cmd *cobra.Command, o *platform.Options) {
	fl := cmd.Flags()
	fl.StringVar(&o.HTTPAddr, "http", "", "HTTP listen address (default: strata.yaml serve.http, else "+platform.DefaultHTTPAddr+")")
	fl.StringVar(&o.PGAddr, "pg", "", "Postgres wire-protocol listen address (default: strata.yaml serve.pg, else "+platform.DefaultPGAddr+"; 'off' to disable)")
	fl.StringVar(&o.MemoryLimit, "memory-limit", "4GB", "DuckDB memory limit of the pipelines (e.g. 4GB; empty for DuckDB's default of 80% of RAM)")
	fl.StringVar(&o.ServeMemoryLimit, "serve-memory-limit", "2GB", "DuckDB memory limit of the queries clients send")
	fl.DurationVar(&o.Trigger, "trigger", platform.DefaultTrigger, "how often each streaming query looks for new input")
	fl.DurationVar(&o.StatusEvery, "status-every", 10*time.Second, "print a status line this often (0: never)")
}

func newDemoCmd(g *globals) *cobra.Command {
	var dir string
	o := &platform.Options{}
	feed := &demo.FeedOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the e-commerce reference platform: generated live data, pipelines, API, Postgres endpoint, dashboard",
		Long: `Write the e-commerce example project (examples/ecommerce: sales, customers, logistics and
analytics domains) into --dir unless it is there already, then run it as strata serve does, with a
generator feeding it live: clickstream and commerce events (some late, out of order, duplicated,
malformed or in the old schema version), paid orders, Debezium changes of the customers table, and
the nightly Logistics exports. Ctrl-C stops everything; running it again resumes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			wrote, err := demo.WriteProject(abs)
			if err != nil {
				return err
			}
			if wrote {
				fmt.Fprintf(g.stderr, "wrote the e-commerce project into %s\n", abs)
			} else {
				fmt.Fprintf(g.stderr, "resuming the demo in %s\n", abs)
			}
			p, err := project.Load(abs)
			if err != nil {
				return err
			}
			o.Feed = feed
			return runPlatform(cmd.Context(), g, p, *o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "strata-demo", "folder of the demo project (created with the example project if it has no strata.yaml)")
	addPlatformFlags(cmd, o)
	fl.Float64Var(&feed.Rate, "rate", 200, "generated events per second")
	fl.Uint64Var(&feed.Seed, "seed", 1, "seed of the generated data")
	fl.IntVar(&feed.Users, "users", 20_000, "number of customers")
	fl.DurationVar(&feed.Duration, "feed-for", 0, "stop generating data after this long (0: until Ctrl-C); the platform keeps serving")
	return cmd
}

func loadProject(dir string) (*project.Project, error) {
	if dir != "" {
		return project.Load(dir)
	}
	return project.Find(".")
}

// runPlatform runs the platform with the CLI's outputs, and says how to resume once stopped.
func runPlatform(ctx context.Context, g *globals, p *project.Project, o platform.Options) error {
	level := slog.LevelInfo
	if g.quiet {
		level = slog.LevelWarn
	}
	o.Logger = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
	o.PGPassword = os.Getenv("STRATA_PG_PASSWORD")
	o.Stdout = g.stdout
	if o.Storage.S3Endpoint == "" {
		o.Storage = g.storageOptions()
	}
	err := platform.Run(ctx, p, o)
	if ctx.Err() != nil {
		fmt.Fprintln(g.stderr, "stopped; run the same command again to resume")
	}
	return err
}
