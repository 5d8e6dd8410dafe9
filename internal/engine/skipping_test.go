package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/table"
)

// TestFilterFor: which part of a query's WHERE clause is pushed down to each Delta reference,
// for the shapes DuckDB's parser gives.
func TestFilterFor(t *testing.T) {
	ctx := context.Background()
	p, err := project.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, Options{Project: p})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := e.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const x, y = "delta_scan('/x')", "delta_scan('/y')"
	tests := []struct {
		query string
		want  []string // per reference in order of appearance; "" for no filter
	}{
		{"SELECT * FROM " + x + " WHERE a BETWEEN 1 AND 3 AND b IN (1, 2) AND c IS NULL",
			[]string{"(((a >= 1 AND a <= 3) AND b IN (1, 2)) AND c IS NULL)"}},
		{"SELECT * FROM " + x + " t WHERE t.a = 1 AND u.b = 2", []string{"a = 1"}},
		{"SELECT * FROM " + x + " AS T WHERE t.a = 1", []string{"a = 1"}},
		{"SELECT * FROM " + x + " WHERE delta_scan.a = 1", []string{"a = 1"}},
		{"SELECT * FROM " + x + " WHERE d = DATE '2024-01-01' AND e = '2024-01-02'::DATE",
			[]string{"(d = DATE '2024-01-01' AND e = DATE '2024-01-02')"}},
		{"SELECT * FROM " + x + " WHERE ts >= TIMESTAMP '2024-01-01 10:00' AND tz < TIMESTAMPTZ '2024-01-01 10:00:00.5+02'",
			[]string{"(ts >= TIMESTAMP '2024-01-01 10:00:00' AND tz < TIMESTAMP '2024-01-01 08:00:00.5')"}},
		{"SELECT * FROM " + x + " WHERE ts = TIMESTAMP '2024-01-01 10:00:00.1234567'", []string{""}},
		{"SELECT * FROM " + x + " WHERE e > -5 AND o = -2.50 AND v = 1e3 AND w <= CAST('7' AS INTEGER) AND z = 2.5::DOUBLE",
			[]string{"((((e > -5 AND o = -2.50) AND v = 1000) AND w <= 7) AND z = 2.5)"}},
		{"SELECT * FROM " + x + " WHERE 5 < a AND 'x' = s", []string{"(a > 5 AND s = 'x')"}},
		{"SELECT * FROM " + x + " WHERE flag = true AND other = false", []string{"(flag = true AND other = false)"}},
		{"SELECT * FROM " + x + " WHERE a = NULL", []string{"a = NULL"}},
		{"SELECT * FROM " + x + " WHERE a = 9007199254740993", []string{""}},
		{"SELECT * FROM " + x + " WHERE a = 2.5::INTEGER", []string{""}},
		{"SELECT * FROM " + x + " WHERE NOT (a = 1 OR b < 2)", []string{"(a != 1 AND b >= 2)"}},
		{"SELECT * FROM " + x + " WHERE a NOT BETWEEN 1 AND 2 AND b NOT IN (3) AND NOT (c IS NULL)",
			[]string{"(((a < 1 OR a > 2) AND b NOT IN (3)) AND c IS NOT NULL)"}},
		{"SELECT * FROM " + x + " WHERE a IS DISTINCT FROM 1 AND b IS NOT DISTINCT FROM 2 AND c IS NOT DISTINCT FROM NULL",
			[]string{"(((a != 1 OR a IS NULL) AND b = 2) AND c IS NULL)"}},
		{"SELECT * FROM " + x + " WHERE lower(s) = 'x' AND a = 1", []string{"a = 1"}},
		{"SELECT * FROM " + x + " WHERE a + 1 = 2", []string{""}},
		{"SELECT * FROM " + x + " WHERE a = 1 OR lower(s) = 'x'", []string{""}},
		{"SELECT * FROM " + x + " WHERE (a = 1 AND lower(s) = 'x') OR a = 2", []string{"(a = 1 OR a = 2)"}},
		{"SELECT * FROM " + x + " WHERE NOT (a = 1 AND lower(s) = 'x')", []string{""}},
		{"SELECT * FROM " + x + " WHERE NOT (a = 1 OR lower(s) = 'x')", []string{"a != 1"}},
		{"SELECT * FROM " + x + " WHERE a IN (SELECT 1) AND b = (SELECT 2) AND c = 3", []string{"c = 3"}},
		{"SELECT * FROM " + x + " WHERE a = b", []string{""}},
		{"SELECT * FROM " + x + " t WHERE t.s.f = 1 AND s.f = 2", []string{""}},
		{"SELECT * FROM " + x + " WHERE a = $1", []string{""}},

		// Project tables, and time travel.
		{"SELECT * FROM sales.orders WHERE orders.a = 1 AND sales.orders.b = 2 AND o.c = 3", []string{"(a = 1 AND b = 2)"}},
		{"SELECT * FROM sales.orders o WHERE o.a = 1 AND orders.b = 2", []string{"a = 1"}},
		{"SELECT * FROM sales.orders AT (VERSION => 3) WHERE a = 1", []string{"a = 1"}},
		{"SELECT * FROM " + x + " AT (VERSION => 3) WHERE a = 1 AND delta_scan.b = 2", []string{"(a = 1 AND b = 2)"}},
		{"SELECT * FROM " + x + " AS t AT (VERSION => 3) WHERE t.a = 1", []string{"a = 1"}},

		// Joins.
		{"SELECT * FROM " + x + " t JOIN " + y + " u ON t.k = u.k WHERE t.a = 1 AND u.b = 2 AND c = 3",
			[]string{"(a = 1 AND c = 3)", "(b = 2 AND c = 3)"}},
		{"SELECT * FROM " + x + " t, " + y + " u WHERE t.a = 1 AND u.b = 2", []string{"a = 1", "b = 2"}},
		{"SELECT * FROM " + x + " t LEFT JOIN " + y + " u ON t.k = u.k WHERE u.b IS NULL AND u.c = 1 AND t.a IS NULL AND (u.d IS NULL OR u.d = 2)",
			[]string{"a IS NULL", "c = 1"}},
		{"SELECT * FROM " + x + " t RIGHT JOIN " + y + " u ON t.k = u.k WHERE t.a IS NULL AND t.b IN (1) AND u.c IS NULL",
			[]string{"b IN (1)", "c IS NULL"}},
		{"SELECT * FROM " + x + " t FULL JOIN " + y + " u ON t.k = u.k WHERE t.a IS NOT NULL AND u.b IS NULL",
			[]string{"a IS NOT NULL", ""}},
		{"SELECT * FROM " + x + " t SEMI JOIN " + y + " u ON t.k = u.k WHERE a = 1", []string{"a = 1", ""}},
		{"SELECT * FROM " + x + " t ANTI JOIN " + y + " u ON t.k = u.k WHERE a = 1", []string{"a = 1", ""}},
		{"SELECT * FROM " + x + " t POSITIONAL JOIN " + y + " u WHERE t.a = 1 AND u.b = 1", []string{"", ""}},
		{"SELECT * FROM " + x + " t ASOF JOIN " + y + " u ON t.k = u.k AND t.ts >= u.ts WHERE t.a = 1 AND u.b = 1", []string{"a = 1", ""}},
		{"SELECT * FROM " + x + " t NATURAL JOIN " + y + " u WHERE k = 1", []string{"k = 1", "k = 1"}},
		{"SELECT * FROM (" + x + " t JOIN " + y + " u USING (k)) LEFT JOIN " + x + " v USING (k) WHERE v.a = 1 AND t.b = 2",
			[]string{"b = 2", "", "a = 1"}},

		// Where nothing is pushed.
		{"SELECT * FROM " + x + " TABLESAMPLE 10% WHERE a = 1", []string{""}},
		{"SELECT * FROM " + x + " WHERE a = 1 USING SAMPLE 10", []string{""}},
		{"SELECT * FROM (SELECT * FROM " + x + ") s WHERE a = 1", []string{""}},
		{"SELECT * FROM " + x + " t(p, q) WHERE p = 1", []string{""}},
		{"SELECT * FROM " + x + " PIVOT (sum(v) FOR k IN ('a', 'b')) WHERE a = 1", []string{""}},

		// Each SELECT has its own WHERE.
		{"WITH c AS (SELECT * FROM " + x + " WHERE a = 1) SELECT * FROM c WHERE b = 2", []string{"a = 1"}},
		{"SELECT * FROM " + x + " WHERE a = 1 UNION ALL SELECT * FROM " + x + " WHERE a = 2", []string{"a = 1", "a = 2"}},
		{"SELECT * FROM " + x + " t WHERE a = 1 AND EXISTS (SELECT 1 FROM " + y + " u WHERE u.k = t.k AND u.b = 3)",
			[]string{"a = 1", "b = 3"}},
		{"SELECT (SELECT max(a) FROM " + y + " WHERE b = 1) FROM " + x + " WHERE a = 2", []string{"b = 1", "a = 2"}},
	}
	for _, tt := range tests {
		st, err := newSkipStatement(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		_, refs, _, err := e.findRefs(ctx, c, st)
		if err != nil {
			t.Errorf("%s: %v", tt.query, err)
			continue
		}
		var got []string
		for _, r := range refs {
			if r.Filter == nil {
				got = append(got, "")
			} else {
				got = append(got, r.Filter.String())
			}
		}
		if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
			t.Errorf("%s:\n got  %q\n want %q", tt.query, got, tt.want)
		}
	}
}

