package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/backends"
	"github.com/stratalake/strata/internal/pipeline"
	"github.com/stratalake/strata/internal/project"
)

// The test project: orders from a topic through bronze (parsed by schema, malformed records
// quarantined), silver (expectations, deduplication by order_id) and gold (an incremental
// aggregate, a recomputed one, one read through a temporary view), plus a scheduled file whose
// table lands in the analytics domain.
const salesSQL = `
CREATE OR REFRESH STREAMING TABLE bronze.orders
COMMENT 'raw orders from the orders topic'
AS SELECT * FROM STREAM(read_topic('orders', format => 'json',
  schema => 'order_id BIGINT, user_id BIGINT, country VARCHAR, amount DECIMAL(10,2), ts TIMESTAMPTZ'));

CREATE OR REFRESH STREAMING TABLE silver.orders (
  CONSTRAINT valid_user EXPECT (user_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT positive_amount EXPECT (amount > 0)
)
AS SELECT DISTINCT ON (order_id) order_id, user_id, country, amount, ts
FROM STREAM(bronze.orders) WATERMARK ts DELAY OF INTERVAL 10 MINUTES;

CREATE OR REFRESH MATERIALIZED VIEW gold.user_stats AS
SELECT user_id, count(*) AS orders, sum(amount) AS revenue
FROM silver.orders GROUP BY user_id;

CREATE OR REFRESH MATERIALIZED VIEW gold.country_revenue AS
SELECT country, sum(amount) AS revenue, sum(amount) / sum(sum(amount)) OVER () AS share
FROM silver.orders GROUP BY country;

CREATE TEMPORARY VIEW big_orders AS SELECT * FROM silver.orders WHERE amount >= 50;

CREATE OR REFRESH MATERIALIZED VIEW gold.big_orders AS
SELECT country, count(*) AS orders FROM big_orders GROUP BY country;
`

const nightlySQL = `
CREATE OR REFRESH MATERIALIZED VIEW daily AS
SELECT CAST(ts AS DATE) AS day, count(*) AS orders FROM silver.orders GROUP BY ALL;
`

const projectYAML = `name: shop
storage: ./warehouse
log:
  dir: ./log
pipelines:
  - pipelines/sales.sql
  - files: [pipelines/nightly.sql]
    domain: analytics
    schedule: "0 2 * * *"
serve:
  freshness_sla: 5m
  endpoints:
    - path: /api/users/{id}/stats
      description: a user's totals
      sql: SELECT user_id, sum(orders)::BIGINT AS orders, sum(revenue) AS revenue FROM gold.user_stats WHERE user_id = {id} GROUP BY user_id
      params: {id: BIGINT}
      single: true
    - path: /api/users/{id}/total
      sql: SELECT {id} AS id, sum(revenue) AS revenue FROM gold.user_stats WHERE user_id = {id}
      params: {id: BIGINT}
      single: true
    - path: /api/pending/{id}
      sql: SELECT {id} AS id, count(*) AS n FROM gold.not_written_yet
      params: {id: BIGINT}
      single: true
    - path: /api/countries/{country}/orders
      sql: SELECT order_id, amount FROM silver.orders WHERE country = {country} AND ts >= {from} ORDER BY order_id
      params: {country: VARCHAR, from: DATE}
  dashboard:
    title: Shop
    panels:
      - name: revenue_by_country
        title: Revenue by country
        chart: bar
        x: country
        y: [revenue]
        sql: SELECT country, revenue FROM gold.country_revenue ORDER BY country
      - name: orders
        chart: stat
        sql: SELECT count(*) AS orders FROM silver.orders
      - name: broken
        chart: table
        sql: SELECT * FROM gold.nope
`

// orderEvents generates n order events from first: users 1..20, four countries, amounts up to
// 99.99. Every 37th is malformed JSON, every 23rd has no user, every 19th a negative amount, and
// every 41st is sent twice. want accumulates what gold.user_stats must hold (orders and revenue
// in cents per user); malformed counts the malformed records.
func orderEvents(first, n int, want map[int64][2]int64, malformed *int) []log.Record {
	countries := []string{"ES", "FR", "DE", "PT"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []log.Record
	for i := first; i < first+n; i++ {
		if i%37 == 0 {
			recs = append(recs, log.Record{Value: []byte(fmt.Sprintf(`{"order_id": %d, "user_id": `, i))})
			*malformed++
			continue
		}
		user := int64(i%20 + 1)
		cents := int64(i*7919%9999 + 1)
		if i%19 == 0 {
			cents = -100
		}
		ev := map[string]any{"order_id": i, "country": countries[user%4], "amount": fmt.Sprintf("%d.%02d", cents/100, abs(cents%100)),
			"ts": base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)}
		if cents < 0 {
			ev["amount"] = "-1.00"
		}
		if i%23 != 0 {
			ev["user_id"] = user
			w := want[user]
			want[user] = [2]int64{w[0] + 1, w[1] + cents}
		}
		v, _ := json.Marshal(ev)
		recs = append(recs, log.Record{Key: []byte(strconv.FormatInt(user, 10)), Value: v})
		if i%41 == 0 {
			recs = append(recs, log.Record{Key: []byte(strconv.FormatInt(user, 10)), Value: v})
		}
	}
	return recs
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// fixture is the test project after one batch run of its pipeline, with a server over it.
type fixture struct {
	dir       string
	proj      *project.Project
	eng       *engine.Engine
	log       log.Log
	pl        *pipeline.Pipeline
	mon       *Monitor
	srv       *Server
	ts        *httptest.Server
	sum       *pipeline.Summary
	want      map[int64][2]int64
	malformed int
	produced  int
}

// indexHTML is the fake web UI's page.
const indexHTML = "<!doctype html><title>strata test ui</title><script src=\"/static/app.js\"></script>"

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir(), want: map[int64][2]int64{}}
	if err := os.MkdirAll(filepath.Join(f.dir, "pipelines"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"strata.yaml": projectYAML, "pipelines/sales.sql": salesSQL, "pipelines/nightly.sql": nightlySQL} {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if f.proj, err = project.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	if f.eng, err = engine.Open(ctx, engine.Options{Project: f.proj}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.eng.Close() })
	if f.log, err = backends.Open(ctx, f.proj.Config.Log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.log.Close() })
	if err := f.log.CreateTopic(ctx, "orders", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	recs := orderEvents(1, 400, f.want, &f.malformed)
	if _, err := f.log.Produce(ctx, "orders", recs); err != nil {
		t.Fatal(err)
	}
	f.produced = len(recs)
	if f.pl, err = pipeline.Load(ctx, f.proj, f.eng); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pl.Validate(ctx); err != nil {
		t.Fatal(err)
	}
	f.mon = NewMonitor(f.pl, nil)
	if f.sum, err = f.pl.Run(ctx, pipeline.RunOptions{Mode: pipeline.Batch, Log: f.log, OnEvent: f.mon.Observe}); err != nil {
		t.Fatal(err)
	}
	assets := fstest.MapFS{
		"index.html": {Data: []byte(indexHTML)},
		"app.js":     {Data: []byte("console.log('strata');\n")},
		"style.css":  {Data: []byte("body { margin: 0 }\n")},
	}
	if f.srv, err = New(Options{Project: f.proj, Engine: f.eng, Pipeline: f.pl, Monitor: f.mon, Log: f.log, Assets: assets}); err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	t.Cleanup(func() { f.srv.Close() }) // runs before the engine's: the hot store reads through it
	return f
}

