package core

import (
	"cmp"
	"fmt"
	"math"
	"sort"
)

// WindowKind is the shape of event-time windows.
type WindowKind uint8

const (
	// WindowTumbling: fixed, non-overlapping windows [k*Size, (k+1)*Size).
	WindowTumbling WindowKind = iota + 1
	// WindowHopping: fixed windows of Size starting every Slide: [k*Slide, k*Slide+Size). An event
	// belongs to every window that contains it (Size/Slide of them when Slide divides Size).
	WindowHopping
	// WindowSession: per group key, events closer than Gap belong to one session [first event,
	// last event + Gap). A new event that falls within Gap of two sessions merges them.
	WindowSession
	// WindowGlobal: no event-time window. Each group key has one window covering all time
	// (GlobalWindow), which never closes: its state never expires, and no row is ever late for
	// it, whatever the watermark (a Flush changes nothing either). An aggregation over it
	// maintains a plain GROUP BY incrementally, so it must use OutputUpdate.
	WindowGlobal
)

// GlobalWindow is the one window of WindowGlobal: [math.MinInt64, math.MaxInt64), all of time.
// Results of a global aggregation carry it.
var GlobalWindow = Window{Start: math.MinInt64, End: math.MaxInt64}

// String returns the window kind's name.
func (k WindowKind) String() string {
	switch k {
	case WindowTumbling:
		return "tumbling"
	case WindowHopping:
		return "hopping"
	case WindowSession:
		return "session"
	case WindowGlobal:
		return "global"
	}
	return fmt.Sprintf("window(%d)", k)
}

// WindowSpec describes the windows of an aggregation, in event-time units.
type WindowSpec struct {
	Kind WindowKind
	// Size is the length of tumbling and hopping windows (0 for the others).
	Size int64
	// Slide is the distance between the starts of hopping windows (0 < Slide <= Size).
	Slide int64
	// Gap is the inactivity gap that ends a session.
	Gap int64
}

// Tumbling returns the spec of tumbling windows of the given size.
func Tumbling(size int64) WindowSpec { return WindowSpec{Kind: WindowTumbling, Size: size} }

// Hopping returns the spec of hopping windows.
func Hopping(size, slide int64) WindowSpec {
	return WindowSpec{Kind: WindowHopping, Size: size, Slide: slide}
}

// Session returns the spec of session windows.
func Session(gap int64) WindowSpec { return WindowSpec{Kind: WindowSession, Gap: gap} }

// Global returns the spec of the global window (no event-time windowing; see WindowGlobal).
func Global() WindowSpec { return WindowSpec{Kind: WindowGlobal} }

func (s WindowSpec) validate() error {
	ok := false
	switch s.Kind {
	case WindowTumbling:
		ok = s.Size > 0
	case WindowHopping:
		ok = s.Size > 0 && s.Slide > 0 && s.Slide <= s.Size
	case WindowSession:
		ok = s.Gap > 0
	case WindowGlobal:
		ok = s.Size == 0 && s.Slide == 0 && s.Gap == 0
	}
	if !ok {
		return fmt.Errorf("window %+v: %w", s, ErrInvalidConfig)
	}
	return nil
}

// Window is the half-open event-time interval [Start, End).
type Window struct {
	Start, End int64
}

// Contains reports whether t falls in the window.
func (w Window) Contains(t int64) bool { return w.Start <= t && t < w.End }

// String formats the window as "[start,end)", or "global" for GlobalWindow.
func (w Window) String() string {
	if w == GlobalWindow {
		return "global"
	}
	return fmt.Sprintf("[%d,%d)", w.Start, w.End)
}

func compareWindows(a, b Window) int {
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.End, b.End)
}

// Assign returns the windows an event at time t belongs to, by ascending start. For session
// windows it is the event's own session [t, t+Gap), before any merging (see Sessions); for the
// global window it is GlobalWindow, whatever t.
func (s WindowSpec) Assign(t int64) []Window {
	switch s.Kind {
	case WindowTumbling:
		start := floorDiv(t, s.Size) * s.Size
		return []Window{{start, start + s.Size}}
	case WindowHopping:
		// The last window containing t starts at the slide boundary at or below t; earlier ones
		// every Slide back while they still reach past t.
		last := floorDiv(t, s.Slide) * s.Slide
		var ws []Window
		for start := last; start+s.Size > t; start -= s.Slide {
			ws = append(ws, Window{start, start + s.Size})
		}
		for i, j := 0, len(ws)-1; i < j; i, j = i+1, j-1 {
			ws[i], ws[j] = ws[j], ws[i]
		}
		return ws
	case WindowSession:
		return []Window{{t, t + s.Gap}}
	case WindowGlobal:
		return []Window{GlobalWindow}
	}
	panic(fmt.Sprintf("stream/core: assign with window kind %d", s.Kind))
}

// Sessions is the set of session windows of one group key: sorted by start, pairwise disjoint.
// It is the pure merging logic; the aggregation operator keeps one per key with accumulators.
type Sessions struct {
	// Windows are the sessions, sorted by Start, pairwise disjoint.
	Windows []Window
}

// Add adds the interval [t, t+gap) of one event. It returns the index of the session now
// containing the event and the indexes (in the Windows before the call) of the sessions that were
// merged into it: none when the event extends or opens a session on its own, one when it falls
// into or extends a single session, two or more when it bridges sessions. The merged session's
// bounds are the union of the event's interval and the merged sessions.
func (ss *Sessions) Add(t, gap int64) (at int, merged []int) {
	iv := Window{t, t + gap}
	// Sessions overlapping iv are contiguous: those with Start < iv.End and End > iv.Start.
	lo := sort.Search(len(ss.Windows), func(i int) bool { return ss.Windows[i].End > iv.Start })
	hi := lo
	for hi < len(ss.Windows) && ss.Windows[hi].Start < iv.End {
		hi++
	}
	if lo == hi {
		ss.Windows = append(ss.Windows, Window{})
		copy(ss.Windows[lo+1:], ss.Windows[lo:])
		ss.Windows[lo] = iv
		return lo, nil
	}
	u := iv
	for i := lo; i < hi; i++ {
		merged = append(merged, i)
		u.Start, u.End = min(u.Start, ss.Windows[i].Start), max(u.End, ss.Windows[i].End)
	}
	ss.Windows[lo] = u
	ss.Windows = append(ss.Windows[:lo+1], ss.Windows[hi:]...)
	return lo, merged
}
