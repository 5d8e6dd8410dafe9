package delta_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
)

// commitRaw writes actions as commit version v.
func commitRaw(t *testing.T, store storage.Store, v int64, actions ...delta.Action) {
	t.Helper()
	data, err := delta.EncodeCommit(actions)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutIfAbsent(context.Background(), delta.CommitKey(v), data); err != nil {
		t.Fatal(err)
	}
}

// state renders everything replay reconciles, for comparing snapshots loaded different ways.
func state(t *testing.T, s *delta.Snapshot) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"version": s.Version(), "protocol": s.Protocol(), "metadata": s.Metadata(), "files": s.Files(),
		"tombstones": len(s.Tombstones()), "txns": s.Txns(), "domains": s.Domains(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// buildLog writes a table whose history exercises every action a checkpoint must carry.
func buildLog(t *testing.T, store storage.Store, versions int) {
	t.Helper()
	schema := `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"p","type":"string","nullable":true,"metadata":{}}]}`
	commitRaw(t, store, 0,
		delta.Action{Protocol: &delta.Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"deletionVectors"}, WriterFeatures: []string{"deletionVectors", "domainMetadata"}}},
		delta.Action{Metadata: &delta.Metadata{ID: "t", Format: delta.Format{Provider: "parquet", Options: map[string]string{}}, SchemaString: schema,
			PartitionColumns: []string{"p"}, Configuration: map[string]string{"delta.checkpointInterval": "1000"}}})
	now := time.Now().UnixMilli()
	for v := int64(1); v < int64(versions); v++ {
		p := fmt.Sprint(v % 3)
		if v%5 == 0 {
			p = "" // null partition
		}
		actions := []delta.Action{{Add: &delta.Add{
			Path: fmt.Sprintf("p=%s/f%d.parquet", p, v), PartitionValues: delta.PartitionValues{"p": p}, Size: v * 10,
			ModificationTime: now, DataChange: true, Stats: fmt.Sprintf(`{"numRecords":%d}`, v), Tags: map[string]string{"k": "v"},
		}}}
		if v%4 == 0 {
			ts := now
			actions = append(actions, delta.Action{Remove: &delta.Remove{Path: fmt.Sprintf("p=%d/f%d.parquet", (v-3)%3, v-3), DeletionTimestamp: &ts, DataChange: true}})
		}
		if v%7 == 0 {
			off := int32(1)
			actions = append(actions, delta.Action{Add: &delta.Add{
				Path: fmt.Sprintf("p=%s/f%d.parquet", p, v), PartitionValues: delta.PartitionValues{"p": p}, Size: v * 10, ModificationTime: now,
				DataChange: true, Stats: fmt.Sprintf(`{"numRecords":%d}`, v),
				DeletionVector: &delta.DeletionVector{StorageType: "u", PathOrInlineDV: "ab^-aqEH.-t@S}K{vb[*k^", Offset: &off, SizeInBytes: 40, Cardinality: 2},
			}})
			actions = actions[1:] // the same logical path once per commit
		}
		actions = append(actions, delta.Action{Txn: &delta.Txn{AppID: fmt.Sprintf("app%d", v%2), Version: v}})
		if v == 3 {
			actions = append(actions, delta.Action{DomainMetadata: &delta.DomainMetadata{Domain: "d", Configuration: `{"a":1}`}})
		}
		commitRaw(t, store, v, actions...)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	ctx := context.Background()
	store, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	buildLog(t, store, 40)
	tbl := delta.NewTable(store, parquetio.Codec{})
	fromCommits, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Checkpoint(ctx, fromCommits); err != nil {
		t.Fatal(err)
	}
	// Hide the commits so the snapshot can only come from the checkpoint.
	for v := int64(0); v < 39; v++ {
		if err := store.Delete(ctx, delta.CommitKey(v)); err != nil {
			t.Fatal(err)
		}
	}
	fromCheckpoint, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := state(t, fromCommits), state(t, fromCheckpoint); a != b {
		t.Fatalf("snapshot from checkpoint differs:\ncommits:    %s\ncheckpoint: %s", a, b)
	}
	if _, err := tbl.Snapshot(ctx, 20); err == nil {
		t.Fatal("version 20 loaded although its commits are gone")
	}
}