// flowSummary returns the run's summary of a flow.
func (f *fixture) flowSummary(t testing.TB, name string) *pipeline.FlowSummary {
	t.Helper()
	for _, fs := range f.sum.Flows {
		if fs.Name == name {
			return fs
		}
	}
	t.Fatalf("the run has no flow %s", name)
	return nil
}

// do sends a request and returns the answer's status, headers and body.
func (f *fixture) do(t testing.TB, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// answer is /api/sql's JSON shape, decoded.
type answer struct {
	Columns   []column         `json:"columns"`
	Rows      []map[string]any `json:"rows"`
	RowCount  int              `json:"row_count"`
	Truncated bool             `json:"truncated"`
	ElapsedMS float64          `json:"elapsed_ms"`
	Error     string           `json:"error"`
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// cents reads a JSON number with two decimals as cents.
func cents(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON number", v, v)
	}
	s := n.String()
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) != 2 {
		t.Fatalf("decimal %s does not have its 2 decimals", s)
	}
	w, err1 := strconv.ParseInt(whole, 10, 64)
	c, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("decimal %s: %v %v", s, err1, err2)
	}
	if strings.HasPrefix(whole, "-") {
		return w*100 - c
	}
	return w*100 + c
}

// TestServer runs the test project's pipeline once, then asks every route of the API, the
// project's endpoints, the dashboard, the metrics and the web UI, and checks the answers against
// what the generator produced and what the run reported.
func TestServer(t *testing.T) {
	f := newFixture(t)

	sqlCases := []struct {
		name, method, path, body string
		code                     int
		check                    func(t *testing.T, h http.Header, b []byte)
	}{
		{name: "query gold", method: "POST", path: "/api/sql", body: `{"sql": "SELECT user_id, orders, revenue FROM gold.user_stats ORDER BY user_id"}`, code: 200,
			check: func(t *testing.T, h http.Header, b []byte) {
				a := decode[answer](t, b)
				wantTypes := []string{"BIGINT", "BIGINT", "DECIMAL(38,2)"}
				for i, c := range a.Columns {
					if c.Type != wantTypes[i] {
						t.Errorf("column %s has type %s, want %s", c.Name, c.Type, wantTypes[i])
					}
				}
				if a.RowCount != len(f.want) || len(a.Rows) != len(f.want) || a.Truncated {
					t.Fatalf("%d rows (row_count %d, truncated %v), want %d", len(a.Rows), a.RowCount, a.Truncated, len(f.want))
				}
				for _, r := range a.Rows {
					u, _ := r["user_id"].(json.Number).Int64()
					n, _ := r["orders"].(json.Number).Int64()
					if w := f.want[u]; n != w[0] || cents(t, r["revenue"]) != w[1] {
						t.Errorf("user %d: %d orders, %d cents; want %d and %d", u, n, cents(t, r["revenue"]), w[0], w[1])
					}
				}
			}},
		{name: "GET q", method: "GET", path: "/api/sql?q=" + urlQuery("SELECT 1 AS one, 'x' AS s, DATE '2026-01-02' AS d, TIMESTAMPTZ '2026-01-02 03:04:05.123456+00' AS ts, NULL AS n, 9007199254740993::BIGINT AS big, [1,2] AS l, {'a': 1} AS st"), code: 200,
			check: func(t *testing.T, h http.Header, b []byte) {
				var a struct {
					Rows []json.RawMessage `json:"rows"`
				}
				if err := json.Unmarshal(b, &a); err != nil || len(a.Rows) != 1 {
					t.Fatalf("%s: %v", b, err)
				}
				want := `{"one":1,"s":"x","d":"2026-01-02","ts":"2026-01-02T03:04:05.123456Z","n":null,"big":"9007199254740993","l":[1,2],"st":{"a":1}}`
				if string(a.Rows[0]) != want {
					t.Errorf("row %s, want %s", a.Rows[0], want)
				}
			}},
		{name: "limit truncates", method: "POST", path: "/api/sql", body: `{"sql": "SELECT * FROM range(10)", "limit": 3}`, code: 200,
			check: func(t *testing.T, h http.Header, b []byte) {
				if a := decode[answer](t, b); a.RowCount != 3 || !a.Truncated {
					t.Errorf("row_count %d truncated %v, want 3 and true", a.RowCount, a.Truncated)
				}
			}},
		{name: "limit equal to rows", method: "POST", path: "/api/sql", body: `{"sql": "SELECT * FROM range(10)", "limit": 10}`, code: 200,
			check: func(t *testing.T, h http.Header, b []byte) {
				if a := decode[answer](t, b); a.RowCount != 10 || a.Truncated {
					t.Errorf("row_count %d truncated %v, want 10 and false", a.RowCount, a.Truncated)
				}
			}},
		{name: "csv", method: "POST", path: "/api/sql", body: `{"sql": "SELECT range AS n, 'a,b' AS s, NULL::INT AS z FROM range(3)", "format": "csv"}`, code: 200,
			check: func(t *testing.T, h http.Header, b []byte) {
				if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
					t.Errorf("content type %s", ct)
				}
				recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				want := [][]string{{"n", "s", "z"}, {"0", "a,b", ""}, {"1", "a,b", ""}, {"2", "a,b", ""}}
				if fmt.Sprint(recs) != fmt.Sprint(want) {
					t.Errorf("csv %q, want %q", recs, want)
				}
			}},
		{name: "arrow", method: "POST", path: "/api/sql", body: `{"sql": "SELECT range AS n FROM range(5)", "format": "arrow", "limit": 4}`, code: 200,
			check: func(t *testing.T, h http.Header, b []byte) {
				if h.Get("Content-Type") != "application/vnd.apache.arrow.stream" || h.Get("X-Strata-Truncated") != "true" {
					t.Errorf("headers %v", h)
				}
				rd, err := ipc.NewReader(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				defer rd.Release()
				var got []int64
				for rd.Next() {
					got = append(got, rd.RecordBatch().Column(0).(*array.Int64).Int64Values()...)
				}
				if fmt.Sprint(got) != "[0 1 2 3]" {
					t.Errorf("arrow rows %v, want [0 1 2 3]", got)
				}
			}},
		{name: "describe history", method: "POST", path: "/api/sql", body: `{"sql": "DESCRIBE HISTORY silver.orders LIMIT 1"}`, code: 200,
			check: func(t *testing.T, h http.Header, b []byte) {
				if a := decode[answer](t, b); a.RowCount != 1 || a.Rows[0]["operation"] == nil {
					t.Errorf("history: %s", b)
				}
			}},
		{name: "parse error", method: "POST", path: "/api/sql", body: `{"sql": "SELECT FROM WHERE"}`, code: 400, check: wantError("syntax error")},
		{name: "unknown column", method: "POST", path: "/api/sql", body: `{"sql": "SELECT nope FROM gold.user_stats"}`, code: 400, check: wantError("nope")},
		{name: "unknown table", method: "POST", path: "/api/sql", body: `{"sql": "SELECT * FROM sales.nope"}`, code: 400, check: wantError("sales.nope")},
		{name: "insert refused", method: "POST", path: "/api/sql", body: `{"sql": "INSERT INTO gold.user_stats VALUES (1, 2, 3)"}`, code: 400, check: wantError("INSERT statements cannot run")},
		{name: "with delete refused", method: "POST", path: "/api/sql", body: `{"sql": "WITH x AS (SELECT 1) DELETE FROM gold.user_stats"}`, code: 400, check: wantError("DELETE")},
		{name: "explain analyze refused", method: "POST", path: "/api/sql", body: `{"sql": "EXPLAIN ANALYZE UPDATE gold.user_stats SET orders = 0"}`, code: 400, check: wantError("UPDATE")},
		{name: "two statements refused", method: "POST", path: "/api/sql", body: `{"sql": "SELECT 1; DROP TABLE gold.user_stats"}`, code: 400, check: wantError("one statement")},
		{name: "bad format", method: "POST", path: "/api/sql", body: `{"sql": "SELECT 1", "format": "xml"}`, code: 400, check: wantError("xml")},
		{name: "bad limit", method: "GET", path: "/api/sql?q=SELECT+1&limit=1000001", code: 400, check: wantError("limit")},
		{name: "no sql", method: "POST", path: "/api/sql", body: `{}`, code: 400, check: wantError("no SQL")},
		{name: "bad body", method: "POST", path: "/api/sql", body: `SELECT 1`, code: 400, check: wantError("JSON object")},
		{name: "timeout", method: "POST", path: "/api/sql", body: `{"sql": "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000) b", "timeout_ms": 1}`, code: 504, check: wantError("timeout of 1ms")},
	}
	for _, c := range sqlCases {
		t.Run("sql/"+c.name, func(t *testing.T) {
			code, h, b := f.do(t, c.method, c.path, c.body)
			if code != c.code {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, code, c.code, b)
			}
			c.check(t, h, b)
		})
	}

	routeCases := []struct {
		name, path string
		code       int
		check      func(t *testing.T, b []byte)
	}{
		{name: "tables", path: "/api/tables", code: 200, check: func(t *testing.T, b []byte) {
			var got struct {
				Tables []tableListItem `json:"tables"`
			}
			mustJSON(t, b, &got)
			kinds := map[string]string{}
			for _, tb := range got.Tables {
				kinds[tb.Name] = tb.Kind
				if tb.Version < 0 || tb.NumFiles < 0 || tb.LastCommit == "" || tb.FreshnessSLASeconds != 300 {
					t.Errorf("table %+v", tb)
				}
				if tb.Domain != "_strata" && tb.Name != "bronze.orders_quarantine" && tb.FreshnessSeconds == nil {
					t.Errorf("table %s (fed from the topic) has no freshness", tb.Name)
				}
			}
			for name, kind := range map[string]string{"bronze.orders": "streaming_table", "silver.orders": "streaming_table",
				"gold.user_stats": "materialized_view", "gold.big_orders": "materialized_view", "analytics.daily": "materialized_view",
				"_strata.pipeline_events": "table"} {
				if kinds[name] != kind {
					t.Errorf("table %s has kind %q, want %q (tables: %v)", name, kinds[name], kind, kinds)
				}
			}
		}},
		{name: "table detail", path: "/api/tables/bronze.orders", code: 200, check: func(t *testing.T, b []byte) {
			var d tableDetail
			mustJSON(t, b, &d)
			var cols []string
			for _, c := range d.Schema {
				cols = append(cols, c.Name+":"+c.Type)
			}
			if !strings.HasPrefix(strings.Join(cols, ","), "order_id:long,user_id:long,country:string,amount:decimal(10,2),ts:timestamp") {
				t.Errorf("schema %v", cols)
			}
			if d.NumRows == nil || *d.NumRows != int64(f.produced-f.malformed) {
				t.Errorf("num_rows %v, want %d", d.NumRows, f.produced-f.malformed)
			}
			if d.Comment != "raw orders from the orders topic" || d.Kind != "streaming_table" || d.FreshnessSeconds == nil {
				t.Errorf("comment %q kind %q freshness %v", d.Comment, d.Kind, d.FreshnessSeconds)
			}
			if len(d.Files) == 0 || d.Files[0].Rows == nil || d.Files[0].Size <= 0 || len(d.History) == 0 ||
				d.History[0].Version != d.Version || d.History[0].Operation == "" {
				t.Errorf("files %+v history %+v", d.Files, d.History)
			}
		}},
		{name: "unknown table", path: "/api/tables/sales.nope", code: 404, check: wantBodyError("unknown table sales.nope")},
		{name: "not a table name", path: "/api/tables/orders", code: 400, check: wantBodyError("domain.table")},
		{name: "rows limit", path: "/api/tables/silver.orders/rows?limit=5", code: 200, check: func(t *testing.T, b []byte) {
			if a := decode[answer](t, b); a.RowCount != 5 || !a.Truncated || a.Rows[0]["order_id"] == nil {
				t.Errorf("rows: %s", b)
			}
		}},
		{name: "rows at version 0", path: "/api/tables/silver.orders/rows?version=0", code: 200, check: func(t *testing.T, b []byte) {
			if a := decode[answer](t, b); a.RowCount != 0 || len(a.Columns) != 5 {
				t.Errorf("version 0 (the creation) has rows or lacks columns: %s", b)
			}
		}},
		{name: "rows future version", path: "/api/tables/silver.orders/rows?version=999", code: 404, check: wantBodyError("no version 999")},
		{name: "rows bad version", path: "/api/tables/silver.orders/rows?version=x", code: 400, check: wantBodyError("version")},
		{name: "user stats", path: "/api/users/3/stats", code: 200, check: func(t *testing.T, b []byte) {
			got := decode[map[string]any](t, b)
			n, _ := got["orders"].(json.Number).Int64()
			if w := f.want[3]; n != w[0] || cents(t, got["revenue"]) != w[1] {
				t.Errorf("user 3: %s, want %d orders and %d cents", b, w[0], w[1])
			}
			versions, _ := got["versions"].(map[string]any)
			if got["as_of"] == "" || got["elapsed_ms"] == nil || versions["gold.user_stats"] == nil {
				t.Errorf("as_of, elapsed_ms or versions missing: %s", b)
			}
		}},
		{name: "user without data", path: "/api/users/999/stats", code: 404, check: wantBodyError("id=999")},
		{name: "user aggregate null", path: "/api/users/999/total", code: 404, check: wantBodyError("id=999")},
		{name: "user negative id", path: "/api/users/-1/total", code: 404, check: wantBodyError("id=-1")},
		{name: "user bad id", path: "/api/users/abc/stats", code: 400, check: wantBodyError("parameter id")},
		// A declared endpoint over a table its pipeline has not written yet: not ready, not a bad request.
		{name: "table not written yet", path: "/api/pending/1", code: 503, check: wantBodyError("not ready")},
		{name: "country orders", path: "/api/countries/ES/orders?from=2026-01-01", code: 200, check: func(t *testing.T, b []byte) {
			if a := decode[answer](t, b); a.RowCount == 0 || a.Rows[0]["amount"] == nil {
				t.Errorf("no rows: %s", b)
			}
		}},
		{name: "country quote", path: "/api/countries/E'S/orders?from=2026-01-01", code: 200, check: func(t *testing.T, b []byte) {
			if a := decode[answer](t, b); a.RowCount != 0 {
				t.Errorf("a quote in a VARCHAR parameter matched rows: %s", b)
			}
		}},
		{name: "country missing param", path: "/api/countries/ES/orders", code: 400, check: wantBodyError("missing parameter from")},
		{name: "country bad date", path: "/api/countries/ES/orders?from=yesterday", code: 400, check: wantBodyError("parameter from")},
		{name: "dashboard", path: "/api/dashboard", code: 200, check: func(t *testing.T, b []byte) {
			var d struct {
				Title  string          `json:"title"`
				AsOf   string          `json:"as_of"`
				Panels []panelAnswer   `json:"panels"`
				Fresh  []freshnessItem `json:"freshness"`
			}
			mustJSON(t, b, &d)
			if d.Title != "Shop" || d.AsOf == "" || len(d.Panels) != 3 {
				t.Fatalf("dashboard %s", b)
			}
			if p := d.Panels[0]; p.Name != "revenue_by_country" || len(p.Rows) != 4 || p.Error != "" || p.X != "country" {
				t.Errorf("panel %+v", p)
			}
			if p := d.Panels[1]; p.Chart != "stat" || len(p.Rows) != 1 || p.Error != "" {
				t.Errorf("panel %+v", p)
			}
			if p := d.Panels[2]; !strings.Contains(p.Error, "gold.nope") || len(p.Rows) != 0 {
				t.Errorf("the broken panel has no error: %+v", p)
			}
			var names []string
			for _, fr := range d.Fresh {
				names = append(names, fr.Table)
				if fr.Seconds == nil || !fr.OK || fr.SLASeconds != 300 {
					t.Errorf("freshness %+v", fr)
				}
			}
			if got := strings.Join(names, ","); got != "analytics.daily,gold.big_orders,gold.country_revenue,gold.user_stats" {
				t.Errorf("freshness tables %s, want the pipeline's outputs", got)
			}
		}},
		{name: "healthz", path: "/healthz", code: 200, check: wantBody(`{"status":"ok"}`)},
		{name: "unknown api", path: "/api/nope", code: 404, check: wantBodyError("no API route")},
		{name: "index", path: "/", code: 200, check: wantBody(indexHTML)},
		{name: "spa route", path: "/tables/silver.orders", code: 200, check: wantBody(indexHTML)},
		{name: "static", path: "/static/app.js", code: 200, check: wantBody("console.log('strata');\n")},
		{name: "static missing", path: "/static/nope.js", code: 404, check: wantBodyError("not found")},
		{name: "static escape", path: "/static/../strata.yaml", code: 404, check: func(*testing.T, []byte) {}},
	}
	for _, c := range routeCases {
		t.Run("route/"+c.name, func(t *testing.T) {
			code, _, b := f.do(t, "GET", c.path, "")
			if code != c.code {
				t.Fatalf("GET %s: status %d, want %d: %s", c.path, code, c.code, b)
			}
			c.check(t, b)
		})
	}

	t.Run("assets headers", func(t *testing.T) {
		code, h, _ := f.do(t, "GET", "/static/app.js", "")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") || h.Get("ETag") == "" || h.Get("Cache-Control") != cacheStatic {
			t.Fatalf("status %d headers %v", code, h)
		}
		req, _ := http.NewRequest("GET", f.ts.URL+"/static/app.js", nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("revalidation: status %d, want 304", resp.StatusCode)
		}
		_, h, _ = f.do(t, "GET", "/", "")
		if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Cache-Control") != cacheIndex {
			t.Errorf("index headers %v", h)
		}
	})

	t.Run("pipelines", func(t *testing.T) {
		code, _, b := f.do(t, "GET", "/api/pipelines", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		var got struct {
			Flows   []flowItem `json:"flows"`
			Started string     `json:"started"`
		}
		mustJSON(t, b, &got)
		flows := map[string]flowItem{}
		for _, fl := range got.Flows {
			flows[fl.Name] = fl
		}
		if len(flows) != 7 || got.Started == "" {
			t.Fatalf("flows %v", flows)
		}
		for _, name := range []string{"bronze.orders", "silver.orders", "gold.user_stats", "gold.country_revenue", "gold.big_orders"} {
			fl, fs := flows[name], f.flowSummary(t, name)
			if fl.Status != "idle" || fl.Batches != fs.Batches || fl.RowsIn != fs.RowsIn || fl.RowsOut != fs.RowsOut ||
				fl.RowsDropped != fs.RowsDropped || fl.RowsQuarantined != fs.RowsQuarantined || fl.RowsDuplicate != fs.RowsDuplicate ||
				fl.Version != fs.Version || fl.FreshnessSeconds == nil || fl.LastBatch == "" || fl.Execution != fs.Execution {
				t.Errorf("flow %s: %+v; the run says %+v", name, fl, fs)
			}
		}
		if b := flows["bronze.orders"]; fmt.Sprint(b.Inputs) != "[topic:orders]" || b.RowsQuarantined != int64(f.malformed) || b.RateIn <= 0 {
			t.Errorf("bronze.orders: inputs %v, %d quarantined (want %d), rate in %v", b.Inputs, b.RowsQuarantined, f.malformed, b.RateIn)
		}
		s := flows["silver.orders"]
		want := map[string]string{"valid_user": "drop", "positive_amount": "keep"}
		for _, e := range s.Expectations {
			var failed int64
			for _, x := range f.flowSummary(t, "silver.orders").Expectations {
				if x.Name == e.Name {
					failed = x.Failed
				}
			}
			if want[e.Name] != e.Action || e.Failed != failed || e.Failed == 0 || e.Passed == 0 {
				t.Errorf("expectation %+v; the run says %d failed", e, failed)
			}
		}
		if len(s.Expectations) != 2 || s.RowsDuplicate == 0 || s.RowsDropped == 0 {
			t.Errorf("silver.orders: %+v", s)
		}
		// Its dedup keys are its state: one per order id seen within the watermark, each of
		// several bytes.
		if s.StateEntries <= 0 || s.StateBytes < 4*s.StateEntries {
			t.Errorf("silver.orders: state of %d entries, %d bytes", s.StateEntries, s.StateBytes)
		}
		if d := flows["analytics.daily"]; d.Schedule != "0 2 * * *" || d.Status != "scheduled" || d.Domain != "analytics" {
			t.Errorf("analytics.daily: %+v", d)
		}
		if v := flows["big_orders"]; v.Kind != "temporary_view" || v.Execution != "view" || v.Status != "idle" || fmt.Sprint(v.Inputs) != "[silver.orders]" {
			t.Errorf("big_orders: %+v", v)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		code, _, b := f.do(t, "GET", "/metrics", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("parsing the metrics: %v\n%s", err, b)
		}
		for _, fs := range f.sum.Flows {
			for kind, n := range map[string]int64{"in": fs.RowsIn, "out": fs.RowsOut, "dropped": fs.RowsDropped,
				"quarantined": fs.RowsQuarantined, "duplicate": fs.RowsDuplicate, "late": fs.RowsLate} {
				if got := metricValue(t, fams, "strata_pipeline_rows_total", "flow", fs.Name, "kind", kind); got != float64(n) {
					t.Errorf("rows %s of %s: %v, want %d", kind, fs.Name, got, n)
				}
			}
			if got := metricValue(t, fams, "strata_pipeline_batches_total", "flow", fs.Name); got != float64(fs.Batches) {
				t.Errorf("batches of %s: %v, want %d", fs.Name, got, fs.Batches)
			}
			if fs.Name == "silver.orders" {
				if got := metricValue(t, fams, "strata_pipeline_state", "flow", fs.Name, "unit", "entries"); got <= 0 {
					t.Errorf("state entries of %s: %v", fs.Name, got)
				}
			}
			for _, e := range fs.Expectations {
				if got := metricValue(t, fams, "strata_expectation_failures_total", "flow", fs.Name, "expectation", e.Name); got != float64(e.Failed) {
					t.Errorf("failures of %s.%s: %v, want %d", fs.Name, e.Name, got, e.Failed)
				}
			}
		}
		if got := metricValue(t, fams, "strata_ingest_records_total", "topic", "orders"); got != float64(f.produced) {
			t.Errorf("ingested %v, want %d", got, f.produced)
		}
		silver := f.flowSummary(t, "silver.orders")
		if got := metricValue(t, fams, "strata_table_version", "table", "silver.orders"); got != float64(silver.Version) {
			t.Errorf("silver.orders version %v, want %d", got, silver.Version)
		}
		for _, name := range []string{"strata_table_bytes", "strata_table_files", "strata_table_freshness_seconds"} {
			if got := metricValue(t, fams, name, "table", "gold.user_stats"); got <= 0 && name != "strata_table_freshness_seconds" || math.IsNaN(got) {
				t.Errorf("%s{table=gold.user_stats} = %v", name, got)
			}
		}
		if h := fams["strata_pipeline_batch_duration_seconds"]; h == nil || len(h.Metric) == 0 || h.Metric[0].GetHistogram().GetSampleCount() == 0 {
			t.Errorf("no batch duration histogram: %v", h)
		}
		if got := metricValue(t, fams, "strata_http_requests_total", "route", "GET /api/tables/{name}", "code", "404"); got < 1 {
			t.Errorf("http requests of GET /api/tables/{name} with 404: %v", got)
		}
		if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
			t.Errorf("no Go or process metrics")
		}
	})

	t.Run("events", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a guard, not an assertion
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/api/events", nil)
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %s", ct)
		}
		rd := bufio.NewReader(resp.Body)
		if line, err := rd.ReadString('\n'); err != nil || line != ": connected\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		before := f.flowSummary(t, "silver.orders").Version
		if _, err := f.log.Produce(ctx, "orders", orderEvents(1000, 20, map[int64][2]int64{}, new(int))); err != nil {
			t.Fatal(err)
		}
		if _, err := f.pl.Run(ctx, pipeline.RunOptions{Mode: pipeline.Batch, Log: f.log, OnEvent: f.mon.Observe}); err != nil {
			t.Fatal(err)
		}
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("the stream ended before a refresh event: %v", err)
			}
			if line != "event: refresh\n" {
				continue
			}
			data, _ := rd.ReadString('\n')
			c := decode[Commit](t, []byte(strings.TrimPrefix(data, "data: ")))
			if c.Table == "" || c.Version < 0 || c.Time.IsZero() {
				t.Fatalf("refresh event %q", data)
			}
			if c.Table == "silver.orders" {
				if c.Version <= before {
					t.Fatalf("silver.orders refreshed at version %d, not after %d", c.Version, before)
				}
				return
			}
		}
	})
}

