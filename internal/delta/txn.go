package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stratalake/strata/internal/storage"
)

// EngineInfo is written into every commitInfo Strata produces.
var EngineInfo = "Strata"

// Operation names a commit's operation the way Spark does ("WRITE", "CREATE TABLE", "DELETE",
// "RESTORE", ...) with its parameters, shown by history.
type Operation struct {
	Name       string
	Parameters map[string]any
}

// Transaction is one optimistic write: it records what it read (for conflict detection) and the
// actions it will commit. It is not safe for concurrent use. Commit is its only I/O.
//
// The commit protocol: write version read+1 with put-if-absent; if another writer got there first,
// read the winning commits, check them against what this transaction read and wrote (Delta's
// WriteSerializable rules, see checkConflicts), and either retry at the next free version (with
// jittered backoff, at most MaxAttempts times) or fail with a *ConflictError. A transient failure
// of the put itself (storage.IsTransient) is retried for the same version, and an object found
// there after one is read back to tell our own landed commit from a competitor's (putCommit).
type Transaction struct {
	table *Table
	read  *Snapshot // nil when creating the table
	op    Operation

	adds     []*Add
	removes  []*Remove
	cdcs     []*AddCDC
	txns     []*Txn
	domains  []*DomainMetadata
	metadata *Metadata
	protocol *Protocol
	metrics  map[string]any
	userMeta string
	// rewritesRows marks commits that replace files by copies with some rows changed (UPDATE,
	// DELETE, MERGE): with change data feed on, they must carry cdc files.
	rewritesRows bool

	// Read set.
	readWholeTable bool
	readPredicates []Expr          // partition predicates the transaction read through
	readFiles      map[string]bool // decoded paths of files the transaction read

	// MaxAttempts bounds commit attempts (default 100).
	MaxAttempts int
	// Backoff is the base delay between attempts; the actual delay is jittered and grows.
	Backoff time.Duration
}

// NewTransaction starts a transaction on top of read (nil only for creating a table).
func (t *Table) NewTransaction(read *Snapshot, op Operation) *Transaction {
	return &Transaction{table: t, read: read, op: op, readFiles: map[string]bool{}, MaxAttempts: 100, Backoff: 10 * time.Millisecond}
}

// ReadSnapshot is the snapshot the transaction started from (nil for create).
func (tx *Transaction) ReadSnapshot() *Snapshot { return tx.read }

// AddFiles records files to add.
func (tx *Transaction) AddFiles(adds ...*Add) { tx.adds = append(tx.adds, adds...) }

// RemoveFiles records files to remove.
func (tx *Transaction) RemoveFiles(removes ...*Remove) { tx.removes = append(tx.removes, removes...) }

// AddChangeData records change-data files.
func (tx *Transaction) AddChangeData(cdcs ...*AddCDC) { tx.cdcs = append(tx.cdcs, cdcs...) }

// SetMetadata replaces the table metadata in this commit.
func (tx *Transaction) SetMetadata(md *Metadata) { tx.metadata = md }

// SetProtocol replaces the protocol in this commit.
func (tx *Transaction) SetProtocol(p *Protocol) { tx.protocol = p }

// SetDomainMetadata adds or removes a metadata domain in this commit.
func (tx *Transaction) SetDomainMetadata(d *DomainMetadata) { tx.domains = append(tx.domains, d) }

// SetAppTransaction records that this commit is version `version` of application appID. The
// commit then conflicts with any concurrent commit of the same appID, which makes idempotent
// writers safe: check Snapshot.TxnVersion first, then commit with SetAppTransaction.
func (tx *Transaction) SetAppTransaction(appID string, version int64) {
	now := tx.table.now().UnixMilli()
	tx.txns = append(tx.txns, &Txn{AppID: appID, Version: version, LastUpdated: &now})
}

// SetMetrics sets the operationMetrics of the commitInfo (values rendered as strings, as Spark does).
func (tx *Transaction) SetMetrics(m map[string]any) { tx.metrics = m }

// SetRewritesRows marks the commit as rewriting rows of existing files (UPDATE, DELETE, MERGE),
// which needs change data files when the table has change data feed enabled.
func (tx *Transaction) SetRewritesRows() { tx.rewritesRows = true }

// SetOperationParameter sets one operationParameters entry of the commitInfo.
func (tx *Transaction) SetOperationParameter(k string, v any) {
	if tx.op.Parameters == nil {
		tx.op.Parameters = map[string]any{}
	}
	tx.op.Parameters[k] = v
}

