package core

import (
	"errors"
	"maps"
	"testing"
	"time"
)

func testConfig() Config {
	return Config{AppID: "app", Sources: []string{"s"},
		Aggregate: &AggregateSpec{Window: Tumbling(10), Aggs: []AggSpec{{Func: AggCount, Column: -1}}}}
}

func TestConfigValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no app id":          func(c *Config) { c.AppID = "" },
		"no sources":         func(c *Config) { c.Sources = nil },
		"repeated source":    func(c *Config) { c.Sources = []string{"a", "a"} },
		"negative limit":     func(c *Config) { c.Limits.MaxRecords = -1 },
		"negative delay":     func(c *Config) { c.Watermark.Delay = -1 },
		"negative lateness":  func(c *Config) { c.AllowedLateness = -1 },
		"flush w/o avail":    func(c *Config) { c.FlushAtEnd = true },
		"bad trigger":        func(c *Config) { c.Trigger.Kind = 7 },
		"no aggregates":      func(c *Config) { c.Aggregate.Aggs = nil },
		"sum(*)":             func(c *Config) { c.Aggregate.Aggs = []AggSpec{{Func: AggSum, Column: -1}} },
		"bad window":         func(c *Config) { c.Aggregate.Window = Hopping(5, 10) },
		"bad dedup column":   func(c *Config) { c.Dedup = &DedupSpec{KeyColumns: []int{-2}} },
		"unknown aggregate":  func(c *Config) { c.Aggregate.Aggs = []AggSpec{{Func: 99}} },
		"negative retention": func(c *Config) { c.RetainBatches = -1 },
	} {
		cfg := testConfig()
		mutate(&cfg)
		if _, err := NewQuery(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// TestProtocolViolations checks that contract breaches are ErrProtocol and leave the query usable.
func TestProtocolViolations(t *testing.T) {
	h, err := newHarness(testConfig(), false)
	if err != nil {
		t.Fatal(err)
	}
	q := h.q
	expect := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("%s: %v, want ErrProtocol", what, err)
		}
	}
	expect("advance with nothing ready", q.Advance())
	expect("batch data before any batch", q.Step(BatchData{BatchID: 0}))
	expect("status of an unknown source", q.Step(SourceStatus{Source: "x"}))
	expect("unknown event", q.Step(nil))

	if err := h.produce("s/0 a 1\ns/0 a 2"); err != nil {
		t.Fatal(err)
	}
	q.Tick(time.Unix(5, 0))
	if err := q.Step(h.status("s")); err != nil {
		t.Fatal(err)
	}
	rd, err := q.Ready()
	if err != nil || rd.Read == nil || len(rd.WriteAhead) != 1 {
		t.Fatalf("Ready = %+v, %v; want a planned batch", rd, err)
	}
	expect("batch data before the write-ahead is acknowledged", q.Step(BatchData{BatchID: 0}))
	expect("restore after start", q.Restore(h.scan()))
	if err := q.Advance(); err != nil {
		t.Fatal(err)
	}
	expect("batch data of another batch", q.Step(BatchData{BatchID: 1}))
	expect("row from a partition the batch does not read",
		q.Step(BatchData{BatchID: 0, Rows: []Row{{Partition: PartitionID{"s", 9}, EventTime: 1}}}))
	dedup := testConfig()
	dedup.Dedup = &DedupSpec{KeyColumns: []int{3}}
	hd, _ := newHarness(dedup, false)
	_ = hd.produce("s/0 a 1 7")
	hd.q.Tick(time.Unix(1, 0))
	_ = hd.q.Step(hd.status("s"))
	if rd, err := hd.q.Ready(); err != nil || rd.Read == nil {
		t.Fatalf("dedup query: %+v %v", rd, err)
	}
	_ = hd.q.Advance()
	expect("row without the dedup key column", hd.q.Step(BatchData{BatchID: 0, Rows: hd.read(hd.q.planner.InFlight())}))
	// The query is unchanged by all of the above: the real data goes through. Reading took 2s
	// on the injected clock.
	q.Tick(time.Unix(7, 0))
	if err := q.Step(BatchData{BatchID: 0, Rows: h.read(rd.Read)}); err != nil {
		t.Fatal(err)
	}
	rd, err = q.Ready()
	if err != nil || rd.Commit == nil || rd.Metrics.InputRows != 2 || rd.Metrics.Duration != 2*time.Second {
		t.Fatalf("Ready = %+v, %v; want the processed batch", rd, err)
	}
	if again, _ := q.Ready(); again.Commit != rd.Commit {
		t.Fatalf("Ready changed before Advance")
	}
	if err := q.Advance(); err != nil {
		t.Fatal(err)
	}
	expect("second advance", q.Advance())
}

