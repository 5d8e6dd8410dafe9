package core

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// OutputMode says when an aggregation emits a (window, key) result.
type OutputMode uint8

const (
	// OutputAppend emits each (window, key) once, when the window closes (its End is at or below
	// the watermark minus the allowed lateness), and then drops its state. The sink only appends.
	OutputAppend OutputMode = iota
	// OutputUpdate emits every (window, key) that changed in a batch, at the end of that batch,
	// and drops the state when the window closes. The sink upserts by (window, key); session
	// windows that grow or merge also emit Retract results for the bounds emitted before. It is
	// the only mode of the global window, which never closes.
	OutputUpdate
)

// String returns "append" or "update".
func (m OutputMode) String() string {
	if m == OutputUpdate {
		return "update"
	}
	return "append"
}

// AggregateSpec describes a windowed aggregation grouped by Row.Key. With the global window
// (WindowGlobal) it is a plain GROUP BY maintained incrementally: Mode must be OutputUpdate.
type AggregateSpec struct {
	Window WindowSpec
	Aggs   []AggSpec
	Mode   OutputMode
}

func (s *AggregateSpec) validate() error {
	if err := s.Window.validate(); err != nil {
		return err
	}
	if len(s.Aggs) == 0 {
		return fmt.Errorf("aggregation without aggregates: %w", ErrInvalidConfig)
	}
	for _, a := range s.Aggs {
		if err := a.validate(); err != nil {
			return err
		}
	}
	if s.Mode > OutputUpdate {
		return fmt.Errorf("output mode %d: %w", s.Mode, ErrInvalidConfig)
	}
	if s.Window.Kind == WindowGlobal && s.Mode != OutputUpdate {
		return fmt.Errorf("the global window never closes, so the %s output mode would never emit it: use update: %w", s.Mode, ErrInvalidConfig)
	}
	return nil
}

// Aggregator is the windowed aggregation operator: per (window, group key) accumulators, fed by
// Step, emitted and evicted by the cutoffs of each StepInput.
//
// Invariants: every group in memory has a window with End > the last ExpireBefore (closed
// windows are evicted in the step that closes them), except with the global window, whose groups
// are never evicted; a key's sessions are sorted and disjoint;
// after each Step the persisted key/values (the Mutations of all Steps so far, applied in order)
// are exactly the encodings of the groups in memory, so Load over a scan of them rebuilds an
// Aggregator that behaves identically.
//
// Cost: a row costs one map lookup per window it belongs to; closing windows costs the number of
// open fixed windows, or the number of keys for session windows. All state is in memory.
type Aggregator struct {
	spec     AggregateSpec
	windows  map[Window]map[string]*group // tumbling and hopping
	sessions map[string]*sessionList      // session windows, by group key
	size     StateSize

	// Scratch of one Step.
	touched  []*group
	retracts []Result
}

// group is one (window, key) and its accumulators.
type group struct {
	win  Window
	key  string
	accs []accumulator

	// emitted and emittedWin (update mode) record the bounds under which the group was last
	// emitted, so that a session whose bounds change retracts them.
	emitted    bool
	emittedWin Window

	stored     []byte // the key the group is persisted under; nil if not persisted
	storedSize int64

	changed, touched, dead bool // this Step: accumulators changed / in touched / removed
}

type sessionList struct {
	ss     Sessions
	groups []*group // parallel to ss.Windows
}

// NewAggregator returns an empty aggregation operator.
func NewAggregator(spec AggregateSpec) (*Aggregator, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	spec.Aggs = slices.Clone(spec.Aggs)
	return &Aggregator{spec: spec, windows: map[Window]map[string]*group{}, sessions: map[string]*sessionList{}}, nil
}

func (a *Aggregator) newGroup(w Window, key string) *group {
	g := &group{win: w, key: key, accs: make([]accumulator, len(a.spec.Aggs))}
	for i, s := range a.spec.Aggs {
		g.accs[i] = newAccumulator(s.Func)
	}
	return g
}

func (a *Aggregator) touch(g *group) {
	if !g.touched {
		g.touched = true
		a.touched = append(a.touched, g)
	}
}

// Size returns the size of the persisted state.
func (a *Aggregator) Size() StateSize { return a.size }

