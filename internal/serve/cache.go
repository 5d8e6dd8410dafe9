package serve

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalake/strata/internal/engine"
)

// This file is the serving layer's hot store: in-memory copies of the tables the project's
// endpoints read, in a private DuckDB database of the server, so that an endpoint request is one
// small query on memory instead of an engine statement (a new connection, Delta snapshot
// resolution, views over Parquet files). It is the seed's Lambda serving layer, kept up to date
// from the Delta log.

// Serving cache tuning.
const (
	// cacheCheckEvery is how often the refresher reads the cached tables' Delta logs for newer
	// versions (the monitor's commits arrive sooner; this catches writers outside the pipeline and
	// commits a slow subscriber missed) and retries endpoints whose tables it has not found yet.
	cacheCheckEvery = time.Second
	// cacheMinReload spaces the reloads of one table: a burst of commits costs one reload.
	cacheMinReload = time.Second
	// cacheMaxBackoff bounds the wait before retrying a failed reload or table discovery.
	cacheMaxBackoff = 30 * time.Second
	// cacheProbeTimeout bounds the engine statement that finds the tables an endpoint reads.
	cacheProbeTimeout = 30 * time.Second
	// cacheMaxLag is how far behind the latest commit a copy may be before requests stop reading
	// it and ask the engine (a reload that keeps failing, or one slower than this).
	cacheMaxLag = 10 * time.Second
	// cacheMaxTableBytes is the largest table copied, in bytes of Parquet data files of its latest
	// version: a bigger table is not cached and the endpoints that read it answer through the
	// engine. (A guard against hopeless loads; cacheMemoryLimit is the bound that holds.)
	cacheMaxTableBytes int64 = 64 << 20
	// cacheMemoryLimit is the hot store's DuckDB memory limit: the copies, including the new copy
	// of the table being reloaded, live within it.
	cacheMemoryLimit = "1GB"
)

// Sources of an endpoint's answer (the X-Strata-Source header, the "source" field).
const (
	sourceCache  = "cache"
	sourceEngine = "engine"
)

// errTableTooBig: a table exceeds cacheMaxTableBytes, so it is not copied.
var errTableTooBig = errors.New("table too big for the serving cache")

// reservedCatalogs are the names DuckDB resolves as catalogs before schemas: a domain named so
// cannot be a schema of the hot store (a reference to it would not reach the copy).
var reservedCatalogs = map[string]bool{"memory": true, "system": true, "temp": true}

// hotStore keeps, for the server's endpoints, in-memory copies of the tables their SQL reads, in
// a private DuckDB database: one schema per domain and one table per table, so an endpoint's SQL
// runs there unchanged. A request runs on the copies when every table its endpoint reads has one
// (reporting the copies' versions), and through the engine otherwise.
//
// Freshness: a refresher goroutine reloads a table when the monitor reports a commit to it or
// when its periodic check (cacheCheckEvery) finds a newer version in the Delta log; at most once
// per table per cacheMinReload, one table at a time. A reload copies the table's latest version
// through the engine (so deletion vectors, column mapping and the rest of the protocol are the
// engine's business) and swaps it in atomically: requests keep reading the previous copy until
// the new one is in, and never see a half-loaded one. An answer is therefore about
// cacheMinReload plus one reload behind the latest commit at most, and says which versions it
// read; a copy that falls more than cacheMaxLag behind (its reloads fail, or take longer) is
// not read, and its endpoints answer through the engine until it catches up.
//
// Memory: each copy is a whole table in DuckDB's in-memory format, uncompressed: about the sum of
// its columns' widths per row (a 100,000-row table of five numeric and date columns takes about
// 3.5 MB), often ten times or more its Parquet size. The store holds one copy of every table the
// endpoints read, plus, during a reload (one at a time), the new copy of one table. DuckDB's
// memory limit (cacheMemoryLimit, 1 GB) bounds the whole, without spilling to disk: a reload
// that does not fit fails, the previous copy stays in service until cacheMaxLag, then the
// endpoints answer through the engine. Tables above cacheMaxTableBytes of Parquet files are not
// even tried (maxTableBytes; tests lower it).
//
// Lifecycle: nothing runs until start (Serve, or the first endpoint request); close stops the
// refresher and frees the copies, after which endpoints answer through the engine.
type hotStore struct {
	s *Server

	reloads  *prometheus.CounterVec
	failures *prometheus.CounterVec
	rows     *prometheus.GaugeVec
	version  *prometheus.GaugeVec

	// closed is set once by close; a request checks it with swap held (see query).
	closed atomic.Bool
	seq    atomic.Int64 // names the Arrow views of loads
	// maxTableBytes is the size bound of a copy (cacheMaxTableBytes; tests lower it).
	maxTableBytes atomic.Int64

	mu sync.Mutex // guards started, db, connector, cancel, plans and tables
	// started is set by start (even when the database failed to open: no second try).
	started   bool
	db        *sql.DB // nil until started, or when the database failed to open
	connector *duckdb.Connector
	cancel    context.CancelFunc
	// plans holds each endpoint's plan once found (the refresher finds them).
	plans map[*endpoint]*cachePlan
	// tables are the tables of the plans, by lower-case domain.table (DuckDB's names are case
	// insensitive).
	tables map[string]*hotTable

	// swap is held for reading while a request's query runs on db, and for writing while a
	// reload commits its copy (and sets the version): the versions a request reports are those of
	// the copies its query read. Lock order: swap before mu.
	swap sync.RWMutex

	// wg counts the refresher and its reload.
	wg sync.WaitGroup
}

