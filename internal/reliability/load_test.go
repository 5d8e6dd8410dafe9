package reliability

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/log/httpingest"
)

// TestCheckLoadLedger feeds the load section's checker broken states: each must be flagged, and
// a whole state must not be.
func TestCheckLoadLedger(t *testing.T) {
	const seed = 7
	a1, a2, r1, u1, u2, x := loadKey(1), loadKey(2), loadKey(1<<32|1), loadKey(3), loadKey(4), loadKey(99)
	ledger := map[loadKey]loadIDState{a1: loadAcked, a2: loadAcked, r1: loadRefused, u1: loadUnknown, u2: loadUnknown}
	for _, tc := range []struct {
		name      string
		change    func(f loadFound)
		accounted int64
		want      string // a word of the one anomaly expected ("" for none)
	}{
		{name: "whole", change: func(loadFound) {}, accounted: 2},
		{name: "acknowledged record missing", change: func(f loadFound) { delete(f.ours, a2) }, accounted: 1, want: "missing"},
		{name: "acknowledged record duplicated", change: func(f loadFound) { f.ours[a1] = 2 }, accounted: 1, want: "more than once"},
		{name: "refused record written", change: func(f loadFound) { f.ours[r1] = 1 }, accounted: 2, want: "refused with 429"},
		{name: "failed request's record twice", change: func(f loadFound) { f.ours[u2] = 2 }, accounted: 2, want: "failed requests"},
		{name: "record of this run never sent", change: func(f loadFound) { f.ours[x] = 1 }, accounted: 2, want: "never sent"},
		{name: "foreign record", change: func(f loadFound) { f.foreign["not-ours"] = 1 }, accounted: 2, want: "never sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The whole state, as readBronzeIDs builds it from event_id texts.
			found := loadFound{ours: map[loadKey]int{}, foreign: map[string]int{}}
			for _, k := range []loadKey{a1, a2, u1} {
				found.add(seed, loadEventID(seed, k), 1)
			}
			tc.change(found)
			accounted, anomalies := checkLoadLedger(seed, ledger, found)
			if accounted != tc.accounted {
				t.Errorf("accounted %d, want %d", accounted, tc.accounted)
			}
			if tc.want == "" {
				if len(anomalies) != 0 || len(found.foreign) != 0 {
					t.Errorf("anomalies on a whole state: %v (foreign ids %v)", anomalies, found.foreign)
				}
				return
			}
			if len(anomalies) != 1 || !strings.Contains(anomalies[0], tc.want) {
				t.Errorf("anomalies %v, want one saying %q", anomalies, tc.want)
			}
		})
	}
}