// TestRestoreRefusesForeignState checks the checks of Restore.
func TestRestoreRefusesForeignState(t *testing.T) {
	h, err := newHarness(testConfig(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.produce("s/0 a 1\ns/0 a 2\ns/0 a 25"); err != nil {
		t.Fatal(err)
	}
	if err := h.drive(""); err != nil {
		t.Fatal(err)
	}
	restore := func(cfg Config, store map[string][]byte) error {
		q, err := NewQuery(cfg)
		if err != nil {
			return err
		}
		h2 := *h
		h2.store = store
		return q.Restore(h2.scan())
	}
	if err := restore(testConfig(), h.store); err != nil {
		t.Fatalf("own state: %v", err)
	}
	other := testConfig()
	other.Aggregate.Window = Tumbling(20)
	if err := restore(other, h.store); !errors.Is(err, ErrIncompatibleState) {
		t.Errorf("other window: %v", err)
	}
	other = testConfig()
	other.Watermark.Delay = 3
	if err := restore(other, h.store); !errors.Is(err, ErrIncompatibleState) {
		t.Errorf("other delay: %v", err)
	}
	// The trigger and limits may change between runs (that is how batch mode reuses a checkpoint).
	other = testConfig()
	other.Trigger, other.Limits = Trigger{Kind: TriggerAvailableNow}, Limits{MaxRecords: 1}
	if err := restore(other, h.store); err != nil {
		t.Errorf("other trigger: %v", err)
	}
	dedupOnly := Config{AppID: "app", Sources: []string{"s"}, Dedup: &DedupSpec{}}
	noFingerprint := maps.Clone(h.store)
	delete(noFingerprint, string(configKey))
	if err := restore(dedupOnly, noFingerprint); !errors.Is(err, ErrIncompatibleState) {
		t.Errorf("aggregate state in a dedup query: %v", err)
	}

	for name, mutate := range map[string]func(map[string][]byte){
		"offsets entry beyond the next batch": func(s map[string][]byte) {
			s[string(offsetsKey(7))] = encodeBatch(&Batch{ID: 7})
		},
		"completed batch missing from the offsets log": func(s map[string][]byte) {
			delete(s, string(offsetsKey(0)))
		},
		"commit record under another id": func(s map[string][]byte) {
			s[string(commitKey(0))] = encodeCommit(3, 0, totalsJSON{})
		},
		"unknown section": func(s map[string][]byte) { s["Zzz"] = nil },
		"bad watermark":   func(s map[string][]byte) { s[string(watermarkKey)] = []byte("x") },
		"bad log key":     func(s map[string][]byte) { s["O1"] = nil },
	} {
		store := maps.Clone(h.store)
		mutate(store)
		if err := restore(testConfig(), store); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// TestRetention checks that old offsets-log and commit-log entries are deleted.
func TestRetention(t *testing.T) {
	cfg := testConfig()
	cfg.RetainBatches = 2
	cfg.Trigger = Trigger{Kind: TriggerAvailableNow}
	cfg.Limits.MaxRecords = 1
	h, err := newHarness(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.produce("s/0 a 1\ns/0 a 2\ns/0 a 3\ns/0 a 4\ns/0 a 5"); err != nil {
		t.Fatal(err)
	}
	if err := h.drive(""); err != nil {
		t.Fatal(err)
	}
	var logs []string
	for k := range h.store {
		if k[0] == sectionOffsets || k[0] == sectionCommits {
			logs = append(logs, describeStore(map[string][]byte{k: h.store[k]}))
		}
	}
	if len(logs) != 4 {
		t.Fatalf("kept %d log entries, want 2 offsets + 2 commits:\n%s", len(logs), describeStore(h.store))
	}
	if m := h.q.Metrics(); m.Batches != 5 || m.InputRows != 5 {
		t.Fatalf("totals after restarts: %+v", m)
	}
}
