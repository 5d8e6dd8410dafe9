package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/table"
)

// The storage section (issue 7, item 2). For each backend (a local folder, and an in-process S3
// server reached over HTTP), it runs a seeded sequence of table writes (appends, a few whole-table
// overwrites), each through a fresh storage.Faulty with a random fault plan: transient errors and
// timeouts on reads and writes, latency, an ambiguous put-if-absent of the commit, a
// put-if-absent race lost to a competitor's commit (once or several times in a row, or on the
// retry after a transient failure of the commit), a real competing append that commits just as
// the write puts its commit, a "crash" between the data files and the commit (the write's
// context is cancelled as the commit is put), out-of-space on data files and on the commit, and
// faults on checkpoint and _last_checkpoint writes. On S3 the HTTP server also answers some
// requests with 503 (S3's own retry must absorb them) and handles some conditional PUTs but
// answers 500 (S3's ambiguous put-if-absent recovery must tell its own object from a
// competitor's).
//
// The commit's transient failures are retried by the kernel (delta's putCommit, added for this
// section: before, an ambiguous commit was reported failed although it had landed); a
// transient failure of a data file put or of a read fails the write cleanly.
//
// Every operation records its intent (rows with unique ids, tagged with the operation's number in
// commitInfo.userMetadata) and its outcome (version, or error). The table is then checked without
// faults by checkStorageTable.

// storageScale is the number of appends per backend per env.Iterations.
const storageScale = 5

// competitorSeq is added to an operation's number to number its competitor.
const competitorSeq = 1_000_000

// storageCheckpointInterval is the tables' delta.checkpointInterval: small, so that many commits
// checkpoint and the checkpoint faults fire.
const storageCheckpointInterval = 5

// maxCheckpointChecks bounds the checkpoints checkStorageTable loads on their own, and
// maxVersionLoads the versions it loads with Snapshot (all its commits are read in any case).
const (
	maxCheckpointChecks = 50
	maxVersionLoads     = 400
)

// storageSchema is the tables' schema: id is unique over the whole run, op is the operation that
// wrote the row.
var storageSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "op", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// storageRows is a table.Source of rows held in memory, all written by one operation.
type storageRows struct {
	op  int64
	ids []int64
}

// Schema is storageSchema.
func (s storageRows) Schema() *arrow.Schema { return storageSchema }

// Open returns the rows as one batch in the target schema (id, op, note).
func (s storageRows) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, target)
	defer b.Release()
	for _, id := range s.ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.Int64Builder).Append(s.op)
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("row %d of op %d", id, s.op))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return array.NewRecordReader(target, []arrow.RecordBatch{rec})
}

// storageOp is one write of the run: what it meant to do and what it was told.
type storageOp struct {
	// Seq numbers the operations of a table from 0; the commit's userMetadata is opTag(Seq).
	Seq int64
	// Overwrite is a whole-table overwrite (else an append).
	Overwrite bool
	// IDs are the rows' ids, unique over the run.
	IDs []int64
	// Plan describes the faults planned for the operation (for messages).
	Plan []string
	// Err is the write's error; nil means acknowledged at Version.
	Err     error
	Version int64
	// Ambiguous: the commit's put-if-absent failed after it may have landed (an ambiguous write
	// fired on it), so a failed write may nevertheless be in the log, at most once.
	Ambiguous bool
	// Crashed: the write was "crashed" (its context cancelled) at its commit.
	Crashed bool
	// LostRace: a lose-race fault fired on the write's commit, so a clean ErrConflict is allowed.
	LostRace bool
	// Injected are the injected errors the write's store calls returned, as "op key: error".
	Injected []string
	// NoSpace: a no-space fault fired during the write.
	NoSpace bool
	// PostCommitErr is the failure of the commit's post-commit work (checkpoint), if any.
	PostCommitErr error
}

// opTag is the commitInfo.userMetadata of operation seq.
func opTag(seq int64) string { return "reliability-op-" + strconv.FormatInt(seq, 10) }

// parseOpTag is the inverse of opTag.
func parseOpTag(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "reliability-op-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil
}

// reCommitKey matches a commit file's key.
var reCommitKey = regexp.MustCompile(`^_delta_log/\d{20}\.json$`)

// probeStore sits between the table and a Faulty: it records the injected errors the table saw,
// and, when crashAtCommit is set, "crashes" the write at its commit by cancelling the write's
// context just before the commit's put-if-absent reaches the store.
type probeStore struct {
	storage.Store
	crashAtCommit bool
	cancel        context.CancelFunc
	// competitor, if set, runs once, synchronously, when the first commit put arrives, before it
	// reaches the store; competed records that it ran.
	competitor func()
	competed   bool

	// mu guards injected, crashed, commitAmbiguous, lostRace and noSpace.
	mu              sync.Mutex
	injected        []string
	crashed         bool
	commitAmbiguous bool
	lostRace        bool
	noSpace         bool
}

