// Package demo is the end-to-end test of `strata demo`: it runs the real binary's code as a child
// process (this test binary re-executed as the strata CLI) on free ports and checks the platform
// from the outside, as a newcomer's tools would: the HTTP API, the serving endpoint, psql, a Go
// Postgres driver (pgx), /metrics and the dashboard in headless Chromium. It then stops the demo
// with SIGINT, starts it again (it must resume, not reprocess), lets the pipelines drain, and
// accounts for every generated record and recomputes the gold tables from bronze with plain SQL.
//
// go test ./test/demo -update-screenshot rewrites docs/dashboard.png (the README's screenshot).
package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/stratalake/strata/internal/cli"
	"github.com/stratalake/strata/internal/demo"
	"github.com/stratalake/strata/internal/testutil"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite docs/dashboard.png from the running demo")

// cliEnv switches TestMain into running the strata CLI with the process's arguments.
const cliEnv = "STRATA_E2E_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// platform is a running `strata demo` child process.
type platform struct {
	t       *testing.T
	cmd     *exec.Cmd
	httpURL string
	pgHost  string
	pgPort  string
	stderr  *syncBuffer
	exited  chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	dashboardRe = regexp.MustCompile(`dashboard\s+(http://\S+?)/\s*$`)
	psqlRe      = regexp.MustCompile(`psql -h (\S+) -p (\d+) -U strata strata`)
)

