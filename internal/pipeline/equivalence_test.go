package pipeline

// The equivalence property test (issue 5, "Done when" 1): random inputs for a three-layer
// pipeline (testdata/equivalence/pipeline.sql) are run as one batch, as several batches with
// input fed between them, as one stream fed while it runs, as a stream interrupted and resumed
// several times, and as batch and interrupted stream runs alternating; every table of every run
// must equal a reference computed by plain DuckDB SQL over the whole input.
//
//	go test -tags duckdb_arrow ./internal/pipeline/ -run Equivalence -v
//	STRATA_EQUIV_SEED=123 ...       replays one seed (printed by every run), with every profile
//	STRATA_EQUIV_LONG=1 ... (-long) several seeds with every profile, bigger inputs
//	STRATA_EQUIV_TRACE=1 ...        logs each pipeline run's duration
//
// By default one random seed runs, with the event-time profile it picks (see equivProfiles).
//
// The inputs (equivGenerate, deterministic by seed):
//   - topic events (2 partitions, key = user): JSON events out of order within the watermark
//     delay, exact duplicates (sometimes in the other partition), events late beyond the delay,
//     rows failing the DROP expectations (NULL user, negative amount), rows failing the kept one
//     (unknown or NULL country), unparseable timestamps, and invalid JSON (quarantined);
//   - topic customers_cdc (2 partitions, key = customer): Debezium envelopes (c, r, u, d; some
//     wrapped in {"payload": ...}), delivered out of sequence, with repeats and no-op updates, and
//     invalid JSON (quarantined);
//   - landing CSV files of shipments, dropped over time, one that does not cast (quarantined).
//
// The reference (equivReferenceSQL) follows the language's definitions, not the implementation:
// bronze = every well-formed record; silver = the rows passing WHERE and the DROP expectations,
// minus the late ones (event_time < the largest event time of the EARLIER rows of its partition,
// in offset order, minus the delay), first occurrence per event_id; the late table = the late
// rows; customers = SCD type 2 over the changes sorted by ts_ms; gold = the views' queries over
// the reference silver and customers.

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/backends"
	"github.com/stratalake/strata/internal/project"
)

func init() {
	if flag.Lookup("long") == nil {
		flag.Bool("long", false, "run the long randomized tests (many seeds, bigger inputs)")
	}
}

func equivLong() bool {
	if os.Getenv("STRATA_EQUIV_LONG") == "1" {
		return true
	}
	f := flag.Lookup("long")
	return f != nil && f.Value.String() == "true"
}

// equivProfile shapes the event times of a generated input.
type equivProfile struct {
	name string
	// delay is the WATERMARK delay of silver.events; delaySQL the same in the pipeline's syntax.
	delay    time.Duration
	delaySQL string
	// narrow: every on-time event falls in [t0, t0+span] with span <= delay, so no on-time event
	// can be late whatever rows come before it, and every old event (< t0-delay) comes after a
	// valid event of its partition, so it is late whatever rows come before it. Lateness then
	// does not depend on how the two topic partitions are interleaved downstream.
	// Otherwise ("wide") event times follow a clock over span, jittered within the delay, so
	// lateness depends on the rows of the event's own topic partition before it.
	narrow bool
	span   time.Duration
}

var equivProfiles = []equivProfile{
	{name: "narrow", delay: 4 * time.Hour, delaySQL: "4 HOURS", narrow: true, span: 4 * time.Hour},
	{name: "wide", delay: 10 * time.Minute, delaySQL: "10 MINUTES", span: 6 * time.Hour},
}

// equivSize is how much input a seed generates.
type equivSize struct {
	events, users, files, chunks int
}

// equivRecord is one produced log record; Partition and Offset are where it lands (the test
// produces to explicit partitions, in order, into a fresh log, and checks the offsets).
type equivRecord struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
}

// equivFile is one landing file.
type equivFile struct {
	Name, Content string
}

// equivChunk is the input fed at one time.
type equivChunk struct {
	events, cdc []equivRecord
	files       []equivFile
}

// equivInput is a generated input, in the order it is fed.
type equivInput struct {
	seed    uint64
	profile equivProfile
	events  []equivRecord
	cdc     []equivRecord
	files   []equivFile
	chunks  []equivChunk
	// stats counts what the generator made, for the log.
	stats map[string]int
}