// Step processes one batch: late rows (below their in.LateBefore cutoff) out, the others into
// their windows' accumulators; then the emission of the output mode, and the eviction of windows
// closed by in.ExpireBefore. An on-time row never reaches a closed window: the windows it
// belongs to end after its event time, which is at or above the previous ExpireBefore (the
// StepInput invariant). With the global window no row is late and nothing is evicted, whatever
// the cutoffs. An error
// (ErrKindMismatch, ErrOverflow, ErrProtocol for a row without the aggregated column) leaves the
// operator partially updated; its owner must be discarded.
func (a *Aggregator) Step(in StepInput) (StepOutput, error) {
	var out StepOutput
	if err := in.check(); err != nil {
		return out, err
	}
	a.touched, a.retracts = a.touched[:0], nil
	defer func() {
		for _, g := range a.touched {
			g.changed, g.touched = false, false
		}
	}()
	vals := make([]Value, len(a.spec.Aggs))
	global := a.spec.Window.Kind == WindowGlobal
	for i, r := range in.Rows {
		if !global && in.late(i) {
			out.Late = append(out.Late, r)
			continue
		}
		for i, s := range a.spec.Aggs {
			switch {
			case s.Column < 0:
				vals[i] = Int(1)
			case s.Column >= len(r.Values):
				return out, fmt.Errorf("row of %s at %d has %d values, aggregate %s needs column %d: %w", r.Partition, r.EventTime, len(r.Values), s, s.Column, ErrProtocol)
			default:
				vals[i] = r.Values[s.Column]
			}
		}
		if err := a.apply(r, vals); err != nil {
			return out, fmt.Errorf("key %q at %d: %w", r.Key, r.EventTime, err)
		}
	}

	// Update mode: every changed, surviving group, with retractions of superseded bounds.
	if a.spec.Mode == OutputUpdate {
		for _, g := range a.touched {
			if g.dead || !g.changed {
				continue
			}
			if g.emitted && g.emittedWin != g.win {
				a.retracts = append(a.retracts, Result{Window: g.emittedWin, Key: []byte(g.key), Retract: true})
			}
			out.Results = append(out.Results, a.result(g))
			g.emitted, g.emittedWin = true, g.win
		}
	}
	// Close and evict.
	for _, g := range a.closeWindows(in.ExpireBefore) {
		if a.spec.Mode == OutputAppend {
			out.Results = append(out.Results, a.result(g))
		}
		g.dead = true
		a.touch(g)
	}
	sortResults(a.retracts)
	sortResults(out.Results)
	out.Results = append(a.retracts, out.Results...)
	out.Mutations = a.mutations()
	return out, nil
}

func (a *Aggregator) result(g *group) Result {
	r := Result{Window: g.win, Key: []byte(g.key), Values: make([]Value, len(g.accs))}
	for i, acc := range g.accs {
		r.Values[i] = acc.result()
	}
	return r
}

func sortResults(rs []Result) {
	slices.SortFunc(rs, func(x, y Result) int {
		if c := compareWindows(x.Window, y.Window); c != 0 {
			return c
		}
		return bytes.Compare(x.Key, y.Key)
	})
}

func (a *Aggregator) apply(r Row, vals []Value) error {
	key := string(r.Key)
	add := func(g *group) error {
		for i, acc := range g.accs {
			if err := acc.add(vals[i]); err != nil {
				return fmt.Errorf("%s: %w", a.spec.Aggs[i], err)
			}
		}
		g.changed = true
		a.touch(g)
		return nil
	}
	if a.spec.Window.Kind != WindowSession {
		for _, w := range a.spec.Window.Assign(r.EventTime) {
			byKey := a.windows[w]
			if byKey == nil {
				byKey = map[string]*group{}
				a.windows[w] = byKey
			}
			g := byKey[key]
			if g == nil {
				g = a.newGroup(w, key)
				byKey[key] = g
			}
			if err := add(g); err != nil {
				return err
			}
		}
		return nil
	}

	list := a.sessions[key]
	if list == nil {
		list = &sessionList{}
		a.sessions[key] = list
	}
	at, merged := list.ss.Add(r.EventTime, a.spec.Window.Gap)
	if merged == nil {
		g := a.newGroup(list.ss.Windows[at], key)
		list.groups = slices.Insert(list.groups, at, g)
		return add(g)
	}
	survivor := list.groups[merged[0]]
	for _, m := range merged[1:] {
		other := list.groups[m]
		for i, acc := range survivor.accs {
			if err := acc.merge(other.accs[i]); err != nil {
				return fmt.Errorf("merging sessions %s and %s: %s: %w", survivor.win, other.win, a.spec.Aggs[i], err)
			}
		}
		if other.emitted {
			a.retracts = append(a.retracts, Result{Window: other.emittedWin, Key: []byte(key), Retract: true})
		}
		other.dead = true
		a.touch(other)
	}
	list.groups = slices.Delete(list.groups, merged[0]+1, merged[len(merged)-1]+1)
	survivor.win = list.ss.Windows[at]
	return add(survivor)
}

