package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// This file is the SQL benchmark of issue 3 (`strata bench sql`), on generated e-commerce events
// (internal/gen):
//
//	aggregate  the seed's user_stats aggregation over a Delta table through Strata's engine,
//	           beside plain DuckDB over exactly the same Parquet files
//	merge      MERGE of a small share of changed keys (and a few new rows) into that table,
//	           beside DuckDB rewriting the touched files by hand, time and peak memory of each
//	optimize   OPTIMIZE of a table of many small files (DuckDB compacting the same files beside
//	           it, for context)
//
// The package does not link DuckDB: the caller supplies an SQLDriver that opens Strata's engine
// and a plain DuckDB (internal/cli does). Memory is measured per process: the merge and optimize
// runs execute in child processes (SQLConfig.WorkerCommand) whose peak resident set size the
// operating system reports when they exit.

// SQL benchmark phases, as accepted by SQLConfig.Only and `strata bench sql --only`.
const (
	SQLPhaseAggregate = "aggregate"
	SQLPhaseMerge     = "merge"
	SQLPhaseOptimize  = "optimize"
)

// SQLPhases lists the phases in the order RunSQL executes them.
var SQLPhases = []string{SQLPhaseAggregate, SQLPhaseMerge, SQLPhaseOptimize}

// Defaults of SQLConfig.
const (
	DefaultSQLRows             = 20_000_000
	DefaultSQLDays             = 30
	DefaultSQLRuns             = 5
	DefaultMergeRuns           = 3
	DefaultMergeFraction       = 0.01
	DefaultSmallFiles          = 10_000
	DefaultSmallFileRows       = 100
	DefaultSmallFilesPerCommit = 100
	DefaultOptimizeRuns        = 3
	DefaultSQLMemoryLimit      = "1GB"
)

// Goals of issue 3 (reported, never asserted).
const (
	AggregateGoalRatio = 1.1
	MergeGoalRatio     = 2.0
	MergeGoalRSS       = 2 << 30
)

// SQLConfig says what RunSQL measures and where. The zero value of every size field means its
// default.
type SQLConfig struct {
	// Dir is the benchmark's project folder (strata.yaml and warehouse/ are created in it).
	// Required. RunSQL leaves its content in place; the caller removes it.
	Dir string
	// Only restricts RunSQL to one phase; "" runs all.
	Only string
	// Rows is the number of events of the aggregated and merged table.
	Rows int64
	// Seed selects the events; Days is the number of days (date partitions) they span.
	Seed uint64
	Days int
	// Runs is the number of timed runs of each aggregation query (after one warm-up run each).
	Runs int
	// MergeRuns is the number of timed MERGE runs of each method, each on a fresh copy of the
	// table (hard links to its data files).
	MergeRuns int
	// MergeFraction is the share of the table's events whose revenue the MERGE source changes;
	// MergeNewRows is the number of new events it inserts (default Rows/10000).
	MergeFraction float64
	MergeNewRows  int64
	// SmallFiles is the number of files of the OPTIMIZE table, each of SmallFileRows events
	// (a file whose events span two dates is written as two files), committed
	// SmallFilesPerCommit files per commit.
	SmallFiles          int
	SmallFileRows       int
	SmallFilesPerCommit int
	// OptimizeRuns is the number of timed OPTIMIZE runs, each on a fresh copy of the table.
	OptimizeRuns int
	// Limits apply to DuckDB in the merge and optimize runs (both Strata's and plain DuckDB's);
	// the aggregation runs with DuckDB's defaults. MemoryLimit defaults to
	// DefaultSQLMemoryLimit; TempDir to Dir/duckdb-tmp.
	Limits SQLLimits
	// Driver opens Strata's engine and plain DuckDB. Required.
	Driver SQLDriver
	// WorkerCommand, when set, runs each merge and optimize run as a process: WorkerCommand
	// followed by "--worker" and the path of a JSON SQLWorkerSpec; it must print one JSON
	// SQLWorkerResult on stdout (see RunSQLWorker). Empty: the runs execute in this process and
	// peak memory is not measured.
	WorkerCommand []string
	// Observer receives progress and log lines; nil discards them.
	Observer Observer
}