var equivT0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// equivGenerate builds the input of a seed.
func equivGenerate(seed uint64, prof equivProfile, size equivSize) *equivInput {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	in := &equivInput{seed: seed, profile: prof, stats: map[string]int{}}
	dur := func(d time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(d))) }
	tsText := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

	// Events.
	var next [2]int64
	add := func(list *[]equivRecord, next *[2]int64, p int32, key, value string) {
		*list = append(*list, equivRecord{Partition: p, Offset: next[p], Key: key, Value: value})
		next[p]++
	}
	type sent struct {
		value string
		p     int32
		key   string
	}
	var valid []sent // well-formed events, for duplicates
	types := []string{"view", "cart", "order", "refund"}
	countries := []string{"US", "DE", "FR", "JP"}
	clock := equivT0
	step := prof.span / time.Duration(size.events)
	onTime := func() time.Time {
		if prof.narrow {
			return equivT0.Add(dur(prof.span))
		}
		return clock.Add(-dur(prof.delay * 9 / 10))
	}
	old := func() time.Time {
		if prof.narrow {
			return equivT0.Add(-prof.delay - time.Minute - dur(3*time.Hour))
		}
		return clock.Add(-prof.delay - time.Minute - dur(2*time.Hour))
	}
	amount := func() string { return fmt.Sprintf("%d.%02d", rng.IntN(500), rng.IntN(100)) }
	event := func(i int, user string, ts string, country string, amt string) string {
		c := "null"
		if country != "" {
			c = strconv.Quote(country)
		}
		return fmt.Sprintf(`{"event_id":"e%06d","user_id":%s,"ts":%q,"type":%q,"amount":%s,"country_code":%s}`,
			i, user, ts, types[rng.IntN(len(types))], amt, c)
	}
	for i := 0; i < size.events; i++ {
		clock = clock.Add(step)
		u := 1 + rng.IntN(size.users)
		p, key := int32(u%2), strconv.Itoa(u)
		user, ts, country, amt := strconv.Itoa(u), tsText(onTime()), countries[rng.IntN(len(countries))], amount()
		kind := "normal"
		if i >= 2 { // the first event of each partition is a valid on-time one
			switch r := rng.Float64(); {
			case r < 0.06 && len(valid) > 0:
				kind = "duplicate"
			case r < 0.11:
				kind, ts = "late", tsText(old())
			case r < 0.15:
				kind, user, p, key = "null_user", "null", int32(rng.IntN(2)), ""
			case r < 0.19:
				kind, amt = "negative_amount", "-"+amt
			case r < 0.21:
				kind, country = "unknown_country", "XX"
			case r < 0.22:
				kind, country = "null_country", ""
			case r < 0.24:
				kind, ts = "bad_ts", "yesterday"
			case r < 0.26:
				kind = "invalid_json"
			}
		} else { // an even user's event to partition 0, then an odd user's to partition 1
			u = 2*(1+rng.IntN(size.users/2)) - i
			p, key, user = int32(i), strconv.Itoa(u), strconv.Itoa(u)
		}
		in.stats[kind]++
		switch kind {
		case "duplicate":
			d := valid[rng.IntN(len(valid))]
			p, key := d.p, d.key
			if rng.IntN(10) < 3 {
				p = 1 - p
			}
			add(&in.events, &next, p, key, d.value)
			continue
		case "invalid_json":
			v := event(i, user, ts, country, amt)
			add(&in.events, &next, p, key, v[:len(v)/2])
			continue
		}
		v := event(i, user, ts, country, amt)
		add(&in.events, &next, p, key, v)
		valid = append(valid, sent{value: v, p: p, key: key})
	}

	// Customer changes (Debezium), per customer in sequence, then delivered out of sequence.
	type change struct {
		id    int
		tsMS  int64
		value string
	}
	var changes []change
	customers := max(3, size.users*3/4)
	names := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara"}
	tiers := []string{"gold", "silver", "bronze"}
	rowJSON := func(id int, name, tier, country string) string {
		c := "null"
		if country != "" {
			c = strconv.Quote(country)
		}
		return fmt.Sprintf(`{"customer_id":%d,"name":%q,"tier":%q,"country_code":%s}`, id, name, tier, c)
	}
	for id := 1; id <= customers; id++ {
		t := equivT0.Add(-dur(24 * time.Hour)).UnixMilli()
		exists := false
		var cur string
		var name, tier, country string
		n := 1 + rng.IntN(6)
		for k := 0; k < n; k++ {
			t += 1 + rng.Int64N(3_600_000)
			before, after, op := "null", "null", ""
			switch {
			case !exists:
				op = "c"
				if rng.IntN(10) == 0 {
					op = "r"
				}
				name, tier, country = names[rng.IntN(len(names))], tiers[rng.IntN(len(tiers))], countries[rng.IntN(len(countries))]
				if rng.IntN(8) == 0 {
					country = ""
				}
				after, exists = rowJSON(id, name, tier, country), true
				in.stats["cdc_create"]++
			case rng.IntN(5) == 0:
				op, before, exists = "d", cur, false
				in.stats["cdc_delete"]++
			default:
				op, before = "u", cur
				switch rng.IntN(4) {
				case 0: // no change: the same version goes on
					in.stats["cdc_noop_update"]++
				case 1:
					name = names[rng.IntN(len(names))]
				case 2:
					tier = tiers[rng.IntN(len(tiers))]
				default:
					country = countries[rng.IntN(len(countries))]
				}
				after = rowJSON(id, name, tier, country)
				in.stats["cdc_update"]++
			}
			if after != "null" {
				cur = after
			}
			env := fmt.Sprintf(`{"before":%s,"after":%s,"op":%q,"ts_ms":%d,"source":{"connector":"postgresql","table":"customers"}}`, before, after, op, t)
			if rng.IntN(10) < 3 {
				env = `{"schema":{"type":"struct","name":"customers.Envelope"},"payload":` + env + `}`
			}
			changes = append(changes, change{id: id, tsMS: t, value: env})
		}
	}
	// Out of sequence: order by ts_ms plus up to three hours of noise, so that a customer's
	// changes (at most an hour apart) often arrive in another order.
	noise := make(map[int]int64, len(changes))
	for i := range changes {
		noise[i] = rng.Int64N(3 * 3_600_000)
	}
	order := make([]int, len(changes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return changes[order[a]].tsMS+noise[order[a]] < changes[order[b]].tsMS+noise[order[b]]
	})
	// Repeats: some changes are delivered again, later.
	delivery := slices.Clone(order)
	for _, i := range order {
		if rng.IntN(25) == 0 {
			in.stats["cdc_repeat"]++
			at := slices.Index(delivery, i) + 1 + rng.IntN(len(delivery)/4+1)
			delivery = slices.Insert(delivery, min(at, len(delivery)), i)
		}
	}
	var cnext [2]int64
	for _, i := range delivery {
		c := changes[i]
		p, key := int32(c.id%2), strconv.Itoa(c.id)
		add(&in.cdc, &cnext, p, key, c.value)
		if rng.IntN(60) == 0 {
			in.stats["cdc_invalid_json"]++
			add(&in.cdc, &cnext, p, key, c.value[:len(c.value)/3])
		}
	}
	if in.stats["cdc_invalid_json"] == 0 {
		in.stats["cdc_invalid_json"]++
		add(&in.cdc, &cnext, 0, "2", `{"op":"u","after":{"customer_id":`)
	}

	// Landing files.
	carriers := []string{"DHL", "UPS", "FedEx", "LaPoste"}
	bad := rng.IntN(size.files)
	shipment := 0
	for f := 0; f < size.files; f++ {
		var b strings.Builder
		b.WriteString("shipment_id,event_id,carrier,weight,shipped_at\n")
		rows := 1 + rng.IntN(20)
		for r := 0; r < rows; r++ {
			shipment++
			weight := fmt.Sprintf("%d.%03d", rng.IntN(30), rng.IntN(1000))
			if f == bad && r == rows/2 {
				weight = "heavy"
			}
			fmt.Fprintf(&b, "%d,e%06d,%s,%s,%s\n", shipment, rng.IntN(size.events), carriers[rng.IntN(len(carriers))], weight,
				equivT0.Add(dur(prof.span)).Format("2006-01-02 15:04:05"))
		}
		in.files = append(in.files, equivFile{Name: fmt.Sprintf("ship-%03d.csv", f), Content: b.String()})
	}
	in.stats["files"] = size.files

	// Chunks: contiguous slices of each input, files spread over them.
	cuts := func(n int) []int {
		c := []int{0, n}
		for i := 1; i < size.chunks; i++ {
			c = append(c, rng.IntN(n+1))
		}
		slices.Sort(c)
		return c
	}
	ec, cc := cuts(len(in.events)), cuts(len(in.cdc))
	in.chunks = make([]equivChunk, size.chunks)
	for i := range in.chunks {
		in.chunks[i].events = in.events[ec[i]:ec[i+1]]
		in.chunks[i].cdc = in.cdc[cc[i]:cc[i+1]]
	}
	for _, f := range in.files {
		i := rng.IntN(size.chunks)
		in.chunks[i].files = append(in.chunks[i].files, f)
	}
	return in
}

