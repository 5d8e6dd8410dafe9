package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stratalake/strata/internal/demo"
	"github.com/stratalake/strata/internal/gen"
	"github.com/stratalake/strata/internal/log/httpingest"
)

// The load section: the e-commerce project served by `strata serve` as a child process (the
// pipelines in stream mode, the HTTP API, the log's ingest endpoint on the same server), under a
// load generator on loopback bounded in time (env.Duration) and count (env.Iterations). The
// demo's three topics are created first (`strata log topic create`; `strata serve` does not
// create them) and the load starts once the pipelines created the tables it reads (waitReady).
//
//   - loadIngestClients clients POST batches of demo-format events to
//     /v1/topics/events/records, each event with an event_id of its own, recorded as acknowledged
//     when its request is answered 200 (the log holds it durably), refused when answered 429;
//   - loadEndpointClients clients GET /api/users/{id}/stats and loadSQLClients POST /api/sql;
//   - a 429 must carry Retry-After: the client waits that long and sends the request again
//     (counted as "http-429" faults); any other answer but 2xx (and the endpoint's documented 404
//     for a user without data) and any transport error is an anomaly, with its status and body;
//   - the child's memory (VmRSS, VmHWM of /proc/PID/status) is sampled every 500 ms, and the
//     streaming state its pipelines hold (state_entries, state_bytes of /api/pipelines) every
//     5 s; a peak above loadRSSBound plus what that state takes (stateMemory) is an anomaly.
//
// Then the pipelines drain and every event_id is looked up in sales.bronze_events and its
// quarantine through /api/sql (checkLoadLedger): an acknowledged one must be there exactly once, a
// refused one not at all, one whose request failed at most once, and nothing else may be there.
// The same check then runs with two faults planted in a copy of the ledger and must report them
// (checkCanary).

// Load shape. There are more ingest clients than httpingest.DefaultMaxInFlight, so that the
// endpoint's back-pressure is reached on any machine; each sends its next batch as soon as the
// last is answered.
const (
	loadIngestClients   = httpingest.DefaultMaxInFlight + 32
	loadEndpointClients = 8
	loadSQLClients      = 4
	loadBatchMin        = 50
	loadBatchMax        = 200
	// loadUsers is the number of user ids events are spread over (and the endpoint asked for).
	loadUsers = 2000
	// Per iteration: events offered, and queries sent (the count bound of the load).
	loadRecordsPerIteration = 5000
	loadQueriesPerIteration = 500
	// loadRequestTimeout bounds one request: an answer slower than this is a hang (an anomaly).
	loadRequestTimeout = 2 * time.Minute
	// loadRetryGrace is how long after the load's end a throttled batch is still retried.
	loadRetryGrace = 30 * time.Second
)

// loadRSSBound is the memory the server may use. The child runs with the pipelines' DuckDB
// limited to 1 GB and the serving DuckDB to 512 MB (loadServerArgs); the ingest endpoint holds at
// most about three times httpingest.DefaultMaxInFlightBytes (384 MiB); that leaves over 1 GiB for
// the Go heap (the streaming batches' records and Arrow buffers, the hot store's copies) and
// DuckDB's allocations outside its limit. A server above it does not honour the memory limits
// it was given. Measured here: about 0.6 GiB with 100,000 events (--iterations 20), 1.7 GiB with
// 500,000, and 3.2 GiB with 1,500,000 (a backlog of more than one 500,000-record streaming batch
// while the pipelines catch up), which this bound reports.
//
// State is not in it: a dedup or aggregation holds its keys in memory (as Spark's default state
// store and Flink's heap backend do), so its size follows the data and the query, not the limits
// (silver's dedup by event_id keeps every id of the last 10 minutes: 5,000,000 ids in a long
// run). The bound grows by stateMemory of the largest state the pipelines reported.
const loadRSSBound = 3 << 30

// State's memory: stateEntryOverhead bytes per entry besides its key and value bytes (a dedup key
// of 36 bytes takes 130 bytes, TestDedupKeyHeldOnce, so 94 besides its bytes), times
// stateGCFactor (the Go heap grows to twice its live size before a collection, GOGC=100).
const (
	stateEntryOverhead = 128
	stateGCFactor      = 2
)

// stateMemory is the memory allowed for a state of entries entries holding size bytes.
func stateMemory(entries, size int64) int64 {
	return stateGCFactor * (size + stateEntryOverhead*entries)
}

// loadServerArgs are the child's flags after `serve --project DIR`.
var loadServerArgs = []string{"--http", "127.0.0.1:0", "--pg", "off", "--memory-limit", "1GB",
	"--serve-memory-limit", "512MB", "--status-every", "10s"}

// loadTopics are the demo's topics and partitions, created before the server starts (the
// pipelines read all three; only events gets records here).
var loadTopics = []struct {
	name       string
	partitions int
}{{demo.TopicEvents, 4}, {demo.TopicOrders, 2}, {demo.TopicCustomers, 2}}

// loadSQL are the queries the SQL clients send, over bronze, silver and gold.
var loadSQL = []string{
	"SELECT count(*) AS n FROM sales.bronze_events",
	"SELECT event_type, count(*) AS n, sum(revenue) AS revenue FROM sales.silver_events GROUP BY 1 ORDER BY 1",
	"SELECT user_id, sum(total_events) AS events FROM analytics.user_stats GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
	"SELECT date, count(DISTINCT user_id) AS users FROM analytics.user_stats GROUP BY 1",
}

