// Package bench measures Strata's Delta layer: how long loading the latest snapshot of a table with
// a long log takes (with and without checkpoints), how fast table writes append rows compared with
// writing the same rows to one plain Parquet file, and how many commits per second concurrent blind
// appenders achieve. The `strata bench delta` command and the `go test -bench` benchmarks of this
// package both call it.
//
// Figures are reported, never asserted: nothing here fails because a machine is slow. Every phase
// works in a directory the caller owns (Config.Dir) and leaves its tables there.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Phase names, as accepted by Config.Only and `strata bench delta --only`.
const (
	PhaseSnapshot = "snapshot"
	PhaseAppend   = "append"
	PhaseCommits  = "commits"
)

// Phases lists every phase in the order Run executes them.
var Phases = []string{PhaseSnapshot, PhaseAppend, PhaseCommits}

// Defaults of Config.
const (
	DefaultCommits            = 10_000
	DefaultCheckpointInterval = 10
	DefaultSnapshotRuns       = 10
	DefaultRows               = 10_000_000
	DefaultBatchRows          = 64 * 1024
	DefaultAppenders          = 8
	DefaultCommitDuration     = 10 * time.Second
	DefaultAppendRows         = 100
)

// Config says what Run measures and where. The zero value of every size field means its default.
type Config struct {
	// Dir is the directory the benchmark tables and files are written to (created if needed).
	// Required. Run leaves its content in place; the caller removes it.
	Dir string
	// Only restricts Run to one phase (PhaseSnapshot, PhaseAppend, PhaseCommits); "" runs all.
	Only string

	// Commits is the number of commits (versions 0..Commits-1) of each snapshot-load table.
	Commits int
	// CheckpointInterval is delta.checkpointInterval of the checkpointed table.
	CheckpointInterval int
	// FilesPerCommit is the number of add actions in each commit of the snapshot tables (default 1).
	FilesPerCommit int
	// SnapshotRuns is the number of timed snapshot loads after the first one.
	SnapshotRuns int

	// Rows is the number of rows the append phase writes.
	Rows int64
	// BatchRows is the number of rows per Arrow batch of the generated data.
	BatchRows int
	// Partitioned also times a write into a table partitioned by the low-cardinality column.
	Partitioned bool

	// Appenders is the number of concurrent blind appenders of the commit phase.
	Appenders int
	// CommitDuration bounds the commit phase (each of its rounds).
	CommitDuration time.Duration
	// CommitsPerAppender stops each appender after this many commits (0: CommitDuration only).
	CommitsPerAppender int
	// AppendRows is the number of rows of each tiny file the appenders write.
	AppendRows int
	// WorkerCommand, when set, also runs the commit phase with Appenders operating-system
	// processes: each runs WorkerCommand followed by the flag "--worker" and a JSON WorkerSpec, and
	// must print one JSON AppenderResult on stdout (see RunWorker). Empty: goroutines only.
	WorkerCommand []string

	// Observer receives progress and log lines; nil discards them.
	Observer Observer
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Dir == "" {
		return out, fmt.Errorf("bench: Config.Dir is required")
	}
	if out.Only != "" && !slices.Contains(Phases, out.Only) {
		return out, fmt.Errorf("bench: unknown phase %q (want %s)", out.Only, strings.Join(Phases, ", "))
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&out.Commits, DefaultCommits)
	def(&out.CheckpointInterval, DefaultCheckpointInterval)
	def(&out.FilesPerCommit, 1)
	def(&out.SnapshotRuns, DefaultSnapshotRuns)
	def(&out.BatchRows, DefaultBatchRows)
	def(&out.Appenders, DefaultAppenders)
	def(&out.AppendRows, DefaultAppendRows)
	if out.Rows <= 0 {
		out.Rows = DefaultRows
	}
	if out.CommitDuration <= 0 {
		out.CommitDuration = DefaultCommitDuration
	}
	if out.Commits < 2 {
		return out, fmt.Errorf("bench: Commits must be at least 2, got %d", out.Commits)
	}
	if out.Observer == nil {
		out.Observer = nopObserver{}
	}
	return out, nil
}

// Observer receives the progress of long phases. Implementations must be safe for concurrent use.
type Observer interface {
	// Start announces a phase of total units (<= 0: unknown) and returns its tracker.
	Start(desc string, total int64, unit string) Tracker
	// Logf reports one line of progress (no trailing newline needed).
	Logf(format string, args ...any)
}

// Tracker counts the work done in one phase.
type Tracker interface {
	Add(n int64)
	Done()
}

type nopObserver struct{}

