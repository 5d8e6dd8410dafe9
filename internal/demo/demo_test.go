package demo

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/gen"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/project"
)

func TestWriteProject(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	wrote, err := WriteProject(dir)
	if err != nil || !wrote {
		t.Fatalf("first WriteProject: wrote %v, err %v", wrote, err)
	}
	p, err := project.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := p.PipelineFiles()
	if err != nil {
		t.Fatal(err)
	}
	domains := map[string]bool{}
	for _, f := range files {
		domains[f.Domain()] = true
	}
	for _, d := range []string{"sales", "customers", "logistics", "analytics"} {
		if !domains[d] {
			t.Errorf("the example project has no pipeline file in domain %s", d)
		}
	}
	// A second start keeps what is there (the user's edits included).
	marker := filepath.Join(dir, "sales", "orders.sql")
	if err := os.WriteFile(marker, []byte("-- edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if wrote, err := WriteProject(dir); err != nil || wrote {
		t.Fatalf("second WriteProject: wrote %v, err %v", wrote, err)
	}
	if data, _ := os.ReadFile(marker); string(data) != "-- edited\n" {
		t.Errorf("WriteProject overwrote an existing project")
	}
}

// orderRecords runs the order builder over n generated events.
func orderRecords(t *testing.T, seed uint64, n int) ([]log.Record, *orderBuilder, map[uint64]int64) {
	t.Helper()
	g, err := gen.New(gen.Config{Seed: seed, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Rate: 500, Users: 2000})
	if err != nil {
		t.Fatal(err)
	}
	b := newOrderBuilder(seed)
	var out []log.Record
	lines := map[uint64]int64{}     // cents of each order's lines delivered so far
	atPayment := map[uint64]int64{} // the cents of its lines when its payment came
	for range n {
		ev := g.Next()
		ok := ev.Malformation == gen.WellFormed && ev.Anomaly != gen.Duplicate
		switch {
		case ok && ev.Type == gen.TypeOrder:
			lines[ev.OrderID] += ev.RevenueCents
		case ok && ev.Type == gen.TypePayment:
			atPayment[ev.OrderID] = lines[ev.OrderID]
		}
		out = b.add(&ev, out)
	}
	return out, b, atPayment
}

func TestOrderRecords(t *testing.T) {
	recs, b, lines := orderRecords(t, 3, 200_000)
	if len(recs) < 500 {
		t.Fatalf("%d order records from 200,000 events", len(recs))
	}
	seen := map[string]int{}
	broken := 0
	for _, r := range recs {
		var o map[string]any
		if err := json.Unmarshal(r.Value, &o); err != nil {
			broken++
			continue
		}
		id, _ := o["order_id"].(string)
		if string(r.Key) != id {
			t.Fatalf("record key %q, order_id %q", r.Key, id)
		}
		seen[id]++
		total, ok := o["total"].(float64)
		if !ok {
			broken++ // a total of "n/a"
			continue
		}
		items, _ := o["items"].([]any)
		if len(items) == 0 {
			t.Errorf("order %s has no items", id)
		}
		num, err := strconv.ParseUint(strings.TrimPrefix(id, "ORD-"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(lines[num]) / 100; math.Abs(total-want) > 0.005 {
			t.Errorf("order %s: total %v, its lines sum to %v", id, total, want)
		}
		if _, err := time.Parse(time.RFC3339Nano, o["ordered_at"].(string)); err != nil {
			t.Errorf("order %s: ordered_at: %v", id, err)
		}
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if int64(dups) != b.duplicates || int64(broken) != b.malformed {
		t.Errorf("duplicates %d (builder says %d), broken %d (builder says %d)", dups, b.duplicates, broken, b.malformed)
	}
	if b.duplicates == 0 || b.late == 0 {
		t.Errorf("no duplicate (%d) or late (%d) order among %d", b.duplicates, b.late, len(recs))
	}
	// Deterministic by seed.
	again, _, _ := orderRecords(t, 3, 200_000)
	if len(again) != len(recs) {
		t.Fatalf("a second run made %d records, the first %d", len(again), len(recs))
	}
	for i := range recs {
		if string(recs[i].Value) != string(again[i].Value) {
			t.Fatalf("record %d differs between two runs with the same seed", i)
		}
	}
}
