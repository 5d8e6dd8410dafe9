package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stratalake/strata/internal/pipeline"
	"github.com/stratalake/strata/internal/project"
)

// cacheWait bounds the waits for the hot store (a first load, a reload after a commit). The
// tests poll until what they wait for happens; the bound only turns a hang into a failure.
const cacheWait = 2 * time.Minute

// endpointAnswer is one answer of a single endpoint, decoded.
type endpointAnswer struct {
	code     int
	source   string // the X-Strata-Source header
	row      map[string]any
	versions map[string]int64
	raw      []byte
}

// getEndpoint asks an endpoint; noCache sends Cache-Control: no-cache.
func getEndpoint(t testing.TB, ts *httptest.Server, path string, noCache bool) endpointAnswer {
	t.Helper()
	a, err := fetchEndpoint(ts, path, noCache)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// fetchEndpoint asks an endpoint (for goroutines other than the test's: it reports errors
// instead of failing the test). An answer 200 is decoded, and its source field must match the
// header.
func fetchEndpoint(ts *httptest.Server, path string, noCache bool) (endpointAnswer, error) {
	req, err := http.NewRequest("GET", ts.URL+path, nil)
	if err != nil {
		return endpointAnswer{}, err
	}
	if noCache {
		req.Header.Set("Cache-Control", "no-cache")
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		return endpointAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return endpointAnswer{}, err
	}
	a := endpointAnswer{code: resp.StatusCode, source: resp.Header.Get("X-Strata-Source"), raw: b}
	if a.code == http.StatusOK {
		if a.row, a.versions, err = parseSingle(b); err != nil {
			return a, fmt.Errorf("%s: %w", path, err)
		}
		if src, _ := a.row["source"].(string); src != a.source {
			return a, fmt.Errorf("%s: source %q in the body, %q in the header", path, src, a.source)
		}
		delete(a.row, "source")
	}
	return a, nil
}

// parseSingle decodes a single endpoint's answer into its row (without as_of, elapsed_ms and
// versions) and its versions.
func parseSingle(b []byte) (map[string]any, map[string]int64, error) {
	var row map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&row); err != nil {
		return nil, nil, fmt.Errorf("decoding %s: %w", b, err)
	}
	vs, _ := row["versions"].(map[string]any)
	if row["as_of"] == nil || row["elapsed_ms"] == nil || vs == nil {
		return nil, nil, fmt.Errorf("as_of, elapsed_ms or versions missing: %s", b)
	}
	versions := map[string]int64{}
	for k, v := range vs {
		n, ok := v.(json.Number)
		version, err := n.Int64()
		if !ok || err != nil {
			return nil, nil, fmt.Errorf("versions of %s: %v is not a version", b, v)
		}
		versions[k] = version
	}
	delete(row, "as_of")
	delete(row, "elapsed_ms")
	delete(row, "versions")
	return row, versions, nil
}

// engineRowAt runs an endpoint's SQL through /api/sql with {id} set and its table read at the
// given version (time travel), and returns its first row (nil when there is none).
func engineRowAt(t testing.TB, ts *httptest.Server, sql, table string, version int64, id int64) map[string]any {
	t.Helper()
	q := strings.Replace(sql, "FROM "+table, fmt.Sprintf("FROM %s AT (VERSION => %d)", table, version), 1)
	q = strings.ReplaceAll(q, "{id}", idLiteral(id))
	body, _ := json.Marshal(map[string]string{"sql": q})
	resp, err := ts.Client().Post(ts.URL+"/api/sql", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
	}
	a := decode[answer](t, b)
	if len(a.Rows) == 0 {
		return nil
	}
	return a.Rows[0]
}

func idLiteral(id int64) string {
	if id < 0 {
		return "(" + strconv.FormatInt(id, 10) + ")"
	}
	return strconv.FormatInt(id, 10)
}

