package concurrency

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/table"
)

// scenario is one configuration of the concurrency test.
type scenario struct {
	writers int
	// ops is the number of operations per writer; with duration set, a writer instead starts
	// operations until duration has passed since it was released.
	ops      int
	duration time.Duration
	// appendsOnly makes every operation a blind append without think time: the most contended
	// workload there is, and one where no operation may fail.
	appendsOnly bool
	// scanAll loads and scans every version (else only the latest) against the expected content.
	scanAll bool
}

// mixed is the acceptance scenario: 6 writers, 15 operations each, blind appends, partition
// overwrites and restores.
var mixed = scenario{writers: 6, ops: 15, scanAll: true}

// TestConcurrentWritersLocal runs the mixed scenario on a local directory.
func TestConcurrentWritersLocal(t *testing.T) {
	runConcurrent(t, mixed, filepath.Join(t.TempDir(), "table"), nil, storage.Options{})
}

// TestConcurrentWritersS3 runs it on the S3 server this process serves; the workers reach it over
// HTTP.
func TestConcurrentWritersS3(t *testing.T) {
	srv := s3test.Start(t)
	runConcurrent(t, mixed, srv.Location("tables/concurrent"), srv.Env(), storage.Options{
		S3Endpoint: srv.Endpoint, S3Region: srv.Region, S3AccessKey: srv.AccessKey, S3SecretKey: srv.SecretKey,
	})
}

// sustainedEnv runs TestSustainedBlindAppends, which takes over a minute.
const sustainedEnv = "STRATA_CONCURRENCY_SUSTAINED"

// TestSustainedBlindAppends keeps 6 processes appending blindly for 60 seconds. Blind appends
// never conflict, so every one must land, however long the contention lasts. Before commit
// 6257600, Transaction.Commit slept (backoff growing to ~1.3 s) between reading the winning
// commits and its next attempt, so under sustained commits that attempt was always stale and
// blind appends gave up after 30 attempts with ErrConflict; this test caught it.
func TestSustainedBlindAppends(t *testing.T) {
	if os.Getenv(sustainedEnv) == "" {
		t.Skipf("slow (over a minute); set %s=1 to run", sustainedEnv)
	}
	runConcurrent(t, scenario{writers: 6, duration: 60 * time.Second, appendsOnly: true},
		filepath.Join(t.TempDir(), "table"), nil, storage.Options{})
}

