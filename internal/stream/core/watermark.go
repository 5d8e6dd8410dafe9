package core

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// NoWatermark is the watermark before any has been established (every event time is at or
// above it, so nothing is late). MaxWatermark is the watermark after a Flush batch: every window
// is closed.
const (
	NoWatermark  int64 = math.MinInt64
	MaxWatermark int64 = math.MaxInt64
)

// WatermarkSpec configures event-time watermarks. Event times, the delay and window sizes are
// int64s in one unit the driver chooses (Strata's driver uses microseconds since the Unix epoch,
// Delta's timestamp unit); the idle timeout is measured on the injected processing-time clock.
type WatermarkSpec struct {
	// Delay is how far behind the largest event time seen in a partition its watermark trails:
	// partition watermark = max event time - Delay. Events up to Delay out of order are on time.
	Delay int64
	// IdleTimeout excludes a partition from the query watermark once it has had no data for this
	// long (0: never), so that one silent partition does not stall every window.
	IdleTimeout time.Duration
}

// Tracker computes the query's event-time watermark from per-partition watermarks.
//
// A partition's watermark is its largest event time seen minus Delay; it never decreases. A
// partition is active while it has read data within IdleTimeout (on the clock readings passed in,
// which for a batch are its PlannedAt, so a replay decides alike); a partition that has never seen
// an event holds the query watermark where it is until it becomes idle (it may yet deliver old
// events). The query watermark is the minimum over active partitions, combined with the previous
// query watermark by max:
//
//	wm' = max(wm, min{ partition watermark : partition active at now })
//
// so it never decreases. In particular an idle partition that becomes active again re-enters the
// minimum without pulling the query watermark back: until its own watermark catches up it simply
// stops the query watermark from advancing, and its events below the query watermark are late.
// When every partition is idle (no data is arriving at all), the minimum is taken over the
// partitions that have seen events, so that the data already read is finalised.
//
// # Lateness
//
// The query watermark closes windows and expires state (at the end of each batch, see Query).
// Whether a row is late is decided per row instead, by LateBefore, from the watermark of the
// row's own partition as the rows read before it (in position order, over all batches) left it:
//
//	late(row) = row.EventTime < max(W_p, wm) - AllowedLateness
//
// where W_p is the partition watermark before the row is observed and wm the query watermark of
// the batch's start (the one of the previous batch's end). W_p depends only on the partition's
// earlier rows, never on where the batches were cut, when they ran or how often the query
// restarted (maxEvent is part of the persisted state); so whenever W_p >= wm, lateness is
// independent of batching, and a batch run, a stream of small batches and a stream interrupted
// and resumed all find the same rows late.
//
// W_p >= wm holds for every partition that has events, as long as no partition has been
// excluded as idle and every partition was known from the query's first batch: wm is then at
// most the minimum of the partition watermarks when it was set, and they only grow. It fails
// when wm moved on without p (p idle, or added later, or the query flushed at the end of an
// available-now run): the max with wm then makes p's rows below the query's cutoff late, which is
// what keeps the operators sound (and is inherently timing-dependent, as idleness is).
//
// Soundness: a window closes (and a dedup key expires) only once its end (its event time) is at
// or below wm - AllowedLateness for some wm the query has had, and wm never decreases; a row on
// time under the rule has EventTime >= wm - AllowedLateness for the current wm, so every window
// it belongs to (each ends after EventTime) is still open, a session it extends or merges with
// has not closed (a closed session ends at or before the cutoff, hence at or before EventTime, so
// the row cannot fall within its gap), and a dedup key with its event time has not expired.
// Closed state never has to be reopened, and an expired key's duplicate with the same event
// time is late, never emitted twice.
type Tracker struct {
	spec  WatermarkSpec
	wm    int64
	parts map[PartitionID]*partitionMark
}

type partitionMark struct {
	maxEvent   int64 // valid if hasEvent
	hasEvent   bool
	lastActive int64 // unix nanos of the last batch that read data (or of registration)
}

// NewTracker returns a tracker with no partitions and NoWatermark.
func NewTracker(spec WatermarkSpec) *Tracker {
	return &Tracker{spec: spec, wm: NoWatermark, parts: make(map[PartitionID]*partitionMark)}
}

// Watermark returns the query watermark.
func (t *Tracker) Watermark() int64 { return t.wm }

// Register makes p known, active as of now, if it is not known yet.
func (t *Tracker) Register(p PartitionID, now time.Time) {
	if _, ok := t.parts[p]; !ok {
		t.parts[p] = &partitionMark{lastActive: now.UnixNano()}
	}
}

// MarkActive records that p read data at now (registering it if needed).
func (t *Tracker) MarkActive(p PartitionID, now time.Time) {
	t.Register(p, now)
	t.parts[p].lastActive = max(t.parts[p].lastActive, now.UnixNano())
}

// Observe records an event time read from p (registered beforehand).
func (t *Tracker) Observe(p PartitionID, eventTime int64) {
	m, ok := t.parts[p]
	if !ok {
		panic(fmt.Sprintf("stream/core: event from unregistered partition %s", p))
	}
	if !m.hasEvent || eventTime > m.maxEvent {
		m.maxEvent, m.hasEvent = eventTime, true
	}
}

func (t *Tracker) idle(m *partitionMark, now int64) bool {
	return t.spec.IdleTimeout > 0 && now-m.lastActive >= t.spec.IdleTimeout.Nanoseconds()
}