// start runs `strata <args>` and waits for it to print its addresses.
func start(t *testing.T, args ...string) *platform {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{t: t, cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.exited <- cmd.Wait()
	}()
	deadline := time.After(3 * time.Minute)
	for p.httpURL == "" || p.pgPort == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("strata %s exited before serving:\n%s", strings.Join(args, " "), p.stderr.String())
			}
			t.Log(line)
			if m := dashboardRe.FindStringSubmatch(line); m != nil {
				p.httpURL = m[1]
			}
			if m := psqlRe.FindStringSubmatch(line); m != nil {
				p.pgHost, p.pgPort = m[1], m[2]
			}
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("strata %s printed no addresses in 3 minutes:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	}
	go func() {
		for line := range lines {
			t.Log(line)
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

// stop sends SIGINT and requires a clean exit (status 0) within a minute.
func (p *platform) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Fatalf("strata did not exit cleanly on SIGINT: %v\n%s", err, tail(p.stderr.String(), 4000))
		}
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		p.t.Fatalf("strata did not stop within a minute of SIGINT:\n%s", tail(p.stderr.String(), 4000))
	}
	if !strings.Contains(p.stderr.String(), "stopped; run the same command again to resume") {
		p.t.Errorf("no stop message in stderr:\n%s", tail(p.stderr.String(), 2000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// sqlResult is /api/sql's JSON answer.
type sqlResult struct {
	Columns []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"columns"`
	Rows      []map[string]any `json:"rows"`
	RowCount  int              `json:"row_count"`
	Truncated bool             `json:"truncated"`
}

// sql runs a query through POST /api/sql.
func (p *platform) sql(q string) (*sqlResult, error) {
	body, _ := json.Marshal(map[string]any{"sql": q, "format": "json", "limit": 100000})
	resp, err := http.Post(p.httpURL+"/api/sql", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST /api/sql %q: %s: %s", q, resp.Status, data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var r sqlResult
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("POST /api/sql %q: %w", q, err)
	}
	return &r, nil
}

func (p *platform) mustSQL(t *testing.T, q string) *sqlResult {
	t.Helper()
	r, err := p.sql(q)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// int64 runs a query answering one number.
func (p *platform) int64(t *testing.T, q string) int64 {
	t.Helper()
	r := p.mustSQL(t, q)
	if len(r.Rows) != 1 || len(r.Columns) != 1 {
		t.Fatalf("%s: want one value, got %+v", q, r)
	}
	return toInt(t, r.Rows[0][r.Columns[0].Name])
}

func toInt(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(x.String(), 10, 64)
		if err != nil {
			f, ferr := x.Float64()
			if ferr != nil {
				t.Fatalf("not a number: %v", x)
			}
			return int64(f)
		}
		return n
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			t.Fatalf("not a number: %q", x)
		}
		return n
	case nil:
		return 0
	}
	t.Fatalf("not a number: %T %v", v, v)
	return 0
}

func toFloat(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			t.Fatalf("not a number: %v", x)
		}
		return f
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			t.Fatalf("not a number: %q", x)
		}
		return f
	case nil:
		return 0
	}
	t.Fatalf("not a number: %T %v", v, v)
	return 0
}

// waitFor polls cond every second until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(time.Second)
	}
	t.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	dir := filepath.Join(t.TempDir(), "strata-demo")
	args := []string{"demo", "--dir", dir, "--http", "127.0.0.1:0", "--pg", "127.0.0.1:0", "--rate", "300", "--status-every", "5s"}
	p := start(t, args...)

	t.Run("data flows", func(t *testing.T) {
		waitFor(t, "gold tables with data", 3*time.Minute, func() (bool, string) {
			var counts []int64
			for _, tbl := range []string{"analytics.revenue_per_minute", "analytics.user_stats", "analytics.top_products_hourly",
				"analytics.delivery_performance", "analytics.stock_levels", "customers.customers"} {
				r, err := p.sql("SELECT count(*) AS n FROM " + tbl)
				if err != nil {
					return false, err.Error()
				}
				n := toInt(t, r.Rows[0]["n"])
				if n == 0 {
					return false, tbl + " is empty"
				}
				counts = append(counts, n)
			}
			return true, fmt.Sprint(counts)
		})
	})
	t.Run("serving endpoint", func(t *testing.T) { checkUserStats(t, p) })
	t.Run("psql", func(t *testing.T) { checkPsql(t, p) })
	t.Run("pgx", func(t *testing.T) { checkPgx(t, p) })
	t.Run("metrics", func(t *testing.T) { checkMetrics(t, p) })
	t.Run("dashboard", func(t *testing.T) { checkDashboard(t, p) })
	if t.Failed() {
		t.Logf("stderr:\n%s", tail(p.stderr.String(), 6000))
	}

	// Ctrl-C, then start again: the demo resumes (the feed goes on with a new segment, the
	// pipelines from their checkpoints) and stops generating after a few seconds so that the
	// pipelines drain.
	p.stop()
	before := readFeed(t, dir)
	p = start(t, append(args, "--feed-for", "8s")...)
	t.Run("resumed and drained", func(t *testing.T) { waitDrained(t, p, dir) })
	after := readFeed(t, dir)
	if after.Segments != before.Segments+1 || after.Produced["events"] <= before.Produced["events"] {
		t.Fatalf("the second start did not resume the feed: before %+v, after %+v", before, after)
	}
	t.Run("no reprocessing", func(t *testing.T) { checkNoReprocessing(t, p) })
	t.Run("every record accounted for", func(t *testing.T) { checkAccounting(t, p, after) })
	t.Run("gold equals a recomputation from bronze", func(t *testing.T) { checkGold(t, p) })
	if t.Failed() {
		t.Logf("stderr:\n%s", tail(p.stderr.String(), 6000))
	}
	p.stop()
}

// feedStats is the part of .strata/demo/feed.json the test reads.
type feedStats struct {
	Segments int              `json:"segments"`
	Produced map[string]int64 `json:"produced"`
}

func readFeed(t *testing.T, dir string) feedStats {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ".strata", "demo", "feed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s feedStats
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkUserStats compares the seed's get_user_stats endpoint with the same totals computed by
// SQL at the table version the endpoint read.
func checkUserStats(t *testing.T, p *platform) {
	users := p.mustSQL(t, "SELECT user_id FROM analytics.user_stats ORDER BY total_events DESC, user_id LIMIT 3")
	for _, row := range users.Rows {
		id := toInt(t, row["user_id"])
		resp, err := http.Get(fmt.Sprintf("%s/api/users/%d/stats", p.httpURL, id))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/users/%d/stats: %s: %s", id, resp.Status, data)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		versions, _ := got["versions"].(map[string]any)
		v, ok := versions["analytics.user_stats"]
		if !ok {
			t.Fatalf("GET /api/users/%d/stats: no version of analytics.user_stats in %s", id, data)
		}
		want := p.mustSQL(t, fmt.Sprintf(`SELECT sum(total_events) AS total_events, sum(total_revenue) AS total_revenue,
			sum(sessions) AS sessions, count(*) AS days FROM analytics.user_stats AT (VERSION => %d) WHERE user_id = %d`, toInt(t, v), id)).Rows[0]
		for _, col := range []string{"total_events", "sessions", "days"} {
			if toInt(t, got[col]) != toInt(t, want[col]) {
				t.Errorf("user %d %s: endpoint %v, SQL %v", id, col, got[col], want[col])
			}
		}
		if math.Abs(toFloat(t, got["total_revenue"])-toFloat(t, want["total_revenue"])) > 0.005 {
			t.Errorf("user %d total_revenue: endpoint %v, SQL %v", id, got["total_revenue"], want["total_revenue"])
		}
	}
	resp, err := http.Get(p.httpURL + "/api/users/999999999/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("stats of an unknown user: %s, want 404", resp.Status)
	}
	resp, err = http.Get(p.httpURL + "/api/users/abc/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("stats of user abc: %s, want 400", resp.Status)
	}
}

// checkPsql runs Debian's psql against the Postgres endpoint: a query and the \dt listing.
func checkPsql(t *testing.T, p *platform) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql is not installed (Debian package postgresql-client; `make test` installs it)")
	}
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, psql, append([]string{"-h", p.pgHost, "-p", p.pgPort, "-U", "strata", "-d", "strata", "-X", "-v", "ON_ERROR_STOP=1"}, args...)...)
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := strings.TrimSpace(run("-At", "-c", "SELECT count(*) > 0 FROM analytics.orders_daily_agg"))
	if out != "t" {
		t.Errorf("psql SELECT: %q, want t", out)
	}
	out = run("-c", `\dt analytics.*`)
	for _, tbl := range []string{"orders_daily_agg", "user_stats", "revenue_per_minute"} {
		if !strings.Contains(out, tbl) {
			t.Errorf(`psql \dt analytics.* does not list %s:\n%s`, tbl, out)
		}
	}
}

// checkPgx queries through the Go Postgres driver, with the extended protocol and a parameter.
func checkPgx(t *testing.T, p *platform) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://strata@%s:%s/strata?sslmode=disable", p.pgHost, p.pgPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var country string
	var orders int64
	err = conn.QueryRow(ctx, `SELECT country, CAST(sum(total_orders) AS BIGINT) FROM analytics.orders_daily_agg
		WHERE total_orders >= $1 GROUP BY country ORDER BY 2 DESC, 1 LIMIT 1`, 1).Scan(&country, &orders)
	if err != nil {
		t.Fatal(err)
	}
	if country == "" || orders <= 0 {
		t.Errorf("pgx: top country %q with %d orders", country, orders)
	}
	want := p.int64(t, fmt.Sprintf("SELECT count(*) FROM customers.customers WHERE country = '%s' AND __END_AT IS NULL", country))
	var got int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customers.customers WHERE country = $1 AND __END_AT IS NULL", country).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got > want+50 || got < want-50 { // the dimension changes while the test runs
		t.Errorf("pgx: %d current customers in %s, /api/sql %d", got, country, want)
	}
}

// checkMetrics scrapes /metrics and looks for the series the issue names, with live values.
func checkMetrics(t *testing.T, p *platform) {
	resp, err := http.Get(p.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	text := string(data)
	for _, series := range []string{
		`strata_ingest_records_total{topic="events"}`,
		`strata_pipeline_rows_total{flow="sales.silver_events",kind="in"}`,
		`strata_table_freshness_seconds{table="analytics.revenue_per_minute"}`,
		`strata_table_bytes{table="sales.bronze_events"}`,
		`strata_table_files{table="sales.bronze_events"}`,
		`strata_log_consumer_lag{group="pipeline:sales.bronze_events",topic="events"}`,
		`strata_pipeline_batch_duration_seconds_count{flow="sales.silver_events"}`,
	} {
		v, ok := metricValue(text, series)
		if !ok {
			t.Errorf("/metrics has no %s", series)
			continue
		}
		if strings.Contains(series, "lag") || strings.Contains(series, "freshness") {
			continue // may be 0
		}
		if v <= 0 {
			t.Errorf("/metrics %s = %v, want > 0", series, v)
		}
	}
	if !strings.Contains(text, "strata_expectation_failures_total{") {
		t.Errorf("/metrics has no strata_expectation_failures_total series")
	}
	resp, err = http.Get(p.httpURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
}

// metricValue finds a series' value in Prometheus text (labels in the order given).
func metricValue(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// checkDashboard loads the dashboard in headless Chromium and waits until the charts are drawn
// with data and every freshness badge shows a latency under the 5-minute requirement.
func checkDashboard(t *testing.T, p *platform) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			browser = path
			break
		}
	}
	if browser == "" {
		t.Fatal("no Chromium (Debian package chromium; `make test` installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(p.httpURL+"/")); err != nil {
		t.Fatal(err)
	}
	// Every chart of the project's dashboard drawn with at least one point.
	panels := []string{"revenue_per_minute", "orders_per_country", "top_products", "delivery_performance", "totals"}
	type badge struct {
		Table   string `json:"table"`
		Seconds string `json:"seconds"`
		Text    string `json:"text"`
	}
	type pageState struct {
		Points map[string]string `json:"points"`
		Badges []badge           `json:"badges"`
	}
	var state pageState
	js := `(() => {
		const points = {};
		for (const el of document.querySelectorAll('[data-panel]')) points[el.dataset.panel] = el.dataset.points || '';
		const badges = [...document.querySelectorAll('[data-seconds]')].filter(b => b.dataset.table)
			.map(b => ({table: b.dataset.table, seconds: b.dataset.seconds, text: b.textContent}));
		return {points, badges};
	})()`
	deadline := time.Now().Add(90 * time.Second)
	for {
		var err error
		if state, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](js)); err != nil {
			t.Fatal(err)
		}
		missing := []string{}
		for _, name := range panels {
			if n, _ := strconv.Atoi(state.Points[name]); n <= 0 {
				missing = append(missing, name)
			}
		}
		fresh := len(state.Badges) > 0
		for _, b := range state.Badges {
			if s, err := strconv.ParseFloat(b.Seconds, 64); err != nil || s >= 300 {
				fresh = false
			}
		}
		if len(missing) == 0 && fresh {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard: charts without data %v, badges %+v", missing, state.Badges)
		}
		time.Sleep(time.Second)
	}
	t.Logf("dashboard: points %v; badges %+v", state.Points, state.Badges)
	if *updateScreenshot {
		if err := chromedp.Do(ctx, chromedp.Sleep(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(testutil.RepoRoot(t), "docs", "dashboard.png")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
	// The other pages render: the pipelines DAG and a table's history with time travel.
	text := pageText(t, ctx, p.httpURL+"/pipelines")
	for _, want := range []string{"sales.silver_events", "valid_user"} {
		if !strings.Contains(text, want) {
			t.Errorf("the pipelines page does not show %s", want)
		}
	}
	text = pageText(t, ctx, p.httpURL+"/tables/analytics.orders_daily_agg")
	for _, want := range []string{"total_revenue", "avg_order_value"} {
		if !strings.Contains(text, want) {
			t.Errorf("the table page of analytics.orders_daily_agg does not show %s", want)
		}
	}
}

// pageText loads a page and returns its text once it has rendered (a few seconds).
func pageText(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.Sleep(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// waitDrained waits until the feed has stopped and every record produced is in bronze (or its
// quarantine), then until no table changes for a few seconds.
func waitDrained(t *testing.T, p *platform, dir string) {
	waitFor(t, "the feed to stop and bronze to hold every record", 3*time.Minute, func() (bool, string) {
		data, err := os.ReadFile(filepath.Join(dir, ".strata", "demo", "feed.json"))
		if err != nil || !strings.Contains(p.stderr.String(), "feed stopped") {
			return false, "feed running"
		}
		var s feedStats
		if err := json.Unmarshal(data, &s); err != nil {
			return false, err.Error()
		}
		counts, err := demo.BronzeCounts(context.Background(), p.query)
		if err != nil {
			return false, err.Error()
		}
		got := [3]int64{counts[demo.TopicEvents], counts[demo.TopicOrders], counts[demo.TopicCustomers]}
		want := [3]int64{s.Produced["events"], s.Produced["orders"], s.Produced["customers_cdc"]}
		return got == want, fmt.Sprintf("bronze %v, produced %v", got, want)
	})
	prev := ""
	stable := 0
	waitFor(t, "the pipelines to go idle", 3*time.Minute, func() (bool, string) {
		r, err := p.sql("SELECT string_agg(domain || '.' || \"table\" || '@' || version, ' ' ORDER BY domain, \"table\") AS v FROM (SHOW TABLES)")
		if err != nil {
			r, err = p.sql("SHOW TABLES")
			if err != nil {
				return false, err.Error()
			}
		}
		b, _ := json.Marshal(r.Rows)
		cur := string(b)
		if cur == prev {
			stable++
		} else {
			stable = 0
		}
		prev = cur
		return stable >= 6, fmt.Sprintf("stable for %d s", stable)
	})
}

// query is the platform's /api/sql as a demo.Querier: the harness (internal/reliability) runs
// the same checks over an in-process engine.
func (p *platform) query(_ context.Context, q string) ([]map[string]any, error) {
	r, err := p.sql(q)
	if err != nil {
		return nil, err
	}
	return r.Rows, nil
}

// report fails t with each problem of a check and logs its notes.
func report(t *testing.T, f *demo.Findings, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Problems {
		t.Error(p)
	}
	for _, n := range f.Notes {
		t.Log(n)
	}
}

// checkNoReprocessing: the second start read only what the first had not (bronze holds each
// log record once: a reprocessing from zero would have doubled it), and the event log shows both
// stream runs.
func checkNoReprocessing(t *testing.T, p *platform) {
	f, err := demo.CheckNoReprocessing(context.Background(), p.query, 2)
	report(t, f, err)
}

// checkAccounting: every generated record is accepted (in silver), quarantined (invalid JSON in
// bronze's quarantine, or dropped by an expectation), deduplicated, or late (in the late table),
// by plain SQL over the tables and by the pipeline's event log (demo.CheckAccounting).
func checkAccounting(t *testing.T, p *platform, feed feedStats) {
	f, err := demo.CheckAccounting(context.Background(), p.query, feed.Produced, demo.AccountingOptions{RequireLate: true})
	report(t, f, err)
}

// checkGold recomputes the gold tables from bronze with plain SQL and compares them row for row
// (demo.CheckGold).
func checkGold(t *testing.T, p *platform) {
	f, err := demo.CheckGold(context.Background(), p.query)
	report(t, f, err)
}
