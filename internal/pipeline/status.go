package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/table"
)

// TableStatus is a stored table's state: its Delta version and rows, and what the event log
// says of its last run and expectation results.
type TableStatus struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Execution string `json:"execution"`
	// Version is the table's current version (-1: not created yet); Rows its row count.
	Version int64 `json:"version"`
	Rows    int64 `json:"rows"`
	// LastUpdate is the time of the last batch or refresh that wrote it; LastRun the status of
	// the last run's flow (ok, failed, stopped) or "never".
	LastUpdate time.Time `json:"last_update"`
	LastRun    string    `json:"last_run"`
	LastError  string    `json:"last_error,omitempty"`
	// Expectations are the pass/fail totals over every run, by expectation name.
	Expectations map[string]ExpectationTotals `json:"expectations,omitempty"`
}

// ExpectationTotals sums an expectation's results.
type ExpectationTotals struct {
	Passed int64 `json:"passed"`
	Failed int64 `json:"failed"`
}

// Status reports every stored table of the pipeline.
func (p *Pipeline) Status(ctx context.Context) ([]TableStatus, error) {
	var out []TableStatus
	evLoc, err := p.Project.TableLocation("_strata", "pipeline_events")
	if err != nil {
		return nil, err
	}
	hasEvents := tableExists(evLoc)
	for _, n := range p.Tables() {
		ts := TableStatus{Name: n.Name, Kind: n.Kind().String(), Execution: p.Execution(n), Version: -1, LastRun: "never"}
		if tableExists(n.Location) {
			t, err := table.Open(ctx, n.Location)
			if err != nil {
				return nil, err
			}
			snap, err := t.Snapshot(ctx, -1)
			if err != nil {
				return nil, err
			}
			ts.Version = snap.Version()
			if ts.Rows, err = p.count(ctx, "SELECT count(*) FROM "+n.Name); err != nil {
				return nil, err
			}
		}
		flows := []string{n.Name}
		for _, f := range n.Flows {
			flows = append(flows, f.Name)
		}
		if hasEvents {
			for _, flow := range flows {
				if err := p.eventStatus(ctx, flow, &ts); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, ts)
	}
	return out, nil
}

// eventStatus fills a table's last run and expectation totals from the event log.
func (p *Pipeline) eventStatus(ctx context.Context, flow string, ts *TableStatus) error {
	f := quoteString(flow)
	res, err := p.eng.Query(ctx, "SELECT status, coalesce(message, ''), timestamp FROM "+EventsTable+
		" WHERE flow = "+f+" AND event = '"+EventFlowEnd+"' ORDER BY timestamp DESC LIMIT 1")
	if err != nil {
		return err
	}
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		if rec.NumRows() > 0 {
			ts.LastRun = strings.Clone(rec.Column(0).(*array.String).Value(0))
			ts.LastError = strings.Clone(rec.Column(1).(*array.String).Value(0))
		}
	}
	res.Records.Release()
	res, err = p.eng.Query(ctx, "SELECT max(timestamp) FROM "+EventsTable+" WHERE flow = "+f+" AND event IN ('"+EventBatch+"', '"+EventRefresh+"')")
	if err != nil {
		return err
	}
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		if rec.NumRows() > 0 && rec.Column(0).IsValid(0) {
			if c, ok := rec.Column(0).(*array.Timestamp); ok {
				t := c.Value(0).ToTime(c.DataType().(*arrow.TimestampType).Unit)
				if t.After(ts.LastUpdate) {
					ts.LastUpdate = t
				}
			}
		}
	}
	res.Records.Release()
	res, err = p.eng.Query(ctx, "SELECT expectation, sum(passed)::BIGINT, sum(failed)::BIGINT FROM "+EventsTable+
		" WHERE flow = "+f+" AND event = '"+EventExpectation+"' GROUP BY expectation ORDER BY expectation")
	if err != nil {
		return err
	}
	defer res.Records.Release()
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			if ts.Expectations == nil {
				ts.Expectations = map[string]ExpectationTotals{}
			}
			ts.Expectations[strings.Clone(rec.Column(0).(*array.String).Value(i))] = ExpectationTotals{
				Passed: rec.Column(1).(*array.Int64).Value(i), Failed: rec.Column(2).(*array.Int64).Value(i)}
		}
	}
	return res.Records.Err()
}

// count runs a query returning one BIGINT.
func (p *Pipeline) count(ctx context.Context, q string) (int64, error) {
	res, err := p.eng.Query(ctx, q)
	if err != nil {
		return 0, err
	}
	defer res.Records.Release()
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		if rec.NumRows() > 0 {
			if c, ok := rec.Column(0).(*array.Int64); ok {
				return c.Value(0), nil
			}
			return 0, fmt.Errorf("pipeline: %s returned %s", q, rec.Column(0).DataType())
		}
	}
	return 0, res.Records.Err()
}
