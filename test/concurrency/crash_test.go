package concurrency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// defaultCrashIterations keeps each crash test near 20 s; STRATA_CRASH_ITERATIONS raises it.
const defaultCrashIterations = 40

// TestCrash kills a writer process with SIGKILL at random moments and checks the table after
// every kill.
func TestCrash(t *testing.T) { runCrash(t, false) }

// TestCrashFaulty does the same with a writer whose store injects ambiguous writes (the write
// happens, then an error is reported) and transient failures; the writer retries failed operations
// idempotently (WriteOptions.AppID).
func TestCrashFaulty(t *testing.T) { runCrash(t, true) }

// crashFigures are the totals a crash test reports.
type crashFigures struct {
	kills, checkpoints, danglingHints int
	startup, checking                 time.Duration // spent starting workers, and checking the table
}

// runCrash creates a table with delta.checkpointInterval=2, then repeatedly starts a worker that
// loops appending and overwriting partitions, kills it after a seeded random delay of 5 to 150 ms
// from the moment it starts writing, and checks the table: the log is contiguous and every commit
// file whole and made by a recorded operation exactly once; every version loads with the files the
// commits say, the new versions and the latest scan to the content the operations say; every file
// the latest version references exists; every checkpoint holds exactly the live files of its
// version; _last_checkpoint, if present, describes a checkpoint that exists (else the kernel must
// still load the table, which it is checked to do); and every operation the worker saw succeed is
// in the log.
func runCrash(t *testing.T, faulty bool) {
	seed := testSeed(t)
	iterations := defaultCrashIterations
	if s := os.Getenv(itersEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive number", itersEnv, s)
		}
		iterations = n
	}
	ctx := context.Background()
	started := time.Now()
	dir := t.TempDir()
	location := filepath.Join(dir, "table")
	tbl, err := table.Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Create(ctx, delta.CreateOptions{Schema: tableSchema(), PartitionColumns: []string{"p"},
		Properties: map[string]string{"delta.checkpointInterval": "2"}}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0xc4a5))
	h := newHistory(tbl)
	var recordFiles []string
	var fig crashFigures
	var ops map[string]*opRecord
	for it := range iterations {
		delay := time.Duration(5+rng.IntN(146)) * time.Millisecond
		rec := filepath.Join(dir, fmt.Sprintf("records-%03d.jsonl", it))
		recordFiles = append(recordFiles, rec)
		env := []string{
			locationEnv + "=" + location,
			workerEnv + "=" + strconv.Itoa(it),
			seedEnv + "=" + strconv.FormatUint(seed, 10),
			recordsEnv + "=" + rec,
		}
		if faulty {
			env = append(env, faultyEnv+"=1")
		}
		t0 := time.Now()
		w := startWorker(t, fmt.Sprintf("crash worker %d", it), roleCrash, env)
		w.waitReady(t)
		fig.startup += time.Since(t0)
		w.release()
		time.Sleep(delay)
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Logf("iteration %d: kill: %v", it, err)
		}
		err := w.cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
			fig.kills++
		} else {
			// The worker only stops by itself on a broken setup.
			t.Fatalf("iteration %d: worker was not killed but ended with %v: %s", it, err, w.stderr.String())
		}

		t0 = time.Now()
		if ops, err = readRecords(recordFiles...); err != nil {
			t.Fatal(err)
		}
		prev := h.latest()
		h.extend(ctx, t, ops)
		h.checkOutcomes(t, ops, faulty)
		h.checkFilesExist(ctx, t)
		for v := int64(0); v <= h.latest(); v++ {
			h.verifyVersion(ctx, t, v, v > prev || v == h.latest())
		}
		h.checkCheckpoints(ctx, t, &fig)
		fig.checking += time.Since(t0)
		if t.Failed() {
			t.Fatalf("iteration %d (killed after %s) left the table broken; seed %d", it, delay, seed)
		}
	}
	st := h.checkOutcomes(t, ops, faulty)
	t.Logf("%d iterations (%d kills) in %s (starting workers %s, checking %s): %d versions, %d checkpoints, %d _last_checkpoint hints without their checkpoint; operations: %s",
		iterations, fig.kills, time.Since(started).Round(time.Millisecond), fig.startup.Round(time.Millisecond), fig.checking.Round(time.Millisecond),
		h.latest()+1, fig.checkpoints, fig.danglingHints, st)
	if faulty {
		retried := 0
		for _, op := range ops {
			if op.Attempts > 1 {
				retried++
			}
		}
		t.Logf("%d operations were retried after an injected failure", retried)
	}
}