// cachePlan is what the store knows of one endpoint: the tables its SQL reads, or why it
// answers through the engine.
type cachePlan struct {
	// tables are the tables read, sorted by name (empty: the SQL reads no table).
	tables []*hotTable
	// reason, when set, says why the endpoint is not answered from the store.
	reason string
	// skipUntil (Unix nanoseconds) sets the store aside for the endpoint for a while after its
	// query failed there to bind (a table or column the copies lack, say a column added since
	// the last reload): the engine answers meanwhile.
	skipUntil atomic.Int64
}

// hotTable is one cached table.
type hotTable struct {
	name              string // domain.table as the endpoint's SQL writes it
	domain, table     string
	location          string
	version, rowCount atomic.Int64 // of the copy loaded; version -1: none yet; written with swap held for writing
	// behind is when the copy fell behind the newest version known (Unix nanoseconds; 0: it is
	// not behind). Written by the refresher, read by requests (cacheMaxLag).
	behind atomic.Int64

	// Scheduling state, owned by the refresher goroutine.
	latest    int64     // the newest version known to exist (-1: unknown)
	lastStart time.Time // when the last reload started
	retryAt   time.Time // after a failure: not before then
	failures  int       // consecutive failures
}

// newHotStore builds the store and registers its metrics; nothing runs before start.
func newHotStore(s *Server) *hotStore {
	h := &hotStore{s: s, plans: map[*endpoint]*cachePlan{}, tables: map[string]*hotTable{},
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_serve_cache_reloads_total",
			Help: "Copies of each table loaded into the serving cache (the endpoints' hot store).",
		}, []string{"table"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_serve_cache_reload_failures_total",
			Help: "Failed reloads of each table of the serving cache (the previous copy stays in use).",
		}, []string{"table"}),
		rows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_serve_cache_rows",
			Help: "Rows of each table's copy in the serving cache.",
		}, []string{"table"}),
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_serve_cache_version",
			Help: "Delta version of each table's copy in the serving cache.",
		}, []string{"table"}),
	}
	s.registry.MustRegister(h.reloads, h.failures, h.rows, h.version)
	h.maxTableBytes.Store(cacheMaxTableBytes)
	return h
}