func (nopObserver) Start(string, int64, string) Tracker { return nopTracker{} }
func (nopObserver) Logf(string, ...any)                 {}

type nopTracker struct{}

func (nopTracker) Add(int64) {}
func (nopTracker) Done()     {}

// Report holds every figure of a Run. Phases not run are nil.
type Report struct {
	Machine  Machine         `json:"machine"`
	Snapshot *SnapshotReport `json:"snapshot,omitempty"`
	Append   *AppendReport   `json:"append,omitempty"`
	Commits  *CommitReport   `json:"commits,omitempty"`
	// Elapsed is the wall time of the whole run.
	Elapsed Millis `json:"elapsedMs"`
}

// Machine describes where the figures were taken, load included (other work on the machine skews
// them).
type Machine struct {
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	GoVersion  string `json:"goVersion"`
	NumCPU     int    `json:"numCPU"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// LoadBefore and LoadAfter are the 1, 5 and 15 minute load averages (Linux; empty elsewhere).
	LoadBefore []float64 `json:"loadBefore,omitempty"`
	LoadAfter  []float64 `json:"loadAfter,omitempty"`
	// Dir is where the tables were written.
	Dir string `json:"dir"`
}

// Millis is a duration that JSON renders as a number of milliseconds.
type Millis time.Duration

// MarshalJSON renders the duration in milliseconds with microsecond precision.
func (m Millis) MarshalJSON() ([]byte, error) {
	return json.Marshal(roundTo(float64(m)/1e6, 3))
}

// D returns the duration.
func (m Millis) D() time.Duration { return time.Duration(m) }

// String renders the duration rounded for reading (3 significant places or so).
func (m Millis) String() string { return FormatDuration(time.Duration(m)) }

// FormatDuration renders d with a unit chosen for reading: "850µs", "12.3ms", "4.56s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func roundTo(f float64, places int) float64 {
	p, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', places, 64), 64)
	return p
}

// Run executes the phases cfg selects, in the order of Phases, and returns their figures. A
// cancelled ctx stops the current phase and returns ctx's error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: create %s: %w", c.Dir, err)
	}
	start := time.Now()
	rep := &Report{Machine: machineInfo(c.Dir)}
	rep.Machine.LoadBefore = LoadAverage()
	run := func(p string) bool { return c.Only == "" || c.Only == p }
	if run(PhaseSnapshot) {
		if rep.Snapshot, err = RunSnapshot(ctx, c); err != nil {
			return nil, err
		}
	}
	if run(PhaseAppend) {
		if rep.Append, err = RunAppend(ctx, c); err != nil {
			return nil, err
		}
	}
	if run(PhaseCommits) {
		if rep.Commits, err = RunCommits(ctx, c); err != nil {
			return nil, err
		}
	}
	rep.Machine.LoadAfter = LoadAverage()
	rep.Elapsed = Millis(time.Since(start))
	return rep, nil
}

func machineInfo(dir string) Machine {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(),
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Dir: abs}
}

// LoadAverage reads /proc/loadavg (1, 5 and 15 minutes); nil where it does not exist.
func LoadAverage() []float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	fields := strings.Fields(string(data))
	var out []float64
	for _, f := range fields[:min(3, len(fields))] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}

// Summary describes a set of timings.
type Summary struct {
	N      int    `json:"n"`
	Min    Millis `json:"minMs"`
	Median Millis `json:"medianMs"`
	P90    Millis `json:"p90Ms"`
	P99    Millis `json:"p99Ms"`
	Max    Millis `json:"maxMs"`
	Mean   Millis `json:"meanMs"`
}

// Summarize returns the order statistics of ds (nearest-rank percentiles). ds is not modified.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Summary{N: len(s), Min: Millis(s[0]), Median: Millis(Percentile(s, 50)), P90: Millis(Percentile(s, 90)),
		P99: Millis(Percentile(s, 99)), Max: Millis(s[len(s)-1]), Mean: Millis(sum / time.Duration(len(s)))}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted, which must be
// sorted ascending and non-empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// CPUTime is the user plus system CPU time this process has used so far (0 where unknown).
func CPUTime() time.Duration { return cpuTime() }

// PeakRSS is this process's peak resident set size in bytes since it started or since the last
// ResetPeakRSS (VmHWM on Linux; 0 elsewhere).
func PeakRSS() int64 { return selfPeakRSS() }

// RSS is this process's current resident set size in bytes (0 where unknown).
func RSS() int64 { return selfRSS() }

// ResetPeakRSS makes PeakRSS start again from the current resident set (Linux: clear_refs 5);
// where that fails, PeakRSS stays the peak since the process started.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
