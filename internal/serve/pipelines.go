package serve

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sort"

	"github.com/stratalake/strata/internal/pipeline"
)

// nodeIndex is what the server derives once from the pipeline's nodes. Immutable after
// newNodeIndex.
type nodeIndex struct {
	p *pipeline.Pipeline
	// stored maps each stored table (streaming table, materialized view) by name.
	stored map[string]*pipeline.Node
	// schedule is the cron of each node's pipelines: entry ("" when unscheduled).
	schedule map[*pipeline.Node]string
	// domain is each node's domain (a view's or a flow's: its file's, or its target's).
	domain map[*pipeline.Node]string
	// readers lists the nodes reading each node.
	readers map[*pipeline.Node][]*pipeline.Node
	// gold lists the stored tables no node reads (the DAG's outputs), sorted.
	gold []string
}

func newNodeIndex(p *pipeline.Pipeline) (*nodeIndex, error) {
	files, err := p.Project.PipelineFiles()
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	byPath := map[string]int{}
	for i, f := range files {
		byPath[filepath.Clean(f.Path)] = i
	}
	idx := &nodeIndex{p: p, stored: map[string]*pipeline.Node{}, schedule: map[*pipeline.Node]string{},
		domain: map[*pipeline.Node]string{}, readers: map[*pipeline.Node][]*pipeline.Node{}}
	for _, n := range p.Nodes {
		if stored(n) {
			idx.stored[n.Name] = n
		}
		for _, d := range n.Deps {
			idx.readers[d] = append(idx.readers[d], n)
		}
		path := n.Stmt.Pos.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.Project.Dir, path)
		}
		dom := n.Domain
		if i, ok := byPath[filepath.Clean(path)]; ok {
			idx.schedule[n] = files[i].Entry.Schedule
			if dom == "" {
				dom = files[i].Domain()
			}
		}
		if n.Target != nil && n.Target.Domain != "" {
			dom = n.Target.Domain
		}
		idx.domain[n] = dom
	}
	for name, n := range idx.stored {
		if len(idx.readers[n]) == 0 {
			idx.gold = append(idx.gold, name)
		}
	}
	sort.Strings(idx.gold)
	return idx, nil
}

// kindName names a node's kind as the API does: streaming_table, materialized_view,
// temporary_view or flow.
func kindName(n *pipeline.Node) string {
	switch n.Kind() {
	case pipeline.StreamingTable:
		return "streaming_table"
	case pipeline.MaterializedView:
		return "materialized_view"
	case pipeline.TemporaryView:
		return "temporary_view"
	case pipeline.Flow:
		return "flow"
	}
	return n.Kind().String()
}

// expectationItem is one expectation of a flow: its totals since the server started and what
// a failing row does.
type expectationItem struct {
	Name   string `json:"name"`
	Passed int64  `json:"passed"`
	Failed int64  `json:"failed"`
	Action string `json:"action"`
}

// flowItem is one entry of GET /api/pipelines.
type flowItem struct {
	Name             string            `json:"name"`
	Kind             string            `json:"kind"`
	Domain           string            `json:"domain"`
	Execution        string            `json:"execution"`
	Schedule         string            `json:"schedule"`
	NextRun          string            `json:"next_run,omitempty"`
	Inputs           []string          `json:"inputs"`
	Status           string            `json:"status"`
	Error            string            `json:"error"`
	LastBatch        string            `json:"last_batch"`
	Batches          int64             `json:"batches"`
	RowsIn           int64             `json:"rows_in"`
	RowsOut          int64             `json:"rows_out"`
	RowsDropped      int64             `json:"rows_dropped"`
	RowsQuarantined  int64             `json:"rows_quarantined"`
	RowsLate         int64             `json:"rows_late"`
	RowsDuplicate    int64             `json:"rows_duplicate"`
	StateEntries     int64             `json:"state_entries"`
	StateBytes       int64             `json:"state_bytes"`
	RateIn           float64           `json:"rate_in"`
	RateOut          float64           `json:"rate_out"`
	LastBatchMS      float64           `json:"last_batch_ms"`
	LatencyMS        float64           `json:"latency_ms"`
	Version          int64             `json:"version"`
	FreshnessSeconds *float64          `json:"freshness_seconds"`
	Expectations     []expectationItem `json:"expectations"`
}

