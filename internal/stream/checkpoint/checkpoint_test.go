package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stratalake/strata/internal/storage"
)

func open(t *testing.T, store storage.Store) *Checkpoint {
	t.Helper()
	c, err := Open(context.Background(), store, "q")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newStore(t *testing.T) storage.Store {
	t.Helper()
	s, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestQueryIDIsStable(t *testing.T) {
	store := newStore(t)
	a, b := open(t, store), open(t, store)
	if a.Metadata().QueryID == "" || a.Metadata().QueryID != b.Metadata().QueryID {
		t.Fatalf("query ids %q and %q", a.Metadata().QueryID, b.Metadata().QueryID)
	}
	if other := open(t, newStore(t)); other.Metadata().QueryID == a.Metadata().QueryID {
		t.Fatal("two checkpoints share a query id")
	}
}

func TestPlansAreWrittenOnce(t *testing.T) {
	ctx := context.Background()
	c := open(t, newStore(t))
	if _, ok, err := c.LastPlanned(ctx); err != nil || ok {
		t.Fatalf("empty checkpoint: planned %v, %v", ok, err)
	}
	for id := int64(0); id < 12; id++ {
		if err := c.WritePlan(ctx, id, []byte(fmt.Sprintf(`{"batch":%d}`, id))); err != nil {
			t.Fatal(err)
		}
	}
	// Re-planning a batch with the same bytes is what a restart does: fine.
	if err := c.WritePlan(ctx, 11, []byte(`{"batch":11}`)); err != nil {
		t.Fatalf("same plan again: %v", err)
	}
	// Different bytes mean a non-deterministic planner or a second process.
	if err := c.WritePlan(ctx, 11, []byte(`{"batch":"other"}`)); !errors.Is(err, ErrPlanMismatch) {
		t.Fatalf("different plan: %v, want ErrPlanMismatch", err)
	}
	id, ok, err := c.LastPlanned(ctx)
	if err != nil || !ok || id != 11 {
		t.Fatalf("last planned %d %v %v, want 11 (ids sort numerically, 11 after 2)", id, ok, err)
	}
	plan, err := c.ReadPlan(ctx, 11)
	if err != nil || string(plan) != `{"batch":11}` {
		t.Fatalf("plan %s, %v", plan, err)
	}
	if _, err := c.ReadPlan(ctx, 12); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing plan: %v", err)
	}
	if err := c.WriteCommit(ctx, 10, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := c.LastCommitted(ctx); err != nil || !ok || id != 10 {
		t.Fatalf("last committed %d %v %v", id, ok, err)
	}
}

func TestStateRebuildAndPurge(t *testing.T) {
	ctx := context.Background()
	c := open(t, newStore(t))
	// Batches 0..9 with deltas, snapshots after 3 and 7; batch 10 crashed after its delta.
	for id := int64(0); id <= 10; id++ {
		if err := c.WriteStateDelta(ctx, id, []byte(fmt.Sprintf("d%d", id))); err != nil {
			t.Fatal(err)
		}
		if id == 3 || id == 7 {
			if err := c.WriteStateSnapshot(ctx, id, []byte(fmt.Sprintf("s%d", id))); err != nil {
				t.Fatal(err)
			}
		}
		if id < 10 {
			if err := c.WritePlan(ctx, id, []byte("p")); err != nil {
				t.Fatal(err)
			}
			if err := c.WriteCommit(ctx, id, []byte("c")); err != nil {
				t.Fatal(err)
			}
		}
	}
	render := func(parts []StatePart) string {
		s := ""
		for _, p := range parts {
			s += string(p.Data) + " "
		}
		return s
	}
	for _, tc := range []struct {
		upTo int64
		want string
	}{
		{upTo: 9, want: "s7 d8 d9 "},
		{upTo: 7, want: "s7 "},
		{upTo: 6, want: "s3 d4 d5 d6 "},
		{upTo: 2, want: "d0 d1 d2 "},
	} {
		parts, err := c.ReadState(ctx, tc.upTo)
		if err != nil {
			t.Fatal(err)
		}
		if got := render(parts); got != tc.want {
			t.Errorf("state up to %d: %q, want %q", tc.upTo, got, tc.want)
		}
	}
	removed, err := c.Purge(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	if removed == 0 {
		t.Fatal("purge removed nothing")
	}
	parts, err := c.ReadState(ctx, 9)
	if err != nil || render(parts) != "s7 d8 d9 " {
		t.Fatalf("after purge, state up to 9: %q, %v", render(parts), err)
	}
	if _, err := c.ReadPlan(ctx, 7); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("plan 7 survived the purge: %v", err)
	}
	if _, err := c.ReadPlan(ctx, 8); err != nil {
		t.Errorf("plan 8 was purged: %v", err)
	}
}
