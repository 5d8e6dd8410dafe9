package core

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// TriggerKind says when micro-batches start.
type TriggerKind uint8

const (
	// TriggerInterval runs at most one batch per period of Trigger.Interval, with periods aligned
	// to multiples of Interval on the injected clock (since the Unix epoch, like Spark's
	// processing-time trigger): once a boundary has passed since the last batch was planned, the
	// next batch starts as soon as there is data (at the boundary itself if data is waiting). A
	// batch that overruns its period is followed by the next one at once. Interval 0 starts a batch
	// whenever data is available.
	TriggerInterval TriggerKind = iota
	// TriggerAvailableNow reads everything available when the run starts (the ends reported by the
	// first SourceStatus of every source), in batches bounded by Limits, back to back, then stops.
	// Data arriving during the run is left for the next run. Batch mode is this trigger.
	TriggerAvailableNow
	// TriggerLowLatency starts a batch as soon as data is available, without waiting for an
	// interval: at once when the backlog fills a batch (reaches Limits) or the previous batch left
	// a backlog, otherwise when Trigger.MaxDelay has passed since the oldest unplanned data was
	// first seen (0: at once).
	TriggerLowLatency
)

// String returns the trigger's name.
func (k TriggerKind) String() string {
	switch k {
	case TriggerInterval:
		return "interval"
	case TriggerAvailableNow:
		return "available-now"
	case TriggerLowLatency:
		return "low-latency"
	}
	return fmt.Sprintf("trigger(%d)", k)
}

// Trigger is the trigger of a query. The zero Trigger runs batches as fast as data arrives.
type Trigger struct {
	Kind TriggerKind
	// Interval is the period of TriggerInterval.
	Interval time.Duration
	// MaxDelay is how long TriggerLowLatency waits for a batch to fill.
	MaxDelay time.Duration
}

// Limits bound one batch. Zero means unbounded. A batch always reads at least one position when
// any is available, even if that one position alone exceeds a limit (a Delta version larger than
// MaxRecords is read whole): the query never stalls on an oversized position.
type Limits struct {
	// MaxRecords bounds the records of a batch, summed over partitions. For a log partition a
	// position is a record (compaction gaps make this an upper bound); for a Delta source the
	// driver reports each version's record count in PartitionStatus.Costs.
	MaxRecords int64
	// MaxBytes bounds the estimated bytes of a batch (PartitionStatus.Costs and
	// BytesPerPosition).
	MaxBytes int64
}

// StartAt chooses where a partition the query has never read starts.
type StartAt uint8

const (
	// StartEarliest starts at the partition's first available position (PartitionStatus.Start).
	StartEarliest StartAt = iota
	// StartLatest starts at the partition's end as first reported: only newer data is read.
	StartLatest
)

// Cost is the size of one position: the records and bytes a batch reads for it.
type Cost struct {
	Records, Bytes int64
}

// PartitionStatus is what a source currently holds for one partition.
type PartitionStatus struct {
	Partition int32
	// Start is the first position still available (retention may have removed earlier ones);
	// End is one past the last available position. For a Delta source, Start is the first version
	// whose commit is still readable and End is the latest version + 1.
	Start, End int64
	// BytesPerPosition estimates the bytes of a position without an explicit Cost.
	BytesPerPosition int64
	// Costs optionally gives the exact cost of positions CostsFrom, CostsFrom+1, ...; a position
	// outside them costs one record and BytesPerPosition bytes. A Delta source reports each
	// version's row count and file bytes here.
	CostsFrom int64
	Costs     []Cost
}

func (s *PartitionStatus) cost(pos int64) Cost {
	if pos >= s.CostsFrom && pos-s.CostsFrom < int64(len(s.Costs)) {
		return s.Costs[pos-s.CostsFrom]
	}
	return Cost{Records: 1, Bytes: s.BytesPerPosition}
}

// SourceStatus reports every partition of one source. It replaces the previous report of the
// same source; partitions missing from it keep their last report. Step it into the Query whenever
// the driver learns of new data (and at least once per source before the first batch).
type SourceStatus struct {
	Source     string
	Partitions []PartitionStatus
}