// note records an injected error of a call.
func (p *probeStore) note(op storage.Op, key string, err error) {
	if err == nil || !errors.Is(err, storage.ErrInjected) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.injected = append(p.injected, fmt.Sprintf("%s %s: %v", op, key, err))
	if errors.Is(err, syscall.ENOSPC) {
		p.noSpace = true
	}
	if op == storage.OpPutIfAbsent && strings.Contains(err.Error(), "("+string(storage.FaultAmbiguousWrite)+")") {
		p.commitAmbiguous = true
	}
}

// Get reads an object, recording an injected failure.
func (p *probeStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := p.Store.Get(ctx, key)
	p.note(storage.OpGet, key, err)
	return b, err
}

// GetRange reads part of an object, recording an injected failure.
func (p *probeStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b, err := p.Store.GetRange(ctx, key, off, n)
	p.note(storage.OpRange, key, err)
	return b, err
}

// Open opens an object, recording an injected failure.
func (p *probeStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := p.Store.Open(ctx, key)
	p.note(storage.OpOpen, key, err)
	return rc, err
}

// Put writes an object, recording an injected failure.
func (p *probeStore) Put(ctx context.Context, key string, data []byte) error {
	err := p.Store.Put(ctx, key, data)
	p.note(storage.OpPut, key, err)
	return err
}

// PutIfAbsent writes an object if absent; a commit is "crashed" first when so armed.
func (p *probeStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if p.competitor != nil && !p.competed && reCommitKey.MatchString(key) {
		p.competed = true
		p.competitor()
	}
	if p.crashAtCommit && reCommitKey.MatchString(key) {
		p.mu.Lock()
		p.crashed = true
		p.mu.Unlock()
		p.cancel()
	}
	err := p.Store.PutIfAbsent(ctx, key, data)
	p.note(storage.OpPutIfAbsent, key, err)
	if errors.Is(err, storage.ErrExists) {
		p.mu.Lock()
		p.lostRace = true
		p.mu.Unlock()
	}
	return err
}

// List lists objects, recording an injected failure.
func (p *probeStore) List(ctx context.Context, prefix, startAfter string) ([]storage.ObjectInfo, error) {
	out, err := p.Store.List(ctx, prefix, startAfter)
	p.note(storage.OpList, prefix, err)
	return out, err
}

// Delete removes an object, recording an injected failure.
func (p *probeStore) Delete(ctx context.Context, key string) error {
	err := p.Store.Delete(ctx, key)
	p.note(storage.OpDelete, key, err)
	return err
}

// Stat describes an object, recording an injected failure.
func (p *probeStore) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	info, err := p.Store.Stat(ctx, key)
	p.note(storage.OpStat, key, err)
	return info, err
}

// competitorCommit is the commit a lose-race fault writes first: a valid commit of another
// writer that changes no data (commitInfo only), so the loser can rebase over it.
func competitorCommit() []byte {
	b, err := delta.EncodeCommit([]delta.Action{{CommitInfo: delta.CommitInfo{
		"timestamp": time.Now().UnixMilli(), "operation": "WRITE", "engineInfo": "reliability-competitor",
		"operationParameters": map[string]any{"mode": "Append"}, "isBlindAppend": true,
	}}})
	if err != nil {
		panic(fmt.Sprintf("reliability: encoding the competitor commit: %v", err)) // a fixed, valid action
	}
	return b
}

// planFaults draws the fault plan of one write: the rules to inject into its Faulty, whether it
// crashes at the commit, whether a competing writer commits just before it, and a description.
func planFaults(rng *rand.Rand) (rules []storage.FaultRule, crash, compete bool, desc []string) {
	add := func(d string, r storage.FaultRule) {
		rules = append(rules, r)
		desc = append(desc, d)
	}
	transientKind := func() storage.FaultKind {
		if rng.IntN(2) == 0 {
			return storage.FaultTimeout
		}
		return storage.FaultTransient
	}
	reads := []storage.Op{storage.OpGet, storage.OpList, storage.OpStat, storage.OpRange, storage.OpOpen}
	switch rng.IntN(14) {
	case 0: // no main fault
	case 1:
		k := transientKind()
		add(string(k)+" on reads", storage.FaultRule{Ops: reads, Probability: 0.3, MaxFires: 2, Kind: k})
	case 2:
		k := transientKind()
		add(string(k)+" on a data file put", storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Key: "part-", Nth: 1, Kind: k})
	case 3:
		k := transientKind()
		add(string(k)+" on the commit", storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json", Nth: 1, Kind: k})
	case 4, 5:
		add("ambiguous commit", storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json", Nth: 1, Kind: storage.FaultAmbiguousWrite})
	case 6:
		add("ambiguous data file put", storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Key: "part-", Nth: 1, Kind: storage.FaultAmbiguousWrite})
	case 7, 8:
		n := 1 + rng.IntN(3)
		add(fmt.Sprintf("commit race lost %d times", n), storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json",
			MaxFires: n, Kind: storage.FaultLoseRace, Competitor: competitorCommit()})
	case 9:
		crash = true
		desc = append(desc, "crash between data files and commit")
	case 10:
		add("no space for a data file", storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Key: "part-", Nth: 1, Kind: storage.FaultNoSpace})
	case 11:
		add("no space for the commit", storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json", Nth: 1, Kind: storage.FaultNoSpace})
	case 12: // the worst moment: a competitor takes the version while the writer backs off
		add("transient on the commit", storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json", MaxFires: 1, Kind: storage.FaultTransient})
		add("then the race lost on its retry", storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json",
			MaxFires: 1, Kind: storage.FaultLoseRace, Competitor: competitorCommit()})
	case 13:
		compete = true
		desc = append(desc, "a competing append commits first")
	}
	if rng.IntN(5) < 2 { // checkpoint faults: fire only on writes that checkpoint
		kinds := []storage.FaultKind{storage.FaultTransient, storage.FaultNoSpace, storage.FaultAmbiguousWrite, storage.FaultTimeout}
		k := kinds[rng.IntN(len(kinds))]
		if rng.IntN(2) == 0 {
			add(string(k)+" on the checkpoint", storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Key: "checkpoint.parquet", Kind: k})
		} else {
			add(string(k)+" on _last_checkpoint", storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Key: "_last_checkpoint", Kind: k})
		}
	}
	if rng.IntN(5) == 0 {
		d := time.Duration(1+rng.IntN(20)) * time.Millisecond
		add("latency "+d.String(), storage.FaultRule{Probability: 0.3, Kind: storage.FaultLatency, Latency: d})
	}
	return rules, crash, compete, desc
}