func runLoad(ctx context.Context, env Env, rep *Report) error {
	if env.Exe == "" {
		return errors.New("load: no strata executable (Options.Exe)")
	}
	dir := filepath.Join(env.Dir, "project")
	if _, err := demo.WriteProject(dir); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	for _, t := range loadTopics {
		out, err := exec.CommandContext(ctx, env.Exe, "log", "--project", dir, "topic", "create", t.name,
			"--partitions", strconv.Itoa(t.partitions)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("load: create topic %s: %w: %s", t.name, err, out)
		}
	}
	duration := env.Duration
	if duration <= 0 {
		duration = 20 * time.Second
	}
	iterations := max(env.Iterations, 1)
	seed := env.Seed
	if seed == 0 {
		seed = 1
	}

	srv, err := startLoadServer(ctx, env, dir)
	if err != nil {
		return err
	}
	defer srv.stop(rep)
	sampler := newMemSampler(srv.cmd.Process.Pid, srv.url)
	sctx, stopSampler := context.WithCancel(ctx)
	samplerDone := make(chan struct{})
	go func() { defer close(samplerDone); sampler.run(sctx) }()

	g := newLoadGen(srv.url, seed, rep)
	if err := g.waitReady(ctx, env, rep); err != nil {
		stopSampler()
		<-samplerDone
		return err
	}
	env.Log.Info("load started", "url", srv.url, "duration", duration, "records", iterations*loadRecordsPerIteration,
		"queries", iterations*loadQueriesPerIteration, "ingest_clients", loadIngestClients,
		"query_clients", loadEndpointClients+loadSQLClients)
	lctx, stopLoad := context.WithCancel(ctx)
	go func() {
		select {
		case <-srv.exited:
			rep.Anomaly("the server exited during the load: %v; stderr: %s", srv.waitErr, tailOf(srv.stderr.String(), 2000))
			stopLoad()
		case <-lctx.Done():
		}
	}()
	start := time.Now()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				rss, _ := sampler.peaks()
				env.Log.Info("load", "elapsed", time.Since(start).Round(time.Second), "requests", g.requests.Load(),
					"acknowledged", g.acked.Load(), "throttled", g.throttled.Load(), "peak_rss_mib", rss>>20)
			}
		}
	}()
	g.run(lctx, time.Now().Add(duration), int64(iterations*loadRecordsPerIteration), int64(iterations*loadQueriesPerIteration))
	elapsed := time.Since(start)
	serverDied := lctx.Err() != nil && ctx.Err() == nil
	stopLoad()
	<-progressDone
	if ctx.Err() != nil {
		stopSampler()
		<-samplerDone
		return fmt.Errorf("load: %w", ctx.Err())
	}
	g.figures(rep, elapsed)
	if serverDied {
		stopSampler()
		<-samplerDone
		sampler.report(rep)
		return nil
	}

	// Drain, then account for every event_id.
	acked := g.acked.Load()
	if err := g.drain(ctx, env, acked); err != nil {
		stopSampler()
		<-samplerDone
		return err
	}
	stopSampler()
	<-samplerDone
	sampler.report(rep)
	stopBeat := heartbeat(env, "load: checking every event_id in bronze")
	defer stopBeat()
	found, err := g.readBronzeIDs(ctx, g.ledger)
	if err != nil {
		return err
	}
	accounted, problems := checkLoadLedger(seed, g.ledger, found)
	for _, p := range problems {
		rep.Anomaly("%s", p)
	}
	rep.Add(g.requests.Load(), accounted, 0)
	rep.Iterations = g.requests.Load()
	env.Log.Info("load checked", "acknowledged", acked, "accounted", accounted, "anomalies", len(problems))
	if err := g.checkCanary(ctx, rep); err != nil {
		return err
	}
	return nil
}

// checkCanary runs the bronze check again against the live server with two faults planted in a
// copy of the ledger (an acknowledged event that was never sent, and an acknowledged one
// recorded as refused), and requires the check to report exactly those: proof, on every run,
// that the queries and the checker can fail. It needs a client other than 0 with acknowledged
// events (client 0's are always read one by one, the others' through counts).
func (g *loadGen) checkCanary(ctx context.Context, rep *Report) error {
	ledger := maps.Clone(g.ledger)
	var victim loadKey
	found := false
	for k, st := range ledger {
		if st == loadAcked && k>>32 != 0 && (!found || k < victim) {
			victim, found = k, true
		}
	}
	if !found {
		rep.Skip("canary: no acknowledged event of a client other than 0")
		return nil
	}
	ghost := victim | 0xfff00000 // a sequence number no client reaches (the count bound)
	ledger[ghost] = loadAcked
	ledger[victim] = loadRefused
	seen, err := g.readBronzeIDs(ctx, ledger)
	if err != nil {
		return err
	}
	_, problems := checkLoadLedger(g.seed, ledger, seen)
	want := []string{"1 acknowledged event_ids missing from sales.bronze_events and its quarantine (first: " + loadEventID(g.seed, ghost) + " x0)",
		"1 event_ids refused with 429 (nothing written) found in sales.bronze_events (first: " + loadEventID(g.seed, victim) + " x1)"}
	if !slices.Equal(problems, want) {
		rep.Anomaly("canary: the bronze check with two planted faults reported %q, want %q", problems, want)
	}
	rep.Figure("canary_faults_detected", len(problems))
	return nil
}