// waitFor polls cond until it holds, failing the test after cacheWait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(cacheWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", cacheWait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCached waits until an endpoint answers from the cache and returns that answer.
func waitCached(t testing.TB, ts *httptest.Server, path string) endpointAnswer {
	t.Helper()
	var a endpointAnswer
	waitFor(t, path+" to answer from the cache", func() bool {
		a = getEndpoint(t, ts, path, false)
		return a.source == sourceCache
	})
	return a
}

// closeServer closes a server when the test ends, before the fixture's engine closes (cleanups
// run last registered first).
func closeServer(t testing.TB, s *Server) {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// TestEndpointCache: once the copies are loaded, the endpoints answer from the cache, with the
// same rows as the engine reading the same versions, for every user (those without data too);
// Cache-Control: no-cache asks the engine; the cache's metrics report the copies; after Close,
// the endpoints answer through the engine.
func TestEndpointCache(t *testing.T) {
	f := newFixture(t)
	closeServer(t, f.srv)
	sql := f.proj.Config.Serve.Endpoints[0].SQL

	first := waitCached(t, f.ts, "/api/users/3/stats")
	v := first.versions["gold.user_stats"]
	if len(first.versions) != 1 || v < 1 {
		t.Fatalf("versions %v, want gold.user_stats's", first.versions)
	}
	for id := int64(-1); id <= 22; id++ {
		path := fmt.Sprintf("/api/users/%d/stats", id)
		got := getEndpoint(t, f.ts, path, false)
		if got.source != sourceCache {
			t.Fatalf("%s: source %q after the copy was loaded", path, got.source)
		}
		want := engineRowAt(t, f.ts, sql, "gold.user_stats", v, id)
		switch {
		case want == nil:
			if got.code != http.StatusNotFound {
				t.Errorf("%s: %d %s, want 404 (the engine finds no row at version %d)", path, got.code, got.raw, v)
			}
			continue
		case got.code != http.StatusOK:
			t.Errorf("%s: %d %s", path, got.code, got.raw)
			continue
		case got.versions["gold.user_stats"] != v:
			t.Errorf("%s: versions %v, want %d (no commit happened)", path, got.versions, v)
		case !reflect.DeepEqual(got.row, want):
			t.Errorf("%s: cache %v, engine at version %d %v", path, got.row, v, want)
		}
		n, _ := got.row["orders"].(json.Number).Int64()
		if w := f.want[id]; n != w[0] || cents(t, got.row["revenue"]) != w[1] {
			t.Errorf("%s: %s, want %d orders and %d cents", path, got.raw, w[0], w[1])
		}
	}

	// The engine, asked with no-cache, reads the same version and finds the same row.
	eng := getEndpoint(t, f.ts, "/api/users/3/stats", true)
	if eng.source != sourceEngine || eng.versions["gold.user_stats"] != v || !reflect.DeepEqual(eng.row, first.row) {
		t.Errorf("no-cache: %s %s, cache: %s", eng.source, eng.raw, first.raw)
	}

	// An endpoint without single (two parameters, one in the query string) gives /api/sql's shape.
	list := "/api/countries/ES/orders?from=2026-01-01"
	waitFor(t, list+" from the cache", func() bool {
		code, h, b := f.do(t, "GET", list, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", list, code, b)
		}
		return h.Get("X-Strata-Source") == sourceCache
	})
	_, _, cached := f.do(t, "GET", list, "")
	req, _ := http.NewRequest("GET", f.ts.URL+list, nil)
	req.Header.Set("Cache-Control", "max-age=0, no-cache")
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	fromEngine, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Strata-Source") != sourceEngine {
		t.Errorf("no-cache answered from %q", resp.Header.Get("X-Strata-Source"))
	}
	ca, ea := decode[answer](t, cached), decode[answer](t, fromEngine)
	if ca.RowCount == 0 || ca.RowCount != ea.RowCount || !reflect.DeepEqual(ca.Rows, ea.Rows) || !reflect.DeepEqual(ca.Columns, ea.Columns) {
		t.Errorf("%s: cache %s\nengine %s", list, cached, fromEngine)
	}

	// Metrics: the copy's version and rows, and at least one reload per table.
	_, _, b := f.do(t, "GET", "/metrics", "")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	count := decode[answer](t, must200(t, f, `{"sql": "SELECT count(*) AS n FROM gold.user_stats AT (VERSION => `+strconv.FormatInt(v, 10)+`)"}`))
	rows, _ := count.Rows[0]["n"].(json.Number).Int64()
	if got := metricValue(t, fams, "strata_serve_cache_version", "table", "gold.user_stats"); got != float64(v) {
		t.Errorf("strata_serve_cache_version %v, want %d", got, v)
	}
	if got := metricValue(t, fams, "strata_serve_cache_rows", "table", "gold.user_stats"); got != float64(rows) {
		t.Errorf("strata_serve_cache_rows %v, want %d", got, rows)
	}
	for _, table := range []string{"gold.user_stats", "silver.orders"} {
		if got := metricValue(t, fams, "strata_serve_cache_reloads_total", "table", table); !(got >= 1) {
			t.Errorf("strata_serve_cache_reloads_total{table=%s} %v, want at least 1", table, got)
		}
	}

	// After Close the endpoints still answer, through the engine.
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	after := getEndpoint(t, f.ts, "/api/users/3/stats", false)
	if after.code != 200 || after.source != sourceEngine || !reflect.DeepEqual(after.row, first.row) {
		t.Errorf("after Close: %d %s %s", after.code, after.source, after.raw)
	}
}