// ---- The reference ----

// equivTable is one table compared: its canonical columns (the same SELECT list over the
// pipeline's table and over the reference), the reference's CTE, and the columns compared with
// a tolerance (floating point).
type equivTable struct {
	name  string
	ref   string
	cols  string
	float []int
}

var equivTables = []equivTable{
	{name: "bronze.events", ref: "bronze_events",
		cols: `"partition", "offset", event_id, user_id, ts, type, amount, country_code`},
	{name: "bronze.events_quarantine", ref: "bronze_events_quarantine",
		cols: `_quarantine_value, _quarantine_source, _quarantine_reason`},
	{name: "bronze.shipments", ref: "bronze_shipments",
		cols: `shipment_id, event_id, carrier, weight, shipped_at`},
	{name: "bronze.shipments_quarantine_files", ref: "bronze_shipments_quarantine_files",
		cols: `file`},
	{name: "silver.events", ref: "silver_events",
		cols: `event_id, user_id, ts, type, amount, country_code`},
	{name: "silver.events_late", ref: "silver_events_late",
		cols: `event_id, user_id, ts, type, amount, country_code`},
	{name: "silver.customers", ref: "silver_customers",
		cols: `customer_id, name, tier, country_code, __START_AT, __END_AT`},
	{name: "silver.customers_quarantine", ref: "silver_customers_quarantine",
		cols: `_quarantine_value, _quarantine_source, _quarantine_reason`},
	{name: "gold.user_stats", ref: "gold_user_stats",
		cols:  `user_id, events, CAST(total_amount AS DECIMAL(38, 2)), CAST(min_amount AS DECIMAL(38, 2)), CAST(max_amount AS DECIMAL(38, 2)), CAST(avg_amount AS DOUBLE), types`,
		float: []int{5}},
	{name: "gold.hourly_country", ref: "gold_hourly_country",
		cols: `CAST(hour AS TIMESTAMPTZ), country_code, events, CAST(revenue AS DECIMAL(38, 2)), users`},
	{name: "gold.tier_revenue", ref: "gold_tier_revenue",
		cols: `tier, events, CAST(revenue AS DECIMAL(38, 2)), users`},
	{name: "gold.carrier_stats", ref: "gold_carrier_stats",
		cols: `carrier, shipments, CAST(total_weight AS DECIMAL(38, 3)), CAST(max_weight AS DECIMAL(38, 3))`},
}

