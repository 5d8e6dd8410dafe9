package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
)

// NoCheckpointInterval is the delta.checkpointInterval of the table that never checkpoints.
const NoCheckpointInterval = 1_000_000_000

// SyntheticDataNote says what the snapshot tables are made of; the command prints it.
const SyntheticDataNote = "the snapshot tables hold synthetic add actions (with realistic stats) whose data files do not exist: loading a snapshot reads only the log"

// SnapshotReport holds the snapshot-load figures of two tables with the same commits, one with
// regular checkpoints and one without any.
type SnapshotReport struct {
	// Commits is the number of versions of each table (0..Commits-1).
	Commits        int    `json:"commits"`
	FilesPerCommit int    `json:"filesPerCommit"`
	Note           string `json:"note"`
	// Checkpointed has delta.checkpointInterval = Config.CheckpointInterval.
	Checkpointed TableLoad `json:"checkpointed"`
	// NoCheckpoint has no checkpoint; its commits 1.. are copies of Checkpointed's commit files
	// (see BuildNoCheckpointTable).
	NoCheckpoint TableLoad `json:"noCheckpoint"`
	// SlowdownWithoutCheckpoints is NoCheckpoint's median load time over Checkpointed's.
	SlowdownWithoutCheckpoints float64 `json:"slowdownWithoutCheckpoints"`
	// GoalMs is the target for Checkpointed's median load; GoalMet whether it was met here.
	GoalMs  float64 `json:"goalMs"`
	GoalMet bool    `json:"goalMet"`
}

// TableLoad is how one table was built and how long loading its latest snapshot takes.
type TableLoad struct {
	Dir                string      `json:"dir"`
	CheckpointInterval int         `json:"checkpointInterval"`
	Build              BuildResult `json:"build"`
	Load               LoadResult  `json:"load"`
}

// BuildResult describes how a snapshot table was built.
type BuildResult struct {
	// Method says how the commits were made (see BuildCheckpointedTable and
	// BuildNoCheckpointTable).
	Method  string `json:"method"`
	Commits int    `json:"commits"`
	Elapsed Millis `json:"elapsedMs"`
	// CommitsPerSec is Commits / Elapsed.
	CommitsPerSec float64 `json:"commitsPerSec"`
	// Checkpoints is the number of commits that triggered a checkpoint.
	Checkpoints int `json:"checkpoints"`
	// Commit times Transaction.Commit over all commits (post-commit checkpoints included).
	Commit *Summary `json:"commit,omitempty"`
	// AttemptsPerCommit is the mean CommitResult.Attempts.
	AttemptsPerCommit float64 `json:"attemptsPerCommit,omitempty"`
	// SingleWriter is the last commits of the build, made the way a lone writer makes them.
	SingleWriter *SingleWriter `json:"singleWriter,omitempty"`
	// PostCommitErrors counts failed post-commit work (checkpoints); the first is in FirstPostCommitError.
	PostCommitErrors     int    `json:"postCommitErrors"`
	FirstPostCommitError string `json:"firstPostCommitError,omitempty"`
}

// SingleWriter is the commit rate of a lone writer that loads the latest snapshot before every
// commit, measured on the last commits of a build (the table is then nearly full size).
type SingleWriter struct {
	Commits       int     `json:"commits"`
	Elapsed       Millis  `json:"elapsedMs"`
	CommitsPerSec float64 `json:"commitsPerSec"`
	// SnapshotLoad and Commit time the two steps of each commit; CheckpointCommit only the
	// commits that wrote a checkpoint.
	SnapshotLoad     Summary  `json:"snapshotLoad"`
	Commit           Summary  `json:"commit"`
	CheckpointCommit *Summary `json:"checkpointCommit,omitempty"`
}

