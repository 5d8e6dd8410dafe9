// Package serve is the HTTP side of `strata serve`: a JSON API over the project's tables and
// pipelines (the contract shared with the web UI is /work/ref/briefs/api6.md, summarised in
// each handler's comment), the project's declared serving endpoints, the dashboard's queries,
// server-sent events on every pipeline commit, Prometheus metrics, a health check, and the
// embedded web UI's files.
//
// The parts, one concern per file:
//   - serve.go (this file): Options, Server, the routes, request logging and HTTP metrics;
//   - monitor.go: Monitor, the live view of pipeline activity (counters, rates, freshness);
//   - readonly.go: the read-only statement check and the endpoint placeholders;
//   - query.go, values.go: running a query and encoding Arrow results as JSON, CSV or Arrow IPC;
//   - tables.go, pipelines.go, endpoints.go, dashboard.go, sse.go, metrics.go, assets.go: the
//     handlers;
//   - cache.go: the endpoints' hot store, in-memory copies of the tables they read.
//
// Every query goes through the engine (so through the one place that resolves domain.table
// names), except the endpoints' queries answered from the hot store, whose copies the engine
// loads; the server itself only reads Delta logs (table details and history) directly.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/pipeline"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/storage"
)

// ErrConfig: the project's serve: configuration is invalid (an endpoint's path, params or SQL,
// a dashboard panel). New wraps it with the endpoint or panel at fault.
var ErrConfig = errors.New("invalid serve configuration")

// Defaults of Options.
const (
	// DefaultMaxRows is the row limit of a query when the request names none.
	DefaultMaxRows = 10000
	// MaxRowsLimit is the largest row limit a request may ask for.
	MaxRowsLimit = 100000
	// DefaultQueryTimeout bounds a query when the request names no timeout.
	DefaultQueryTimeout = 30 * time.Second
	// DefaultFreshnessSLA is the data latency a project promises when serve.freshness_sla is unset.
	DefaultFreshnessSLA = 5 * time.Minute
)

// Options configure a Server.
type Options struct {
	// Project is the served project; nil takes the engine's.
	Project *project.Project
	// Engine runs every query; required.
	Engine *engine.Engine
	// Pipeline is the project's loaded and validated pipeline; nil: the project has none (then
	// /api/pipelines lists no flows and tables have kind "table").
	Pipeline *pipeline.Pipeline
	// Monitor sees the pipeline's events (pass Monitor.Observe as pipeline.RunOptions.OnEvent);
	// nil: NewMonitor(Pipeline, Clock).
	Monitor *Monitor
	// Log is the project's event log; nil: no ingest and consumer lag metrics.
	Log log.Log
	// Assets are the web UI's files, index.html at the root; nil serves a page saying the
	// dashboard is not built.
	Assets fs.FS
	// Storage passes S3 settings to the tables the server reads directly (give the engine's).
	Storage storage.Options
	// MaxRows is the default row limit of a query (default DefaultMaxRows, at most MaxRowsLimit).
	MaxRows int
	// QueryTimeout is the default timeout of a query (default DefaultQueryTimeout).
	QueryTimeout time.Duration
	// Logger receives request lines (debug) and errors; nil discards them.
	Logger *slog.Logger
	// Clock is the time source for as_of, freshness and rates (tests); default time.Now.
	Clock func() time.Time
}

// Server serves the HTTP API of one project. Build it with New; it is safe for concurrent use.
// Its handler works without Serve (for tests and embedding); Serve adds a listener and a
// graceful shutdown.
type Server struct {
	opts    Options
	proj    *project.Project
	monitor *Monitor
	logger  *slog.Logger
	sla     time.Duration
	started time.Time
	handler http.Handler

	endpoints []*endpoint
	// nodes describes the pipeline's nodes (nil without a pipeline); immutable after New.
	nodes *nodeIndex

	registry     *prometheus.Registry
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	tables *tablesCache
	snaps  *snapshotCache
	assets *assetServer
	// cache holds the endpoints' hot store (cache.go).
	cache *hotStore

	// done is closed when Serve's context ends: open event streams return.
	done     chan struct{}
	doneOnce sync.Once
}

// New checks the project's serve configuration (the endpoints' paths, params and SQL, the
// dashboard's panels, the freshness SLA) and builds the server. Errors wrap ErrConfig and name
// the endpoint or panel at fault.
func New(opts Options) (*Server, error) {
	if opts.Engine == nil {
		return nil, errors.New("serve: Options.Engine is required")
	}
	if opts.Project == nil {
		opts.Project = opts.Engine.Project()
	}
	if opts.Project == nil {
		return nil, errors.New("serve: Options.Project is required (the engine has no project either)")
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultMaxRows
	}
	opts.MaxRows = min(opts.MaxRows, MaxRowsLimit)
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Monitor == nil {
		opts.Monitor = NewMonitor(opts.Pipeline, opts.Clock)
	}
	s := &Server{opts: opts, proj: opts.Project, monitor: opts.Monitor, logger: opts.Logger, sla: DefaultFreshnessSLA,
		started: opts.Clock(), done: make(chan struct{})}
	cfg := opts.Project.Config.Serve
	if cfg.FreshnessSLA != "" {
		d, err := time.ParseDuration(cfg.FreshnessSLA)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("serve: %w: %s: serve.freshness_sla %q is not a positive Go duration (such as 5m)", ErrConfig, s.proj.File, cfg.FreshnessSLA)
		}
		s.sla = d
	}
	for _, t := range cfg.FreshnessTables {
		d, tb, ok := strings.Cut(t, ".")
		if _, err := s.proj.TableLocation(d, tb); !ok || err != nil {
			return nil, fmt.Errorf("serve: %w: %s: serve.freshness_tables: %q is not a domain.table name", ErrConfig, s.proj.File, t)
		}
	}
	if opts.Pipeline != nil {
		idx, err := newNodeIndex(opts.Pipeline)
		if err != nil {
			return nil, err
		}
		s.nodes = idx
	}
	if err := checkPanels(s.proj.File, cfg.Dashboard.Panels); err != nil {
		return nil, err
	}
	for i, ep := range cfg.Endpoints {
		e, err := newEndpoint(ep)
		if err != nil {
			return nil, fmt.Errorf("serve: %w: %s: serve.endpoints[%d] (%s): %w", ErrConfig, s.proj.File, i, ep.Path, err)
		}
		s.endpoints = append(s.endpoints, e)
	}
	s.tables = newTablesCache(s)
	s.snaps = newSnapshotCache(opts.Storage)
	s.assets = newAssetServer(opts.Assets)
	s.initMetrics()
	s.cache = newHotStore(s)
	mux, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = s.instrument(mux)
	return s, nil
}