// runConcurrent creates a table partitioned by p, seeds every partition, then releases sc.writers
// worker processes at once, each running seeded random operations (blind appends, partition
// overwrites, restores), and checks the log they leave behind.
func runConcurrent(t *testing.T, sc scenario, location string, env []string, sopts storage.Options) {
	seed := testSeed(t)
	ctx := context.Background()
	started := time.Now()
	tbl, err := table.Open(ctx, location, table.WithStorageOptions(sopts))
	if err != nil {
		t.Fatal(err)
	}
	// A short checkpoint interval makes the workers write checkpoints while others read the log.
	if _, err := tbl.Create(ctx, delta.CreateOptions{Schema: tableSchema(), PartitionColumns: []string{"p"},
		Properties: map[string]string{"delta.checkpointInterval": "5"}}); err != nil {
		t.Fatal(err)
	}
	recDir := t.TempDir()
	setup := &opRecord{Op: "setup", Worker: "parent", Kind: kindAppend}
	for i, p := range append(partitions, partitions...) {
		setup.Rows = append(setup.Rows, row{ID: int64(i + 1), P: p, Worker: "parent", Op: "setup"})
	}
	res, err := tbl.Write(ctx, rowSource{rows: setup.Rows}, table.WriteOptions{Mode: table.Append, UserMetadata: setup.Op})
	recordOutcome(setup, resultVersion(res), err)
	writeRecords(t, filepath.Join(recDir, "parent.jsonl"), setup)

	recordFiles := []string{filepath.Join(recDir, "parent.jsonl")}
	var workers []*workerProc
	for w := range sc.writers {
		rec := filepath.Join(recDir, fmt.Sprintf("w%d.jsonl", w))
		recordFiles = append(recordFiles, rec)
		wenv := append([]string{
			locationEnv + "=" + location,
			workerEnv + "=" + strconv.Itoa(w),
			seedEnv + "=" + strconv.FormatUint(seed, 10),
			opsEnv + "=" + strconv.Itoa(sc.ops),
			durationEnv + "=" + sc.duration.String(),
			recordsEnv + "=" + rec,
		}, env...)
		if sc.appendsOnly {
			wenv = append(wenv, appendsOnlyEnv+"=1")
		}
		workers = append(workers, startWorker(t, fmt.Sprintf("writer %d", w), roleWriter, wenv))
	}
	for _, w := range workers {
		w.waitReady(t)
	}
	for _, w := range workers {
		w.release()
	}
	for _, w := range workers {
		if err := w.cmd.Wait(); err != nil {
			t.Fatalf("%s: %v\n%s", w.name, err, w.stderr.String())
		}
	}
	writing := time.Since(started)

	ops, err := readRecords(recordFiles...)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + sc.writers*sc.ops; sc.duration == 0 && len(ops) != want {
		t.Fatalf("%d operations recorded, want %d", len(ops), want)
	}
	h := newHistory(tbl)
	h.extend(ctx, t, ops)
	st := h.checkOutcomes(t, ops, false)
	for id, op := range ops {
		if op.Kind == kindAppend && op.Outcome != outcomeCommitted {
			t.Errorf("blind append %s did not land: %s %s %s", id, op.Outcome, op.ConflictKind, op.Error)
		}
	}
	if committed := st.committed[kindAppend] + st.committed[kindOverwrite] + st.committed[kindRestore]; len(h.commits) != 1+committed {
		t.Errorf("the log has %d commits; the table's creation and %d committed operations were reported", len(h.commits), committed)
	}
	h.checkConflicts(t, ops)
	h.checkFilesExist(ctx, t)
	if sc.scanAll {
		for v := int64(0); v <= h.latest(); v++ {
			h.verifyVersion(ctx, t, v, true)
		}
	} else {
		h.verifyVersion(ctx, t, h.latest(), true)
	}
	var fig checkFigures
	h.checkCheckpoints(ctx, t, &fig)
	// Figures on contention: how long blind appends took and how many put-if-absent attempts.
	var appendMillis []int64
	maxAttempts := 0
	for _, op := range ops {
		if op.Kind == kindAppend && op.Worker != "parent" {
			appendMillis = append(appendMillis, op.Millis)
			maxAttempts = max(maxAttempts, op.Attempts)
		}
	}
	slices.Sort(appendMillis)
	t.Logf("%d workers, %d ops in %s (checks %s): %d versions, %d checkpoints; %s; %d commits needed more than one attempt; "+
		"blind appends took median %d ms, max %d ms, up to %d attempts",
		sc.writers, len(ops)-1, writing.Round(time.Millisecond), (time.Since(started) - writing).Round(time.Millisecond),
		h.latest()+1, fig.checkpoints, st, st.retried, appendMillis[len(appendMillis)/2], appendMillis[len(appendMillis)-1], maxAttempts)
}

func resultVersion(res *table.WriteResult) int64 {
	if res == nil {
		return -1
	}
	return res.Version
}

func writeRecords(t *testing.T, path string, recs ...*opRecord) {
	t.Helper()
	w, err := openRecordWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, r := range recs {
		if err := w.write(r); err != nil {
			t.Fatal(err)
		}
	}
}