// PartitionWatermark returns p's watermark: the largest event time observed from p minus Delay,
// or NoWatermark if p has observed none (or is unknown).
func (t *Tracker) PartitionWatermark(p PartitionID) int64 {
	m, ok := t.parts[p]
	if !ok || !m.hasEvent {
		return NoWatermark
	}
	return satSub(m.maxEvent, t.spec.Delay)
}

// LateBefore returns the lateness cutoff of the next row of p, to be called before that row is
// observed: max(PartitionWatermark(p), Watermark()) - lateness (see Lateness above). A row of p
// whose event time is below it is late. NoWatermark (nothing late) while neither watermark
// exists; MaxWatermark (everything late) after Flush.
func (t *Tracker) LateBefore(p PartitionID, lateness int64) int64 {
	return satSub(max(t.PartitionWatermark(p), t.wm), lateness)
}

// Peek returns the watermark Advance(now) would set, without setting it.
func (t *Tracker) Peek(now time.Time) int64 {
	n := now.UnixNano()
	active, idle := MaxWatermark, MaxWatermark
	anyActive, anyIdle := false, false
	for _, m := range t.parts {
		switch {
		case !t.idle(m, n):
			if !m.hasEvent {
				return t.wm
			}
			active, anyActive = min(active, satSub(m.maxEvent, t.spec.Delay)), true
		case m.hasEvent:
			idle, anyIdle = min(idle, satSub(m.maxEvent, t.spec.Delay)), true
		}
	}
	switch {
	case anyActive:
		return max(t.wm, active)
	case anyIdle:
		return max(t.wm, idle)
	}
	return t.wm
}

// Advance moves the query watermark to Peek(now) and returns it.
func (t *Tracker) Advance(now time.Time) int64 {
	t.wm = t.Peek(now)
	return t.wm
}

// Flush moves the watermark to MaxWatermark (the end of an available-now run with FlushAtEnd).
func (t *Tracker) Flush() { t.wm = MaxWatermark }

// NextIdleAt returns the earliest clock reading after now at which an active partition becomes
// idle, which is when the watermark may move without new data. ok is false if none will.
func (t *Tracker) NextIdleAt(now time.Time) (at time.Time, ok bool) {
	if t.spec.IdleTimeout <= 0 {
		return time.Time{}, false
	}
	n, best := now.UnixNano(), int64(math.MaxInt64)
	for _, m := range t.parts {
		if !t.idle(m, n) {
			best, ok = min(best, m.lastActive+t.spec.IdleTimeout.Nanoseconds()), true
		}
	}
	return time.Unix(0, best), ok
}

// PartitionMark describes one partition for metrics and tests.
type PartitionMark struct {
	Partition PartitionID
	// Watermark is the partition's watermark (NoWatermark before its first event).
	Watermark int64
	// Idle reports whether the partition is excluded from the query watermark at the given time.
	Idle bool
}

// Partitions lists the partitions in order, with their state at now.
func (t *Tracker) Partitions(now time.Time) []PartitionMark {
	out := make([]PartitionMark, 0, len(t.parts))
	for id, m := range t.parts {
		pm := PartitionMark{Partition: id, Watermark: NoWatermark, Idle: t.idle(m, now.UnixNano())}
		if m.hasEvent {
			pm.Watermark = satSub(m.maxEvent, t.spec.Delay)
		}
		out = append(out, pm)
	}
	slices.SortFunc(out, func(a, b PartitionMark) int { return comparePartitions(a.Partition, b.Partition) })
	return out
}

type trackerJSON struct {
	V         int             `json:"v"`
	Watermark int64           `json:"watermark"`
	Parts     []partitionJSON `json:"partitions"`
}

type partitionJSON struct {
	Source     string `json:"source"`
	Partition  int32  `json:"partition"`
	MaxEvent   *int64 `json:"maxEvent,omitempty"`
	LastActive int64  `json:"lastActiveUnixNano"`
}

// MarshalBinary encodes the tracker's state (the checkpointed value under the 'W' key); the spec
// is not part of it.
func (t *Tracker) MarshalBinary() ([]byte, error) {
	j := trackerJSON{V: 1, Watermark: t.wm, Parts: []partitionJSON{}}
	for _, pm := range t.Partitions(time.Time{}) {
		m := t.parts[pm.Partition]
		pj := partitionJSON{Source: pm.Partition.Source, Partition: pm.Partition.Partition, LastActive: m.lastActive}
		if m.hasEvent {
			ev := m.maxEvent
			pj.MaxEvent = &ev
		}
		j.Parts = append(j.Parts, pj)
	}
	return json.Marshal(j)
}

// UnmarshalBinary replaces the tracker's state with an encoding from MarshalBinary.
func (t *Tracker) UnmarshalBinary(data []byte) error {
	var j trackerJSON
	if err := json.Unmarshal(data, &j); err != nil || j.V != 1 {
		return fmt.Errorf("watermark state %q: %w", data, ErrCorrupt)
	}
	t.wm = j.Watermark
	t.parts = make(map[PartitionID]*partitionMark, len(j.Parts))
	for _, p := range j.Parts {
		m := &partitionMark{lastActive: p.LastActive}
		if p.MaxEvent != nil {
			m.maxEvent, m.hasEvent = *p.MaxEvent, true
		}
		t.parts[PartitionID{p.Source, p.Partition}] = m
	}
	return nil
}

// satSub returns a-b clamped to the int64 range, treating NoWatermark and MaxWatermark as
// infinities that stay put.
func satSub(a, b int64) int64 {
	switch {
	case a == NoWatermark || a == MaxWatermark:
		return a
	case b > 0 && a < math.MinInt64+b:
		return math.MinInt64
	case b < 0 && a > math.MaxInt64+b:
		return math.MaxInt64
	}
	return a - b
}
