package delta_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
)

// conformanceDir is the shared conformance tables, relative to this package.
var conformanceDir = filepath.Join("..", "..", "..", "shared", "conformance", "delta")

// commitFuzzSeeds returns commit files to seed FuzzCommitJSON: hand-written lines covering every
// action kind and the malformed shapes ParseCommit must reject, plus a few small commits of the
// conformance tables when they are found.
func commitFuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{
		nil,
		[]byte("\n\n  \r\n"),
		[]byte(`{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors","domainMetadata"]}}` + "\n" +
			`{"metaData":{"id":"t","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[]}","partitionColumns":["p"],"configuration":{}}}` + "\n"),
		[]byte(`{"add":{"path":"p=a/f%20x.parquet","partitionValues":{"p":"a","q":null},"size":10,"modificationTime":1,"dataChange":true,"stats":"{\"numRecords\":1}","tags":{"k":"v"},"deletionVector":{"storageType":"i","pathOrInlineDv":"wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L","sizeInBytes":40,"cardinality":6},"baseRowId":4,"defaultRowCommitVersion":2}}`),
		[]byte(`{"remove":{"path":"f.parquet","deletionTimestamp":5,"dataChange":true,"extendedFileMetadata":true,"partitionValues":{},"size":3}}` + "\n" +
			`{"txn":{"appId":"app","version":7,"lastUpdated":9}}` + "\n" +
			`{"commitInfo":{"operation":"WRITE","timestamp":1700000000000,"operationParameters":{"mode":"Append"},"n":1e300,"x":[1,"a",null,{}]}}`),
		[]byte(`{"cdc":{"path":"_change_data/c.parquet","partitionValues":{},"size":1,"dataChange":false}}` + "\n" +
			`{"domainMetadata":{"domain":"delta.rowTracking","configuration":"{}","removed":false}}` + "\n" +
			`{"checkpointMetadata":{"version":3,"tags":{}}}` + "\n" +
			`{"sidecar":{"path":"s.parquet","sizeInBytes":1,"modificationTime":2}}` + "\n" +
			`{"someFutureAction":{"a":1}}`),
		[]byte(`{"add":{"path":""}}`),
		[]byte(`{"remove":{}}`),
		[]byte(`{"metaData":{"id":"x"}}`),
		[]byte(`{"txn":{"version":1}}`),
		[]byte(`{"add":{"path":"a","size":"ten"}}`),
		[]byte(`{"add":{"path":"a","partitionValues":{"p":1}}}`),
		[]byte("{\"add\":{\"path\":\"\xff\xfe\"}}\n{"),
		[]byte(`[1,2,3]`),
		[]byte(`{"add":{"path":"a"},"remove":{"path":"b"}}`),
		[]byte(`{"add":{"path":"p=__HIVE_DEFAULT_PARTITION__/part-0.parquet","partitionValues":{"p":null},"size":5,"modificationTime":1,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}K{vb[*k^","offset":1,"sizeInBytes":36,"cardinality":2}}}` + "\n"),
		[]byte(`{"txn":{"appId":"a","version":1}}` + "\n" + `{"remove":{"path":"x","size":-}}` + "\n"),
		[]byte("{\"commitInfo\":{\"timestamp\":1}}\r\n{\"futureAction\":{}}\r\n"),
		// Found by this fuzzer: an empty commitInfo was dropped by EncodeCommit, and a miscased
		// key taken for an action (TestActionKeys).
		[]byte(`{"CommitInfo":{}} `),
		[]byte(`{"commitInfo":{}}`),
	}
	for _, table := range []string{"golden/checkpoint/delta", "delta-rs/simple_table_with_checkpoint"} {
		for _, v := range []string{"00000000000000000000.json", "00000000000000000001.json"} {
			b, err := os.ReadFile(filepath.Join(conformanceDir, table, "_delta_log", v))
			if err == nil {
				seeds = append(seeds, b)
			}
		}
	}
	return seeds
}

// The seeds of this package's fuzz targets live in f.Add tables, not in testdata/fuzz:
// TestScenarios walks all of testdata as datadriven files and fails on Go's corpus format.

