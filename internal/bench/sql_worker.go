package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Kinds of SQLWorkerSpec.
const (
	// WorkerStrata runs Script through Strata's engine on ProjectDir.
	WorkerStrata = "strata"
	// WorkerDuckDB runs Script on a plain DuckDB.
	WorkerDuckDB = "duckdb"
	// WorkerMergeByHand applies the MERGE source (ChangesFiles) to the table's files
	// (TableFiles) with plain DuckDB, writing the rewritten files under OutDir.
	WorkerMergeByHand = "merge-by-hand"
)

// SQLWorkerSpec is one timed run of the merge or optimize phase, executed by RunSQLWorker
// (usually in a child process, whose peak memory is then that run's).
type SQLWorkerSpec struct {
	// Kind is WorkerStrata, WorkerDuckDB or WorkerMergeByHand.
	Kind string `json:"kind"`
	// ProjectDir is the project Strata's engine opens (WorkerStrata).
	ProjectDir string `json:"projectDir,omitempty"`
	// Script is the SQL to run (WorkerStrata, WorkerDuckDB), statements separated by ";\n".
	Script string `json:"script,omitempty"`
	// Limits configure DuckDB in the worker.
	Limits SQLLimits `json:"limits"`
	// For WorkerMergeByHand: the table's data files, the MERGE source's files, and the folder
	// the rewritten files go to.
	TableFiles   []string `json:"tableFiles,omitempty"`
	ChangesFiles []string `json:"changesFiles,omitempty"`
	OutDir       string   `json:"outDir,omitempty"`
}

