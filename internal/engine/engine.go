// Package engine runs SQL over Strata's Delta tables with an embedded DuckDB. DuckDB does the
// compute; Strata owns the Delta log. Before DuckDB binds a statement, the engine resolves its
// table references (project tables as domain.table, any table by location as
// delta_scan('path-or-s3-url'), with time travel AT (VERSION => n) / AT (TIMESTAMP => ts)) to
// snapshots, prunes their files, and hands DuckDB temporary views over exactly the Parquet files a
// snapshot holds. Statements that change a table are executed by DuckDB and committed as Delta
// transactions through internal/table and internal/delta.
package engine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// Sentinel errors callers branch on.
var (
	// ErrUnknownTable: a domain.table reference names no table of the project.
	ErrUnknownTable = errors.New("unknown table")
	// ErrNoProject: a statement references domain.table but the engine has no project.
	ErrNoProject = errors.New("no project")
)

// Options configure an Engine.
type Options struct {
	// Project resolves domain.table references; nil allows only delta_scan('location').
	Project *project.Project
	// Storage passes S3 settings to every table opened.
	Storage storage.Options
	// CacheDir holds local copies of remote (S3) data files; default strata-cache under
	// os.TempDir(). Engines and processes may share it (see fileCache in cache.go).
	CacheDir string
	// CacheBytes bounds the cache (default DefaultCacheBytes, 2 GiB); the least recently used
	// files no running statement reads are evicted.
	CacheBytes int64
	// Threads and MemoryLimit tune DuckDB (0 / "" = DuckDB's defaults).
	Threads     int
	MemoryLimit string
	// Clock is used for commits (tests); default time.Now.
	Clock func() time.Time
	// WrapStore, when set, wraps the store of every table the engine opens (tests: fault
	// injection with storage.NewFaulty, or a store that commits concurrently). It is called once
	// per location, with the location as written.
	WrapStore func(location string, s storage.Store) storage.Store
}

// Engine is one embedded DuckDB database plus the Delta tables it reads and writes. It is safe for
// concurrent use: each statement runs on its own DuckDB connection.
type Engine struct {
	opts      Options
	connector *duckdb.Connector
	seq       atomic.Int64 // names temporary objects uniquely
	cache     *fileCache   // local copies of remote data files

	mu     sync.Mutex // guards tables
	tables map[string]*table.Table
}

// Open starts an engine.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	// The connection setup runs for every new connection, long after Open returns: it must not
	// use Open's context.
	init := func(execer driver.ExecerContext) error {
		stmts := []string{"SET TimeZone = 'UTC'", "SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false"}
		for _, s := range stmts {
			if _, err := execer.ExecContext(context.Background(), s, nil); err != nil {
				return fmt.Errorf("engine: %s: %w", s, err)
			}
		}
		return nil
	}
	connector, err := duckdb.NewConnector("", init)
	if err != nil {
		return nil, fmt.Errorf("engine: open duckdb: %w", err)
	}
	cache, err := cacheFor(opts.CacheDir, opts.CacheBytes)
	if err != nil {
		connector.Close()
		return nil, err
	}
	e := &Engine{opts: opts, connector: connector, cache: cache, tables: map[string]*table.Table{}}
	conn, err := e.connect(ctx)
	if err != nil {
		connector.Close()
		return nil, err
	}
	defer conn.Close()
	if opts.Threads > 0 {
		if err := conn.exec(ctx, fmt.Sprintf("SET threads = %d", opts.Threads)); err != nil {
			return nil, err
		}
	}
	if opts.MemoryLimit != "" {
		if err := conn.exec(ctx, "SET memory_limit = "+quoteString(opts.MemoryLimit)); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Close releases DuckDB. Results still being read must be released first.
func (e *Engine) Close() error { return e.connector.Close() }

// Project returns the engine's project (nil if none).
func (e *Engine) Project() *project.Project { return e.opts.Project }

// openTable returns the (cached) table handle for a location.
func (e *Engine) openTable(ctx context.Context, location string) (*table.Table, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.tables[location]; ok {
		return t, nil
	}
	topts := []table.Option{table.WithStorageOptions(e.opts.Storage), table.WithClock(e.opts.Clock)}
	if e.opts.WrapStore != nil {
		s, err := storage.Open(ctx, location, e.opts.Storage)
		if err != nil {
			return nil, fmt.Errorf("engine: open %s: %w", location, err)
		}
		topts = append(topts, table.WithStore(e.opts.WrapStore(location, s)))
	}
	t, err := table.Open(ctx, location, topts...)
	if err != nil {
		return nil, err
	}
	e.tables[location] = t
	return t, nil
}

// conn is one DuckDB connection, owned by one statement. It also holds the statement's cache
// lease: the remote files its views read stay in the cache until the connection is closed.
type conn struct {
	dc    driver.Conn
	lease *cacheLease // nil until the statement reads a remote table
}

func (e *Engine) connect(ctx context.Context) (*conn, error) {
	dc, err := e.connector.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: connect: %w", err)
	}
	return &conn{dc: dc}, nil
}

