package delta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
)

// TestVersionReader: every version a VersionReader loads equals Table.Snapshot's, walking up and
// down, across checkpoints, a damaged checkpoint (both fall back to an older one) and the end of
// the listing.
func TestVersionReader(t *testing.T) {
	ctx := context.Background()
	store, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const versions = 40
	buildLog(t, store, versions)
	tbl := delta.NewTable(store, parquetio.Codec{})
	for _, v := range []int64{9, 21, 30} {
		snap, err := tbl.Snapshot(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := tbl.Checkpoint(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Put(ctx, delta.ClassicCheckpointKey(30), []byte("PAR1garbage")); err != nil {
		t.Fatal(err)
	}
	r, err := tbl.NewVersionReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []int64
	for v := int64(0); v < versions; v++ {
		order = append(order, v)
	}
	for v := int64(versions - 1); v >= 0; v -= 3 {
		order = append(order, v)
	}
	order = append(order, -1, 10, 22, 31)
	for _, v := range order {
		got, err := r.Snapshot(ctx, v)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		want, err := tbl.Snapshot(ctx, v)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		if got.Version() != want.Version() || state(t, got) != state(t, want) || len(got.Tombstones()) != len(want.Tombstones()) {
			t.Fatalf("version %d: the VersionReader's snapshot differs from Table.Snapshot's", v)
		}
	}
	// A commit after the listing is not seen.
	commitRaw(t, store, versions, delta.Action{Txn: &delta.Txn{AppID: "late", Version: 1}})
	if _, err := r.Snapshot(ctx, versions); !errors.Is(err, delta.ErrVersionNotFound) {
		t.Fatalf("a version after the listing: %v, want ErrVersionNotFound", err)
	}
	if _, err := tbl.Snapshot(ctx, versions); err != nil {
		t.Fatal(err)
	}
}