// start opens the store's database and starts the refresher, once; it does nothing after
// close. A database that fails to open is logged, and the endpoints answer through the engine.
func (h *hotStore) start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.closed.Load() {
		return
	}
	h.started = true
	if len(h.s.endpoints) == 0 {
		return
	}
	init := func(execer driver.ExecerContext) error {
		// As the engine's connections: UTC, and no extension downloads.
		for _, st := range []string{"SET TimeZone = 'UTC'", "SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false"} {
			if _, err := execer.ExecContext(context.Background(), st, nil); err != nil {
				return fmt.Errorf("serve cache: %s: %w", st, err)
			}
		}
		return nil
	}
	connector, err := duckdb.NewConnector("", init)
	if err != nil {
		h.s.logger.Warn("serve cache: cannot open its database; endpoints answer through the engine", "err", err)
		return
	}
	db := sql.OpenDB(connector)
	// One thread: a request's small query runs whole on its goroutine's thread (handing it to
	// DuckDB's workers costs more than it saves on copies of this size, and competes with the
	// pipelines' DuckDB under load); concurrent requests run in parallel on their own
	// connections, and a reload's copy is single-threaded. The memory limit bounds the copies
	// (there is no temporary directory to spill to: a copy that does not fit fails to load).
	for _, st := range []string{"SET threads = 1", "SET memory_limit = '" + cacheMemoryLimit + "'", "SET temp_directory = ''"} {
		if _, err := db.Exec(st); err != nil {
			h.s.logger.Warn("serve cache: cannot set up its database; endpoints answer through the engine", "statement", st, "err", err)
			db.Close()
			connector.Close()
			return
		}
	}
	h.connector, h.db = connector, db
	// Requests each hold a connection for the time of one small query: keep enough idle ones
	// that a burst does not open and close connections.
	h.db.SetMaxIdleConns(4 * runtime.GOMAXPROCS(0))
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.wg.Add(1)
	go h.run(ctx)
}

// close stops the refresher (interrupting a reload), waits for the requests running on the
// store, and frees the copies. Endpoints answer through the engine afterwards. Idempotent.
func (h *hotStore) close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.mu.Lock()
	cancel := h.cancel
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	h.wg.Wait()
	h.swap.Lock() // no request runs on the store any more
	defer h.swap.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	var err error
	if h.db != nil {
		err = h.db.Close()
		if cerr := h.connector.Close(); err == nil {
			err = cerr
		}
		h.db, h.connector = nil, nil
	}
	return err
}

