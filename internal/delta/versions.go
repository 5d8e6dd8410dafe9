package delta

import (
	"context"
	"fmt"
)

// VersionReader loads many versions of one table from a single listing of its log, for readers
// that walk a table's history (audits, the reliability harness's check of every version).
// Table.Snapshot lists _delta_log on every call, one stat per log file on a local disk, so reading
// each of a table's n versions that way costs O(n²) stats; and stepping from version to version
// decodes the same checkpoint again each time. A VersionReader lists once and keeps the checkpoint
// it decoded last and the commits it parsed since.
//
// Its snapshots are those of Table.Snapshot: the same segments (buildSegments over the listing),
// the same replay, the same fallbacks to older checkpoints. Only the reading of log files is
// shared, which is sound because a log file is immutable once written (a checkpoint rewritten for
// its version holds the same state) and replay never modifies the actions it applies.
//
// Commits that land after the listing are not seen: asking for a newer version fails with
// ErrVersionNotFound. A VersionReader is not safe for concurrent use.
type VersionReader struct {
	table *Table
	files []logFile
	cache logCache
}

// NewVersionReader lists the table's log for a VersionReader.
func (t *Table) NewVersionReader(ctx context.Context) (*VersionReader, error) {
	files, err := t.listLogFrom(ctx, "")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("delta: %s: %w: no _delta_log", t.Location(), ErrNotATable)
	}
	return &VersionReader{table: t, files: files}, nil
}

// Snapshot loads the table at version (the latest listed when version < 0).
func (r *VersionReader) Snapshot(ctx context.Context, version int64) (*Snapshot, error) {
	return r.table.snapshotFromListing(ctx, r.files, version, &r.cache)
}

// logCache holds decoded log files for a VersionReader: the checkpoint decoded last (by the key of
// its first part and its number of parts) and the commits parsed since, by version. When the
// checkpoint changes, the commits at or below its version are dropped: a reader walking versions
// upwards needs them no more, so the cache holds about one checkpoint interval of commits.
// A nil *logCache reads every file.
type logCache struct {
	checkpointKey     string
	checkpointParts   int
	checkpointVersion int64
	checkpointActions []Action
	commitActions     map[int64][]Action
}

// checkpoint returns the actions of the checkpoint made of parts.
func (c *logCache) checkpoint(ctx context.Context, t *Table, parts []logFile) ([]Action, error) {
	if c == nil {
		return t.readCheckpoint(ctx, parts)
	}
	if c.checkpointActions != nil && c.checkpointKey == parts[0].info.Key && c.checkpointParts == len(parts) {
		return c.checkpointActions, nil
	}
	actions, err := t.readCheckpoint(ctx, parts)
	if err != nil {
		return nil, err
	}
	c.checkpointKey, c.checkpointParts, c.checkpointVersion, c.checkpointActions = parts[0].info.Key, len(parts), parts[0].version, actions
	for v := range c.commitActions {
		if v <= c.checkpointVersion {
			delete(c.commitActions, v)
		}
	}
	return actions, nil
}

// commits returns the actions of each commit file of files, in order, reading those not cached.
func (c *logCache) commits(ctx context.Context, t *Table, files []logFile) ([][]Action, error) {
	if c == nil {
		return t.readCommits(ctx, files)
	}
	if c.commitActions == nil {
		c.commitActions = map[int64][]Action{}
	}
	var missing []logFile
	for _, f := range files {
		if _, ok := c.commitActions[f.version]; !ok {
			missing = append(missing, f)
		}
	}
	read, err := t.readCommits(ctx, missing)
	if err != nil {
		return nil, err
	}
	for i, f := range missing {
		c.commitActions[f.version] = read[i]
	}
	out := make([][]Action, len(files))
	for i, f := range files {
		out[i] = c.commitActions[f.version]
	}
	return out, nil
}