// TestLoadBatchIDs checks that the generator's event_ids are unique across clients and batches,
// that each batch line carries its id, and that only this run's ids parse back to their keys.
func TestLoadBatchIDs(t *testing.T) {
	const seed = 5
	seen := map[loadKey]bool{}
	for client := range uint32(3) {
		rng := rand.New(rand.NewPCG(seed, uint64(client)))
		var seq uint32
		for range 4 {
			keys, body := loadBatch(rng, seed, client, &seq, 50)
			lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
			if len(keys) != 50 || len(lines) != 50 {
				t.Fatalf("%d keys, %d lines, want 50", len(keys), len(lines))
			}
			for i, k := range keys {
				id := loadEventID(seed, k)
				if seen[k] || !strings.Contains(lines[i], `"event_id":"`+id+`"`) {
					t.Fatalf("key %x (seen before: %v), id %s, line %s", k, seen[k], id, lines[i])
				}
				seen[k] = true
				if back, ok := parseLoadEventID(seed, id); !ok || back != k {
					t.Fatalf("id %s parses to %x, %v; want %x", id, back, ok, k)
				}
				if _, ok := parseLoadEventID(seed+1, id); ok {
					t.Fatalf("id %s of seed %d parses as one of seed %d", id, seed, seed+1)
				}
			}
		}
	}
	for _, id := range []string{"", "x", "10ad10ad-0000-0005-0000-00000000000g", strings.ToUpper(loadEventID(seed, 1))} {
		if _, ok := parseLoadEventID(seed, id); ok {
			t.Errorf("%q parses as an id of the run", id)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	rss, hwm, err := parseProcStatus([]byte("Name:\tstrata\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n"))
	if err != nil || rss != 100<<20 || hwm != 200<<20 {
		t.Errorf("rss %d hwm %d err %v", rss, hwm, err)
	}
	if _, _, err := parseProcStatus([]byte("Name:\tstrata\n")); err == nil {
		t.Error("no error for a status without VmRSS")
	}
}

func TestAcknowledges(t *testing.T) {
	ok := httpingest.Response{Topic: "events", Records: 5, Partitions: []httpingest.PartitionOffsets{{Partition: 2, FirstOffset: 10, LastOffset: 14, Records: 5}}}
	for _, tc := range []struct {
		name string
		edit func(r *httpingest.Response)
		want bool
	}{
		{"whole", func(*httpingest.Response) {}, true},
		{"fewer records", func(r *httpingest.Response) { r.Records = 4 }, false},
		{"offsets short", func(r *httpingest.Response) { r.Partitions[0].LastOffset = 13 }, false},
		{"other topic", func(r *httpingest.Response) { r.Topic = "orders" }, false},
		{"no partitions", func(r *httpingest.Response) { r.Partitions = nil }, false},
	} {
		r := ok
		r.Partitions = append([]httpingest.PartitionOffsets(nil), ok.Partitions...)
		tc.edit(&r)
		if got := acknowledges(r, 5); got != tc.want {
			t.Errorf("%s: acknowledges %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAckedRanges(t *testing.T) {
	c1 := loadKey(1 << 32)
	ledger := map[loadKey]loadIDState{0: loadAcked, 1: loadAcked, 2: loadAcked, 3: loadRefused, 4: loadAcked, 5: loadUnknown,
		6: loadAcked, 7: loadAcked, c1: loadAcked, c1 + 1: loadAcked, c1 + 2: loadRefused}
	got := ackedRanges(ledger)
	want := []loadRange{{0, 2}, {4, 4}, {6, 7}, {c1, c1 + 1}}
	if !slices.Equal(got, want) {
		t.Errorf("ranges %v, want %v", got, want)
	}
	// A run never spans two clients, even when their keys are adjacent numbers.
	last := loadKey(1<<32 - 1)
	if got := ackedRanges(map[loadKey]loadIDState{last: loadAcked, last + 1: loadAcked}); len(got) != 2 {
		t.Errorf("ranges %v across clients 0 and 1, want two", got)
	}
	// Ids sort as their keys, so a range of ids is a range of keys.
	if a, b := loadEventID(9, 0xffff), loadEventID(9, 0x10000); a >= b {
		t.Errorf("event_id %s sorts after %s", a, b)
	}
}

// TestMemoryBoundCountsState: the load section's memory bound grows with the state the pipelines
// report, and only with it.
func TestMemoryBoundCountsState(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name             string
		rss, entries, sz int64
		anomaly          bool
	}{
		{"within the limits", 2900 * mib, 0, 0, false},
		{"above the limits, no state", 3551 * mib, 0, 0, true},
		{"5M dedup keys of 36 bytes", 3551 * mib, 5_000_000, 180_000_000, false},
		{"above the limits and the state", 5000 * mib, 5_000_000, 180_000_000, true},
	} {
		m := &memSampler{peakRSS: c.rss, hwm: c.rss, samples: 1, stateEntries: c.entries, stateBytes: c.sz, stateSamples: 1}
		rep := &Report{}
		m.report(rep)
		if got := len(rep.Anomalies) > 0; got != c.anomaly {
			t.Errorf("%s: anomalies %q, want an anomaly: %v", c.name, rep.Anomalies, c.anomaly)
		}
	}
}