func (SourceStatus) isEvent() {}

// DecisionKind is what the planner decided.
type DecisionKind uint8

const (
	// DecideWait: no batch now. Decision.Until, if not zero, is the earliest clock reading at
	// which the decision may change without new source status.
	DecideWait DecisionKind = iota
	// DecideRun: run Decision.Batch.
	DecideRun
	// DecideDone: the available-now run is complete; the driver stops the query.
	DecideDone
)

// Decision is the planner's answer to "what next?".
type Decision struct {
	Kind DecisionKind
	// Batch is the batch to run (DecideRun).
	Batch *Batch
	// Replay is set when Batch is the in-flight batch restored from the offsets log: it is already
	// written ahead and must be re-read exactly.
	Replay bool
	// Until is the wake-up time of a DecideWait (zero: wait for new data only).
	Until time.Time
	// Reason says why, for logs and tests.
	Reason string
}

// PlannerConfig configures a Planner; Config carries the same fields for a Query.
type PlannerConfig struct {
	// Sources names every source. No batch is planned before each has reported a SourceStatus.
	Sources       []string
	Trigger       Trigger
	Limits        Limits
	StartAt       StartAt
	AllowDataLoss bool
	// FlushAtEnd makes an available-now run end with a Flush batch.
	FlushAtEnd bool
}

func (c *PlannerConfig) validate() error {
	if len(c.Sources) == 0 {
		return fmt.Errorf("no sources: %w", ErrInvalidConfig)
	}
	for i, s := range c.Sources {
		if s == "" || slices.Contains(c.Sources[:i], s) {
			return fmt.Errorf("source name %q empty or repeated: %w", s, ErrInvalidConfig)
		}
	}
	if c.Trigger.Kind > TriggerLowLatency || c.Trigger.Interval < 0 || c.Trigger.MaxDelay < 0 {
		return fmt.Errorf("trigger %+v: %w", c.Trigger, ErrInvalidConfig)
	}
	if c.Limits.MaxRecords < 0 || c.Limits.MaxBytes < 0 {
		return fmt.Errorf("limits %+v: %w", c.Limits, ErrInvalidConfig)
	}
	if c.FlushAtEnd && c.Trigger.Kind != TriggerAvailableNow {
		return fmt.Errorf("FlushAtEnd needs the available-now trigger: %w", ErrInvalidConfig)
	}
	return nil
}

// Planner decides the next micro-batch: which positions of which partitions it reads, and when it
// starts. It is deterministic: the same observations at the same clock readings give the same
// batches. It holds at most one batch in flight (planned, not completed); Next returns that batch
// again until Complete, which is how a restart re-plans exactly the recorded batch.
//
// Invariants: committed positions only move in Complete, to the To of the completed batch's
// ranges; batch ids grow by one per completed batch; the in-flight batch's ranges start at the
// committed positions (or later, for a skip allowed by AllowDataLoss).
type Planner struct {
	cfg PlannerConfig

	committed map[PartitionID]int64           // To of the last completed batch
	initial   map[PartitionID]int64           // start of partitions seen but never in a batch
	status    map[PartitionID]PartitionStatus // latest report
	seen      map[string]bool                 // sources that reported since start

	nextID   int64
	last     *Batch // the last completed batch
	inflight *Batch
	restored bool // inflight came from Restore

	dataSince time.Time // when the oldest unplanned data was first seen (low latency)

	planned      bool  // a batch has been planned (since start or restore): lastBoundary is valid
	lastBoundary int64 // the interval boundary at or before the last batch's PlannedAt (unix nanos)

	target  map[PartitionID]int64 // available-now: the ends to reach
	flushed bool                  // the last completed batch was a Flush
}

// NewPlanner returns a planner for a query that has never run; call Restore to continue one.
func NewPlanner(cfg PlannerConfig) (*Planner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Planner{
		cfg:       cfg,
		committed: make(map[PartitionID]int64),
		initial:   make(map[PartitionID]int64),
		status:    make(map[PartitionID]PartitionStatus),
		seen:      make(map[string]bool),
	}, nil
}

