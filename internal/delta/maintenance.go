package delta

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/stratalake/strata/internal/storage"
)

// CleanupLog deletes log files that no retained version needs, as the protocol's "Metadata
// Cleanup" describes: with cutoff = now - delta.logRetentionDuration, the newest checkpoint at or
// before the newest commit not newer than the cutoff is kept, and every commit, checkpoint and
// checksum file older than it is deleted. It returns how many files it deleted.
func (t *Table) CleanupLog(ctx context.Context, snap *Snapshot) (int, error) {
	cutoff := t.now().Add(-LogRetention(snap.metadata))
	files, err := t.listLogFrom(ctx, "")
	if err != nil {
		return 0, err
	}
	// The newest commit not newer than the cutoff.
	cutoffCommit := int64(-1)
	for _, f := range files {
		if f.kind == kindCommit && !f.info.ModTime.After(cutoff) && f.version <= snap.version {
			cutoffCommit = max(cutoffCommit, f.version)
		}
	}
	if cutoffCommit < 0 {
		return 0, nil
	}
	// The newest complete checkpoint at or before it.
	segs, err := buildSegments(files, cutoffCommit)
	if err != nil {
		return 0, nil // nothing safely removable
	}
	cpVersion := int64(-1)
	for _, s := range segs {
		cpVersion = max(cpVersion, s.checkpointVersion())
	}
	if cpVersion <= 0 {
		return 0, nil
	}
	deleted := 0
	for _, f := range files {
		if f.version >= cpVersion {
			continue
		}
		switch f.kind {
		case kindCommit, kindClassicCheckpoint, kindMultiPartCheckpoint, kindV2Checkpoint, kindChecksum, kindCompaction:
			if err := t.store.Delete(ctx, f.info.Key); err != nil {
				return deleted, fmt.Errorf("delta: log cleanup of %s: %w", t.Location(), err)
			}
			deleted++
		}
	}
	return deleted, nil
}

// HistoryEntry is one commit as `history` shows it.
type HistoryEntry struct {
	Version             int64             `json:"version"`
	Timestamp           time.Time         `json:"timestamp"`
	Operation           string            `json:"operation,omitempty"`
	OperationParameters map[string]any    `json:"operationParameters,omitempty"`
	OperationMetrics    map[string]any    `json:"operationMetrics,omitempty"`
	ReadVersion         *int64            `json:"readVersion,omitempty"`
	IsBlindAppend       *bool             `json:"isBlindAppend,omitempty"`
	EngineInfo          string            `json:"engineInfo,omitempty"`
	UserMetadata        string            `json:"userMetadata,omitempty"`
	Extra               map[string]string `json:"-"`
}

// History returns the commits still in the log, newest first, at most limit entries (all when
// limit <= 0), with their commitInfo. Timestamps are in-commit timestamps when present, else the
// commit files' modification times.
func (t *Table) History(ctx context.Context, limit int) ([]HistoryEntry, error) {
	_, commits, err := t.listCommits(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(commits, func(i, j int) bool { return commits[i].version > commits[j].version })
	if limit > 0 && len(commits) > limit {
		commits = commits[:limit]
	}
	actions, err := t.readCommits(ctx, commits)
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, len(commits))
	for i, c := range commits {
		e := HistoryEntry{Version: c.version, Timestamp: c.info.ModTime.UTC()}
		if ci := commitInfoOf(actions[i]); ci != nil {
			if ts, ok := inCommitTimestamp(ci); ok {
				e.Timestamp = ts
			} else if ms, ok := jsonInt(ci["timestamp"]); ok && ms > 0 {
				e.Timestamp = time.UnixMilli(ms).UTC()
			}
			e.Operation, _ = ci["operation"].(string)
			e.OperationParameters, _ = ci["operationParameters"].(map[string]any)
			e.OperationMetrics, _ = ci["operationMetrics"].(map[string]any)
			if rv, ok := jsonInt(ci["readVersion"]); ok {
				e.ReadVersion = &rv
			}
			if b, ok := ci["isBlindAppend"].(bool); ok {
				e.IsBlindAppend = &b
			}
			e.EngineInfo, _ = ci["engineInfo"].(string)
			e.UserMetadata, _ = ci["userMetadata"].(string)
		}
		out[i] = e
	}
	return out, nil
}

