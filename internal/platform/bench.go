package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/bench"
	"github.com/stratalake/strata/internal/demo"
	"github.com/stratalake/strata/internal/project"
)

// BenchConfig configures Bench: the demo platform under its generator at Rate events per
// second, the serving endpoint under Requests per second, both measured.
type BenchConfig struct {
	// Dir is the demo project's folder (default: a new temporary folder, removed afterwards).
	Dir string
	// Rate is the generator's rate in events per second (default 20,000); Duration how long it
	// runs (default 60 s).
	Rate     float64
	Duration time.Duration
	// Requests is the serving load in requests per second (default 200), sent open-loop (each
	// on schedule, whatever the previous ones do) to the project's first serving endpoint.
	Requests int
	// Warmup is how long the platform runs before anything is measured (default 20 s).
	Warmup time.Duration
	// Users of the generator (default 20,000); the load asks for random users among them.
	Users int
	// MemoryLimit of DuckDB (default 4GB).
	MemoryLimit string
	// Logger receives progress lines (nil: discarded).
	Logger *slog.Logger
}

// Quantiles are the p50, p99 and maximum of a sample, with its size.
type Quantiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func quantiles(v []float64) Quantiles {
	if len(v) == 0 {
		return Quantiles{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Quantiles{N: len(s), P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}

// LoadFigures are one load phase's results against the serving endpoint.
type LoadFigures struct {
	Phase string `json:"phase"`
	// Sent requests; Errors those that failed or answered other than 200 or 404; FromCache
	// those the server answered from its in-memory copies (X-Strata-Source: cache).
	Sent      int `json:"sent"`
	Errors    int `json:"errors"`
	FromCache int `json:"from_cache"`
	// LatencyMS of the answered requests, in milliseconds.
	LatencyMS Quantiles `json:"latency_ms"`
	// AchievedRPS is Sent over the phase's duration.
	AchievedRPS float64 `json:"achieved_rps"`
}

// BenchFigures are Bench's results.
type BenchFigures struct {
	Rate      float64 `json:"rate"`
	DurationS float64 `json:"duration_s"`
	Requests  int     `json:"requests_per_s"`
	Endpoint  string  `json:"endpoint"`
	// Produced is what the generator produced per topic; ProducedRate the events per second it
	// achieved while measured.
	Produced     map[string]int64 `json:"produced"`
	ProducedRate float64          `json:"produced_events_per_s"`
	// FreshnessS is the data latency in seconds of each table of the project's
	// serve.freshness_tables (the tables under the 5-minute requirement), sampled every second
	// while the generator ran (after the warm-up); FreshnessAll pools every table's samples.
	FreshnessS   map[string]Quantiles `json:"freshness_s"`
	FreshnessAll Quantiles            `json:"freshness_all_s"`
	// Load is the serving endpoint under load while ingesting, and the same load once the
	// generator stopped and the pipelines drained (the reference); P99Ratio = loaded p99 over
	// reference p99.
	Load LoadFigures `json:"load"`
	// DrainS is how long the pipelines took, once the generator stopped, to catch up.
	DrainS    float64     `json:"drain_s"`
	Reference LoadFigures `json:"reference"`
	P99Ratio  float64     `json:"p99_ratio"`
	// CPUCores is the process's CPU time over the measured window divided by its length;
	// RSS the resident set sampled every second (MB), PeakRSSMB the peak.
	CPUCores  float64   `json:"cpu_cores"`
	RSSMB     Quantiles `json:"rss_mb"`
	PeakRSSMB float64   `json:"peak_rss_mb"`
	LoadAvg   []float64 `json:"load_average"`
	NumCPU    int       `json:"num_cpu"`
}

// Bench runs the e-commerce demo in this process: the generator at cfg.Rate for cfg.Duration
// with the pipelines running, the freshness of the freshness tables sampled every second, and
// an open-loop load of cfg.Requests per second on the project's first serving endpoint; then the
// same load once the pipelines are idle, as the reference.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchFigures, error) {
	if cfg.Rate <= 0 {
		cfg.Rate = 20_000
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 60 * time.Second
	}
	if cfg.Requests <= 0 {
		cfg.Requests = 200
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = 20 * time.Second
	}
	if cfg.Users <= 0 {
		cfg.Users = 20_000
	}
	if cfg.MemoryLimit == "" {
		cfg.MemoryLimit = "4GB"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "strata-bench-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "demo")
	}
	if _, err := demo.WriteProject(dir); err != nil {
		return nil, err
	}
	p, err := project.Load(dir)
	if err != nil {
		return nil, err
	}
	if len(p.Config.Serve.Endpoints) == 0 {
		return nil, fmt.Errorf("platform: bench: %s declares no serving endpoint", p.File)
	}
	endpoint := p.Config.Serve.Endpoints[0].Path
	slaTables := map[string]bool{}
	for _, t := range p.Config.Serve.FreshnessTables {
		slaTables[t] = true
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan Running, 1)
	done := make(chan error, 1)
	feed := &demo.FeedOptions{Rate: cfg.Rate, Users: cfg.Users, Duration: cfg.Warmup + cfg.Duration}
	go func() {
		done <- Run(ctx, p, Options{HTTPAddr: "127.0.0.1:0", PGAddr: "off", MemoryLimit: cfg.MemoryLimit, Feed: feed,
			Logger: logger.With("component", "platform"), Ready: func(r Running) { ready <- r }})
	}()
	var run Running
	select {
	case run = <-ready:
	case err := <-done:
		return nil, fmt.Errorf("platform: bench: the platform stopped: %v", err)
	}
	base := "http://" + run.HTTPAddr
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	logger.Info("bench: warming up", "for", cfg.Warmup, "rate", cfg.Rate)
	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return nil, err
	}

	fig := &BenchFigures{Rate: cfg.Rate, DurationS: cfg.Duration.Seconds(), Requests: cfg.Requests, Endpoint: endpoint,
		FreshnessS: map[string]Quantiles{}, NumCPU: runtime.NumCPU()}
	fresh := map[string][]float64{}
	var rss []float64
	bench.ResetPeakRSS()
	cpu0, t0 := bench.CPUTime(), time.Now()
	produced0 := run.Feed.Stats().Produced["events"]

	// Sample freshness and memory every second while the load runs.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
			rss = append(rss, float64(bench.RSS())/(1<<20))
			for table, s := range tableFreshness(client, base, slaTables) {
				fresh[table] = append(fresh[table], s)
			}
		}
	}()
	logger.Info("bench: measuring", "for", cfg.Duration, "requests_per_s", cfg.Requests)
	fig.Load = loadPhase(ctx, client, base, endpoint, cfg, "ingesting", cfg.Duration)
	stopSampling()
	wg.Wait()
	elapsed := time.Since(t0)
	fig.CPUCores = (bench.CPUTime() - cpu0).Seconds() / elapsed.Seconds()
	fig.PeakRSSMB = float64(bench.PeakRSS()) / (1 << 20)
	fig.RSSMB = quantiles(rss)
	fig.ProducedRate = float64(run.Feed.Stats().Produced["events"]-produced0) / elapsed.Seconds()
	fig.LoadAvg = bench.LoadAverage()
	var all []float64
	for table, v := range fresh {
		fig.FreshnessS[table] = quantiles(v)
		all = append(all, v...)
	}
	fig.FreshnessAll = quantiles(all)

	// The reference: the same load once the feed has stopped and the pipelines are idle.
	logger.Info("bench: waiting for the feed to stop and the pipelines to drain")
	for last := int64(-1); ; {
		n := run.Feed.Stats().Produced["events"]
		if n == last {
			break
		}
		last = n
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return nil, err
		}
	}
	drainStart := time.Now()
	if err := waitIdle(ctx, client, base, 10*time.Minute); err != nil {
		logger.Warn("bench: pipelines still busy; measuring the reference anyway", "err", err)
	}
	fig.DrainS = time.Since(drainStart).Seconds()
	fig.Reference = loadPhase(ctx, client, base, endpoint, cfg, "idle", min(cfg.Duration, 20*time.Second))
	if fig.Reference.LatencyMS.P99 > 0 {
		fig.P99Ratio = fig.Load.LatencyMS.P99 / fig.Reference.LatencyMS.P99
	}
	fig.Produced = run.Feed.Stats().Produced
	cancel()
	if err := <-done; err != nil {
		return fig, fmt.Errorf("platform: bench: %w", err)
	}
	return fig, nil
}