// TestServeShutdown: Serve answers on its listener, and when its context ends it returns nil
// and ends the open event streams.
func TestServeShutdown(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || line != ": connected\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	if _, err := io.Copy(io.Discard, rd); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the event stream did not end cleanly: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestNewRejectsBadConfig: New names the endpoint or panel at fault, wrapping ErrConfig.
func TestNewRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.Open(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	okEndpoint := project.ServeEndpoint{Path: "/api/users/{id}", SQL: "SELECT {id} AS id", Params: map[string]string{"id": "BIGINT"}}
	okPanel := project.DashboardPanel{Name: "p", Chart: "line", X: "t", Y: []string{"v"}, SQL: "SELECT 1 AS t, 2 AS v"}
	cases := []struct {
		name string
		edit func(c *project.ServeConfig)
		want string
	}{
		{"valid", func(c *project.ServeConfig) {}, ""},
		{"undeclared path param", func(c *project.ServeConfig) { c.Endpoints[0].Path = "/api/users/{user}" }, "{user} is not declared"},
		{"bad type", func(c *project.ServeConfig) { c.Endpoints[0].Params["id"] = "INT128" }, `type "INT128"`},
		{"write sql", func(c *project.ServeConfig) { c.Endpoints[0].SQL = "DELETE FROM a.b WHERE id = {id}" }, "DELETE statements cannot run"},
		{"unknown placeholder", func(c *project.ServeConfig) { c.Endpoints[0].SQL = "SELECT {id}, {other}" }, "{other} is not a declared param"},
		{"unused param", func(c *project.ServeConfig) { c.Endpoints[0].SQL = "SELECT '{id}'" }, "id is not used"},
		{"relative path", func(c *project.ServeConfig) { c.Endpoints[0].Path = "api/users/{id}" }, "must start with /"},
		{"conflicting path", func(c *project.ServeConfig) { c.Endpoints[0].Path = "/api/tables/{id}" }, "conflicts"},
		{"bad chart", func(c *project.ServeConfig) { c.Dashboard.Panels[0].Chart = "pie" }, `chart "pie"`},
		{"chart without y", func(c *project.ServeConfig) { c.Dashboard.Panels[0].Y = nil }, "needs x"},
		{"duplicate panel", func(c *project.ServeConfig) { c.Dashboard.Panels = append(c.Dashboard.Panels, okPanel) }, "used by another panel"},
		{"panel writes", func(c *project.ServeConfig) { c.Dashboard.Panels[0].SQL = "COPY x TO 'y'" }, "COPY statements cannot run"},
		{"bad sla", func(c *project.ServeConfig) { c.FreshnessSLA = "5 minutes" }, "freshness_sla"},
		{"bad freshness table", func(c *project.ServeConfig) { c.FreshnessTables = []string{"orders"} }, "not a domain.table"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := project.ServeConfig{Endpoints: []project.ServeEndpoint{okEndpoint}, Dashboard: project.Dashboard{Panels: []project.DashboardPanel{okPanel}}}
			cfg.Endpoints[0].Params = map[string]string{"id": "BIGINT"}
			c.edit(&cfg)
			dir := t.TempDir()
			p := &project.Project{Dir: dir, File: filepath.Join(dir, "strata.yaml"), StorageRoot: dir, Config: project.Config{Serve: cfg}}
			_, err := New(Options{Project: p, Engine: eng})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case c.want == "":
			case err == nil:
				t.Fatalf("New accepted the configuration, want an error with %q", c.want)
			case !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want):
				t.Fatalf("New: %v, want ErrConfig with %q", err, c.want)
			}
		})
	}
}

