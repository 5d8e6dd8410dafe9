// Package checkpoint keeps a streaming query's progress on storage, next to its tables: the
// write-ahead log of planned batches (what offsets batch N reads), the log of completed batches,
// and the operator state each batch changed. It is Spark's checkpoint location, in Strata's form:
//
//	<root>/metadata.json                 the query's id (the appId of its Delta txn actions)
//	<root>/offsets/<batch id>.json       batch N's plan, written before batch N runs
//	<root>/commits/<batch id>.json       written after batch N's output and state are durable
//	<root>/state/<batch id>.delta        the state mutations of batch N (opaque to this package)
//	<root>/state/<batch id>.snapshot     the whole state as of the end of batch N (opaque)
//
// Batch ids are 20-digit zero-padded, so listing order is batch order. Every file is written with
// put-if-absent: a batch's plan, once written, is never changed, which is what makes a restarted
// query re-run exactly the same batch. Writing the same bytes again is a no-op (a restart that
// re-plans batch N finds its own plan); different bytes fail with ErrPlanMismatch, which means
// two processes run the same query or the planner is not deterministic.
//
// The protocol a driver follows for batch N (exactly-once with a Delta sink that records
// (query id, N) in a txn action of the same commit as the data):
//
//  1. WritePlan(N, plan).
//  2. Read the planned input, compute, commit the output to the sink with txn (query id, N); a
//     sink that finds txn version >= N already committed skips the commit.
//  3. WriteState(N, delta) (and now and then a snapshot).
//  4. WriteCommit(N, info).
//
// On restart: if the last plan is newer than the last commit, batch N = last plan is re-run from
// step 2 with exactly its recorded plan and the state as of N-1 (the latest snapshot at or
// before N-1 plus the deltas after it, ignoring a delta of N written before the crash).
package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stratalake/strata/internal/storage"
)

// ErrPlanMismatch: a batch's plan (or commit record) exists with different content.
var ErrPlanMismatch = errors.New("checkpoint: batch already recorded with different content")

// Metadata identifies a query across restarts.
type Metadata struct {
	// QueryID is the query's stable id: the appId of the txn actions its Delta sink writes.
	QueryID string `json:"id"`
	// Name is the query's name when it was created (informational).
	Name string `json:"name,omitempty"`
	// Created is when the checkpoint was created.
	Created time.Time `json:"created"`
}

// Checkpoint is one query's checkpoint location. It holds no state of its own beyond the store:
// any number of Checkpoint values over the same store see the same progress.
type Checkpoint struct {
	store storage.Store
	meta  Metadata
}

// Open opens the checkpoint rooted at store, creating its metadata (with a new query id) when
// there is none. Two processes creating the same checkpoint at once agree on one id.
func Open(ctx context.Context, store storage.Store, name string) (*Checkpoint, error) {
	c := &Checkpoint{store: store}
	data, err := store.Get(ctx, "metadata.json")
	if errors.Is(err, storage.ErrNotFound) {
		m := Metadata{QueryID: uuid.NewString(), Name: name, Created: time.Now().UTC()}
		buf, _ := json.Marshal(m)
		err = store.PutIfAbsent(ctx, "metadata.json", buf)
		if err != nil && !errors.Is(err, storage.ErrExists) {
			return nil, fmt.Errorf("checkpoint %s: %w", store.URL(), err)
		}
		data, err = store.Get(ctx, "metadata.json")
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", store.URL(), err)
	}
	if err := json.Unmarshal(data, &c.meta); err != nil || c.meta.QueryID == "" {
		return nil, fmt.Errorf("checkpoint %s: metadata.json is not a checkpoint's metadata: %v", store.URL(), err)
	}
	return c, nil
}

// Metadata returns the query's metadata.
func (c *Checkpoint) Metadata() Metadata { return c.meta }

// URL is where the checkpoint lives.
func (c *Checkpoint) URL() string { return c.store.URL() }

func batchKey(dir string, id int64, ext string) string {
	return fmt.Sprintf("%s/%020d.%s", dir, id, ext)
}

// parseBatchKey returns the batch id of dir/<id>.ext keys.
func parseBatchKey(key, dir, ext string) (int64, bool) {
	name, ok := strings.CutPrefix(key, dir+"/")
	if !ok {
		return 0, false
	}
	name, ok = strings.CutSuffix(name, "."+ext)
	if !ok || len(name) != 20 {
		return 0, false
	}
	id, err := strconv.ParseInt(name, 10, 64)
	return id, err == nil
}

// writeOnce writes key with put-if-absent; existing identical bytes are success.
func (c *Checkpoint) writeOnce(ctx context.Context, key string, data []byte) error {
	err := c.store.PutIfAbsent(ctx, key, data)
	if !errors.Is(err, storage.ErrExists) {
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
		}
		return nil
	}
	old, gerr := c.store.Get(ctx, key)
	if gerr != nil {
		return fmt.Errorf("checkpoint %s: %w", c.store.URL(), gerr)
	}
	if string(old) != string(data) {
		return fmt.Errorf("%w: %s/%s", ErrPlanMismatch, c.store.URL(), key)
	}
	return nil
}