func newSkipStatement(text string) (statement, error) {
	toks, err := tokenize(text)
	return statement{Text: text, Tokens: toks}, err
}

// eventsSchema is the table of the end-to-end skipping tests.
var eventsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "event_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
}, nil)

// eventRow is one row of eventsSchema; nil pointers are NULL.
type eventRow struct {
	day     int // days since 2024-01-01
	user    *int64
	amount  float64
	country string
	ts      time.Time
}

// eventSource is a table.Source of fixed rows.
type eventSource struct{ rows []eventRow }

func (s eventSource) Schema() *arrow.Schema { return eventsSchema }

func (s eventSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, eventsSchema)
	defer b.Release()
	base := arrow.Date32(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	for _, r := range s.rows {
		b.Field(0).(*array.Date32Builder).Append(base + arrow.Date32(r.day))
		if r.user == nil {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int64Builder).Append(*r.user)
		}
		b.Field(2).(*array.Float64Builder).Append(r.amount)
		if r.country == "" {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.StringBuilder).Append(r.country)
		}
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts.UnixMicro()))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return array.NewRecordReader(eventsSchema, []arrow.RecordBatch{rec})
}

// writeEvents appends rows to the table at loc (partitioned by event_date) as one commit.
func writeEvents(t *testing.T, loc string, rows []eventRow) {
	t.Helper()
	tb, err := table.Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Write(context.Background(), eventSource{rows}, table.WriteOptions{CreatePartitionBy: []string{"event_date"}}); err != nil {
		t.Fatal(err)
	}
}