// SetUserMetadata sets commitInfo.userMetadata.
func (tx *Transaction) SetUserMetadata(s string) { tx.userMeta = s }

// ReadWholeTable records that the transaction's result depends on the whole table.
func (tx *Transaction) ReadWholeTable() { tx.readWholeTable = true }

// ReadPredicate records that the transaction read the files matching a partition predicate.
func (tx *Transaction) ReadPredicate(e Expr) { tx.readPredicates = append(tx.readPredicates, e) }

// ReadFiles records files the transaction read (and whose concurrent removal invalidates it).
func (tx *Transaction) ReadFiles(files ...*Add) {
	for _, f := range files {
		tx.readFiles[fileKey(f.Path, nil)] = true
	}
}

// IsBlindAppend reports whether the transaction only adds data without reading the table.
func (tx *Transaction) IsBlindAppend() bool {
	if len(tx.removes) > 0 || tx.metadata != nil || tx.protocol != nil || tx.readWholeTable ||
		len(tx.readPredicates) > 0 || len(tx.readFiles) > 0 {
		return false
	}
	for _, a := range tx.adds {
		if !a.DataChange {
			return false
		}
	}
	return true
}

// CommitResult describes a successful commit.
type CommitResult struct {
	// Version is the table version the commit created.
	Version int64
	// Attempts is how many put-if-absent attempts the commit took (1 = no contention).
	Attempts int
	// Checkpointed is true when the commit triggered a checkpoint.
	Checkpointed bool
	// PostCommitErr is a failure of post-commit work (checkpoint, log cleanup). The commit itself
	// succeeded; the next writer will checkpoint.
	PostCommitErr error
}

// Commit writes the transaction to the log. On success the result's Version is the new table
// version. A *ConflictError (errors.As) means a concurrent commit invalidated this transaction; no
// partial state is left in the log (data files already written become orphans for VACUUM).
// Cancelling ctx aborts between attempts.
func (tx *Transaction) Commit(ctx context.Context) (*CommitResult, error) {
	if err := tx.validate(); err != nil {
		return nil, err
	}
	attempt := int64(0)
	if tx.read != nil {
		attempt = tx.read.version + 1
	}
	checkedUpTo := attempt - 1 // winning commits up to this version have been checked
	var prevICT int64
	if tx.read != nil {
		if ts, ok := inCommitTimestamp(tx.read.commitInfo); ok {
			prevICT = ts.UnixMilli()
		}
	}
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("delta: commit to %s: %w", tx.table.Location(), err)
		}
		data, err := tx.encode(attempt, prevICT)
		if err != nil {
			return nil, err
		}
		err = tx.table.putCommit(ctx, attempt, data)
		if err == nil {
			res := &CommitResult{Version: attempt, Attempts: n}
			tx.postCommit(ctx, res)
			return res, nil
		}
		if !errors.Is(err, storage.ErrExists) {
			return nil, fmt.Errorf("delta: commit version %d to %s: %w", attempt, tx.table.Location(), err)
		}
		if tx.read == nil {
			return nil, fmt.Errorf("delta: create %s: %w", tx.table.Location(), ErrTableExists)
		}
		if n >= tx.MaxAttempts {
			return nil, fmt.Errorf("delta: commit to %s: gave up after %d attempts under contention: %w", tx.table.Location(), n, ErrConflict)
		}
		// Lost again right after catching up: back off (jittered, growing, capped) before looking
		// at the log, so that the version chosen next is fresh when it is tried. The first loss
		// retries at once.
		if n > 1 {
			if err := sleepJittered(ctx, tx.Backoff, n-1); err != nil {
				return nil, err
			}
		}
		// Someone else committed `attempt`. Check every commit we have not seen yet.
		winners, err := tx.table.commitsAfter(ctx, checkedUpTo)
		if err != nil {
			return nil, err
		}
		for _, w := range winners {
			if err := tx.checkConflicts(w.version, w.actions); err != nil {
				return nil, err
			}
			checkedUpTo = w.version
			if ts, ok := inCommitTimestamp(commitInfoOf(w.actions)); ok {
				prevICT = ts.UnixMilli()
			}
		}
		attempt = checkedUpTo + 1
	}
}

// commitPutAttempts bounds the put-if-absent calls putCommit makes for one version when they fail
// transiently, and commitPutMaxElapsed the time it keeps trying (a store with its own retry loop,
// like S3, may take long to give up on each call).
const (
	commitPutAttempts   = 6
	commitPutMaxElapsed = 30 * time.Second
)

