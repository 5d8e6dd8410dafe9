package concurrency

import (
	"context"
	"fmt"
	"math/rand/v2"
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

const (
	concurrentWriters = 6
	concurrentOps     = 15
)

// TestConcurrentWritersLocal runs the concurrency scenario on a local directory.
func TestConcurrentWritersLocal(t *testing.T) {
	runConcurrent(t, filepath.Join(t.TempDir(), "table"), nil, storage.Options{})
}

// TestConcurrentWritersS3 runs it on the S3 server this process serves; the workers reach it over
// HTTP.
func TestConcurrentWritersS3(t *testing.T) {
	srv := s3test.Start(t)
	runConcurrent(t, srv.Location("tables/concurrent"), srv.Env(), storage.Options{
		S3Endpoint: srv.Endpoint, S3Region: srv.Region, S3AccessKey: srv.AccessKey, S3SecretKey: srv.SecretKey,
	})
}

// runConcurrent creates a table partitioned by p, seeds every partition, then releases
// concurrentWriters worker processes at once, each running concurrentOps seeded random operations
// (blind appends, partition overwrites, restores), and checks the log they leave behind.
func runConcurrent(t *testing.T, location string, env []string, sopts storage.Options) {
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
	for w := range concurrentWriters {
		rec := filepath.Join(recDir, fmt.Sprintf("w%d.jsonl", w))
		recordFiles = append(recordFiles, rec)
		workers = append(workers, startWorker(t, fmt.Sprintf("writer %d", w), roleWriter, append([]string{
			locationEnv + "=" + location,
			workerEnv + "=" + strconv.Itoa(w),
			seedEnv + "=" + strconv.FormatUint(seed, 10),
			opsEnv + "=" + strconv.Itoa(concurrentOps),
			recordsEnv + "=" + rec,
		}, env...)))
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
	if want := 1 + concurrentWriters*concurrentOps; len(ops) != want {
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
	for v := int64(0); v <= h.latest(); v++ {
		h.verifyVersion(ctx, t, v, true)
	}
	checkpoints := 0
	if infos, err := tbl.Store().List(ctx, delta.LogDir, ""); err == nil {
		for _, info := range infos {
			if filepath.Ext(info.Key) == ".parquet" {
				checkpoints++
			}
		}
	}
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
	t.Logf("%d workers x %d ops in %s (checks %s): %d versions, %d checkpoints; %s; %d commits needed more than one attempt; "+
		"blind appends took median %d ms, max %d ms, up to %d attempts",
		concurrentWriters, concurrentOps, writing.Round(time.Millisecond), (time.Since(started) - writing).Round(time.Millisecond),
		h.latest()+1, checkpoints, st, st.retried, appendMillis[len(appendMillis)/2], appendMillis[len(appendMillis)-1], maxAttempts)
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
	for i := range cfg.ops {
		rec := &opRecord{Op: fmt.Sprintf("%s-%02d", name, i), Worker: name}
		newRows := func(n int, partition func() string) {
			for k := range n {
				rec.Rows = append(rec.Rows, row{ID: int64(cfg.worker+1)*1_000_000 + int64(i)*100 + int64(k), P: partition(), Worker: name, Op: rec.Op})
			}
		}
		randomPartition := func() string { return partitions[rng.IntN(len(partitions))] }
		var targetFrac float64
		switch x := rng.IntN(100); {
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
		think := time.Duration(rng.IntN(30)) * time.Millisecond

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