var skipSeq atomic.Int64

// skipTable writes a table of nBatches commits of random events over days dates, one file per
// date and commit; user ids of batch i lie in [1000*i, 1000*i+999], so statistics separate them.
func skipTable(t *testing.T, days, nBatches, rowsPerBatch int, seed uint64) string {
	t.Helper()
	loc := filepath.Join(t.TempDir(), fmt.Sprintf("events%d", skipSeq.Add(1)))
	r := rand.New(rand.NewPCG(seed, 1))
	countries := []string{"ES", "FR", "DE", "PT"}
	for i := 0; i < nBatches; i++ {
		rows := make([]eventRow, rowsPerBatch)
		for j := range rows {
			u := int64(1000*i + r.IntN(1000))
			rows[j] = eventRow{day: r.IntN(days), user: &u, amount: float64(r.IntN(10000)) / 100, country: countries[r.IntN(len(countries))],
				ts: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(1e6)) * time.Second)}
			if j%17 == 0 {
				rows[j].user = nil
			}
			if j%13 == 0 {
				rows[j].country = ""
			}
		}
		writeEvents(t, loc, rows)
	}
	return loc
}

// skipQuery runs a query and returns its rows rendered as sorted strings, and its scan reports.
func skipQuery(t *testing.T, e *Engine, query string) ([]string, []ScanReport) {
	t.Helper()
	res, err := e.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer res.Records.Release()
	var out []string
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var parts []string
			for c := 0; c < int(rec.NumCols()); c++ {
				parts = append(parts, rec.Column(c).ValueStr(i))
			}
			out = append(out, strings.Join(parts, "|"))
		}
	}
	if err := res.Records.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	sort.Strings(out)
	return out, res.Scans
}

