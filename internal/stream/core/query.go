package core

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"slices"
	"time"
)

// Config defines a streaming query: where it reads, when it runs batches, and its stateful
// operators. The stateful part (Watermark.Delay, AllowedLateness, Dedup, Aggregate) must stay the
// same for the life of a checkpoint; Restore refuses state written under a different one.
type Config struct {
	// AppID identifies the query to its sinks: output commits carry the Delta transaction
	// (AppID, batch id), late-output commits (AppID+".late", batch id).
	AppID string
	// Sources names the sources; see PlannerConfig.
	Sources []string
	// StartAt chooses where never-read partitions start.
	StartAt StartAt
	// Trigger and Limits decide when batches run and how large they are.
	Trigger Trigger
	Limits  Limits
	// AllowDataLoss lets the query skip positions a source removed before they were read (the
	// skip shows in BatchMetrics.SkippedPositions); otherwise planning fails with ErrDataLoss.
	AllowDataLoss bool
	// Watermark configures event-time watermarks.
	Watermark WatermarkSpec
	// AllowedLateness keeps windows (and dedup keys) open this long past the watermark: a row is
	// late when its event time < max(its partition's watermark from the rows before it, the
	// query watermark at the start of its batch) - AllowedLateness (see Tracker, Lateness), and a
	// window closes when End <= query watermark - AllowedLateness.
	AllowedLateness int64
	// DropLate drops late rows instead of returning them in Ready.Late; they are still counted.
	DropLate bool
	// Dedup, if set, deduplicates rows within the watermark (before the aggregation, if both).
	Dedup *DedupSpec
	// Aggregate, if set, aggregates rows per window and Row.Key; Ready.Results carries the output.
	// Without it, Ready.Rows carries the rows (deduplicated, if Dedup is set). A query with
	// neither is stateless: nothing is late and every row passes. With the global window
	// (WindowGlobal) the aggregation is a plain GROUP BY maintained incrementally: rows are never
	// late for it and its groups never close.
	Aggregate *AggregateSpec
	// CDC, if set, applies the rows as changes to a keyed target (AUTO CDC, see CDCSpec);
	// Ready.CDC carries the output. It excludes Dedup and Aggregate, and nothing is late for it.
	CDC *CDCSpec
	// FlushAtEnd makes an available-now run end with a Flush batch that closes every window, so
	// that a batch run of the query emits everything (the query is finished afterwards: any later
	// row is late).
	FlushAtEnd bool
	// RetainBatches is how many offsets-log and commit-log entries are kept (default 100, at
	// least 1); older ones are deleted with each completion.
	RetainBatches int
}

func (c *Config) plannerConfig() PlannerConfig {
	return PlannerConfig{Sources: c.Sources, Trigger: c.Trigger, Limits: c.Limits, StartAt: c.StartAt,
		AllowDataLoss: c.AllowDataLoss, FlushAtEnd: c.FlushAtEnd}
}

func (c *Config) validate() error {
	if c.AppID == "" {
		return fmt.Errorf("empty AppID: %w", ErrInvalidConfig)
	}
	pc := c.plannerConfig()
	if err := pc.validate(); err != nil {
		return err
	}
	if c.Watermark.Delay < 0 || c.Watermark.IdleTimeout < 0 || c.AllowedLateness < 0 || c.RetainBatches < 0 {
		return fmt.Errorf("negative delay, idle timeout, lateness or retention: %w", ErrInvalidConfig)
	}
	if c.Dedup != nil {
		if err := c.Dedup.validate(); err != nil {
			return err
		}
	}
	if c.Aggregate != nil {
		if err := c.Aggregate.validate(); err != nil {
			return err
		}
	}
	if err := c.validateCDC(); err != nil {
		return err
	}
	return nil
}