func (c *SQLConfig) withDefaults() (SQLConfig, error) {
	out := *c
	if out.Dir == "" {
		return out, fmt.Errorf("bench: SQLConfig.Dir is required")
	}
	if out.Driver == nil {
		return out, fmt.Errorf("bench: SQLConfig.Driver is required")
	}
	if out.Only != "" && !slices.Contains(SQLPhases, out.Only) {
		return out, fmt.Errorf("bench: unknown SQL phase %q (want %s)", out.Only, strings.Join(SQLPhases, ", "))
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&out.Days, DefaultSQLDays)
	def(&out.Runs, DefaultSQLRuns)
	def(&out.MergeRuns, DefaultMergeRuns)
	def(&out.SmallFiles, DefaultSmallFiles)
	def(&out.SmallFileRows, DefaultSmallFileRows)
	def(&out.SmallFilesPerCommit, DefaultSmallFilesPerCommit)
	def(&out.OptimizeRuns, DefaultOptimizeRuns)
	if out.Rows <= 0 {
		out.Rows = DefaultSQLRows
	}
	if out.Seed == 0 {
		out.Seed = 1
	}
	if out.MergeFraction <= 0 || out.MergeFraction > 1 {
		out.MergeFraction = DefaultMergeFraction
	}
	if out.MergeNewRows <= 0 {
		out.MergeNewRows = max(out.Rows/10_000, 1)
	}
	if out.Limits.MemoryLimit == "" {
		out.Limits.MemoryLimit = DefaultSQLMemoryLimit
	}
	if out.Limits.TempDir == "" {
		out.Limits.TempDir = filepath.Join(out.Dir, "duckdb-tmp")
	}
	if out.Observer == nil {
		out.Observer = nopObserver{}
	}
	return out, nil
}

// SQLLimits tune a DuckDB instance.
type SQLLimits struct {
	// MemoryLimit is DuckDB's memory_limit ("1GB"; "" = DuckDB's default, 80% of RAM).
	MemoryLimit string `json:"memoryLimit,omitempty"`
	// Threads is DuckDB's threads setting (0 = one per CPU).
	Threads int `json:"threads,omitempty"`
	// TempDir is where DuckDB spills ("" = its default).
	TempDir string `json:"tempDir,omitempty"`
}

// SQLDriver opens the two SQL systems the benchmark compares. Implementations live where DuckDB
// is linked (internal/cli).
type SQLDriver interface {
	// OpenStrata starts Strata's SQL engine on the project in projectDir.
	OpenStrata(ctx context.Context, projectDir string, limits SQLLimits) (SQLSession, error)
	// OpenDuckDB starts a plain embedded DuckDB (no Strata) with the same settings, time zone UTC.
	OpenDuckDB(ctx context.Context, limits SQLLimits) (SQLSession, error)
}

// SQLSession runs SQL on one system. Plain DuckDB sessions keep one connection, so temporary
// tables live from one Run to the next; Strata sessions run each statement on its own connection
// (as the engine does). Sessions are not safe for concurrent use.
type SQLSession interface {
	// Run executes the statements of script in order, reading every row of every result (as
	// Arrow record batches), and returns what they returned; the values of the first keepRows
	// rows of the last query are kept as text.
	Run(ctx context.Context, script string, keepRows int) (*SQLOutcome, error)
	// Close releases the session.
	Close() error
}

