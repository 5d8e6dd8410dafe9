package core

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestPlannerScenarios drives a Planner through testdata/planner/*:
//
//	planner <config args>     a new planner (sources, trigger, max-records, max-bytes, start,
//	                          allow-data-loss, flush as in parseConfig)
//	status <source>           input lines "partition start end [bpp=N] [costs=r:b,r:b,...]
//	                          [costs-from=N]"; observed at the last `next` time
//	next <time> [wm-due]      the decision at that time
//	complete                  complete the in-flight batch
//	restart                   rebuild the planner from its offsets log (last completed batch and
//	                          in-flight batch, through their encoding), as after a crash
func TestPlannerScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/planner", func(t *testing.T, path string) {
		var p *Planner
		var cfg PlannerConfig
		var now time.Time
		var last *Batch
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "planner":
				args := map[string][]string{}
				for _, a := range d.CmdArgs {
					args[a.Key] = a.Vals
				}
				qc, err := parseConfig(args)
				if err != nil {
					return "error: " + err.Error()
				}
				cfg = qc.plannerConfig()
				p, err = NewPlanner(cfg)
				if err != nil {
					return "error: " + err.Error()
				}
				now, last = time.Unix(0, 0), nil
				return "ok"
			case "status":
				st := SourceStatus{Source: d.CmdArgs[0].Key}
				for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
					ps, err := parsePartitionStatus(line)
					if err != nil {
						return "error: " + err.Error()
					}
					st.Partitions = append(st.Partitions, ps)
				}
				if err := p.Observe(st, now); err != nil {
					return "error: " + err.Error()
				}
				return "ok"
			case "next":
				dur, err := parseDuration(d.CmdArgs[0].Key)
				if err != nil {
					return "error: " + err.Error()
				}
				now = time.Unix(0, 0).Add(dur)
				dec, err := p.Next(now, d.HasArg("wm-due"))
				if err != nil {
					s := "error: " + err.Error()
					if errors.Is(err, ErrDataLoss) {
						s += " (is ErrDataLoss)"
					}
					return s
				}
				return fmtDecision(dec)
			case "complete":
				b := p.InFlight()
				if err := p.Complete(b.ID); err != nil {
					return "error: " + err.Error()
				}
				last = b
				return fmt.Sprintf("completed batch %d", b.ID)
			case "restart":
				var err error
				enc := func(b *Batch) *Batch {
					if b == nil || err != nil {
						return nil
					}
					var out *Batch
					out, err = DecodeBatch(encodeBatch(b))
					return out
				}
				l, inflight := enc(last), enc(p.InFlight())
				if err != nil {
					return "error: " + err.Error()
				}
				p, _ = NewPlanner(cfg)
				if err := p.Restore(l, inflight); err != nil {
					return "error: " + err.Error()
				}
				return "ok"
			}
			t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
			return ""
		})
	})
}

func fmtDecision(d Decision) string {
	switch d.Kind {
	case DecideRun:
		verb := "run"
		if d.Replay {
			verb = "replay"
		}
		return fmt.Sprintf("%s %s (%s)", verb, d.Batch, d.Reason)
	case DecideDone:
		return "done (" + d.Reason + ")"
	}
	if d.Until.IsZero() {
		return "wait for data (" + d.Reason + ")"
	}
	return fmt.Sprintf("wait until %s (%s)", fmtClock(d.Until), d.Reason)
}

func parsePartitionStatus(line string) (PartitionStatus, error) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return PartitionStatus{}, fmt.Errorf("status %q: want partition start end", line)
	}
	var ps PartitionStatus
	nums := make([]int64, 3)
	for i := range nums {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return ps, err
		}
		nums[i] = n
	}
	ps.Partition, ps.Start, ps.End = int32(nums[0]), nums[1], nums[2]
	for _, kv := range f[3:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "bpp":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ps, err
			}
			ps.BytesPerPosition = n
		case "costs-from":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ps, err
			}
			ps.CostsFrom = n
		case "costs":
			for _, c := range strings.Split(v, ",") {
				r, b, _ := strings.Cut(c, ":")
				rn, err1 := strconv.ParseInt(r, 10, 64)
				bn, err2 := strconv.ParseInt(b, 10, 64)
				if err := errors.Join(err1, err2); err != nil {
					return ps, err
				}
				ps.Costs = append(ps.Costs, Cost{Records: rn, Bytes: bn})
			}
		default:
			return ps, fmt.Errorf("status %q: unknown %q", line, k)
		}
	}
	return ps, nil
}

// TestSplitBacklogBounds checks, over many shapes, that a split never exceeds the limits unless
// it reads a single position, always reads something when something is available, and reports
// truncation exactly when data is left.
func TestSplitBacklogBounds(t *testing.T) {
	for seed := range int64(300) {
		r := newRand(seed)
		n := 1 + r.Intn(5)
		parts := make([]backlog, n)
		for i := range parts {
			from := int64(r.Intn(50))
			st := &PartitionStatus{BytesPerPosition: int64(r.Intn(3) * 10)}
			if r.Intn(2) == 0 {
				st.CostsFrom = from + int64(r.Intn(5))
				for range r.Intn(10) {
					st.Costs = append(st.Costs, Cost{Records: int64(r.Intn(8)), Bytes: int64(r.Intn(200))})
				}
			}
			parts[i] = backlog{id: PartitionID{"s", int32(i)}, from: from, to: from + int64(r.Intn(40)), st: st}
		}
		lim := Limits{MaxRecords: int64(r.Intn(30)), MaxBytes: int64(r.Intn(3) * r.Intn(500))}
		ranges, truncated := splitBacklog(parts, lim, int64(r.Intn(10)))
		var recs, bytes, positions, avail int64
		left := false
		for i, rg := range ranges {
			if rg.Partition != parts[i].id || rg.From != parts[i].from || rg.To < rg.From || rg.To > parts[i].to {
				t.Fatalf("seed %d: range %d = %+v for backlog %+v", seed, i, rg, parts[i])
			}
			for pos := rg.From; pos < rg.To; pos++ {
				c := parts[i].cost(pos)
				recs, bytes = recs+c.Records, bytes+c.Bytes
			}
			positions += rg.To - rg.From
			avail += parts[i].to - parts[i].from
			left = left || rg.To < parts[i].to
		}
		if truncated != left {
			t.Fatalf("seed %d: truncated=%v but data left=%v", seed, truncated, left)
		}
		if avail > 0 && positions == 0 {
			t.Fatalf("seed %d: nothing planned from a backlog of %d positions", seed, avail)
		}
		over := (lim.MaxRecords > 0 && recs > lim.MaxRecords) || (lim.MaxBytes > 0 && bytes > lim.MaxBytes)
		if over && positions > 1 {
			t.Fatalf("seed %d: %d positions, %d records, %d bytes exceed %+v", seed, positions, recs, bytes, lim)
		}
		if lim == (Limits{}) && truncated {
			t.Fatalf("seed %d: unlimited split left data", seed)
		}
	}
}