var reCheckpointKey = regexp.MustCompile(`^_delta_log/(\d{20})\.checkpoint\.parquet$`)

// checkCheckpoints decodes every checkpoint not checked yet and compares its add actions with the
// live files of its version, then checks _last_checkpoint.
func (h *history) checkCheckpoints(ctx context.Context, t *testing.T, fig *crashFigures) {
	t.Helper()
	store := h.tbl.Store()
	infos, err := store.List(ctx, delta.LogDir, "")
	if err != nil {
		t.Fatalf("list log: %v", err)
	}
	present := map[int64]storage.ObjectInfo{}
	for _, info := range infos {
		m := reCheckpointKey.FindStringSubmatch(info.Key)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		present[v] = info
		if h.checkpointsChecked[v] {
			continue
		}
		if v > h.latest() {
			t.Errorf("checkpoint %s is newer than the latest commit %d", info.Key, h.latest())
			continue
		}
		cp, err := h.readCheckpoint(ctx, info.Key)
		if err != nil {
			t.Errorf("checkpoint %d: %v", v, err)
			continue
		}
		want := map[string]bool{}
		for k := range h.files[v] {
			want[k] = true
		}
		if !equalSets(cp.adds, want) {
			t.Errorf("checkpoint %d holds files %v; the commits up to %d say %v", v, sortedKeys(cp.adds), v, sortedKeys(want))
		}
		h.checkpointsChecked[v] = true
		fig.checkpoints++
	}

	data, err := store.Get(ctx, delta.LogDir+"_last_checkpoint")
	if errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err != nil {
		t.Errorf("read _last_checkpoint: %v", err)
		return
	}
	var lc struct {
		Version       int64  `json:"version"`
		Size          int64  `json:"size"`
		SizeInBytes   *int64 `json:"sizeInBytes"`
		NumOfAddFiles *int64 `json:"numOfAddFiles"`
	}
	if err := json.Unmarshal(data, &lc); err != nil {
		t.Errorf("_last_checkpoint %q is not whole JSON: %v", data, err)
		return
	}
	info, ok := present[lc.Version]
	if !ok {
		// The kernel must ignore a hint without its checkpoint; every version was loaded above.
		fig.danglingHints++
		return
	}
	cp, err := h.readCheckpoint(ctx, info.Key)
	if err != nil {
		t.Errorf("_last_checkpoint names checkpoint %d, which does not decode: %v", lc.Version, err)
		return
	}
	if lc.Size != cp.actions {
		t.Errorf("_last_checkpoint says checkpoint %d has %d actions; it has %d", lc.Version, lc.Size, cp.actions)
	}
	if lc.SizeInBytes != nil && *lc.SizeInBytes != info.Size {
		t.Errorf("_last_checkpoint says checkpoint %d has %d bytes; it has %d", lc.Version, *lc.SizeInBytes, info.Size)
	}
	if lc.NumOfAddFiles != nil && *lc.NumOfAddFiles != int64(len(cp.adds)) {
		t.Errorf("_last_checkpoint says checkpoint %d has %d add actions; it has %d", lc.Version, *lc.NumOfAddFiles, len(cp.adds))
	}
}

// checkpointContent is what the checker reads from a checkpoint file.
type checkpointContent struct {
	adds    map[string]bool // decoded keys of the add actions
	actions int64           // rows (one action each)
}