// storageBackend is one store the section runs against.
type storageBackend struct {
	name string
	// open returns a fresh store rooted at the table named name.
	open func(ctx context.Context, name string) (storage.Store, error)
	// httpFaults reports the faults the S3 server injected (nil for local).
	httpFaults func() map[string]int64
	// faultsOn switches the backend's own faults (nil for local).
	faultsOn func(on bool)
	// close releases the backend (stops the S3 server).
	close func()
}

// runStorage runs the storage section: see the comment at the top of the file.
func runStorage(ctx context.Context, env Env, rep *Report) error {
	iters := max(env.Iterations, 1)
	appends := storageScale * iters
	overwrites := max(2, iters/10)

	var backends []*storageBackend
	localRoot := filepath.Join(env.Dir, "local")
	backends = append(backends, &storageBackend{
		name: "local",
		open: func(ctx context.Context, name string) (storage.Store, error) {
			return storage.NewLocal(filepath.Join(localRoot, name))
		},
		close: func() {},
	})
	s3b, err := newS3Backend(ctx, env)
	if err != nil {
		return err
	}
	defer s3b.close()
	backends = append(backends, s3b)

	for bi, b := range backends {
		if err := ctx.Err(); err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(env.Seed, uint64(bi)+0x5707))
		ops, err := runStorageOps(ctx, env, rep, b, "t", rng, appends, overwrites)
		if b.faultsOn != nil {
			b.faultsOn(false)
		}
		if err != nil {
			return err
		}
		inner, err := b.open(ctx, "t")
		if err != nil {
			return fmt.Errorf("storage: reopen %s table: %w", b.name, err)
		}
		env.Log.Info("storage check started", "backend", b.name, "ops", len(ops))
		res, err := checkStorageTable(ctx, env.Log, inner, ops, rep, b.name)
		if err != nil {
			return err
		}
		if b.httpFaults != nil {
			for k, n := range b.httpFaults() {
				rep.Fault(k, n)
			}
		}
		rep.Figure(b.name+"_versions", res.Versions)
		rep.Figure(b.name+"_acknowledged", res.Acknowledged)
		rep.Figure(b.name+"_failed_clean", res.FailedClean)
		rep.Figure(b.name+"_ambiguous_landed", res.AmbiguousLanded)
		rep.Figure(b.name+"_ambiguous_absent", res.AmbiguousAbsent)
		rep.Figure(b.name+"_orphan_files", res.Orphans)
		rep.Figure(b.name+"_checkpoints_checked", res.Checkpoints)
		rep.Figure(b.name+"_versions_loaded", res.VersionsLoaded)
		rep.Figure(b.name+"_rows_in_latest", res.RowsInLatest)
		rep.Figure(b.name+"_post_commit_errors", res.PostCommitErrors)
		rep.Figure(b.name+"_failures_by_cause", res.FailuresByCause)
		rep.Add(int64(len(ops)), res.Rows, 0)
		env.Log.Info("storage backend checked", "backend", b.name, "ops", len(ops), "versions", res.Versions,
			"acknowledged", res.Acknowledged, "failed", res.FailedClean, "ambiguous", res.AmbiguousLanded+res.AmbiguousAbsent,
			"orphans", res.Orphans)
	}
	return nil
}