// equivReferenceSQL is the reference: plain DuckDB SQL over the raw inputs (raw_events and
// raw_cdc: partition, offset, value; the landing files in shipments), as CTEs named as in
// equivTables. delay is the watermark delay in microseconds.
func equivReferenceSQL(shipments string, delay time.Duration) string {
	d := fmt.Sprintf("to_microseconds(%d)", delay.Microseconds())
	ctes := [][2]string{
		// Bronze: every well-formed record, parsed as the pipeline's bronze does.
		{"bronze_events", `SELECT "partition", "offset", value->>'event_id' AS event_id,
			TRY_CAST(value->>'user_id' AS BIGINT) AS user_id, TRY_CAST(value->>'ts' AS TIMESTAMPTZ) AS ts,
			value->>'type' AS type, TRY_CAST(value->>'amount' AS DECIMAL(12, 2)) AS amount,
			value->>'country_code' AS country_code
			FROM raw_events WHERE json_valid(value)`},
		{"bronze_events_quarantine", `SELECT value AS _quarantine_value, 'events/' || "partition" || '@' || "offset" AS _quarantine_source,
			'invalid JSON' AS _quarantine_reason FROM raw_events WHERE NOT json_valid(value)`},
		{"raw_shipments", `SELECT * FROM read_csv(` + quoteString(shipments) + `, all_varchar = true, header = true, filename = true)`},
		{"bad_shipment_files", `SELECT DISTINCT filename FROM raw_shipments
			WHERE (shipment_id IS NOT NULL AND TRY_CAST(shipment_id AS BIGINT) IS NULL)
			   OR (weight IS NOT NULL AND TRY_CAST(weight AS DECIMAL(10, 3)) IS NULL)
			   OR (shipped_at IS NOT NULL AND TRY_CAST(shipped_at AS TIMESTAMP) IS NULL)`},
		{"bronze_shipments", `SELECT CAST(shipment_id AS BIGINT) AS shipment_id, event_id, carrier,
			CAST(weight AS DECIMAL(10, 3)) AS weight, CAST(shipped_at AS TIMESTAMP) AS shipped_at
			FROM raw_shipments WHERE filename NOT IN (SELECT filename FROM bad_shipment_files)`},
		{"bronze_shipments_quarantine_files", `SELECT parse_filename(filename) AS file FROM bad_shipment_files`},
		// Silver: the rows the transform and the DROP expectations let through, each with the
		// largest event time of the earlier such rows of its partition.
		{"silver_candidates", `SELECT *, max(ts) OVER (PARTITION BY "partition" ORDER BY "offset"
			ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_max
			FROM bronze_events WHERE ts IS NOT NULL AND user_id IS NOT NULL AND COALESCE(amount >= 0, false)`},
		{"silver_events_late", `SELECT event_id, user_id, ts, type, amount, country_code FROM silver_candidates
			WHERE ts < earlier_max - ` + d},
		{"silver_events", `SELECT DISTINCT ON (event_id) event_id, user_id, ts, type, amount, country_code
			FROM silver_candidates WHERE NOT COALESCE(ts < earlier_max - ` + d + `, false)
			ORDER BY event_id, "partition", "offset"`},
		// Customers: the Debezium changes (the row is after, before for deletes), first received
		// per (key, ts_ms), sorted by ts_ms; a version starts at an upsert that follows nothing, a
		// delete, or an upsert with other values, and ends at the change after its last upsert.
		{"cdc_envelopes", `SELECT "partition", "offset", CASE WHEN json_extract_string(value, '$.payload.op') IS NOT NULL
			THEN json_extract(value, '$.payload') ELSE CAST(value AS JSON) END AS env
			FROM raw_cdc WHERE json_valid(value)`},
		{"cdc_changes", `SELECT "partition", "offset", env->>'op' AS op, CAST(env->>'ts_ms' AS BIGINT) AS ts_ms,
			CAST(r->>'customer_id' AS BIGINT) AS customer_id, r->>'name' AS name, r->>'tier' AS tier,
			r->>'country_code' AS country_code
			FROM (SELECT *, CASE WHEN env->>'op' = 'd' THEN env->'before' ELSE env->'after' END AS r FROM cdc_envelopes)`},
		{"cdc_first", `SELECT DISTINCT ON (customer_id, ts_ms) * FROM cdc_changes ORDER BY customer_id, ts_ms, "partition", "offset"`},
		{"cdc_ordered", `SELECT *, lead(ts_ms) OVER w AS next_seq, lag(op) OVER w AS prev_op,
			lag(name) OVER w AS prev_name, lag(tier) OVER w AS prev_tier, lag(country_code) OVER w AS prev_country
			FROM cdc_first WINDOW w AS (PARTITION BY customer_id ORDER BY ts_ms)`},
		{"cdc_versions", `SELECT *, sum(CASE WHEN prev_op IS NULL OR prev_op = 'd' OR name IS DISTINCT FROM prev_name
			OR tier IS DISTINCT FROM prev_tier OR country_code IS DISTINCT FROM prev_country THEN 1 ELSE 0 END)
			OVER (PARTITION BY customer_id ORDER BY ts_ms ROWS UNBOUNDED PRECEDING) AS version
			FROM cdc_ordered WHERE op <> 'd'`},
		{"silver_customers", `SELECT customer_id, any_value(name) AS name, any_value(tier) AS tier,
			any_value(country_code) AS country_code, min(ts_ms) AS __START_AT,
			(list(next_seq ORDER BY ts_ms DESC))[1] AS __END_AT
			FROM cdc_versions GROUP BY customer_id, version`},
		{"silver_customers_quarantine", `SELECT value AS _quarantine_value, 'customers_cdc/' || "partition" || '@' || "offset" AS _quarantine_source,
			'invalid JSON' AS _quarantine_reason FROM raw_cdc WHERE NOT json_valid(value)`},
		// Gold: the views' queries over the reference tables.
		{"gold_user_stats", `SELECT user_id, count(*) AS events, sum(amount) AS total_amount, min(amount) AS min_amount,
			max(amount) AS max_amount, avg(amount) AS avg_amount, count(DISTINCT type) AS types
			FROM silver_events GROUP BY user_id`},
		{"gold_hourly_country", `SELECT time_bucket(INTERVAL '1 hour', ts) AS hour, country_code, count(*) AS events,
			sum(amount) AS revenue, count(DISTINCT user_id) AS users FROM silver_events GROUP BY ALL`},
		{"gold_tier_revenue", `SELECT c.tier, count(*) AS events, sum(e.amount) AS revenue, count(DISTINCT e.user_id) AS users
			FROM silver_events e JOIN silver_customers c ON e.user_id = c.customer_id
			WHERE c.__END_AT IS NULL GROUP BY c.tier`},
		{"gold_carrier_stats", `SELECT carrier, count(*) AS shipments, sum(weight) AS total_weight, max(weight) AS max_weight
			FROM bronze_shipments GROUP BY carrier`},
	}
	var b strings.Builder
	b.WriteString("WITH ")
	for i, c := range ctes {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(c[0] + " AS (" + c[1] + ")")
	}
	return b.String()
}