// readCheckpoint decodes a classic checkpoint with the Parquet codec (not the kernel's reader).
func (h *history) readCheckpoint(ctx context.Context, key string) (*checkpointContent, error) {
	data, err := h.tbl.Store().Get(ctx, key)
	if err != nil {
		return nil, err
	}
	_, recs, err := parquetio.Decode(data, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	out := &checkpointContent{adds: map[string]bool{}}
	for _, rec := range recs {
		out.actions += rec.NumRows()
		idx := rec.Schema().FieldIndices("add")
		if len(idx) != 1 {
			return nil, fmt.Errorf("%s: no add column", key)
		}
		adds, ok := rec.Column(idx[0]).(*array.Struct)
		if !ok {
			return nil, fmt.Errorf("%s: add column is %s", key, rec.Column(idx[0]).DataType())
		}
		pathIdx, ok := adds.DataType().(*arrow.StructType).FieldIdx("path")
		if !ok {
			return nil, fmt.Errorf("%s: add column has no path", key)
		}
		paths, ok := adds.Field(pathIdx).(*array.String)
		if !ok {
			return nil, fmt.Errorf("%s: add.path is %s", key, adds.Field(pathIdx).DataType())
		}
		for i := 0; i < adds.Len(); i++ {
			if adds.IsNull(i) {
				continue
			}
			k, err := delta.FileKeyForPath(h.tbl.Location(), paths.Value(i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			if out.adds[k] {
				return nil, fmt.Errorf("%s: file %s added twice", key, k)
			}
			out.adds[k] = true
		}
	}
	return out, nil
}

// runCrashWorker is a crash-test worker: it appends and overwrites partitions until it is killed.
// Before each operation it records its intent (op id, kind, rows), after it the outcome. With
// cfg.faulty, its store injects ambiguous writes and transient failures, and it retries a failed
// operation up to 4 times with the same WriteOptions.AppID/AppVersion, so a retry of a write that
// did land is skipped instead of landing twice.
func runCrashWorker(cfg workerConfig) error {
	ctx := context.Background()
	inner, err := storage.Open(ctx, cfg.location, storage.Options{})
	if err != nil {
		return err
	}
	faults := storage.NewFaulty(inner, int64(cfg.seed)^int64(cfg.worker+1)*0x9e3779b9)
	tbl, err := table.Open(ctx, cfg.location, table.WithStore(faults))
	if err != nil {
		return err
	}
	out, err := openRecordWriter(cfg.records)
	if err != nil {
		return err
	}
	defer out.Close()
	rng := rand.New(rand.NewPCG(cfg.seed, 0x10000+uint64(cfg.worker)))
	// Read the table once before the start signal, so that the kill delay is spent writing rather
	// than paging in code.
	if _, err := tbl.Snapshot(ctx, -1); err != nil {
		return err
	}
	if cfg.faulty {
		faults.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Probability: 0.2, Kind: storage.FaultAmbiguousWrite})
		faults.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Probability: 0.1, Kind: storage.FaultAmbiguousWrite})
		faults.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpPut, storage.OpPutIfAbsent}, Probability: 0.05, Kind: storage.FaultTransient})
		faults.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpGet, storage.OpRange, storage.OpOpen, storage.OpList, storage.OpStat}, Probability: 0.02, Kind: storage.FaultTransient})
	}
	if err := signalReadyAndWait(); err != nil {
		return err
	}
	name := fmt.Sprintf("k%03d", cfg.worker)
	for i := range 100_000 {
		rec := &opRecord{Op: fmt.Sprintf("%s-%04d", name, i), Worker: name}
		opts := table.WriteOptions{Mode: table.Append, UserMetadata: rec.Op}
		n := 1 + rng.IntN(4)
		if rng.IntN(100) < 40 {
			rec.Kind, rec.Partition = kindOverwrite, partitions[rng.IntN(len(partitions))]
			opts.Mode, opts.ReplaceWhere = table.Overwrite, fmt.Sprintf("p = '%s'", rec.Partition)
		} else {
			rec.Kind = kindAppend
		}
		for k := range n {
			p := rec.Partition
			if p == "" {
				p = partitions[rng.IntN(len(partitions))]
			}
			rec.Rows = append(rec.Rows, row{ID: int64(cfg.worker+1)*1_000_000 + int64(i)*10 + int64(k), P: p, Worker: name, Op: rec.Op})
		}
		attempts := 1
		if cfg.faulty {
			opts.AppID, opts.AppVersion = "crash-writer", int64(cfg.worker)*100_000+int64(i)
			attempts = 4
		}
		if err := out.write(rec); err != nil { // the intent
			return err
		}
		ambiguous := false // some attempt failed in a way that leaves its commit possibly landed
		for a := 1; a <= attempts; a++ {
			rec.Attempts = a
			res, err := tbl.Write(ctx, rowSource{rows: rec.Rows}, opts)
			recordOutcome(rec, resultVersion(res), err)
			if err == nil && res.Skipped {
				rec.Outcome = outcomeSkipped
			}
			ambiguous = ambiguous || rec.Transient
			rec.Transient = ambiguous
			if err == nil || !errors.Is(err, storage.ErrInjected) {
				break
			}
		}
		if err := out.write(rec); err != nil {
			return err
		}
	}
	return nil
}