// TestSkippingMatchesFullScan: queries over a table whose files the filters prune return the rows
// the same filters return over all the files (the table read as a plain Parquet dataset by
// DuckDB, its partition column from the directory names), and skip what they should.
func TestSkippingMatchesFullScan(t *testing.T) {
	ctx := context.Background()
	loc := skipTable(t, 5, 6, 300, 7)
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ds := "delta_scan('" + loc + "')"
	full := plainScan(loc)
	cols := "event_date, user_id, amount, country, ts"
	tests := []struct {
		where   string
		maxRead int // files read at most (of 30)
		minRead int
	}{
		{"event_date = '2024-01-03'", 6, 6},
		{"event_date = DATE '2024-01-03' AND user_id BETWEEN 2000 AND 2100", 1, 1},
		{"user_id >= 5000", 5, 5},
		{"user_id < 0 OR user_id > 9999", 0, 0},
		{"user_id IS NULL", 30, 20},
		{"NOT (user_id < 3000) AND event_date IN ('2024-01-01', '2024-01-05')", 6, 6},
		{"event_date > '2024-01-02' AND event_date <= '2024-01-04' AND user_id = 4321", 2, 0},
		{"amount > 99.5", 30, 0},
		{"country = 'ES' AND user_id IN (17, 1017, 99999)", 10, 0},
		{"country IS NULL AND user_id < 1000", 5, 5},
		{"ts < TIMESTAMP '2024-01-01 00:00:00'", 0, 0},
		{"user_id IS DISTINCT FROM 5", 30, 30},
		{"lower(country) = 'es' AND user_id BETWEEN 1000 AND 1999", 5, 5},
	}
	for _, tt := range tests {
		got, scans := skipQuery(t, e, "SELECT "+cols+" FROM "+ds+" WHERE "+tt.where)
		want, _ := skipQuery(t, e, "SELECT "+cols+" FROM "+full+" WHERE "+tt.where)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: %d rows with skipping, %d over all files", tt.where, len(got), len(want))
		}
		if len(scans) != 1 {
			t.Fatalf("%s: %d scan reports", tt.where, len(scans))
		}
		s := scans[0]
		if s.FilesTotal != 30 || s.FilesScanned > tt.maxRead || s.FilesScanned < tt.minRead || s.FilesScanned+s.FilesSkipped != s.FilesTotal {
			t.Errorf("%s: read %d of %d files (skipped %d), want between %d and %d (filter %s)", tt.where, s.FilesScanned, s.FilesTotal, s.FilesSkipped, tt.minRead, tt.maxRead, s.Filter)
		}
	}

	// An outer join keeps the rows whose partner was pruned away only when the filter rejects them.
	q := "SELECT a.user_id, b.user_id FROM " + ds + " a LEFT JOIN " + ds + " b ON a.user_id = b.user_id + 1 AND a.event_date = b.event_date " +
		"WHERE a.event_date = '2024-01-02' AND (b.user_id IS NULL OR b.user_id < 1500)"
	got, scans := skipQuery(t, e, q)
	want, _ := skipQuery(t, e, strings.ReplaceAll(q, ds, full))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outer join: %d rows with skipping, %d over all files", len(got), len(want))
	}
	if scans[0].FilesScanned != 6 || scans[1].FilesScanned != 30 {
		t.Errorf("outer join: read %d and %d files, want 6 and 30", scans[0].FilesScanned, scans[1].FilesScanned)
	}
}

// plainScan is the table at loc read by DuckDB as a Parquet dataset, without Strata: every file
// of the directory (the tests' tables never remove files), the partition column from the paths.
func plainScan(loc string) string {
	return "(SELECT CAST(event_date AS DATE) AS event_date, user_id, amount, country, ts FROM read_parquet('" + loc +
		"/*/*.parquet', hive_partitioning = true, union_by_name = true))"
}