// equivRawSchema is the schema of raw_events and raw_cdc.
var equivRawSchema = arrow.NewSchema([]arrow.Field{
	{Name: "partition", Type: arrow.PrimitiveTypes.Int32},
	{Name: "offset", Type: arrow.PrimitiveTypes.Int64},
	{Name: "value", Type: arrow.BinaryTypes.String},
}, nil)

func equivRawReader(recs []equivRecord) array.RecordReader {
	b := array.NewRecordBuilder(memory.DefaultAllocator, equivRawSchema)
	defer b.Release()
	for _, r := range recs {
		b.Field(0).(*array.Int32Builder).Append(r.Partition)
		b.Field(1).(*array.Int64Builder).Append(r.Offset)
		b.Field(2).(*array.StringBuilder).Append(r.Value)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rr, err := array.NewRecordReader(equivRawSchema, []arrow.RecordBatch{rec})
	if err != nil {
		panic(err)
	}
	return rr
}

// equivReference computes every compared table's canonical rows from the whole input.
func equivReference(t *testing.T, eng *engine.Engine, in *equivInput) map[string][][]string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range in.files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), []byte(f.Content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	with := equivReferenceSQL(filepath.Join(dir, "*.csv"), in.profile.delay)
	out := map[string][][]string{}
	for _, tb := range equivTables {
		inputs := map[string]array.RecordReader{"raw_events": equivRawReader(in.events), "raw_cdc": equivRawReader(in.cdc)}
		res, err := eng.QueryWith(context.Background(), with+"\nSELECT "+tb.cols+" FROM "+tb.ref, inputs)
		for _, r := range inputs {
			r.Release()
		}
		if err != nil {
			t.Fatalf("reference %s: %v", tb.name, err)
		}
		out[tb.name] = equivCollect(t, res)
	}
	return out
}

