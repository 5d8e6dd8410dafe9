package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
)

// CommitReport is the commit rate of concurrent blind appenders on one table.
type CommitReport struct {
	Appenders int `json:"appenders"`
	// RowsPerCommit is the size of the tiny Parquet file each append writes.
	RowsPerCommit int    `json:"rowsPerCommit"`
	Note          string `json:"note"`
	// Goroutines ran the appenders in this process; Processes (optional) in separate processes.
	Goroutines CommitRound  `json:"goroutines"`
	Processes  *CommitRound `json:"processes,omitempty"`
}

// CommitsNote describes what an append in the commit phase does.
const CommitsNote = "each append: load the latest snapshot, write one tiny zstd Parquet file, commit one add action (blind append; retries on lost races with the kernel's jittered backoff); the table checkpoints every 10 versions"

// CommitRound is the outcome of one run of concurrent appenders.
type CommitRound struct {
	Mode      string `json:"mode"`
	Table     string `json:"table"`
	Appenders int    `json:"appenders"`
	// Window is how long the appenders started new appends; Elapsed runs from the common start
	// to the end of the last commit (appends in flight at the end of the window finish).
	Window  Millis `json:"windowMs"`
	Elapsed Millis `json:"elapsedMs"`
	// Commits counts every commit; CommitsPerSec only those that ended within the window,
	// divided by the window (with CommitsPerAppender set, the window ends at the last commit).
	Commits       int     `json:"commits"`
	CommitsPerSec float64 `json:"commitsPerSec"`
	// AttemptsPerCommit is the mean of CommitResult.Attempts (1 = no lost race); MaxAttempts the
	// largest.
	AttemptsPerCommit float64 `json:"attemptsPerCommit"`
	MaxAttempts       int     `json:"maxAttempts"`
	// CommitLatency times Transaction.Commit (retries and post-commit checkpoints included);
	// AppendLatency the whole append (snapshot load, data file, commit).
	CommitLatency Summary `json:"commitLatency"`
	AppendLatency Summary `json:"appendLatency"`
	Checkpoints   int     `json:"checkpoints"`
	// Failures counts appends that returned an error; FirstError is the first.
	Failures   int    `json:"failures"`
	FirstError string `json:"firstError,omitempty"`
	// FinalVersion is the table's latest version afterwards (Commits + 1 when nothing failed).
	FinalVersion int64 `json:"finalVersion"`
}

// WorkerSpec tells one appender what to do; RunWorker takes it as JSON.
type WorkerSpec struct {
	// Table is the directory of an existing table.
	Table string `json:"table"`
	// ID distinguishes appenders (it seeds their data).
	ID int `json:"id"`
	// Start is when to begin (all appenders start together); Until when to stop starting appends.
	Start time.Time `json:"start"`
	Until time.Time `json:"until"`
	// MaxCommits stops the appender after this many commits (0: no limit).
	MaxCommits int `json:"maxCommits"`
	// Rows is the number of rows per appended file.
	Rows int `json:"rows"`
}

// AppenderResult is what one appender did. Latencies are in nanoseconds.
type AppenderResult struct {
	ID          int     `json:"id"`
	Commits     int     `json:"commits"`
	Attempts    []int   `json:"attempts"`
	CommitNanos []int64 `json:"commitNanos"`
	AppendNanos []int64 `json:"appendNanos"`
	// EndUnixNanos is when each commit returned.
	EndUnixNanos  []int64   `json:"endUnixNanos"`
	Checkpoints   int       `json:"checkpoints"`
	Failures      int       `json:"failures"`
	FirstError    string    `json:"firstError,omitempty"`
	LastCommitEnd time.Time `json:"lastCommitEnd"`
}