// SQLWorkerResult is what a run reports. A failing SQL statement is reported in Error (the
// phase is then pending), not as a failure of the worker.
type SQLWorkerResult struct {
	// ElapsedNs is the time of the statements alone, in nanoseconds (opening the session is not
	// counted).
	ElapsedNs int64 `json:"elapsedNs"`
	// CPUNs is the CPU time (user + system, all threads) of the statements, in nanoseconds; 0
	// when not measured (in-process runs).
	CPUNs   int64       `json:"cpuNs,omitempty"`
	Outcome *SQLOutcome `json:"outcome,omitempty"`
	// PeakRSS is the worker process's peak resident set size in bytes and StartRSS its resident
	// set size once its session was open, before the statements (both 0 when not measured:
	// in-process runs, systems without /proc).
	PeakRSS  int64 `json:"peakRssBytes,omitempty"`
	StartRSS int64 `json:"startRssBytes,omitempty"`
	// Touched lists the table files a WorkerMergeByHand run rewrote.
	Touched []string `json:"touched,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Elapsed returns ElapsedNs as a duration.
func (r *SQLWorkerResult) Elapsed() time.Duration { return time.Duration(r.ElapsedNs) }

// RunSQLWorker is the body of a worker process: it reads the SQLWorkerSpec in the JSON file
// specPath, runs it with driver and returns the SQLWorkerResult as JSON.
func RunSQLWorker(ctx context.Context, specPath string, driver SQLDriver) ([]byte, error) {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return nil, fmt.Errorf("bench: worker spec: %w", err)
	}
	var spec SQLWorkerSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("bench: worker spec %s: %w", specPath, err)
	}
	res, err := runSQLWorker(ctx, spec, driver, true)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// runSQLWorker runs spec; measure records the process's memory (when the process is the worker's
// own).
func runSQLWorker(ctx context.Context, spec SQLWorkerSpec, driver SQLDriver, measure bool) (*SQLWorkerResult, error) {
	var sess SQLSession
	var err error
	switch spec.Kind {
	case WorkerStrata:
		sess, err = driver.OpenStrata(ctx, spec.ProjectDir, spec.Limits)
	case WorkerDuckDB, WorkerMergeByHand:
		sess, err = driver.OpenDuckDB(ctx, spec.Limits)
	default:
		return nil, fmt.Errorf("bench: unknown worker kind %q", spec.Kind)
	}
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	res := &SQLWorkerResult{}
	if measure {
		res.StartRSS = selfRSS()
	}
	c0, t0 := cpuTime(), time.Now()
	if spec.Kind == WorkerMergeByHand {
		res.Touched, res.Outcome, err = mergeByHand(ctx, sess, spec)
	} else {
		res.Outcome, err = sess.Run(ctx, spec.Script, 10)
	}
	res.ElapsedNs = int64(time.Since(t0))
	if measure {
		res.CPUNs = int64(cpuTime() - c0)
		res.PeakRSS = selfPeakRSS()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res.Error = err.Error()
	}
	return res, nil
}

// mergeByHand is what a DuckDB user does without Strata to apply the MERGE: find the files that
// hold matched rows, then rewrite them with the changes applied and the new rows added, one
// output file per date partition (PARTITION_BY), as the copy-on-write MERGE does.
func mergeByHand(ctx context.Context, sess SQLSession, spec SQLWorkerSpec) ([]string, *SQLOutcome, error) {
	if len(spec.TableFiles) == 0 || len(spec.ChangesFiles) == 0 || spec.OutDir == "" {
		return nil, nil, fmt.Errorf("bench: merge-by-hand needs table files, changes files and an output directory")
	}
	find := "CREATE TEMP TABLE src AS SELECT * FROM read_parquet(" + sqlList(spec.ChangesFiles) + ");\n" +
		"CREATE TEMP TABLE hits AS SELECT filename, event_id FROM read_parquet(" + sqlList(spec.TableFiles) +
		", filename = true) WHERE event_id IN (SELECT event_id FROM src);\n" +
		"SELECT DISTINCT filename FROM hits ORDER BY filename"
	out, err := sess.Run(ctx, find, len(spec.TableFiles)+1)
	if err != nil {
		return nil, nil, err
	}
	var touched []string
	for _, row := range out.Values {
		touched = append(touched, row[0])
	}
	if len(touched) == 0 {
		return nil, out, nil
	}
	rewrite := "COPY (\n" +
		"  SELECT t.* REPLACE (coalesce(s.revenue, t.revenue) AS revenue)\n" +
		"  FROM read_parquet(" + sqlList(touched) + ", hive_partitioning = true) t\n" +
		"  LEFT JOIN src s ON t.event_id = s.event_id\n" +
		"  UNION ALL BY NAME\n" +
		"  SELECT s.* FROM src s ANTI JOIN hits h ON s.event_id = h.event_id\n" +
		") TO " + sqlString(spec.OutDir) + " (FORMAT parquet, PARTITION_BY (date), COMPRESSION zstd)"
	out, err = sess.Run(ctx, rewrite, 1)
	return touched, out, err
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sqlList renders paths as a DuckDB list of string literals.
func sqlList(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = sqlString(p)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// workerSeq names spec files uniquely.
var workerSeq atomic.Int64

// runWorker executes spec in a child process (c.WorkerCommand) and returns its result and peak
// resident set size in bytes (measured by the child, or by wait4 where it cannot), or in this
// process (no WorkerCommand) with a peak of 0 (not measured).
func (c SQLConfig) runWorker(ctx context.Context, spec SQLWorkerSpec) (*SQLWorkerResult, int64, error) {
	if len(c.WorkerCommand) == 0 {
		res, err := runSQLWorker(ctx, spec, c.Driver, false)
		return res, 0, err
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, 0, err
	}
	path := filepath.Join(c.Dir, fmt.Sprintf("worker-%d.json", workerSeq.Add(1)))
	if err := os.WriteFile(path, js, 0o644); err != nil {
		return nil, 0, fmt.Errorf("bench: %w", err)
	}
	defer os.Remove(path)
	argv := c.WorkerCommand
	cmd := exec.CommandContext(ctx, argv[0], append(append([]string{}, argv[1:]...), "--worker", path)...)
	cmd.Dir = c.Dir // DuckDB's default spill directory (.tmp) is relative to it
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, 0, fmt.Errorf("bench: worker process (%s): %w: %s", spec.Kind, err, strings.TrimSpace(stderr.String()))
	}
	var res SQLWorkerResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, 0, fmt.Errorf("bench: worker process (%s) printed no result: %w (stdout %q)", spec.Kind, err, abbreviate(stdout.String()))
	}
	rss := res.PeakRSS
	if rss == 0 {
		rss = peakRSS(cmd.ProcessState)
	}
	return &res, rss, nil
}