// equivCollect reads a result's rows as strings (NULL as "NULL").
func equivCollect(t *testing.T, res *engine.Result) [][]string {
	t.Helper()
	defer res.Records.Release()
	var rows [][]string
	for res.Records.Next() {
		b := res.Records.RecordBatch()
		for i := 0; i < int(b.NumRows()); i++ {
			row := make([]string, b.NumCols())
			for j := range row {
				if b.Column(j).IsNull(i) {
					row[j] = "NULL"
				} else {
					row[j] = strings.Clone(b.Column(j).ValueStr(i))
				}
			}
			rows = append(rows, row)
		}
	}
	if err := res.Records.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// equivDiff compares two multisets of rows: exact columns exactly, float columns within 1e-6
// (plus a relative 1e-9): the runtime keeps the average of DECIMAL(p, s) values as
// DECIMAL(38, s+4) where DuckDB's avg gives a DOUBLE. It returns a description of the differences ("" when equal).
func equivDiff(got, want [][]string, float []int) string {
	key := func(r []string) string {
		var parts []string
		for j, v := range r {
			if !slices.Contains(float, j) {
				parts = append(parts, v)
			}
		}
		return strings.Join(parts, " | ")
	}
	count := func(rows [][]string) map[string][][]string {
		m := map[string][][]string{}
		for _, r := range rows {
			m[key(r)] = append(m[key(r)], r)
		}
		return m
	}
	g, w := count(got), count(want)
	var missing, extra, off []string
	for k, wr := range w {
		gr := g[k]
		for i := len(gr); i < len(wr); i++ {
			missing = append(missing, strings.Join(wr[i], " | "))
		}
		for i := 0; i < min(len(gr), len(wr)); i++ {
			for _, j := range float {
				a, _ := strconv.ParseFloat(gr[i][j], 64)
				b, _ := strconv.ParseFloat(wr[i][j], 64)
				if abs(a-b) > 1e-6+1e-9*abs(b) {
					off = append(off, fmt.Sprintf("%s: got %s, want %s", k, gr[i][j], wr[i][j]))
				}
			}
		}
	}
	for k, gr := range g {
		for i := len(w[k]); i < len(gr); i++ {
			extra = append(extra, strings.Join(gr[i], " | "))
		}
	}
	if len(missing)+len(extra)+len(off) == 0 {
		return ""
	}
	slices.Sort(missing)
	slices.Sort(extra)
	slices.Sort(off)
	show := func(title string, rows []string) string {
		if len(rows) == 0 {
			return ""
		}
		s := fmt.Sprintf("\n  %d %s:", len(rows), title)
		for i, r := range rows {
			if i == 12 {
				s += fmt.Sprintf("\n    ... %d more", len(rows)-i)
				break
			}
			s += "\n    " + r
		}
		return s
	}
	return fmt.Sprintf("%d rows, want %d", len(got), len(want)) + show("missing", missing) + show("unexpected", extra) + show("with other values", off)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// ---- The project and its runs ----

// equivProject is one run mode's project: a temporary folder with strata.yaml, the pipeline,
// the landing folder, the embedded log (topics created) and an engine.
type equivProject struct {
	t    *testing.T
	dir  string
	proj *project.Project
	eng  *engine.Engine
	log  log.Log
	runs int
}

func newEquivProject(t *testing.T, in *equivInput) *equivProject {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	yaml, err := os.ReadFile(filepath.Join("testdata", "equivalence", "strata.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	sql, err := os.ReadFile(filepath.Join("testdata", "equivalence", "pipeline.sql"))
	if err != nil {
		t.Fatal(err)
	}
	sql = []byte(strings.ReplaceAll(string(sql), "{{DELAY}}", in.profile.delaySQL))
	for _, d := range []string{"pipelines", "landing/shipments"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "strata.yaml"), yaml, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pipelines", "pipeline.sql"), sql, 0o644); err != nil {
		t.Fatal(err)
	}
	proj, err := project.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, engine.Options{Project: proj, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	l, err := backends.Open(ctx, proj.Config.Log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, topic := range []string{"events", "customers_cdc"} {
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	return &equivProject{t: t, dir: dir, proj: proj, eng: eng, log: l}
}

// feed produces a chunk's records (checking that they land at the offsets the reference uses)
// and drops its landing files (written under a hidden name, then renamed).
func (e *equivProject) feed(c equivChunk) {
	e.t.Helper()
	ctx := context.Background()
	for _, topic := range []struct {
		name string
		recs []equivRecord
	}{{"events", c.events}, {"customers_cdc", c.cdc}} {
		if len(topic.recs) == 0 {
			continue
		}
		recs := make([]log.Record, len(topic.recs))
		for i, r := range topic.recs {
			recs[i] = log.Record{Partition: r.Partition, Key: []byte(r.Key), Value: []byte(r.Value)}
		}
		got, err := e.log.Produce(ctx, topic.name, recs)
		if err != nil {
			e.t.Fatalf("produce to %s: %v", topic.name, err)
		}
		for i, r := range got {
			if r.Partition != topic.recs[i].Partition || r.Offset != topic.recs[i].Offset {
				e.t.Fatalf("produce to %s: record %d landed at %d@%d, the reference has it at %d@%d",
					topic.name, i, r.Partition, r.Offset, topic.recs[i].Partition, topic.recs[i].Offset)
			}
		}
	}
	for _, f := range c.files {
		dir := filepath.Join(e.dir, "landing", "shipments")
		tmp := filepath.Join(dir, "."+f.Name+".tmp")
		if err := os.WriteFile(tmp, []byte(f.Content), 0o644); err != nil {
			e.t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.Name)); err != nil {
			e.t.Fatal(err)
		}
	}
}

// run loads and validates the pipeline (as each `strata pipeline run` does) and runs it.
// A run stopped (ctx canceled) before it started running returns a "stopped" summary.
func (e *equivProject) run(ctx context.Context, opts RunOptions) (*Summary, error) {
	e.runs++
	start := time.Now()
	stopped := func(err error) (*Summary, error) {
		if ctx.Err() != nil {
			return &Summary{Mode: opts.Mode, Status: "stopped"}, nil
		}
		return nil, err
	}
	pl, err := Load(ctx, e.proj, e.eng)
	if err != nil {
		return stopped(err)
	}
	if _, err := pl.Validate(ctx); err != nil {
		return stopped(err)
	}
	opts.Log = e.log
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	sum, err := pl.Run(ctx, opts)
	if os.Getenv("STRATA_EQUIV_TRACE") == "1" {
		e.t.Logf("run %d (%s) took %s", e.runs, opts.Mode, time.Since(start))
	}
	return sum, err
}

// mustRun runs and fails the test on an error or a failed flow.
func (e *equivProject) mustRun(ctx context.Context, opts RunOptions) *Summary {
	e.t.Helper()
	sum, err := e.run(ctx, opts)
	if err != nil {
		e.t.Fatalf("run %d (%s): %v", e.runs, opts.Mode, err)
	}
	for _, f := range sum.Flows {
		if f.Status == "failed" {
			e.t.Fatalf("run %d (%s): %s failed: %s", e.runs, opts.Mode, f.Name, f.Error)
		}
	}
	return sum
}

// drain runs in stream mode until idle, and returns the batches it ran.
func (e *equivProject) drain() int64 {
	e.t.Helper()
	sum := e.mustRun(context.Background(), RunOptions{Mode: Stream, IdleStop: 600 * time.Millisecond})
	var n int64
	for _, f := range sum.Flows {
		n += f.Batches
	}
	return n
}

// compare checks every table against the reference.
func (e *equivProject) compare(ref map[string][][]string) {
	e.t.Helper()
	for _, tb := range equivTables {
		d, tn, _ := strings.Cut(tb.name, ".")
		loc, err := e.proj.TableLocation(d, tn)
		if err != nil {
			e.t.Fatal(err)
		}
		var got [][]string
		if tableExists(loc) {
			res, err := e.eng.Query(context.Background(), "SELECT "+tb.cols+" FROM "+tb.name)
			if err != nil {
				e.t.Errorf("%s: %v", tb.name, err)
				continue
			}
			got = equivCollect(e.t, res)
		}
		if diff := equivDiff(got, ref[tb.name], tb.float); diff != "" {
			e.t.Errorf("%s differs from the reference: %s", tb.name, diff)
		}
	}
}

// equivMode is one way of running the pipeline over the input.
type equivMode struct {
	name string
	run  func(e *equivProject, in *equivInput, rng *rand.Rand)
}

var equivModes = []equivMode{
	{"batch", func(e *equivProject, in *equivInput, _ *rand.Rand) {
		for _, c := range in.chunks {
			e.feed(c)
		}
		e.mustRun(context.Background(), RunOptions{Mode: Batch})
	}},
	{"batches", func(e *equivProject, in *equivInput, _ *rand.Rand) {
		for _, c := range in.chunks {
			e.feed(c)
			e.mustRun(context.Background(), RunOptions{Mode: Batch})
		}
	}},
	{"stream", func(e *equivProject, in *equivInput, rng *rand.Rand) {
		// One stream run fed while it runs (pauses far below IdleStop); should it still go idle
		// before the input is complete, it is started again.
		fed := make(chan struct{})
		pauses := make([]time.Duration, len(in.chunks))
		for i := range pauses {
			pauses[i] = time.Duration(rng.IntN(60)) * time.Millisecond
		}
		go func() {
			defer close(fed)
			for i, c := range in.chunks {
				time.Sleep(pauses[i])
				e.feed(c)
			}
		}()
		for {
			e.mustRun(context.Background(), RunOptions{Mode: Stream, IdleStop: time.Second})
			select {
			case <-fed:
			default:
				e.t.Logf("the stream run went idle before the input was complete; started again")
				continue
			}
			break
		}
		if n := e.drain(); n > 0 {
			e.t.Logf("the stream run stopped with input left: a drain run ran %d batches", n)
		}
	}},
	{"resumed", func(e *equivProject, in *equivInput, rng *rand.Rand) {
		equivInterrupted(e, in, rng, false)
	}},
	{"mixed", func(e *equivProject, in *equivInput, rng *rand.Rand) {
		equivInterrupted(e, in, rng, true)
	}},
}

// equivInterrupted feeds the input over several runs, each stopped at a random moment (after a
// random number of committed batches, or a random time), with the input of each segment fed
// while its run goes; with batches, some runs are batch runs instead. A drain run ends it.
func equivInterrupted(e *equivProject, in *equivInput, rng *rand.Rand, batches bool) {
	segments := 3 + rng.IntN(4)
	var notes []string
	for s := 0; s < segments; s++ {
		lo, hi := s*len(in.chunks)/segments, (s+1)*len(in.chunks)/segments
		if batches && rng.IntN(3) == 0 {
			for _, c := range in.chunks[lo:hi] {
				e.feed(c)
			}
			e.mustRun(context.Background(), RunOptions{Mode: Batch})
			notes = append(notes, "batch")
			continue
		}
		stopAfter := int64(1 + rng.IntN(30))
		wait := time.Duration(50+rng.IntN(1500)) * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		var committed atomic.Int64
		onEvent := func(ev Event) {
			if ev.Event == EventBatch || ev.Event == EventRefresh {
				if committed.Add(1) >= stopAfter {
					cancel()
				}
			}
		}
		done := make(chan error, 1)
		go func() {
			_, err := e.run(ctx, RunOptions{Mode: Stream, OnEvent: onEvent})
			done <- err
		}()
		pauses := make([]time.Duration, hi-lo)
		for i := range pauses {
			pauses[i] = time.Duration(rng.IntN(100)) * time.Millisecond
		}
		for i, c := range in.chunks[lo:hi] {
			time.Sleep(pauses[i])
			e.feed(c)
		}
		timer := time.AfterFunc(wait, cancel)
		err := <-done
		timer.Stop()
		cancel()
		if err != nil {
			e.t.Fatalf("stream run %d (segment %d, stopped after %d batches or %s): %v", e.runs, s, stopAfter, wait, err)
		}
		notes = append(notes, fmt.Sprintf("stream stopped after %d/%d events or %s", committed.Load(), stopAfter, wait))
	}
	n := e.drain()
	e.t.Logf("%d segments (%s), then a drain run of %d batches", segments, strings.Join(notes, "; "), n)
}

// equivCase is one generated input: a seed and an event-time profile.
type equivCase struct {
	seed    uint64
	profile equivProfile
}

// equivCases returns the inputs to run and their size: by default one random seed, with the
// profile it picks (seed%2); with STRATA_EQUIV_SEED that seed with every profile; in long mode
// several random seeds with every profile, and bigger inputs.
func equivCases(t *testing.T) ([]equivCase, equivSize) {
	size := equivSize{events: 400, users: 16, files: 5, chunks: 8}
	seeds, all := 1, false
	if equivLong() {
		size = equivSize{events: 3000, users: 60, files: 12, chunks: 16}
		seeds, all = 6, true
	}
	var list []uint64
	if s := os.Getenv("STRATA_EQUIV_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STRATA_EQUIV_SEED=%q: %v", s, err)
		}
		list, all = []uint64{seed}, true
	} else {
		for i := 0; i < seeds; i++ {
			list = append(list, rand.Uint64()>>1)
		}
	}
	var cases []equivCase
	for _, seed := range list {
		if all {
			for _, p := range equivProfiles {
				cases = append(cases, equivCase{seed, p})
			}
		} else {
			cases = append(cases, equivCase{seed, equivProfiles[seed%uint64(len(equivProfiles))]})
		}
	}
	return cases, size
}

func TestEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("the equivalence property test runs whole pipelines")
	}
	cases, size := equivCases(t)
	refEng, err := engine.Open(context.Background(), engine.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer refEng.Close()
	for _, c := range cases {
		seed, prof := c.seed, c.profile
		t.Run(fmt.Sprintf("%s/seed=%d", prof.name, seed), func(t *testing.T) {
			in := equivGenerate(seed, prof, size)
			t.Logf("seed %d (replay with STRATA_EQUIV_SEED=%d): %d events, %d changes, %d files in %d chunks; %v",
				seed, seed, len(in.events), len(in.cdc), len(in.files), len(in.chunks), in.stats)
			ref := equivReference(t, refEng, in)
			var counts []string
			for _, tb := range equivTables {
				counts = append(counts, fmt.Sprintf("%s=%d", tb.name, len(ref[tb.name])))
			}
			t.Logf("reference rows: %s", strings.Join(counts, " "))
			for i, m := range equivModes {
				t.Run(m.name, func(t *testing.T) {
					e := newEquivProject(t, in)
					m.run(e, in, rand.New(rand.NewPCG(seed, uint64(i))))
					e.compare(ref)
				})
			}
		})
	}
}