// runStorageOps runs the writes against table name of backend b and returns them with their
// outcomes. Operation 0 creates the table without faults.
func runStorageOps(ctx context.Context, env Env, rep *Report, b *storageBackend, name string, rng *rand.Rand, appends, overwrites int) ([]*storageOp, error) {
	total := appends + overwrites
	ops := make([]*storageOp, 0, total+1)
	lastLog := time.Now()
	nextID := int64(0)
	for seq := 0; seq <= total; seq++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if time.Since(lastLog) > 5*time.Second {
			env.Log.Info("storage writes", "backend", b.name, "done", seq, "of", total+1)
			lastLog = time.Now()
		}
		op := &storageOp{Seq: int64(seq), Overwrite: seq > 0 && rng.IntN(total) < overwrites}
		for range 1 + rng.IntN(8) {
			op.IDs = append(op.IDs, nextID)
			nextID++
		}
		if b.faultsOn != nil {
			b.faultsOn(seq > 0)
		}
		inner, err := b.open(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("storage: open %s store: %w", b.name, err)
		}
		faulty := storage.NewFaulty(inner, int64(rng.Uint64()>>1))
		var crash, compete bool
		if seq > 0 {
			var rules []storage.FaultRule
			rules, crash, compete, op.Plan = planFaults(rng)
			for _, r := range rules {
				faulty.Inject(r)
			}
		}
		wctx, cancel := context.WithCancel(ctx)
		probe := &probeStore{Store: faulty, crashAtCommit: crash, cancel: cancel}
		var rival *storageOp
		if compete && !op.Overwrite {
			// A real writer (no faults of its own) appends just as this write puts its commit,
			// taking the version this write was about to commit.
			rival = &storageOp{Seq: competitorSeq + int64(seq), Plan: []string{"competitor of op " + strconv.Itoa(seq)}}
			for range 1 + rng.IntN(4) {
				rival.IDs = append(rival.IDs, nextID)
				nextID++
			}
			probe.competitor = func() {
				rtbl, err := table.Open(ctx, inner.URL(), table.WithStore(inner))
				if err == nil {
					var res *table.WriteResult
					if res, err = rtbl.Write(ctx, storageRows{op: rival.Seq, ids: rival.IDs}, table.WriteOptions{UserMetadata: opTag(rival.Seq)}); err == nil {
						rival.Version = res.Version
					}
				}
				rival.Err = err
			}
		}
		tbl, err := table.Open(wctx, inner.URL(), table.WithStore(probe))
		if err != nil {
			cancel()
			return nil, fmt.Errorf("storage: open %s table: %w", b.name, err)
		}
		wo := table.WriteOptions{Mode: table.Append, UserMetadata: opTag(op.Seq)}
		if op.Overwrite {
			wo.Mode = table.Overwrite
		}
		if seq == 0 {
			wo.CreateProperties = map[string]string{"delta.checkpointInterval": strconv.Itoa(storageCheckpointInterval)}
		}
		res, err := tbl.Write(wctx, storageRows{op: op.Seq, ids: op.IDs}, wo)
		cancel()
		if err != nil {
			op.Err = err
		} else {
			op.Version = res.Version
			if res.Commit != nil {
				op.PostCommitErr = res.Commit.PostCommitErr
			}
		}
		probe.mu.Lock()
		op.Injected, op.Crashed, op.Ambiguous, op.LostRace, op.NoSpace = probe.injected, probe.crashed, probe.commitAmbiguous, probe.lostRace, probe.noSpace
		probe.mu.Unlock()
		if seq == 0 && op.Err != nil {
			return nil, fmt.Errorf("storage: creating the %s table without faults: %w", b.name, op.Err)
		}
		for k, n := range faulty.Stats().ByKind {
			rep.Fault(string(k), n)
		}
		if op.Crashed {
			rep.Fault("crash-before-commit", 1)
		}
		checkWriteError(op, inner.URL(), rep, b.name)
		if rival != nil && probe.competed {
			rep.Fault("competing-writer", 1)
			checkWriteError(rival, inner.URL(), rep, b.name)
			ops = append(ops, rival)
		}
		env.Log.Debug("storage write", "backend", b.name, "op", op.Seq, "overwrite", op.Overwrite, "plan", strings.Join(op.Plan, ", "),
			"version", op.Version, "error", op.Err, "post_commit_error", op.PostCommitErr, "injected", len(op.Injected))
		ops = append(ops, op)
		rep.Iterations++
	}
	return ops, nil
}

// checkWriteError checks that a failed write's error (and a post-commit error) names its cause:
// it wraps an injected fault that fired during the write (storage.ErrInjected, syscall.ENOSPC,
// storage.ErrTransient), the cancellation of a crashed write, or a conflict after a lost race;
// and its message names the table or the key. Anything else is an anomaly.
func checkWriteError(op *storageOp, location string, rep *Report, backend string) {
	for _, e := range []struct {
		what string
		err  error
	}{{"write", op.Err}, {"post-commit work", op.PostCommitErr}} {
		if e.err == nil {
			continue
		}
		msg := e.err.Error()
		injected := len(op.Injected) > 0
		named := strings.Contains(msg, location) || strings.Contains(msg, "_delta_log/") || strings.Contains(msg, ".parquet")
		var cause string
		switch {
		case errors.Is(e.err, syscall.ENOSPC):
			if !op.NoSpace {
				cause = "ENOSPC but no out-of-space fault fired"
			}
		case errors.Is(e.err, storage.ErrInjected), errors.Is(e.err, storage.ErrTransient):
			if !injected {
				cause = "an injected or transient failure but no fault fired"
			}
		case errors.Is(e.err, context.Canceled):
			if !op.Crashed {
				cause = "cancelled but the write was not crashed"
			}
		case errors.Is(e.err, delta.ErrConflict):
			if !op.LostRace {
				cause = "a conflict but no race was lost"
			}
		default:
			cause = "no recognisable cause (not ENOSPC, injected, transient, cancelled or a conflict)"
		}
		if cause == "" && !named {
			cause = "the message names neither the table nor the key"
		}
		if cause != "" {
			rep.Anomaly("%s op %d (%s): %s error is unclean: %s: %v (injected: %s)",
				backend, op.Seq, strings.Join(op.Plan, ", "), e.what, cause, e.err, strings.Join(op.Injected, "; "))
		}
	}
}