// heartbeat logs "what" every 10 seconds until the returned function is called (long queries
// log nothing of their own). The function may be called more than once.
func heartbeat(env Env, what string) func() {
	done := make(chan struct{})
	var once sync.Once
	start := time.Now()
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				env.Log.Info(what, "elapsed", time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// loadServer is the `strata serve` child process.
type loadServer struct {
	cmd    *exec.Cmd
	url    string
	stderr *tailBuffer
	// exited is closed when the process has exited; waitErr is then its exit status.
	exited  chan struct{}
	waitErr error
}

var loadDashboardRe = regexp.MustCompile(`dashboard\s+(http://\S+?)/\s*$`)

// startLoadServer starts `strata serve` on the project and waits (up to 3 minutes) for it to
// print its addresses.
func startLoadServer(ctx context.Context, env Env, dir string) (*loadServer, error) {
	args := append([]string{"serve", "--project", dir}, loadServerArgs...)
	cmd := exec.Command(env.Exe, args...)
	s := &loadServer{cmd: cmd, stderr: &tailBuffer{max: 16 << 10}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load: start %s serve: %w", env.Exe, err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := loadDashboardRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.url = <-urls:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("load: strata serve exited before serving: %v: %s", s.waitErr, tailOf(s.stderr.String(), 2000))
	case <-time.After(3 * time.Minute):
		err = errors.New("load: strata serve printed no address within 3 minutes")
	case <-ctx.Done():
		err = fmt.Errorf("load: %w", ctx.Err())
	}
	cmd.Process.Kill()
	<-s.exited
	return nil, err
}

// stop asks the server to stop (SIGINT) and waits up to 90 seconds. A server that does not stop,
// or stops with an error, is an anomaly; one that already exited was reported when it did.
func (s *loadServer) stop(rep *Report) {
	select {
	case <-s.exited:
		return
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		rep.Anomaly("SIGINT to strata serve: %v", err)
	}
	select {
	case <-s.exited:
		if s.waitErr != nil {
			rep.Anomaly("strata serve exited uncleanly after SIGINT: %v; stderr: %s", s.waitErr, tailOf(s.stderr.String(), 2000))
		}
	case <-time.After(90 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		rep.Anomaly("strata serve did not stop within 90 s of SIGINT; stderr: %s", tailOf(s.stderr.String(), 2000))
	}
}

// memSampler samples a process's VmRSS and VmHWM every 500 ms, and the streaming state the
// server's pipelines report every 5 s.
type memSampler struct {
	pid    int
	url    string // the server's, for /api/pipelines
	client *http.Client

	mu      sync.Mutex // guards the fields below
	peakRSS int64      // the largest VmRSS seen, in bytes
	hwm     int64      // the last VmHWM read (the kernel's peak RSS), in bytes
	samples int
	err     error // the last read error while the process lived
	// The largest state seen (summed over flows), and the number of state samples.
	stateEntries, stateBytes int64
	stateSamples             int
}

func newMemSampler(pid int, url string) *memSampler {
	return &memSampler{pid: pid, url: url, client: &http.Client{Timeout: 30 * time.Second}}
}

// run samples until ctx ends or the process is gone.
func (m *memSampler) run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.sampleState(ctx)
			}
		}
	}()
	defer func() { <-done }()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		m.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sampleState reads the pipelines' state from /api/pipelines (a failed read is skipped: the