// Restore continues from the offsets log: last is the last completed batch (nil if none) and
// inflight the batch planned after it and not completed (nil if none). Next then returns inflight
// unchanged, with Replay set.
func (p *Planner) Restore(last, inflight *Batch) error {
	if last != nil {
		for _, r := range last.Ranges {
			p.committed[r.Partition] = r.To
		}
		p.nextID = last.ID + 1
		p.flushed = last.Flush
		p.last = last
	}
	if inflight != nil {
		if inflight.ID != p.nextID {
			return fmt.Errorf("in-flight batch %d after completed batch %d: %w", inflight.ID, p.nextID-1, ErrCorrupt)
		}
		p.inflight, p.restored = inflight, true
	}
	if lp := cmp.Or(inflight, last); lp != nil {
		p.notePlanned(lp)
	}
	return nil
}

// Observe records a source's status, seen at now.
func (p *Planner) Observe(st SourceStatus, now time.Time) error {
	if !slices.Contains(p.cfg.Sources, st.Source) {
		return fmt.Errorf("status of unknown source %q: %w", st.Source, ErrProtocol)
	}
	p.seen[st.Source] = true
	for _, ps := range st.Partitions {
		id := PartitionID{st.Source, ps.Partition}
		ps.Costs = slices.Clone(ps.Costs)
		p.status[id] = ps
		if _, ok := p.committed[id]; !ok {
			if _, ok := p.initial[id]; !ok {
				if p.cfg.StartAt == StartLatest {
					p.initial[id] = ps.End
				} else {
					p.initial[id] = ps.Start
				}
			}
		}
	}
	if p.dataSince.IsZero() && p.hasUnplanned() {
		p.dataSince = now
	}
	return nil
}

// position returns where the next batch of partition id starts, before any data-loss skip.
func (p *Planner) position(id PartitionID) int64 {
	if p.inflight != nil {
		if r, ok := p.inflight.rangeOf(id); ok {
			return r.To
		}
	}
	if pos, ok := p.committed[id]; ok {
		return pos
	}
	return p.initial[id]
}

func (p *Planner) hasUnplanned() bool {
	for id, st := range p.status {
		if st.End > p.position(id) {
			return true
		}
	}
	return false
}

// InFlight returns the planned, not yet completed batch, or nil.
func (p *Planner) InFlight() *Batch { return p.inflight }

// Committed returns the committed position of a partition (the To of the last completed batch
// that read it).
func (p *Planner) Committed(id PartitionID) (int64, bool) {
	pos, ok := p.committed[id]
	return pos, ok
}

// Complete marks the in-flight batch id completed: its ranges' ends become the committed
// positions.
func (p *Planner) Complete(id int64) error {
	if p.inflight == nil || p.inflight.ID != id {
		return fmt.Errorf("complete batch %d: not in flight: %w", id, ErrProtocol)
	}
	for _, r := range p.inflight.Ranges {
		p.committed[r.Partition] = r.To
		delete(p.initial, r.Partition)
	}
	p.flushed = p.inflight.Flush
	p.last = p.inflight
	p.inflight, p.restored = nil, false
	p.nextID++
	return nil
}