// closeWindows removes and returns the groups whose window ends at or before cutoff, sorted by
// window and key. The global window never closes.
func (a *Aggregator) closeWindows(cutoff int64) []*group {
	var closed []*group
	switch a.spec.Window.Kind {
	case WindowGlobal:
		return nil
	case WindowTumbling, WindowHopping:
		for w, byKey := range a.windows {
			if w.End > cutoff {
				continue
			}
			for _, g := range byKey {
				closed = append(closed, g)
			}
			delete(a.windows, w)
		}
	default:
		for key, list := range a.sessions {
			// Sessions are disjoint and sorted by start, so by end too: the closed ones are a prefix.
			n := 0
			for n < len(list.groups) && list.groups[n].win.End <= cutoff {
				closed = append(closed, list.groups[n])
				n++
			}
			if n == len(list.groups) {
				delete(a.sessions, key)
				continue
			}
			list.groups = slices.Delete(list.groups, 0, n)
			list.ss.Windows = slices.Delete(list.ss.Windows, 0, n)
		}
	}
	slices.SortFunc(closed, func(x, y *group) int {
		if c := compareWindows(x.win, y.win); c != 0 {
			return c
		}
		return strings.Compare(x.key, y.key)
	})
	return closed
}

func aggregateKey(w Window, key string) []byte {
	b := make([]byte, 0, 17+len(key))
	b = append(b, sectionAggregate)
	b = appendOrderedInt64(b, w.Start)
	b = appendOrderedInt64(b, w.End)
	return append(b, key...)
}

// encodeGroup is the value of a group: a flags byte (1: emitted, followed by the emitted window's
// start and end as varints), then each accumulator in AggSpec order.
func encodeGroup(g *group) []byte {
	var b []byte
	if g.emitted {
		b = append(b, 1)
		b = appendVarint(b, g.emittedWin.Start)
		b = appendVarint(b, g.emittedWin.End)
	} else {
		b = append(b, 0)
	}
	for _, acc := range g.accs {
		acc.normalize()
		b = acc.appendTo(b)
	}
	return b
}

// mutations turns the touched groups into state writes: deletes for removed groups and for
// sessions whose bounds (and so key) changed, then puts for changed groups.
func (a *Aggregator) mutations() []Mutation {
	var ms mutationSet
	for _, g := range a.touched {
		if g.stored == nil {
			continue
		}
		if g.dead || g.changed {
			ms.del(g.stored)
			a.size.Entries--
			a.size.Bytes -= g.storedSize
			g.stored, g.storedSize = nil, 0
		}
	}
	for _, g := range a.touched {
		if g.dead || !g.changed {
			continue
		}
		k, v := aggregateKey(g.win, g.key), encodeGroup(g)
		ms.put(k, v)
		g.stored, g.storedSize = k, int64(len(k)+len(v))
		a.size.Entries++
		a.size.Bytes += g.storedSize
	}
	return ms.sorted()
}

// Load adds one persisted group (a key/value of the 'A' section) while rebuilding the operator
// from a full scan. Keys may come in any order.
func (a *Aggregator) Load(key, value []byte) error {
	if len(key) < 17 || key[0] != sectionAggregate {
		return fmt.Errorf("aggregate state key %q: %w", key, ErrCorrupt)
	}
	w := Window{orderedInt64(key[1:9]), orderedInt64(key[9:17])}
	g := a.newGroup(w, string(key[17:]))
	d := &decoder{b: value}
	switch d.byte() {
	case 0:
	case 1:
		g.emitted = true
		g.emittedWin = Window{d.varint(), d.varint()}
	default:
		d.fail(fmt.Errorf("flags"))
	}
	for _, acc := range g.accs {
		acc.decode(d)
	}
	if err := d.done(); err != nil {
		return fmt.Errorf("aggregate state %q: %v: %w", key, err, ErrCorrupt)
	}
	if w.Start >= w.End || (a.spec.Window.Kind == WindowGlobal) != (w == GlobalWindow) {
		return fmt.Errorf("aggregate state %q: window %s: %w", key, w, ErrCorrupt)
	}
	g.stored, g.storedSize = bytes.Clone(key), int64(len(key)+len(value))
	if a.spec.Window.Kind != WindowSession {
		byKey := a.windows[w]
		if byKey == nil {
			byKey = map[string]*group{}
			a.windows[w] = byKey
		}
		if byKey[g.key] != nil {
			return fmt.Errorf("aggregate state %q loaded twice: %w", key, ErrCorrupt)
		}
		byKey[g.key] = g
	} else {
		list := a.sessions[g.key]
		if list == nil {
			list = &sessionList{}
			a.sessions[g.key] = list
		}
		i, _ := slices.BinarySearchFunc(list.ss.Windows, w, compareWindows)
		if (i > 0 && list.ss.Windows[i-1].End > w.Start) || (i < len(list.ss.Windows) && list.ss.Windows[i].Start < w.End) {
			return fmt.Errorf("aggregate state %q: session %s overlaps another: %w", key, w, ErrCorrupt)
		}
		list.ss.Windows = slices.Insert(list.ss.Windows, i, w)
		list.groups = slices.Insert(list.groups, i, g)
	}
	a.size.Entries++
	a.size.Bytes += g.storedSize
	return nil
}