// TestCheckReadOnly: which statements the SQL API runs.
func TestCheckReadOnly(t *testing.T) {
	cases := []struct {
		sql  string
		want string // "" accepted, else part of the error
	}{
		{"SELECT 1", ""},
		{"  -- a comment\n/* another /* nested */ one */ select 1", ""},
		{"(SELECT 1) UNION ALL (SELECT 2)", ""},
		{"FROM gold.user_stats", ""},
		{"VALUES (1), (2)", ""},
		{"TABLE gold.user_stats", ""},
		{"WITH a AS (SELECT 1), b (x) AS MATERIALIZED (SELECT 2) SELECT * FROM a, b", ""},
		{"WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t", ""},
		{"DESCRIBE HISTORY sales.orders", ""},
		{"SHOW TABLES", ""},
		{"SUMMARIZE gold.user_stats", ""},
		{"EXPLAIN SELECT 1", ""},
		{"SELECT 'DELETE FROM x; DROP TABLE y'", ""},
		{"SELECT 1;", ""},
		{"SELECT $$;DROP$$", ""},
		{"PIVOT gold.country_revenue ON country USING sum(revenue)", ""},
		{"INSERT INTO t VALUES (1)", "INSERT statements cannot run"},
		{"delete from t", "DELETE statements cannot run"},
		{"/* SELECT */ UPDATE t SET a = 1", "UPDATE statements cannot run"},
		{"MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "MERGE"},
		{"CREATE TABLE t AS SELECT 1", "CREATE"},
		{"COPY t TO 'x.csv'", "COPY"},
		{"ATTACH 'x.db'", "ATTACH"},
		{"PRAGMA version", "PRAGMA"},
		{"SET threads = 1", "SET"},
		{"CALL pragma_version()", "CALL"},
		{"EXPLAIN ANALYZE DELETE FROM t", "DELETE"},
		{"WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "WITH ... INSERT"},
		{"WITH a AS (DELETE FROM t RETURNING *) SELECT * FROM a", "DELETE"},
		{"(DELETE FROM t)", "DELETE"},
		{"SELECT 1; SELECT 2", "one statement"},
		{"", "empty"},
		{"-- only a comment", "empty"},
		{"SELECT 'unterminated", "unterminated string"},
		{"SELECT (1", "unbalanced"},
		{"WITH SELECT 1", "WITH clause"},
	}
	for _, c := range cases {
		err := checkReadOnly(c.sql)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.sql, err)
		case c.want != "" && (err == nil || !errors.Is(err, ErrNotReadOnly) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want an error with %q", c.sql, err, c.want)
		}
	}
}

// TestSQLLiteral: parameter values become literals of their type, or errors.
func TestSQLLiteral(t *testing.T) {
	cases := []struct{ typ, raw, want, err string }{
		{paramBigint, "42", "42", ""},
		{paramBigint, "-7", "(-7)", ""},
		{paramBigint, "4.2", "", "whole number"},
		{paramBigint, "1 OR 1=1", "", "whole number"},
		{paramBigint, "99999999999999999999", "", "range"},
		{paramDouble, "2.5", "CAST(2.5 AS DOUBLE)", ""},
		{paramDouble, "-1e300", "CAST(-1e+300 AS DOUBLE)", ""},
		{paramDouble, "NaN", "", "finite"},
		{paramVarchar, "O'Brien", "'O''Brien'", ""},
		{paramVarchar, `x\'; DROP TABLE t; --`, `'x\''; DROP TABLE t; --'`, ""},
		{paramVarchar, "a\x00b", "", "UTF-8"},
		{paramDate, "2026-02-03", "DATE '2026-02-03'", ""},
		{paramDate, "2026-02-30", "", "not a date"},
		{paramTimestamp, "2026-02-03T04:05:06.5+01:00", "TIMESTAMP '2026-02-03 03:05:06.5'", ""},
		{paramTimestamp, "2026-02-03 04:05:06", "TIMESTAMP '2026-02-03 04:05:06'", ""},
		{paramTimestamp, "2026-02-03", "TIMESTAMP '2026-02-03 00:00:00'", ""},
		{paramTimestamp, "now", "", "not a timestamp"},
	}
	for _, c := range cases {
		got, err := sqlLiteral(c.typ, c.raw)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %q: %q, %v; want an error with %q", c.typ, c.raw, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %q: %q, %v; want %q", c.typ, c.raw, got, err, c.want)
		}
	}
}

