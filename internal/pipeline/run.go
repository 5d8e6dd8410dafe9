package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/engine"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/stream"
	"github.com/stratalake/strata/internal/table"
)

// Run modes.
const (
	Batch  = "batch"
	Stream = "stream"
)

// RunOptions configure a run.
type RunOptions struct {
	// Mode is Batch (everything available once, then exit; the default) or Stream (continuously
	// until ctx ends). Both keep the same checkpoints: runs of either mode can alternate.
	Mode string
	// FullRefreshAll rebuilds every table from its sources; FullRefresh names the tables to
	// rebuild (streaming tables restart from the start of their source).
	FullRefreshAll bool
	FullRefresh    []string
	// Refresh, if set, limits the run to these tables (and the flows writing them).
	Refresh []string
	// Log holds the topics read (required when a table reads a topic).
	Log log.Log
	// Logger receives progress lines (default: discarded).
	Logger *slog.Logger
	// OnEvent sees every event of the event log as it is recorded.
	OnEvent func(Event)
	// PollInterval is how often stream mode looks for new input (default 100 ms).
	PollInterval time.Duration
	// IdleStop, in stream mode, ends the run once no flow has done anything for this long
	// (draining in tests and harnesses); 0 runs until ctx ends.
	IdleStop time.Duration
	// RecomputeInterval, in stream mode, is the least time between two recomputes of a
	// materialized view that is not maintained incrementally (default 2 s): its inputs may change
	// every batch, a recompute reads them whole.
	RecomputeInterval time.Duration
	// MaxBatchRecords bounds the input records of one batch of a streaming query (default
	// DefaultBatchRecords).
	MaxBatchRecords int64
	// BatchMemory, when > 0, bounds the input bytes the batches of all the pipeline's queries hold
	// at once: each query's batch is bounded by BatchMemory divided among the pipeline's nodes
	// (at least minBatchBytes), and its record bound shrinks in proportion. A process that runs
	// the pipeline beside other work (strata serve) sets it so that a backlog does not grow
	// its memory with the number of queries; 0 keeps DefaultBatchBytes per query.
	BatchMemory int64
	// OnProgress, if set, is called as a node's rows are processed: done of total input rows
	// (total 0: unknown; a rebuilt streaming table's total is its whole source).
	OnProgress func(flow string, done, total int64)
}

// Default bounds of a streaming query's batch.
const (
	DefaultBatchRecords = 500_000
	DefaultBatchBytes   = 256 << 20
	// minBatchBytes is the least batch bound RunOptions.BatchMemory gives a query.
	minBatchBytes = 8 << 20
)

// FlowSummary is what a run did for one node.
type FlowSummary struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Execution string `json:"execution"`
	// Reason says why a materialized view is recomputed.
	Reason          string                      `json:"reason,omitempty"`
	Batches         int64                       `json:"batches"`
	RowsIn          int64                       `json:"rows_in"`
	RowsOut         int64                       `json:"rows_out"`
	RowsDropped     int64                       `json:"rows_dropped"`
	RowsQuarantined int64                       `json:"rows_quarantined"`
	RowsLate        int64                       `json:"rows_late"`
	RowsDuplicate   int64                       `json:"rows_duplicate"`
	Files           int64                       `json:"files,omitempty"`
	Expectations    []stream.ExpectationMetrics `json:"expectations,omitempty"`
	Version         int64                       `json:"version"`
	DurationMS      float64                     `json:"duration_ms"`
	Status          string                      `json:"status"`
	Error           string                      `json:"error,omitempty"`
}

// Summary is the outcome of a run.
type Summary struct {
	RunID      string         `json:"run_id"`
	Mode       string         `json:"mode"`
	Flows      []*FlowSummary `json:"flows"`
	DurationMS float64        `json:"duration_ms"`
	Status     string         `json:"status"`
}

// runner is one run of the pipeline.
type runner struct {
	p      *Pipeline
	opts   RunOptions
	runID  string
	events *eventLog
	log    *slog.Logger

	mu       sync.Mutex
	flows    map[*Node]*FlowSummary
	activity time.Time // last time a flow did something (stream mode)
	// caughtUp says which nodes last found nothing new to do (stream mode, for IdleStop).
	caughtUp map[*Node]bool
	// totals are the input rows of rebuilt nodes (for progress).
	totals map[*Node]int64
}

