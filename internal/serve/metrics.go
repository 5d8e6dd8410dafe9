package serve

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stratalake/strata/internal/pipeline"
)

// initMetrics builds the server's private registry: Go and process collectors, the HTTP
// request counters, the monitor's batch duration histogram, and the collector that reads the
// monitor, the table list and the log at scrape time.
func (s *Server) initMetrics() {
	s.registry = prometheus.NewRegistry()
	s.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_http_requests_total",
		Help: "HTTP requests answered, by route (the matched pattern) and status code.",
	}, []string{"route", "code"})
	s.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "strata_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
	}, []string{"route"})
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.httpRequests, s.httpDuration, s.monitor.durations, &scrapeCollector{s: s})
}

// metricsHandler serves the registry in Prometheus's text format. A failing part (the log, the
// table list) is logged and left out; the rest is still served.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	})
}

// Metrics read at scrape time.
var (
	descIngest = prometheus.NewDesc("strata_ingest_records_total",
		"Records appended to each log topic (the sum of its partitions' latest offsets).", []string{"topic"}, nil)
	descRows = prometheus.NewDesc("strata_pipeline_rows_total",
		"Rows of each flow since the server started, by kind: in (read), out (written), dropped, quarantined, late, duplicate.",
		[]string{"flow", "kind"}, nil)
	descBatches = prometheus.NewDesc("strata_pipeline_batches_total",
		"Batches (and refreshes) each flow committed since the server started.", []string{"flow"}, nil)
	descExpect = prometheus.NewDesc("strata_expectation_failures_total",
		"Rows that failed each expectation since the server started.", []string{"flow", "expectation"}, nil)
	descState = prometheus.NewDesc("strata_pipeline_state",
		"Operator state of each streaming flow after its last batch (dedup keys, aggregation groups, CDC keys), by unit: entries, bytes (of keys and values).",
		[]string{"flow", "unit"}, nil)
	descFreshness = prometheus.NewDesc("strata_table_freshness_seconds",
		"How old the newest data of each pipeline table is (now minus its data time).", []string{"table"}, nil)
	descVersion = prometheus.NewDesc("strata_table_version",
		"Latest Delta version of each project table.", []string{"table"}, nil)
	descBytes = prometheus.NewDesc("strata_table_bytes",
		"Bytes of the data files of each project table's latest version.", []string{"table"}, nil)
	descFiles = prometheus.NewDesc("strata_table_files",
		"Data files of each project table's latest version.", []string{"table"}, nil)
	descLag = prometheus.NewDesc("strata_log_consumer_lag",
		"Records of a topic a consumer group has not committed yet (latest minus committed offsets, over the partitions it committed).",
		[]string{"group", "topic"}, nil)
)

// scrapeCollector reads the monitor, the (cached) table list and the log when scraped.
type scrapeCollector struct{ s *Server }

// Describe sends every metric's descriptor.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIngest, descRows, descBatches, descExpect, descState, descFreshness, descVersion, descBytes, descFiles, descLag} {
		ch <- d
	}
}

// Collect sends the current values; it takes at most 10 s (the log and the table list are read
// under that timeout).
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, flow := range c.flows() {
		v := s.monitor.flowView(flow)
		for _, k := range []struct {
			kind string
			n    int64
		}{{"in", v.In}, {"out", v.Out}, {"dropped", v.Dropped}, {"quarantined", v.Quar}, {"late", v.Late}, {"duplicate", v.Dup}} {
			ch <- prometheus.MustNewConstMetric(descRows, prometheus.CounterValue, float64(k.n), flow, k.kind)
		}
		ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(v.Batches), flow)
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, float64(v.StateEntries), flow, "entries")
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, float64(v.StateBytes), flow, "bytes")
		for _, name := range v.ExpectationNames {
			ch <- prometheus.MustNewConstMetric(descExpect, prometheus.CounterValue, float64(v.Expectations[name].failed), flow, name)
		}
	}
	for _, t := range s.monitor.tableNames() {
		if f := s.monitor.freshness(t); f != nil {
			ch <- prometheus.MustNewConstMetric(descFreshness, prometheus.GaugeValue, *f, t)
		}
	}
	if list, err := s.tables.get(ctx); err != nil {
		s.logger.Warn("serve: metrics: table list", "err", err)
	} else {
		for _, e := range list {
			if e.Err != nil {
				continue
			}
			ch <- prometheus.MustNewConstMetric(descVersion, prometheus.GaugeValue, float64(e.Version), e.Name)
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(e.SizeBytes), e.Name)
			ch <- prometheus.MustNewConstMetric(descFiles, prometheus.GaugeValue, float64(e.NumFiles), e.Name)
		}
	}
	if s.opts.Log != nil {
		c.collectLog(ctx, ch)
	}
}

// flows lists the flows to report: every node of the pipeline that runs (not temporary views
// nor AUTO CDC targets), and any other flow the monitor saw.
func (c *scrapeCollector) flows() []string {
	set := map[string]bool{}
	if idx := c.s.nodes; idx != nil {
		for _, n := range idx.p.Nodes {
			if ex := idx.p.Execution(n); ex != pipeline.ModeView && ex != pipeline.ModeTarget {
				set[n.Name] = true
			}
		}
	}
	for _, f := range c.s.monitor.flowNames() {
		set[f] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// collectLog sends the ingest counters and the consumer groups' lag.
func (c *scrapeCollector) collectLog(ctx context.Context, ch chan<- prometheus.Metric) {
	s := c.s
	l := s.opts.Log
	topics, err := l.ListTopics(ctx)
	if err != nil {
		s.logger.Warn("serve: metrics: list topics", "err", err)
		return
	}
	latest := map[string]map[int32]int64{}
	for _, t := range topics {
		info, err := l.DescribeTopic(ctx, t)
		if err != nil {
			s.logger.Warn("serve: metrics: describe topic", "topic", t, "err", err)
			continue
		}
		var total int64
		latest[t] = map[int32]int64{}
		for _, p := range info.Partitions {
			total += p.Latest
			latest[t][p.Partition] = p.Latest
		}
		ch <- prometheus.MustNewConstMetric(descIngest, prometheus.CounterValue, float64(total), t)
	}
	groups, err := l.ListGroups(ctx)
	if err != nil {
		s.logger.Warn("serve: metrics: list consumer groups", "err", err)
		return
	}
	for _, g := range groups {
		for _, t := range c.groupTopics(g, topics) {
			committed, err := l.CommittedOffsets(ctx, g, t)
			if err != nil || len(committed) == 0 {
				continue
			}
			var lag int64
			for p, off := range committed {
				if end, ok := latest[t][p]; ok && end > off {
					lag += end - off
				}
			}
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(lag), g, t)
		}
	}
}

// groupTopics returns the topics a consumer group may have committed: for a pipeline's group
// ("pipeline:<flow>") the topics the flow reads, else every topic.
func (c *scrapeCollector) groupTopics(group string, all []string) []string {
	flow, ok := strings.CutPrefix(group, "pipeline:")
	if !ok || c.s.nodes == nil {
		return all
	}
	n := c.s.nodes.p.Node(flow)
	if n == nil {
		return all
	}
	var out []string
	for _, in := range n.Inputs {
		if in.Kind() == "topic" {
			out = append(out, in.Name)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}
