package delta_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
)

func TestCleanupLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	buildLog(t, store, 30)
	tbl := delta.NewTable(store, parquetio.Codec{})
	// Commits 0..19 are 40 days old, 20..29 recent; checkpoints at 10 and 20.
	for v := int64(0); v < 20; v++ {
		old := time.Now().Add(-40 * 24 * time.Hour).Add(time.Duration(v) * time.Minute)
		if err := os.Chtimes(filepath.Join(dir, delta.CommitKey(v)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []int64{10, 20} {
		snap, err := tbl.Snapshot(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := tbl.Checkpoint(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	before := state(t, latest)
	n, err := tbl.CleanupLog(ctx, latest)
	if err != nil {
		t.Fatal(err)
	}
	// The newest commit older than 30 days is 19; the newest checkpoint at or before it is 10, so
	// commits 0..9 are deleted and everything from 10 on stays (time travel to 10..29 still works).
	if n != 10 {
		t.Fatalf("deleted %d files, want 10", n)
	}
	for v := int64(0); v < 10; v++ {
		if _, err := store.Stat(ctx, delta.CommitKey(v)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("commit %d survived cleanup: %v", v, err)
		}
	}
	for v := int64(10); v < 30; v++ {
		if _, err := tbl.Snapshot(ctx, v); err != nil {
			t.Fatalf("version %d unreadable after cleanup: %v", v, err)
		}
	}
	if _, err := tbl.Snapshot(ctx, 5); !errors.Is(err, delta.ErrVersionNotFound) {
		t.Fatalf("version 5 after cleanup: %v", err)
	}
	after, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if state(t, after) != before {
		t.Fatal("latest state changed by log cleanup")
	}
}