// RunCommits runs cfg.Appenders blind appenders on a new table under cfg.Dir
// ("commits-goroutines") for cfg.CommitDuration (or cfg.CommitsPerAppender commits each), then, if
// cfg.WorkerCommand is set, the same with as many processes ("commits-processes").
func RunCommits(ctx context.Context, cfg Config) (*CommitReport, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rep := &CommitReport{Appenders: c.Appenders, RowsPerCommit: c.AppendRows, Note: CommitsNote}
	round, err := runRound(ctx, c, "goroutines", func(ctx context.Context, spec WorkerSpec) (*AppenderResult, error) {
		return RunWorker(ctx, spec)
	})
	if err != nil {
		return nil, err
	}
	rep.Goroutines = *round
	if len(c.WorkerCommand) > 0 {
		round, err := runRound(ctx, c, "processes", func(ctx context.Context, spec WorkerSpec) (*AppenderResult, error) {
			return runWorkerProcess(ctx, c.WorkerCommand, spec)
		})
		if err != nil {
			return nil, err
		}
		rep.Processes = round
	}
	return rep, nil
}

func runRound(ctx context.Context, c Config, mode string, run func(context.Context, WorkerSpec) (*AppenderResult, error)) (*CommitRound, error) {
	dir := filepath.Join(c.Dir, "commits-"+mode)
	kt, err := openKernel(dir)
	if err != nil {
		return nil, err
	}
	if err := createTable(ctx, kt, nil, nil); err != nil {
		return nil, err
	}
	lead := 50 * time.Millisecond
	if mode == "processes" {
		lead = time.Second // time for the processes to start
	}
	start := time.Now().Add(lead)
	until := start.Add(c.CommitDuration)
	c.Observer.Logf("commits: %d appenders (%s) on %s for %s", c.Appenders, mode, dir, c.CommitDuration)
	tr := c.Observer.Start("appending ("+mode+")", 0, "commits")
	stop := make(chan struct{})
	go func() { // count the commits as they land
		last := int64(0)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if snap, err := kt.Snapshot(ctx, -1); err == nil && snap.Version() > last {
					tr.Add(snap.Version() - last)
					last = snap.Version()
				}
			}
		}
	}()
	results := make([]*AppenderResult, c.Appenders)
	errs := make([]error, c.Appenders)
	var wg sync.WaitGroup
	for i := range c.Appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = run(ctx, WorkerSpec{Table: dir, ID: i, Start: start, Until: until, MaxCommits: c.CommitsPerAppender, Rows: c.AppendRows})
		}()
	}
	wg.Wait()
	close(stop)
	tr.Done()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	round := aggregate(mode, dir, start, until, results)
	if snap, err := kt.Snapshot(ctx, -1); err == nil {
		round.FinalVersion = snap.Version()
	} else {
		return nil, fmt.Errorf("bench: final snapshot of %s: %w", dir, err)
	}
	c.Observer.Logf("commits: %s: %d commits in %s = %.1f commits/s, %.2f attempts/commit, commit p50 %s p99 %s",
		mode, round.Commits, round.Elapsed, round.CommitsPerSec, round.AttemptsPerCommit, round.CommitLatency.Median, round.CommitLatency.P99)
	return round, nil
}

func aggregate(mode, dir string, start, until time.Time, results []*AppenderResult) *CommitRound {
	r := &CommitRound{Mode: mode, Table: dir, Appenders: len(results)}
	var commits, appends []time.Duration
	attempts, inWindow := 0, 0
	end := start
	for _, a := range results {
		r.Commits += a.Commits
		r.Checkpoints += a.Checkpoints
		r.Failures += a.Failures
		if r.FirstError == "" {
			r.FirstError = a.FirstError
		}
		for _, n := range a.Attempts {
			attempts += n
			r.MaxAttempts = max(r.MaxAttempts, n)
		}
		for _, ns := range a.CommitNanos {
			commits = append(commits, time.Duration(ns))
		}
		for _, ns := range a.AppendNanos {
			appends = append(appends, time.Duration(ns))
		}
		if a.LastCommitEnd.After(end) {
			end = a.LastCommitEnd
		}
		for _, ns := range a.EndUnixNanos {
			if ns <= until.UnixNano() {
				inWindow++
			}
		}
	}
	r.Elapsed = Millis(end.Sub(start))
	window := until.Sub(start)
	if end.Before(until) { // every appender reached CommitsPerAppender early
		window = end.Sub(start)
	}
	r.Window = Millis(window)
	if s := window.Seconds(); s > 0 {
		r.CommitsPerSec = roundTo(float64(inWindow)/s, 1)
	}
	if r.Commits > 0 {
		r.AttemptsPerCommit = roundTo(float64(attempts)/float64(r.Commits), 2)
	}
	r.CommitLatency, r.AppendLatency = Summarize(commits), Summarize(appends)
	return r
}