// must200 posts a body to /api/sql and returns the answer, failing on any other status.
func must200(t testing.TB, f *fixture, body string) []byte {
	t.Helper()
	code, _, b := f.do(t, "POST", "/api/sql", body)
	if code != 200 {
		t.Fatalf("%s: %d %s", body, code, b)
	}
	return b
}

// TestEndpointCacheFollowsCommits: while clients keep asking the endpoint, new orders arrive and
// the pipeline runs three times. No request fails (a reload keeps the previous copy in service);
// the endpoint moves to the new versions; and every answer equals what the engine reads at the
// version the answer reports, so an answer never mixes versions.
func TestEndpointCacheFollowsCommits(t *testing.T) {
	f := newFixture(t)
	closeServer(t, f.srv)
	sql := f.proj.Config.Serve.Endpoints[0].SQL
	v0 := waitCached(t, f.ts, "/api/users/3/stats").versions["gold.user_stats"]

	type key struct {
		id      int64
		version int64
	}
	var (
		mu       sync.Mutex
		seen     = map[key][]byte{} // an answer per user and version
		requests atomic.Int64
		cached   atomic.Int64
		failed   atomic.Int64
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }() // also when the test fails early
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(c); ctx.Err() == nil; i++ {
				id := i%20 + 1
				a, err := fetchEndpoint(f.ts, fmt.Sprintf("/api/users/%d/stats", id), false)
				requests.Add(1)
				if err != nil || a.code != http.StatusOK {
					if failed.Add(1) <= 5 {
						t.Errorf("user %d during the reloads: %d %s %v", id, a.code, a.raw, err)
					}
					continue
				}
				if a.source == sourceCache {
					cached.Add(1)
				}
				mu.Lock()
				seen[key{id, a.versions["gold.user_stats"]}] = a.raw
				mu.Unlock()
			}
		}()
	}

	for round := 0; round < 3; round++ {
		recs := orderEvents(401+round*150, 150, f.want, &f.malformed)
		if _, err := f.log.Produce(context.Background(), "orders", recs); err != nil {
			t.Fatal(err)
		}
		if _, err := f.pl.Run(context.Background(), pipeline.RunOptions{Mode: pipeline.Batch, Log: f.log, OnEvent: f.mon.Observe}); err != nil {
			t.Fatal(err)
		}
	}
	latest := tableVersion(t, f, "gold.user_stats")
	if latest <= v0 {
		t.Fatalf("gold.user_stats is at version %d after three runs, was %d", latest, v0)
	}
	var last endpointAnswer
	waitFor(t, fmt.Sprintf("the endpoint to read gold.user_stats version %d", latest), func() bool {
		last = getEndpoint(t, f.ts, "/api/users/3/stats", false)
		return last.source == sourceCache && last.versions["gold.user_stats"] == latest
	})
	stop()
	wg.Wait()
	n, _ := last.row["orders"].(json.Number).Int64()
	if w := f.want[3]; n != w[0] || cents(t, last.row["revenue"]) != w[1] {
		t.Errorf("user 3 at version %d: %s, want %d orders and %d cents", latest, last.raw, w[0], w[1])
	}
	t.Logf("%d requests during the runs, %d from the cache, %d failed; %d (user, version) answers checked",
		requests.Load(), cached.Load(), failed.Load(), len(seen))
	versions := map[int64]bool{}
	for k, raw := range seen {
		versions[k.version] = true
		row, _, err := parseSingle(raw)
		if err != nil {
			t.Fatal(err)
		}
		delete(row, "source")
		if want := engineRowAt(t, f.ts, sql, "gold.user_stats", k.version, k.id); !reflect.DeepEqual(row, want) {
			t.Errorf("user %d: answered %s, the engine reads %v at version %d", k.id, raw, want, k.version)
		}
	}
	if len(versions) < 2 {
		t.Errorf("the answers read versions %v only", versions)
	}
	if n := scrape(t, f.ts, "strata_serve_cache_reloads_total", "gold.user_stats"); n < 2 {
		t.Errorf("gold.user_stats was loaded %v times, want a first load and reloads", n)
	}
}