// TestSkippingRandomized compares, for random filters, the rows of a query over a table whose
// files the filter prunes with those of the same query over all its files. The data has the
// values pruning gets wrong most easily: NULLs, NaN and infinities, -0.0, strings longer than
// the statistics' prefix, with common prefixes and non-ASCII characters.
func TestSkippingRandomized(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	ctx := context.Background()
	loc := filepath.Join(t.TempDir(), "random")
	strs := []string{"", "ES", "ESP", "ES\u00f1a", "España", "FR", "abcdefghijklmnopqrstuvwxyz0123456789-long-a",
		"abcdefghijklmnopqrstuvwxyz0123456789-long-b", "abcdefghijklmnopqrstuvwxyz0123456789", "zz\uffff", "\U0001F600"}
	floats := []float64{0, math.Copysign(0, -1), 1.5, 50.25, 99.99, math.NaN(), math.Inf(1), math.Inf(-1), 1e300}
	for b := 0; b < 6; b++ {
		rows := make([]eventRow, 120)
		for j := range rows {
			u := int64(r.IntN(4000) + 1000*b)
			rows[j] = eventRow{day: r.IntN(4), user: &u, amount: float64(r.IntN(10000)) / 100, country: strs[r.IntN(len(strs))],
				ts: time.Date(2024, 1, 1+r.IntN(3), r.IntN(24), r.IntN(60), 0, r.IntN(1000)*1000, time.UTC)}
			if r.IntN(6) == 0 {
				rows[j].amount = floats[r.IntN(len(floats))]
			}
			if r.IntN(10) == 0 {
				rows[j].user = nil
			}
		}
		writeEvents(t, loc, rows)
	}
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	num := func() string { return fmt.Sprint(r.IntN(7000) - 10) }
	lit := func(col string) string {
		switch col {
		case "user_id":
			return pick(num(), num(), "'"+num()+"'", "CAST('"+num()+"' AS BIGINT)", num()+".5", num()+"e0", "NULL")
		case "amount":
			return pick("0", "-0.0", "1.5", "50.25", "99.99", "100", "1e308", "'NaN'::DOUBLE", "'Infinity'::DOUBLE", "'-Infinity'::DOUBLE", "50")
		case "country":
			return "'" + pick(strs...) + "'"
		case "event_date":
			return pick("'2024-01-0"+fmt.Sprint(1+r.IntN(5))+"'", "DATE '2024-01-0"+fmt.Sprint(1+r.IntN(5))+"'")
		}
		return fmt.Sprintf("TIMESTAMP '2024-01-0%d %02d:%02d:00.%06d'", 1+r.IntN(3), r.IntN(24), r.IntN(60), r.IntN(1000)*1000)
	}
	var pred func(depth int) string
	pred = func(depth int) string {
		if depth > 0 && r.IntN(3) == 0 {
			switch r.IntN(3) {
			case 0:
				return "(" + pred(depth-1) + " AND " + pred(depth-1) + ")"
			case 1:
				return "(" + pred(depth-1) + " OR " + pred(depth-1) + ")"
			}
			return "NOT (" + pred(depth-1) + ")"
		}
		col := pick("user_id", "amount", "country", "event_date", "ts")
		switch r.IntN(9) {
		case 0:
			return col + pick(" IS NULL", " IS NOT NULL")
		case 1:
			return col + pick(" BETWEEN ", " NOT BETWEEN ") + lit(col) + " AND " + lit(col)
		case 2:
			return col + pick(" IN (", " NOT IN (") + lit(col) + ", " + lit(col) + ")"
		case 3:
			return col + pick(" IS DISTINCT FROM ", " IS NOT DISTINCT FROM ") + lit(col)
		case 4:
			return lit(col) + " " + pick("=", "<", ">=") + " " + col
		case 5:
			return "lower(CAST(" + col + " AS VARCHAR)) = 'es'"
		}
		return col + " " + pick("=", "!=", "<", "<=", ">", ">=") + " " + lit(col)
	}
	full := plainScan(loc)
	skipped := 0
	for i := 0; i < 100; i++ {
		where := pred(3)
		got, scans := skipQuery(t, e, "SELECT * FROM delta_scan('"+loc+"') WHERE "+where)
		want, _ := skipQuery(t, e, "SELECT * FROM "+full+" WHERE "+where)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("seed %d, WHERE %s (pushed down: %s): %d rows with skipping, %d over all files", seed, where, scans[0].Filter, len(got), len(want))
		}
		skipped += scans[0].FilesSkipped
	}
	t.Logf("%d files skipped over 100 queries", skipped)
}

// TestExplainReportsScans: EXPLAIN resolves references and starts with their scan reports.
func TestExplainReportsScans(t *testing.T) {
	ctx := context.Background()
	loc := skipTable(t, 3, 2, 50, 3)
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, q := range []string{"EXPLAIN", "EXPLAIN ANALYZE"} {
		res, err := e.Query(ctx, q+" SELECT count(*) FROM delta_scan('"+loc+"') WHERE event_date = '2024-01-02'")
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var keys, values []string
		for res.Records.Next() {
			rec := res.Records.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				keys = append(keys, rec.Column(0).ValueStr(i))
				values = append(values, rec.Column(1).ValueStr(i))
			}
		}
		res.Records.Release()
		if len(keys) < 2 || keys[0] != explainScanKey {
			t.Fatalf("%s: rows %q", q, keys)
		}
		if want := "version 2: 2 of 6 files read (4 skipped"; !strings.Contains(values[0], want) || !strings.Contains(values[0], "event_date = '2024-01-02'") {
			t.Errorf("%s: first row %q, want it to contain %q and the filter", q, values[0], want)
		}
		if !strings.Contains(strings.Join(values[1:], "\n"), "READ_PARQUET") && !strings.Contains(strings.ToUpper(strings.Join(values[1:], "\n")), "PARQUET") {
			t.Errorf("%s: plan does not read Parquet:\n%s", q, strings.Join(values[1:], "\n"))
		}
		if len(res.Scans) != 1 || res.Scans[0].FilesScanned != 2 {
			t.Errorf("%s: scans %+v", q, res.Scans)
		}
	}
}
