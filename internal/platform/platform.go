// Package platform runs a project as a whole, as `strata serve` and `strata demo` do: its
// pipelines (continuous tables as a stream, scheduled ones as batches), the HTTP API with the web
// dashboard and the log's ingest endpoint (POST /v1/topics/{topic}/records), the Postgres wire
// endpoint, and, for the demo, the data feed. It is the composition layer above serve, pipeline
// and demo; the CLI only parses flags into Options.
package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratalake/strata/internal/demo"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/backends"
	"github.com/stratalake/strata/internal/log/httpingest"
	"github.com/stratalake/strata/internal/pipeline"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/serve"
	"github.com/stratalake/strata/internal/serve/pgwire"
	"github.com/stratalake/strata/internal/serve/web"
	"github.com/stratalake/strata/internal/storage"
)

// Default listen addresses (strata.yaml serve.http / serve.pg override them, Options both).
const (
	DefaultHTTPAddr = "127.0.0.1:8080"
	DefaultPGAddr   = "127.0.0.1:5433"
)

// DefaultTrigger is the default Options.Trigger: gold tables three hops from the log stay a few
// seconds behind it, far inside a minutes-long freshness requirement, and twenty idle queries
// cost little.
const DefaultTrigger = time.Second

// Options configure Run.
type Options struct {
	// HTTPAddr and PGAddr are the listen addresses ("" = the project's, else the defaults;
	// PGAddr "off" disables the Postgres endpoint; port 0 picks a free port).
	HTTPAddr, PGAddr string
	// MemoryLimit bounds the pipelines' DuckDB memory and ServeMemoryLimit that of the
	// database answering clients ("" = DuckDB's default, 80% of RAM).
	MemoryLimit, ServeMemoryLimit string
	// Storage passes S3 settings.
	Storage storage.Options
	// Feed, if set, is the demo's data generator: it runs beside the pipelines and drops the
	// Logistics exports before each scheduled batch.
	Feed *demo.FeedOptions
	// NoPipelines serves the tables without running the pipelines.
	NoPipelines bool
	// PGPassword is the password of the Postgres endpoint's user strata. Without one, the
	// endpoint accepts only loopback connections (and Run refuses a non-loopback address);
	// loopback connections never need it.
	PGPassword string
	// Trigger is how often each streaming query looks for new input (default DefaultTrigger):
	// Spark's processing-time trigger. Shorter lowers latency and costs CPU per query.
	Trigger time.Duration
	// StatusEvery is the period of the status log lines (0: none).
	StatusEvery time.Duration
	// Stdout receives the addresses once serving (nil: discarded); Logger the progress and
	// error lines (nil: discarded).
	Stdout io.Writer
	Logger *slog.Logger
	// Ready, if set, is called once everything listens, with the HTTP and Postgres addresses
	// (pg "" when disabled) and the running parts (benchmarks read the monitor and the feed).
	Ready func(r Running)
}

// Running describes a running platform.
type Running struct {
	HTTPAddr, PGAddr string
	Monitor          *serve.Monitor
	Feed             *demo.Feed
	Engine           *engine.Engine
}

// BatchMemory bounds the input bytes the pipelines' streaming batches hold at once in a running
// platform (pipeline.RunOptions.BatchMemory): a backlog (a restart after a long stop, a burst of
// HTTP ingest) is then read in batches whose total does not grow with the number of tables.
const BatchMemory = 512 << 20

