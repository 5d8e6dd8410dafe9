package stream

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/project"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/stream/core"
	"github.com/stratalake/strata/internal/stream/statestore"
	"github.com/stratalake/strata/internal/table"
)

// Deps are the components a query runs with.
type Deps struct {
	// Engine runs the transform SQL (required). Its project, if any, resolves domain.table names.
	Engine *engine.Engine
	// Log holds the topics of log sources (required when there are any).
	Log log.Log
	// Storage configures access to remote (S3) tables of the sources and sinks.
	Storage storage.Options
	// WrapStore, when set, wraps the store of every table the query opens (tests: fault
	// injection, crash points). It is called once per table, with the table's location.
	WrapStore func(location string, s storage.Store) storage.Store
	// Clock is the processing-time clock handed to the decision core (default time.Now). Waits
	// use real time.
	Clock func() time.Time
	// Logger receives one Info record per batch (its BatchMetrics) and the query's start and stop
	// (default: discarded).
	Logger *slog.Logger
	// OnBatch, if set, is called with the metrics of each completed batch, on Run's goroutine
	// (it must not block for long: the next batch waits).
	OnBatch func(BatchMetrics)
	// OnIdle, if set, is called on Run's goroutine each time the query looked at its sources and
	// found no batch to run (it has caught up with them), before it sleeps.
	OnIdle func()
}

func (d *Deps) project() *project.Project {
	if d.Engine == nil {
		return nil
	}
	return d.Engine.Project()
}

// Checkpoint layout: <Checkpoint>/state is the pebble store (shared by the queries of the
// folder, each in its namespace).
const stateDir = "state"

// Run runs the query until its available-now run is done or ctx ends, and returns its metrics.
// When ctx ends, Run stops between or inside batches and returns ctx's error; nothing is lost, the
// next Run continues from the checkpoint (an interrupted batch is replayed exactly).
//
// The driver follows the core.Query contract: each wake-up it records the clock (Tick), reports
// the sources' available positions (Step(SourceStatus)), then handles every Ready: the planned
// batch's offsets-log entry is written to the state store, synced, before anything of the batch is
// read; its ranges are read, transformed and mapped into rows (Step(BatchData)); its output is
// committed to the output and late tables with the txn (Name, batch id) and (Name+".late", batch
// id), skipped when that txn version has landed before; then the operators' state and the commit
// record are written as one synced batch; then Advance. It then sleeps until the core's WakeAt or
// the next poll of the sources (PollInterval), whichever is first.
func Run(ctx context.Context, q Query, deps Deps) (Metrics, error) {
	d, err := start(ctx, q, deps)
	if err != nil {
		return Metrics{}, err
	}
	err = d.loop(ctx)
	if cerr := d.close(); err == nil {
		err = cerr
	}
	d.log.Info("stream query stopped", "query", q.Name, "batches", d.metrics.RunBatches, "records", d.metrics.RunRecords, "err", err)
	return d.metrics, err
}

// driver is one running query. It is used from one goroutine.
type driver struct {
	q     Query
	deps  Deps
	clock func() time.Time
	log   *slog.Logger

	store  *statestore.Store
	cq     *core.Query
	inputs map[string]input
	order  []input
	tf     *transform
	rules  *rowFilter // the quality rules (expectations, quarantine) before the mapping
	m      *mapping
	out    *sink
	late   *sink // nil with Late.Drop
	quar   *sink // nil without Quarantine

	cur     *inflight
	metrics Metrics
}

// inflight is the batch between Step(BatchData) and its commit.
type inflight struct {
	batch    *core.Batch
	replayed bool
	// outputs is the transform's output, partition by partition (stateful queries), or files the
	// data files being written with it (stateless queries; see fileWriter).
	outputs   []arrow.RecordBatch
	files     *fileWriter
	rows      int64
	records   int64
	bytes     int64
	events    timeBounds
	ingest    timeBounds
	read      time.Duration
	transform time.Duration
	operators time.Duration
	// quality holds the quality rules' counts and the quarantined rows.
	quality qualityBatch
}

func (f *inflight) release() {
	releaseAll(f.outputs)
	f.outputs = nil
	f.quality.release()
	if f.files != nil {
		f.files.finish()
		f.files = nil
	}
}