// LoadResult is the timing of loading the latest snapshot with a fresh table handle each time.
type LoadResult struct {
	// First is the first load after the table was built (the process's first load of this table;
	// the operating system's page cache is warm from the build).
	First Millis `json:"firstMs"`
	// Runs summarizes the loads after the first; CPU is their mean CPU time (user + system, all
	// threads, garbage collection included).
	Runs Summary `json:"runs"`
	CPU  Millis  `json:"cpuMs"`
	// Version and Files describe the snapshot loaded.
	Version int64 `json:"version"`
	Files   int   `json:"files"`
	// CheckpointVersion is the version named by _delta_log/_last_checkpoint, -1 without one.
	CheckpointVersion int64 `json:"checkpointVersion"`
	// LogObjects and LogBytes count the objects under _delta_log.
	LogObjects int   `json:"logObjects"`
	LogBytes   int64 `json:"logBytes"`
	// CheckpointBytes is the size of the checkpoint the load starts from (0 without one).
	CheckpointBytes int64 `json:"checkpointBytes"`
}

// RunSnapshot builds the two snapshot tables under cfg.Dir ("snapshot-checkpointed" and
// "snapshot-no-checkpoint") and times loading their latest snapshots.
func RunSnapshot(ctx context.Context, cfg Config) (*SnapshotReport, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	obs := c.Observer
	rep := &SnapshotReport{Commits: c.Commits, FilesPerCommit: c.FilesPerCommit, Note: SyntheticDataNote, GoalMs: 100}

	cpDir := filepath.Join(c.Dir, "snapshot-checkpointed")
	obs.Logf("snapshot: building %d commits with delta.checkpointInterval=%d in %s", c.Commits, c.CheckpointInterval, cpDir)
	tr := obs.Start("committing (checkpointed table)", int64(c.Commits), "commits")
	build, err := BuildCheckpointedTable(ctx, cpDir, c.Commits, c.FilesPerCommit, c.CheckpointInterval, tr)
	tr.Done()
	if err != nil {
		return nil, err
	}
	obs.Logf("snapshot: built in %s (%.1f commits/s, %d checkpoints)", build.Elapsed, build.CommitsPerSec, build.Checkpoints)
	if sw := build.SingleWriter; sw != nil {
		obs.Logf("snapshot: single writer on the last %d commits: %.1f commits/s (snapshot load p50 %s, commit p50 %s)",
			sw.Commits, sw.CommitsPerSec, sw.SnapshotLoad.Median, sw.Commit.Median)
	}
	rep.Checkpointed = TableLoad{Dir: cpDir, CheckpointInterval: c.CheckpointInterval, Build: *build}

	ncDir := filepath.Join(c.Dir, "snapshot-no-checkpoint")
	obs.Logf("snapshot: building the table without checkpoints in %s (commit 0 by the kernel, commits 1..%d copied)", ncDir, c.Commits-1)
	tr = obs.Start("copying commits (no-checkpoint table)", int64(c.Commits), "commits")
	build, err = BuildNoCheckpointTable(ctx, ncDir, cpDir, c.Commits, tr)
	tr.Done()
	if err != nil {
		return nil, err
	}
	rep.NoCheckpoint = TableLoad{Dir: ncDir, CheckpointInterval: NoCheckpointInterval, Build: *build}

	for _, tl := range []*TableLoad{&rep.Checkpointed, &rep.NoCheckpoint} {
		tr := obs.Start("loading snapshots ("+filepath.Base(tl.Dir)+")", int64(c.SnapshotRuns+1), "loads")
		load, err := MeasureSnapshotLoad(ctx, tl.Dir, c.SnapshotRuns, tr)
		tr.Done()
		if err != nil {
			return nil, err
		}
		tl.Load = *load
		obs.Logf("snapshot: %s: first load %s, median %s, p90 %s, CPU per load %s (version %d, %d files, checkpoint %d)",
			filepath.Base(tl.Dir), load.First, load.Runs.Median, load.Runs.P90, load.CPU, load.Version, load.Files, load.CheckpointVersion)
	}
	if m := rep.Checkpointed.Load.Runs.Median; m > 0 {
		rep.SlowdownWithoutCheckpoints = roundTo(float64(rep.NoCheckpoint.Load.Runs.Median)/float64(m), 2)
	}
	rep.GoalMet = rep.Checkpointed.Load.Runs.Median.D() < time.Duration(rep.GoalMs*float64(time.Millisecond))
	return rep, nil
}