// TestJSONValues: the JSON encoding of Arrow values.
func TestJSONValues(t *testing.T) {
	mem := memory.NewGoAllocator()
	build := func(dt arrow.DataType, fill func(b array.Builder)) arrow.Array {
		b := array.NewBuilder(mem, dt)
		defer b.Release()
		fill(b)
		return b.NewArray()
	}
	tsType := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	cases := []struct {
		name string
		arr  arrow.Array
		want []string
	}{
		{"int64", build(arrow.PrimitiveTypes.Int64, func(b array.Builder) {
			b.(*array.Int64Builder).AppendValues([]int64{1, -(1 << 53), 1<<53 + 1, math.MinInt64}, nil)
			b.AppendNull()
		}), []string{"1", "-9007199254740992", `"9007199254740993"`, `"-9223372036854775808"`, "null"}},
		{"float", build(arrow.PrimitiveTypes.Float64, func(b array.Builder) {
			b.(*array.Float64Builder).AppendValues([]float64{0.1, 1e21, math.NaN(), math.Inf(-1)}, nil)
		}), []string{"0.1", "1e+21", `"NaN"`, `"-Infinity"`}},
		{"decimal", build(&arrow.Decimal128Type{Precision: 38, Scale: 2}, func(b array.Builder) {
			b.(*array.Decimal128Builder).Append(decimal128.FromI64(1230))
			b.(*array.Decimal128Builder).Append(decimal128.FromI64(-5))
			n, _ := decimal128.FromString("12345678901234567890123.45", 38, 2)
			b.(*array.Decimal128Builder).Append(n)
		}), []string{"12.30", "-0.05", "12345678901234567890123.45"}},
		{"string", build(arrow.BinaryTypes.String, func(b array.Builder) {
			b.(*array.StringBuilder).AppendValues([]string{"a\"b\\c\n\x01", "ñ\u2028", "\xff"}, nil)
		}), []string{`"a\"b\\c\n\u0001"`, `"ñ\u2028"`, `"\ufffd"`}},
		{"timestamp", build(tsType, func(b array.Builder) {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC).UnixMicro()))
		}), []string{`"2026-01-02T03:04:05.000006Z"`}},
		{"date", build(arrow.FixedWidthTypes.Date32, func(b array.Builder) {
			b.(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)))
		}), []string{`"2026-03-04"`}},
		{"interval", build(arrow.FixedWidthTypes.MonthDayNanoInterval, func(b array.Builder) {
			b.(*array.MonthDayNanoIntervalBuilder).Append(arrow.MonthDayNanoInterval{Months: 1, Days: 2, Nanoseconds: 3500000000})
			b.(*array.MonthDayNanoIntervalBuilder).Append(arrow.MonthDayNanoInterval{})
		}), []string{`"P1M2DT3.5S"`, `"PT0S"`}},
		{"list", build(arrow.ListOf(arrow.PrimitiveTypes.Int32), func(b array.Builder) {
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{1, 2}, nil)
			lb.ValueBuilder().AppendNull()
			lb.Append(true)
		}), []string{"[1,2,null]", "[]"}},
		{"struct", build(arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64}, arrow.Field{Name: "b", Type: arrow.BinaryTypes.String}), func(b array.Builder) {
			sb := b.(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Int64Builder).Append(1)
			sb.FieldBuilder(1).(*array.StringBuilder).Append("x")
			sb.AppendNull()
		}), []string{`{"a":1,"b":"x"}`, "null"}},
		{"map", build(arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), func(b array.Builder) {
			mb := b.(*array.MapBuilder)
			mb.Append(true)
			mb.KeyBuilder().(*array.StringBuilder).AppendValues([]string{"k", "j"}, nil)
			mb.ItemBuilder().(*array.Int64Builder).AppendValues([]int64{1, 2}, nil)
		}), []string{`{"k":1,"j":2}`}},
	}
	for _, c := range cases {
		for i, want := range c.want {
			if got := string(appendJSONValue(nil, c.arr, i)); got != want {
				t.Errorf("%s[%d]: %s, want %s", c.name, i, got, want)
			}
			if !json.Valid(appendJSONValue(nil, c.arr, i)) {
				t.Errorf("%s[%d]: invalid JSON", c.name, i)
			}
		}
		c.arr.Release()
	}
	for dt, want := range map[arrow.DataType]string{
		arrow.PrimitiveTypes.Int64:                     "BIGINT",
		&arrow.Decimal128Type{Precision: 12, Scale: 2}: "DECIMAL(12,2)",
		tsType:                                 "TIMESTAMP WITH TIME ZONE",
		arrow.ListOf(arrow.BinaryTypes.String): "VARCHAR[]",
		arrow.StructOf(arrow.Field{Name: "a b", Type: arrow.FixedWidthTypes.Date32}): `STRUCT("a b" DATE)`,
	} {
		if got := columnType(dt); got != want {
			t.Errorf("columnType(%s) = %s, want %s", dt, got, want)
		}
	}
}