// server is busy, and the next sample comes 5 s later).
func (m *memSampler) sampleState(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url+"/api/pipelines", nil)
	if err != nil {
		return
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var body struct {
		Flows []struct {
			StateEntries int64 `json:"state_entries"`
			StateBytes   int64 `json:"state_bytes"`
		} `json:"flows"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return
	}
	var entries, size int64
	for _, f := range body.Flows {
		entries += f.StateEntries
		size += f.StateBytes
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stateSamples++
	if stateMemory(entries, size) > stateMemory(m.stateEntries, m.stateBytes) {
		m.stateEntries, m.stateBytes = entries, size
	}
}

func (m *memSampler) sample() {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid))
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.err = err
		return
	}
	rss, hwm, err := parseProcStatus(data)
	if err != nil {
		m.err = err
		return
	}
	m.samples++
	m.peakRSS = max(m.peakRSS, rss)
	m.hwm = max(m.hwm, hwm)
}

func (m *memSampler) peaks() (rss, hwm int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peakRSS, m.hwm
}

// report records the peaks and checks them against the bound: loadRSSBound plus the memory of
// the largest state seen.
func (m *memSampler) report(rep *Report) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound := int64(loadRSSBound) + stateMemory(m.stateEntries, m.stateBytes)
	rep.Figure("peak_rss_mib", m.peakRSS>>20)
	rep.Figure("vm_hwm_mib", m.hwm>>20)
	rep.Figure("memory_samples", m.samples)
	rep.Figure("peak_state_entries", m.stateEntries)
	rep.Figure("peak_state_bytes", m.stateBytes)
	rep.Figure("state_samples", m.stateSamples)
	rep.Figure("rss_bound_mib", bound>>20)
	if m.samples == 0 {
		rep.Skip("memory: no sample of /proc/%d/status (%v)", m.pid, m.err)
		return
	}
	if peak := max(m.peakRSS, m.hwm); peak > bound {
		rep.Anomaly("the server's memory peaked at %d MiB (VmRSS %d MiB, VmHWM %d MiB), above the %d MiB bound (%d MiB, plus %d MiB for a state of %d entries and %d bytes)",
			peak>>20, m.peakRSS>>20, m.hwm>>20, bound>>20, int64(loadRSSBound)>>20, stateMemory(m.stateEntries, m.stateBytes)>>20, m.stateEntries, m.stateBytes)
	}
}

// parseProcStatus reads VmRSS and VmHWM (in bytes) from /proc/PID/status.
func parseProcStatus(data []byte) (rss, hwm int64, err error) {
	found := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status line %q: want a size in kB", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status line %q: %w", line, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("/proc status without VmRSS and VmHWM")
	}
	return rss, hwm, nil
}

// loadIDState is what the load generator knows of an event_id.
type loadIDState uint8

const (
	// loadRefused: every request carrying it was answered 429 (nothing was written).
	loadRefused loadIDState = iota + 1
	// loadUnknown: a request carrying it failed otherwise (transport error, 5xx): it may or may
	// not have been written. The failure is an anomaly already.
	loadUnknown
	// loadAcked: a request carrying it was answered 200: the log holds it.
	loadAcked
)

// loadGen is the load generator and its ledger.
type loadGen struct {
	url    string
	seed   uint64
	rep    *Report
	client *http.Client // the load's requests, each bounded by loadRequestTimeout
	// checkClient sends the checker's queries, bounded by loadCheckTimeout instead.
	checkClient *http.Client

	requests  atomic.Int64 // answers checked, of every kind
	failures  atomic.Int64 // requests that were anomalies (the first loadMaxListed are listed)
	acked     atomic.Int64 // events acknowledged
	throttled atomic.Int64 // 429 answers
	issued    atomic.Int64 // events put in a batch (the count bound)
	queries   atomic.Int64 // queries sent (the count bound)

	mu sync.Mutex // guards the fields below
	// ledger is the state of every event sent.
	ledger map[loadKey]loadIDState
	// latency holds the latencies of the answered requests by kind ("ingest", "endpoint", "sql").
	latency map[string][]time.Duration
	// byStatus counts answers by kind and status ("ingest 200", "endpoint 404", ...).
	byStatus map[string]int64
	// ingestTime is how long the ingest clients ran (until the deadline or the record bound).
	ingestTime time.Duration
}

func newLoadGen(url string, seed uint64, rep *Report) *loadGen {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	return &loadGen{url: url, seed: seed, rep: rep, client: &http.Client{Transport: tr, Timeout: loadRequestTimeout},
		checkClient: &http.Client{Transport: tr},
		ledger:      map[loadKey]loadIDState{}, latency: map[string][]time.Duration{}, byStatus: map[string]int64{}}
}

// run runs the clients until the deadline, the count bounds, or ctx.
func (g *loadGen) run(ctx context.Context, deadline time.Time, records, queries int64) {
	start := time.Now()
	var ingest, query sync.WaitGroup
	for c := range loadIngestClients {
		ingest.Go(func() { g.ingestClient(ctx, c, deadline, records) })
	}
	for c := range loadEndpointClients + loadSQLClients {
		query.Go(func() { g.queryClient(ctx, c, c < loadEndpointClients, deadline, queries) })
	}
	ingest.Wait()
	g.ingestTime = time.Since(start)
	query.Wait()
	g.client.CloseIdleConnections()
}

// loadMaxListed bounds the request anomalies listed one by one; the rest are counted.
const loadMaxListed = 20

// fail records a request that broke a promise: listed while few, counted always.
func (g *loadGen) fail(format string, args ...any) {
	if g.failures.Add(1) <= loadMaxListed {
		g.rep.Anomaly(format, args...)
	}
}

// loadAnswer is one request's outcome.
type loadAnswer struct {
	status     int
	retryAfter string
	body       []byte
	elapsed    time.Duration
}

// send sends one request and reads its answer (up to 64 MiB).
func (g *loadGen) send(ctx context.Context, method, path, contentType string, body []byte) (loadAnswer, error) {
	return g.sendWith(ctx, g.client, method, path, contentType, body)
}

// sendWith is send through client.
func (g *loadGen) sendWith(ctx context.Context, client *http.Client, method, path, contentType string, body []byte) (loadAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, bytes.NewReader(body))
	if err != nil {
		return loadAnswer{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return loadAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return loadAnswer{}, fmt.Errorf("reading the answer (status %d): %w", resp.StatusCode, err)
	}
	return loadAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: data, elapsed: time.Since(start)}, nil
}

// record counts an answer (and its latency when it is not a 429).
func (g *loadGen) record(kind string, a loadAnswer) {
	g.requests.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.byStatus[kind+" "+strconv.Itoa(a.status)]++
	if a.status != http.StatusTooManyRequests {
		g.latency[kind] = append(g.latency[kind], a.elapsed)
	}
}

// throttle checks a 429's Retry-After and waits it out (plus up to 250 ms of jitter, so that
// refused clients do not come back together). It reports false when ctx ended first.
func (g *loadGen) throttle(ctx context.Context, rng *rand.Rand, what string, a loadAnswer) bool {
	g.throttled.Add(1)
	g.rep.Fault("http-429", 1)
	secs, err := strconv.Atoi(a.retryAfter)
	if err != nil || secs < 0 {
		g.fail("%s: 429 without a valid Retry-After (%q): %s", what, a.retryAfter, abbrevLoad(a.body))
		secs = 1
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil || body.Error == "" {
		g.fail("%s: 429 without a JSON error (%v): %s", what, err, abbrevLoad(a.body))
	}
	wait := time.Duration(min(secs, 30))*time.Second + time.Duration(rng.Int64N(int64(250*time.Millisecond)))
	select {
	case <-ctx.Done():
		return false
	case <-time.After(wait):
		return true
	}
}

// mark sets the state of a batch's events; an acknowledgement is never taken back.
func (g *loadGen) mark(keys []loadKey, st loadIDState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		if g.ledger[k] != loadAcked {
			g.ledger[k] = st
		}
	}
}

// ingestClient posts batches of events until the deadline or the record bound.
func (g *loadGen) ingestClient(ctx context.Context, client int, deadline time.Time, records int64) {
	rng := rand.New(rand.NewPCG(g.seed, uint64(client)))
	var seq uint32
	for ctx.Err() == nil && time.Now().Before(deadline) {
		n := loadBatchMin + rng.IntN(loadBatchMax-loadBatchMin+1)
		if g.issued.Add(int64(n)) > records {
			return
		}
		ids, body := loadBatch(rng, g.seed, uint32(client), &seq, n)
		what := fmt.Sprintf("POST /v1/topics/events/records (client %d, %d events from %s)", client, n, loadEventID(g.seed, ids[0]))
		for {
			a, err := g.send(ctx, http.MethodPost, "/v1/topics/events/records", "application/x-ndjson", body)
			if err != nil {
				g.mark(ids, loadUnknown)
				if ctx.Err() == nil {
					g.requests.Add(1)
					g.fail("%s: %v", what, err)
				}
				break
			}
			g.record("ingest", a)
			if a.status == http.StatusTooManyRequests {
				g.mark(ids, loadRefused)
				if time.Now().After(deadline.Add(loadRetryGrace)) || !g.throttle(ctx, rng, what, a) {
					return
				}
				continue
			}
			if a.status != http.StatusOK {
				g.mark(ids, loadUnknown)
				g.fail("%s: status %d: %s", what, a.status, abbrevLoad(a.body))
				break
			}
			var resp httpingest.Response
			if err := json.Unmarshal(a.body, &resp); err != nil || !acknowledges(resp, n) {
				g.mark(ids, loadUnknown)
				g.fail("%s: 200 whose answer does not acknowledge the %d records (%v): %s", what, n, err, abbrevLoad(a.body))
				break
			}
			g.mark(ids, loadAcked)
			g.acked.Add(int64(n))
			break
		}
	}
}

// acknowledges says whether an ingest answer acknowledges n records of the events topic: its
// partitions' offset ranges hold them all.
func acknowledges(resp httpingest.Response, n int) bool {
	sum := 0
	for _, p := range resp.Partitions {
		if p.Records <= 0 || p.LastOffset-p.FirstOffset+1 != int64(p.Records) {
			return false
		}
		sum += p.Records
	}
	return resp.Topic == demo.TopicEvents && resp.Records == n && sum == n
}

// queryClient sends endpoint or SQL queries until the deadline or the query bound.
func (g *loadGen) queryClient(ctx context.Context, client int, endpoint bool, deadline time.Time, queries int64) {
	rng := rand.New(rand.NewPCG(g.seed, uint64(1000+client)))
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if g.queries.Add(1) > queries {
			return
		}
		kind, method, path, ct := "sql", http.MethodPost, "/api/sql", "application/json"
		var body []byte
		user := int64(1 + rng.IntN(loadUsers))
		if endpoint {
			kind, method, path, ct = "endpoint", http.MethodGet, fmt.Sprintf("/api/users/%d/stats", user), ""
		} else {
			body, _ = json.Marshal(map[string]any{"sql": loadSQL[rng.IntN(len(loadSQL))], "limit": 1000})
		}
		what := method + " " + path
		if !endpoint {
			what += " " + string(body)
		}
		for {
			a, err := g.send(ctx, method, path, ct, body)
			if err != nil {
				if ctx.Err() == nil {
					g.requests.Add(1)
					g.fail("%s: %v", what, err)
				}
				break
			}
			g.record(kind, a)
			if a.status == http.StatusTooManyRequests {
				if time.Now().After(deadline.Add(loadRetryGrace)) || !g.throttle(ctx, rng, what, a) {
					return
				}
				continue
			}
			if err := checkQueryAnswer(endpoint, user, a); err != nil {
				g.fail("%s: %v", what, err)
			}
			break
		}
	}
}

// checkQueryAnswer checks a query's answer: 200 with JSON (the endpoint's for the user asked), or
// the endpoint's 404 for a user without data yet.
func checkQueryAnswer(endpoint bool, user int64, a loadAnswer) error {
	var out map[string]any
	jerr := json.Unmarshal(a.body, &out)
	switch {
	case endpoint && a.status == http.StatusNotFound && jerr == nil && strings.HasPrefix(fmt.Sprint(out["error"]), "no data for"):
		return nil
	case a.status != http.StatusOK:
		return fmt.Errorf("status %d: %s", a.status, abbrevLoad(a.body))
	case jerr != nil:
		return fmt.Errorf("200 whose answer is not a JSON object (%v): %s", jerr, abbrevLoad(a.body))
	case endpoint && fmt.Sprint(out["user_id"]) != strconv.FormatInt(user, 10):
		return fmt.Errorf("200 for another user: %s", abbrevLoad(a.body))
	case !endpoint && out["rows"] == nil:
		return fmt.Errorf("200 without rows: %s", abbrevLoad(a.body))
	}
	return nil
}

// loadKey identifies an event of a run: its client (the high 32 bits) and the client's sequence
// number. The ledger is keyed by it rather than by event_id text, so that a long run's millions
// of events take little memory.
type loadKey uint64

// loadIDMark is the first 4 bytes of every event_id the load sends.
const loadIDMark = 0x10ad10ad

// loadEventIDBytes is the event_id of key k in a run with seed: 10ad10ad-SSSS-SSSS-CCCC-CCCCNNNNNNNN
// as 16 bytes (the load's mark, the seed's low 32 bits, the client, the sequence number).
func loadEventIDBytes(seed uint64, k loadKey) (id [16]byte) {
	binary.BigEndian.PutUint32(id[0:4], loadIDMark)
	binary.BigEndian.PutUint32(id[4:8], uint32(seed))
	binary.BigEndian.PutUint64(id[8:16], uint64(k))
	return id
}

// loadEventID is the event_id text of key k (the UUID form gen.Event.EventID renders).
func loadEventID(seed uint64, k loadKey) string {
	ev := gen.Event{ID: loadEventIDBytes(seed, k)}
	return ev.EventID()
}

// parseLoadEventID returns the key of an event_id of this run, or false for any other text.
func parseLoadEventID(seed uint64, id string) (loadKey, bool) {
	raw, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(raw) != 16 || len(id) != 36 {
		return 0, false
	}
	k := loadKey(binary.BigEndian.Uint64(raw[8:16]))
	if [16]byte(raw) != loadEventIDBytes(seed, k) || loadEventID(seed, k) != id {
		return 0, false
	}
	return k, true
}

// loadBatch makes n demo-format events (gen.AppendJSON, well-formed, schema version 2, event
// times of now) as NDJSON, with the event_ids of the client's next n keys.
func loadBatch(rng *rand.Rand, seed uint64, client uint32, seq *uint32, n int) (keys []loadKey, body []byte) {
	countries := []string{"ES", "MX", "AR", "CO", "US", "FR"}
	devices := []string{"mobile", "desktop", "tablet"}
	now := time.Now().UnixMicro()
	for range n {
		ev := gen.Event{Type: gen.EventTypes[rng.IntN(len(gen.EventTypes))], UserID: int64(1 + rng.IntN(loadUsers)),
			SessionID: rng.Uint64() | 1, TS: now, Country: countries[rng.IntN(len(countries))],
			Device: devices[rng.IntN(len(devices))], SchemaVersion: 2}
		k := loadKey(uint64(client)<<32 | uint64(*seq))
		*seq++
		ev.ID = loadEventIDBytes(seed, k)
		switch ev.Type {
		case gen.TypePageView, gen.TypeAddToCart:
			ev.ProductID = fmt.Sprintf("SKU-%05d", 1+rng.IntN(500))
			if ev.Type == gen.TypeAddToCart {
				ev.Quantity = int32(1 + rng.IntN(3))
			}
		case gen.TypeOrder, gen.TypeRefund:
			ev.ProductID = fmt.Sprintf("SKU-%05d", 1+rng.IntN(500))
			ev.OrderID = rng.Uint64() | 1
			ev.Quantity = int32(1 + rng.IntN(3))
			ev.RevenueCents = int64(ev.Quantity) * int64(500+rng.IntN(20000))
			if ev.Type == gen.TypeRefund {
				ev.RevenueCents = -ev.RevenueCents
			}
		case gen.TypePayment:
			ev.OrderID = rng.Uint64() | 1
		}
		keys = append(keys, k)
		body = gen.AppendJSON(body, &ev)
	}
	return keys, body
}

// loadReadTables are the tables the queries read; the load starts once they all exist.
var loadReadTables = []string{"sales.bronze_events", "sales.silver_events", "analytics.user_stats"}

// waitReady waits (up to 3 minutes) until the server lists every table of loadReadTables: the
// pipelines create them with their first commit. Until then the endpoint must answer 503 with
// Retry-After (not ready), 200 or 404; anything else is an anomaly.
func (g *loadGen) waitReady(ctx context.Context, env Env, rep *Report) error {
	start := time.Now()
	var early []string
	notReady := 0
	for {
		a, err := g.send(ctx, http.MethodGet, "/api/tables", "", nil)
		if err != nil {
			return fmt.Errorf("load: GET /api/tables: %w", err)
		}
		var out struct {
			Tables []struct {
				Name string `json:"name"`
			} `json:"tables"`
		}
		if a.status != http.StatusOK || json.Unmarshal(a.body, &out) != nil {
			return fmt.Errorf("load: GET /api/tables: status %d: %s", a.status, abbrevLoad(a.body))
		}
		missing := slices.Clone(loadReadTables)
		for _, t := range out.Tables {
			missing = slices.DeleteFunc(missing, func(m string) bool { return m == t.Name })
		}
		if len(missing) == 0 {
			break
		}
		// What a client asking now gets (the endpoint reads analytics.user_stats).
		if a, err := g.send(ctx, http.MethodGet, "/api/users/1/stats", "", nil); err == nil {
			switch {
			case a.status == http.StatusServiceUnavailable && a.retryAfter != "":
				notReady++
			case a.status != http.StatusOK && a.status != http.StatusNotFound:
				early = append(early, fmt.Sprintf("%d %s", a.status, abbrevLoad(a.body)))
			}
		}
		if time.Since(start) > 3*time.Minute {
			return fmt.Errorf("load: the pipelines did not create %v within 3 minutes", missing)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("load: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	rep.Figure("ready_s", time.Since(start).Seconds())
	rep.Figure("not_ready_503", notReady)
	rep.Add(int64(notReady+len(early)), 0, 0)
	if len(early) > 0 {
		rep.Anomaly("before the pipelines created %v, GET /api/users/1/stats answered %d times neither 503 with Retry-After nor 200/404, first: %s",
			loadReadTables, len(early), early[0])
	}
	env.Log.Info("load: tables ready", "after", time.Since(start).Round(time.Millisecond))
	return nil
}

// loadCheckTimeout bounds one of the checker's queries (the server's maximum): they read every
// acknowledged event (5 million at --iterations 1000), which took over the default 30 s on a
// loaded machine.
const loadCheckTimeout = 10 * time.Minute

// sql runs one of the checker's queries through POST /api/sql (with loadCheckTimeout) and returns
// its rows; a 429 is waited out and retried.
func (g *loadGen) sql(ctx context.Context, q string) ([]map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"sql": q, "limit": 100000, "timeout_ms": loadCheckTimeout.Milliseconds()})
	ctx, cancel := context.WithTimeout(ctx, loadCheckTimeout+time.Minute)
	defer cancel()
	for {
		a, err := g.sendWith(ctx, g.checkClient, http.MethodPost, "/api/sql", "application/json", body)
		if err != nil {
			return nil, fmt.Errorf("load: POST /api/sql %q: %w", q, err)
		}
		if a.status == http.StatusTooManyRequests {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("load: %w", ctx.Err())
			case <-time.After(time.Second):
			}
			continue
		}
		if a.status != http.StatusOK {
			return nil, fmt.Errorf("load: POST /api/sql %q: status %d: %s", q, a.status, abbrevLoad(a.body))
		}
		dec := json.NewDecoder(bytes.NewReader(a.body))
		dec.UseNumber()
		var out struct {
			Rows      []map[string]any `json:"rows"`
			Truncated bool             `json:"truncated"`
		}
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("load: POST /api/sql %q: %w", q, err)
		}
		if out.Truncated {
			return nil, fmt.Errorf("load: POST /api/sql %q: truncated answer", q)
		}
		return out.Rows, nil
	}
}

// drain waits until sales.bronze_events holds at least the acknowledged events, for at most 5
// minutes and at most 60 seconds without progress (the check then reports what is missing).
func (g *loadGen) drain(ctx context.Context, env Env, acked int64) error {
	start, last, lastN := time.Now(), time.Now(), int64(-1)
	logged := time.Now()
	for {
		rows, err := g.sql(ctx, "SELECT count(*) AS n FROM sales.bronze_events")
		if err != nil {
			return err
		}
		n, _ := strconv.ParseInt(fmt.Sprint(rows[0]["n"]), 10, 64)
		if n >= acked {
			env.Log.Info("load drained", "bronze_rows", n, "acknowledged", acked, "after", time.Since(start).Round(time.Second))
			g.rep.Figure("drain_s", time.Since(start).Seconds())
			return nil
		}
		if n != lastN {
			last, lastN = time.Now(), n
		}
		if time.Since(last) > time.Minute || time.Since(start) > 5*time.Minute {
			env.Log.Warn("load: bronze stopped short of the acknowledged events", "bronze_rows", n, "acknowledged", acked)
			return nil
		}
		if time.Since(logged) > 10*time.Second {
			env.Log.Info("load draining", "bronze_rows", n, "acknowledged", acked)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("load: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// loadFound counts the event_ids found in bronze and its quarantine: this run's by key, any
// other text (there should be none) as is.
type loadFound struct {
	ours    map[loadKey]int
	foreign map[string]int
}

func (f *loadFound) add(seed uint64, id string, n int) {
	if k, ok := parseLoadEventID(seed, id); ok {
		f.ours[k] += n
	} else {
		f.foreign[id] += n
	}
}

// loadRange is a run of consecutive keys of one client, lo to hi inclusive.
type loadRange struct{ lo, hi loadKey }

// ackedRanges returns the acknowledged keys of a ledger as runs of consecutive keys, sorted.
// Clients send their batches one after the other and retry a refused one until it is
// acknowledged, so a client's acknowledged keys are one run but for the rare batch given up.
func ackedRanges(ledger map[loadKey]loadIDState) []loadRange {
	var keys []loadKey
	for k, st := range ledger {
		if st == loadAcked {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []loadRange
	for _, k := range keys {
		if n := len(out); n > 0 && out[n-1].hi+1 == k && k>>32 == out[n-1].lo>>32 {
			out[n-1].hi = k
			continue
		}
		out = append(out, loadRange{k, k})
	}
	return out
}

// loadClientPrefix is the part of an event_id naming its client (the first 28 characters).
func loadClientPrefix(seed uint64, client uint32) string {
	return loadEventID(seed, loadKey(uint64(client)<<32))[:28]
}

// readBronzeIDs finds the events of a ledger (read after the load: no client writes it) in sales.bronze_events and its quarantine
// (absent until something is quarantined) with a few queries whatever the run's size, since the
// hex event_ids sort as their keys:
//
//   - per client, the rows and distinct event_ids inside the acknowledged runs: when both equal
//     the client's acknowledged events, each of them is there exactly once, and found says so;
//     otherwise (and always for client 0, a cross-check of the counts) the client's event_ids
//     are read one by one (at most a client's share of the run);
//   - every event_id outside the acknowledged runs (there should be none but the failed
//     requests'), one by one.
func (g *loadGen) readBronzeIDs(ctx context.Context, ledger map[loadKey]loadIDState) (loadFound, error) {
	found := loadFound{ours: map[loadKey]int{}, foreign: map[string]int{}}
	ranges := ackedRanges(ledger)
	perClient := map[uint32]int64{}
	for k, st := range ledger {
		if st == loadAcked {
			perClient[uint32(k>>32)]++
		}
	}
	quarantined, err := g.tableExists(ctx, "sales.bronze_events_quarantine")
	if err != nil {
		return found, err
	}
	ids := `SELECT coalesce(raw->>'event_id', '') AS id FROM sales.bronze_events`
	if quarantined {
		ids += ` UNION ALL SELECT coalesce(regexp_extract(CAST(_quarantine_value AS VARCHAR), '"event_id":"([^"]*)"', 1), '')
			FROM sales.bronze_events_quarantine`
	}
	var vals strings.Builder
	for i, r := range ranges {
		if i > 0 {
			vals.WriteString(", ")
		}
		fmt.Fprintf(&vals, "('%s', '%s')", loadEventID(g.seed, r.lo), loadEventID(g.seed, r.hi))
	}
	if len(ranges) == 0 {
		vals.WriteString("('', '')") // matches nothing: every id is longer
	}
	// Each id counted once over bronze and its quarantine, and tagged by whether it falls inside
	// an acknowledged run (a range join).
	counted := "WITH ids AS (" + ids + "), acked(lo, hi) AS (VALUES " + vals.String() + "), " +
		"byid AS (SELECT id, count(*) AS n FROM ids GROUP BY id), " +
		"tagged AS (SELECT byid.id, byid.n, EXISTS (SELECT 1 FROM acked WHERE byid.id BETWEEN acked.lo AND acked.hi) AS inside FROM byid) "
	rows, err := g.sql(ctx, counted+`SELECT substr(id, 1, 28) AS client, sum(n) AS n, count(*) AS d FROM tagged WHERE inside GROUP BY 1`)
	if err != nil {
		return found, err
	}
	seen := map[string][2]int64{}
	for _, r := range rows {
		n, _ := strconv.ParseInt(fmt.Sprint(r["n"]), 10, 64)
		d, _ := strconv.ParseInt(fmt.Sprint(r["d"]), 10, 64)
		seen[fmt.Sprint(r["client"])] = [2]int64{n, d}
	}
	for client, want := range perClient {
		prefix := loadClientPrefix(g.seed, client)
		// Client 0's ids are always read one by one: a cross-check of the counts above.
		if got := seen[prefix]; client != 0 && got == [2]int64{want, want} {
			for _, r := range ranges {
				if uint32(r.lo>>32) == client {
					for k := r.lo; k <= r.hi; k++ {
						found.ours[k] = 1
					}
				}
			}
			continue
		}
		if err := g.readIDs(ctx, &found, counted+fmt.Sprintf(`SELECT id, n FROM tagged WHERE inside AND id LIKE '%s%%' ORDER BY id`, prefix)); err != nil {
			return found, err
		}
	}
	err = g.readIDs(ctx, &found, counted+`SELECT id, n FROM tagged WHERE NOT inside ORDER BY id`)
	return found, err
}

// readIDs adds the (id, n) rows of a query to found (a truncated answer is an error).
func (g *loadGen) readIDs(ctx context.Context, found *loadFound, q string) error {
	rows, err := g.sql(ctx, q)
	if err != nil {
		return err
	}
	for _, r := range rows {
		id := fmt.Sprint(r["id"])
		n, err := strconv.Atoi(fmt.Sprint(r["n"]))
		if err != nil {
			return fmt.Errorf("load: bronze count %v of %s", r["n"], id)
		}
		found.add(g.seed, id, n)
	}
	return nil
}

// tableExists says whether the server lists a table.
func (g *loadGen) tableExists(ctx context.Context, name string) (bool, error) {
	a, err := g.send(ctx, http.MethodGet, "/api/tables", "", nil)
	if err != nil {
		return false, fmt.Errorf("load: GET /api/tables: %w", err)
	}
	var out struct {
		Tables []struct {
			Name string `json:"name"`
		} `json:"tables"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &out) != nil {
		return false, fmt.Errorf("load: GET /api/tables: status %d: %s", a.status, abbrevLoad(a.body))
	}
	return slices.ContainsFunc(out.Tables, func(t struct {
		Name string `json:"name"`
	}) bool {
		return t.Name == name
	}), nil
}