// Close closes the connection, then releases the statement's cache lease.
func (c *conn) Close() error {
	err := c.dc.Close()
	c.lease.release()
	return err
}

// exec runs a statement that returns no rows.
func (c *conn) exec(ctx context.Context, query string) error {
	_, err := c.dc.(driver.ExecerContext).ExecContext(ctx, query, nil)
	return err
}

// query runs a query and returns its rows as Arrow record batches.
func (c *conn) query(ctx context.Context, query string) (array.RecordReader, error) {
	ar, err := duckdb.NewArrowFromConn(c.dc)
	if err != nil {
		return nil, err
	}
	return ar.QueryContext(ctx, query)
}

// queryValue runs a query returning one VARCHAR-convertible value.
func (c *conn) queryString(ctx context.Context, query string, args ...driver.NamedValue) (string, error) {
	rows, err := c.dc.(driver.QueryerContext).QueryContext(ctx, query, args)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(vals); err != nil {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("engine: %s returned no rows", query)
		}
		return "", err
	}
	return fmt.Sprint(vals[0]), nil
}

// ScanReport says what one table reference of a statement read.
type ScanReport struct {
	Table          string `json:"table"`    // as written: domain.table or the location
	Location       string `json:"location"` // resolved location
	Version        int64  `json:"version"`
	FilesTotal     int    `json:"filesTotal"`
	FilesScanned   int    `json:"filesScanned"`
	FilesSkipped   int    `json:"filesSkipped"`
	BytesScanned   int64  `json:"bytesScanned"`
	BytesSkipped   int64  `json:"bytesSkipped"`
	PartitionsUsed bool   `json:"partitionPruning"`
	StatsUsed      bool   `json:"statsPruning"`
	Filter         string `json:"filter,omitempty"` // the pushed-down filter, in SQL
}

// Result is the outcome of one statement. For a query, Records streams its rows (the caller must
// Release it, and must do so before running the next statement of the same Run). For a command,
// Message says what happened and Fields holds the same as data (for --json).
type Result struct {
	// Statement is the statement's text as written.
	Statement string
	// Records streams a query's rows; nil for commands.
	Records array.RecordReader
	// Message is a one-line human summary for commands ("inserted 3 rows into sales.orders:
	// version 4").
	Message string
	// Fields is the command's outcome as data.
	Fields map[string]any
	// Scans reports the table references the statement read.
	Scans []ScanReport
}