// fingerprint is the persisted identity of the stateful part of the query. It spells every field
// out with explicit names, so renaming Go fields does not orphan existing checkpoints.
func (c *Config) fingerprint() []byte {
	type agg struct {
		Func   string `json:"func"`
		Column int    `json:"column"`
	}
	type aggregate struct {
		Window string `json:"window"`
		Size   int64  `json:"size,omitempty"`
		Slide  int64  `json:"slide,omitempty"`
		Gap    int64  `json:"gap,omitempty"`
		Aggs   []agg  `json:"aggs"`
		Mode   string `json:"mode"`
	}
	fp := struct {
		V         int             `json:"v"`
		Delay     int64           `json:"delay"`
		Lateness  int64           `json:"lateness"`
		DedupKey  *[]int          `json:"dedupKeyColumns,omitempty"`
		Aggregate *aggregate      `json:"aggregate,omitempty"`
		CDC       *cdcFingerprint `json:"cdc,omitempty"`
	}{V: 1, Delay: c.Watermark.Delay, Lateness: c.AllowedLateness, CDC: c.CDC.fingerprint()}
	if c.Dedup != nil {
		cols := append([]int{}, c.Dedup.KeyColumns...)
		fp.DedupKey = &cols
	}
	if a := c.Aggregate; a != nil {
		fa := &aggregate{Window: a.Window.Kind.String(), Size: a.Window.Size, Slide: a.Window.Slide, Gap: a.Window.Gap, Mode: a.Mode.String()}
		for _, s := range a.Aggs {
			fa.Aggs = append(fa.Aggs, agg{s.Func.String(), s.Column})
		}
		fp.Aggregate = fa
	}
	data, err := json.Marshal(fp)
	if err != nil {
		panic(err)
	}
	return data
}

// minValues is the number of Row.Values every row needs for the configured operators.
func (c *Config) minValues() int {
	n := 0
	if c.Dedup != nil {
		for _, col := range c.Dedup.KeyColumns {
			n = max(n, col+1)
		}
	}
	if c.Aggregate != nil {
		for _, a := range c.Aggregate.Aggs {
			n = max(n, a.Column+1)
		}
	}
	if c.CDC != nil {
		n = max(n, c.CDC.minValues())
	}
	return n
}

// Event is an input of Query.Step: SourceStatus or BatchData.
type Event interface{ isEvent() }

// BatchData hands the core the rows the driver read for the batch of a Ready.Read: every record
// of every non-empty range, reduced to Rows, in partition order and position order within a
// partition. Position order matters beyond replays: a row's lateness is decided by the rows of
// its partition before it (see Tracker), so the rows of a partition must come in the order of its
// positions for lateness not to depend on how the batches are cut (the order between partitions
// does not matter). Strata's driver reads each range in position order, runs the transform per
// partition keeping row order, and steps the partitions in order. Reading the same ranges again
// (after a crash) must give the same rows in the same order; the output is then the same.
type BatchData struct {
	BatchID int64
	Rows    []Row
}

func (BatchData) isEvent() {}

// SinkCommit names the idempotent sink transactions of a processed batch.
type SinkCommit struct {
	// BatchID is the Delta transaction version.
	BatchID int64
	// AppID is the transaction app id of the output table; LateAppID that of the late-data table.
	AppID, LateAppID string
}

// Ready is what the driver must do now. Fields are empty when there is nothing of their kind;
// the driver handles the non-empty ones in the order of the Query contract, then calls Advance.
// The Ready's slices belong to the driver; Rows and Late share Keys and Values with the rows the
// driver stepped in.
type Ready struct {
	// WriteAhead holds the offsets-log entry of a newly planned batch. It must be durable before
	// Advance (and so before anything of the batch reaches a sink). Empty when Read is a batch
	// restored from the offsets log, which is durable already.
	WriteAhead []Mutation
	// Read is the batch to read next: after Advance, the driver reads its ranges and steps the
	// rows in with BatchData.
	Read *Batch

	// Commit, when set, marks a processed batch: Rows, Results and Late are its output and must
	// be committed to the sinks with the transactions Commit names, before Persist. It is set even
	// when the batch has no output; the driver may then skip the sink commits.
	Commit *SinkCommit
	// Rows are the output rows of a query without aggregation.
	Rows []Row
	// Results are the output rows of an aggregation.
	Results []Result
	// CDC is the output of a CDC query: the keys whose target rows changed, each with its
	// complete new rows, sorted by key.
	CDC []CDCKeyRows
	// Late are the late rows (empty with Config.DropLate).
	Late []Row
	// Persist holds the state mutations and the batch's commit record, sorted by key. They must
	// be applied atomically (one synced pebble batch), after the sink commits, before Advance.
	Persist []Mutation
	// Metrics describes the processed batch.
	Metrics *BatchMetrics
}

