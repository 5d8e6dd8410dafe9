package gen

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"
)

func newCustomers(t *testing.T, cfg CustomersConfig) *Customers {
	t.Helper()
	c, err := NewCustomers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// customerStream returns the snapshot and then n changes of cfg.
func customerStream(t *testing.T, cfg CustomersConfig, n int) []CustomerChange {
	t.Helper()
	c := newCustomers(t, cfg)
	var out []CustomerChange
	if err := c.Snapshot(func(ch CustomerChange) error {
		out = append(out, ch)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		out = append(out, c.Next())
	}
	return out
}

func streamBytes(chs []CustomerChange) []byte {
	var b bytes.Buffer
	for _, ch := range chs {
		b.Write(ch.Value)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestCustomersDeterministic: the same config gives the same bytes; another seed differs.
func TestCustomersDeterministic(t *testing.T) {
	for _, cfg := range []CustomersConfig{
		{Seed: 7, Users: 500},
		{Seed: 7, Users: 500, Rate: 50, OutOfOrder: 0.05, Duplicate: 0.05},
	} {
		a := streamBytes(customerStream(t, cfg, 3000))
		b := streamBytes(customerStream(t, cfg, 3000))
		if !bytes.Equal(a, b) {
			t.Errorf("%+v: two runs differ", cfg)
		}
		cfg.Seed = 8
		if c := streamBytes(customerStream(t, cfg, 3000)); bytes.Equal(a, c) {
			t.Errorf("%+v: seeds 7 and 8 give the same bytes", cfg)
		}
	}
}

// cdcRow is a row of the customers table as the envelopes carry it.
type cdcRow struct {
	CustomerID     *int64 `json:"customer_id"`
	Name           string `json:"name"`
	Email          string `json:"email"`
	Country        string `json:"country"`
	City           string `json:"city"`
	Segment        string `json:"segment"`
	MarketingOptIn *bool  `json:"marketing_opt_in"`
	CreatedAt      string `json:"created_at"`
	UpdatedAt      string `json:"updated_at"`
}

type cdcEnvelope struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Op     string          `json:"op"`
	TSMs   *int64          `json:"ts_ms"`
	Source struct {
		Connector string `json:"connector"`
		DB        string `json:"db"`
		Table     string `json:"table"`
		LSN       uint64 `json:"lsn"`
		Snapshot  string `json:"snapshot"`
	} `json:"source"`
}

// parseChange decodes a Value, unwrapping {"schema","payload"}; wrapped reports the wrapping.
func parseChange(t *testing.T, v []byte) (env cdcEnvelope, wrapped bool) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(v, &top); err != nil {
		t.Fatalf("value is not a JSON object: %v: %s", err, v)
	}
	if p, ok := top["payload"]; ok {
		if _, ok := top["schema"]; !ok || len(top) != 2 {
			t.Fatalf("wrapped value without schema or with other keys: %s", v)
		}
		v, wrapped = p, true
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(v, &keys); err != nil || len(keys) != 5 {
		t.Fatalf("envelope: %v: %s", err, v)
	}
	for _, k := range []string{"before", "after", "source", "op", "ts_ms"} {
		if _, ok := keys[k]; !ok {
			t.Fatalf("envelope without %s: %s", k, v)
		}
	}
	if err := json.Unmarshal(v, &env); err != nil {
		t.Fatalf("envelope: %v: %s", err, v)
	}
	return env, wrapped
}

var emailPattern = regexp.MustCompile(`^[a-z][a-z0-9._]*@[a-z0-9.]+\.[a-z]+$`)

// parseRow decodes and checks a before/after row; nil for JSON null.
func parseRow(t *testing.T, raw json.RawMessage) *cdcRow {
	t.Helper()
	if string(raw) == "null" || raw == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r cdcRow
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("row: %v: %s", err, raw)
	}
	if r.CustomerID == nil || r.MarketingOptIn == nil || r.Name == "" || r.City == "" {
		t.Fatalf("row with missing columns: %s", raw)
	}
	if !slices.Contains(Countries(), r.Country) || !slices.Contains(cities[r.Country], r.City) {
		t.Fatalf("row: country %q, city %q: %s", r.Country, r.City, raw)
	}
	if !slices.Contains([]string{SegmentConsumer, SegmentBusiness, SegmentVIP}, r.Segment) {
		t.Fatalf("row: segment %q", r.Segment)
	}
	if !emailPattern.MatchString(r.Email) {
		t.Fatalf("row: email %q", r.Email)
	}
	created, err1 := time.Parse(time.RFC3339, r.CreatedAt)
	updated, err2 := time.Parse(time.RFC3339, r.UpdatedAt)
	if err1 != nil || err2 != nil || updated.Before(created) {
		t.Fatalf("row: created_at %q, updated_at %q: %v %v", r.CreatedAt, r.UpdatedAt, err1, err2)
	}
	return &r
}

func msOf(s string) int64 {
	ts, _ := time.Parse(time.RFC3339, s)
	return ts.UnixMilli()
}

// TestCustomersEnvelope: every value is a Debezium envelope (possibly wrapped with a schema) whose
// op, ts_ms, lsn and rows match the change, with before/after present as the op says.
func TestCustomersEnvelope(t *testing.T) {
	cfg := CustomersConfig{Seed: 3, Users: 2000, Rate: 20}
	chs := customerStream(t, cfg, 20_000)
	start := DefaultStart.UnixMilli()
	var wrapped int
	ops := map[string]int{}
	for i, ch := range chs {
		env, w := parseChange(t, ch.Value)
		if w {
			wrapped++
		}
		ops[ch.Op]++
		before, after := parseRow(t, env.Before), parseRow(t, env.After)
		if env.Op != ch.Op || env.TSMs == nil || *env.TSMs != ch.TSMillis || env.Source.LSN != ch.LSN {
			t.Fatalf("change %d: envelope op %q ts_ms %v lsn %d, change %+v", i, env.Op, env.TSMs, env.Source.LSN, ch)
		}
		if env.Source.Connector != "postgresql" || env.Source.DB != "shop" || env.Source.Table != "customers" {
			t.Fatalf("change %d: source %+v", i, env.Source)
		}
		if string(ch.Key()) != `{"customer_id":`+jsonInt(ch.CustomerID)+`}` {
			t.Fatalf("change %d: key %s", i, ch.Key())
		}
		row := after
		switch ch.Op {
		case OpRead, OpCreate:
			if before != nil || after == nil {
				t.Fatalf("change %d: op %s with before %v after %v", i, ch.Op, before, after)
			}
		case OpUpdate:
			if before == nil || after == nil {
				t.Fatalf("change %d: update without before or after", i)
			}
		case OpDelete:
			if before == nil || after != nil {
				t.Fatalf("change %d: delete with before %v after %v", i, before, after)
			}
			row = before
		default:
			t.Fatalf("change %d: op %q", i, ch.Op)
		}
		if *row.CustomerID != ch.CustomerID {
			t.Fatalf("change %d: row customer_id %d, change %d", i, *row.CustomerID, ch.CustomerID)
		}
		if ch.Op == OpRead {
			if ch.TSMillis != start || env.Source.Snapshot == "false" || msOf(row.UpdatedAt) >= start {
				t.Fatalf("snapshot row %d: ts_ms %d, snapshot %q, updated_at %s", i, ch.TSMillis, env.Source.Snapshot, row.UpdatedAt)
			}
		} else if ch.TSMillis <= start || env.Source.Snapshot != "false" {
			t.Fatalf("change %d: ts_ms %d not after the snapshot %d, snapshot %q", i, ch.TSMillis, start, env.Source.Snapshot)
		}
		if (ch.Op == OpCreate || ch.Op == OpUpdate) && msOf(row.UpdatedAt) != ch.TSMillis {
			t.Fatalf("change %d: updated_at %s, ts_ms %d", i, row.UpdatedAt, ch.TSMillis)
		}
		if (ch.Op == OpCreate && ch.CustomerID <= int64(cfg.Users)) || (ch.Op == OpRead && ch.CustomerID > int64(cfg.Users)) {
			t.Fatalf("change %d: op %s for customer_id %d (Users %d)", i, ch.Op, ch.CustomerID, cfg.Users)
		}
	}
	if ops[OpRead] != cfg.Users {
		t.Errorf("snapshot has %d rows, want %d", ops[OpRead], cfg.Users)
	}
	changes := float64(len(chs) - cfg.Users)
	within(t, "create share", float64(ops[OpCreate])/changes, 0.025, 0.055)
	within(t, "delete share", float64(ops[OpDelete])/changes, 0.005, 0.016)
	within(t, "schema-wrapped share", float64(wrapped)/float64(len(chs)), 0.27, 0.33)
}

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }

func within(t *testing.T, what string, v, lo, hi float64) {
	t.Helper()
	if v < lo || v > hi {
		t.Errorf("%s = %.4f, want within [%v, %v]", what, v, lo, hi)
	}
}

// TestCustomersHistory: with out-of-order and duplicate deliveries, each customer's distinct
// changes in ts_ms order form a valid history (before = the previous after, nothing after a
// delete, every update changes something), duplicates repeat an earlier delivery verbatim, and the
// anomalies come near their configured shares with bounded delays.
func TestCustomersHistory(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        CustomersConfig
		changes    int
		outOfOrder float64
		duplicate  float64
	}{
		{"in order", CustomersConfig{Seed: 1, Users: 300, Rate: 10}, 10_000, 0, 0},
		{"anomalies", CustomersConfig{Seed: 2, Users: 300, Rate: 10, OutOfOrder: 0.05, Duplicate: 0.03}, 20_000, 0.05, 0.03},
		{"fast, many anomalies", CustomersConfig{Seed: 5, Users: 100, Rate: 200, OutOfOrder: 0.3, Duplicate: 0.2}, 20_000, 0.3, 0.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCustomers(t, tc.cfg)
			var all []CustomerChange
			if err := c.Snapshot(func(ch CustomerChange) error {
				all = append(all, ch)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// Deliver tc.changes changes, then drain until every change up to the last ts_ms
			// seen by then (cutoff) has been delivered with its duplicates: the shares and
			// histories are those of the changes up to cutoff.
			byLSN := map[uint64]CustomerChange{}
			var lastArrival, cutoff int64
			var outOfOrder, dups, reordered, delivered int
			var maxTS int64
			for i := 0; ; i++ {
				if i == tc.changes {
					cutoff = maxTS
				}
				if cutoff > 0 && lastArrival >= cutoff*1000+CDCDelayMax.Microseconds() {
					break
				}
				ch := c.Next()
				delivered++
				if ch.Arrival < lastArrival {
					t.Fatalf("change %d: arrival %d before the previous %d", i, ch.Arrival, lastArrival)
				}
				lastArrival = ch.Arrival
				counted := cutoff == 0 || ch.TSMillis <= cutoff
				delay := time.Duration(ch.Arrival-ch.TSMillis*1000) * time.Microsecond
				switch ch.Anomaly {
				case OnTime:
					if delay != 0 {
						t.Fatalf("change %d: on time with delay %v", i, delay)
					}
				case OutOfOrder:
					if delay < time.Second || delay >= CDCDelayMax {
						t.Fatalf("change %d: out of order by %v", i, delay)
					}
					if counted {
						outOfOrder++
						if ch.TSMillis < maxTS {
							reordered++
						}
					}
				case Duplicate:
					orig, ok := byLSN[ch.LSN]
					if !ok || !bytes.Equal(orig.Value, ch.Value) || orig.TSMillis != ch.TSMillis || orig.CustomerID != ch.CustomerID || orig.Op != ch.Op {
						t.Fatalf("change %d: duplicate of lsn %d does not repeat an earlier delivery (found %v)", i, ch.LSN, ok)
					}
					if delay <= 0 || delay >= CDCDelayMax {
						t.Fatalf("change %d: duplicate delivered %v after its ts_ms", i, delay)
					}
					if counted {
						dups++
					}
					continue
				default:
					t.Fatalf("change %d: anomaly %v", i, ch.Anomaly)
				}
				if _, ok := byLSN[ch.LSN]; ok {
					t.Fatalf("change %d: lsn %d delivered twice without being a duplicate", i, ch.LSN)
				}
				byLSN[ch.LSN] = ch
				maxTS = max(maxTS, ch.TSMillis)
				if counted {
					all = append(all, ch)
				}
			}
			distinct := float64(len(all) - tc.cfg.Users)
			if tc.outOfOrder == 0 && tc.duplicate == 0 {
				if outOfOrder+dups != 0 {
					t.Errorf("%d out-of-order and %d duplicate deliveries without anomalies", outOfOrder, dups)
				}
			} else {
				within(t, "out-of-order share", float64(outOfOrder)/distinct, tc.outOfOrder*0.85, tc.outOfOrder*1.15)
				within(t, "duplicate share", float64(dups)/distinct, tc.duplicate*0.85, tc.duplicate*1.15)
				// An out-of-order change comes after later ones (at 10 changes per second and at
				// least a second of delay, nearly always).
				within(t, "out-of-order changes delivered after later ones", float64(reordered)/float64(outOfOrder), 0.95, 1)
			}
			st := c.Stats()
			if st.Changes != int64(delivered) || st.Creates+st.Updates+st.Deletes+st.Duplicates != st.Changes {
				t.Errorf("stats %+v: %d delivered", st, delivered)
			}
			checkHistories(t, all)
		})
	}
}

// checkHistories applies the changes of each customer in ts_ms order and checks that they form a
// valid history.
func checkHistories(t *testing.T, all []CustomerChange) {
	t.Helper()
	byCustomer := map[int64][]CustomerChange{}
	for _, ch := range all {
		byCustomer[ch.CustomerID] = append(byCustomer[ch.CustomerID], ch)
	}
	var updates, histories int
	for id, chs := range byCustomer {
		slices.SortStableFunc(chs, func(a, b CustomerChange) int { return cmp.Compare(a.TSMillis, b.TSMillis) })
		var prev json.RawMessage // the after of the previous change
		for i, ch := range chs {
			env, _ := parseChange(t, ch.Value)
			if i > 0 && ch.TSMillis <= chs[i-1].TSMillis {
				t.Fatalf("customer %d: two changes at ts_ms %d", id, ch.TSMillis)
			}
			if i == 0 {
				if ch.Op != OpRead && ch.Op != OpCreate {
					t.Fatalf("customer %d: history starts with op %s", id, ch.Op)
				}
			} else {
				if ch.Op == OpRead || ch.Op == OpCreate {
					t.Fatalf("customer %d: op %s in the middle of its history", id, ch.Op)
				}
				if prev == nil {
					t.Fatalf("customer %d: op %s after a delete", id, ch.Op)
				}
				if !bytes.Equal(env.Before, prev) {
					t.Fatalf("customer %d, ts_ms %d: before %s, previous after %s", id, ch.TSMillis, env.Before, prev)
				}
			}
			if ch.Op == OpUpdate {
				updates++
				b, a := parseRow(t, env.Before), parseRow(t, env.After)
				b.UpdatedAt, a.UpdatedAt = "", ""
				if *b.MarketingOptIn == *a.MarketingOptIn && b.Name == a.Name && b.Email == a.Email &&
					b.Country == a.Country && b.City == a.City && b.Segment == a.Segment {
					t.Fatalf("customer %d, ts_ms %d: update changes nothing: %s", id, ch.TSMillis, ch.Value)
				}
				if b.CreatedAt != a.CreatedAt || *b.CustomerID != *a.CustomerID {
					t.Fatalf("customer %d: update changes created_at or customer_id", id)
				}
			}
			prev = env.After
			if string(prev) == "null" {
				prev = nil
			}
		}
		histories++
	}
	if updates == 0 || histories == 0 {
		t.Errorf("%d histories with %d updates", histories, updates)
	}
}

// TestCustomersAgreeWithEvents: customer n is user n of the events with the same seed, in the
// same country, and the snapshot holds every user the events mention.
func TestCustomersAgreeWithEvents(t *testing.T) {
	const users = 3000
	country := make([]string, users+1)
	c := newCustomers(t, CustomersConfig{Seed: 42, Users: users})
	if err := c.Snapshot(func(ch CustomerChange) error {
		env, _ := parseChange(t, ch.Value)
		country[ch.CustomerID] = parseRow(t, env.After).Country
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g := newGen(t, Config{Seed: 42, Users: users})
	for i := 0; i < 20_000; i++ {
		ev := g.Next()
		if ev.UserID < 1 || ev.UserID > users {
			t.Fatalf("event %d: user_id %d has no customer", i, ev.UserID)
		}
		if ev.Country != country[ev.UserID] {
			t.Fatalf("event %d: user %d in %s, customer in %s", i, ev.UserID, ev.Country, country[ev.UserID])
		}
	}
	for _, code := range Countries() {
		if len(cities[code]) < 2 || nameGroups[code] == "" {
			t.Errorf("country %s: %d cities, name group %q", code, len(cities[code]), nameGroups[code])
		}
	}
}

// TestCustomersSnapshotError: fn's error stops the snapshot and is returned wrapped.
func TestCustomersSnapshotError(t *testing.T) {
	stop := errors.New("stop")
	c := newCustomers(t, CustomersConfig{Seed: 1, Users: 100})
	var n int
	err := c.Snapshot(func(CustomerChange) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("after %d rows: %v", n, err)
	}
}

func TestCustomersConfigErrors(t *testing.T) {
	for _, cfg := range []CustomersConfig{
		{Users: -1},
		{Rate: -1},
		{Rate: MaxCustomersRate * 2},
		{OutOfOrder: -0.1},
		{Duplicate: 1.5},
		{OutOfOrder: 0.6, Duplicate: 0.6},
	} {
		if _, err := NewCustomers(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err %v, want ErrInvalidConfig", cfg, err)
		}
	}
	c := newCustomers(t, CustomersConfig{})
	if got := c.Config(); got.Users != DefaultUsers || got.Rate != DefaultCustomersRate || !got.Start.Equal(DefaultStart) {
		t.Errorf("defaults: %+v", got)
	}
}