// RunWorker is one blind appender: from spec.Start until spec.Until (or spec.MaxCommits commits)
// it loads the latest snapshot of spec.Table, writes one tiny data file and commits it. Failed
// appends are counted, not returned; the error is for a worker that cannot run at all. Cancelling
// ctx stops it after the current append.
func RunWorker(ctx context.Context, spec WorkerSpec) (*AppenderResult, error) {
	store, err := storage.NewLocal(spec.Table)
	if err != nil {
		return nil, fmt.Errorf("bench: worker %d: open %s: %w", spec.ID, spec.Table, err)
	}
	kt := delta.NewTable(store, parquetio.Codec{})
	rows := max(spec.Rows, 1)
	recs := GenerateRows(int64(spec.ID)*1_000_000_000, int64(rows), rows, uint64(spec.ID)+100)
	defer ReleaseAll(recs)
	res := &AppenderResult{ID: spec.ID}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(spec.Start)):
	}
	for time.Now().Before(spec.Until) && (spec.MaxCommits <= 0 || res.Commits < spec.MaxCommits) {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		cr, commitTime, err := blindAppend(ctx, kt, recs[0])
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			res.Failures++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			continue
		}
		res.LastCommitEnd = time.Now()
		res.Commits++
		res.Attempts = append(res.Attempts, cr.Attempts)
		res.CommitNanos = append(res.CommitNanos, int64(commitTime))
		res.AppendNanos = append(res.AppendNanos, int64(res.LastCommitEnd.Sub(t0)))
		res.EndUnixNanos = append(res.EndUnixNanos, res.LastCommitEnd.UnixNano())
		if cr.Checkpointed {
			res.Checkpoints++
		}
	}
	return res, nil
}

// blindAppend appends rec as one new data file, as table.Write does, and returns the commit result
// and how long the commit took.
func blindAppend(ctx context.Context, kt *delta.Table, rec arrow.RecordBatch) (*delta.CommitResult, time.Duration, error) {
	snap, err := kt.Snapshot(ctx, -1)
	if err != nil {
		return nil, 0, err
	}
	opts := parquetio.WriteOptions{Schema: snap.Schema()}
	if err := opts.ApplyTableProperties(snap.Metadata().Configuration); err != nil {
		return nil, 0, err
	}
	src := &RecordSource{Batches: []arrow.RecordBatch{rec}}
	rr, err := src.Open(ctx, delta.ToArrowSchema(snap.Schema()))
	if err != nil {
		return nil, 0, err
	}
	files, err := parquetio.WriteDataFiles(ctx, kt.Store(), rr, opts)
	rr.Release()
	if err != nil {
		return nil, 0, err
	}
	tx := kt.NewTransaction(snap, appendOperation())
	var n, size int64
	for _, f := range files {
		tx.AddFiles(f.Add(true))
		n += f.NumRecords
		size += f.Size
	}
	tx.SetMetrics(map[string]any{"numFiles": len(files), "numOutputRows": n, "numOutputBytes": size})
	t0 := time.Now()
	cr, err := tx.Commit(ctx)
	return cr, time.Since(t0), err
}

// runWorkerProcess runs one appender as a process: argv, "--worker", the spec as JSON. The
// process prints its AppenderResult as JSON on stdout.
func runWorkerProcess(ctx context.Context, argv []string, spec WorkerSpec) (*AppenderResult, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, argv[0], append(append([]string{}, argv[1:]...), "--worker", string(js))...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: worker process %d (%s): %w: %s", spec.ID, strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	var res AppenderResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("bench: worker process %d printed no result: %w (stdout %q)", spec.ID, err, abbreviate(stdout.String()))
	}
	return &res, nil
}

// RunWorkerJSON is the body of a worker process: it decodes a WorkerSpec, runs RunWorker and
// returns the result encoded as JSON.
func RunWorkerJSON(ctx context.Context, specJSON string) ([]byte, error) {
	var spec WorkerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return nil, fmt.Errorf("bench: worker spec %q: %w", abbreviate(specJSON), err)
	}
	res, err := RunWorker(ctx, spec)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

func abbreviate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