// checkLoadLedger accounts for every event of the ledger in found (the event_ids counted in
// bronze and its quarantine): an acknowledged one exactly once, a refused one never, one of a
// failed request at most once; an event_id found that was never sent is an anomaly too. It
// returns the acknowledged events found once, and the anomalies, one per kind with the count and
// a few event_ids.
func checkLoadLedger(seed uint64, ledger map[loadKey]loadIDState, found loadFound) (accounted int64, anomalies []string) {
	problems := map[string][]string{}
	add := func(kind string, k loadKey, n int) {
		problems[kind] = append(problems[kind], fmt.Sprintf("%s x%d", loadEventID(seed, k), n))
	}
	for k, st := range ledger {
		n := found.ours[k]
		switch {
		case st == loadAcked && n == 1:
			accounted++
		case st == loadAcked && n == 0:
			add("acknowledged event_ids missing from sales.bronze_events and its quarantine", k, n)
		case st == loadAcked:
			add("acknowledged event_ids more than once in sales.bronze_events and its quarantine", k, n)
		case st == loadRefused && n > 0:
			add("event_ids refused with 429 (nothing written) found in sales.bronze_events", k, n)
		case st == loadUnknown && n > 1:
			add("event_ids of failed requests more than once in sales.bronze_events", k, n)
		}
	}
	const never = "event_ids never sent found in sales.bronze_events"
	for k, n := range found.ours {
		if _, ok := ledger[k]; !ok {
			add(never, k, n)
		}
	}
	for id, n := range found.foreign {
		problems[never] = append(problems[never], fmt.Sprintf("%q x%d", id, n))
	}
	kinds := make([]string, 0, len(problems))
	for k := range problems {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		ids := problems[k]
		slices.Sort(ids)
		anomalies = append(anomalies, fmt.Sprintf("%d %s (first: %s)", len(ids), k, strings.Join(ids[:min(len(ids), 5)], ", ")))
	}
	return accounted, anomalies
}