// Next decides what to do at now. watermarkDue tells the planner that a batch without data would
// move the watermark (a partition went idle), so a no-data batch is worth running to close
// windows. Run decisions put the batch in flight; the caller writes it ahead before reading it.
func (p *Planner) Next(now time.Time, watermarkDue bool) (Decision, error) {
	if p.inflight != nil {
		return Decision{Kind: DecideRun, Batch: p.inflight, Replay: p.restored, Reason: "in flight"}, nil
	}
	for _, s := range p.cfg.Sources {
		if !p.seen[s] {
			return Decision{Kind: DecideWait, Reason: "no status of source " + s}, nil
		}
	}
	trig := p.cfg.Trigger
	if trig.Kind == TriggerAvailableNow && p.target == nil {
		p.target = make(map[PartitionID]int64)
		for id, st := range p.status {
			p.target[id] = st.End
		}
	}
	parts, err := p.backlog()
	if err != nil {
		return Decision{}, err
	}
	ranges, truncated := splitBacklog(parts, p.cfg.Limits, p.nextID)
	hasData := false
	for _, r := range ranges {
		hasData = hasData || !r.Empty()
	}

	run := func(reason string, flush bool) Decision {
		b := &Batch{ID: p.nextID, PlannedAt: now, Ranges: ranges, Flush: flush, Backlog: hasData && truncated}
		if !hasData || flush {
			b.Ranges = emptyRanges(ranges)
		}
		p.inflight = b
		p.notePlanned(b)
		if !b.Backlog {
			p.dataSince = time.Time{}
		}
		return Decision{Kind: DecideRun, Batch: b, Reason: reason}
	}

	switch trig.Kind {
	case TriggerAvailableNow:
		switch {
		case hasData:
			return run("available now", false), nil
		case watermarkDue:
			return run("watermark", false), nil
		case p.cfg.FlushAtEnd && !p.flushed:
			return run("flush", true), nil
		}
		return Decision{Kind: DecideDone, Reason: "all available data processed"}, nil

	case TriggerLowLatency:
		if hasData {
			if truncated {
				return run("full", false), nil
			}
			if p.last != nil && p.last.Backlog {
				return run("backlog", false), nil
			}
			if p.dataSince.IsZero() {
				p.dataSince = now
			}
			if deadline := p.dataSince.Add(trig.MaxDelay); now.Before(deadline) {
				return Decision{Kind: DecideWait, Until: deadline, Reason: "filling"}, nil
			}
			return run("max delay", false), nil
		}
		if watermarkDue {
			return run("watermark", false), nil
		}
		return Decision{Kind: DecideWait, Reason: "no data"}, nil

	default: // TriggerInterval
		if trig.Interval > 0 {
			iv := trig.Interval.Nanoseconds()
			b := floorDiv(now.UnixNano(), iv) * iv
			if p.planned && b <= p.lastBoundary {
				return Decision{Kind: DecideWait, Until: time.Unix(0, p.lastBoundary+iv), Reason: "interval"}, nil
			}
		}
		switch {
		case hasData:
			return run("interval", false), nil
		case watermarkDue:
			return run("watermark", false), nil
		}
		return Decision{Kind: DecideWait, Reason: "no data"}, nil
	}
}

// notePlanned records the interval period of a planned batch.
func (p *Planner) notePlanned(b *Batch) {
	if iv := p.cfg.Trigger.Interval.Nanoseconds(); p.cfg.Trigger.Kind == TriggerInterval && iv > 0 {
		p.planned, p.lastBoundary = true, floorDiv(b.PlannedAt.UnixNano(), iv)*iv
	}
}