// storageCheck is what checkStorageTable found.
type storageCheck struct {
	// Versions is the number of table versions (latest + 1).
	Versions int64
	// Acknowledged and FailedClean count the writes that succeeded and that failed cleanly;
	// AmbiguousLanded and AmbiguousAbsent the failed writes whose commit may have landed, by
	// whether it did.
	Acknowledged, FailedClean, AmbiguousLanded, AmbiguousAbsent int
	// VersionsLoaded is how many versions were loaded with Snapshot and compared with a replay
	// of their commits.
	VersionsLoaded int
	// Orphans are data files no version references; Checkpoints the checkpoints checked;
	// PostCommitErrors the acknowledged writes whose post-commit work failed.
	Orphans, Checkpoints, PostCommitErrors int
	// Rows are the rows accounted: the rows of the latest version, each found once and written by
	// a write committed since the last overwrite (RowsInLatest), plus the rows of the committed
	// writes an overwrite replaced, counted in their commit's stats.
	Rows, RowsInLatest int64
	// FailuresByCause counts the failed writes by the cause their error names.
	FailuresByCause map[string]int
}

// logView is a read-only view of a store that hides some keys (for loading a snapshot from the
// commits alone, or from one checkpoint alone).
type logView struct {
	storage.Store
	hide func(key string) bool
}

// Get reads an object unless hidden.
func (v logView) Get(ctx context.Context, key string) ([]byte, error) {
	if v.hide(key) {
		return nil, fmt.Errorf("logview %s: %w", key, storage.ErrNotFound)
	}
	return v.Store.Get(ctx, key)
}

// Stat describes an object unless hidden.
func (v logView) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if v.hide(key) {
		return storage.ObjectInfo{}, fmt.Errorf("logview %s: %w", key, storage.ErrNotFound)
	}
	return v.Store.Stat(ctx, key)
}

// List lists the objects that are not hidden.
func (v logView) List(ctx context.Context, prefix, startAfter string) ([]storage.ObjectInfo, error) {
	all, err := v.Store.List(ctx, prefix, startAfter)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(o storage.ObjectInfo) bool { return v.hide(o.Key) }), nil
}

var (
	reCheckpointKey = regexp.MustCompile(`^_delta_log/(\d{20})\.checkpoint(\..*)?\.parquet$`)
	reLogVersion    = regexp.MustCompile(`^_delta_log/(\d{20})\.`)
)

// filePaths returns a snapshot's live file paths, sorted.
func filePaths(s *delta.Snapshot) []string {
	out := make([]string, len(s.Files()))
	for i, f := range s.Files() {
		out[i] = f.Path
	}
	sort.Strings(out)
	return out
}

