package gen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func newGen(t *testing.T, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func render(t *testing.T, cfg Config, format Format, rows int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, format, newGen(t, cfg), rows, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDeterministic: the same Config gives the same bytes in every format; another seed differs.
func TestDeterministic(t *testing.T) {
	for _, anomalies := range []Anomalies{{}, DefaultAnomalies()} {
		for _, format := range Formats {
			cfg := Config{Seed: 7, Users: 500, Products: 100, DailyCycle: DefaultDailyCycle, Anomalies: anomalies}
			a := render(t, cfg, format, 5000)
			b := render(t, cfg, format, 5000)
			if !bytes.Equal(a, b) {
				t.Errorf("%s, anomalies %v: two runs with seed 7 differ", format, anomalies.any())
			}
			cfg.Seed = 8
			if c := render(t, cfg, format, 5000); bytes.Equal(a, c) {
				t.Errorf("%s, anomalies %v: seeds 7 and 8 give the same bytes", format, anomalies.any())
			}
		}
	}
}

// TestPinnedOutput pins the NDJSON of a small stream, so that a change of the stream (a new model,
// a different random source) is a deliberate decision: update the hash, and say so, when it is.
func TestPinnedOutput(t *testing.T) {
	cfg := Config{Seed: 42, Users: 1000, Products: 200, DailyCycle: DefaultDailyCycle, Anomalies: DefaultAnomalies()}
	out := render(t, cfg, FormatNDJSON, 2000)
	sum := sha256.Sum256(out)
	const want = "df3bee4de8b6bb729b330f9d62aa7432c8024c28d7d172ac0121c5854696dcd7"
	if got := hex.EncodeToString(sum[:]); got != want {
		lines := bytes.SplitN(out, []byte("\n"), 3)
		t.Errorf("the NDJSON of seed 42 changed: sha256 %s, want %s; first lines:\n%s\n%s", got, want, lines[0], lines[1])
	}
}

// TestDistributions checks that a plain stream looks like e-commerce traffic.
func TestDistributions(t *testing.T) {
	const rows = 200_000
	const days = 7.0
	cfg := Config{Seed: 1, Rate: RateFor(rows, days), Users: 20_000, Products: 1000, DailyCycle: DefaultDailyCycle}
	g := newGen(t, cfg)
	types := map[string]int{}
	countries := map[string]int{}
	devices := map[string]int{}
	users := map[int64]int{}
	sessionsOfUser := map[int64]map[uint64]bool{}
	ids := map[[16]byte]bool{}
	var prev int64
	for i := 0; i < rows; i++ {
		ev := g.Next()
		if ev.TS < prev {
			t.Fatalf("event %d: event_ts %d before the previous %d without anomalies", i, ev.TS, prev)
		}
		prev = ev.TS
		if ev.Arrival != ev.TS || ev.Anomaly != OnTime || ev.Malformation != WellFormed || ev.SchemaVersion != 2 {
			t.Fatalf("event %d: anomaly without anomalies configured: %+v", i, ev)
		}
		if ids[ev.ID] {
			t.Fatalf("event %d: duplicate event_id %s", i, ev.EventID())
		}
		ids[ev.ID] = true
		if ev.UserID < 1 || ev.UserID > int64(cfg.Users) {
			t.Fatalf("event %d: user_id %d out of [1, %d]", i, ev.UserID, cfg.Users)
		}
		types[ev.Type]++
		countries[ev.Country]++
		devices[ev.Device]++
		users[ev.UserID]++
		if sessionsOfUser[ev.UserID] == nil {
			sessionsOfUser[ev.UserID] = map[uint64]bool{}
		}
		sessionsOfUser[ev.UserID][ev.SessionID] = true
		switch ev.Type {
		case TypePageView, TypePayment, TypeAddToCart:
			if ev.RevenueCents != 0 {
				t.Fatalf("event %d: %s with revenue %d", i, ev.Type, ev.RevenueCents)
			}
		case TypeOrder:
			if ev.RevenueCents <= 0 || ev.OrderID == 0 || ev.ProductID == "" || ev.Quantity < 1 {
				t.Fatalf("event %d: bad order line %+v", i, ev)
			}
		case TypeRefund:
			if ev.RevenueCents >= 0 || ev.OrderID == 0 {
				t.Fatalf("event %d: bad refund %+v", i, ev)
			}
		default:
			t.Fatalf("event %d: unknown type %q", i, ev.Type)
		}
		if (ev.Type == TypeAddToCart) != (ev.Quantity > 0 && ev.OrderID == 0) {
			t.Fatalf("event %d: quantity/order of %s: %+v", i, ev.Type, ev)
		}
	}
	share := func(n int) float64 { return float64(n) / rows }
	between := func(what string, v, lo, hi float64) {
		t.Helper()
		if v < lo || v > hi {
			t.Errorf("%s = %.4f, want within [%v, %v]", what, v, lo, hi)
		}
	}
	between("page_view share", share(types[TypePageView]), 0.8, 0.95)
	between("add_to_cart share", share(types[TypeAddToCart]), 0.03, 0.12)
	between("order share", share(types[TypeOrder]), 0.005, 0.05)
	between("payments per order line", float64(types[TypePayment])/float64(types[TypeOrder]), 0.6, 1)
	if types[TypeRefund] == 0 {
		t.Error("no refunds in 7 days")
	}
	between("US share", share(countries["US"]), 0.15, 0.35)
	if countries["US"] <= countries["PT"] {
		t.Errorf("countries not skewed: %v", countries)
	}
	if !(devices["mobile"] > devices["desktop"] && devices["desktop"] > devices["tablet"] && devices["tablet"] > 0) {
		t.Errorf("device mix: %v", devices)
	}
	// Activity is skewed: the busiest user has far more events than the median user.
	var busiest int
	for _, n := range users {
		busiest = max(busiest, n)
	}
	between("users seen / users", float64(len(users))/float64(cfg.Users), 0.5, 1)
	if busiest < 20*rows/len(users) {
		t.Errorf("busiest user has %d events, mean %d: activity not skewed", busiest, rows/len(users))
	}
	// The rate holds: the events span about `days` days, and end inside the last one.
	st := g.Stats()
	span := time.Duration(st.LastTS-st.FirstTS) * time.Microsecond
	between("span in days", span.Hours()/24, days*0.97, days*1.01)
	if st.Events != rows || st.OnTime != rows || st.Sessions == 0 {
		t.Errorf("stats %+v", st)
	}
	between("events per session", float64(rows)/float64(st.Sessions), 3, 6)
}

// TestDailyCycle: with a daily cycle, evenings are busier than early mornings.
func TestDailyCycle(t *testing.T) {
	g := newGen(t, Config{Seed: 3, Rate: 0.5, DailyCycle: 0.5})
	var byHour [24]int
	for i := 0; i < 200_000; i++ {
		ev := g.Next()
		byHour[ev.Time().Hour()]++
	}
	if byHour[20] < 2*byHour[8] {
		t.Errorf("20:00 has %d events, 08:00 %d: no daily cycle", byHour[20], byHour[8])
	}
}

// TestAnomalies: every anomaly appears, near its configured share, and only when asked.
func TestAnomalies(t *testing.T) {
	const rows = 100_000
	a := Anomalies{Late: 0.01, OutOfOrder: 0.03, Duplicate: 0.02, Malformed: 0.02, SchemaV1: 0.1}
	g := newGen(t, Config{Seed: 11, Rate: 2, Users: 5000, Anomalies: a})
	seen := map[[16]byte]Event{}
	var lastArrival int64
	var malformed [5]int
	for i := 0; i < rows; i++ {
		ev := g.Next()
		if ev.Arrival < lastArrival {
			t.Fatalf("event %d: arrival %d before the previous %d", i, ev.Arrival, lastArrival)
		}
		lastArrival = ev.Arrival
		delay := time.Duration(ev.Arrival-ev.TS) * time.Microsecond
		switch ev.Anomaly {
		case OnTime, Malformed:
			if delay != 0 {
				t.Fatalf("event %d: %s delivered %s late", i, ev.Anomaly, delay)
			}
		case Late:
			if delay < LateMin || delay >= LateMax {
				t.Fatalf("event %d: late by %s", i, delay)
			}
		case OutOfOrder:
			if delay < OutOfOrderMin || delay >= OutOfOrderMax {
				t.Fatalf("event %d: out of order by %s", i, delay)
			}
		case Duplicate:
			orig, ok := seen[ev.ID]
			if !ok {
				t.Fatalf("event %d: duplicate of an event not delivered before", i)
			}
			if orig.TS != ev.TS || orig.Type != ev.Type || orig.RevenueCents != ev.RevenueCents || orig.SessionID != ev.SessionID {
				t.Fatalf("event %d: duplicate differs from its original:\n%+v\n%+v", i, orig, ev)
			}
		}
		if ev.Anomaly != Duplicate {
			if _, dup := seen[ev.ID]; dup {
				t.Fatalf("event %d: event_id %s delivered twice but not marked duplicate", i, ev.EventID())
			}
			seen[ev.ID] = ev
		}
		if ev.Anomaly == Malformed {
			malformed[ev.Malformation]++
		}
		if ev.SchemaVersion == 1 && ev.Device != "" {
			t.Fatalf("event %d: schema v1 with a device", i)
		}
	}
	st := g.Stats()
	near := func(what string, n int64, share float64) {
		t.Helper()
		got := float64(n) / rows
		if math.Abs(got-share) > share*0.25 {
			t.Errorf("%s: share %.4f, want about %.4f", what, got, share)
		}
	}
	near("late", st.Late, a.Late)
	near("out of order", st.OutOfOrder, a.OutOfOrder)
	near("duplicates", st.Duplicates, a.Duplicate)
	near("malformed", st.Malformed, a.Malformed)
	near("schema v1", st.SchemaV1, a.SchemaV1)
	for m := MissingUser; m <= Truncated; m++ {
		if malformed[m] == 0 || st.MalformedBy[m] != int64(malformed[m]) {
			t.Errorf("malformation %s: %d seen, stats %d", m, malformed[m], st.MalformedBy[m])
		}
	}
	if st.Events != rows || st.OnTime+st.Late+st.OutOfOrder+st.Duplicates+st.Malformed != rows {
		t.Errorf("stats do not add up: %+v", st)
	}
}

// TestNDJSON: every well-formed line parses with the schema's keys (no device in v1); malformed
// lines are broken as their kind says.
func TestNDJSON(t *testing.T) {
	g := newGen(t, Config{Seed: 5, Users: 1000, Anomalies: Anomalies{Malformed: 0.05, SchemaV1: 0.2, Duplicate: 0.02}})
	var buf []byte
	for i := 0; i < 20_000; i++ {
		ev := g.Next()
		buf = AppendJSON(buf[:0], &ev)
		if buf[len(buf)-1] != '\n' || bytes.Count(buf, []byte("\n")) != 1 {
			t.Fatalf("event %d: not one line: %q", i, buf)
		}
		var m map[string]any
		err := json.Unmarshal(buf, &m)
		if ev.Malformation == Truncated {
			if err == nil {
				t.Fatalf("event %d: truncated line parses: %s", i, buf)
			}
			continue
		}
		if err != nil {
			t.Fatalf("event %d: %v: %s", i, err, buf)
		}
		keys := len(Schema().Fields())
		if ev.SchemaVersion == 1 {
			keys--
			if _, ok := m["device"]; ok {
				t.Fatalf("event %d: v1 line has a device: %s", i, buf)
			}
		}
		if ev.Malformation == MissingUser {
			keys--
			if _, ok := m["user_id"]; ok {
				t.Fatalf("event %d: missing-user line has user_id: %s", i, buf)
			}
		}
		if len(m) != keys {
			t.Fatalf("event %d: %d keys, want %d: %s", i, len(m), keys, buf)
		}
		if m["event_id"] != ev.EventID() {
			t.Fatalf("event %d: event_id %v, want %s", i, m["event_id"], ev.EventID())
		}
		ts, err := time.Parse(time.RFC3339Nano, m["event_ts"].(string))
		if err != nil || ts.UnixMicro() != ev.TS || m["date"] != ev.Time().Format("2006-01-02") {
			t.Fatalf("event %d: event_ts %v date %v, want %s: %v", i, m["event_ts"], m["date"], ev.Time(), err)
		}
		rev, isNum := m["revenue"].(float64)
		switch {
		case ev.Malformation == BadRevenue:
			if m["revenue"] != "n/a" {
				t.Fatalf("event %d: bad revenue rendered %v", i, m["revenue"])
			}
		case !isNum || math.Round(rev*100) != float64(ev.RevenueCents):
			t.Fatalf("event %d: revenue %v, want %d cents", i, m["revenue"], ev.RevenueCents)
		}
	}
}

// TestCSV: the output reads with encoding/csv; truncated rows have fewer fields.
func TestCSV(t *testing.T) {
	cfg := Config{Seed: 9, Users: 1000, Anomalies: Anomalies{Malformed: 0.05, SchemaV1: 0.2}}
	out := render(t, cfg, FormatCSV, 10_000)
	g := newGen(t, cfg)
	r := csv.NewReader(bytes.NewReader(out))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil || strings.Join(header, ",") != CSVHeader() {
		t.Fatalf("header %v: %v", header, err)
	}
	for i := 0; ; i++ {
		rec, err := r.Read()
		if err == io.EOF {
			if i != 10_000 {
				t.Fatalf("%d rows, want 10000", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ev := g.Next()
		want := len(header)
		if ev.Malformation == Truncated {
			want = 6
		}
		if len(rec) != want || rec[0] != ev.EventID() {
			t.Fatalf("row %d: %v, want %d fields of %s", i, rec, want, ev.EventID())
		}
		if ev.Malformation != Truncated && (rec[7] == "") != (ev.SchemaVersion == 1) {
			t.Fatalf("row %d: device %q in schema version %d", i, rec[7], ev.SchemaVersion)
		}
	}
}

// TestParquetAndArrow: the Parquet output reads back as the same rows the Reader builds, and the
// typed forms of malformed events hold.
func TestParquetAndArrow(t *testing.T) {
	cfg := Config{Seed: 13, Users: 1000, Anomalies: Anomalies{Malformed: 0.05, SchemaV1: 0.2}}
	const rows = 30_000
	data := render(t, cfg, FormatParquet, rows)
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != rows || !sameColumns(tbl.Schema(), Schema()) {
		t.Fatalf("parquet: %d rows, schema %s", tbl.NumRows(), tbl.Schema())
	}

	r := NewReader(context.Background(), newGen(t, cfg), rows, 7000)
	defer r.Release()
	g := newGen(t, cfg)
	var batches, n int
	var recs []arrow.RecordBatch
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
		batches++
		for i := 0; i < int(rec.NumRows()); i++ {
			ev := g.Next()
			users := rec.Column(2).(*array.Int64)
			types := rec.Column(1).(*array.String)
			devices := rec.Column(7).(*array.String)
			revenue := rec.Column(11).(*array.Decimal128)
			if (ev.Malformation == MissingUser || ev.Malformation == Truncated) != users.IsNull(i) {
				t.Fatalf("row %d: user_id null %v for %s", n, users.IsNull(i), ev.Malformation)
			}
			if ev.Malformation == Truncated && !(types.IsNull(i) && revenue.IsNull(i)) {
				t.Fatalf("row %d: truncated row keeps event_type or revenue", n)
			}
			if ev.Malformation == BadRevenue && ev.Type != TypeRefund && revenue.Value(i).Sign() >= 0 {
				t.Fatalf("row %d: bad revenue not negative", n)
			}
			if (ev.SchemaVersion == 1 || ev.Malformation == Truncated) != devices.IsNull(i) {
				t.Fatalf("row %d: device null %v in schema version %d", n, devices.IsNull(i), ev.SchemaVersion)
			}
			n++
		}
	}
	if r.Err() != nil || n != rows || batches != 5 {
		t.Fatalf("reader: %d rows in %d batches: %v", n, batches, r.Err())
	}
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	want := array.NewTableFromRecords(tbl.Schema(), recs)
	defer want.Release()
	if !array.TableEqual(tbl, want) {
		t.Error("the Parquet file does not hold the Reader's rows")
	}
}

func TestSourceOpen(t *testing.T) {
	src := &Source{Config: Config{Seed: 1}, Rows: 10}
	rr, err := src.Open(context.Background(), Schema())
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for rr.Next() {
		rows += int(rr.RecordBatch().NumRows())
	}
	rr.Release()
	if rows != 10 {
		t.Errorf("%d rows, want 10", rows)
	}
	other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := src.Open(context.Background(), other); err == nil {
		t.Error("Open with another schema succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rr, err = src.Open(ctx, Schema())
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	if rr.Next() || !errors.Is(rr.Err(), context.Canceled) {
		t.Errorf("a cancelled reader: %v", rr.Err())
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteDir(context.Background(), filepath.Join(dir, "out"), FormatNDJSON, newGen(t, Config{Seed: 2}), 2500, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("files %v", files)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if want := render(t, Config{Seed: 2}, FormatNDJSON, 2500); !bytes.Equal(all, want) {
		t.Error("the files together differ from one stream")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"negative rate", Config{Rate: -1}},
		{"infinite rate", Config{Rate: math.Inf(1)}},
		{"cycle 1", Config{DailyCycle: 1}},
		{"negative users", Config{Users: -3}},
		{"share above 1", Config{Anomalies: Anomalies{SchemaV1: 1.5}}},
		{"NaN share", Config{Anomalies: Anomalies{Late: math.NaN()}}},
		{"shares above 1 together", Config{Anomalies: Anomalies{Late: 0.6, Duplicate: 0.6}}},
	} {
		if _, err := New(c.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", c.name, err)
		}
	}
	for _, s := range []string{"parquet", "NDJSON", "jsonl", "csv"} {
		if _, err := ParseFormat(s); err != nil {
			t.Errorf("ParseFormat(%q): %v", s, err)
		}
	}
	if _, err := ParseFormat("xml"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseFormat(xml): %v", err)
	}
}

func TestRendering(t *testing.T) {
	ev := Event{ID: [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 0x43, 4, 0x85, 6, 7, 8, 9, 10, 11, 12}, SessionID: 0xabc, OrderID: 42}
	for _, c := range []struct{ got, want string }{
		{ev.EventID(), "deadbeef-0102-4304-8506-0708090a0b0c"},
		{ev.SessionIDString(), "0000000000000abc"},
		{ev.OrderIDString(), "ORD-0000000042"},
		{string(appendCents(nil, 0)), "0.00"},
		{string(appendCents(nil, 1205)), "12.05"},
		{string(appendCents(nil, -7)), "-0.07"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	ev.TS = -1 // one microsecond before the epoch: 1969-12-31
	if ev.Date() != -1 {
		t.Errorf("Date of -1µs = %d", ev.Date())
	}
}

// sameColumns compares names and types, not metadata.
func sameColumns(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.Fields() {
		if a.Field(i).Name != b.Field(i).Name || !arrow.TypeEqual(a.Field(i).Type, b.Field(i).Type) {
			return false
		}
	}
	return true
}