// runWriter is a concurrency-test worker: cfg.ops operations drawn from a generator seeded by the
// test seed and the worker number (so the sequence of kinds, partitions, rows and pauses depends
// only on the seed; restore targets are drawn as a fraction of the version the worker sees).
// Storage settings (S3 endpoint and credentials) come from the environment.
func runWriter(cfg workerConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tbl, err := table.Open(ctx, cfg.location)
	if err != nil {
		return err
	}
	out, err := openRecordWriter(cfg.records)
	if err != nil {
		return err
	}
	defer out.Close()
	rng := rand.New(rand.NewPCG(cfg.seed, uint64(cfg.worker)+1))
	if err := signalReadyAndWait(); err != nil {
		return err
	}
	name := fmt.Sprintf("w%d", cfg.worker)
	deadline := time.Now().Add(cfg.duration)
	for i := 0; cfg.duration > 0 || i < cfg.ops; i++ {
		if cfg.duration > 0 && time.Now().After(deadline) {
			break
		}
		rec := &opRecord{Op: fmt.Sprintf("%s-%02d", name, i), Worker: name}
		newRows := func(n int, partition func() string) {
			for k := range n {
				rec.Rows = append(rec.Rows, row{ID: int64(cfg.worker+1)*1_000_000 + int64(i)*100 + int64(k), P: partition(), Worker: name, Op: rec.Op})
			}
		}
		randomPartition := func() string { return partitions[rng.IntN(len(partitions))] }
		var targetFrac float64
		switch x := rng.IntN(100); {
		case cfg.appendsOnly:
			rec.Kind = kindAppend
			newRows(1, randomPartition)
		case x < 45:
			rec.Kind = kindAppend
			newRows(1+rng.IntN(4), randomPartition)
		case x < 85:
			rec.Kind, rec.Partition = kindOverwrite, randomPartition()
			newRows(1+rng.IntN(3), func() string { return rec.Partition })
		default:
			rec.Kind = kindRestore
			targetFrac = rng.Float64()
		}
		// The time between reading the table and committing: a slow source, or a pause before a
		// restore commits.
		think := time.Duration(rng.IntN(100)) * time.Millisecond
		if cfg.appendsOnly {
			think = 0
		}

		opStart := time.Now()
		switch rec.Kind {
		case kindAppend, kindOverwrite:
			opts := table.WriteOptions{Mode: table.Append, UserMetadata: rec.Op}
			if rec.Kind == kindOverwrite {
				opts.Mode, opts.ReplaceWhere = table.Overwrite, fmt.Sprintf("p = '%s'", rec.Partition)
			}
			res, err := tbl.Write(ctx, rowSource{rows: rec.Rows, delay: think}, opts)
			recordOutcome(rec, resultVersion(res), err)
			if err == nil && res.Commit != nil {
				rec.Attempts = res.Commit.Attempts
			}
		case kindRestore:
			restore(ctx, tbl, rec, targetFrac, think)
		}
		rec.Millis = time.Since(opStart).Milliseconds()
		if err := out.write(rec); err != nil {
			return err
		}
	}
	return nil
}

// restore restores the table to an earlier version: 1 + frac·(current-1), so never the empty
// version 0 once the table has content, never the current version. It waits for think between
// reading the table and committing.
func restore(ctx context.Context, tbl *table.Table, rec *opRecord, frac float64, think time.Duration) {
	cur, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		recordOutcome(rec, 0, err)
		return
	}
	target := int64(0)
	if cur.Version() >= 2 {
		target = 1 + int64(frac*float64(cur.Version()-1))
	}
	rec.Target, rec.ReadVersion = i64(target), i64(cur.Version())
	tx, err := tbl.Kernel().Restore(ctx, cur, target)
	if err != nil {
		recordOutcome(rec, 0, err)
		return
	}
	tx.SetUserMetadata(rec.Op)
	if err := sleepCtx(ctx, think); err != nil {
		recordOutcome(rec, 0, err)
		return
	}
	res, err := tx.Commit(ctx)
	if err != nil {
		recordOutcome(rec, 0, err)
		return
	}
	recordOutcome(rec, res.Version, nil)
	rec.Attempts = res.Attempts
}
