package statestore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/stream/core"
)

func scanAll(t *testing.T, s *Store, ns string) string {
	t.Helper()
	seq, errf := s.Scan(ns)
	var parts []string
	for k, v := range seq {
		parts = append(parts, fmt.Sprintf("%s=%s", k, v))
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(parts, " ")
}

func TestApplyScanNamespaces(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		ns   string
		muts []core.Mutation
	}{
		{"q1", []core.Mutation{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}}},
		{"q", []core.Mutation{{Key: []byte("a"), Value: []byte("x")}}},
		{"q1x", []core.Mutation{{Key: []byte("a"), Value: []byte("y")}}},
		{"q1", []core.Mutation{{Key: []byte("a"), Delete: true}, {Key: []byte("c"), Value: []byte("3")}}},
	}
	for _, st := range steps {
		if err := s.Apply(st.ns, st.muts); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"q1": "b=2 c=3", "q": "a=x", "q1x": "a=y", "other": ""}
	for ns, w := range want {
		if got := scanAll(t, s, ns); got != w {
			t.Errorf("namespace %s: %q, want %q", ns, got, w)
		}
	}
	if k, b, err := s.Size("q1"); err != nil || k != 2 || b != 4 {
		t.Errorf("size of q1: %d keys %d bytes, %v", k, b, err)
	}
	// A second open of the same folder is refused while the first is open.
	if _, err := Open(dir); err == nil {
		t.Error("second open of a locked store succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening finds everything (each Apply was synced).
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := scanAll(t, s, "q1"); got != "b=2 c=3" {
		t.Errorf("after reopen: %q", got)
	}
	if err := s.Drop("q1"); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, s, "q1") + "|" + scanAll(t, s, "q1x"); got != "|a=y" {
		t.Errorf("after drop: %q", got)
	}
}

func TestInvalidNamespaceAndRemote(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, ns := range []string{"", "a\x00b"} {
		if err := s.Apply(ns, []core.Mutation{{Key: []byte("k")}}); !errors.Is(err, ErrInvalidNamespace) {
			t.Errorf("namespace %q: %v", ns, err)
		}
	}
	if _, err := Open("s3://bucket/checkpoints"); err == nil || !strings.Contains(err.Error(), "local folder") {
		t.Errorf("remote location: %v", err)
	}
}

// TestRestoreRoundTrip drives a core.Query through a few batches, persisting through the store,
// and checks that a Query restored from a scan reports the same totals and watermark.
func TestRestoreRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := core.Config{AppID: "rt", Sources: []string{"src"}, Trigger: core.Trigger{Kind: core.TriggerAvailableNow},
		Watermark: core.WatermarkSpec{Delay: 5},
		Aggregate: &core.AggregateSpec{Window: core.Tumbling(10), Aggs: []core.AggSpec{{Func: core.AggCount, Column: -1}}}}
	q, err := core.NewQuery(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := core.PartitionID{Source: "src"}
	if err := q.Step(core.SourceStatus{Source: "src", Partitions: []core.PartitionStatus{{Partition: 0, End: 4}}}); err != nil {
		t.Fatal(err)
	}
	for {
		rd, err := q.Ready()
		if err != nil {
			t.Fatal(err)
		}
		if rd.Empty() {
			break
		}
		if err := s.Apply("rt", rd.WriteAhead); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply("rt", rd.Persist); err != nil {
			t.Fatal(err)
		}
		if err := q.Advance(); err != nil {
			t.Fatal(err)
		}
		if rd.Read != nil {
			var rows []core.Row
			for _, r := range rd.Read.Ranges {
				for pos := r.From; pos < r.To; pos++ {
					rows = append(rows, core.Row{Partition: p, EventTime: pos * 7, Key: []byte("k")})
				}
			}
			if err := q.Step(core.BatchData{BatchID: rd.Read.ID, Rows: rows}); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := core.NewQuery(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seq, errf := s.Scan("rt")
	if err := r.Restore(seq); err != nil {
		t.Fatal(err)
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	got, want := r.Metrics(), q.Metrics()
	if got.Batches != want.Batches || got.InputRows != want.InputRows || got.Watermark != want.Watermark || got.State != want.State {
		t.Errorf("restored %+v, want %+v", got, want)
	}
}