// Run executes the statements of script in order, calling fn with each result. Execution stops at
// the first error, which names the statement (and, for DuckDB errors, keeps DuckDB's message with
// its position).
func (e *Engine) Run(ctx context.Context, script string, fn func(*Result) error) error {
	stmts, err := splitStatements(script)
	if err != nil {
		return err
	}
	for i, st := range stmts {
		res, err := e.execStatement(ctx, st)
		if err != nil {
			if len(stmts) > 1 {
				return fmt.Errorf("statement %d (%s): %w", i+1, abbreviate(st.Text), err)
			}
			return err
		}
		ferr := fn(res)
		if res.Records != nil {
			res.Records.Release()
		}
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// Query runs one query and returns its result; the caller must Release result.Records.
func (e *Engine) Query(ctx context.Context, query string) (*Result, error) {
	stmts, err := splitStatements(query)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("engine: Query takes one statement, got %d", len(stmts))
	}
	return e.execStatement(ctx, stmts[0])
}

// QueryWith runs one query (a SELECT, or any statement DuckDB runs itself) in which the names of
// inputs are tables holding the rows of the given Arrow readers, next to the project's tables: the
// streaming runtime runs a batch's SQL this way over the batch's rows. Each input is read whole
// before the query runs; the caller keeps ownership of the readers. The caller must Release
// result.Records; the inputs' tables disappear with it.
func (e *Engine) QueryWith(ctx context.Context, query string, inputs map[string]array.RecordReader) (*Result, error) {
	stmts, err := splitStatements(query)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("engine: QueryWith takes one statement, got %d", len(stmts))
	}
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	ar, err := duckdb.NewArrowFromConn(c.dc)
	if err != nil {
		c.Close()
		return nil, err
	}
	names := make([]string, 0, len(inputs))
	for name := range inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	// DuckDB's Arrow scan ignores the projections and filters the optimizer pushes into it
	// (duckdb/duckdb#17012): a view over it returns wrong columns and unfiltered rows. Each input
	// is therefore copied whole (SELECT *, which reads correctly) into a temp table of its name.
	for i, name := range names {
		// Arrow views are visible to every connection: the name must be unique in the process.
		hidden := fmt.Sprintf("strata_input_%d_%d", e.seq.Add(1), i)
		release, err := ar.RegisterView(inputs[name], hidden)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("engine: register input %s: %w", name, duckError(err))
		}
		// The copy is not interruptible: an interrupted DuckDB statement can return while its
		// worker threads still pull from the Arrow stream, and release frees the stream under
		// them (a crash: "misuse of an invalid Handle"). The copy is bounded in-memory work.
		err = c.exec(context.WithoutCancel(ctx), "CREATE TEMP TABLE "+quoteIdent(name)+" AS SELECT * FROM "+quoteIdent(hidden))
		if err == nil {
			err = c.exec(context.WithoutCancel(ctx), "DROP VIEW "+quoteIdent(hidden))
		}
		release()
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("engine: load input %s: %w", name, duckError(err))
		}
	}
	st := stmts[0]
	rewritten, scans, err := e.bindReferences(ctx, c, st)
	if err != nil {
		c.Close()
		return nil, err
	}
	rr, err := c.query(ctx, rewritten)
	if err != nil {
		c.Close()
		return nil, duckError(err)
	}
	return &Result{Statement: st.Text, Records: &connReader{RecordReader: rr, conn: c}, Scans: scans}, nil
}

func abbreviate(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// execStatement dispatches one statement.
func (e *Engine) execStatement(ctx context.Context, st statement) (*Result, error) {
	if handler := e.strataStatement(st); handler != nil {
		return handler(ctx)
	}
	return e.runDuckDB(ctx, st)
}

// runDuckDB runs a statement DuckDB executes itself, after replacing its Delta table references
// by temporary views.
func (e *Engine) runDuckDB(ctx context.Context, st statement) (*Result, error) {
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	rewritten, scans, err := e.bindReferences(ctx, c, st)
	if err != nil {
		c.Close()
		return nil, err
	}
	rr, err := c.query(ctx, rewritten)
	if err != nil {
		c.Close()
		return nil, duckError(err)
	}
	return &Result{Statement: st.Text, Records: &connReader{RecordReader: rr, conn: c}, Scans: scans}, nil
}

// connReader closes the statement's connection when its reader is released.
type connReader struct {
	array.RecordReader
	conn *conn
	once sync.Once
	refs atomic.Int64
}

func (r *connReader) Retain() { r.refs.Add(1) }

func (r *connReader) Release() {
	if r.refs.Add(-1) >= 0 {
		return
	}
	r.once.Do(func() {
		r.RecordReader.Release()
		r.conn.Close()
	})
}

// Err wraps DuckDB errors met while streaming.
func (r *connReader) Err() error { return duckError(r.RecordReader.Err()) }

var _ array.RecordReader = (*connReader)(nil)

// duckError keeps DuckDB's message (which carries the position and a caret line) but drops the
// driver's prefixes.
func duckError(err error) error {
	if err == nil {
		return nil
	}
	var de *duckdb.Error
	if errors.As(err, &de) {
		return &QueryError{Msg: de.Msg, Type: fmt.Sprint(de.Type)}
	}
	return err
}

// QueryError is an error DuckDB reported for a statement.
type QueryError struct {
	Type string
	Msg  string
}

func (e *QueryError) Error() string { return e.Msg }

// schemaOf is a helper for tests and callers: the Arrow schema of a snapshot's logical columns.
func schemaOf(snap *delta.Snapshot) *arrow.Schema { return delta.ToArrowSchema(snap.Schema()) }