// TestMonitor: counters, rates, data times through inputs, subscriptions.
func TestMonitor(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	m := NewMonitor(nil, clock)
	m.inputs["gold.b"] = []string{"silver.a", "silver.c"}
	ch, unsubscribe := m.Subscribe()
	m.Observe(pipeline.Event{Event: pipeline.EventFlowStart, Flow: "silver.a", Time: now})
	m.Observe(pipeline.Event{Event: pipeline.EventBatch, Flow: "silver.a", Table: "silver.a", Time: now, RowsIn: 100, RowsOut: 90,
		RowsDropped: 10, DurationMS: 12, LatencyMS: 40, Version: 3, DataTime: now.Add(-30 * time.Second)})
	m.Observe(pipeline.Event{Event: pipeline.EventBatch, Flow: "silver.c", Table: "silver.c", Time: now, Version: 1, DataTime: now.Add(-90 * time.Second)})
	m.Observe(pipeline.Event{Event: pipeline.EventExpectation, Flow: "silver.a", Expectation: "e", Passed: 90, Failed: 10, Version: -1})
	now = now.Add(10 * time.Second)
	m.Observe(pipeline.Event{Event: pipeline.EventRefresh, Flow: "gold.b", Table: "gold.b", Time: now, RowsOut: 4, Version: 7})
	v := m.flowView("silver.a")
	if v.Status != "running" || v.In != 100 || v.Out != 90 || v.Dropped != 10 || v.Version != 3 || v.LatencyMS != 40 ||
		v.Expectations["e"].failed != 10 || v.RateIn != 10 { // 100 rows over the 10 s since the monitor started
		t.Errorf("silver.a: %+v", v)
	}
	if f := m.freshness("gold.b"); f == nil || *f != 100 { // its oldest input's data time, 90 s + 10 s ago
		t.Errorf("gold.b freshness %v, want 100", f)
	}
	m.Observe(pipeline.Event{Event: pipeline.EventIntake, Flow: "bronze.files", Table: "bronze.files", Time: now.Add(-5 * time.Second), RowsIn: 3, Version: -1})
	m.Observe(pipeline.Event{Event: pipeline.EventBatch, Flow: "bronze.files", Table: "bronze.files", Time: now, RowsIn: 3, Version: 1})
	if f := m.freshness("bronze.files"); f == nil || *f != 5 { // its files were taken in 5 s ago
		t.Errorf("bronze.files freshness %v, want 5", f)
	}
	if f := m.freshness("nope"); f != nil {
		t.Errorf("unknown table freshness %v", *f)
	}
	m.Observe(pipeline.Event{Event: pipeline.EventFlowEnd, Flow: "silver.a", Status: "failed", Message: "boom", Version: -1})
	m.Observe(pipeline.Event{Event: pipeline.EventFlowEnd, Flow: "gold.b", Status: "ok", Version: 7})
	m.SetSchedule("gold.b", "0 2 * * *", now.Add(time.Hour))
	if v := m.flowView("silver.a"); v.Status != "failed" || v.Error != "boom" {
		t.Errorf("silver.a after a failure: %+v", v)
	}
	if v := m.flowView("gold.b"); v.Status != "scheduled" || v.Next.IsZero() {
		t.Errorf("gold.b: %+v", v)
	}
	if v := m.flowView("never.ran"); v.Status != "never" {
		t.Errorf("an unknown flow: %+v", v)
	}
	var got []string
	for range 4 {
		c := <-ch
		got = append(got, fmt.Sprintf("%s@%d", c.Table, c.Version))
	}
	if fmt.Sprint(got) != "[silver.a@3 silver.c@1 gold.b@7 bronze.files@1]" {
		t.Errorf("commits %v", got)
	}
	unsubscribe()
	unsubscribe()
	if _, ok := <-ch; ok {
		t.Errorf("the channel is open after unsubscribing")
	}

	// Concurrent observers, readers and subscribers (run with -race).
	var wg sync.WaitGroup
	type subscription struct {
		ch     <-chan Commit
		cancel func()
	}
	var subs []subscription
	for range 4 { // before the observers start: each gets some of their commits
		ch, cancel := m.Subscribe()
		subs = append(subs, subscription{ch, cancel})
	}
	for g := range 4 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			for i := range 200 {
				m.Observe(pipeline.Event{Event: pipeline.EventBatch, Flow: "silver.a", Table: "silver.a", RowsIn: 1, Version: int64(g*1000 + i), Time: now})
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				m.flowView("silver.a")
				m.freshness("gold.b")
			}
		}()
		go func() {
			defer wg.Done()
			<-subs[g].ch
			subs[g].cancel()
		}()
	}
	wg.Wait()
	if v := m.flowView("silver.a"); v.In != 100+4*200 {
		t.Errorf("silver.a read %d rows, want %d", v.In, 100+4*200)
	}
}

