package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// writeStorageOps writes n appends (ids 10*seq .. 10*seq+2) without faults to a new local table
// and returns its store and the writes as runStorageOps records them.
func writeStorageOps(t *testing.T, n int) (storage.Store, []*storageOp) {
	t.Helper()
	ctx := context.Background()
	store, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Open(ctx, store.URL(), table.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	var ops []*storageOp
	for seq := range int64(n) {
		op := &storageOp{Seq: seq, IDs: []int64{10 * seq, 10*seq + 1, 10*seq + 2}}
		res, err := tbl.Write(ctx, storageRows{op: seq, ids: op.IDs}, table.WriteOptions{UserMetadata: opTag(seq)})
		if err != nil {
			t.Fatal(err)
		}
		op.Version = res.Version
		ops = append(ops, op)
	}
	return store, ops
}

// TestCheckStorageTable feeds the checker sound and broken tables: each break must be reported
// with the anomaly named, and the sound table with none.
func TestCheckStorageTable(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// breakIt damages the table (or the record of its writes).
		breakIt func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp
		// want are substrings of the expected anomalies; none means a clean check.
		want []string
	}{
		{"sound", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp { return ops }, nil},
		{"sound with checkpoints", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp {
			checkpointAt(t, store, 2, 4)
			return ops
		}, nil},
		{"checkpoint of the wrong files", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp {
			// The checkpoint of version 5 holds the state of version 2.
			checkpointAt(t, store, 2)
			data, err := store.Get(ctx, delta.ClassicCheckpointKey(2))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Put(ctx, delta.ClassicCheckpointKey(5), data); err != nil {
				t.Fatal(err)
			}
			return ops
		}, []string{"the checkpoint of version 5 holds 2 files, the version has 5 live files"}},
		{"lost acknowledged row", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp {
			// A later commit silently removes the file of write 1: its rows are gone.
			tbl := delta.NewTable(store, parquetio.Codec{})
			snap, err := tbl.Snapshot(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			actions, err := tbl.ReadCommit(ctx, ops[1].Version)
			if err != nil {
				t.Fatal(err)
			}
			tx := tbl.NewTransaction(snap, delta.Operation{Name: "DELETE"})
			for _, a := range actions {
				if a.Add != nil {
					tx.RemoveFiles(a.Add.RemoveAction(time.Now().UnixMilli(), true))
				}
			}
			if _, err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			return ops
		}, []string{"row id 10 of op 1", "is missing from version"}},
		{"acknowledged write not in the log", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp {
			return append(ops, &storageOp{Seq: int64(len(ops)), IDs: []int64{999}, Version: 2})
		}, []string{"acknowledged at version 2 but not in the log"}},
		{"dangling reference", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp {
			tbl := delta.NewTable(store, parquetio.Codec{})
			snap, err := tbl.Snapshot(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			key, err := delta.FileKeyForPath(store.URL(), snap.Files()[0].Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			return ops
		}, []string{"which is missing"}},
		{"commit written twice", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp {
			// Write 2's commit lands again at the next version.
			tbl := delta.NewTable(store, parquetio.Codec{})
			snap, err := tbl.Snapshot(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			data, err := store.Get(ctx, delta.CommitKey(ops[2].Version))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.PutIfAbsent(ctx, delta.CommitKey(snap.Version()+1), data); err != nil {
				t.Fatal(err)
			}
			return ops
		}, []string{"committed 2 times", "added by commit", "times"}},
		{"failed write in the log", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp {
			ops[3].Err = fmt.Errorf("table: write %s: %w", store.URL(), syscall.ENOSPC)
			return ops
		}, []string{"op 3", "failed", "but committed at version"}},
		{"orphan data file", func(t *testing.T, store storage.Store, ops []*storageOp) []*storageOp {
			// A data file no commit references (a failed write's): counted, listed by VACUUM's
			// dry run, no anomaly.
			if err := store.Put(ctx, "part-99999-orphan-c000.zstd.parquet", []byte("x")); err != nil {
				t.Fatal(err)
			}
			return ops
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, ops := writeStorageOps(t, 5)
			ops = tc.breakIt(t, store, ops)
			rep := &Report{}
			res, err := checkStorageTable(ctx, slog.New(slog.DiscardHandler), store, ops, rep, "local")
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(rep.Anomalies, "\n")
			if len(tc.want) == 0 && len(rep.Anomalies) > 0 {
				t.Fatalf("anomalies in a sound table:\n%s", all)
			}
			if len(tc.want) > 0 && len(rep.Anomalies) == 0 {
				t.Fatalf("no anomaly, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no anomaly mentions %q; got:\n%s", w, all)
				}
			}
			if tc.name == "sound with checkpoints" && res.Checkpoints != 2 {
				t.Errorf("checkpoints checked %d, want 2", res.Checkpoints)
			}
			if tc.name == "sound" && res.Rows != 15 {
				t.Errorf("rows accounted %d, want 15", res.Rows)
			}
			if strings.HasPrefix(tc.name, "orphan") && res.Orphans != 1 {
				t.Errorf("orphans %d, want 1", res.Orphans)
			}
		})
	}
}

// TestCheckWriteError checks that a failed write's error must name an injected cause and the
// table or key.
func TestCheckWriteError(t *testing.T) {
	loc := "/data/t"
	injected := []string{"put-if-absent _delta_log/00000000000000000003.json: injected"}
	cases := []struct {
		name  string
		op    storageOp
		clean bool
	}{
		{"enospc named", storageOp{Err: fmt.Errorf("delta: commit version 3 to %s: %w", loc, syscall.ENOSPC), NoSpace: true, Injected: injected}, true},
		{"enospc but none injected", storageOp{Err: fmt.Errorf("delta: commit version 3 to %s: %w", loc, syscall.ENOSPC)}, false},
		{"bare error", storageOp{Err: errors.New("something went wrong"), Injected: injected}, false},
		{"transient without location", storageOp{Err: fmt.Errorf("oops: %w", storage.ErrTransient), Injected: injected}, false},
		{"cancelled by the crash", storageOp{Err: fmt.Errorf("delta: commit to %s: %w", loc, context.Canceled), Crashed: true}, true},
		{"cancelled without a crash", storageOp{Err: fmt.Errorf("delta: commit to %s: %w", loc, context.Canceled)}, false},
		{"conflict after a lost race", storageOp{Err: fmt.Errorf("delta: commit to %s: %w", loc, delta.ErrConflict), LostRace: true}, true},
		{"succeeded", storageOp{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{}
			checkWriteError(&tc.op, loc, rep, "local")
			if tc.clean != (len(rep.Anomalies) == 0) {
				t.Errorf("clean=%v, anomalies: %q", tc.clean, rep.Anomalies)
			}
		})
	}
}

// checkpointAt writes checkpoints of the given versions.
func checkpointAt(t *testing.T, store storage.Store, versions ...int64) {
	t.Helper()
	ctx := context.Background()
	tbl := delta.NewTable(store, parquetio.Codec{})
	for _, v := range versions {
		snap, err := tbl.Snapshot(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := tbl.Checkpoint(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
}