// FuzzCommitJSON: parsing a commit file never panics; a failure wraps ErrCorrupt and names the
// file and the line; a success has one action per non-blank line and re-encodes with
// EncodeCommit to a file that parses again, whose encoding is the same bytes (the round trip is a
// fixed point after one pass; the first pass may only drop empty optional maps and normalise
// spellings) and the same action kinds.
func FuzzCommitJSON(f *testing.F) {
	for _, s := range commitFuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "00000000000000000007.json"
		actions, err := delta.ParseCommit(name, data)
		if err != nil {
			if !errors.Is(err, delta.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if msg := err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, " line ") {
				t.Fatalf("error %q names neither the file nor the line", msg)
			}
			return
		}
		lines := 0
		for l := range bytes.SplitSeq(data, []byte{'\n'}) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		if len(actions) != lines {
			t.Fatalf("%d actions from %d non-blank lines", len(actions), lines)
		}
		enc, err := delta.EncodeCommit(actions)
		if err != nil {
			t.Fatalf("EncodeCommit of parsed actions: %v", err)
		}
		again, err := delta.ParseCommit(name, enc)
		if err != nil {
			t.Fatalf("re-encoded commit does not parse: %v\n%s", err, enc)
		}
		if len(again) != len(actions) {
			t.Fatalf("re-encoded commit has %d actions, want %d", len(again), len(actions))
		}
		for i := range actions {
			if kinds(actions[i]) != kinds(again[i]) {
				t.Fatalf("action %d: kinds %q became %q", i, kinds(actions[i]), kinds(again[i]))
			}
		}
		enc2, err := delta.EncodeCommit(again)
		if err != nil {
			t.Fatalf("EncodeCommit of reparsed actions: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// kinds names the action fields that are set, for comparing actions across a round trip.
func kinds(a delta.Action) string {
	var k []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"protocol", a.Protocol != nil}, {"metaData", a.Metadata != nil}, {"add", a.Add != nil},
		{"remove", a.Remove != nil}, {"txn", a.Txn != nil}, {"commitInfo", a.CommitInfo != nil},
		{"cdc", a.CDC != nil}, {"domainMetadata", a.DomainMetadata != nil},
		{"checkpointMetadata", a.CheckpointMetadata != nil}, {"sidecar", a.Sidecar != nil},
	} {
		if f.set {
			k = append(k, f.name)
		}
	}
	return strings.Join(k, ",")
}

// checkpointFuzzSeeds returns the small classic checkpoints of the conformance tables, plus one
// written by Strata itself.
func checkpointFuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, p := range []string{
		"delta-rs/simple_table_with_checkpoint/_delta_log/00000000000000000010.checkpoint.parquet",
		"golden/125-iterator-bug/delta/_delta_log/00000000000000000010.checkpoint.parquet",
		"golden/checkpoint/delta/_delta_log/00000000000000000010.checkpoint.parquet",
	} {
		if b, err := os.ReadFile(filepath.Join(conformanceDir, p)); err == nil {
			seeds = append(seeds, b, b[:len(b)-10])
		}
	}
	seeds = append(seeds, []byte("PAR1 this is not a parquet file PAR1"))
	store, err := storage.NewLocal(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	schema := `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"p","type":"string","nullable":true,"metadata":{}}]}`
	commit, err := delta.EncodeCommit([]delta.Action{
		{Protocol: &delta.Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"deletionVectors"}, WriterFeatures: []string{"deletionVectors", "domainMetadata"}}},
		{Metadata: &delta.Metadata{ID: "t", Format: delta.Format{Provider: "parquet", Options: map[string]string{}}, SchemaString: schema, PartitionColumns: []string{"p"}, Configuration: map[string]string{}}},
		{Add: &delta.Add{Path: "p=a/f1.parquet", PartitionValues: delta.PartitionValues{"p": "a"}, Size: 10, ModificationTime: 1, DataChange: true, Stats: `{"numRecords":3}`, Tags: map[string]string{"k": "v"}}},
		{Add: &delta.Add{Path: "p=__HIVE_DEFAULT_PARTITION__/f2.parquet", PartitionValues: delta.PartitionValues{"p": ""}, Size: 20, ModificationTime: 2, DataChange: true}},
		{Txn: &delta.Txn{AppID: "app", Version: 4}},
		{DomainMetadata: &delta.DomainMetadata{Domain: "d", Configuration: "{}"}},
	})
	if err != nil {
		f.Fatal(err)
	}
	if err := store.PutIfAbsent(ctx, delta.CommitKey(0), commit); err != nil {
		f.Fatal(err)
	}
	tbl := delta.NewTable(store, parquetio.Codec{})
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		f.Fatal(err)
	}
	if err := tbl.Checkpoint(ctx, snap); err != nil {
		f.Fatal(err)
	}
	if b, err := store.Get(ctx, delta.ClassicCheckpointKey(snap.Version())); err == nil {
		seeds = append(seeds, b)
	}
	return seeds
}