// SnapshotAt loads the table as of a point in time: the latest version whose commit timestamp is at
// or before ts. Commit timestamps are the in-commit timestamps when the table has them, else the
// commit files' modification times made strictly increasing (as Spark's history does). A timestamp
// before the first available commit, or after the latest one, is an error wrapping
// ErrVersionNotFound that names the available range.
func (t *Table) SnapshotAt(ctx context.Context, ts time.Time) (*Snapshot, error) {
	files, commits, err := t.listCommits(ctx)
	if err != nil {
		return nil, err
	}
	times := make([]time.Time, len(commits))
	for i, c := range commits {
		times[i] = c.info.ModTime
		if i > 0 && !times[i].After(times[i-1]) {
			times[i] = times[i-1].Add(time.Millisecond)
		}
	}
	// In-commit timestamps, when enabled, replace file times from their enablement version on.
	latest, err := t.snapshotFromListing(ctx, files, -1, nil)
	if err != nil {
		return nil, err
	}
	if latest.protocol.InCommitTimestampsEnabled(latest.metadata) {
		enabledAt, _ := jsonInt(latest.metadata.Configuration["delta.inCommitTimestampEnablementVersion"])
		var infos [][]Action
		var idx []int
		var need []logFile
		for i, c := range commits {
			if c.version >= enabledAt {
				need = append(need, c)
				idx = append(idx, i)
			}
		}
		if infos, err = t.readCommits(ctx, need); err != nil {
			return nil, err
		}
		for j, acts := range infos {
			if ict, ok := inCommitTimestamp(commitInfoOf(acts)); ok {
				times[idx[j]] = ict
			}
		}
	}
	first, last := times[0], times[len(times)-1]
	if ts.Before(first) {
		return nil, fmt.Errorf("delta: %s: %w: timestamp %s is before the earliest available commit (version %d at %s)",
			t.Location(), ErrVersionNotFound, ts.UTC().Format(time.RFC3339Nano), commits[0].version, first.UTC().Format(time.RFC3339Nano))
	}
	if ts.After(last) {
		return nil, fmt.Errorf("delta: %s: %w: timestamp %s is after the latest commit (version %d at %s); use a timestamp at or before it",
			t.Location(), ErrVersionNotFound, ts.UTC().Format(time.RFC3339Nano), commits[len(commits)-1].version, last.UTC().Format(time.RFC3339Nano))
	}
	i := sort.Search(len(times), func(i int) bool { return times[i].After(ts) }) - 1
	return t.snapshotFromListing(ctx, files, commits[i].version, nil)
}

// Restore builds a transaction that makes the table's content equal to its content at version
// target: files live then but not now are re-added, files live now but not then are removed, and
// the target's metadata is restored (the protocol is never downgraded). Every file to re-add must
// still exist; if VACUUM removed one, Restore fails naming it.
func (t *Table) Restore(ctx context.Context, current *Snapshot, target int64) (*Transaction, error) {
	if target == current.version {
		return nil, fmt.Errorf("delta: %w: the table is already at version %d", ErrInvalidArgument, target)
	}
	old, err := t.Snapshot(ctx, target)
	if err != nil {
		return nil, err
	}
	now := t.now().UnixMilli()
	cur := map[string]*Add{}
	for _, f := range current.files {
		cur[fileKey(f.Path, f.DeletionVector)] = f
	}
	want := map[string]*Add{}
	for _, f := range old.files {
		want[fileKey(f.Path, f.DeletionVector)] = f
	}
	tx := t.NewTransaction(current, Operation{Name: "RESTORE", Parameters: map[string]any{"version": target}})
	tx.ReadWholeTable()
	var restoredBytes, removedBytes int64
	var restored, removed int
	for k, f := range want {
		if _, ok := cur[k]; ok {
			continue
		}
		key, err := t.fileKeyInStore(f.Path)
		if err != nil {
			return nil, err
		}
		if _, err := t.store.Stat(ctx, key); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return nil, fmt.Errorf("delta: restore %s to version %d: %w: data file %s of that version no longer exists (removed by VACUUM?)",
					t.Location(), target, ErrVersionNotFound, f.Path)
			}
			return nil, err
		}
		a := *f
		a.DataChange = true
		tx.AddFiles(&a)
		restored++
		restoredBytes += f.Size
	}
	for k, f := range cur {
		if _, ok := want[k]; ok {
			continue
		}
		tx.RemoveFiles(f.RemoveAction(now, true))
		removed++
		removedBytes += f.Size
	}
	if old.metadata.SchemaString != current.metadata.SchemaString ||
		strings.Join(old.metadata.PartitionColumns, ",") != strings.Join(current.metadata.PartitionColumns, ",") ||
		!equalStringMaps(old.metadata.Configuration, current.metadata.Configuration) {
		md := *old.metadata
		md.ID = current.metadata.ID
		tx.SetMetadata(&md)
	}
	var sizeAfter int64
	for _, f := range old.files {
		sizeAfter += f.Size
	}
	tx.SetMetrics(map[string]any{
		"numRestoredFiles": restored, "numRemovedFiles": removed,
		"restoredFilesSize": restoredBytes, "removedFilesSize": removedBytes,
		"numOfFilesAfterRestore": len(old.files), "tableSizeAfterRestore": sizeAfter,
	})
	return tx, nil
}

func equalStringMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// RemoveAction returns the remove action that deletes this logical file at time nowMillis.
func (a *Add) RemoveAction(nowMillis int64, dataChange bool) *Remove {
	ext := true
	size := a.Size
	return &Remove{
		Path: a.Path, DeletionTimestamp: &nowMillis, DataChange: dataChange, ExtendedFileMetadata: &ext,
		PartitionValues: a.PartitionValues, Size: &size, Stats: a.Stats, Tags: a.Tags,
		DeletionVector: a.DeletionVector, BaseRowID: a.BaseRowID, DefaultRowCommitVersion: a.DefaultRowCommitVersion,
	}
}

// fileKeyInStore maps an add/remove path to a key of the table's store. Relative paths are decoded;
// absolute URIs are accepted when they point inside the table root.
func (t *Table) fileKeyInStore(p string) (string, error) {
	return FileKeyForPath(t.store.URL(), p)
}

// FileKeyForPath maps an add/remove path (percent-encoded, relative or absolute) to a key relative
// to the table root rootURL. An absolute path outside the root is an error naming it.
func FileKeyForPath(rootURL, p string) (string, error) {
	u, err := url.Parse(p)
	if err != nil || (u.Scheme == "" && !strings.HasPrefix(p, "/")) {
		return decodePath(p)
	}
	abs := p
	if u.Scheme == "file" {
		abs = u.Path
	} else if u.Scheme == "" {
		abs, err = decodePath(p)
		if err != nil {
			return "", err
		}
	} else {
		abs = u.Scheme + "://" + u.Host + u.Path
	}
	root := strings.TrimSuffix(strings.TrimPrefix(rootURL, "file://"), "/") + "/"
	if strings.HasPrefix(abs, root) {
		return strings.TrimPrefix(abs, root), nil
	}
	return "", fmt.Errorf("%w: file %s is outside the table root %s", ErrUnsupportedFeature, p, rootURL)
}

// VacuumPlan lists what VACUUM deletes (or would delete, in a dry run).
type VacuumPlan struct {
	// Files are keys (relative to the table root) of unreferenced data files older than the
	// retention, sorted.
	Files []storage.ObjectInfo
	// Bytes is their total size.
	Bytes int64
	// Retention is the retention applied.
	Retention time.Duration
}