// BatchMetrics describes one processed batch.
type BatchMetrics struct {
	BatchID   int64
	PlannedAt time.Time
	// Duration runs on the injected clock from planning to processing (it includes reading the
	// input, not the sink commit that follows).
	Duration time.Duration
	// Positions is the number of positions read; SkippedPositions those skipped as lost.
	Positions, SkippedPositions int64
	// InputRows are the rows stepped in; LateRows those late (routed or dropped); DuplicateRows
	// those dropped by dedup; OutputRows the rows and results emitted (retractions included).
	InputRows, LateRows, DuplicateRows, OutputRows int64
	// Watermark is the query watermark after the batch (NoWatermark if none yet).
	Watermark int64
	// State is the size of the operators' state after the batch.
	State StateSize
	// Partitions are the partition watermarks at the batch's PlannedAt.
	Partitions []PartitionMark
}

// QueryMetrics are the query's totals over its whole life (they are persisted with each commit
// record, so a restart continues them).
type QueryMetrics struct {
	Batches                                        int64
	InputRows, LateRows, DuplicateRows, OutputRows int64
	Watermark                                      int64
	State                                          StateSize
	// LastBatch describes the last batch completed by this Query value (zero before the first
	// and after a restart).
	LastBatch BatchMetrics
}

type phase uint8

const (
	phaseIdle      phase = iota // no batch in flight: Ready plans
	phasePlanned                // Ready carries a batch to write ahead and read; awaiting Advance
	phaseReading                // awaiting BatchData for the in-flight batch
	phaseProcessed              // Ready carries the batch's output and state; awaiting Advance
	phaseDone                   // available-now run complete
)

// Query is the decision core of one streaming query, in the style of etcd's raft: a deterministic
// state machine that does no I/O and reads no clock. The driver feeds it time (Tick) and events
// (Step), takes what it must do from Ready, does it, and acknowledges with Advance.
//
// # The driver contract
//
// Construction: NewQuery(cfg); if the query has a checkpoint, Restore(a scan of every persisted
// key/value) before anything else. Then, on every wake-up:
//
//  1. Tick(now) with the current time. Tick only records the clock (a reading earlier than the
//     last one is ignored); everything time-dependent uses the last reading.
//  2. Step(SourceStatus) for each source whose available positions the driver has (re)checked:
//     at least once per source before the first batch, then whenever new data may have arrived.
//  3. Loop:
//     a. rd, err := Ready(). Planning happens here, from the statuses and clock recorded so far.
//     An error stops the query (see below). If rd.Empty(), leave the loop.
//     b. WriteAhead: write the mutations durably (synced). This is the write-ahead offsets log:
//     batch N's ranges are on disk before any of batch N's effects.
//     c. Commit (if set): commit rd.Rows or rd.Results to the output table in one Delta
//     transaction carrying txn (Commit.AppID, Commit.BatchID), and rd.Late to the late-data
//     table with txn (Commit.LateAppID, Commit.BatchID). Before each commit, read the table's
//     txn version for that app id: if it is >= BatchID, the batch was committed before a crash;
//     skip that commit (its content was identical: the core is deterministic).
//     d. Persist: write the mutations atomically and durably (one synced pebble batch). They hold
//     the operators' state after batch N together with its commit record, so state and
//     completion can never disagree.
//     e. Advance().
//     f. If rd.Read is set: read the batch's ranges from the sources and Step(BatchData) with the
//     rows (a batch that reads nothing still gets a BatchData with no rows).
//     g. Tick(now) again, so that the next plan and the batch metrics see the time that passed.
//  4. If Done(): stop, the available-now run is finished. Otherwise sleep until WakeAt() (if ok)
//     or until new data arrives.
//
// Exactly-once follows from the order write-ahead planned batch -> process -> sink commit with
// txn (AppID, batch id) -> state + completion record. After a crash anywhere, Restore finds the
// last completed batch N-1 (its commit record) with the state written atomically with it, and,
// if batch N was written ahead, re-plans exactly batch N (a Ready whose Read has no WriteAhead).
// The driver re-reads the same ranges; processing uses only the restored state, the recorded
// batch (including its PlannedAt, for idleness) and the rows, so the output is identical; the
// sinks' txn check turns a repeated commit into a no-op, and the state write completes the batch.
// Batches planned after the replayed one may be cut differently than they would have been without
// the crash (the clock moved on); each record is still read by exactly one completed batch.
//
// Errors: ErrProtocol means the driver broke this contract; the Query is unchanged. Any other
// error from Step or Ready means the query cannot continue: processing may have partly changed
// the in-memory state (ErrKindMismatch, ErrOverflow), or a source lost data (ErrDataLoss).
// Nothing of the failed batch has been persisted, so the driver stops, reports, and once the
// cause is fixed starts a new Query from the checkpoint.
//
// A Query is not safe for concurrent use; the driver calls it from one goroutine.
type Query struct {
	cfg     Config
	planner *Planner
	tracker *Tracker
	dedup   *Deduplicator // nil without Config.Dedup
	agg     *Aggregator   // nil without Config.Aggregate
	cdc     *CDCOperator  // nil without Config.CDC

	clock    time.Time
	started  bool // Tick or Step happened: Restore is no longer allowed
	restored bool
	phase    phase
	ready    Ready
	decision Decision // the last planner decision while idle

	configStored bool // the fingerprint is in the store
	metrics      QueryMetrics
}