// loadPhase sends cfg.Requests per second to the endpoint with random users for d, open-loop,
// and measures each answer's latency.
func loadPhase(ctx context.Context, client *http.Client, base, endpoint string, cfg BenchConfig, phase string, d time.Duration) LoadFigures {
	rng := rand.New(rand.NewPCG(uint64(cfg.Requests), 7))
	interval := time.Second / time.Duration(cfg.Requests)
	var mu sync.Mutex
	var lat []float64
	errs, sent, cached := 0, 0, 0
	var wg sync.WaitGroup
	start := time.Now()
	next := start
	for time.Since(start) < d && ctx.Err() == nil {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		next = next.Add(interval)
		url := base + pathFor(endpoint, 1+rng.IntN(cfg.Users))
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			resp, err := client.Get(url)
			ms := float64(time.Since(t).Microseconds()) / 1000
			ok := err == nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound)
			fromCache := false
			if err == nil {
				fromCache = resp.Header.Get("X-Strata-Source") == "cache"
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				errs++
				return
			}
			if fromCache {
				cached++
			}
			lat = append(lat, ms)
		}()
	}
	wg.Wait()
	return LoadFigures{Phase: phase, Sent: sent, Errors: errs, FromCache: cached, LatencyMS: quantiles(lat), AchievedRPS: float64(sent) / time.Since(start).Seconds()}
}

