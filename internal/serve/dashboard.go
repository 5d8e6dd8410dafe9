package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

// chartKinds are the panel kinds the web UI draws; charted says which need x and y columns.
var chartKinds = map[string]bool{"line": true, "bar": true, "hbar": true, "doughnut": true, "table": false, "stat": false}

// checkPanels checks the dashboard's panels: a unique name, a known chart kind, a read-only
// query, and x and y for the kinds that plot them. Errors wrap ErrConfig and name the panel.
func checkPanels(file string, panels []project.DashboardPanel) error {
	seen := map[string]bool{}
	for i, p := range panels {
		where := fmt.Sprintf("serve.dashboard.panels[%d]", i)
		if p.Name != "" {
			where += " (" + p.Name + ")"
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("serve: %w: %s: %s: %s", ErrConfig, file, where, fmt.Sprintf(format, args...))
		}
		switch {
		case p.Name == "":
			return fail("a panel needs a name")
		case seen[p.Name]:
			return fail("the name %q is used by another panel", p.Name)
		}
		seen[p.Name] = true
		charted, ok := chartKinds[p.Chart]
		if !ok {
			return fail("chart %q is not line, bar, hbar, doughnut, table or stat", p.Chart)
		}
		if charted && (p.X == "" || len(p.Y) == 0) {
			return fail("a %s chart needs x (the category or time column) and y (the value columns)", p.Chart)
		}
		if err := checkReadOnly(p.SQL); err != nil {
			return fail("sql: %v", err)
		}
	}
	return nil
}

// panelAnswer is one panel of GET /api/dashboard: its definition and its query's rows, or the
// error that query met.
type panelAnswer struct {
	Name      string            `json:"name"`
	Title     string            `json:"title"`
	Chart     string            `json:"chart"`
	X         string            `json:"x"`
	Y         []string          `json:"y"`
	Series    string            `json:"series"`
	Columns   []column          `json:"columns"`
	Rows      []json.RawMessage `json:"rows"`
	Truncated bool              `json:"truncated"`
	ElapsedMS float64           `json:"elapsed_ms"`
	Error     string            `json:"error"`
}

// freshnessItem is one table's freshness against the SLA (ok is false when unknown).
type freshnessItem struct {
	Table      string   `json:"table"`
	Seconds    *float64 `json:"seconds"`
	SLASeconds float64  `json:"sla_seconds"`
	OK         bool     `json:"ok"`
}

// handleDashboard answers GET /api/dashboard: the title, every panel's query run (concurrently,
// each with the query timeout and the default row limit; a failed query sets the panel's
// error and the others still answer), and the freshness of serve.freshness_tables (default:
// the pipeline's output tables, which no other pipeline table reads).
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	cfg := s.proj.Config.Serve.Dashboard
	title := cfg.Title
	if title == "" {
		title = s.proj.Config.Name
	}
	if title == "" {
		title = "Strata"
	}
	panels := make([]panelAnswer, len(cfg.Panels))
	var wg sync.WaitGroup
	for i, p := range cfg.Panels {
		pa := &panelAnswer{Name: p.Name, Title: p.Title, Chart: p.Chart, X: p.X, Y: p.Y, Series: p.Series,
			Columns: []column{}, Rows: []json.RawMessage{}}
		if pa.Title == "" {
			pa.Title = p.Name
		}
		if pa.Y == nil {
			pa.Y = []string{}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			var rs *rowSet
			err := s.query(r.Context(), p.SQL, s.opts.QueryTimeout, func(res *engine.Result) error {
				var err error
				rs, err = readRows(res, s.opts.MaxRows, nil)
				return err
			})
			if err != nil {
				pa.Error = err.Error()
			} else {
				a := rs.answer()
				pa.Columns, pa.Rows, pa.Truncated = a.Columns, a.Rows, a.Truncated
			}
			pa.ElapsedMS = millis(time.Since(start))
			panels[i] = *pa
		}()
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, map[string]any{"title": title, "as_of": rfc3339(s.opts.Clock()),
		"freshness_sla_seconds": s.sla.Seconds(), "panels": panels, "freshness": s.freshnessList()})
}

// freshnessTables are the tables whose freshness the dashboard shows.
func (s *Server) freshnessTables() []string {
	if t := s.proj.Config.Serve.FreshnessTables; len(t) > 0 {
		return t
	}
	if s.nodes != nil {
		return s.nodes.gold
	}
	return nil
}

func (s *Server) freshnessList() []freshnessItem {
	out := []freshnessItem{}
	for _, t := range s.freshnessTables() {
		f := s.monitor.freshness(t)
		out = append(out, freshnessItem{Table: t, Seconds: f, SLASeconds: s.sla.Seconds(), OK: f != nil && *f <= s.sla.Seconds()})
	}
	return out
}