// NewQuery returns the machine of a query that has not run yet (or is about to be Restored).
func NewQuery(cfg Config) (*Query, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.RetainBatches == 0 {
		cfg.RetainBatches = 100
	}
	// The Query owns its Config: nothing the caller changes later reaches it.
	cfg.Sources = slices.Clone(cfg.Sources)
	if cfg.Dedup != nil {
		d := *cfg.Dedup
		d.KeyColumns = slices.Clone(d.KeyColumns)
		cfg.Dedup = &d
	}
	if cfg.Aggregate != nil {
		a := *cfg.Aggregate
		a.Aggs = slices.Clone(a.Aggs)
		cfg.Aggregate = &a
	}
	cfg.CDC = cloneCDCSpec(cfg.CDC)
	p, err := NewPlanner(cfg.plannerConfig())
	if err != nil {
		return nil, err
	}
	q := &Query{cfg: cfg, planner: p, tracker: NewTracker(cfg.Watermark)}
	if cfg.Dedup != nil {
		if q.dedup, err = NewDeduplicator(*cfg.Dedup); err != nil {
			return nil, err
		}
	}
	if cfg.Aggregate != nil {
		if q.agg, err = NewAggregator(*cfg.Aggregate); err != nil {
			return nil, err
		}
	}
	if cfg.CDC != nil {
		if q.cdc, err = NewCDCOperator(*cfg.CDC); err != nil {
			return nil, err
		}
	}
	q.metrics.Watermark = NoWatermark
	return q, nil
}

func (q *Query) stateful() bool { return q.dedup != nil || q.agg != nil }

// watermarked reports whether an operator acts on the watermark: dedup, or an aggregation over
// event-time windows. A global aggregation alone does not (nothing of it closes or expires), so a
// batch without data is never worth running for it.
func (q *Query) watermarked() bool {
	return q.dedup != nil || (q.agg != nil && q.cfg.Aggregate.Window.Kind != WindowGlobal)
}