// latest returns the highest batch id of dir/*.ext.
func (c *Checkpoint) latest(ctx context.Context, dir, ext string) (int64, bool, error) {
	objs, err := c.store.List(ctx, dir+"/", "")
	if err != nil {
		return 0, false, fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
	}
	for i := len(objs) - 1; i >= 0; i-- {
		if id, ok := parseBatchKey(objs[i].Key, dir, ext); ok {
			return id, true, nil
		}
	}
	return 0, false, nil
}

// WritePlan records batch id's plan before the batch runs.
func (c *Checkpoint) WritePlan(ctx context.Context, id int64, plan []byte) error {
	return c.writeOnce(ctx, batchKey("offsets", id, "json"), plan)
}

// ReadPlan returns batch id's plan (an error wrapping storage.ErrNotFound when there is none).
func (c *Checkpoint) ReadPlan(ctx context.Context, id int64) ([]byte, error) {
	data, err := c.store.Get(ctx, batchKey("offsets", id, "json"))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: batch %d: %w", c.store.URL(), id, err)
	}
	return data, nil
}

// LastPlanned returns the id of the newest planned batch (ok false when none was planned).
func (c *Checkpoint) LastPlanned(ctx context.Context) (int64, bool, error) {
	return c.latest(ctx, "offsets", "json")
}

// WriteCommit records that batch id's output and state are durable.
func (c *Checkpoint) WriteCommit(ctx context.Context, id int64, info []byte) error {
	return c.writeOnce(ctx, batchKey("commits", id, "json"), info)
}

// ReadCommit returns batch id's commit record.
func (c *Checkpoint) ReadCommit(ctx context.Context, id int64) ([]byte, error) {
	data, err := c.store.Get(ctx, batchKey("commits", id, "json"))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: batch %d: %w", c.store.URL(), id, err)
	}
	return data, nil
}

// LastCommitted returns the id of the newest completed batch (ok false when none completed).
func (c *Checkpoint) LastCommitted(ctx context.Context) (int64, bool, error) {
	return c.latest(ctx, "commits", "json")
}

// WriteStateDelta records the state mutations of batch id. A delta left by a crashed run of the
// same batch is replaced: state is only trusted up to the last commit record.
func (c *Checkpoint) WriteStateDelta(ctx context.Context, id int64, data []byte) error {
	if err := c.store.Put(ctx, batchKey("state", id, "delta"), data); err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
	}
	return nil
}

// WriteStateSnapshot records the whole state as of the end of batch id.
func (c *Checkpoint) WriteStateSnapshot(ctx context.Context, id int64, data []byte) error {
	if err := c.store.Put(ctx, batchKey("state", id, "snapshot"), data); err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
	}
	return nil
}

// StatePart is one stored piece of state: a snapshot or a delta of a batch.
type StatePart struct {
	Batch    int64
	Snapshot bool
	Data     []byte
}

// ReadState returns what rebuilds the state as of the end of batch upTo: the newest snapshot at
// or before upTo (if any) followed by the deltas after it up to upTo, in batch order. Parts
// after upTo (left by a batch that did not complete) are ignored.
func (c *Checkpoint) ReadState(ctx context.Context, upTo int64) ([]StatePart, error) {
	objs, err := c.store.List(ctx, "state/", "")
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
	}
	snap := int64(-1)
	for _, o := range objs {
		if id, ok := parseBatchKey(o.Key, "state", "snapshot"); ok && id <= upTo {
			snap = max(snap, id)
		}
	}
	var keys []string
	var parts []StatePart
	if snap >= 0 {
		keys = append(keys, batchKey("state", snap, "snapshot"))
		parts = append(parts, StatePart{Batch: snap, Snapshot: true})
	}
	for _, o := range objs {
		if id, ok := parseBatchKey(o.Key, "state", "delta"); ok && id > snap && id <= upTo {
			keys = append(keys, o.Key)
			parts = append(parts, StatePart{Batch: id})
		}
	}
	for i, k := range keys {
		if parts[i].Data, err = c.store.Get(ctx, k); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
		}
	}
	return parts, nil
}

// Purge removes plans, commit records and state older than batch keep, keeping what ReadState
// needs for batches >= keep (the newest snapshot at or before keep). It is safe to run while the
// query runs: it never removes anything a restart could need.
func (c *Checkpoint) Purge(ctx context.Context, keep int64) (removed int, err error) {
	objs, err := c.store.List(ctx, "state/", "")
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
	}
	snap := int64(-1)
	for _, o := range objs {
		if id, ok := parseBatchKey(o.Key, "state", "snapshot"); ok && id <= keep {
			snap = max(snap, id)
		}
	}
	var doomed []string
	for _, o := range objs {
		if id, ok := parseBatchKey(o.Key, "state", "snapshot"); ok && id < snap {
			doomed = append(doomed, o.Key)
		}
		if id, ok := parseBatchKey(o.Key, "state", "delta"); ok && id <= snap {
			doomed = append(doomed, o.Key)
		}
	}
	for _, d := range []string{"offsets", "commits"} {
		list, err := c.store.List(ctx, d+"/", "")
		if err != nil {
			return 0, fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
		}
		for _, o := range list {
			if id, ok := parseBatchKey(o.Key, d, "json"); ok && id < keep {
				doomed = append(doomed, o.Key)
			}
		}
	}
	for _, k := range doomed {
		if err := c.store.Delete(ctx, k); err != nil {
			return removed, fmt.Errorf("checkpoint %s: %w", c.store.URL(), err)
		}
		removed++
	}
	return removed, nil
}