// Run runs the pipeline (Validate must have succeeded). In batch mode it processes everything
// available, node by node in DAG order, and returns; in stream mode it runs every node
// continuously until ctx ends (or IdleStop), and returns nil when stopped by ctx. Every run,
// flow, batch and expectation result is appended to the event log.
func (p *Pipeline) Run(ctx context.Context, opts RunOptions) (*Summary, error) {
	if opts.Mode == "" {
		opts.Mode = Batch
	}
	if opts.Mode != Batch && opts.Mode != Stream {
		return nil, fmt.Errorf("pipeline: unknown mode %q (batch or stream)", opts.Mode)
	}
	for _, n := range p.Nodes {
		if n.info == nil {
			return nil, fmt.Errorf("pipeline: Run before a successful Validate")
		}
	}
	selected, err := p.selection(opts.Refresh)
	if err != nil {
		return nil, err
	}
	rebuild, err := p.selection(opts.FullRefresh)
	if err != nil {
		return nil, err
	}
	if opts.FullRefreshAll {
		rebuild = map[*Node]bool{}
		for _, n := range p.Nodes {
			rebuild[n] = true
		}
	} else if opts.FullRefresh == nil {
		rebuild = map[*Node]bool{}
	}
	evLoc, err := p.Project.TableLocation("_strata", "pipeline_events")
	if err != nil {
		return nil, err
	}
	r := &runner{p: p, opts: opts, runID: newRunID(), events: &eventLog{location: evLoc, onEvent: opts.OnEvent},
		log: opts.Logger, flows: map[*Node]*FlowSummary{}, activity: time.Now(), caughtUp: map[*Node]bool{}, totals: map[*Node]int64{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := p.saveLineage(); err != nil {
		return nil, err
	}
	start := time.Now()
	sum := &Summary{RunID: r.runID, Mode: opts.Mode}
	r.events.add(Event{RunID: r.runID, Mode: opts.Mode, Event: EventRunStart, Version: -1, Status: "ok"})
	var nodes []*Node
	for _, n := range p.Nodes {
		if selected != nil && !selected[n] {
			continue
		}
		if n.info.mode == ModeView || n.info.mode == ModeTarget {
			continue
		}
		nodes = append(nodes, n)
		fs := &FlowSummary{Name: n.Name, Kind: n.Kind().String(), Execution: n.info.mode, Reason: n.info.reason, Version: -1, Status: "ok"}
		r.flows[n] = fs
		sum.Flows = append(sum.Flows, fs)
	}
	for _, n := range nodes {
		if rebuild[n] || (n.Kind() == Flow && rebuild[n.Target]) {
			if err := r.fullRefresh(ctx, n); err != nil {
				return nil, err
			}
			r.totals[n] = r.inputTotal(ctx, n)
		}
	}
	if opts.Mode == Batch {
		err = r.batch(ctx, nodes)
	} else {
		err = r.stream(ctx, nodes)
	}
	sum.DurationMS = ms(time.Since(start))
	sum.Status = "ok"
	if err != nil {
		sum.Status = "failed"
		if errors.Is(err, context.Canceled) {
			sum.Status = "stopped"
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.events.add(Event{RunID: r.runID, Mode: opts.Mode, Event: EventRunEnd, DurationMS: sum.DurationMS, Version: -1, Status: sum.Status, Message: msg})
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if ferr := r.events.flush(fctx); ferr != nil && err == nil {
		err = ferr
	}
	if opts.Mode == Stream && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // stopped as asked
	}
	return sum, err
}

// selection resolves table names to nodes (nil names: nil, everything). A flow's target selects
// the flow.
func (p *Pipeline) selection(names []string) (map[*Node]bool, error) {
	if names == nil {
		return nil, nil
	}
	out := map[*Node]bool{}
	for _, name := range names {
		n := p.Node(name)
		if n == nil {
			return nil, fmt.Errorf("pipeline: unknown table %s", name)
		}
		out[n] = true
		for _, f := range n.Flows {
			out[f] = true
		}
	}
	return out, nil
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// generation is the node's checkpoint generation: a full refresh starts a new one, with a new
// checkpoint folder and new txn app ids (the old ones stay in the table's log).
func (p *Pipeline) generation(n *Node) int {
	entries, _ := os.ReadDir(p.checkpointDir(n))
	g := 0
	for _, e := range entries {
		if k, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "g")); err == nil && strings.HasPrefix(e.Name(), "g") && k > g {
			g = k
		}
	}
	return g
}

func (p *Pipeline) genDir(n *Node) string {
	return filepath.Join(p.checkpointDir(n), fmt.Sprintf("g%d", p.generation(n)))
}

// query returns the node's streaming query bound to its current checkpoint generation.
func (r *runner) query(n *Node) stream.Query {
	q := *n.info.query
	g := r.p.generation(n)
	q.Name = fmt.Sprintf("%s.g%d", q.Name, g)
	q.Checkpoint = r.p.genDir(n)
	if r.opts.Mode == Batch {
		q.Trigger = stream.Trigger{Kind: stream.TriggerAvailableNow}
	}
	// Bounded batches keep memory bounded (a backlog or a full refresh is read in several
	// batches); results do not depend on batch boundaries (see stream/core's lateness rule).
	q.Limits = stream.Limits{MaxRecords: DefaultBatchRecords, MaxBytes: DefaultBatchBytes}
	if r.opts.BatchMemory > 0 {
		share := max(r.opts.BatchMemory/int64(max(len(r.p.Nodes), 1)), minBatchBytes)
		if share < q.Limits.MaxBytes {
			q.Limits.MaxRecords = max(q.Limits.MaxRecords*share/q.Limits.MaxBytes, 1000)
			q.Limits.MaxBytes = share
		}
	}
	if r.opts.MaxBatchRecords > 0 {
		q.Limits.MaxRecords = r.opts.MaxBatchRecords
	}
	if r.opts.PollInterval > 0 {
		q.PollInterval = r.opts.PollInterval
	}
	return q
}

// fullRefresh empties the node's table and starts a new checkpoint generation.
func (r *runner) fullRefresh(ctx context.Context, n *Node) error {
	loc := n.Location
	if n.Kind() == Flow {
		loc = n.Target.Location
	}
	if loc != "" && tableExists(loc) {
		if err := truncate(ctx, loc); err != nil {
			return fmt.Errorf("pipeline: full refresh of %s: %w", n.Name, err)
		}
	}
	old := r.p.genDir(n)
	next := filepath.Join(r.p.checkpointDir(n), fmt.Sprintf("g%d", r.p.generation(n)+1))
	if err := os.MkdirAll(next, 0o755); err != nil {
		return fmt.Errorf("pipeline: full refresh of %s: %w", n.Name, err)
	}
	_ = os.RemoveAll(old)
	r.log.Info("full refresh", "table", n.Name)
	return nil
}

// truncate removes every row of a table (one overwrite commit; old versions stay readable).
func truncate(ctx context.Context, loc string) error {
	t, err := table.Open(ctx, loc)
	if err != nil {
		return err
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return err
	}
	empty, err := emptyRecord(snap)
	if err != nil {
		return err
	}
	defer empty.Release()
	_, err = t.Write(ctx, &recordSource{rec: empty}, table.WriteOptions{Mode: table.Overwrite})
	return err
}

// batch runs every node once, each as soon as the nodes it reads are done (independent branches
// of the DAG run at the same time). The first failure stops the run.
func (r *runner) batch(ctx context.Context, nodes []*Node) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := map[*Node]chan struct{}{}
	for _, n := range nodes {
		done[n] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[n])
			for _, d := range r.waitsFor(n, done) {
				if ch := done[d]; ch != nil {
					select {
					case <-ch:
					case <-ctx.Done():
						return
					}
				}
			}
			if ctx.Err() != nil {
				return
			}
			if err := r.runNode(ctx, n); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return ctx.Err()
}

// waitsFor returns the nodes of the run (running) whose batch run must end before n's starts:
// the tables it reads, through the nodes that do not run themselves (temporary views, the
// targets of AUTO CDC flows), except an upstream it is fused with that reads a topic (n then reads
// the topic itself, see fusable).
func (r *runner) waitsFor(n *Node, running map[*Node]chan struct{}) []*Node {
	var out []*Node
	seen := map[*Node]bool{}
	var add func(m *Node)
	add = func(m *Node) {
		for _, d := range m.Deps {
			if seen[d] {
				continue
			}
			seen[d] = true
			switch {
			case running[d] == nil:
				add(d)
			case m == n && n.info != nil && n.info.fusedOnto == d.Name && r.intake(d) == nil:
			default:
				out = append(out, d)
			}
		}
	}
	add(n)
	return out
}

// runNode runs one node once (batch mode).
func (r *runner) runNode(ctx context.Context, n *Node) error {
	fs := r.flows[n]
	start := time.Now()
	r.events.add(Event{RunID: r.runID, Mode: r.opts.Mode, Event: EventFlowStart, Flow: n.Name, Table: r.tableOf(n), Execution: n.info.mode, Version: -1, Message: n.info.reason})
	var err error
	if r.intake(n) != nil {
		err = r.takeFiles(ctx, n)
	}
	missing := r.missingInput(n)
	switch {
	case err != nil:
	case missing != "":
		fs.Status = "skipped"
		fs.Error = "no data yet in " + missing
	case n.info.mode == ModeRecompute:
		err = r.recompute(ctx, n)
	default:
		err = r.runQuery(ctx, n)
	}
	fs.DurationMS = ms(time.Since(start))
	status, msg := fs.Status, fs.Error
	if err != nil {
		status, msg = "failed", err.Error()
		if errors.Is(err, context.Canceled) {
			status = "stopped"
		}
		fs.Status, fs.Error = status, msg
	}
	r.events.add(Event{RunID: r.runID, Mode: r.opts.Mode, Event: EventFlowEnd, Flow: n.Name, Table: r.tableOf(n), Execution: n.info.mode,
		RowsIn: fs.RowsIn, RowsOut: fs.RowsOut, DurationMS: fs.DurationMS, Version: fs.Version, Status: status, Message: msg})
	if err != nil {
		return fmt.Errorf("pipeline: %s (%s): %w", n.Name, n.Stmt.Pos, err)
	}
	return nil
}

func (r *runner) tableOf(n *Node) string {
	if n.Target != nil {
		return n.Target.Name
	}
	return n.Name
}

// intake returns the file intake of a node reading read_files (nil otherwise).
func (r *runner) intake(n *Node) *FileIntake {
	if n.info == nil {
		return nil
	}
	return n.info.intake
}

// takeFiles copies new landing files into the node's intake table.
func (r *runner) takeFiles(ctx context.Context, n *Node) error {
	fi := r.intake(n)
	if fi == nil {
		return nil
	}
	start := time.Now()
	res, err := fi.Poll(ctx)
	if err != nil {
		return err
	}
	if res.Files > 0 || res.QuarantinedFiles > 0 {
		r.setCaughtUp(n, false)
		r.mu.Lock()
		r.flows[n].Files += res.Files
		r.mu.Unlock()
		r.events.add(Event{RunID: r.runID, Mode: r.opts.Mode, Event: EventIntake, Flow: n.Name, Table: n.Name, Execution: n.info.mode,
			RowsIn: res.Rows, RowsQuarantined: res.QuarantinedFiles, DurationMS: ms(time.Since(start)), Version: -1, Status: "ok",
			Message: fmt.Sprintf("%d new files (%d quarantined)", res.Files, res.QuarantinedFiles)})
	}
	return nil
}

// setCaughtUp records whether a node found nothing to do when it last looked at its inputs.
//
// Work done by one node may give every other node something to do: then all of them must look
// again before the run counts as idle.
func (r *runner) setCaughtUp(n *Node, v bool) {
	r.mu.Lock()
	if v {
		r.caughtUp[n] = true
	} else {
		r.activity = time.Now()
		for m := range r.caughtUp {
			r.caughtUp[m] = false
		}
	}
	r.mu.Unlock()
}

// setCaughtUpQuiet marks a node caught up without counting it as activity.
func (r *runner) setCaughtUpQuiet(n *Node, v bool) {
	r.mu.Lock()
	r.caughtUp[n] = v
	r.mu.Unlock()
}

// idle says whether every node is caught up and nothing happened for d.
func (r *runner) idle(nodes []*Node, d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range nodes {
		if !r.caughtUp[n] {
			return false
		}
	}
	return time.Since(r.activity) >= d
}

// ensureTable creates the table a node's streaming query writes, when it does not exist yet,
// with the schema Validate computed (the query's column order and DuckDB's types, which the
// runtime's rows are conformed to by name), its partitioning, properties and COMMENT.
func (r *runner) ensureTable(ctx context.Context, n *Node) error {
	target, schema := n, n.info.schema
	if n.Kind() == Flow {
		target, schema = n.Target, n.info.targetSchema
	}
	if target.Location == "" || schema == nil || tableExists(target.Location) {
		return nil
	}
	st, err := delta.FromArrowSchema(schema)
	if err != nil {
		return fmt.Errorf("pipeline: %s: %w", target.Name, err)
	}
	props := map[string]string{}
	for _, kv := range target.Stmt.Properties {
		props[kv[0]] = kv[1]
	}
	t, err := table.Open(ctx, target.Location)
	if err != nil {
		return err
	}
	_, err = t.Create(ctx, delta.CreateOptions{Schema: nullable(st), PartitionColumns: target.Stmt.PartitionBy, Properties: props,
		Name: target.Name, Description: target.Stmt.Comment})
	if err != nil && !errors.Is(err, delta.ErrTableExists) {
		return fmt.Errorf("pipeline: create %s: %w", target.Name, err)
	}
	return nil
}

func nullable(st *delta.StructType) *delta.StructType {
	out := &delta.StructType{}
	for _, f := range st.Fields {
		c := *f
		c.Nullable = true
		out.Fields = append(out.Fields, &c)
	}
	return out
}

// runQuery runs a node's streaming query (to the end of the available input in batch mode).
func (r *runner) runQuery(ctx context.Context, n *Node) error {
	if err := r.ensureTable(ctx, n); err != nil {
		return err
	}
	q := r.query(n)
	if err := os.MkdirAll(q.Checkpoint, 0o755); err != nil {
		return err
	}
	batches := 0
	deps := stream.Deps{Engine: r.p.eng, Log: r.opts.Log, Logger: r.log,
		OnBatch: func(m stream.BatchMetrics) {
			r.setCaughtUp(n, false) // any activity re-arms idleness
			r.onBatch(n, m)
			if batches++; r.opts.Mode == Stream && batches%compactBatches == 0 {
				r.compactOwn(ctx, n, q.Output.Table)
			}
		},
		OnIdle: func() { r.setCaughtUp(n, true) }}
	_, err := stream.Run(ctx, q, deps)
	return err
}

// missingInput returns the first table a node reads that does not exist yet ("" when all do): a
// table upstream that has received no data. Batch runs skip such a node; stream runs wait.
func (r *runner) missingInput(n *Node) string {
	var check func(n *Node) string
	check = func(n *Node) string {
		for _, in := range n.Inputs {
			switch {
			case in.kind == refTopic:
			case in.kind == refFiles:
				if fi := r.intake(n); fi != nil && !tableExists(fi.Table) {
					return in.Name
				}
			case in.Node != nil && in.Node.Kind() == TemporaryView:
				if m := check(in.Node); m != "" {
					return m
				}
			case in.Node != nil && n.info != nil && n.info.fusedOnto == in.Node.Name:
				if m := check(in.Node); m != "" { // it reads the upstream's source
					return m
				}
			case in.Node != nil:
				if !tableExists(in.Node.Location) {
					return in.Node.Name
				}
			}
		}
		return ""
	}
	return check(n)
}

// onBatch records a committed batch.
func (r *runner) onBatch(n *Node, m stream.BatchMetrics) {
	r.mu.Lock()
	fs := r.flows[n]
	fs.Batches++
	fs.RowsIn += m.InputRecords
	fs.RowsOut += m.OutputRows
	fs.RowsDropped += m.DroppedRows
	fs.RowsQuarantined += m.QuarantinedRows
	fs.RowsLate += m.LateRows
	fs.RowsDuplicate += m.DuplicateRows
	done, total := fs.RowsIn, r.totals[n]
	if m.OutputVersion >= 0 {
		fs.Version = m.OutputVersion
	}
	for _, e := range m.Expectations {
		found := false
		for i := range fs.Expectations {
			if fs.Expectations[i].Name == e.Name {
				fs.Expectations[i].Passed += e.Passed
				fs.Expectations[i].Failed += e.Failed
				found = true
			}
		}
		if !found {
			fs.Expectations = append(fs.Expectations, e)
		}
	}
	r.mu.Unlock()
	if r.opts.OnProgress != nil {
		r.opts.OnProgress(n.Name, done, total)
	}
	r.commitOffsets(n, m)
	newest, _ := m.EventLatency()
	r.events.add(Event{Time: m.CommittedAt, RunID: r.runID, Mode: r.opts.Mode, Event: EventBatch, Flow: n.Name, Table: r.tableOf(n),
		Execution: n.info.mode, BatchID: m.BatchID, RowsIn: m.InputRecords, RowsOut: m.OutputRows, RowsDropped: m.DroppedRows,
		RowsQuarantined: m.QuarantinedRows, RowsLate: m.LateRows, RowsDuplicate: m.DuplicateRows, DurationMS: ms(m.Duration),
		LatencyMS: ms(newest), Version: m.OutputVersion, Status: "ok", DataTime: dataTime(m),
		StateEntries: m.State.Entries, StateBytes: m.State.Bytes})
	for _, e := range m.Expectations {
		r.events.add(Event{Time: m.CommittedAt, RunID: r.runID, Mode: r.opts.Mode, Event: EventExpectation, Flow: n.Name, Table: r.tableOf(n),
			Execution: n.info.mode, BatchID: m.BatchID, Expectation: e.Name, Passed: e.Passed, Failed: e.Failed, Version: -1, Status: "ok"})
	}
}

// compactBatches is how often (in batches) a stream run checks whether a table its query rewrites
// by key (an incremental view, an AUTO CDC target) needs compacting.
const compactBatches = 20

// compactOwn compacts the table a node's query writes by upserts when it holds many small files.
// It runs on the query's goroutine between two batches (OnBatch), so no write of the query
// races with it: the upserts read the files they replace, which a concurrent OPTIMIZE would
// remove under them. Append-only tables are compacted by Pipeline.Serve instead. Failures are
// logged; the next check tries again.
func (r *runner) compactOwn(ctx context.Context, n *Node, loc string) {
	if n.info.mode != ModeIncremental && n.info.mode != ModeCDC || smallFiles(ctx, loc) < DefaultCompactMinFiles {
		return
	}
	res, err := r.p.eng.Optimize(ctx, loc, engine.OptimizeOptions{MinFileSize: compactSmallFile, TargetFileSize: compactTarget})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("compaction failed; will retry", "table", loc, "err", err)
		}
		return
	}
	if res.Committed {
		r.log.Info("compacted", "table", loc, "files_removed", res.Metrics.NumRemovedFiles, "files_added", res.Metrics.NumAddedFiles, "version", res.Version)
	}
}