// putCommit writes the commit file of version v with put-if-absent. A transient failure
// (storage.IsTransient: a 5xx, a timeout, a lost response) says nothing about whether the object
// landed, so putCommit retries the same bytes, at most commitPutAttempts times with jittered
// backoff and for at most commitPutMaxElapsed; when a retry finds the object already there, it
// reads it back: our own bytes (every commit carries a unique txnId) mean an earlier attempt
// landed, and the put succeeded; other bytes mean another writer won, ErrExists. So a commit is
// never reported failed when it is known to have landed, and never written twice. When the
// attempts run out the error wraps the last transient failure and says the outcome is unknown;
// a later non-transient failure says the commit may have landed. Any other failure (ErrExists
// on a first attempt, ENOSPC, a cancelled ctx) is returned as it is.
func (t *Table) putCommit(ctx context.Context, v int64, data []byte) error {
	key := CommitKey(v)
	var last error // the last transient failure; non-nil once an attempt may have landed
	start := time.Now()
	n := 0
	for ; n < commitPutAttempts && (n == 0 || time.Since(start) < commitPutMaxElapsed); n++ {
		if last != nil {
			if err := sleepJittered(ctx, 10*time.Millisecond, n); err != nil {
				return fmt.Errorf("%w (commit %d may have landed: %w)", err, v, last)
			}
		}
		err := t.store.PutIfAbsent(ctx, key, data)
		if err == nil {
			return nil
		}
		if errors.Is(err, storage.ErrExists) && last != nil {
			got, gerr := t.store.Get(ctx, key)
			if gerr == nil {
				if bytes.Equal(got, data) {
					return nil // an earlier attempt landed
				}
				return err
			}
			if !storage.IsTransient(gerr) || ctx.Err() != nil {
				return fmt.Errorf("commit %d may have landed (%w); reading it back: %w", v, last, gerr)
			}
			last = gerr
			continue
		}
		if errors.Is(err, storage.ErrExists) || !storage.IsTransient(err) || ctx.Err() != nil {
			if last != nil {
				return fmt.Errorf("%w (commit %d may have landed: %w)", err, v, last)
			}
			return err
		}
		last = err
	}
	return fmt.Errorf("outcome unknown after %d attempts in %v: %w", n, time.Since(start).Round(time.Millisecond), last)
}

// maxBackoff caps the delay between commit attempts.
const maxBackoff = 250 * time.Millisecond

