package concurrency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/table"
)

// After each kill, every version is reloaded while the table has at most fullSweepUpTo versions;
// beyond that, about sampledOldVersions of the versions checked before are.
const (
	fullSweepUpTo      = 60
	sampledOldVersions = 20
)

// defaultCrashIterations keeps each crash test near 20 s on a busy machine; STRATA_CRASH_ITERATIONS
// sets it.
const defaultCrashIterations = 40

// TestCrash kills a writer process with SIGKILL at random moments and checks the table after
// every kill.
func TestCrash(t *testing.T) { runCrash(t, false, nil) }

// TestCrashFaulty does the same with a writer whose store injects ambiguous writes (the write
// happens, then an error is reported) and transient failures; the writer retries failed operations
// idempotently (WriteOptions.AppID).
func TestCrashFaulty(t *testing.T) { runCrash(t, true, nil) }

// TestCrashS3 kills writers of a table on the S3 server this process serves, so that requests
// are cut off mid-flight. It runs half as many iterations by default.
func TestCrashS3(t *testing.T) { runCrash(t, false, s3test.Start(t)) }

// checkFigures are totals a test reports.
type checkFigures struct {
	kills, checkpoints, danglingHints int
	startup, checking                 time.Duration // spent starting workers, and checking the table
}

// runCrash creates a table with delta.checkpointInterval=2, then repeatedly starts a worker that
// loops appending and overwriting partitions, kills it after a seeded random delay of 5 to 150 ms
// from the moment it starts writing, and checks the table: the log is contiguous and every commit
// file whole and made by a recorded operation exactly once; every version loads with the files the
// commits say (see fullSweepUpTo), the new versions and the latest scan to the content the
// operations say; every file
// the latest version references exists; every checkpoint holds exactly the live files of its
// version; _last_checkpoint, if present, describes a checkpoint that exists (else the kernel must
// still load the table, which it is checked to do); and every operation the worker saw succeed is
// in the log.
func runCrash(t *testing.T, faulty bool, srv *s3test.Server) {
	seed := testSeed(t)
	iterations := defaultCrashIterations
	if srv != nil {
		iterations /= 2 // every check is a round of HTTP requests
	}
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
	var sopts storage.Options
	var serverEnv []string
	if srv != nil {
		location, serverEnv = srv.Location("tables/crash"), srv.Env()
		sopts = storage.Options{S3Endpoint: srv.Endpoint, S3Region: srv.Region, S3AccessKey: srv.AccessKey, S3SecretKey: srv.SecretKey}
	}
	tbl, err := table.Open(ctx, location, table.WithStorageOptions(sopts))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Create(ctx, delta.CreateOptions{Schema: tableSchema(), PartitionColumns: []string{"p"},
		Properties: map[string]string{"delta.checkpointInterval": "2"}}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0xc4a5))    // kill delays
	sample := rand.New(rand.NewPCG(seed, 0x5a3b)) // old versions to reload
	h := newHistory(tbl)
	var recordFiles []string
	var fig checkFigures
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
		env = append(env, serverEnv...)
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
		// Every version loads with the files its commits say; new versions also scan to the
		// expected rows. Versions checked before are immutable, so past fullSweepUpTo versions
		// a seeded sample of them is reloaded each time (and all of them at the end), keeping
		// long runs linear.
		for v := int64(0); v <= h.latest(); v++ {
			if v > prev || v == h.latest() || h.latest() <= fullSweepUpTo || sample.IntN(int(prev)+1) < sampledOldVersions {
				h.verifyVersion(ctx, t, v, v > prev || v == h.latest())
			}
		}
		h.checkCheckpoints(ctx, t, &fig)
		fig.checking += time.Since(t0)
		if t.Failed() {
			t.Fatalf("iteration %d (killed after %s) left the table broken; seed %d", it, delay, seed)
		}
	}
	for v := int64(0); v <= h.latest(); v++ {
		h.verifyVersion(ctx, t, v, false)
	}
	st := h.checkOutcomes(t, ops, faulty)
	orphans, temps := h.leftovers(ctx, t, location, srv == nil)
	t.Logf("%d iterations (%d kills) in %s (starting workers %s, checking %s): %d versions, %d checkpoints, "+
		"%d checks found _last_checkpoint without its checkpoint; kills left %d unreferenced data files and %d temporary files; operations: %s",
		iterations, fig.kills, time.Since(started).Round(time.Millisecond), fig.startup.Round(time.Millisecond), fig.checking.Round(time.Millisecond),
		h.latest()+1, fig.checkpoints, fig.danglingHints, orphans, temps, st)
	if faulty {
		retried := 0
		var failures []string
		for _, op := range ops {
			if op.Attempts > 1 {
				retried++
			}
			if op.Outcome == outcomeError {
				failures = append(failures, fmt.Sprintf("[%s after %d attempts (transient %v): %s]", op.Op, op.Attempts, op.Transient, op.Error))
			}
		}
		sort.Strings(failures)
		t.Logf("%d operations were retried after an injected failure; %d failed after every attempt %s", retried, len(failures), strings.Join(failures, "; "))
	}
}

// leftovers counts the data files no version references (written by an operation that was killed
// or failed before its commit landed) and, for a local table, the storage layer's temporary files
// (a write killed before it was published): evidence of where the kills landed.
func (h *history) leftovers(ctx context.Context, t *testing.T, dir string, local bool) (orphans, temps int) {
	t.Helper()
	referenced := map[string]bool{}
	for _, files := range h.files {
		for k := range files {
			referenced[k] = true
		}
	}
	infos, err := h.tbl.Store().List(ctx, "", "")
	if err != nil {
		t.Errorf("list table: %v", err)
		return 0, 0
	}
	for _, info := range infos {
		if !strings.HasPrefix(info.Key, delta.LogDir) && !referenced[info.Key] {
			orphans++
		}
	}
	if local {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), ".strata-tmp-") {
				temps++
			}
			return nil
		})
	}
	return orphans, temps
}

var reCheckpointKey = regexp.MustCompile(`^_delta_log/(\d{20})\.checkpoint\.parquet$`)

// checkCheckpoints decodes every checkpoint not checked yet and compares its add actions with the
// live files of its version, then checks _last_checkpoint.
func (h *history) checkCheckpoints(ctx context.Context, t *testing.T, fig *checkFigures) {
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
