package concurrency

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/table"
)

// longLogCommits is how long the log is before the writers start: enough files in _delta_log that
// listing it takes several directory reads, during which new commits appear.
const longLogCommits = 2000

// TestReadersDuringCommits loads the latest snapshot over and over, from several goroutines, while
// 3 writer processes append blindly to a table whose log already holds longLogCommits commits.
// Every load must succeed (the log never has a gap: a version exists only once the one before it
// does), and every blind append must land.
//
// It fails today: a listing of _delta_log is not a snapshot of the directory (readdir returns a
// file created during the listing, or not, depending on where its name hashes), so a listing can
// hold version v+1 without v, both committed while it ran; the kernel then reports "corrupt delta
// log: commit file for version v is missing" (ErrCorrupt) instead of listing again, failing
// readers and writers alike. S3 listings paginated across such a pair can do the same.
func TestReadersDuringCommits(t *testing.T) {
	runReadersDuringCommits(t, filepath.Join(t.TempDir(), "table"), nil, storage.Options{})
}

// TestReadersDuringCommitsS3 does the same on the S3 server this process serves.
func TestReadersDuringCommitsS3(t *testing.T) {
	srv := s3test.Start(t)
	runReadersDuringCommits(t, srv.Location("tables/readers"), srv.Env(), storage.Options{
		S3Endpoint: srv.Endpoint, S3Region: srv.Region, S3AccessKey: srv.AccessKey, S3SecretKey: srv.SecretKey,
	})
}

func runReadersDuringCommits(t *testing.T, location string, env []string, sopts storage.Options) {
	seed := testSeed(t)
	ctx := context.Background()
	tbl, err := table.Open(ctx, location, table.WithStorageOptions(sopts))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Create(ctx, delta.CreateOptions{Schema: tableSchema(), PartitionColumns: []string{"p"},
		Properties: map[string]string{"delta.checkpointInterval": "50"}}); err != nil {
		t.Fatal(err)
	}
	// A long history, quickly: commits holding only a commitInfo, written as any writer would
	// (put-if-absent of the next version), then a checkpoint so that loads stay cheap.
	for v := int64(1); v < longLogCommits; v++ {
		data, err := delta.EncodeCommit([]delta.Action{{CommitInfo: delta.CommitInfo{
			"timestamp": time.Now().UnixMilli(), "operation": "PREFILL", "readVersion": v - 1,
			"isBlindAppend": true, "txnId": fmt.Sprintf("prefill-%d", v),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tbl.Store().PutIfAbsent(ctx, delta.CommitKey(v), data); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Kernel().Checkpoint(ctx, snap); err != nil {
		t.Fatal(err)
	}

	recDir := t.TempDir()
	var workers []*workerProc
	var recordFiles []string
	for w := range 3 {
		rec := filepath.Join(recDir, fmt.Sprintf("w%d.jsonl", w))
		recordFiles = append(recordFiles, rec)
		workers = append(workers, startWorker(t, fmt.Sprintf("writer %d", w), roleWriter, append([]string{
			locationEnv + "=" + location,
			workerEnv + "=" + strconv.Itoa(w),
			seedEnv + "=" + strconv.FormatUint(seed, 10),
			durationEnv + "=10s",
			appendsOnlyEnv + "=1",
			recordsEnv + "=" + rec,
		}, env...)))
	}
	for _, w := range workers {
		w.waitReady(t)
	}
	for _, w := range workers {
		w.release()
	}
	var (
		mu              sync.Mutex
		loads, failures int
		firstFailures   []string
		stop            = make(chan struct{})
		readers         sync.WaitGroup
	)
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := tbl.Snapshot(ctx, -1)
				mu.Lock()
				loads++
				if err != nil {
					failures++
					if len(firstFailures) < 3 {
						firstFailures = append(firstFailures, err.Error())
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, w := range workers {
		if err := w.cmd.Wait(); err != nil {
			t.Errorf("%s: %v\n%s", w.name, err, w.stderr.String())
		}
	}
	close(stop)
	readers.Wait()

	ops, err := readRecords(recordFiles...)
	if err != nil {
		t.Fatal(err)
	}
	appended, failed := 0, 0
	for id, op := range ops {
		if op.Outcome == outcomeCommitted {
			appended++
			continue
		}
		failed++
		if failed <= 3 {
			t.Errorf("blind append %s did not land: %s %s", id, op.Outcome, op.Error)
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d loads of the latest snapshot failed while writers committed (a listing that caught "+
			"a later commit but not the one before it; see the test's doc comment); first: %v", failures, loads, firstFailures)
	}
	latest, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatalf("latest snapshot after the writers: %v", err)
	}
	t.Logf("%d snapshot loads during %d blind appends (%d failed) from version %d to %d", loads, appended+failed, failed, snap.Version(), latest.Version())
}