func start(ctx context.Context, q Query, deps Deps) (_ *driver, err error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	if deps.Engine == nil {
		return nil, fmt.Errorf("query %q: Deps.Engine is nil: %w", q.Name, ErrInvalidQuery)
	}
	d := &driver{q: q, deps: deps, clock: deps.Clock, log: deps.Logger, inputs: map[string]input{}}
	if d.clock == nil {
		d.clock = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.store, err = statestore.Open(filepath.Join(q.Checkpoint, stateDir)); err != nil {
		return nil, fmt.Errorf("query %q: %w", q.Name, err)
	}
	for _, s := range q.Sources {
		var in input
		if s.Topic != "" {
			in, err = openLogInput(ctx, deps.Log, s, q.AllowDataLoss)
		} else {
			var loc string
			if loc, err = resolveTable(&deps, s.Table); err != nil {
				return nil, fmt.Errorf("query %q: source %s: %w", q.Name, s.Name, err)
			}
			var t *table.Table
			if t, err = d.openTable(ctx, loc); err != nil {
				return nil, fmt.Errorf("query %q: source %s: %w", q.Name, s.Name, err)
			}
			in, err = openDeltaInput(ctx, t, s)
		}
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", q.Name, err)
		}
		d.inputs[s.Name] = in
		d.order = append(d.order, in)
	}
	d.tf = newTransform(deps.Engine, q.SQL, d.order)
	schema, err := d.tf.outputSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q.Name, err)
	}
	if d.rules, err = newRowFilter(&q, schema); err != nil {
		return nil, fmt.Errorf("query %q: %w", q.Name, err)
	}
	if d.m, err = newMapping(&q, d.rules.clean); err != nil {
		return nil, fmt.Errorf("query %q: %w", q.Name, err)
	}
	cfg := core.Config{
		AppID:           q.Name,
		StartAt:         q.StartAt,
		Trigger:         q.Trigger,
		Limits:          q.Limits,
		AllowDataLoss:   q.AllowDataLoss,
		Watermark:       core.WatermarkSpec{Delay: micros(q.Watermark.Delay), IdleTimeout: q.Watermark.IdleTimeout},
		AllowedLateness: micros(q.AllowedLateness),
		DropLate:        q.Late.Drop,
		Dedup:           d.m.dedup,
		Aggregate:       d.m.agg,
		CDC:             d.m.cdcSpec(),
		FlushAtEnd:      q.FlushAtEnd,
	}
	for _, s := range q.Sources {
		cfg.Sources = append(cfg.Sources, s.Name)
	}
	if d.cq, err = core.NewQuery(cfg); err != nil {
		return nil, fmt.Errorf("query %q: %w", q.Name, err)
	}
	seq, errf := d.store.Scan(q.Name)
	if err := d.cq.Restore(seq); err != nil {
		return nil, fmt.Errorf("query %q: restore from %s: %w", q.Name, d.store.Dir(), err)
	}
	if err := errf(); err != nil {
		return nil, fmt.Errorf("query %q: %w", q.Name, err)
	}
	d.out, err = d.openSink(ctx, q.Output.Table, q.Name, q.Output.PartitionBy)
	if err != nil {
		return nil, err
	}
	d.out.properties = q.Output.Properties
	if !q.Late.Drop {
		if d.late, err = d.openSink(ctx, q.lateTable(), q.Name+".late", nil); err != nil {
			return nil, err
		}
	}
	if q.Quarantine != nil {
		if d.quar, err = d.openSink(ctx, q.quarantineTable(), q.Name+".quarantine", nil); err != nil {
			return nil, err
		}
	}
	d.setTotals()
	d.log.Info("stream query started", "query", q.Name, "batches_before", d.metrics.Batches)
	return d, nil
}

func (d *driver) openSink(ctx context.Context, name, appID string, partitionBy []string) (*sink, error) {
	loc, err := resolveTable(&d.deps, name)
	if err != nil {
		return nil, fmt.Errorf("query %q: sink %s: %w", d.q.Name, name, err)
	}
	t, err := d.openTable(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("query %q: sink %s: %w", d.q.Name, name, err)
	}
	return &sink{t: t, appID: appID, partitionBy: partitionBy}, nil
}