// BuildCheckpointedTable creates a table in dir with delta.checkpointInterval = interval and makes
// `commits` versions in all (version 0 creates it), each later one a Transaction.Commit of
// filesPerCommit synthetic add actions, so the committer writes a checkpoint every interval
// versions as it would in production. tr counts commits.
//
// Loading the latest snapshot before each commit costs a full checkpoint read, which makes the
// build quadratic in the number of commits; so all but the last commits start from a snapshot
// refreshed every refreshEvery commits, and each commit wins its version on its second attempt
// (after reading the commits it missed, with no backoff). The last singleWriterTail commits are
// made the way a lone writer makes them (load the latest snapshot, commit) and timed apart:
// BuildResult.SingleWriter.
func BuildCheckpointedTable(ctx context.Context, dir string, commits, filesPerCommit, interval int, tr Tracker) (*BuildResult, error) {
	const refreshEvery = 100
	tail := min(100, max(commits/10, 1))
	kt, err := openKernel(dir)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := createTable(ctx, kt, map[string]string{"delta.checkpointInterval": strconv.Itoa(interval)}, nil); err != nil {
		return nil, err
	}
	tr.Add(1)
	res := &BuildResult{Commits: commits,
		Method: fmt.Sprintf("transactions: read snapshot refreshed every %d commits, then %d commits loading the latest snapshot each", refreshEvery, tail)}
	rng := rand.New(rand.NewPCG(uint64(commits), 42))
	sw := &SingleWriter{}
	var loads, commitTimes, allCommits, cpTimes []time.Duration
	var snap *delta.Snapshot
	attempts := 0
	var swStart time.Time
	for v := 1; v < commits; v++ {
		single := v >= commits-tail
		if single && swStart.IsZero() {
			swStart = time.Now()
		}
		t0 := time.Now()
		if snap == nil || single || (v-1)%refreshEvery == 0 {
			if snap, err = kt.Snapshot(ctx, -1); err != nil {
				return nil, fmt.Errorf("bench: build %s: snapshot before commit %d: %w", dir, v, err)
			}
		}
		t1 := time.Now()
		tx := kt.NewTransaction(snap, appendOperation())
		if !single {
			tx.Backoff = time.Microsecond // the retry is certain and no one else writes
		}
		var rows, bytes int64
		for range filesPerCommit {
			a := SyntheticAdd(rng, int64(v), kt.Now())
			tx.AddFiles(a)
			rows += 10_000
			bytes += a.Size
		}
		tx.SetMetrics(map[string]any{"numFiles": filesPerCommit, "numOutputRows": rows, "numOutputBytes": bytes})
		cr, err := tx.Commit(ctx)
		if err != nil {
			return nil, fmt.Errorf("bench: build %s: commit %d: %w", dir, v, err)
		}
		if cr.Version != int64(v) {
			return nil, fmt.Errorf("bench: build %s: commit %d landed as version %d: another writer is using the table", dir, v, cr.Version)
		}
		d := time.Since(t1)
		attempts += cr.Attempts
		allCommits = append(allCommits, d)
		if cr.Checkpointed {
			res.Checkpoints++
		}
		if single {
			loads, commitTimes = append(loads, t1.Sub(t0)), append(commitTimes, d)
			if cr.Checkpointed {
				cpTimes = append(cpTimes, d)
			}
		}
		if cr.PostCommitErr != nil {
			if res.PostCommitErrors == 0 {
				res.FirstPostCommitError = cr.PostCommitErr.Error()
			}
			res.PostCommitErrors++
		}
		tr.Add(1)
	}
	res.Elapsed = Millis(time.Since(start))
	res.CommitsPerSec = roundTo(float64(commits)/res.Elapsed.D().Seconds(), 1)
	cm := Summarize(allCommits)
	res.Commit = &cm
	res.AttemptsPerCommit = roundTo(float64(attempts)/float64(max(len(allCommits), 1)), 2)
	if len(loads) > 0 {
		sw.Commits = len(loads)
		sw.Elapsed = Millis(time.Since(swStart))
		sw.CommitsPerSec = roundTo(float64(sw.Commits)/sw.Elapsed.D().Seconds(), 1)
		sw.SnapshotLoad, sw.Commit = Summarize(loads), Summarize(commitTimes)
		if len(cpTimes) > 0 {
			cp := Summarize(cpTimes)
			sw.CheckpointCommit = &cp
		}
		res.SingleWriter = sw
	}
	return res, nil
}