// backlog lists, for every partition the next batch covers, the positions it may read.
func (p *Planner) backlog() ([]backlog, error) {
	ids := make([]PartitionID, 0, len(p.committed)+len(p.initial))
	for id := range p.committed {
		ids = append(ids, id)
	}
	for id := range p.initial {
		if _, ok := p.committed[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, comparePartitions)
	var out []backlog
	for _, id := range ids {
		from := p.position(id)
		_, known := p.committed[id]
		st, ok := p.status[id]
		if !ok {
			out = append(out, backlog{id: id, from: from, to: from})
			continue
		}
		if st.End < from {
			return nil, fmt.Errorf("partition %s: end %d before committed position %d: %w", id, st.End, from, ErrDataLoss)
		}
		if st.Start > from && !known {
			from = st.Start // never read: start at what is there now
		}
		if st.Start > from {
			if !p.cfg.AllowDataLoss {
				return nil, fmt.Errorf("partition %s: positions [%d,%d) removed before they were read: %w", id, from, st.Start, ErrDataLoss)
			}
			from = st.Start
		}
		to := st.End
		if p.target != nil {
			tgt, inRun := p.target[id]
			if !inRun && !known {
				continue // appeared after the available-now run started
			}
			to = min(to, max(tgt, from))
		}
		out = append(out, backlog{id: id, from: from, to: to, st: &st})
	}
	return out, nil
}

func emptyRanges(rs []Range) []Range {
	out := make([]Range, len(rs))
	for i, r := range rs {
		out[i] = Range{Partition: r.Partition, From: r.From, To: r.From}
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// backlog is what one partition could contribute to a batch: positions [from, to).
type backlog struct {
	id       PartitionID
	from, to int64
	st       *PartitionStatus // costs; nil: one record, zero bytes per position
}

func (b *backlog) cost(pos int64) Cost {
	if b.st == nil {
		return Cost{Records: 1}
	}
	return b.st.cost(pos)
}

// fill returns how many positions from pos fit within limR records and limB bytes, and their
// cost.
func (b *backlog) fill(pos, limR, limB int64) (n, r, by int64) {
	start := pos
	for pos < b.to {
		if b.st != nil && pos >= b.st.CostsFrom && pos-b.st.CostsFrom < int64(len(b.st.Costs)) {
			c := b.st.Costs[pos-b.st.CostsFrom]
			if c.Records > limR-r || c.Bytes > limB-by {
				break
			}
			r, by, pos = r+c.Records, by+c.Bytes, pos+1
			continue
		}
		// A run of uniform positions, up to the next explicit cost or the end.
		segEnd := b.to
		var bpp int64
		if b.st != nil {
			bpp = b.st.BytesPerPosition
			if pos < b.st.CostsFrom && b.st.CostsFrom < segEnd && len(b.st.Costs) > 0 {
				segEnd = b.st.CostsFrom
			}
		}
		k := min(segEnd-pos, limR-r)
		if bpp > 0 {
			k = min(k, (limB-by)/bpp)
		}
		if k <= 0 {
			break
		}
		pos, r, by = pos+k, r+k, by+k*bpp
	}
	return pos - start, r, by
}

// splitBacklog chooses the ranges of batch id: everything when there are no limits; otherwise a
// max-min fair share of the record and byte budgets, in rounds: each round offers every partition
// that still has data an equal quantum of the remaining budget; a partition whose next position
// does not fit its quantum still takes that one position if it fits the remaining budget (or if
// the batch is still empty, so that an oversized position is read alone). Rounds visit the
// partitions in order, starting at partition id mod n: every partition comes first once every n
// batches, so a position larger than a quantum (a big Delta version) waits at most n batches.
// truncated reports that some partition has data left after the batch.
func splitBacklog(parts []backlog, lim Limits, id int64) (ranges []Range, truncated bool) {
	cur := make([]int64, len(parts))
	for i, p := range parts {
		cur[i] = p.from
	}
	if lim.MaxRecords > 0 || lim.MaxBytes > 0 {
		remR, remB := budget(lim.MaxRecords), budget(lim.MaxBytes)
		blocked := make([]bool, len(parts))
		empty := true
		for remR > 0 && remB > 0 {
			var active []int
			for k := range parts {
				i := int((int64(k) + id) % int64(len(parts)))
				if cur[i] < parts[i].to && !blocked[i] {
					active = append(active, i)
				}
			}
			if len(active) == 0 {
				break
			}
			qR := max(remR/int64(len(active)), 1)
			qB := max(remB/int64(len(active)), 1)
			for _, i := range active {
				if remR <= 0 || remB <= 0 {
					break
				}
				n, r, by := parts[i].fill(cur[i], min(qR, remR), min(qB, remB))
				if n == 0 {
					c := parts[i].cost(cur[i])
					if !empty && (c.Records > remR || c.Bytes > remB) {
						blocked[i] = true
						continue
					}
					n, r, by = 1, c.Records, c.Bytes
				}
				cur[i] += n
				remR, remB = remR-r, remB-by
				empty = false
			}
		}
	} else {
		for i, p := range parts {
			cur[i] = p.to
		}
	}
	for i, p := range parts {
		ranges = append(ranges, Range{Partition: p.id, From: p.from, To: cur[i]})
		truncated = truncated || cur[i] < p.to
	}
	return ranges, truncated
}

func budget(limit int64) int64 {
	if limit <= 0 {
		return math.MaxInt64
	}
	return limit
}