// figures records requests by kind and status, throughput, latency percentiles and 429s.
func (g *loadGen) figures(rep *Report, elapsed time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rep.Figure("load_s", elapsed.Seconds())
	rep.Figure("answers_by_kind_and_status", g.byStatus)
	for kind, lat := range g.latency {
		slices.Sort(lat)
		rep.Figure("requests_"+kind, len(lat))
		rep.Figure("latency_ms_p50_"+kind, percentileMS(lat, 0.50))
		rep.Figure("latency_ms_p99_"+kind, percentileMS(lat, 0.99))
	}
	rep.Figure("http_429", g.throttled.Load())
	rep.Figure("requests_failed", g.failures.Load())
	if n := g.failures.Load(); n > loadMaxListed {
		rep.Anomaly("%d more failed requests (the first %d are listed)", n-loadMaxListed, loadMaxListed)
	}
	rep.Figure("records_acknowledged", g.acked.Load())
	rep.Figure("ingest_s", g.ingestTime.Seconds())
	if g.ingestTime > 0 {
		rep.Figure("records_per_s_acknowledged", float64(g.acked.Load())/g.ingestTime.Seconds())
	}
}

// percentileMS is the p-th quantile of sorted durations, in milliseconds (0 when empty).
func percentileMS(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(p*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

// tailOf returns the last n bytes of s.
func tailOf(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// abbrevLoad shortens an answer body for an anomaly's sentence.
func abbrevLoad(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