// query answers an endpoint's SQL (its parameters substituted) from the copies, reading at most
// limit rows as readRows does. ok is false when it cannot (the store is not running, the
// endpoint's tables are not known, not all loaded yet or too far behind, the endpoint is not
// cacheable, or its query failed on the store): the caller then asks the engine, which reports
// any error in the SQL itself. err is set only when the request's context ended (499) or the timeout expired
// (504). versions are the versions of the copies read.
func (h *hotStore) query(ctx context.Context, e *endpoint, sql string, timeout time.Duration, limit int, exempt map[string]bool) (rs *rowSet, versions map[string]int64, ok bool, err error) {
	h.start()
	h.mu.Lock()
	db, plan := h.db, h.plans[e]
	h.mu.Unlock()
	if db == nil || plan == nil || plan.reason != "" || time.Now().UnixNano() < plan.skipUntil.Load() {
		return nil, nil, false, nil
	}
	h.swap.RLock()
	defer h.swap.RUnlock()
	if h.closed.Load() {
		return nil, nil, false, nil
	}
	versions = make(map[string]int64, len(plan.tables))
	for _, t := range plan.tables {
		v := t.version.Load()
		if v < 0 {
			return nil, nil, false, nil
		}
		if b := t.behind.Load(); b != 0 && time.Since(time.Unix(0, b)) > cacheMaxLag {
			return nil, nil, false, nil
		}
		versions[t.name] = v
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := db.Conn(qctx)
	if err == nil {
		err = conn.Raw(func(dc any) error {
			ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
			if err != nil {
				return err
			}
			rr, err := ar.QueryContext(qctx, sql)
			if err != nil {
				return err
			}
			defer rr.Release()
			if rs, err = readRows(&engine.Result{Records: rr}, limit, exempt); err != nil {
				return err
			}
			return rr.Err()
		})
		conn.Close()
	}
	switch {
	case err == nil:
		return rs, versions, true, nil
	case ctx.Err() != nil:
		return nil, nil, false, errorf(499, "the request was canceled: %v", ctx.Err())
	case errors.Is(qctx.Err(), context.DeadlineExceeded):
		return nil, nil, false, errorf(http.StatusGatewayTimeout, "the query did not finish within its timeout of %s", timeout)
	}
	var de *duckdb.Error
	if errors.As(err, &de) && (de.Type == duckdb.ErrorTypeCatalog || de.Type == duckdb.ErrorTypeBinder) {
		plan.skipUntil.Store(time.Now().Add(cacheMaxBackoff).UnixNano())
		h.s.logger.Info("serve cache: the endpoint's query does not bind on the copies; the engine answers it for a while",
			"endpoint", e.cfg.Path, "for", cacheMaxBackoff.String(), "err", err)
	} else {
		h.s.logger.Debug("serve cache: query failed on the copies, asking the engine", "endpoint", e.cfg.Path, "err", err)
	}
	return nil, nil, false, nil
}

// reloadResult is the outcome of one reload, sent to the refresher.
type reloadResult struct {
	t   *hotTable
	err error
}

// planAttempt is the refresher's state of an endpoint whose plan is not found yet.
type planAttempt struct {
	failures int
	retryAt  time.Time
	lastErr  string
}

// run is the refresher: it finds the endpoints' plans, follows the tables' versions (the
// monitor's commits, the periodic Delta check) and starts the reloads, one at a time. It returns
// when ctx ends, after the reload in flight returned.
func (h *hotStore) run(ctx context.Context) {
	defer h.wg.Done()
	commits, unsubscribe := h.s.monitor.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(cacheCheckEvery)
	defer tick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	results := make(chan reloadResult, 1)
	attempts := map[*endpoint]*planAttempt{}
	loading := false
	defer func() {
		if loading {
			<-results
		}
	}()
	h.findPlans(ctx, attempts)
	for {
		if !loading {
			next := h.startDue(ctx, results)
			loading = next.IsZero()
			if !loading {
				timer.Reset(max(time.Until(next), time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			return
		case c, ok := <-commits:
			if !ok {
				commits = nil
				continue
			}
			if t := h.table(c.Table); t != nil && c.Version > t.latest {
				t.setLatest(c.Version)
			}
		case <-tick.C:
			h.findPlans(ctx, attempts)
			h.checkVersions(ctx)
		case r := <-results:
			loading = false
			h.finishReload(r)
		case <-timer.C:
		}
	}
}

// table returns the cached table of a name (nil if none).
func (h *hotStore) table(name string) *hotTable {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tables[strings.ToLower(name)]
}

// allTables returns the cached tables, sorted by name.
func (h *hotStore) allTables() []*hotTable {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*hotTable, 0, len(h.tables))
	for _, t := range h.tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// startDue starts the reload of the table that has waited longest among those due (no copy
// yet, or a newer version known; the last reload at least cacheMinReload ago; no failure
// backoff pending) and returns the zero time; when none is due it returns when the next one
// will be (far in the future when none waits). Called by the refresher only, with no reload
// in flight.
func (h *hotStore) startDue(ctx context.Context, results chan<- reloadResult) time.Time {
	now := time.Now()
	next := now.Add(time.Hour)
	var pick *hotTable
	var pickDue time.Time
	for _, t := range h.allTables() {
		v := t.version.Load()
		if v >= 0 && t.latest <= v {
			continue
		}
		due := t.lastStart.Add(cacheMinReload)
		if t.retryAt.After(due) {
			due = t.retryAt
		}
		if due.After(now) {
			if due.Before(next) {
				next = due
			}
			continue
		}
		if pick == nil || due.Before(pickDue) {
			pick, pickDue = t, due
		}
	}
	if pick == nil {
		return next
	}
	pick.lastStart = now
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		results <- reloadResult{t: pick, err: h.reload(ctx, pick)}
	}()
	return time.Time{}
}

// finishReload records a reload's outcome: a failure backs off (doubling up to
// cacheMaxBackoff) and is logged.
func (h *hotStore) finishReload(r reloadResult) {
	t := r.t
	if r.err == nil {
		t.failures, t.retryAt = 0, time.Time{}
		if t.latest <= t.version.Load() {
			t.behind.Store(0)
		} else {
			// Commits noticed during the reload may be newer than what it read: the copy is as
			// old as the reload's start at most.
			t.behind.Store(t.lastStart.UnixNano())
		}
		return
	}
	t.failures++
	backoff := min(cacheMinReload<<min(t.failures, 6), cacheMaxBackoff)
	if errors.Is(r.err, errTableTooBig) {
		backoff = cacheMaxBackoff
	}
	t.retryAt = time.Now().Add(backoff)
	h.failures.WithLabelValues(t.name).Inc()
	if !h.closed.Load() {
		h.s.logger.Warn("serve cache: reload failed; the endpoints keep the previous copy (or ask the engine)",
			"table", t.name, "failures", t.failures, "retry_in", backoff.String(), "err", r.err)
	}
}

// findPlans finds the plans of the endpoints that have none yet and whose retry time came.
func (h *hotStore) findPlans(ctx context.Context, attempts map[*endpoint]*planAttempt) {
	now := time.Now()
	for _, e := range h.s.endpoints {
		h.mu.Lock()
		known := h.plans[e] != nil
		h.mu.Unlock()
		a := attempts[e]
		if known || a != nil && now.Before(a.retryAt) {
			continue
		}
		plan, err := h.findPlan(ctx, e)
		if err == nil {
			err = h.addPlan(e, plan)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if a == nil {
				a = &planAttempt{}
				attempts[e] = a
			}
			a.failures++
			a.retryAt = now.Add(min(cacheCheckEvery<<min(a.failures, 6), cacheMaxBackoff))
			if msg := err.Error(); msg != a.lastErr {
				a.lastErr = msg
				h.s.logger.Debug("serve cache: cannot find the tables of an endpoint yet; it answers through the engine",
					"endpoint", e.cfg.Path, "err", err)
			}
			continue
		}
		delete(attempts, e)
		if plan.reason != "" {
			h.s.logger.Info("serve cache: endpoint answered through the engine", "endpoint", e.cfg.Path, "reason", plan.reason)
		}
	}
}

// addPlan records an endpoint's plan, sharing the tables other plans read. Two references that
// DuckDB would take for one table (names differing in case only) but that name different
// locations make the endpoint uncacheable.
func (h *hotStore) addPlan(e *endpoint, plan *cachePlan) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, t := range plan.tables {
		key := strings.ToLower(t.name)
		have := h.tables[key]
		switch {
		case have == nil:
			h.tables[key] = t
		case have.location != t.location:
			h.plans[e] = &cachePlan{reason: fmt.Sprintf("%s and %s differ in case only but are different tables", have.name, t.name)}
			return nil
		default:
			plan.tables[i] = have
		}
	}
	h.plans[e] = plan
	return nil
}

// findPlan finds the tables an endpoint's SQL reads: the engine runs it with every placeholder
// filled with a typed NULL (then, if that fails, a typed zero) and reports its table scans. A
// plan with a reason is final (the endpoint is not cacheable); an error (such as a table that
// does not exist yet) is worth retrying.
func (h *hotStore) findPlan(ctx context.Context, e *endpoint) (*cachePlan, error) {
	if why := uncacheableSQL(e.cfg.SQL); why != "" {
		return &cachePlan{reason: why}, nil
	}
	var scans []engine.ScanReport
	var err error
	for _, fill := range []func(typ string) string{nullLiteral, zeroLiteral} {
		literals := map[string]string{}
		for name, typ := range e.params {
			literals[name] = fill(typ)
		}
		if scans, err = h.probe(ctx, substitute(e.cfg.SQL, e.placeholders, literals)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("serve cache: endpoint %s: %w", e.cfg.Path, err)
	}
	plan := &cachePlan{}
	seen := map[string]bool{}
	for _, sc := range scans {
		d, tb, ok := strings.Cut(sc.Table, ".")
		if !ok || !isIdentifier(d) || !isIdentifier(tb) {
			return &cachePlan{reason: fmt.Sprintf("it reads %s, not a domain.table of the project", sc.Table)}, nil
		}
		if loc, err := h.s.proj.TableLocation(d, tb); err != nil || loc != sc.Location {
			return &cachePlan{reason: fmt.Sprintf("%s is not read from its project location", sc.Table)}, nil
		}
		if reservedCatalogs[strings.ToLower(d)] {
			return &cachePlan{reason: fmt.Sprintf("domain %s is a name DuckDB reserves for a catalog", d)}, nil
		}
		if seen[sc.Table] {
			continue
		}
		seen[sc.Table] = true
		t := &hotTable{name: sc.Table, domain: d, table: tb, location: sc.Location, latest: -1}
		t.version.Store(-1)
		plan.tables = append(plan.tables, t)
	}
	sort.Slice(plan.tables, func(i, j int) bool { return plan.tables[i].name < plan.tables[j].name })
	return plan, nil
}

// probe runs a statement through the engine and returns its table scans without reading its rows.
func (h *hotStore) probe(ctx context.Context, sql string) ([]engine.ScanReport, error) {
	pctx, cancel := context.WithTimeout(ctx, cacheProbeTimeout)
	defer cancel()
	res, err := h.s.opts.Engine.Query(pctx, sql)
	if err != nil {
		return nil, err
	}
	if res.Records != nil {
		res.Records.Release()
	}
	return res.Scans, nil
}

// uncacheableSQL says why an endpoint's SQL must run on the engine ("" when it can run on the
// copies): statements other than queries (DESCRIBE HISTORY and the like are the engine's own),
// time travel (AT (VERSION => n)) and delta_scan, which name versions or files the copies do not
// hold.
func uncacheableSQL(sql string) string {
	toks, err := lexSQL(sql)
	if err != nil || len(toks) == 0 {
		return "its SQL does not parse"
	}
	switch head := toks[0]; {
	case head.kind == 'p' && head.up == "(":
	case head.kind == 'w' && (head.up == "SELECT" || head.up == "WITH" || head.up == "FROM" || head.up == "VALUES" || head.up == "TABLE"):
	default:
		return fmt.Sprintf("a %s statement is the engine's", strings.ToUpper(sql[head.start:head.end]))
	}
	for i, t := range toks {
		if t.kind != 'w' {
			continue
		}
		if t.up == "AT" && i+1 < len(toks) && toks[i+1].kind == 'p' && toks[i+1].up == "(" {
			return "it reads a table at a given version or time (AT (...))"
		}
		if t.up == "DELTA_SCAN" {
			return "it reads a table by location (delta_scan)"
		}
	}
	return ""
}

// nullLiteral is a typed NULL of a parameter type.
func nullLiteral(typ string) string { return "CAST(NULL AS " + typ + ")" }

// zeroLiteral is a typed zero value of a parameter type.
func zeroLiteral(typ string) string {
	switch typ {
	case paramVarchar:
		return "''"
	case paramDate:
		return "DATE '1970-01-01'"
	case paramTimestamp:
		return "TIMESTAMP '1970-01-01 00:00:00'"
	}
	return "CAST(0 AS " + typ + ")"
}

// checkVersions reads the latest version of every cached table from its Delta log (through the
// server's snapshot cache, which reads only the new commits).
func (h *hotStore) checkVersions(ctx context.Context) {
	for _, t := range h.allTables() {
		snap, err := h.s.snaps.latest(ctx, t.location)
		if err != nil {
			continue // the reload reports it
		}
		t.setLatest(snap.Version())
	}
}

// setLatest records the newest version known to exist, and so whether the copy is behind it.
// Called by the refresher only.
func (t *hotTable) setLatest(v int64) {
	t.latest = v
	switch {
	case v <= t.version.Load():
		t.behind.Store(0)
	case t.behind.Load() == 0:
		t.behind.Store(time.Now().UnixNano())
	}
}

// reload copies the latest version of a table into the store and swaps it in: the engine reads
// the table (as SELECT * FROM domain.table), DuckDB's Arrow scan streams its rows into a new
// table in one transaction, and the transaction commits with swap held for writing. A table
// above cacheMaxTableBytes has its copy dropped instead (errTableTooBig).
func (h *hotStore) reload(ctx context.Context, t *hotTable) error {
	start := time.Now()
	snap, err := h.s.snaps.latest(ctx, t.location)
	if err != nil {
		return fmt.Errorf("serve cache: %s: %w", t.name, err)
	}
	if size, bound := snap.SizeInBytes(), h.maxTableBytes.Load(); size > bound {
		h.drop(ctx, t)
		return fmt.Errorf("serve cache: %s: %w: version %d holds %d bytes of data files (the bound is %d)", t.name, errTableTooBig, snap.Version(), size, bound)
	}
	h.mu.Lock()
	db := h.db
	h.mu.Unlock()
	res, err := h.s.opts.Engine.Query(ctx, "SELECT * FROM "+quoteIdent(t.domain)+"."+quoteIdent(t.table))
	if err != nil {
		return fmt.Errorf("serve cache: read %s: %w", t.name, err)
	}
	defer res.Records.Release()
	if len(res.Scans) != 1 {
		return fmt.Errorf("serve cache: read %s: the engine reported %d scans, want 1", t.name, len(res.Scans))
	}
	version := res.Scans[0].Version
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("serve cache: %s: %w", t.name, err)
	}
	defer conn.Close()
	var rows int64
	err = conn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		ar, err := duckdb.NewArrowFromConn(c)
		if err != nil {
			return err
		}
		view := fmt.Sprintf("strata_cache_load_%d", h.seq.Add(1))
		release, err := ar.RegisterView(res.Records, view)
		if err != nil {
			return fmt.Errorf("register the rows: %w", err)
		}
		// The copy is not interrupted through DuckDB: an interrupted statement can return while its
		// threads still pull from the Arrow stream, which release then frees under them. It ends
		// early when ctx ends all the same: the engine's reader stops, and the copy fails.
		bg := context.WithoutCancel(ctx)
		err = exec(bg, c, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(t.domain))
		if err == nil {
			err = exec(bg, c, "BEGIN TRANSACTION")
		}
		if err == nil {
			err = exec(bg, c, "CREATE OR REPLACE TABLE "+quoteIdent(t.domain)+"."+quoteIdent(t.table)+" AS SELECT * FROM "+quoteIdent(view))
			if err == nil {
				rows, err = queryInt64(bg, c, "SELECT count(*) FROM "+quoteIdent(t.domain)+"."+quoteIdent(t.table))
			}
			if err == nil {
				h.swap.Lock()
				err = exec(bg, c, "COMMIT")
				if err == nil {
					t.version.Store(version)
					t.rowCount.Store(rows)
				}
				h.swap.Unlock()
			}
			if err != nil {
				_ = exec(bg, c, "ROLLBACK")
			}
		}
		if derr := exec(bg, c, "DROP VIEW IF EXISTS "+quoteIdent(view)); err == nil && derr != nil {
			err = derr
		}
		release()
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("serve cache: load %s version %d: %w", t.name, version, err)
	}
	h.reloads.WithLabelValues(t.name).Inc()
	h.rows.WithLabelValues(t.name).Set(float64(rows))
	h.version.WithLabelValues(t.name).Set(float64(version))
	h.s.logger.Debug("serve cache: loaded", "table", t.name, "version", version, "rows", rows,
		"elapsed_ms", millis(time.Since(start)))
	return nil
}

// drop removes a table's copy (its endpoints then answer through the engine).
func (h *hotStore) drop(ctx context.Context, t *hotTable) {
	h.mu.Lock()
	db := h.db
	h.mu.Unlock()
	h.swap.Lock()
	defer h.swap.Unlock()
	if t.version.Load() < 0 {
		return
	}
	t.version.Store(-1)
	t.rowCount.Store(0)
	h.rows.DeleteLabelValues(t.name)
	h.version.DeleteLabelValues(t.name)
	if _, err := db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+quoteIdent(t.domain)+"."+quoteIdent(t.table)); err != nil {
		h.s.logger.Warn("serve cache: drop a copy", "table", t.name, "err", err)
	}
}

// exec runs a statement on a driver connection.
func exec(ctx context.Context, c driver.Conn, query string) error {
	_, err := c.(driver.ExecerContext).ExecContext(ctx, query, nil)
	return err
}

// queryInt64 runs a query returning one integer on a driver connection.
func queryInt64(ctx context.Context, c driver.Conn, query string) (int64, error) {
	rows, err := c.(driver.QueryerContext).QueryContext(ctx, query, nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(vals); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("%s returned no row", query)
		}
		return 0, err
	}
	n, ok := vals[0].(int64)
	if !ok {
		return 0, fmt.Errorf("%s returned %T, not an integer", query, vals[0])
	}
	return n, nil
}

// quoteIdent quotes a DuckDB identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