// Monitor returns the server's monitor (the one given in Options, or the one New made).
func (s *Server) Monitor() *Monitor { return s.monitor }

// Handler returns the server's HTTP handler: the API, the endpoints, /metrics, /healthz and the
// web UI.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers HTTP requests on ln until ctx ends, then shuts down gracefully: the listener
// closes, open event streams end, and requests in flight get up to the query timeout to finish
// before their connections are closed. It returns nil after a shutdown asked for by ctx, or the
// error that stopped the server. The endpoints' hot store loads while Serve runs, and is closed
// when it returns (see Close).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.cache.start()
	defer s.cache.close()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.stopStreams()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.stopStreams()
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.QueryTimeout+5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("serve: shutdown: %w", err)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("serve: %w", serr)
	}
	return err
}

// Close stops the endpoints' hot store (its refresher, and the in-memory copies of the tables
// the endpoints read), which the first endpoint request or Serve started. The handler keeps
// working: endpoints then answer through the engine. Serve closes it when it returns; a server
// used through Handler alone should be closed before its engine. Idempotent.
func (s *Server) Close() error { return s.cache.close() }

// stopStreams ends the open event streams (once).
func (s *Server) stopStreams() { s.doneOnce.Do(func() { close(s.done) }) }

// routes registers every handler. Project endpoints are registered last: a path that conflicts
// with a built-in route is a configuration error.
func (s *Server) routes() (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/sql", s.handleSQL)
	mux.HandleFunc("GET /api/sql", s.handleSQL)
	mux.HandleFunc("GET /api/tables", s.handleTables)
	mux.HandleFunc("GET /api/tables/{name}", s.handleTable)
	mux.HandleFunc("GET /api/tables/{name}/rows", s.handleTableRows)
	mux.HandleFunc("GET /api/pipelines", s.handlePipelines)
	mux.HandleFunc("GET /api/dashboard", s.handleDashboard)
	mux.HandleFunc("GET /api/events", s.handleEvents)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no API route GET "+r.URL.Path)
	})
	mux.Handle("GET /", s.assets)
	for _, e := range s.endpoints {
		if err := register(mux, "GET "+e.cfg.Path, s.endpointHandler(e)); err != nil {
			return nil, fmt.Errorf("serve: %w: %s: endpoint %s: %w", ErrConfig, s.proj.File, e.cfg.Path, err)
		}
	}
	return mux, nil
}

// register adds a route, turning ServeMux's panic on an invalid or conflicting pattern into an
// error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// handleHealth answers 200 {"status":"ok"} when the engine runs SELECT 1, else 503 with the
// reason.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	res, err := s.opts.Engine.Query(ctx, "SELECT 1")
	if err == nil {
		for res.Records.Next() {
		}
		err = res.Records.Err()
		res.Records.Release()
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "engine: SELECT 1 failed: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// apiError is an error answer: an HTTP status and a message naming the problem.
type apiError struct {
	code int
	msg  string
	// cause is the error the answer reports, when there is one to branch on (errors.Is).
	cause error
}

func (e *apiError) Error() string { return e.msg }

func (e *apiError) Unwrap() error { return e.cause }

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// writeJSON answers v as JSON with the status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
	w.Write([]byte("\n"))
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
	w.Write([]byte("\n"))
}

// writeErr answers an error: an *apiError with its status, anything else as 500.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.code, ae.msg)
		return
	}
	s.logger.Error("serve: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}

// statusWriter records the status code of an answer. It keeps the underlying writer reachable
// (Unwrap) so that http.ResponseController can flush event streams.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// FlushError flushes the underlying writer (http.ResponseController uses it).
func (w *statusWriter) FlushError() error {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush lets handlers that assert http.Flusher flush through the wrapper.
func (w *statusWriter) Flush() { _ = w.FlushError() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times every request by route (the ServeMux pattern that matched) and
// logs it at debug level.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		s.httpRequests.WithLabelValues(route, fmt.Sprint(sw.code)).Inc()
		s.httpDuration.WithLabelValues(route).Observe(elapsed.Seconds())
		s.logger.Debug("http request", "method", r.Method, "path", r.URL.Path, "route", route, "status", sw.code,
			"elapsed_ms", float64(elapsed.Microseconds())/1000, "remote", r.RemoteAddr)
	})
}

// rfc3339 formats a time as the API does: RFC 3339 in UTC with microseconds ("" for the zero
// time).
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// timeLayout is RFC 3339 with microseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// millis converts a duration to float milliseconds (microsecond precision).
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