// PlanVacuum lists the files VACUUM may delete: files under the table root that no live file (or
// its deletion vector) of snap references, that no unexpired tombstone references, and whose
// modification time is older than now - retention. Hidden paths (a component starting with "_" or
// ".", except partition directories) are never touched. A retention shorter than
// delta.deletedFileRetentionDuration is refused unless force is set, as in Spark.
func (t *Table) PlanVacuum(ctx context.Context, snap *Snapshot, retention time.Duration, force bool) (*VacuumPlan, error) {
	if err := snap.protocol.CheckWritable(snap.metadata); err != nil {
		return nil, fmt.Errorf("delta: vacuum %s: %w", t.Location(), err)
	}
	if minRet := DeletedFileRetention(snap.metadata); retention < minRet && !force {
		return nil, fmt.Errorf("delta: vacuum %s: %w: retention %s is shorter than the table's delta.deletedFileRetentionDuration (%s); "+
			"files still needed by time travel or by concurrent readers could be deleted; use --force to do it anyway",
			t.Location(), ErrInvalidArgument, retention, minRet)
	}
	if retention < 0 {
		return nil, fmt.Errorf("delta: vacuum: %w: negative retention", ErrInvalidArgument)
	}
	now := t.now()
	keep := map[string]bool{}
	for _, f := range snap.files {
		k, err := t.fileKeyInStore(f.Path)
		if err == nil {
			keep[k] = true
		}
		if dv := f.DeletionVector; dv != nil && dv.StorageType == "u" {
			if rel, err := dv.RelativePath(); err == nil {
				keep[rel] = true
			}
		}
	}
	for _, r := range snap.tombstones {
		if r.DeletionTimestamp == nil || time.UnixMilli(*r.DeletionTimestamp).Add(retention).After(now) {
			if k, err := t.fileKeyInStore(r.Path); err == nil {
				keep[k] = true
			}
			if dv := r.DeletionVector; dv != nil && dv.StorageType == "u" {
				if rel, err := dv.RelativePath(); err == nil {
					keep[rel] = true
				}
			}
		}
	}
	partCols := map[string]bool{}
	for _, c := range snap.metadata.PartitionColumns {
		partCols[strings.ToLower(c)] = true
		if f := snap.schema.Field(c); f != nil {
			partCols[strings.ToLower(f.PhysicalName())] = true
		}
	}
	all, err := t.store.List(ctx, "", "")
	if err != nil {
		return nil, fmt.Errorf("delta: vacuum %s: %w", t.Location(), err)
	}
	plan := &VacuumPlan{Retention: retention}
	cutoff := now.Add(-retention)
	for _, o := range all {
		if isHiddenPath(o.Key, partCols) || keep[o.Key] || o.ModTime.After(cutoff) {
			continue
		}
		plan.Files = append(plan.Files, o)
		plan.Bytes += o.Size
	}
	return plan, nil
}

func isHiddenPath(key string, partCols map[string]bool) bool {
	parts := strings.Split(key, "/")
	for _, p := range parts {
		if strings.HasPrefix(p, ".") {
			return true
		}
		if strings.HasPrefix(p, "_") {
			if i := strings.IndexByte(p, '='); i > 0 && partCols[strings.ToLower(p[:i])] {
				continue
			}
			return true
		}
	}
	return false
}

// Vacuum executes a plan: it records a "VACUUM START" commit, deletes the files, and records
// "VACUUM END", as Spark and delta-rs do, so history shows every vacuum. It returns how many files
// were deleted. Deleting a file that is already gone is not an error.
func (t *Table) Vacuum(ctx context.Context, snap *Snapshot, plan *VacuumPlan) (int, error) {
	params := map[string]any{
		"retentionCheckEnabled":    true,
		"defaultRetentionMillis":   DeletedFileRetention(snap.metadata).Milliseconds(),
		"specifiedRetentionMillis": plan.Retention.Milliseconds(),
	}
	start := t.NewTransaction(snap, Operation{Name: "VACUUM START", Parameters: params})
	start.SetMetrics(map[string]any{"numFilesToDelete": len(plan.Files), "sizeOfDataToDelete": plan.Bytes})
	if _, err := start.Commit(ctx); err != nil {
		return 0, err
	}
	deleted := 0
	var delErr error
	for _, f := range plan.Files {
		if err := t.store.Delete(ctx, f.Key); err != nil {
			delErr = fmt.Errorf("delta: vacuum %s: delete %s: %w", t.Location(), f.Key, err)
			break
		}
		deleted++
	}
	status := "COMPLETED"
	if delErr != nil {
		status = "FAILED"
	}
	latest, err := t.Snapshot(ctx, -1)
	if err != nil {
		return deleted, errors.Join(delErr, err)
	}
	end := t.NewTransaction(latest, Operation{Name: "VACUUM END", Parameters: map[string]any{"status": status}})
	end.SetMetrics(map[string]any{"numDeletedFiles": deleted, "numVacuumedDirectories": 0})
	if _, err := end.Commit(ctx); err != nil {
		return deleted, errors.Join(delErr, err)
	}
	return deleted, delErr
}

// listCommits lists the whole log and returns it together with its commit files in version order;
// a log without commits is ErrNotATable.
func (t *Table) listCommits(ctx context.Context) (files, commits []logFile, err error) {
	files, err = t.listLogFrom(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		if f.kind == kindCommit {
			commits = append(commits, f)
		}
	}
	if len(commits) == 0 {
		return nil, nil, fmt.Errorf("delta: %s: %w", t.Location(), ErrNotATable)
	}
	return files, commits, nil
}