// tableVersion returns a table's latest version as /api/tables/{name} reports it.
func tableVersion(t testing.TB, f *fixture, name string) int64 {
	t.Helper()
	code, _, b := f.do(t, "GET", "/api/tables/"+name, "")
	if code != 200 {
		t.Fatalf("table %s: %d %s", name, code, b)
	}
	d := decode[map[string]any](t, b)
	v, err := d["version"].(json.Number).Int64()
	if err != nil {
		t.Fatalf("table %s: version in %s: %v", name, b, err)
	}
	return v
}

// TestEndpointCachePlans: which endpoints the cache answers. Time travel and engine statements
// go to the engine; a query that reads no table, or reads a table written outside any pipeline
// (found by the periodic Delta check), is answered from the cache.
func TestEndpointCachePlans(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, err := f.eng.Query(ctx, "CREATE TABLE ops.notes AS SELECT 1::BIGINT AS id, 'first' AS note")
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != nil {
		res.Records.Release()
	}
	p := *f.proj
	p.Config.Serve = project.ServeConfig{Endpoints: []project.ServeEndpoint{
		{Path: "/plain/{id}", SQL: "SELECT {id} AS id, 'x' AS v", Params: map[string]string{"id": "BIGINT"}, Single: true},
		{Path: "/old/{id}", SQL: "SELECT sum(revenue) AS revenue FROM gold.user_stats AT (VERSION => 1) WHERE user_id = {id}", Params: map[string]string{"id": "BIGINT"}, Single: true},
		{Path: "/history", SQL: "DESCRIBE HISTORY gold.user_stats"},
		{Path: "/notes/{id}", SQL: "SELECT note FROM ops.notes WHERE id = {id}", Params: map[string]string{"id": "BIGINT"}, Single: true},
	}}
	srv, err := New(Options{Project: &p, Engine: f.eng, Pipeline: f.pl, Monitor: f.mon})
	if err != nil {
		t.Fatal(err)
	}
	closeServer(t, srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	if a := waitCached(t, ts, "/plain/5"); a.row["id"] != json.Number("5") || a.row["v"] != "x" || len(a.versions) != 0 {
		t.Errorf("/plain/5: %s", a.raw)
	}
	note := waitCached(t, ts, "/notes/1")
	if note.row["note"] != "first" || note.versions["ops.notes"] != 0 {
		t.Errorf("/notes/1: %s", note.raw)
	}
	for i := 0; i < 3; i++ {
		if a := getEndpoint(t, ts, "/old/3", false); a.code != 200 || a.source != sourceEngine || a.versions["gold.user_stats"] != 1 {
			t.Errorf("/old/3 (time travel): %d %s %s", a.code, a.source, a.raw)
		}
		resp, err := ts.Client().Get(ts.URL + "/history")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if h := decode[answer](t, b); resp.StatusCode != 200 || resp.Header.Get("X-Strata-Source") != sourceEngine || h.RowCount == 0 {
			t.Errorf("/history (DESCRIBE HISTORY): %d from %q: %s", resp.StatusCode, resp.Header.Get("X-Strata-Source"), b)
		}
	}

	// A write outside the pipeline: the monitor never hears of it; the periodic check does.
	res, err = f.eng.Query(ctx, "INSERT INTO ops.notes VALUES (2, 'second')")
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != nil {
		res.Records.Release()
	}
	var a endpointAnswer
	waitFor(t, "ops.notes version 1 in the cache", func() bool {
		a = getEndpoint(t, ts, "/notes/2", false)
		return a.source == sourceCache && a.versions["ops.notes"] == 1
	})
	if a.code != 200 || a.row["note"] != "second" {
		t.Errorf("/notes/2: %d %s", a.code, a.raw)
	}
}

// TestEndpointCacheSizeBound: a table above the size bound is not copied (the reload fails,
// counted in strata_serve_cache_reload_failures_total) and its endpoints answer through the
// engine.
func TestEndpointCacheSizeBound(t *testing.T) {
	f := newFixture(t)
	f.srv.cache.maxTableBytes.Store(1)
	closeServer(t, f.srv)
	waitFor(t, "a failed reload of gold.user_stats", func() bool {
		if a := getEndpoint(t, f.ts, "/api/users/3/stats", false); a.code != 200 || a.source != sourceEngine {
			t.Fatalf("a table over the bound: %d from %q: %s", a.code, a.source, a.raw)
		}
		return scrape(t, f.ts, "strata_serve_cache_reload_failures_total", "gold.user_stats") >= 1
	})
	if a := getEndpoint(t, f.ts, "/api/users/3/stats", false); a.code != 200 || a.source != sourceEngine {
		t.Errorf("after the failed reload: %d from %q: %s", a.code, a.source, a.raw)
	}
}

// scrape returns the value of a metric of the server's /metrics for a table (0 when absent).
func scrape(t testing.TB, ts *httptest.Server, name, table string) float64 {
	t.Helper()
	resp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "table" && l.GetValue() == table {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// TestUncacheableSQL: which endpoint SQL runs on the copies.
func TestUncacheableSQL(t *testing.T) {
	cases := []struct {
		sql  string
		want string // "" cacheable, else part of the reason
	}{
		{"SELECT * FROM gold.user_stats WHERE user_id = {id}", ""},
		{"  (SELECT 1) UNION ALL (SELECT 2)", ""},
		{"WITH u AS (SELECT * FROM gold.user_stats) SELECT * FROM u", ""},
		{"FROM gold.user_stats", ""},
		{"SELECT ts AT TIME ZONE 'UTC' FROM silver.orders", ""},
		{"SELECT 'AT (' AS s, \"at\" FROM x.y", ""},
		{"SELECT * FROM gold.user_stats AT (VERSION => 3)", "AT (...)"},
		{"SELECT * FROM gold.user_stats at(timestamp => now())", "AT (...)"},
		{"SELECT * FROM delta_scan('/tmp/t')", "delta_scan"},
		{"DESCRIBE HISTORY gold.user_stats", "DESCRIBE"},
		{"SHOW TABLES", "SHOW"},
		{"SELECT 'unterminated", "does not parse"},
	}
	for _, c := range cases {
		got := uncacheableSQL(c.sql)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("uncacheableSQL(%q) = %q, want %q", c.sql, got, c.want)
		}
	}
}

// BenchmarkEndpointCache compares the endpoint answered from the cache and through the engine
// (Cache-Control: no-cache), idle and while goroutines keep every CPU busy, on the fixture's
// gold.user_stats (20 users) and on a table of 100,000 rows (20,000 users over 5 days, the
// demo's default user count), and the reload of that table. Requests go through the handler in
// process.
func BenchmarkEndpointCache(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	res, err := f.eng.Query(ctx, `CREATE TABLE bench.user_stats AS
		SELECT u AS user_id, DATE '2026-01-01' + d::INTEGER AS date, (u * 7 + d) % 50 AS total_events,
		       CAST(((u * 13 + d) % 10000) / 100.0 AS DECIMAL(18,2)) AS total_revenue, (u + d) % 5 AS sessions
		FROM range(1, 20001) r(u), range(0, 5) s(d)`)
	if err != nil {
		b.Fatal(err)
	}
	if res.Records != nil {
		res.Records.Release()
	}
	p := *f.proj
	p.Config.Serve.Endpoints = append(append([]project.ServeEndpoint{}, p.Config.Serve.Endpoints...), project.ServeEndpoint{
		Path: "/api/big/{id}/stats", Params: map[string]string{"id": "BIGINT"}, Single: true,
		SQL: `SELECT user_id, sum(total_events) AS total_events, sum(total_revenue) AS total_revenue,
		             sum(sessions) AS sessions, count(*) AS days, min(date) AS first_date, max(date) AS last_date
		      FROM bench.user_stats WHERE user_id = {id} GROUP BY user_id`})
	srv, err := New(Options{Project: &p, Engine: f.eng, Pipeline: f.pl, Monitor: f.mon})
	if err != nil {
		b.Fatal(err)
	}
	closeServer(b, srv)
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	waitCached(b, ts, "/api/users/7/stats")
	waitCached(b, ts, "/api/big/7/stats")
	h := srv.Handler()

	big := srv.cache.table("bench.user_stats")
	var mem int64
	if err := srv.cache.db.QueryRowContext(ctx, "SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()").Scan(&mem); err != nil {
		b.Fatal(err)
	}
	snap, err := srv.snaps.latest(ctx, big.location)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("the cache holds %d rows of bench.user_stats (%d bytes of Parquet) and %d of gold.user_stats in %d bytes of DuckDB memory",
		big.rowCount.Load(), snap.SizeInBytes(), srv.cache.table("gold.user_stats").rowCount.Load(), mem)
	for _, load := range []string{"idle", "busy"} {
		// A reload of the 100,000-row table (read through the engine, copied, swapped in).
		b.Run(load+"/100k/reload", func(b *testing.B) {
			if load == "busy" {
				stop := burnCPU(runtime.NumCPU())
				defer stop()
			}
			for b.Loop() {
				if err := srv.cache.reload(ctx, big); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, c := range []struct{ name, path string }{{"fixture", "/api/users/%d/stats"}, {"100k", "/api/big/%d/stats"}} {
			for _, source := range []string{sourceCache, sourceEngine} {
				b.Run(load+"/"+c.name+"/"+source, func(b *testing.B) {
					if load == "busy" {
						stop := burnCPU(runtime.NumCPU())
						defer stop()
					}
					id := 0
					for b.Loop() {
						id++
						req := httptest.NewRequest("GET", fmt.Sprintf(c.path, id%20+1), nil)
						if source == sourceEngine {
							req.Header.Set("Cache-Control", "no-cache")
						}
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != 200 || rec.Header().Get("X-Strata-Source") != source {
							b.Fatalf("%s: %d from %q: %s", req.URL, rec.Code, rec.Header().Get("X-Strata-Source"), rec.Body)
						}
					}
				})
			}
		}
	}
}

// burnCPU starts n goroutines spinning until the returned function is called.
func burnCPU(n int) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := uint64(i)
			for !done.Load() {
				for j := 0; j < 1000; j++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			_ = x
		}()
	}
	return func() {
		done.Store(true)
		wg.Wait()
	}
}