func TestLastCheckpointFallback(t *testing.T) {
	ctx := context.Background()
	store, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	buildLog(t, store, 25)
	tbl := delta.NewTable(store, parquetio.Codec{})
	snap20, err := tbl.Snapshot(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Checkpoint(ctx, snap20); err != nil {
		t.Fatal(err)
	}
	want, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"garbage":         "{not json",
		"bad checksum":    `{"version":20,"size":10,"checksum":"00000000000000000000000000000000"}`,
		"missing version": `{"version":22,"size":10}`,
		"future version":  `{"version":99,"size":10}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := store.Put(ctx, "_delta_log/_last_checkpoint", []byte(content)); err != nil {
				t.Fatal(err)
			}
			got, err := tbl.Snapshot(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			if state(t, got) != state(t, want) {
				t.Fatalf("state differs with _last_checkpoint %q", content)
			}
		})
	}
	// A corrupt checkpoint file falls back to replay from an older checkpoint or version 0.
	if err := store.Put(ctx, delta.ClassicCheckpointKey(20), []byte("PAR1garbage")); err != nil {
		t.Fatal(err)
	}
	got, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if state(t, got) != state(t, want) {
		t.Fatal("state differs with a corrupt checkpoint")
	}
}

func TestMultiPartCheckpoint(t *testing.T) {
	ctx := context.Background()
	store, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	buildLog(t, store, 12)
	tbl := delta.NewTable(store, parquetio.Codec{})
	snap, err := tbl.Snapshot(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Write the checkpoint of version 10 classically, then split its rows into 3 parts.
	if err := tbl.Checkpoint(ctx, snap); err != nil {
		t.Fatal(err)
	}
	data, err := store.Get(ctx, delta.ClassicCheckpointKey(10))
	if err != nil {
		t.Fatal(err)
	}
	schema, recs, err := parquetio.Decode(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("expected one batch, got %d", len(recs))
	}
	n := recs[0].NumRows()
	bounds := []int64{0, n / 3, 2 * n / 3, n}
	for i := 0; i < 3; i++ {
		part := recs[0].NewSlice(bounds[i], bounds[i+1])
		b, err := parquetio.Encode(schema, []arrow.RecordBatch{part}, "snappy")
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("_delta_log/%020d.checkpoint.%010d.%010d.parquet", 10, i+1, 3)
		if err := store.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Delete(ctx, delta.ClassicCheckpointKey(10)); err != nil {
		t.Fatal(err)
	}
	want := state(t, snap)
	for v := int64(0); v <= 10; v++ {
		if err := store.Delete(ctx, delta.CommitKey(v)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tbl.Snapshot(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if state(t, got) != want {
		t.Fatal("multi-part checkpoint state differs")
	}
	// An incomplete multi-part checkpoint is ignored; with the commits gone, nothing can serve v10.
	if err := store.Delete(ctx, fmt.Sprintf("_delta_log/%020d.checkpoint.%010d.%010d.parquet", 10, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Snapshot(ctx, 10); err == nil {
		t.Fatal("an incomplete multi-part checkpoint was used")
	}
}

func TestCheckpointActionsHaveNoStatsOnRemoves(t *testing.T) {
	ctx := context.Background()
	store, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	buildLog(t, store, 9)
	tbl := delta.NewTable(store, parquetio.Codec{})
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Checkpoint(ctx, snap); err != nil {
		t.Fatal(err)
	}
	data, err := store.Get(ctx, delta.ClassicCheckpointKey(snap.Version()))
	if err != nil {
		t.Fatal(err)
	}
	schema, _, err := parquetio.Decode(data, []string{"remove"})
	if err != nil {
		t.Fatal(err)
	}
	rm, _ := schema.FieldsByName("remove")
	var names []string
	for _, f := range rm[0].Type.(*arrow.StructType).Fields() {
		names = append(names, f.Name)
	}
	for _, forbidden := range []string{"stats", "tags"} {
		for _, n := range names {
			if n == forbidden {
				t.Errorf("checkpoint remove struct has %q: %v", forbidden, names)
			}
		}
	}
}

func TestSnapshotUpdate(t *testing.T) {
	ctx := context.Background()
	store, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	buildLog(t, store, 40)
	tbl := delta.NewTable(store, parquetio.Codec{})
	for _, from := range []int64{0, 9, 21, 38, 39} {
		old, err := tbl.Snapshot(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		got, err := old.Update(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tbl.Snapshot(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		if state(t, got) != state(t, want) {
			t.Fatalf("Update from %d differs from a fresh snapshot", from)
		}
		if len(got.Tombstones()) != len(want.Tombstones()) {
			t.Fatalf("Update from %d: %d tombstones, want %d", from, len(got.Tombstones()), len(want.Tombstones()))
		}
	}
}