// liveState is state without the tombstones: a checkpoint drops the expired ones, so their
// number is not preserved by re-checkpointing.
func liveState(t *testing.T, s *delta.Snapshot) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"version": s.Version(), "protocol": s.Protocol(), "metadata": s.Metadata(), "files": s.Files(),
		"txns": s.Txns(), "domains": s.Domains(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzCheckpoint: a table whose log is one classic checkpoint (version 10) of arbitrary bytes
// loads without panicking; a failure wraps ErrCorrupt, ErrUnsupportedFeature or
// ErrVersionNotFound; a snapshot that loads is checkpointed again by Strata into an empty table
// and that checkpoint loads to the same state (tombstones aside, as expired ones are dropped).
func FuzzCheckpoint(f *testing.F) {
	for _, s := range checkpointFuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		store, err := storage.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		key := delta.ClassicCheckpointKey(10)
		if err := store.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		snap, err := delta.NewTable(store, parquetio.Codec{}).Snapshot(ctx, -1)
		if err != nil {
			if !errors.Is(err, delta.ErrCorrupt) && !errors.Is(err, delta.ErrUnsupportedFeature) && !errors.Is(err, delta.ErrVersionNotFound) {
				t.Fatalf("error %v wraps none of ErrCorrupt, ErrUnsupportedFeature, ErrVersionNotFound", err)
			}
			return
		}
		if snap.Version() != 10 {
			t.Fatalf("snapshot version %d, want 10", snap.Version())
		}
		want := liveState(t, snap)
		store2, err := storage.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		tbl2 := delta.NewTable(store2, parquetio.Codec{})
		if err := tbl2.Checkpoint(ctx, snap); err != nil {
			t.Fatalf("re-checkpoint of a loaded snapshot: %v", err)
		}
		again, err := tbl2.Snapshot(ctx, -1)
		if err != nil {
			t.Fatalf("load of the re-written checkpoint: %v", err)
		}
		if got := liveState(t, again); got != want {
			t.Fatalf("re-written checkpoint loads to\n%s\nwant\n%s", got, want)
		}
	})
}

// TestActionKeys holds what FuzzCommitJSON found: action names match exactly (a miscased key is
// an unknown action, as Spark and delta-rs read it), a null action is absent, and an empty
// commitInfo survives EncodeCommit.
func TestActionKeys(t *testing.T) {
	for _, tc := range []struct {
		line, kinds, encoded string
	}{
		{`{"CommitInfo":{}}`, "", `{}`},
		{`{"ADD":{"path":"a"}}`, "", `{}`},
		{`{"commitInfo":{}}`, "commitInfo", `{"commitInfo":{}}`},
		{`{"commitInfo":null}`, "", `{}`},
		{`{"add":null,"txn":{"appId":"a","version":1}}`, "txn", `{"txn":{"appId":"a","version":1}}`},
		{`{ "add" : {"path":"a"}, "Remove": {"path":"b"} }`, "add", ""},
		{`{"add":{"path":"a"},"remove":{"path":"b"}}`, "add,remove", ""},
		{`{"commitInfo":{"operation":"WRITE","k":"<&>"}}`, "commitInfo", `{"commitInfo":{"k":"<&>","operation":"WRITE"}}`},
	} {
		actions, err := delta.ParseCommit("0.json", []byte(tc.line))
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if got := kinds(actions[0]); got != tc.kinds {
			t.Errorf("%s: kinds %q, want %q", tc.line, got, tc.kinds)
		}
		if tc.encoded == "" {
			continue
		}
		enc, err := delta.EncodeCommit(actions)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(enc)); got != tc.encoded {
			t.Errorf("%s: encoded as %s, want %s", tc.line, got, tc.encoded)
		}
	}
}