// pathFor fills an endpoint path's first {param} with v.
func pathFor(endpoint string, v int) string {
	open, close := -1, -1
	for i, c := range endpoint {
		if c == '{' && open < 0 {
			open = i
		}
		if c == '}' && open >= 0 && close < 0 {
			close = i
		}
	}
	if open < 0 || close < 0 {
		return endpoint
	}
	return fmt.Sprintf("%s%d%s", endpoint[:open], v, endpoint[close+1:])
}

// tableFreshness reads the freshness of the given tables (every analytics table when none is
// given) from GET /api/tables (null ones left out).
func tableFreshness(client *http.Client, base string, tables map[string]bool) map[string]float64 {
	resp, err := client.Get(base + "/api/tables")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Tables []struct {
			Name      string   `json:"name"`
			Freshness *float64 `json:"freshness_seconds"`
		} `json:"tables"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return nil
	}
	out := map[string]float64{}
	for _, t := range body.Tables {
		if t.Freshness != nil && (tables[t.Name] || len(tables) == 0 && isGold(t.Name)) {
			out[t.Name] = *t.Freshness
		}
	}
	return out
}

// isGold says whether a table is one of the analytics domain's (the gold data products).
func isGold(name string) bool { return len(name) > 10 && name[:10] == "analytics." }

// waitIdle waits until no table has taken a new version for 5 seconds (GET /api/tables): the
// pipelines have caught up with everything produced.
func waitIdle(ctx context.Context, client *http.Client, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	quiet := 0
	last := ""
	for time.Now().Before(deadline) {
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
		resp, err := client.Get(base + "/api/tables")
		if err != nil {
			continue
		}
		var body struct {
			Tables []struct {
				Name    string `json:"name"`
				Version int64  `json:"version"`
			} `json:"tables"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			continue
		}
		cur := fmt.Sprint(body.Tables)
		if cur == last {
			quiet++
		} else {
			quiet = 0
		}
		last = cur
		if quiet >= 5 {
			return nil
		}
	}
	return fmt.Errorf("still processing after %s", timeout)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