// Restore rebuilds the query from a full scan of its persisted key/values (every key the driver
// wrote from WriteAhead and Persist, in any order, with the driver's namespace prefix stripped).
// It copies what it keeps. It must be called at most once, before any Tick or Step. Errors wrap
// ErrCorrupt or ErrIncompatibleState; after one, discard the Query.
func (q *Query) Restore(state iter.Seq2[[]byte, []byte]) error {
	if q.started || q.restored {
		return fmt.Errorf("restore after start: %w", ErrProtocol)
	}
	q.restored = true
	offsets := map[int64][]byte{}
	lastDone := int64(-1)
	for k, v := range state {
		if len(k) == 0 {
			return fmt.Errorf("empty key: %w", ErrCorrupt)
		}
		var err error
		switch k[0] {
		case sectionMeta:
			if !bytes.Equal(k, configKey) {
				err = fmt.Errorf("meta key %q: %w", k, ErrCorrupt)
			} else if !bytes.Equal(v, q.cfg.fingerprint()) {
				err = fmt.Errorf("persisted %s, configured %s: %w", v, q.cfg.fingerprint(), ErrIncompatibleState)
			}
			q.configStored = true
		case sectionOffsets, sectionCommits:
			if len(k) != 9 || binary.BigEndian.Uint64(k[1:]) > math.MaxInt64 {
				err = fmt.Errorf("log key %q: %w", k, ErrCorrupt)
				break
			}
			id := int64(binary.BigEndian.Uint64(k[1:]))
			if k[0] == sectionOffsets {
				offsets[id] = bytes.Clone(v)
				break
			}
			c, cerr := decodeCommit(v)
			if cerr != nil || c.ID != id {
				err = fmt.Errorf("commit log key %d: %w", id, ErrCorrupt)
				break
			}
			if id > lastDone {
				lastDone = id
				t := c.Totals
				q.metrics.Batches, q.metrics.InputRows, q.metrics.LateRows = t.Batches, t.InputRows, t.LateRows
				q.metrics.DuplicateRows, q.metrics.OutputRows = t.DuplicateRows, t.OutputRows
			}
		case sectionWatermark:
			err = q.tracker.UnmarshalBinary(v)
		case sectionAggregate:
			if q.agg == nil {
				err = fmt.Errorf("aggregate state in a query without aggregation: %w", ErrIncompatibleState)
			} else {
				err = q.agg.Load(k, v)
			}
		case sectionDedup:
			if q.dedup == nil {
				err = fmt.Errorf("dedup state in a query without dedup: %w", ErrIncompatibleState)
			} else {
				err = q.dedup.Load(k, v)
			}
		case sectionCDC:
			if q.cdc == nil {
				err = fmt.Errorf("cdc state in a query without cdc: %w", ErrIncompatibleState)
			} else {
				err = q.cdc.Load(k, v)
			}
		default:
			err = fmt.Errorf("key %q: unknown section: %w", k, ErrCorrupt)
		}
		if err != nil {
			return err
		}
	}
	var last, inflight *Batch
	var err error
	if lastDone >= 0 {
		data, ok := offsets[lastDone]
		if !ok {
			return fmt.Errorf("batch %d committed but not in the offsets log: %w", lastDone, ErrCorrupt)
		}
		if last, err = DecodeBatch(data); err != nil {
			return err
		}
	}
	for id := range offsets {
		if id > lastDone+1 {
			return fmt.Errorf("offsets log has batch %d after last completed batch %d: %w", id, lastDone, ErrCorrupt)
		}
	}
	if data, ok := offsets[lastDone+1]; ok {
		if inflight, err = DecodeBatch(data); err != nil {
			return err
		}
	}
	if (last != nil && last.ID != lastDone) || (inflight != nil && inflight.ID != lastDone+1) {
		return fmt.Errorf("offsets log entry under another batch id: %w", ErrCorrupt)
	}
	if err := q.planner.Restore(last, inflight); err != nil {
		return err
	}
	q.metrics.Watermark = q.tracker.Watermark()
	q.metrics.State = q.stateSize()
	if inflight != nil {
		q.phase = phasePlanned
		q.ready = Ready{Read: inflight}
	}
	return nil
}

// Tick records the injected clock. Planning (in Ready) and processing use the last reading.
func (q *Query) Tick(now time.Time) {
	q.started = true
	if now.After(q.clock) {
		q.clock = now
	}
}

// Step feeds an event: a SourceStatus (recorded for the next planning, at any time) or the
// BatchData of the batch being read (processed at once; its output is in the next Ready).
func (q *Query) Step(ev Event) error {
	q.started = true
	switch ev := ev.(type) {
	case SourceStatus:
		return q.planner.Observe(ev, q.clock)
	case *SourceStatus:
		return q.planner.Observe(*ev, q.clock)
	case BatchData:
		return q.process(ev)
	case *BatchData:
		return q.process(*ev)
	}
	return fmt.Errorf("event %T: %w", ev, ErrProtocol)
}

// Empty reports whether the Ready asks nothing of the driver.
func (rd *Ready) Empty() bool { return rd.Read == nil && rd.Commit == nil }

// Ready returns what the driver must do now, planning the next batch if none is in flight. It
// returns the same Ready until Advance. An empty Ready means there is nothing to do until WakeAt
// or new data (or, if Done, ever).
func (q *Query) Ready() (Ready, error) {
	q.started = true
	if q.phase == phaseIdle {
		if err := q.plan(); err != nil {
			return Ready{}, err
		}
	}
	if q.phase == phasePlanned || q.phase == phaseProcessed {
		return q.ready, nil
	}
	return Ready{}, nil
}