func (d *driver) openTable(ctx context.Context, location string) (*table.Table, error) {
	opts := []table.Option{table.WithStorageOptions(d.deps.Storage)}
	if d.deps.WrapStore != nil {
		s, err := storage.Open(ctx, location, d.deps.Storage)
		if err != nil {
			return nil, err
		}
		opts = append(opts, table.WithStore(d.deps.WrapStore(location, s)))
	}
	return table.Open(ctx, location, opts...)
}

func (d *driver) close() error {
	if d.cur != nil {
		d.cur.release()
		d.cur = nil
	}
	var err error
	if d.store != nil {
		err = d.store.Close()
		d.store = nil
	}
	return err
}

func (d *driver) setTotals() {
	t := d.cq.Metrics()
	d.metrics.Batches, d.metrics.InputRows, d.metrics.OutputRows = t.Batches, t.InputRows, t.OutputRows
	d.metrics.LateRows, d.metrics.DuplicateRows = t.LateRows, t.DuplicateRows
	d.metrics.Watermark, d.metrics.State = watermarkTime(t.Watermark), t.State
}

// loop drives the core until the available-now run is done or ctx ends.
func (d *driver) loop(ctx context.Context) error {
	once := d.q.Trigger.Kind == TriggerAvailableNow
	reported := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.cq.Tick(d.clock())
		if !once || !reported {
			if err := d.reportStatus(ctx); err != nil {
				return err
			}
			reported = true
		}
		ran := false
		for {
			rd, err := d.cq.Ready()
			if err != nil {
				return fmt.Errorf("query %q: %w", d.q.Name, err)
			}
			if rd.Empty() {
				break
			}
			ran = true
			if err := d.handle(ctx, &rd); err != nil {
				return err
			}
			d.cq.Tick(d.clock())
		}
		if d.cq.Done() {
			return nil
		}
		if ran && !once {
			continue // new data may have arrived while the batches ran: look again before sleeping
		}
		if !ran && d.deps.OnIdle != nil {
			d.deps.OnIdle()
		}
		now := d.clock()
		deadline := now.Add(d.q.pollInterval())
		if at, ok := d.cq.WakeAt(); ok && at.Before(deadline) {
			deadline = at
		}
		if wait := deadline.Sub(now); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

func (d *driver) reportStatus(ctx context.Context) error {
	for _, in := range d.order {
		st, err := in.status(ctx)
		if err != nil {
			return fmt.Errorf("query %q: %w", d.q.Name, err)
		}
		if err := d.cq.Step(st); err != nil {
			return fmt.Errorf("query %q: %w", d.q.Name, err)
		}
	}
	return nil
}

// handle does what one Ready asks, in the order of the core's contract.
func (d *driver) handle(ctx context.Context, rd *core.Ready) error {
	if rd.Read != nil {
		if err := d.store.Apply(d.q.Name, rd.WriteAhead); err != nil {
			return fmt.Errorf("query %q: batch %d: write ahead: %w", d.q.Name, rd.Read.ID, err)
		}
		if err := d.cq.Advance(); err != nil {
			return fmt.Errorf("query %q: %w", d.q.Name, err)
		}
		return d.process(ctx, rd.Read, len(rd.WriteAhead) == 0)
	}
	if rd.Commit == nil {
		return nil
	}
	cur := d.cur
	if cur == nil || cur.batch.ID != rd.Commit.BatchID {
		return fmt.Errorf("query %q: batch %d to commit was not read by this driver: %w", d.q.Name, rd.Commit.BatchID, core.ErrProtocol)
	}
	t0 := time.Now()
	bm := BatchMetrics{BatchID: cur.batch.ID, Replayed: cur.replayed, PlannedAt: cur.batch.PlannedAt, Ranges: cur.batch.Ranges,
		Read: cur.read, Transform: cur.transform, Operators: cur.operators,
		InputRecords: cur.records, InputBytes: cur.bytes, OutputVersion: -1, LateVersion: -1, QuarantineVersion: -1}
	if err := d.commitSinks(ctx, rd, &bm); err != nil {
		return err
	}
	if err := d.store.Apply(d.q.Name, rd.Persist); err != nil {
		return fmt.Errorf("query %q: batch %d: persist state: %w", d.q.Name, rd.Commit.BatchID, err)
	}
	if err := d.cq.Advance(); err != nil {
		return fmt.Errorf("query %q: %w", d.q.Name, err)
	}
	for _, r := range cur.batch.Ranges {
		d.inputs[r.Partition.Source].completed(r)
	}
	cur.release()
	d.cur = nil

	cm := rd.Metrics
	bm.Commit = time.Since(t0)
	bm.CommittedAt = d.clock()
	bm.Duration = bm.CommittedAt.Sub(bm.PlannedAt)
	bm.InputRows, bm.OutputRows, bm.LateRows, bm.DuplicateRows = cm.InputRows, cm.OutputRows, cm.LateRows, cm.DuplicateRows
	bm.Watermark, bm.State = watermarkTime(cm.Watermark), cm.State
	bm.EventTimeMin, bm.EventTimeMax = microsTime(cur.events)
	bm.IngestTimeMin, bm.IngestTimeMax = microsTime(cur.ingest)
	if s := bm.Duration.Seconds(); s > 0 {
		bm.RowsPerSecond = float64(bm.InputRecords) / s
	}
	d.setTotals()
	d.addQuality(&cur.quality, &bm)
	d.metrics.RunBatches++
	d.metrics.RunRecords += bm.InputRecords
	d.metrics.RunBytes += bm.InputBytes
	d.metrics.Last = bm
	d.log.Info("stream batch", "query", d.q.Name, "batch", bm)
	if d.deps.OnBatch != nil {
		d.deps.OnBatch(bm)
	}
	return nil
}

// process reads a planned batch, runs the transform per partition, maps the output to rows and
// steps them into the core.
func (d *driver) process(ctx context.Context, b *core.Batch, replayed bool) error {
	if d.cur != nil {
		d.cur.release()
	}
	cur := &inflight{batch: b, replayed: replayed, quality: d.rules.newBatch()}
	d.cur = cur
	var rows []core.Row
	stateless := d.m.agg == nil && d.m.dedup == nil && d.m.cdc == nil
	if stateless && b.HasData() {
		var err error
		if cur.files, err = d.out.startFiles(ctx, b.ID, d.m.schema); err != nil {
			return fmt.Errorf("query %q: batch %d: %w", d.q.Name, b.ID, err)
		}
	}
	var parts []partInput
	var partIDs []core.PartitionID
	var partRanges []core.Range
	defer func() {
		for _, p := range parts {
			releaseAll(p.data)
		}
	}()
	for _, r := range sortedRanges(b) {
		in := d.inputs[r.Partition.Source]
		if in == nil {
			return fmt.Errorf("query %q: batch %d reads unknown source %s: %w", d.q.Name, b.ID, r.Partition.Source, core.ErrCorrupt)
		}
		t0 := time.Now()
		pd, err := in.read(ctx, r)
		cur.read += time.Since(t0)
		if err != nil {
			return fmt.Errorf("query %q: batch %d: %w", d.q.Name, b.ID, err)
		}
		cur.records += pd.rows
		cur.bytes += pd.bytes
		cur.ingest.merge(pd.ingest)
		if pd.rows == 0 {
			pd.release()
			continue
		}
		parts = append(parts, partInput{source: r.Partition.Source, data: pd.batches})
		partIDs = append(partIDs, r.Partition)
		partRanges = append(partRanges, r)
	}
	if len(parts) > 0 {
		t1 := time.Now()
		var ops time.Duration
		last := 0
		emit := func(k int, out arrow.RecordBatch) error {
			defer out.Release()
			if k < last {
				return fmt.Errorf("the transform's output is not in partition order (%s after %s): %w", partIDs[k], partIDs[last], ErrTransformOutput)
			}
			last = k
			t2 := time.Now()
			rb, err := d.rules.apply(ctx, out, partRanges[k], &cur.quality)
			if err != nil || rb == nil {
				ops += time.Since(t2)
				return err
			}
			defer rb.Release()
			if rows, err = d.m.appendRows(rows, partIDs[k], rb, cur.rows, &cur.events); err != nil {
				return err
			}
			cur.rows += rb.NumRows()
			ops += time.Since(t2)
			if cur.files != nil {
				return cur.files.add(ctx, []arrow.RecordBatch{rb})
			}
			if d.m.cdc != nil {
				return nil // the CDC operator keeps what it needs; nothing is late
			}
			rb.Retain()
			cur.outputs = append(cur.outputs, rb)
			return nil
		}
		_, err := d.tf.run(ctx, "b"+strconv.FormatInt(b.ID, 10), parts, emit)
		cur.transform += time.Since(t1) - ops
		cur.operators += ops
		if err != nil {
			return fmt.Errorf("query %q: batch %d: %w", d.q.Name, b.ID, err)
		}
	}
	t3 := time.Now()
	if err := d.cq.Step(core.BatchData{BatchID: b.ID, Rows: rows}); err != nil {
		return fmt.Errorf("query %q: %w", d.q.Name, err)
	}
	cur.operators += time.Since(t3)
	return nil
}

// commitSinks commits a processed batch's output, late and quarantined rows, in this order.
func (d *driver) commitSinks(ctx context.Context, rd *core.Ready, bm *BatchMetrics) error {
	c := rd.Commit
	cur := d.cur
	var res commitResult
	var committed bool
	var err error
	switch {
	case d.m.cdc != nil && len(rd.CDC) > 0:
		res, err = d.out.upsertKeys(ctx, c.BatchID, d.m.cdc, rd.CDC)
		bm.ChangedKeys = int64(len(rd.CDC))
		committed = true
	case d.m.agg != nil && len(rd.Results) > 0:
		switch {
		case d.m.global:
			res, err = d.out.upsertGroups(ctx, c.BatchID, d.m, rd.Results)
		case d.q.Output.Mode == OutputUpdate:
			closedBefore := rd.Metrics.Watermark
			if closedBefore != core.NoWatermark && closedBefore != core.MaxWatermark {
				closedBefore -= micros(d.q.AllowedLateness)
			}
			res, err = d.out.upsertWindows(ctx, c.BatchID, d.m, rd.Results, closedBefore)
		default:
			rb, _, rerr := d.m.resultsBatch(rd.Results)
			if rerr != nil {
				return fmt.Errorf("query %q: batch %d: %w", d.q.Name, c.BatchID, rerr)
			}
			res, err = d.out.appendRows(ctx, c.BatchID, d.m.resultSchema, []arrow.RecordBatch{rb})
			rb.Release()
		}
		committed = true
	case cur.files != nil:
		res, err = d.out.commitFiles(ctx, c.BatchID, cur.files)
		cur.files = nil
		committed = true
	case d.m.agg == nil && len(rd.Rows) > 0:
		batches := cur.outputs
		if int64(len(rd.Rows)) != cur.rows {
			idx := make([]int64, len(rd.Rows))
			for i, r := range rd.Rows {
				idx[i] = rowIndex(r)
			}
			slices.Sort(idx)
			if batches, err = takeRows(ctx, cur.outputs, idx); err != nil {
				return fmt.Errorf("query %q: batch %d: %w", d.q.Name, c.BatchID, err)
			}
			defer releaseAll(batches)
		}
		res, err = d.out.appendRows(ctx, c.BatchID, d.m.schema, batches)
		committed = true
	}
	if err != nil {
		return fmt.Errorf("query %q: %w", d.q.Name, err)
	}
	if committed {
		bm.OutputVersion, bm.SinkSkipped, bm.VisibleAt = res.version, res.skipped, d.clock()
	}
	if len(rd.Late) > 0 && d.late != nil {
		idx := make([]int64, len(rd.Late))
		for i, r := range rd.Late {
			idx[i] = rowIndex(r)
		}
		slices.Sort(idx)
		batches, err := takeRows(ctx, cur.outputs, idx)
		if err != nil {
			return fmt.Errorf("query %q: batch %d: %w", d.q.Name, c.BatchID, err)
		}
		res, err := d.late.appendRows(ctx, c.BatchID, d.m.schema, batches)
		releaseAll(batches)
		if err != nil {
			return fmt.Errorf("query %q: late rows: %w", d.q.Name, err)
		}
		bm.LateVersion = res.version
		bm.SinkSkipped = bm.SinkSkipped || res.skipped
	}
	return d.commitQuarantine(ctx, c.BatchID, bm)
}