// BuildNoCheckpointTable creates a table in dir whose delta.checkpointInterval is so large that it
// never checkpoints, then copies the commit files 1..commits-1 of the table in from (built by
// BuildCheckpointedTable) into its log, so both tables hold the same commits. Building it with
// transactions instead would make every commit replay the whole log (quadratic in the number of
// commits), which is exactly what checkpoints exist to avoid. tr counts commits.
func BuildNoCheckpointTable(ctx context.Context, dir, from string, commits int, tr Tracker) (*BuildResult, error) {
	kt, err := openKernel(dir)
	if err != nil {
		return nil, err
	}
	src, err := storage.NewLocal(from)
	if err != nil {
		return nil, fmt.Errorf("bench: open %s: %w", from, err)
	}
	start := time.Now()
	if err := createTable(ctx, kt, map[string]string{"delta.checkpointInterval": strconv.Itoa(NoCheckpointInterval)}, nil); err != nil {
		return nil, err
	}
	tr.Add(1)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8) // the copies are bound by fsync latency, not by CPU
	for v := int64(1); v < int64(commits); v++ {
		g.Go(func() error {
			data, err := src.Get(gctx, delta.CommitKey(v))
			if err != nil {
				return fmt.Errorf("bench: copy commit %d from %s: %w", v, from, err)
			}
			if err := kt.Store().PutIfAbsent(gctx, delta.CommitKey(v), data); err != nil {
				return fmt.Errorf("bench: copy commit %d to %s: %w", v, dir, err)
			}
			tr.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	el := time.Since(start)
	return &BuildResult{Method: "commit 0 created, commits 1.. copied from the checkpointed table's log", Commits: commits, Elapsed: Millis(el), CommitsPerSec: roundTo(float64(commits)/el.Seconds(), 1)}, nil
}

// MeasureSnapshotLoad loads the latest snapshot of the table in dir 1+runs times, each with a new
// table handle (the kernel caches nothing between calls anyway), and describes the table's log.
// tr counts loads.
func MeasureSnapshotLoad(ctx context.Context, dir string, runs int, tr Tracker) (*LoadResult, error) {
	store, err := storage.NewLocal(dir)
	if err != nil {
		return nil, fmt.Errorf("bench: open %s: %w", dir, err)
	}
	res := &LoadResult{CheckpointVersion: -1}
	var times []time.Duration
	var cpu time.Duration
	for i := 0; i <= runs; i++ {
		kt := delta.NewTable(store, parquetio.Codec{})
		c0, t0 := cpuTime(), time.Now()
		snap, err := kt.Snapshot(ctx, -1)
		d := time.Since(t0)
		if i > 0 {
			cpu += cpuTime() - c0
		}
		if err != nil {
			return nil, fmt.Errorf("bench: load snapshot of %s: %w", dir, err)
		}
		if i == 0 {
			res.First = Millis(d)
			res.Version, res.Files = snap.Version(), len(snap.Files())
		} else {
			times = append(times, d)
		}
		tr.Add(1)
	}
	res.Runs = Summarize(times)
	if runs > 0 {
		res.CPU = Millis(cpu / time.Duration(runs))
	}
	objs, err := store.List(ctx, delta.LogDir, "")
	if err != nil {
		return nil, fmt.Errorf("bench: list log of %s: %w", dir, err)
	}
	res.LogObjects = len(objs)
	for _, o := range objs {
		res.LogBytes += o.Size
	}
	if data, err := store.Get(ctx, delta.LogDir+"_last_checkpoint"); err == nil {
		var lc struct {
			Version int64 `json:"version"`
		}
		if json.Unmarshal(data, &lc) == nil {
			res.CheckpointVersion = lc.Version
			if info, err := store.Stat(ctx, delta.ClassicCheckpointKey(lc.Version)); err == nil {
				res.CheckpointBytes = info.Size
			}
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("bench: read _last_checkpoint of %s: %w", dir, err)
	}
	return res, nil
}

func openKernel(dir string) (*delta.Table, error) {
	store, err := storage.NewLocal(dir)
	if err != nil {
		return nil, fmt.Errorf("bench: open %s: %w", dir, err)
	}
	return delta.NewTable(store, parquetio.Codec{}), nil
}

// createTable commits version 0 of a table with the benchmark schema.
func createTable(ctx context.Context, kt *delta.Table, props map[string]string, partitionBy []string) error {
	proto, md, err := delta.NewTableMetadata(delta.CreateOptions{Schema: DeltaSchema(), Properties: props, PartitionColumns: partitionBy}, kt.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("bench: create %s: %w", kt.Location(), err)
	}
	tx := kt.NewTransaction(nil, delta.Operation{Name: "CREATE TABLE", Parameters: map[string]any{
		"isManaged": "false", "partitionBy": md.PartitionColumns, "properties": md.Configuration}})
	tx.SetProtocol(proto)
	tx.SetMetadata(md)
	if _, err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("bench: create %s: %w", kt.Location(), err)
	}
	return nil
}

func appendOperation() delta.Operation {
	return delta.Operation{Name: "WRITE", Parameters: map[string]any{"mode": "Append", "partitionBy": []string{}}}
}

// SyntheticAdd returns the add action of a made-up 10,000-row data file of the benchmark schema
// with statistics as Strata's writer records them. The file does not exist. v seeds the id range.
func SyntheticAdd(rng *rand.Rand, v int64, now time.Time) *delta.Add {
	const rows = 10_000
	lo := v * rows
	ts := func(id int64) string {
		return time.UnixMicro(epochMicros + id*10_000).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	c1, c2 := countries[rng.IntN(3)], countries[len(countries)-1-rng.IntN(3)]
	stats := fmt.Sprintf(`{"numRecords":%d,"minValues":{"id":%d,"customer":"cust-%08d","amount":%.2f,"event_time":"%s","country":"%s","price":%.2f,"quantity":1},`+
		`"maxValues":{"id":%d,"customer":"cust-%08d","amount":%.2f,"event_time":"%s","country":"%s","price":%.2f,"quantity":20},`+
		`"nullCount":{"id":0,"customer":0,"amount":%d,"event_time":0,"country":0,"price":0,"quantity":0}}`,
		rows, lo, rng.IntN(1000), float64(rng.IntN(100))/100, ts(lo), c1, 0.99+float64(rng.IntN(10))/100,
		lo+rows-1, 1_999_000+rng.IntN(1000), 9999+float64(rng.IntN(100))/100, ts(lo+rows-1), c2, 499+float64(rng.IntN(100))/100,
		rng.IntN(200))
	return &delta.Add{
		Path:             fmt.Sprintf("part-00000-%s-c000.zstd.parquet", uuid.New()),
		PartitionValues:  delta.PartitionValues{},
		Size:             300_000 + rng.Int64N(100_000),
		ModificationTime: now.UnixMilli(),
		DataChange:       true,
		Stats:            stats,
	}
}