// GroupPrefix prefixes the log consumer group under which a flow reading a topic records how far
// it has processed (the group "pipeline:<flow>"), so that log tools and metrics see its lag. The
// flow's checkpoint, not the group, decides what it reads.
const GroupPrefix = "pipeline:"

// commitOffsets records the batch's topic positions under the flow's consumer group.
func (r *runner) commitOffsets(n *Node, m stream.BatchMetrics) {
	if r.opts.Log == nil || n.info.query == nil {
		return
	}
	for _, src := range n.info.query.Sources {
		if src.Topic == "" {
			continue
		}
		offsets := map[int32]int64{}
		for _, rg := range m.Ranges {
			if rg.Partition.Source == src.Name && !rg.Empty() {
				offsets[rg.Partition.Partition] = rg.To
			}
		}
		if len(offsets) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := r.opts.Log.CommitOffsets(ctx, GroupPrefix+n.Name, src.Topic, offsets); err != nil {
			r.log.Debug("commit offsets", "flow", n.Name, "topic", src.Topic, "err", err)
		}
		cancel()
	}
}

// dataTime is the batch's Event.DataTime.
func dataTime(m stream.BatchMetrics) time.Time {
	if !m.IngestTimeMax.IsZero() {
		return m.IngestTimeMax
	}
	return m.EventTimeMax
}