// statusRank orders statuses for nodes that do not run themselves (temporary views, AUTO CDC
// targets): they show the most telling status of the nodes that run them.
var statusRank = map[string]int{"failed": 6, "running": 5, "scheduled": 4, "idle": 3, "stopped": 2, "never": 1}

// handlePipelines answers GET /api/pipelines: every node of the pipeline (in dependency order)
// with its kind, execution, schedule, inputs, live status and counters since the server
// started, rates over the last minute, last batch, version, freshness and expectations.
func (s *Server) handlePipelines(w http.ResponseWriter, r *http.Request) {
	flows := []flowItem{}
	if s.nodes != nil {
		var versions map[string]int64
		if list, err := s.tables.get(r.Context()); err == nil {
			versions = map[string]int64{}
			for _, e := range list {
				versions[e.Name] = e.Version
			}
		}
		for _, n := range s.nodes.p.Nodes {
			flows = append(flows, s.flowItem(n, versions))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"flows": flows, "started": rfc3339(s.monitor.Started())})
}

// flowItem describes one node.
func (s *Server) flowItem(n *pipeline.Node, versions map[string]int64) flowItem {
	v := s.monitor.flowView(n.Name)
	exec := s.nodes.p.Execution(n)
	if exec == pipeline.ModeTarget {
		exec = pipeline.ModeCDC
	}
	item := flowItem{Name: n.Name, Kind: kindName(n), Domain: s.nodes.domain[n], Execution: exec, Schedule: s.nodes.schedule[n],
		Inputs: []string{}, Status: v.Status, Error: v.Error, LastBatch: rfc3339(v.LastBatch), Batches: v.Batches,
		RowsIn: v.In, RowsOut: v.Out, RowsDropped: v.Dropped, RowsQuarantined: v.Quar, RowsLate: v.Late, RowsDuplicate: v.Dup,
		StateEntries: v.StateEntries, StateBytes: v.StateBytes,
		RateIn: v.RateIn, RateOut: v.RateOut, LastBatchMS: v.LastBatchMS, LatencyMS: v.LatencyMS, Version: v.Version,
		Expectations: []expectationItem{}}
	if v.Schedule != "" {
		item.Schedule = v.Schedule
	}
	if !v.Next.IsZero() {
		item.NextRun = rfc3339(v.Next)
	}
	if item.Schedule != "" && (item.Status == "idle" || item.Status == "never") {
		item.Status = "scheduled"
	}
	for _, in := range n.Inputs {
		switch in.Kind() {
		case "topic", "files":
			item.Inputs = append(item.Inputs, in.Kind()+":"+in.Name)
		default:
			item.Inputs = append(item.Inputs, in.Name)
		}
	}
	for _, f := range n.Flows {
		item.Inputs = append(item.Inputs, f.Name)
	}
	var related []*pipeline.Node // the nodes whose status a non-running node shows
	switch {
	case n.Kind() == pipeline.TemporaryView:
		related = s.nodes.readers[n]
	case exec == pipeline.ModeCDC && n.Kind() != pipeline.Flow:
		related = n.Flows
	}
	if len(related) > 0 && v.Status == "never" {
		for _, o := range related {
			if st := s.monitor.flowView(o.Name).Status; statusRank[st] > statusRank[item.Status] {
				item.Status = st
			}
		}
	}
	tableName := n.Name
	if n.Target != nil {
		tableName = n.Target.Name
	}
	if stored(n) || n.Target != nil {
		if tv, ok := s.monitor.table(tableName); ok && tv.Version > item.Version {
			item.Version = tv.Version
		}
		if ver, ok := versions[tableName]; ok && item.Version < 0 {
			item.Version = ver
		}
		item.FreshnessSeconds = s.monitor.freshness(tableName)
	}
	seen := map[string]bool{}
	for _, e := range n.Stmt.Expectations {
		t := v.Expectations[e.Name]
		item.Expectations = append(item.Expectations, expectationItem{Name: e.Name, Passed: t.passed, Failed: t.failed, Action: e.Action.String()})
		seen[e.Name] = true
	}
	for _, name := range v.ExpectationNames { // reported but not declared (should not happen)
		if !seen[name] {
			t := v.Expectations[name]
			item.Expectations = append(item.Expectations, expectationItem{Name: name, Passed: t.passed, Failed: t.failed, Action: "keep"})
		}
	}
	return item
}