// Run runs the project until ctx ends: the pipelines, the feed (demo), the HTTP server
// and the Postgres endpoint. The first of them to fail stops the others.
func Run(ctx context.Context, p *project.Project, o Options) error {
	httpAddr := firstNonEmpty(o.HTTPAddr, p.Config.Serve.HTTP, DefaultHTTPAddr)
	pgAddr := firstNonEmpty(o.PGAddr, p.Config.Serve.PG, DefaultPGAddr)
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	trigger := o.Trigger
	if trigger <= 0 {
		trigger = DefaultTrigger
	}
	stdout := o.Stdout
	if stdout == nil {
		stdout = io.Discard
	}

	// Listen first: a port in use is reported before anything starts.
	httpLn, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("serve: HTTP address %s: %w (choose another with --http)", httpAddr, err)
	}
	defer httpLn.Close()
	if !isLoopback(httpLn.Addr()) {
		logger.Warn("the HTTP API listens beyond loopback and has no authentication: anyone who reaches it can run queries", "addr", httpLn.Addr().String())
	}
	var pgLn net.Listener
	if pgAddr != "off" {
		if pgLn, err = net.Listen("tcp", pgAddr); err != nil {
			return fmt.Errorf("serve: Postgres address %s: %w (choose another with --pg, or --pg off)", pgAddr, err)
		}
		defer pgLn.Close()
		if !isLoopback(pgLn.Addr()) && o.PGPassword == "" {
			return fmt.Errorf("serve: the Postgres endpoint on %s accepts connections beyond loopback: set a password (STRATA_PG_PASSWORD) or listen on 127.0.0.1", pgLn.Addr())
		}
	}

	opts := engine.Options{Project: p, Storage: o.Storage, MemoryLimit: o.MemoryLimit}
	if p.Config.S3Endpoint != "" && opts.Storage.S3Endpoint == "" {
		opts.Storage.S3Endpoint = p.Config.S3Endpoint
	}
	eng, err := engine.Open(context.WithoutCancel(ctx), opts)
	if err != nil {
		return err
	}
	defer eng.Close()
	// Queries from clients run on their own DuckDB database: one database schedules its
	// statements on one pool of worker threads, and the pipelines keep that pool busy; a
	// separate one keeps serving latency independent of the pipelines' batches.
	serveOpts := opts
	serveOpts.MemoryLimit = o.ServeMemoryLimit
	serving, err := engine.Open(context.WithoutCancel(ctx), serveOpts)
	if err != nil {
		return err
	}
	defer serving.Close()

	var pl *pipeline.Pipeline
	if len(p.Config.Pipelines) > 0 {
		if pl, err = pipeline.Load(ctx, p, eng); err != nil {
			return err
		}
		warns, err := pl.Validate(ctx)
		if err != nil {
			return err
		}
		for _, w := range warns {
			if o.Feed == nil { // the demo's warnings (files not landed yet) are expected
				logger.Warn(w.String())
			}
		}
	}
	var l log.Log
	if o.Feed != nil || (pl != nil && pl.ReadsTopics()) {
		if l, err = backends.Open(ctx, p.Config.Log); err != nil {
			return err
		}
		defer l.Close()
	}
	var feed *demo.Feed
	if o.Feed != nil {
		fo := *o.Feed
		fo.Logger = logger.With("component", "feed")
		if feed, err = demo.NewFeed(p, l, fo); err != nil {
			return err
		}
		// The topics exist before the pipelines look for them.
		if err := feed.CreateTopics(ctx); err != nil {
			return err
		}
	}

	monitor := serve.NewMonitor(pl, nil)
	var commits atomic.Int64
	srv, err := serve.New(serve.Options{Project: p, Engine: serving, Pipeline: pl, Monitor: monitor, Log: l, Assets: web.Assets,
		Storage: opts.Storage, Logger: logger.With("component", "http")})
	if err != nil {
		return err
	}
	// The log's ingest endpoint shares the HTTP server (the embedded log is open in this process
	// only); the API is bounded in flight, and both answer 429 with Retry-After beyond their bounds.
	extras := serve.Extras{}
	if l != nil {
		extras.Mounts = map[string]http.Handler{"/v1/topics/": httpingest.New(l, httpingest.Options{})}
	}
	if err := srv.Extend(extras); err != nil {
		return err
	}
	var pg *pgwire.Server
	if pgLn != nil {
		if pg, err = pgwire.New(pgwire.Options{Engine: serving, TrustLoopback: true, Password: o.PGPassword, Logger: logger.With("component", "pg")}); err != nil {
			return err
		}
	}

	host := httpLn.Addr().String()
	fmt.Fprintf(stdout, "Strata is serving %s (%s)\n", p.Config.Name, p.Dir)
	fmt.Fprintf(stdout, "  dashboard   http://%s/\n", host)
	fmt.Fprintf(stdout, "  HTTP API    http://%s/api/tables   (POST /api/sql {\"sql\": \"...\"})\n", host)
	for _, ep := range p.Config.Serve.Endpoints {
		fmt.Fprintf(stdout, "  endpoint    http://%s%s\n", host, ep.Path)
	}
	if l != nil {
		fmt.Fprintf(stdout, "  ingest      http://%s/v1/topics/{topic}/records   (POST NDJSON or a JSON array)\n", host)
	}
	fmt.Fprintf(stdout, "  metrics     http://%s/metrics\n", host)
	if pgLn != nil {
		h, port, _ := net.SplitHostPort(pgLn.Addr().String())
		fmt.Fprintf(stdout, "  Postgres    psql -h %s -p %s -U strata strata\n", h, port)
	}
	fmt.Fprintln(stdout, "Ctrl-C stops; running it again resumes where it stopped.")

	if o.Ready != nil {
		r := Running{HTTPAddr: host, Monitor: monitor, Feed: feed, Engine: serving}
		if pgLn != nil {
			r.PGAddr = pgLn.Addr().String()
		}
		o.Ready(r)
	}
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return srv.Serve(gctx, httpLn) })
	if pg != nil {
		grp.Go(func() error { return pg.Serve(gctx, pgLn) })
	}
	if feed != nil {
		grp.Go(func() error { return feed.Run(gctx) })
	}
	if pl != nil && !o.NoPipelines {
		so := pipeline.ServeOptions{
			Run: pipeline.RunOptions{Log: l, PollInterval: trigger, BatchMemory: BatchMemory, Logger: slog.New(warnOnly{logger.Handler()}).With("component", "pipeline"), OnEvent: func(e pipeline.Event) {
				if e.Event == pipeline.EventBatch || e.Event == pipeline.EventRefresh {
					commits.Add(1)
				}
				monitor.Observe(e)
			}},
			OnScheduled: func(s pipeline.Schedule, next time.Time) {
				for _, t := range s.Tables {
					monitor.SetSchedule(t, s.Cron, next)
				}
				logger.Info("next scheduled batch", "schedule", s.Cron, "at", next.Format(time.RFC3339), "tables", len(s.Tables))
			},
		}
		if feed != nil {
			so.BeforeBatch = func(ctx context.Context, _ pipeline.Schedule, at time.Time) error { return feed.DropNight(ctx, at) }
		}
		grp.Go(func() error { return pl.Serve(gctx, so) })
	}
	if o.StatusEvery > 0 {
		grp.Go(func() error {
			t := time.NewTicker(o.StatusEvery)
			defer t.Stop()
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-t.C:
				}
				args := []any{"commits", commits.Load()}
				if feed != nil {
					st := feed.Stats()
					args = append(args, "events", st.Produced[demo.TopicEvents], "orders", st.Produced[demo.TopicOrders],
						"customer_changes", st.Produced[demo.TopicCustomers])
				}
				logger.Info("status", args...)
			}
		})
	}
	err = grp.Wait()
	if errors.Is(err, context.Canceled) || ctx.Err() != nil && err == nil {
		err = nil
	}
	return err
}

// warnOnly passes on warnings and errors only: the pipeline runtime logs every batch at info
// level, which the status lines summarise.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnOnly{h.Handler.WithAttrs(attrs)}
}

func (h warnOnly) WithGroup(name string) slog.Handler { return warnOnly{h.Handler.WithGroup(name)} }

// isLoopback says whether a listener's address is a loopback one.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