// checkStorageTable checks, without faults, the table in store against the writes that ran on it:
//   - every commit from 0 to the latest reads, and replaying their adds and removes (an
//     independent model) gives each version's live files; every version loads with exactly
//     those files (a spread sample of at most maxVersionLoads versions in a long run); the latest
//     loaded from the commits alone (checkpoints hidden) has the same files; every checkpoint
//     (at most maxCheckpointChecks), loaded alone, holds exactly the live files of its version;
//     _last_checkpoint names a checkpoint that exists;
//   - every file the latest snapshot references exists; no data file is added by two commits;
//   - every acknowledged write is in the log once, at the version it was told, with as many rows
//     as it wrote; a failed write is not in the log, except an ambiguous one (at most once);
//   - the latest snapshot holds exactly the rows of the writes committed since the last
//     overwrite, each once;
//   - the data files no version references (orphans of failed writes) are all listed by VACUUM's
//     dry run, which lists no live file.
//
// Broken promises are anomalies in rep; an error means the check itself could not run.
func checkStorageTable(ctx context.Context, log *slog.Logger, store storage.Store, ops []*storageOp, rep *Report, backend string) (*storageCheck, error) {
	res := &storageCheck{FailuresByCause: map[string]int{}}
	for _, op := range ops {
		switch err := op.Err; {
		case err == nil:
		case errors.Is(err, syscall.ENOSPC):
			res.FailuresByCause["no-space"]++
		case errors.Is(err, storage.ErrTransient):
			res.FailuresByCause["transient"]++
		case errors.Is(err, context.Canceled):
			res.FailuresByCause["crashed"]++
		case errors.Is(err, delta.ErrConflict):
			res.FailuresByCause["conflict"]++
		default:
			res.FailuresByCause["other"]++
		}
	}
	tbl, err := table.Open(ctx, store.URL(), table.WithStore(store))
	if err != nil {
		return nil, fmt.Errorf("storage: open %s table for checking: %w", backend, err)
	}
	latest, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		rep.Anomaly("%s: the latest version does not load: %v", backend, err)
		return res, nil
	}
	res.Versions = latest.Version() + 1

	// The checkpoints in the log; a long run checks an evenly spread sample (each check lists
	// the log), the newest included.
	logFiles, err := store.List(ctx, delta.LogDir, "")
	if err != nil {
		return nil, fmt.Errorf("storage: list %s log: %w", backend, err)
	}
	checkpoints := map[int64]bool{}
	var cpVersions []int64
	for _, o := range logFiles {
		if m := reCheckpointKey.FindStringSubmatch(o.Key); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			checkpoints[v] = true
			cpVersions = append(cpVersions, v)
		}
	}
	checkCheckpoint := map[int64]bool{}
	for i, stride := len(cpVersions)-1, max(1, len(cpVersions)/maxCheckpointChecks); i >= 0; i -= stride {
		checkCheckpoint[cpVersions[i]] = true
	}
	// Every commit is read and replayed here (adds and removes, an independent model of the live
	// files); Snapshot loads every version too when there are at most maxVersionLoads, else an
	// evenly spread sample, the latest and the checkpointed versions included (each load of an
	// old version lists the whole log).
	loadStride := max(int64(1), res.Versions/maxVersionLoads)

	// The log: every commit read and replayed; which writes it holds.
	tagVersions := map[int64][]int64{} // op seq -> versions whose commitInfo carries its tag
	addedBy := map[string]int64{}      // data file path -> version that added it
	addRows := map[int64]int64{}       // version -> numRecords added
	var removesAt []int64              // versions that remove files
	liveModel := map[string]bool{}     // live file paths after the version replayed
	lastLog := time.Now()
	for v := int64(0); v <= latest.Version(); v++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if time.Since(lastLog) > 5*time.Second {
			log.Info("storage check", "backend", backend, "version", v, "of", latest.Version())
			lastLog = time.Now()
		}
		actions, err := tbl.Kernel().ReadCommit(ctx, v)
		if err != nil {
			rep.Anomaly("%s: commit %d unreadable: %v", backend, v, err)
			continue
		}
		removes := false
		for _, a := range actions {
			if a.CommitInfo != nil {
				if um, ok := a.CommitInfo["userMetadata"].(string); ok {
					if seq, ok := parseOpTag(um); ok {
						tagVersions[seq] = append(tagVersions[seq], v)
					}
				}
			}
			if a.Remove != nil {
				removes = true
				if !liveModel[a.Remove.Path] {
					rep.Anomaly("%s: commit %d removes %s, which is not live", backend, v, a.Remove.Path)
				}
				delete(liveModel, a.Remove.Path)
			}
		}
		for _, a := range actions {
			if a.Add != nil {
				if prev, dup := addedBy[a.Add.Path]; dup {
					rep.Anomaly("%s: data file %s added by commit %d and again by commit %d", backend, a.Add.Path, prev, v)
				}
				addedBy[a.Add.Path] = v
				liveModel[a.Add.Path] = true
				if st, err := delta.ParseStats(a.Add.Stats); err == nil && st != nil {
					addRows[v] += st.NumRecords
				}
			}
		}
		if removes {
			removesAt = append(removesAt, v)
		}
		if v%loadStride != 0 && v != latest.Version() && !checkCheckpoint[v] {
			continue
		}
		want := slices.Sorted(maps.Keys(liveModel))
		res.VersionsLoaded++
		if snap, err := tbl.Snapshot(ctx, v); err != nil {
			rep.Anomaly("%s: version %d of %d does not load: %v", backend, v, latest.Version(), err)
		} else if got := filePaths(snap); !slices.Equal(got, want) {
			rep.Anomaly("%s: version %d loads with %d live files, its commits make %d (or different ones)", backend, v, len(got), len(want))
		}
		if !checkCheckpoint[v] {
			continue
		}
		// The checkpoint of v, loaded with every commit up to v and every other checkpoint
		// hidden, must hold exactly the live files of v.
		res.Checkpoints++
		only := logView{Store: store, hide: func(k string) bool {
			if m := reCheckpointKey.FindStringSubmatch(k); m != nil {
				return m[1] != fmt.Sprintf("%020d", v)
			}
			if k == "_delta_log/_last_checkpoint" {
				return true
			}
			if m := reLogVersion.FindStringSubmatch(k); m != nil {
				kv, _ := strconv.ParseInt(m[1], 10, 64)
				return kv <= v
			}
			return false
		}}
		cpTbl, _ := table.Open(ctx, store.URL(), table.WithStore(only))
		if cs, err := cpTbl.Snapshot(ctx, v); err != nil {
			rep.Anomaly("%s: the checkpoint of version %d does not load on its own: %v", backend, v, err)
		} else if got := filePaths(cs); !slices.Equal(got, want) {
			rep.Anomaly("%s: the checkpoint of version %d holds %d files, the version has %d live files (or different ones)",
				backend, v, len(got), len(want))
		}
	}

	// The latest version from the commits alone, checkpoints hidden.
	commitsOnly := logView{Store: store, hide: func(k string) bool {
		return k == "_delta_log/_last_checkpoint" || reCheckpointKey.MatchString(k)
	}}
	jsonTbl, _ := table.Open(ctx, store.URL(), table.WithStore(commitsOnly))
	if js, err := jsonTbl.Snapshot(ctx, -1); err != nil {
		rep.Anomaly("%s: the latest version does not load from the commits alone: %v", backend, err)
	} else if !slices.Equal(filePaths(js), filePaths(latest)) {
		rep.Anomaly("%s: version %d: the files from the commits alone differ from the files loaded with checkpoints", backend, latest.Version())
	}
	if doc, err := store.Get(ctx, "_delta_log/_last_checkpoint"); err == nil {
		var hint struct {
			Version int64 `json:"version"`
		}
		if err := json.Unmarshal(doc, &hint); err != nil {
			rep.Anomaly("%s: _last_checkpoint is corrupt: %v", backend, err)
		} else if !checkpoints[hint.Version] {
			rep.Anomaly("%s: _last_checkpoint names version %d, which has no checkpoint", backend, hint.Version)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("storage: read %s _last_checkpoint: %w", backend, err)
	}

	// Live files exist.
	live := map[string]bool{}
	for _, f := range latest.Files() {
		key, err := delta.FileKeyForPath(store.URL(), f.Path)
		if err != nil {
			rep.Anomaly("%s: live file %s: %v", backend, f.Path, err)
			continue
		}
		live[key] = true
		if _, err := store.Stat(ctx, key); err != nil {
			rep.Anomaly("%s: version %d references %s, which is missing: %v", backend, latest.Version(), key, err)
		}
	}

	// The writes against the log.
	committedAt := map[int64]int64{} // op seq -> version, for writes in the log once
	for _, op := range ops {
		vs := tagVersions[op.Seq]
		if len(vs) > 1 {
			rep.Anomaly("%s op %d (%s): committed %d times, at versions %v", backend, op.Seq, strings.Join(op.Plan, ", "), len(vs), vs)
		}
		switch {
		case op.Err == nil:
			res.Acknowledged++
			if op.PostCommitErr != nil {
				res.PostCommitErrors++
			}
			if len(vs) == 0 {
				rep.Anomaly("%s op %d (%s): acknowledged at version %d but not in the log", backend, op.Seq, strings.Join(op.Plan, ", "), op.Version)
				continue
			}
			if vs[0] != op.Version {
				rep.Anomaly("%s op %d (%s): acknowledged at version %d but committed at version %d", backend, op.Seq, strings.Join(op.Plan, ", "), op.Version, vs[0])
			}
			if addRows[vs[0]] != int64(len(op.IDs)) {
				rep.Anomaly("%s op %d: version %d adds %d rows, the write had %d", backend, op.Seq, vs[0], addRows[vs[0]], len(op.IDs))
			}
			committedAt[op.Seq] = vs[0]
		case op.Ambiguous:
			if len(vs) > 0 {
				res.AmbiguousLanded++
				committedAt[op.Seq] = vs[0]
			} else {
				res.AmbiguousAbsent++
			}
		default:
			res.FailedClean++
			if len(vs) > 0 {
				rep.Anomaly("%s op %d (%s): failed (%v) but committed at version %v", backend, op.Seq, strings.Join(op.Plan, ", "), op.Err, vs)
				committedAt[op.Seq] = vs[0]
			}
		}
	}

	// Only the overwrites remove files.
	overwriteAt := int64(-1) // the version of the last overwrite
	overwrites := map[int64]bool{}
	for _, op := range ops {
		if v, ok := committedAt[op.Seq]; ok && op.Overwrite {
			overwrites[v] = true
			overwriteAt = max(overwriteAt, v)
		}
	}
	for _, v := range removesAt {
		if !overwrites[v] {
			rep.Anomaly("%s: version %d removes files, but no overwrite was committed there", backend, v)
		}
	}

	for _, op := range ops {
		if v, ok := committedAt[op.Seq]; ok && v < overwriteAt && addRows[v] == int64(len(op.IDs)) {
			res.Rows += int64(len(op.IDs))
		}
	}

	// The rows: exactly those of the writes committed since the last overwrite, each once.
	want := map[int64]int64{} // id -> op seq
	for _, op := range ops {
		if v, ok := committedAt[op.Seq]; ok && v >= overwriteAt {
			for _, id := range op.IDs {
				want[id] = op.Seq
			}
		}
	}
	got, err := scanIDs(ctx, tbl, latest)
	if err != nil {
		rep.Anomaly("%s: the latest version (%d) does not scan: %v", backend, latest.Version(), err)
	} else {
		for id, seqs := range got {
			wseq, ok := want[id]
			switch {
			case !ok:
				rep.Anomaly("%s: row id %d (op %v) is in version %d but its write is not committed there", backend, id, seqs, latest.Version())
			case len(seqs) > 1:
				rep.Anomaly("%s: row id %d is in version %d %d times", backend, id, latest.Version(), len(seqs))
			case seqs[0] != wseq:
				rep.Anomaly("%s: row id %d carries op %d, written by op %d", backend, id, seqs[0], wseq)
			default:
				res.Rows++
				res.RowsInLatest++
			}
		}
		for id, seq := range want {
			if _, ok := got[id]; !ok {
				rep.Anomaly("%s: row id %d of op %d (committed at version %d) is missing from version %d", backend, id, seq, committedAt[seq], latest.Version())
			}
		}
	}

	// Orphans: data files no version references. VACUUM's dry run (retention 0, a clock an hour
	// ahead so every file is old enough) must list them all, and no live file.
	objs, err := store.List(ctx, "", "")
	if err != nil {
		return nil, fmt.Errorf("storage: list %s table: %w", backend, err)
	}
	referenced := map[string]bool{}
	for p := range addedBy {
		if k, err := delta.FileKeyForPath(store.URL(), p); err == nil {
			referenced[k] = true
		}
	}
	var orphans []string
	for _, o := range objs {
		if strings.HasPrefix(o.Key, "_") || strings.HasPrefix(o.Key, ".") || strings.Contains(o.Key, "/.") {
			continue
		}
		if !referenced[o.Key] {
			orphans = append(orphans, o.Key)
		}
	}
	res.Orphans = len(orphans)
	vt, err := table.Open(ctx, store.URL(), table.WithStore(store), table.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	if err != nil {
		return nil, err
	}
	plan, err := vt.Kernel().PlanVacuum(ctx, latest, 0, true)
	if err != nil {
		rep.Anomaly("%s: VACUUM dry run fails: %v", backend, err)
		return res, nil
	}
	planned := map[string]bool{}
	for _, f := range plan.Files {
		planned[f.Key] = true
		if live[f.Key] {
			rep.Anomaly("%s: VACUUM dry run lists %s, a live file of version %d", backend, f.Key, latest.Version())
		}
	}
	for _, o := range orphans {
		if !planned[o] {
			rep.Anomaly("%s: orphan data file %s is not listed by VACUUM's dry run", backend, o)
		}
	}
	return res, nil
}

// scanIDs reads the latest snapshot's rows and returns, per id, the ops of its copies.
func scanIDs(ctx context.Context, tbl *table.Table, snap *delta.Snapshot) (map[int64][]int64, error) {
	sc, err := tbl.Scan(ctx, snap, table.ScanOptions{Columns: []string{"id", "op"}})
	if err != nil {
		return nil, err
	}
	defer sc.Release()
	out := map[int64][]int64{}
	for sc.Next() {
		rec := sc.RecordBatch()
		ids, ok1 := rec.Column(0).(*array.Int64)
		seqs, ok2 := rec.Column(1).(*array.Int64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("scan of %s: unexpected column types %s, %s", tbl.Location(), rec.Column(0).DataType(), rec.Column(1).DataType())
		}
		for i := range ids.Len() {
			out[ids.Value(i)] = append(out[ids.Value(i)], seqs.Value(i))
		}
	}
	return out, sc.Err()
}

// newS3Backend starts an in-process S3 server (s3test keeps its data in memory) whose HTTP layer, while
// faults are on, answers about 3% of requests with 503 SlowDown before handling them, and handles
// about 5% of conditional PUTs (the commits) but answers 500, as when the response is lost. The
// store's own retry loop must absorb both.
func newS3Backend(ctx context.Context, env Env) (*storageBackend, error) {
	var (
		active atomic.Bool
		mu     sync.Mutex // guards rng and counts
		rng    = rand.New(rand.NewPCG(env.Seed, 0x53))
		counts = map[string]int64{}
	)
	draw := func(p float64, kind string) bool {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < p {
			counts[kind]++
			return true
		}
		return false
	}
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !active.Load() {
				next.ServeHTTP(w, r)
				return
			}
			if draw(0.03, "http-503") {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected 503</Message></Error>`)
				return
			}
			if r.Method == http.MethodPut && r.Header.Get("If-None-Match") != "" && draw(0.05, "http-ambiguous-write") {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected: response lost</Message></Error>`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv, err := s3test.Serve("127.0.0.1:0", "", s3test.WithMiddleware(mw))
	if err != nil {
		return nil, fmt.Errorf("storage: start the S3 server: %w", err)
	}
	return &storageBackend{
		name: "s3",
		open: func(ctx context.Context, name string) (storage.Store, error) {
			return storage.NewS3(ctx, storage.S3Config{
				Endpoint: srv.Endpoint, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
				Bucket: srv.Bucket, Prefix: name,
				Retry: storage.RetryPolicy{MaxAttempts: 8, BaseDelay: 5 * time.Millisecond, MaxDelay: 100 * time.Millisecond, MaxElapsed: 20 * time.Second},
			})
		},
		faultsOn: func(on bool) { active.Store(on) },
		httpFaults: func() map[string]int64 {
			mu.Lock()
			defer mu.Unlock()
			out := map[string]int64{}
			for k, v := range counts {
				out[k] = v
			}
			return out
		},
		close: func() { srv.Close() },
	}, nil
}