// Advance acknowledges that everything in the current Ready has been done (written, committed).
func (q *Query) Advance() error {
	switch q.phase {
	case phasePlanned:
		q.phase, q.ready = phaseReading, Ready{}
		return nil
	case phaseProcessed:
		m := *q.ready.Metrics
		if err := q.planner.Complete(m.BatchID); err != nil {
			return err
		}
		q.configStored = true
		q.metrics.Batches++
		q.metrics.InputRows += m.InputRows
		q.metrics.LateRows += m.LateRows
		q.metrics.DuplicateRows += m.DuplicateRows
		q.metrics.OutputRows += m.OutputRows
		q.metrics.Watermark = m.Watermark
		q.metrics.State = m.State
		q.metrics.LastBatch = m
		q.phase, q.ready = phaseIdle, Ready{}
		q.decision = Decision{}
		return nil
	}
	return fmt.Errorf("advance with nothing ready (phase %d): %w", q.phase, ErrProtocol)
}

// Done reports that an available-now run has finished.
func (q *Query) Done() bool { return q.phase == phaseDone }

// WakeAt returns, after Ready returned an empty Ready, when the driver should wake up even
// without new data: the next interval period, the end of a low-latency fill delay, or the moment
// a partition becomes idle (which may close windows). ok is false when only new data can make
// progress.
func (q *Query) WakeAt() (at time.Time, ok bool) {
	if q.phase != phaseIdle || q.decision.Kind != DecideWait {
		return time.Time{}, false
	}
	at, ok = q.decision.Until, !q.decision.Until.IsZero()
	if q.watermarked() {
		if idle, iok := q.tracker.NextIdleAt(q.clock); iok && (!ok || idle.Before(at)) {
			at, ok = idle, true
		}
	}
	return at, ok
}

// Waiting returns the reason of the planner's last wait decision, for status displays.
func (q *Query) Waiting() string {
	if q.phase != phaseIdle {
		return ""
	}
	return q.decision.Reason
}

// Watermark returns the query watermark after the last processed batch.
func (q *Query) Watermark() int64 { return q.tracker.Watermark() }

// Metrics returns the query's totals.
func (q *Query) Metrics() QueryMetrics { return q.metrics }

func (q *Query) stateSize() StateSize {
	var s StateSize
	if q.dedup != nil {
		s.Entries, s.Bytes = s.Entries+q.dedup.Size().Entries, s.Bytes+q.dedup.Size().Bytes
	}
	if q.agg != nil {
		s.Entries, s.Bytes = s.Entries+q.agg.Size().Entries, s.Bytes+q.agg.Size().Bytes
	}
	if q.cdc != nil {
		s.Entries, s.Bytes = s.Entries+q.cdc.Size().Entries, s.Bytes+q.cdc.Size().Bytes
	}
	return s
}

func (q *Query) plan() error {
	if q.phase != phaseIdle {
		return nil
	}
	due := q.watermarked() && q.tracker.Peek(q.clock) > q.tracker.Watermark()
	d, err := q.planner.Next(q.clock, due)
	if err != nil {
		return err
	}
	q.decision = d
	switch d.Kind {
	case DecideRun:
		q.phase = phasePlanned
		q.ready = Ready{Read: d.Batch}
		if !d.Replay {
			q.ready.WriteAhead = []Mutation{{Key: offsetsKey(d.Batch.ID), Value: encodeBatch(d.Batch)}}
		}
	case DecideDone:
		q.phase = phaseDone
	}
	return nil
}