// SQLOutcome is what a script returned.
type SQLOutcome struct {
	// Rows counts the rows of every query result.
	Rows int64 `json:"rows"`
	// Values holds the first rows of the last query result, rendered as text (NULL as "NULL").
	Values [][]string `json:"values,omitempty"`
	// Message and Fields are the last Strata command's summary and data (MERGE, OPTIMIZE).
	Message string         `json:"message,omitempty"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// SQLReport holds every figure of a RunSQL. Phases not run are nil.
type SQLReport struct {
	Machine Machine `json:"machine"`
	// Settings are the effective configuration.
	Settings SQLSettings `json:"settings"`
	// Events is the table the aggregate and merge phases use.
	Events    *EventsTable     `json:"events,omitempty"`
	Aggregate *AggregateReport `json:"aggregate,omitempty"`
	Merge     *MergeReport     `json:"merge,omitempty"`
	Optimize  *OptimizeReport  `json:"optimize,omitempty"`
	// Elapsed is the wall time of the whole run.
	Elapsed Millis `json:"elapsedMs"`
}

// SQLSettings is the configuration a report was taken with.
type SQLSettings struct {
	Rows          int64     `json:"rows"`
	Seed          uint64    `json:"seed"`
	Days          int       `json:"days"`
	Runs          int       `json:"runs"`
	MergeRuns     int       `json:"mergeRuns"`
	MergeFraction float64   `json:"mergeFraction"`
	MergeNewRows  int64     `json:"mergeNewRows"`
	SmallFiles    int       `json:"smallFiles"`
	SmallFileRows int       `json:"smallFileRows"`
	OptimizeRuns  int       `json:"optimizeRuns"`
	Limits        SQLLimits `json:"limits"`
	Processes     bool      `json:"processes"`
}

// RunSQL executes the phases cfg selects and returns their figures. A phase whose Strata
// statement fails (MERGE or OPTIMIZE not available yet, for instance) is reported as pending with
// the error, and the other phases still run. A cancelled ctx stops the run with ctx's error.
func RunSQL(ctx context.Context, cfg SQLConfig) (*SQLReport, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{c.Dir, c.Limits.TempDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("bench: create %s: %w", d, err)
		}
	}
	if err := writeProject(c.Dir); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &SQLReport{Machine: machineInfo(c.Dir), Settings: SQLSettings{
		Rows: c.Rows, Seed: c.Seed, Days: c.Days, Runs: c.Runs, MergeRuns: c.MergeRuns, MergeFraction: c.MergeFraction,
		MergeNewRows: c.MergeNewRows, SmallFiles: c.SmallFiles, SmallFileRows: c.SmallFileRows, OptimizeRuns: c.OptimizeRuns,
		Limits: c.Limits, Processes: len(c.WorkerCommand) > 0,
	}}
	rep.Machine.LoadBefore = LoadAverage()
	run := func(p string) bool { return c.Only == "" || c.Only == p }
	if run(SQLPhaseAggregate) || run(SQLPhaseMerge) {
		if rep.Events, err = buildEventsTable(ctx, c); err != nil {
			return nil, err
		}
	}
	if run(SQLPhaseAggregate) {
		if rep.Aggregate, err = runAggregate(ctx, c, rep.Events); err != nil {
			return nil, err
		}
	}
	if run(SQLPhaseMerge) {
		if rep.Merge, err = runMerge(ctx, c, rep.Events); err != nil {
			return nil, err
		}
	}
	if run(SQLPhaseOptimize) {
		if rep.Optimize, err = runOptimize(ctx, c); err != nil {
			return nil, err
		}
	}
	rep.Machine.LoadAfter = LoadAverage()
	rep.Elapsed = Millis(time.Since(start))
	return rep, nil
}

// ratio returns a/b rounded to 2 places (0 when b is 0).
func ratio(a, b Millis) float64 {
	if b <= 0 {
		return 0
	}
	return roundTo(float64(a)/float64(b), 2)
}

// UnmarshalJSON reads the milliseconds MarshalJSON writes, so that reports read back.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*m = Millis(time.Duration(ms * 1e6))
	return nil
}