// BenchmarkEndpoint measures the serving endpoint (a point lookup on a gold table through the
// engine) and a plain /api/sql query, answered by the handler in process.
func BenchmarkEndpoint(b *testing.B) {
	f := newFixture(b)
	h := f.srv.Handler()
	for _, c := range []struct{ name, method, path, body string }{
		{"user_stats", "GET", "/api/users/7/stats", ""},
		{"sql_point", "POST", "/api/sql", `{"sql": "SELECT * FROM gold.user_stats WHERE user_id = 7"}`},
		{"sql_const", "POST", "/api/sql", `{"sql": "SELECT 1"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var body io.Reader
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, body))
				if rec.Code != 200 {
					b.Fatalf("%s: %d %s", c.path, rec.Code, rec.Body)
				}
			}
		})
	}
}

// metricValue returns the value of the sample of a family whose labels match the pairs
// (NaN when there is none).
func metricValue(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	fam := fams[name]
	if fam == nil {
		t.Errorf("no metric %s", name)
		return math.NaN()
	}
next:
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	t.Errorf("no sample of %s with %v", name, labels)
	return math.NaN()
}

func urlQuery(s string) string { return url.QueryEscape(s) }

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

// wantError checks an /api/sql error answer's message.
func wantError(part string) func(*testing.T, http.Header, []byte) {
	return func(t *testing.T, _ http.Header, b []byte) { wantBodyError(part)(t, b) }
}

func wantBodyError(part string) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		t.Helper()
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Error, part) {
			t.Errorf("error %s, want one with %q", b, part)
		}
	}
}

func wantBody(want string) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		t.Helper()
		if strings.TrimSpace(string(b)) != strings.TrimSpace(want) {
			t.Errorf("body %q, want %q", b, want)
		}
	}
}