// sleepJittered waits base*2^(attempt-1), capped at maxBackoff, scaled by a random factor in
// [0.5, 1.5) so that contending writers spread out.
func sleepJittered(ctx context.Context, base time.Duration, attempt int) error {
	d := min(base<<min(attempt-1, 10), maxBackoff)
	d = d/2 + time.Duration(rand.Int64N(int64(d)+1))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

type versionActions struct {
	version int64
	actions []Action
}

// commitsAfter reads every commit with a version greater than v, in order.
func (t *Table) commitsAfter(ctx context.Context, v int64) ([]versionActions, error) {
	files, err := t.listLogFrom(ctx, versionPrefixKey(v+1))
	if err != nil {
		return nil, err
	}
	var commits []logFile
	next := v + 1
	for _, f := range files {
		if f.kind == kindCommit && f.version >= next {
			if f.version != next {
				break // a gap: a commit in flight; stop at the contiguous prefix
			}
			commits = append(commits, f)
			next++
		}
	}
	actions, err := t.readCommits(ctx, commits)
	if err != nil {
		return nil, err
	}
	out := make([]versionActions, len(commits))
	for i := range commits {
		out[i] = versionActions{commits[i].version, actions[i]}
	}
	return out, nil
}

func commitInfoOf(actions []Action) CommitInfo {
	for _, a := range actions {
		if a.CommitInfo != nil {
			return a.CommitInfo
		}
	}
	return nil
}

// validate checks the transaction against the protocol before any attempt.
func (tx *Transaction) validate() error {
	proto, md := tx.protocol, tx.metadata
	if tx.read != nil {
		if proto == nil {
			proto = tx.read.protocol
		}
		if md == nil {
			md = tx.read.metadata
		}
	}
	if proto == nil || md == nil {
		return fmt.Errorf("delta: %w: a new table needs a protocol and metadata", ErrInvalidArgument)
	}
	if err := proto.CheckWritable(md); err != nil {
		return fmt.Errorf("delta: write %s: %w", tx.table.Location(), err)
	}
	if tx.read != nil && proto.AppendOnly(tx.read.metadata) {
		for _, r := range tx.removes {
			if r.DataChange {
				return fmt.Errorf("delta: write %s: %w: table is append-only (delta.appendOnly=true); %s would remove data",
					tx.table.Location(), ErrInvalidArgument, tx.op.Name)
			}
		}
	}
	// Whole-file adds and removes need no change data files (the protocol lets readers derive
	// inserts and deletes from them); a commit that rewrites rows does.
	if tx.rewritesRows && proto.ChangeDataFeedEnabled(md) && len(tx.cdcs) == 0 {
		return fmt.Errorf("delta: write %s: %w: change data feed is enabled and %s rewrites rows without change data files",
			tx.table.Location(), ErrUnsupportedFeature, tx.op.Name)
	}
	seen := map[string]bool{}
	for _, a := range tx.adds {
		k := fileKey(a.Path, nil)
		if seen[k] {
			return fmt.Errorf("delta: %w: file %s added twice in one commit", ErrInvalidArgument, a.Path)
		}
		seen[k] = true
	}
	apps := map[string]bool{}
	for _, t := range tx.txns {
		if apps[t.AppID] {
			return fmt.Errorf("delta: %w: two txn actions for appId %s in one commit", ErrInvalidArgument, t.AppID)
		}
		apps[t.AppID] = true
	}
	return nil
}

// encode renders the commit file for version v.
func (tx *Transaction) encode(v int64, prevICT int64) ([]byte, error) {
	now := tx.table.now().UnixMilli()
	info := CommitInfo{
		"timestamp":  now,
		"operation":  tx.op.Name,
		"engineInfo": EngineInfo,
		"txnId":      uuid.NewString(),
	}
	params := map[string]any{}
	for k, val := range tx.op.Parameters {
		params[k] = stringifyParam(val)
	}
	info["operationParameters"] = params
	if tx.read != nil {
		info["readVersion"] = tx.read.version
	}
	info["isolationLevel"] = "WriteSerializable"
	info["isBlindAppend"] = tx.IsBlindAppend()
	if len(tx.metrics) > 0 {
		m := map[string]any{}
		for k, val := range tx.metrics {
			m[k] = fmt.Sprint(val)
		}
		info["operationMetrics"] = m
	}
	if tx.userMeta != "" {
		info["userMetadata"] = tx.userMeta
	}
	proto, md := tx.protocol, tx.metadata
	if tx.read != nil {
		if proto == nil {
			proto = tx.read.protocol
		}
		if md == nil {
			md = tx.read.metadata
		}
	}
	if proto.InCommitTimestampsEnabled(md) {
		info["inCommitTimestamp"] = max(now, prevICT+1)
	}
	actions := []Action{{CommitInfo: info}}
	if tx.protocol != nil {
		actions = append(actions, Action{Protocol: tx.protocol})
	}
	if tx.metadata != nil {
		actions = append(actions, Action{Metadata: tx.metadata})
	}
	for _, t := range tx.txns {
		actions = append(actions, Action{Txn: t})
	}
	for _, d := range tx.domains {
		actions = append(actions, Action{DomainMetadata: d})
	}
	for _, r := range tx.removes {
		actions = append(actions, Action{Remove: r})
	}
	for _, a := range tx.adds {
		actions = append(actions, Action{Add: a})
	}
	for _, c := range tx.cdcs {
		actions = append(actions, Action{CDC: c})
	}
	return EncodeCommit(actions)
}

// stringifyParam renders an operation parameter the way Spark stores them: strings as-is, other
// values as JSON.
func stringifyParam(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// postCommit checkpoints when the new version is a multiple of delta.checkpointInterval, then
// cleans up expired log files. Failures are reported in res.PostCommitErr, never as commit errors.
func (tx *Transaction) postCommit(ctx context.Context, res *CommitResult) {
	md := tx.metadata
	if md == nil && tx.read != nil {
		md = tx.read.metadata
	}
	interval := CheckpointInterval(md)
	if res.Version == 0 || res.Version%interval != 0 {
		return
	}
	snap, err := tx.table.Snapshot(ctx, res.Version)
	if err != nil {
		res.PostCommitErr = fmt.Errorf("delta: checkpoint after commit %d: %w", res.Version, err)
		return
	}
	if err := tx.table.Checkpoint(ctx, snap); err != nil {
		res.PostCommitErr = err
		return
	}
	res.Checkpointed = true
	if !strings.EqualFold(md.Configuration["delta.enableExpiredLogCleanup"], "false") {
		if _, err := tx.table.CleanupLog(ctx, snap); err != nil {
			res.PostCommitErr = err
		}
	}
}