// process runs one batch through the watermark and the operators. Each row's lateness cutoff
// is taken just before the row is observed: max(its partition's watermark, the query watermark
// at the start of the batch) - AllowedLateness (Tracker.LateBefore), so it depends on the rows of
// the partition before it, not on where the batch boundaries fall. The query watermark then
// advances over the batch's event times (at the batch's PlannedAt), and emission and eviction
// use the advanced watermark. Only operators that act on the watermark (dedup, event-time
// windows) have late rows; a stateless, global-window or CDC query has none.
func (q *Query) process(data BatchData) error {
	b := q.planner.InFlight()
	if q.phase != phaseReading || b == nil || data.BatchID != b.ID {
		return fmt.Errorf("batch data for batch %d while not reading it (phase %d): %w", data.BatchID, q.phase, ErrProtocol)
	}
	reading := map[PartitionID]bool{}
	for _, r := range b.Ranges {
		reading[r.Partition] = !r.Empty()
	}
	need := q.cfg.minValues()
	for _, row := range data.Rows {
		if !reading[row.Partition] {
			return fmt.Errorf("batch %d: row from %s, which the batch does not read: %w", b.ID, row.Partition, ErrProtocol)
		}
		if len(row.Values) < need {
			return fmt.Errorf("batch %d: row of %s at %d has %d values, the query reads %d: %w", b.ID, row.Partition, row.EventTime, len(row.Values), need, ErrProtocol)
		}
	}

	m := &BatchMetrics{BatchID: b.ID, PlannedAt: b.PlannedAt, Duration: max(0, q.clock.Sub(b.PlannedAt)),
		Positions: b.Positions(), InputRows: int64(len(data.Rows))}
	for _, r := range b.Ranges {
		if pos, ok := q.planner.Committed(r.Partition); ok && r.From > pos {
			m.SkippedPositions += r.From - pos
		}
		q.tracker.Register(r.Partition, b.PlannedAt)
		if !r.Empty() {
			q.tracker.MarkActive(r.Partition, b.PlannedAt)
		}
	}
	var lateBefore []int64
	if q.watermarked() {
		lateBefore = make([]int64, len(data.Rows))
	}
	for i, row := range data.Rows {
		if lateBefore != nil {
			lateBefore[i] = q.tracker.LateBefore(row.Partition, q.cfg.AllowedLateness)
		}
		q.tracker.Observe(row.Partition, row.EventTime)
	}
	var wmEnd int64
	if b.Flush {
		q.tracker.Flush()
		wmEnd = MaxWatermark
	} else {
		wmEnd = q.tracker.Advance(b.PlannedAt)
	}
	in := StepInput{Rows: data.Rows, LateBefore: lateBefore, ExpireBefore: satSub(wmEnd, q.cfg.AllowedLateness)}

	rd := Ready{Commit: &SinkCommit{BatchID: b.ID, AppID: q.cfg.AppID, LateAppID: q.cfg.AppID + ".late"}, Metrics: m}
	var persist []Mutation
	rows := data.Rows
	var late []Row
	if q.dedup != nil {
		out, err := q.dedup.Step(in)
		if err != nil {
			return fmt.Errorf("batch %d: dedup: %w", b.ID, err)
		}
		rows, late = out.Rows, out.Late
		m.DuplicateRows = out.Duplicates
		persist = append(persist, out.Mutations...)
		// The rows dedup let through are on time (their cutoffs are the same for the
		// aggregation).
		in.Rows, in.LateBefore = rows, nil
	}
	if q.cdc != nil {
		ms, err := q.stepCDC(in, &rd, m)
		if err != nil {
			return err
		}
		persist = append(persist, ms...)
	} else if q.agg != nil {
		out, err := q.agg.Step(in)
		if err != nil {
			return fmt.Errorf("batch %d: aggregate: %w", b.ID, err)
		}
		late = append(late, out.Late...)
		rd.Results = out.Results
		m.OutputRows = int64(len(out.Results))
		persist = append(persist, out.Mutations...)
	} else {
		rd.Rows = rows
		m.OutputRows = int64(len(rows))
	}
	m.LateRows = int64(len(late))
	if !q.cfg.DropLate {
		rd.Late = late
	}
	m.Watermark = wmEnd
	m.State = q.stateSize()
	m.Partitions = q.tracker.Partitions(b.PlannedAt)

	wm, err := q.tracker.MarshalBinary()
	if err != nil {
		return err
	}
	persist = append(persist,
		Mutation{Key: watermarkKey, Value: wm},
		Mutation{Key: commitKey(b.ID), Value: encodeCommit(b.ID, wmEnd, totalsJSON{
			Batches:       q.metrics.Batches + 1,
			InputRows:     q.metrics.InputRows + m.InputRows,
			LateRows:      q.metrics.LateRows + m.LateRows,
			DuplicateRows: q.metrics.DuplicateRows + m.DuplicateRows,
			OutputRows:    q.metrics.OutputRows + m.OutputRows,
		})})
	if !q.configStored {
		persist = append(persist, Mutation{Key: configKey, Value: q.cfg.fingerprint()})
	}
	if old := b.ID - int64(q.cfg.RetainBatches); old >= 0 {
		persist = append(persist, Mutation{Key: offsetsKey(old), Delete: true}, Mutation{Key: commitKey(old), Delete: true})
	}
	sortMutations(persist)
	rd.Persist = persist
	q.ready = rd
	q.phase = phaseProcessed
	return nil
}