// inputTotal counts the rows a node's stream source holds (0 when unknown): the records of a
// topic, the rows of a table.
func (r *runner) inputTotal(ctx context.Context, n *Node) int64 {
	if n.info.query == nil || len(n.info.query.Sources) == 0 {
		return 0
	}
	src := n.info.query.Sources[0]
	if src.Topic != "" {
		if r.opts.Log == nil {
			return 0
		}
		info, err := r.opts.Log.DescribeTopic(ctx, src.Topic)
		if err != nil {
			return 0
		}
		var total int64
		for _, p := range info.Partitions {
			total += p.Latest - p.Earliest
		}
		return total
	}
	if !tableExists(src.Table) {
		return 0
	}
	total, err := r.p.count(ctx, "SELECT count(*) FROM delta_scan("+quoteString(src.Table)+")")
	if err != nil {
		return 0
	}
	return total
}

// refreshState is what a recomputed view was last computed from.
type refreshState struct {
	Inputs map[string]int64 `json:"inputs"`
}

// recompute refreshes a recomputed materialized view when one of its inputs changed since the
// last refresh, or when it does not exist yet.
func (r *runner) recompute(ctx context.Context, n *Node) error {
	dir := r.p.genDir(n)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	versions, err := r.inputVersions(ctx, n)
	if err != nil {
		return err
	}
	stateFile := filepath.Join(dir, "refresh.json")
	var prev refreshState
	if b, err := os.ReadFile(stateFile); err == nil {
		_ = json.Unmarshal(b, &prev)
	}
	if tableExists(n.Location) && equalVersions(prev.Inputs, versions) {
		r.setCaughtUp(n, true)
		return nil
	}
	r.setCaughtUp(n, false)
	start := time.Now()
	verb := "INSERT OVERWRITE " + n.Name + " "
	if !tableExists(n.Location) {
		verb = "CREATE TABLE " + n.Name + " AS "
		if len(n.Stmt.PartitionBy) > 0 {
			verb = "CREATE TABLE " + n.Name + " PARTITIONED BY (" + strings.Join(n.Stmt.PartitionBy, ", ") + ") AS "
		}
	}
	var rows, version int64 = 0, -1
	err = r.p.eng.Run(ctx, verb+n.info.sql, func(res *engine.Result) error {
		if m, ok := res.Fields["metrics"].(map[string]any); ok {
			if v, err := strconv.ParseInt(fmt.Sprint(m["numOutputRows"]), 10, 64); err == nil {
				rows = v
			}
		}
		if v, ok := res.Fields["version"].(int64); ok {
			version = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	b, _ := json.Marshal(refreshState{Inputs: versions})
	if err := os.WriteFile(stateFile, b, 0o644); err != nil {
		return err
	}
	r.setCaughtUp(n, false) // its readers have something new
	r.mu.Lock()
	fs := r.flows[n]
	fs.Batches++
	fs.RowsOut += rows
	fs.Version = version
	r.mu.Unlock()
	r.events.add(Event{RunID: r.runID, Mode: r.opts.Mode, Event: EventRefresh, Flow: n.Name, Table: n.Name, Execution: ModeRecompute,
		RowsOut: rows, DurationMS: ms(time.Since(start)), Version: version, Status: "ok", Message: "recomputed: " + n.info.reason})
	return nil
}

// inputVersions returns the current version of every table a node reads.
func (r *runner) inputVersions(ctx context.Context, n *Node) (map[string]int64, error) {
	out := map[string]int64{}
	var add func(n *Node) error
	add = func(n *Node) error {
		for _, in := range n.Inputs {
			if in.Node != nil && in.Node.Kind() == TemporaryView {
				if err := add(in.Node); err != nil {
					return err
				}
				continue
			}
			loc := ""
			if in.Node != nil {
				loc = in.Node.Location
			} else {
				d, t, _ := strings.Cut(in.Name, ".")
				loc, _ = r.p.Project.TableLocation(d, t)
			}
			if !tableExists(loc) {
				out[in.Name] = -1
				continue
			}
			t, err := table.Open(ctx, loc)
			if err != nil {
				return err
			}
			snap, err := t.Snapshot(ctx, -1)
			if err != nil {
				return err
			}
			out[in.Name] = snap.Version()
		}
		return nil
	}
	return out, add(n)
}

func equalVersions(a, b map[string]int64) bool {
	if len(a) != len(b) || a == nil {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// stream runs every node continuously until ctx ends, a node fails, or IdleStop.
func (r *runner) stream(ctx context.Context, nodes []*Node) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	poll := r.opts.PollInterval
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	var wg sync.WaitGroup
	fail := func(n *Node, err error) {
		// Once the run is stopping (stopped by the caller, idle, or another node failed), errors
		// are the stop's: some do not wrap context.Canceled (a canceled DuckDB query's).
		if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			r.mu.Lock()
			r.flows[n].Status, r.flows[n].Error = "failed", err.Error()
			r.mu.Unlock()
			cancel(fmt.Errorf("pipeline: %s (%s): %w", n.Name, n.Stmt.Pos, err))
		}
	}
	for _, n := range nodes {
		n := n
		r.events.add(Event{RunID: r.runID, Mode: r.opts.Mode, Event: EventFlowStart, Flow: n.Name, Table: r.tableOf(n), Execution: n.info.mode, Version: -1, Message: n.info.reason})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.intake(n) != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						if err := r.takeFiles(ctx, n); err != nil {
							fail(n, err)
							return
						}
						sleep(ctx, poll)
					}
				}()
			}
			for ctx.Err() == nil && r.missingInput(n) != "" {
				r.setCaughtUpQuiet(n, true) // nothing upstream yet
				sleep(ctx, poll)
			}
			switch n.info.mode {
			case ModeRecompute:
				every := r.opts.RecomputeInterval
				if every <= 0 {
					every = 2 * time.Second
				}
				for ctx.Err() == nil {
					start := time.Now()
					if err := r.recompute(ctx, n); err != nil {
						fail(n, err)
						return
					}
					sleep(ctx, max(poll, every-time.Since(start)))
				}
			default:
				if ctx.Err() == nil {
					fail(n, r.runQuery(ctx, n))
				}
			}
		}()
	}
	// The event log is flushed every second; IdleStop is checked at the same pace.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if time.Since(last) >= time.Second {
				if err := r.events.flush(ctx); err != nil && ctx.Err() == nil {
					r.log.Warn("event log flush failed", "err", err)
				}
				last = time.Now()
			}
			if r.opts.IdleStop > 0 && r.idle(nodes, r.opts.IdleStop) {
				cancel(errIdle)
				return
			}
		}
	}()
	wg.Wait()
	for _, n := range nodes {
		fs := r.flows[n]
		r.events.add(Event{RunID: r.runID, Mode: r.opts.Mode, Event: EventFlowEnd, Flow: n.Name, Table: r.tableOf(n), Execution: n.info.mode,
			RowsIn: fs.RowsIn, RowsOut: fs.RowsOut, Version: fs.Version, Status: fs.Status, Message: fs.Error})
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, errIdle) && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

var errIdle = errors.New("idle")

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// emptyRecord returns a batch with no rows of the table's schema.
func emptyRecord(snap *delta.Snapshot) (arrow.RecordBatch, error) {
	s := delta.ToArrowSchema(snap.Schema())
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	return b.NewRecordBatch(), nil
}
